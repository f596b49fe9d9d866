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
