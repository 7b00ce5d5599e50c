"""The sections' rows written out: Markdown tables (the README's) and a chart
(matplotlib, from the ``bench`` extra)."""
from typing import List


def markdown_tables(conv: List[dict], attention: List[dict], models: List[dict]) -> str:
    """The results as the README's tables, one per section that ran."""
    tables = []
    if models:
        rows = [f"| {r['threads']} | {r['batch']} | {r['length']} | {name} | {r['gflop'][name]:.2f} | "
                f"{ms:.1f} | {r['speedup'][name]:.2f}x |" for r in models for name, ms in r["ms"].items()]
        tables.append(["| threads | B | L | model | GFLOP | ms | time / sqbert_kernels' |",
                       "|---|---|---|---|---|---|---|"] + rows)
    if conv:
        rows = []
        for r in conv:
            ms, gf = r["ms"], r["gflops"]
            rows.append(
                f"| {r['threads']} | {r['batch']} | {r['length']} | {r['cin']}->{r['cout']} ({r['groups']}) | "
                f"{ms['sqbert packed']:.3f} | {gf['sqbert packed']:.1f} ({gf['sqbert packed'] / r['sgemm_gflops']:.0%}) | "
                f"{gf['sqbert']:.1f} | {gf['conv1d']:.1f} | {gf['bmm']:.1f} | "
                f"{ms['conv1d'] / ms['sqbert packed']:.2f}x | {ms['bmm'] / ms['sqbert packed']:.2f}x | "
                f"{ms['sqbert packed'] / ms['linear (dense)']:.2f} |")
        tables.append(["| threads | B | L | Cin->Cout (groups) | sqbert packed ms | GF/s (% of mm) | per-call GF/s | "
                       "conv1d GF/s | bmm GF/s | conv1d / packed | bmm / packed | packed / linear |",
                       "|---|---|---|---|---|---|---|---|---|---|---|---|"] + rows)
    if attention:
        rows = []
        for r in attention:
            ms = r["ms"]
            rows.append(
                f"| {r['threads']} | {r['batch']} | {r['length']} | {ms['sqbert fused']:.3f} | "
                f"{r['gflops']['sqbert fused']:.1f} | {ms['HF eager']:.3f} | {ms['SDPA + transposes']:.3f} | "
                f"{ms['sqbert fused'] / ms['HF eager']:.2f}x | {ms['sqbert fused'] / ms['SDPA + transposes']:.2f}x | "
                f"{ms['sqbert fused unpadded']:.3f} | {ms['sqbert fused unpadded'] / ms['HF eager']:.2f}x | "
                f"{ms['sqbert fused unpadded'] / ms['SDPA + transposes']:.2f}x |")
        tables.append(["| threads | B | L | fused ms | fused GF/s | HF eager ms | SDPA + transposes ms | "
                       "fused / HF eager | fused / SDPA | unpadded ms | unpadded / HF eager | unpadded / SDPA |",
                       "|---|---|---|---|---|---|---|---|---|---|---|---|"] + rows)
    return "\n\n".join("\n".join(t) for t in tables) + "\n"


def draw_chart(path: str, conv: List[dict], attention: List[dict], models: List[dict]) -> None:
    """Latency per model, and per-op GFLOP/s against the sgemm ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    names = list(dict.fromkeys(n for r in models for n in r["ms"]))
    groups = [f"t{r['threads']} B{r['batch']} L{r['length']}" for r in models]
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        left.bar([g + i * width for g in range(len(models))], [r["ms"].get(name, 0) for r in models],
                 width, label=name)
    left.set_xticks([g + 0.4 - width / 2 for g in range(len(models))], groups)
    left.set_ylabel("latency (ms, median)")
    left.set_title("Whole base model, fp32" if models else "Whole base model: not run")
    if models:
        left.legend(fontsize=8)

    ops = [(f"{r['cin']}->{r['cout']} g{r['groups']} t{r['threads']}", r["gflops"], r["sgemm_gflops"]) for r in conv
           if r["batch"] == models[0]["batch"] and r["length"] == models[0]["length"]] if models else []
    ops += [(f"attention t{r['threads']}", r["gflops"], None) for r in attention
            if not models or (r["batch"] == models[0]["batch"] and r["length"] == models[0]["length"])]
    series = ["sqbert packed", "sqbert", "conv1d", "bmm", "sqbert fused", "HF eager", "SDPA + transposes"]
    width = 0.8 / 4
    for x, (label, gflops, ceiling) in enumerate(ops):
        present = [s for s in series if s in gflops]
        for i, name in enumerate(present):
            right.bar(x + i * width, gflops[name], width, color=f"C{series.index(name)}",
                      label=name if name not in right.get_legend_handles_labels()[1] else None)
        if ceiling:
            right.hlines(ceiling, x - width / 2, x + 3.5 * width, colors="k", linestyles="dashed",
                         label="sgemm (torch.mm 1024^3)" if x == 0 else None)
    right.set_xticks([x + 1.5 * width for x in range(len(ops))], [o[0] for o in ops], rotation=30, fontsize=8)
    right.set_ylabel("GFLOP/s")
    right.set_title("Per op, against the machine's sgemm ceiling" if ops else "Per op: not run")
    if ops:
        right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
