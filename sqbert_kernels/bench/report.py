"""The sections' rows written out: Markdown tables (the README's) and a chart
(matplotlib, from the ``bench`` extra). Every ratio is a speedup of this
package's candidate over another (its time / ours: "x faster than"), every
candidate keeps its name from :mod:`.cases`, and a noisy run says so.
int8 candidates' rates are GOP/s: their multiply-adds counted as the float32 ones' FLOPs."""
from typing import List, Optional

from .machine import describe
from .noise import format_spread


def noise_banner(verdict: Optional[dict], limit: int = 6) -> List[str]:
    """Lines warning that the run is not to be trusted (none for a quiet run)."""
    if not verdict or not verdict.get("noisy"):
        return []
    w = verdict["warnings"]
    return ([f"WARNING: the machine was too noisy to trust these numbers ({len(w)} warning(s): spread over "
             f"{verdict['spread_limit']:.2f}x, sgemm ceiling moving over {verdict['sgemm_limit']:.0%}, or more "
             f"threads over {verdict['threads_limit']:.2f}x slower than fewer). Rerun on a quiet machine."]
            + [f"  - {x}" for x in w[:limit]] + ([f"  - ... and {len(w) - limit} more"] if len(w) > limit else []))


def _spread(r: dict) -> str:
    return format_spread(r["spread"]).replace("spread ", "") + (" NOISY" if r.get("warnings") else "")


def _ratio(speedup: dict, name: str) -> str:
    return f"{speedup[name]:.2f}x" if name in speedup else "-"


