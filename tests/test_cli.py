import re

import numpy as np
import pytest

from reprlign._cli import main
from reprlign.measures import cka, rsa


@pytest.fixture
def feature_files(tmp_path):
    rng = np.random.RandomState(0)
    A = rng.randn(60, 8)
    B = A @ rng.randn(8, 5) + 0.5 * rng.randn(60, 5)
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "B.npy", B)
    np.savetxt(tmp_path / "B.csv", B, delimiter=",")
    np.save(tmp_path / "short.npy", B[:50])
    np.save(tmp_path / "cube.npy", rng.randn(4, 3, 2))
    return tmp_path, A, B


def _value(out, name):
    line = next(li for li in out.splitlines() if li.startswith(f"{name} = "))
    return float(line.split()[2])


def test_score_matches_measures(feature_files, capsys):
    d, A, B = feature_files
    assert main(["score", str(d / "A.npy"), str(d / "B.npy")]) == 0
    assert _value(capsys.readouterr().out, "cka") == pytest.approx(cka(A, B), abs=1e-6)
    assert main(["score", str(d / "A.npy"), str(d / "B.csv"), "--metric", "rsa",
                 "--compare", "pearson"]) == 0
    got = _value(capsys.readouterr().out, "rsa")
    assert got == pytest.approx(rsa(A, B, compare="pearson"), abs=1e-6)
    assert main(["score", str(d / "A.npy"), str(d / "B.npy"), "--debiased"]) == 0
    assert _value(capsys.readouterr().out, "cka") == pytest.approx(cka(A, B, debiased=True),
                                                                    abs=1e-6)


