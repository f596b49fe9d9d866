"""The main job, ``python -m reprlign demo``, on a small grid."""

import pytest

from reprlign._cli import build_parser, main
from reprlign._demo import run_demo


def test_demo_small_grid_writes_table_and_plot(tmp_path, capsys):
    out = tmp_path / "demo.png"
    res = run_demo(reg=[1.0], local_weight=[0.0], n_splits=2, output=out)
    printed = capsys.readouterr().out
    assert out.is_file() and out.stat().st_size > 10_000
    assert "noise ceiling 0.644" in printed and "zero-shot (cosine)" in printed
    assert res["noise_ceiling"] == pytest.approx(0.644, abs=0.001)
    assert res["zero_shot_accuracy"] == pytest.approx(0.414, abs=0.01)
    # Aligned beats zero-shot in accuracy and in KL to the human distributions.
    assert res["best_accuracy"] > res["zero_shot_accuracy"] + 0.02
    assert res["best_kl"] < res["zero_shot_kl"]
    assert res["best_params"] == {"local_weight": 0.0, "reg": 1.0}


def test_demo_flags_parse_and_are_documented(capsys):
    args = build_parser().parse_args(
        ["demo", "--features", "minilm-definitions", "--reg", "0.1,10", "--local-weight", "0",
         "--output", "none"])
    assert args.reg == [0.1, 10.0] and args.local_weight == [0.0] and args.output == "none"
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    helptext = capsys.readouterr().out
    for flag in ("--features", "--reg", "--local-weight", "--n-splits", "--output"):
        assert flag in helptext
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--reg", "a,b"])


def test_demo_without_matplotlib_says_so_before_any_fit(monkeypatch, capsys, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    out = tmp_path / "demo.png"
    with pytest.raises(ImportError, match=r"reprlign\[plot\]"):
        run_demo(reg=[1.0], local_weight=[0.0], n_splits=2, output=out)
    assert main(["demo", "--reg", "1", "--local-weight", "0", "--output", str(out)]) == 2
    captured = capsys.readouterr()
    assert "matplotlib" in captured.err and "--output none" in captured.err
    assert captured.out == "" and not out.exists()  # nothing was fitted or written