def markdown_tables(conv: List[dict], attention: List[dict], models: List[dict], info: Optional[dict] = None,
                    verdict: Optional[dict] = None, mixed: Optional[List[dict]] = None) -> str:
    """The results as the README's tables, one per section that ran."""
    tables = []
    if info:
        tables.append([f"Machine: {describe(info)}. Ratios are speedups (x faster than; higher is better), "
                       "spread is the upper quartile of a case's rounds over the lower one."])
    banner = noise_banner(verdict, limit=50)
    if banner:
        tables.append(["**" + banner[0] + "**", ""] + banner[1:])
    if models:
        rows = []
        for r in models:
            s, q = r["speedup"]["sqbert_kernels"], r["speedup"]["sqbert int8"]
            rows += [f"| {r['threads']} | {r['batch']} | {r['length']} | {name} | {r['gflop'][name]:.2f} | "
                     f"{ms:.1f} | {_ratio(s, name)} | {_ratio(q, name)} | {r['spread'][name] or 1:.2f}x |"
                     for name, ms in r["ms"].items()]
            rows += [f"| {r['threads']} | {r['batch']} | {r['length']} | {name} | | | skipped: {why} | | |"
                     for name, why in r.get("skipped", {}).items()]
        tables.append([f"{models[0].get('model', 'whole model')}:", "",
                       "| threads | B | L | model | GFLOP | ms | sqbert_kernels x faster than it | "
                       "sqbert int8 x faster than it | spread |",
                       "|---|---|---|---|---|---|---|---|---|"] + rows)
    if mixed:
        rows = []
        for r in mixed:
            s, q = r["speedup"]["sqbert_kernels"], r["speedup"]["sqbert int8"]
            rows += [f"| {r['threads']} | {r['batch']} | {r['length']} | {name} | {ms:.1f} | "
                     f"{r['seq_per_s'][name]:.1f} | {_ratio(s, name)} | {_ratio(q, name)} | "
                     f"{r['spread'][name] or 1:.2f}x |" for name, ms in r["ms"].items()]
            rows += [f"| {r['threads']} | {r['batch']} | {r['length']} | {name} | | | skipped: {why} | | |"
                     for name, why in r.get("skipped", {}).items()]
        tables.append([f"Mixed lengths, {mixed[0]['model']}:", "",
                       "| threads | B | L (padded) | model | ms | sequences/s | sqbert_kernels x faster than it | "
                       "sqbert int8 x faster than it | spread |",
                       "|---|---|---|---|---|---|---|---|---|"] + rows)
    if conv:
        rows = []
        for r in conv:
            ms, gf, s, q = r["ms"], r["gflops"], r["speedup"]["sqbert packed"], r["speedup"]["sqbert int8"]
            rows.append(
                f"| {r['threads']} | {r['batch']} | {r['length']} | {r['cin']}->{r['cout']} ({r['groups']}) | "
                f"{ms['sqbert packed']:.3f} | {gf['sqbert packed']:.1f} ({gf['sqbert packed'] / r['sgemm_gflops']:.0%}) | "
                f"{gf['sqbert']:.1f} | {gf['conv1d']:.1f} | {gf['bmm']:.1f} | "
                f"{s['conv1d']:.2f}x | {s['bmm']:.2f}x | {s['linear (dense)']:.2f}x | "
                f"{ms['sqbert int8']:.3f} | {gf['sqbert int8']:.1f} | {q['sqbert packed']:.2f}x | "
                f"{_spread(r)} |")
        tables.append(["| threads | B | L | Cin->Cout (groups) | sqbert packed ms | sqbert packed GF/s (% of torch.mm) | "
                       "sqbert GF/s | conv1d GF/s | bmm GF/s | sqbert packed x faster than conv1d | "
                       "than bmm | than linear (dense) | sqbert int8 ms | sqbert int8 GOP/s | "
                       "sqbert int8 x faster than sqbert packed | spread |",
                       "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"] + rows)
    if attention:
        rows = []
        for r in attention:
            ms, s, u = r["ms"], r["speedup"]["sqbert fused"], r["speedup"]["sqbert fused unpadded"]
            rows.append(
                f"| {r['threads']} | {r['batch']} | {r['length']} | {ms['sqbert fused']:.3f} | "
                f"{r['gflops']['sqbert fused']:.1f} | {ms['HF eager']:.3f} | {ms['SDPA + transposes']:.3f} | "
                f"{s['HF eager']:.2f}x | {s['SDPA + transposes']:.2f}x | "
                f"{ms['sqbert fused unpadded']:.3f} | {u['HF eager']:.2f}x | {u['SDPA + transposes']:.2f}x | "
                f"{_spread(r)} |")
        tables.append(["| threads | B | L | sqbert fused ms | sqbert fused GF/s | HF eager ms | SDPA + transposes ms | "
                       "sqbert fused x faster than HF eager | than SDPA + transposes | sqbert fused unpadded ms | "
                       "sqbert fused unpadded x faster than HF eager | than SDPA + transposes | spread |",
                       "|---|---|---|---|---|---|---|---|---|---|---|---|---|"] + rows)
    return "\n\n".join("\n".join(t) for t in tables) + "\n"