def test_score_ci(feature_files, capsys):
    d, A, B = feature_files
    assert main(["score", str(d / "A.npy"), str(d / "B.npy"), "--ci", "--n-bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    line = next(li for li in out.splitlines() if li.startswith("cka = "))
    low, high = (float(x) for x in line.split("[")[1].split("]")[0].split(","))
    assert low < _value(out, "cka") < high
    assert "200 resamples" in line


def test_score_errors_name_files_and_shapes(feature_files, capsys):
    d, _, _ = feature_files
    assert main(["score", str(d / "A.npy"), str(d / "missing.npy")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "missing.npy" in err
    assert main(["score", str(d / "A.npy"), str(d / "short.npy")]) == 2
    err = capsys.readouterr().err
    assert "A.npy has shape (60, 8)" in err and "short.npy has shape (50, 5)" in err
    assert main(["score", str(d / "cube.npy"), str(d / "A.npy")]) == 2
    err = capsys.readouterr().err
    assert "cube.npy" in err and "(4, 3, 2)" in err


@pytest.fixture
def triplet_files(tmp_path):
    from reprlign.datasets import make_hierarchical_concepts
    from reprlign.triplets import sample_triplets, simulate_choices

    data = make_hierarchical_concepts(80, n_features=12, n_components=6, random_state=0)
    t = simulate_choices(data.human, sample_triplets(80, 1500, random_state=0), random_state=0)
    np.save(tmp_path / "F.npy", data.model)
    np.savetxt(tmp_path / "T.tsv", t, fmt="%d", delimiter="\t")
    np.savetxt(tmp_path / "bad.tsv", t + 100, fmt="%d", delimiter="\t")
    return tmp_path, data.model, t


def test_align_writes_the_transform(triplet_files, capsys):
    from reprlign import HumanAlignTransformer

    d, F, t = triplet_files
    out = d / "transform.npz"
    args = ["align", "--features", str(d / "F.npy"), "--triplets", str(d / "T.tsv"),
            "--format", "canonical", "--out", str(out), "--max-epochs", "3", "--seed", "0"]
    assert main(args) == 0
    verbose = capsys.readouterr().out.splitlines()
    z = np.load(out)
    est = HumanAlignTransformer(F, max_epochs=3, random_state=0).fit(t)
    np.testing.assert_allclose(z["W"], est.W_, rtol=1e-5, atol=1e-6)
    Z = ((F - z["mean"]) / z["scale"]) @ z["W"] + z["b"]
    np.testing.assert_allclose(Z, est.transform(F), rtol=1e-4, atol=1e-5)
    assert main(args + ["--quiet"]) == 0
    quiet = capsys.readouterr().out.splitlines()
    assert len(verbose) >= len(quiet) + 3  # one progress line per epoch


def test_align_errors(triplet_files, capsys):
    d, F, _ = triplet_files
    base = ["align", "--features", str(d / "F.npy"), "--format", "canonical", "--out",
            str(d / "o.npz")]
    assert main(base + ["--triplets", str(d / "nope.tsv")]) == 2
    assert "nope.tsv" in capsys.readouterr().err
    assert main(base + ["--triplets", str(d / "bad.tsv")]) == 2
    err = capsys.readouterr().err
    assert "bad.tsv" in err and "F.npy has shape (80, 12)" in err
    assert main(["align", "--features", str(d / "G.npy"), "--triplets", str(d / "T.tsv")]) == 2
    assert "G.npy" in capsys.readouterr().err


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["score", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "resamples for --ci (default: 1000)" in out
    assert "(default: cka)" in out and "(default: 0.95)" in out
    assert "(default: False)" not in out  # flags have no default worth printing
    with pytest.raises(SystemExit):
        main(["align", "--help"])
    out = capsys.readouterr().out
    assert "(default: 0.1)" in out and "(default: transform.npz)" in out


def _status(argv):
    """Exit status of the command line: main's return value, or argparse's SystemExit code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.fixture
def bad_files(feature_files):
    d, A, _ = feature_files
    np.save(d / "empty.npy", np.empty((0, 8)))
    np.save(d / "one_row.npy", A[:1])
    np.save(d / "complex.npy", A + 1j)
    np.save(d / "strings.npy", np.array([["a", "b"]] * 60))
    (d / "words.csv").write_text("a,b\nc,d\n")
    np.save(d / "constant.npy", np.ones((60, 8)))
    return d


@pytest.mark.parametrize("extra, message", [
    (["--metric", "mutual_knn", "--k", "0"], r"argument --k: must be 1 <= x, got 0"),
    (["--metric", "mutual_knn", "--k", "n"], r"argument --k: expected an integer, got 'n'"),
    (["--metric", "mutual_knn", "--k", "60"], r"--k 60 must be smaller than the number of "
                                              r"stimuli \(60\)"),
    (["--ci", "--n-bootstrap", "1"], r"argument --n-bootstrap: must be 2 <= x, got 1"),
    (["--ci", "--confidence", "1.5"], r"argument --confidence: must be 0 < x < 1, got 1.5"),
    (["--device", "tpu"], r"--device 'tpu' is not a torch device"),
    (["--file", "empty.npy"], r"empty.npy: shape \(0, 8\): .*at least 2 rows"),
    (["--file", "one_row.npy"], r"one_row.npy: shape \(1, 8\): .*at least 2 rows"),
    (["--file", "complex.npy"], r"complex.npy: complex values"),
    (["--file", "strings.npy"], r"strings.npy: expected numbers, got dtype <U1"),
    (["--file", "words.csv"], r"words.csv: could not read features: could not convert "
                              r"string 'a'"),
    (["--file", "constant.npy", "--metric", "rsa"], r"--metric rsa on .*constant.npy \(X\).*"
                                                    r"constant row"),
])
def test_score_errors_exit_2_with_a_message(bad_files, capsys, extra, message):
    d = bad_files
    first = d / "A.npy"
    if extra[0] == "--file":
        first, extra = d / extra[1], extra[2:]
    second = first if first.name != "constant.npy" else d / "B.npy"
    assert _status(["score", str(first), str(second), *extra]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(rf"error: .*{message}", err), err


@pytest.fixture
def align_base(triplet_files):
    d, F, t = triplet_files
    np.savetxt(d / "few.tsv", t[:5], fmt="%d", delimiter="\t")
    return ["align", "--features", str(d / "F.npy"), "--format", "canonical", "--out",
            str(d / "o.npz"), "--max-epochs", "2", "--quiet"], d


@pytest.mark.parametrize("extra, message", [
    (["--max-epochs", "0"], r"argument --max-epochs: must be 1 <= x, got 0"),
    (["--lr", "-1"], r"argument --lr: must be 0 < x, got -1"),
    (["--batch-size", "0"], r"argument --batch-size: must be 1 <= x, got 0"),
    (["--reg", "-1"], r"argument --reg: must be 0 <= x, got -1"),
    (["--local-weight", "1"], r"argument --local-weight: must be 0 <= x < 1, got 1"),
    (["--holdout", "1"], r"argument --holdout: must be 0 <= x < 1, got 1"),
    (["--device", "tpu"], r"--device 'tpu' is not a torch device"),
    (["--triplets", "few.tsv", "--holdout", "0", "--early-stopping"],
     r"early_stopping.*\(on the command line: leave out --early-stopping\)"),
    (["--triplets", "few.tsv", "--holdout", "0.9"], r"too few to hold out 90%"),
    (["--out", "no/such/dir/x.npz"], r"--out .*x.npz: the folder .*dir does not exist"),
])
def test_align_errors_exit_2_with_a_message(align_base, capsys, extra, message):
    base, d = align_base
    if "--triplets" not in extra:
        extra = ["--triplets", "T.tsv", *extra]
    extra = [str(d / v) if v.endswith(".tsv") or v.startswith("no/") else v for v in extra]
    assert _status(base + extra) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert re.search(rf"error: .*{message}", captured.err), captured.err
    if "--out" in extra:  # checked before any work
        assert "fitting" not in captured.out


def test_align_reads_npy_triplets_and_reports_held_out_accuracy(triplet_files, capsys):
    from sklearn.model_selection import GroupShuffleSplit

    from reprlign import HumanAlignTransformer
    from reprlign.triplets import triplet_groups

    d, F, t = triplet_files
    np.save(d / "T.npy", t)
    things = np.column_stack([t + 1, np.full(len(t), 3)])  # 1-based, odd one out third
    np.save(d / "things.npy", things)
    outs = []
    for name, fmt in [("T.tsv", "canonical"), ("T.npy", "canonical"), ("things.npy", "things")]:
        out = d / f"from_{name}.npz"
        assert main(["align", "--features", str(d / "F.npy"), "--triplets", str(d / name),
                     "--format", fmt, "--out", str(out), "--max-epochs", "3", "--quiet"]) == 0
        outs.append((np.load(out)["W"], capsys.readouterr().out))
    for W, _ in outs[1:]:
        np.testing.assert_array_equal(W, outs[0][0])
    text = outs[1][1]
    assert "array(" not in text and "[[" not in text  # no repr of the features
    train, test = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=0)
                       .split(t, groups=triplet_groups(t)))
    held_out = HumanAlignTransformer(F, max_epochs=3, random_state=0).fit(t[train]).score(t[test])
    line = next(li for li in text.splitlines() if li.startswith("held-out odd-one-out"))
    assert f"{held_out:.3f} after" in line and "noise ceiling" in line
    assert "training odd-one-out accuracy (the triplets it was fitted on)" in text
    # --holdout 0 skips the check (one fit)
    assert main(["align", "--features", str(d / "F.npy"), "--triplets", str(d / "T.npy"),
                 "--format", "canonical", "--out", str(d / "x"), "--max-epochs", "2", "--quiet",
                 "--holdout", "0"]) == 0
    text = capsys.readouterr().out
    assert "held-out" not in text and (d / "x.npz").is_file() and f"wrote {d / 'x.npz'}" in text
