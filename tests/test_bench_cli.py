"""sqbert-bench's command line and its noise verdict (fast: no model timed)."""
import importlib.util
import json
import sys

import pytest

import sqbert_kernels
from sqbert_kernels.bench import cli, noise


@pytest.mark.parametrize("argv, message", [
    (["--rounds", "0"], "--rounds must be at least 1"),
    (["--rounds", "-3"], "--rounds must be at least 1"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--threads", "1", "-2"], "--threads must be at least 1, got -2"),
    (["--batch", "0"], "--batch must be at least 1"),
    (["--length", "-1"], "--length must be at least 1"),
    (["--length", "16", "513"], "over the model's max_position_embeddings (512)"),
    (["--rounds", "x"], "invalid int value"),
    (["--checkpoint", "/nonexistent/folder"], "expected a folder with config.json"),
    (["--mixed-rounds", "0"], "--mixed-rounds must be at least 1"),
    (["--skip", "mixd"], "invalid choice: 'mixd'"),
])
def test_bad_values_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.parse_args(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage: sqbert-bench" in err and message in err


def test_long_lengths_allowed_without_the_model():
    # The mixed section is not swept over --length: it pads to 128 whatever it is.
    assert cli.parse_args(["--length", "1024", "--skip", "model"]).length == [1024]


def test_mixed_rounds_default_and_skip():
    assert cli.parse_args([]).mixed_rounds == 2
    assert cli.parse_args(["--rounds", "1"]).mixed_rounds == 1
    assert cli.parse_args(["--mixed-rounds", "5"]).mixed_rounds == 5
    assert cli.parse_args(["--skip", "mixed"]).skip == ["mixed"]


def test_version(capsys):
    assert isinstance(sqbert_kernels.__version__, str) and sqbert_kernels.__version__
    with pytest.raises(SystemExit) as e:
        cli.parse_args(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"sqbert-bench {sqbert_kernels.__version__}"


def test_help_shows_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # argparse would break "sqbert-bench.json" at its hyphen
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 15)", "(default: [1, 2])", "(default: sqbert-bench.json)", "(default: sqbert-bench.png)"):
        assert default in out
    assert "mixed: the whole model on a batch of 32" in out and "log-normal lengths (median 25, sigma 0.6" in out


def test_spreads_and_warnings_on_synthetic_timings():
    # Quartiles of 5 rounds: the 2nd and 4th values in order. One stray
    # round (3.0) does not move them; a run that is slow half the time does.
    quiet = {"a": [1.0, 1.05, 1.1, 1.0, 3.0], "b": [2.0, 2.0, 2.1, 2.0, 2.0]}
    busy = {"a": [1.0, 1.6, 1.1, 1.7, 1.0], "b": [2.0, 2.0, 2.1, 2.0, 2.0]}
    assert noise.spreads(quiet)["a"] == pytest.approx(1.1)
    assert noise.row_warnings(noise.spreads(quiet)) == []
    warnings = noise.row_warnings(noise.spreads(busy))
    assert len(warnings) == 1 and "a spread 1.600x > 1.20x" in warnings[0]
    assert noise.spreads({"a": [1.0]}) == {"a": None}  # one round: not measured
    assert noise.variation([100.0, 95.0, 105.0, 100.0, 100.0]) == pytest.approx(0.0)
    assert noise.row_warnings({}, noise.variation([100.0, 80.0, 100.0, 80.0, 90.0]))[0].startswith(
        "sgemm ceiling varied 22%")
    assert noise.row_warnings({}, noise.variation([100.0, 95.0, 100.0, 100.0, 97.0])) == []


def test_more_threads_slower_than_fewer_is_noise():
    def rows(t2_ms):
        return [{"case": "conv", "threads": 1, "ms": {"sqbert": 1.0}, "warnings": []},
                {"case": "conv", "threads": 2, "ms": {"sqbert": t2_ms}, "warnings": []}]

    slow = rows(5.0)
    verdict = noise.assess({"conv": slow})
    assert verdict["noisy"] and verdict["warnings"] == ["conv t2: sqbert 5.0x slower with 2 threads than with 1"]
    assert slow[1]["warnings"] == ["sqbert 5.0x slower with 2 threads than with 1"]  # marked on the row too
    assert noise.assess({"conv": rows(0.6)}) == {**verdict, "noisy": False, "warnings": []}
    assert not noise.assess({"conv": rows(1.2)})["noisy"]  # a little slower: tiny work, not noise


def test_tiny_run_writes_json_with_spreads(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert cli.main(["--skip", "model", "conv", "mixed", "--rounds", "2", "--length", "16", "--threads", "1",
                     "--json", str(out), "--png", str(tmp_path / "r.png"),
                     "--markdown", str(tmp_path / "r.md")]) == 0
    data = json.loads(out.read_text())
    for key in ("cpu", "torch", "isa", "version", "commit", "timestamp", "rounds", "noise"):
        assert key in data
    assert data["version"] == sqbert_kernels.__version__
    assert data["rounds"]["attention"] == 2
    assert set(data["noise"]) >= {"noisy", "warnings", "spread_limit"}
    row = data["attention"][0]
    assert set(row["spread"]) == set(row["ms"]) and all(s >= 1 for s in row["spread"].values())
    assert row["speedup"]["sqbert fused"]["HF eager"] == pytest.approx(row["ms"]["HF eager"] / row["ms"]["sqbert fused"])
    text = capsys.readouterr().out
    assert "spread" in text and "x faster than" in text
    assert "sqbert fused x faster than" in (tmp_path / "r.md").read_text()


def _tiny_checkpoint(path):
    transformers = pytest.importorskip("transformers")
    config = transformers.SqueezeBertConfig(vocab_size=100, hidden_size=64, embedding_size=64, num_hidden_layers=2,
                                            num_attention_heads=4, intermediate_size=128)
    transformers.SqueezeBertModel(config).save_pretrained(path)
    return str(path)


def test_checkpoint_compared_with_a_bert_of_its_size(tmp_path, monkeypatch):
    from sqbert_kernels.bench import model_case

    checkpoint = _tiny_checkpoint(tmp_path)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # skipped, naming the command that adds it
    messages = []
    case = model_case(1, 8, checkpoint=checkpoint, onnx=True, progress=messages.append)
    onnx_rows = ["ONNX Runtime (HF SqueezeBERT)", "ONNX Runtime int8 (HF SqueezeBERT)",
                 "ONNX Runtime int8 (BERT (2 layers, 64))"]
    assert all("pip install onnxruntime onnx" in case.skipped[name] for name in onnx_rows)
    assert any("pip install onnxruntime onnx" in m for m in messages)
    assert "HF BERT-base" not in case.candidates
    assert {"sqbert int8", "HF BERT (2 layers, 64)", "HF BERT (2 layers, 64) int8 (FBGEMM)"} <= set(case.candidates)
    assert case.label == "whole model (checkpoint: 2 layers, hidden 64, intermediate 128, 4 heads)"
    # Like with like: the BERT's matmuls are within a small factor of SqueezeBERT's (BERT-base's would be ~100x).
    assert case.model_flops["HF BERT (2 layers, 64)"] < 4 * case.model_flops["HF SqueezeBERT"]
    for fn in case.candidates.values():
        fn()


def test_skipped_baselines_name_the_command(tmp_path, monkeypatch):
    from sqbert_kernels.bench import model_case

    checkpoint = _tiny_checkpoint(tmp_path)
    monkeypatch.setitem(sys.modules, "transformers", None)
    case = model_case(1, 8, checkpoint=checkpoint, progress=lambda s: None)
    assert list(case.candidates) == ["sqbert_kernels", "sqbert int8"]
    assert set(case.skipped) == {"HF SqueezeBERT", "HF BERT (2 layers, 64)", "HF BERT (2 layers, 64) int8 (FBGEMM)"}
    assert all('pip install ".[bench]"' in why for why in case.skipped.values())


def test_int8_rows_in_the_json_tables_and_chart(tmp_path, monkeypatch):
    """The conv section on one small shape and the model section on a tiny
    checkpoint, ONNX Runtime's rows timed where it is installed (exported and
    quantized) or skipped naming its install command."""
    from sqbert_kernels.bench import sections

    monkeypatch.setattr(sections, "SQUEEZEBERT_CONVS", [(64, 256, 4)])
    checkpoint = _tiny_checkpoint(tmp_path / "checkpoint")
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    assert cli.main(["--skip", "attention", "mixed", "--rounds", "2", "--length", "16", "--threads", "1", "--onnx",
                     "--checkpoint", checkpoint, "--json", str(out), "--png", str(tmp_path / "r.png"),
                     "--markdown", str(md)]) == 0
    data = json.loads(out.read_text())
    conv, model = data["conv"][0], data["model"][0]
    assert conv["speedup"]["sqbert int8"]["sqbert packed"] == pytest.approx(
        conv["ms"]["sqbert packed"] / conv["ms"]["sqbert int8"])
    assert {"sqbert int8", "HF BERT (2 layers, 64) int8 (FBGEMM)"} <= set(model["ms"])
    onnx_rows = {"ONNX Runtime (HF SqueezeBERT)", "ONNX Runtime int8 (HF SqueezeBERT)",
                 "ONNX Runtime int8 (BERT (2 layers, 64))"}
    assert onnx_rows <= set(model["ms"]) | set(model["skipped"])
    assert all("pip install onnxruntime onnx" in model["skipped"][name] for name in onnx_rows & set(model["skipped"]))
    assert model["speedup"]["sqbert int8"]["HF BERT (2 layers, 64) int8 (FBGEMM)"] == pytest.approx(
        model["ms"]["HF BERT (2 layers, 64) int8 (FBGEMM)"] / model["ms"]["sqbert int8"])
    text = md.read_text()
    assert "sqbert int8 x faster than sqbert packed" in text and "sqbert int8 x faster than it" in text
    assert "| sqbert int8 |" in text


def test_mixed_lengths_like_sentence_classification():
    from sqbert_kernels.bench import mixed_lengths

    lengths = mixed_lengths()
    assert lengths == mixed_lengths() and len(lengths) == 32  # a fixed seed
    assert all(3 <= n <= 128 for n in lengths)
    assert 20 <= sum(lengths) / 32 <= 40 and sum(10 <= n <= 60 for n in lengths) >= 24
    many = mixed_lengths(20000)  # the distribution: mean ~30, most 10-60, a tail to 128
    assert 28 <= sum(many) / len(many) <= 32
    assert 0.8 <= sum(10 <= n <= 60 for n in many) / len(many) <= 0.95
    assert 0.002 <= sum(n > 100 for n in many) / len(many) <= 0.05 and max(many) == 128


def test_mixed_case_pads_on_the_right_and_agrees(tmp_path, monkeypatch):
    """The unpadded and padded runs of this package's model give the same
    outputs at the real tokens, as Hugging Face's does; ONNX Runtime is
    skipped naming its install command where it is missing."""
    import torch

    from sqbert_kernels.bench import mixed_case
    from sqbert_kernels.bench.cases import mixed_inputs

    checkpoint = _tiny_checkpoint(tmp_path)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    case = mixed_case(checkpoint, onnx=True, progress=lambda s: None)
    assert list(case.candidates) == ["sqbert_kernels", "sqbert_kernels padded", "sqbert int8", "HF SqueezeBERT",
                                     "HF BERT (2 layers, 64)"]
    assert "pip install onnxruntime onnx" in case.skipped["ONNX Runtime (HF SqueezeBERT)"]
    assert case.padded_length == 128 and max(case.lengths) < 128 and "seed 0" in case.label
    ids, mask, additive = mixed_inputs(case.lengths, 128, 100)
    assert (mask.sum(1).tolist() == case.lengths and (ids[mask == 0] == 0).all()
            and (mask[:, :-1] >= mask[:, 1:]).all())  # right padding
    assert additive.shape == (32, 1, 1, 128) and (additive[:, 0, 0][mask == 1] == 0).all()
    with torch.no_grad():
        outs = {name: case.candidates[name]().last_hidden_state
                for name in ("sqbert_kernels", "sqbert_kernels padded", "HF SqueezeBERT")}
    real = mask.bool()
    for name in ("sqbert_kernels padded", "HF SqueezeBERT"):
        torch.testing.assert_close(outs["sqbert_kernels"][real], outs[name][real], rtol=1e-4, atol=1e-4)


def test_mixed_section_in_the_json_tables_and_chart(tmp_path):
    """The mixed section alone on a tiny checkpoint: ms, sequences per
    second and speedups per thread count, ONNX Runtime on the export with an
    attention_mask input where it is installed."""
    checkpoint = _tiny_checkpoint(tmp_path / "checkpoint")
    out, md, png = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.png"
    assert cli.main(["--skip", "conv", "attention", "model", "--rounds", "2", "--threads", "1", "2", "--onnx",
                     "--checkpoint", checkpoint, "--json", str(out), "--png", str(png), "--markdown", str(md)]) == 0
    data = json.loads(out.read_text())
    assert data["rounds"]["mixed"] == 2 and data["model"] == [] and len(data["mixed"]) == 2
    onnx_name = "ONNX Runtime (HF SqueezeBERT)"
    for row, nthreads in zip(data["mixed"], (1, 2)):
        assert row["threads"] == nthreads and row["batch"] == 32 and row["length"] == 128
        assert row["tokens"] == sum(row["lengths"]) < 32 * 128
        names = {"sqbert_kernels", "sqbert_kernels padded", "sqbert int8", "HF SqueezeBERT", "HF BERT (2 layers, 64)"}
        assert names <= set(row["ms"]) and onnx_name in set(row["ms"]) | set(row["skipped"])
        assert set(row["spread"]) == set(row["ms"]) == set(row["seq_per_s"])
        for name, ms in row["ms"].items():
            assert row["seq_per_s"][name] == pytest.approx(32 / (ms / 1e3))
        assert row["speedup"]["sqbert_kernels"]["sqbert_kernels padded"] == pytest.approx(
            row["ms"]["sqbert_kernels padded"] / row["ms"]["sqbert_kernels"])
        assert row["speedup"]["sqbert int8"]["HF SqueezeBERT"] == pytest.approx(
            row["ms"]["HF SqueezeBERT"] / row["ms"]["sqbert int8"])
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        assert onnx_name in data["mixed"][0]["ms"]
    text = md.read_text()
    assert "| threads | B | L (padded) | model | ms | sequences/s | sqbert_kernels x faster than it |" in text
    assert "| 2 | 32 | 128 | sqbert_kernels padded |" in text and "log-normal lengths" in text
    if importlib.util.find_spec("matplotlib"):  # the bench extra; without it the chart is skipped
        assert png.stat().st_size > 0