def draw_chart(path: str, conv: List[dict], attention: List[dict], models: List[dict], info: Optional[dict] = None,
               verdict: Optional[dict] = None, mixed: Optional[List[dict]] = None) -> None:
    """Latency per model (bars labelled with the speedup over each of
    sqbert_kernels, or of sqbert int8 for an int8 model), per-op GFLOP/s
    (GOP/s for int8) against the sgemm ceiling, and where the mixed section
    ran, sequences per second per model (labelled likewise); the title names
    the machine, and a noisy run is marked in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if mixed:
        fig, (left, right, third) = plt.subplots(1, 3, figsize=(21, 6.2))
        _mixed_panel(third, mixed)
    else:
        fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6.2))
    _model_bars(left, models, "ms")
    left.set_ylabel("latency (ms, median)")
    left.set_title(f"{models[0].get('model', 'whole model')}, float32 and int8\n(bar labels: sqbert_kernels x faster "
                   "than a float32 model, sqbert int8 x faster than an int8 one)"
                   if models else "Whole model: not run", fontsize=10)
    if models:
        left.legend(fontsize=8)

    ops = [(f"{r['cin']}->{r['cout']} g{r['groups']} t{r['threads']}", r["gflops"], r["sgemm_gflops"], r) for r in conv
           if r["batch"] == models[0]["batch"] and r["length"] == models[0]["length"]] if models else \
        [(f"{r['cin']}->{r['cout']} g{r['groups']} t{r['threads']} B{r['batch']} L{r['length']}", r["gflops"],
          r["sgemm_gflops"], r) for r in conv]
    ops += [(f"attention t{r['threads']}" + ("" if models else f" B{r['batch']} L{r['length']}"), r["gflops"], None, r)
            for r in attention
            if not models or (r["batch"] == models[0]["batch"] and r["length"] == models[0]["length"])]
    series = ["sqbert packed", "sqbert", "sqbert int8", "conv1d", "bmm", "sqbert fused", "HF eager",
              "SDPA + transposes"]
    width = 0.8 / 5
    for x, (label, gflops, ceiling, r) in enumerate(ops):
        present = [s for s in series if s in gflops]
        for i, name in enumerate(present):
            right.bar(x + i * width, gflops[name], width, color=f"C{series.index(name)}",
                      label=name if name not in right.get_legend_handles_labels()[1] else None)
        if ceiling:
            right.hlines(ceiling, x - width / 2, x + 4.5 * width, colors="k", linestyles="dashed",
                         label="sgemm ceiling (torch.mm 1024^3)" if x == 0 else None)
    labels = [o[0] + f"\nspread {_spread(o[3])}" for o in ops]
    right.set_xticks([x + 2 * width for x in range(len(ops))], labels, rotation=30, fontsize=7, ha="right")
    right.set_ylabel("GFLOP/s (median; sqbert int8: GOP/s)")
    right.set_title("Per op, against the machine's sgemm ceiling" if ops else "Per op: not run", fontsize=10)
    if ops:
        right.legend(fontsize=8)
    title = "sqbert-bench: " + describe(info) if info else "sqbert-bench"
    banner = noise_banner(verdict, limit=2)
    if banner:
        title += "\nNOISY RUN: too noisy to trust (see below)"
    fig.suptitle(title, fontsize=10, color="red" if banner else "black")
    if banner:
        fig.text(0.5, 0.005, "\n".join(banner[:1] + [b.strip() for b in banner[1:]]), ha="center", va="bottom",
                 color="red", fontsize=8, fontweight="bold", wrap=True)
    fig.tight_layout(rect=(0, 0.09 if banner else 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _model_bars(ax, rows: List[dict], key: str) -> None:
    """A bar per model and row of row[key][model], grouped by row (threads,
    batch, length), each labelled with its speedup: like with like, an int8
    model's of sqbert int8, a float32 one's of sqbert_kernels."""
    names = list(dict.fromkeys(n for r in rows for n in r["ms"]))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs = [g + i * width for g in range(len(rows))]
        bars = ax.bar(xs, [r[key].get(name, 0) for r in rows], width, label=name)
        ours = "sqbert int8" if "int8" in name else "sqbert_kernels"
        if name != ours:
            ax.bar_label(bars, [f"{r['speedup'][ours][name]:.2f}x" if name in r["ms"] else "" for r in rows],
                         fontsize=7)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(rows))],
                  [f"t{r['threads']} B{r['batch']} L{r['length']}\nspread {_spread(r)}" for r in rows], fontsize=8)


def _mixed_panel(ax, mixed: List[dict]) -> None:
    """Sequences per second of each model on the mixed-lengths batch, per
    thread count; bars labelled with sqbert_kernels x faster than a float32
    model (sqbert int8 than an int8 one)."""
    _model_bars(ax, mixed, "seq_per_s")
    ax.set_ylabel("sequences per second (batch / median time)")
    r = mixed[0]
    ax.set_title(f"Mixed lengths: B{r['batch']}, {r['tokens']} real tokens of {r['batch'] * r['length']}, "
                 "right-padded\n(bar labels: sqbert_kernels x faster than a float32 model, sqbert int8 than an int8 one)",
                 fontsize=10)
    ax.legend(fontsize=8)
