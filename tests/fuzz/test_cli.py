"""Fuzzing the command line: every file it may be given either gives the library's answer
(exit 0) or one ``error: ...`` line naming the file (exit 2), never a traceback."""

import re
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprlign._cli import main
from reprlign.measures import cka, mutual_knn, procrustes, rsa

from .oracle import few, pairs


def _status(argv):
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _save_npy(path, A):
    with open(path, "wb") as f:  # (np.save to a path would add ".npy" to other suffixes)
        np.save(f, A)


def _save_text(sep):
    def save(path, A):
        np.savetxt(path, A, delimiter=sep, fmt="%.17g")
    return save


def _save_npz(path, A):
    np.savez(path, features=A)


# suffix, writer: files the command line reads, each holding the same table
READABLE = {
    "npy": (".npy", _save_npy),
    "npy-float32": (".npy", lambda p, A: np.save(p, A.astype(np.float32))),
    "npy-fortran": (".npy", lambda p, A: np.save(p, np.asfortranarray(A))),
    "npz": (".npz", _save_npz),
    "csv": (".csv", _save_text(",")),
    "tsv": (".tsv", _save_text("\t")),
    "txt": (".txt", _save_text(" ")),
    "npy-named-txt": (".txt", _save_npy),  # recognised by content, not suffix
}


def _write_raw(data):
    def save(path, A):
        path.write_bytes(data(A) if callable(data) else data)
    return save


def _zip_of_text(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.txt", "hello")


def _with_nan(A):
    B = A.copy()
    B[-1, 0] = np.nan
    return B


# suffix, writer: files that must be refused with a message naming them
UNREADABLE = {
    "nan": (".npy", lambda p, A: np.save(p, _with_nan(A))),
    "inf": (".npy", lambda p, A: np.save(p, A * np.inf)),
    "nan-text": (".csv", lambda p, A: _save_text(",")(p, _with_nan(A))),
    "complex": (".npy", lambda p, A: np.save(p, A + 1j)),
    "strings": (".npy", lambda p, A: np.save(p, A.astype(str))),
    "objects": (".npy", lambda p, A: np.save(p, A.astype(object), allow_pickle=True)),
    "1-d": (".npy", lambda p, A: np.save(p, A[:, 0])),
    "3-d": (".npy", lambda p, A: np.save(p, A[None])),
    "empty": (".npy", lambda p, A: np.save(p, A[:0])),
    "one-row": (".npy", lambda p, A: np.save(p, A[:1])),
    "no-columns": (".npy", lambda p, A: np.save(p, A[:, :0])),
    "empty-text": (".csv", _write_raw(b"")),
    "header": (".csv", _write_raw(lambda A: b"a,b\n" + b"1,2\n" * len(A))),
    "ragged-text": (".txt", _write_raw(lambda A: b"1 2 3\n4 5\n" * len(A))),
    "binary-garbage": (".npy", _write_raw(bytes(range(256)))),
    "truncated-npy": (".npy", _write_raw(b"\x93NUMPY\x01\x00")),
    "npz-two-arrays": (".npz", lambda p, A: np.savez(p, a=A, b=A)),
    "npz-empty": (".npz", lambda p, A: np.savez(p)),
    "zip-not-npz": (".npz", lambda p, A: _zip_of_text(p)),
    "directory": ("", lambda p, A: p.mkdir()),
    "missing": (".npy", lambda p, A: None),
}

MEASURES = {
    "cka": (["--metric", "cka"], lambda A, B: cka(A, B)),
    "rsa": (["--metric", "rsa", "--rdm-metric", "euclidean"],
            lambda A, B: rsa(A, B, rdm_metric="euclidean")),
    "procrustes": (["--metric", "procrustes"], lambda A, B: procrustes(A, B)),
    "mutual_knn": (["--metric", "mutual_knn", "--k", "1"], lambda A, B: mutual_knn(A, B, 1)),
}


def _printed(out, metric):
    line = next(li for li in out.splitlines() if li.startswith(f"{metric} = "))
    return float(line.split()[2])


def _check_refused(status, captured, *names):
    assert status == 2, (status, captured)
    assert "Traceback" not in captured.err, captured.err
    lines = [li for li in captured.err.splitlines() if li.startswith("error: ")]
    assert lines, captured.err
    assert any(n in lines[-1] for n in names), (names, captured.err)


@pytest.mark.parametrize("variant", list(READABLE))
@pytest.mark.parametrize("metric", list(MEASURES))
@few
@given(AB=pairs(min_rows=4, max_rows=10))
def test_readable_files_give_the_library_answer(tmp_path_factory, capsys, variant, metric, AB):
    A, B = AB
    d = tmp_path_factory.mktemp("cli")
    suffix, save = READABLE[variant]
    save(d / f"a{suffix}", A)
    np.save(d / "b.npy", B)
    flags, measure = MEASURES[metric]
    status = _status(["score", str(d / f"a{suffix}"), str(d / "b.npy"), *flags])
    captured = capsys.readouterr()
    assert status == 0 and "Traceback" not in captured.err, captured
    clean = A.astype(np.float32).astype(float) if "float32" in variant else A
    with warnings.catch_warnings(record=True) as caught:  # (a documented degenerate case)
        warnings.simplefilter("always")
        want = measure(clean, B)
    assert _printed(captured.out, metric) == pytest.approx(want, abs=2e-6)
    for w in caught:  # the command line shows the library's warnings
        assert str(w.message)[:40] in captured.err, (w, captured.err)


@pytest.mark.parametrize("variant", list(UNREADABLE))
@pytest.mark.parametrize("side", ["a", "b"])
@few
@given(AB=pairs(min_rows=4, max_rows=10), metric=st.sampled_from(list(MEASURES)))
def test_unreadable_files_are_named(tmp_path_factory, capsys, variant, side, AB, metric):
    A, B = AB
    d = tmp_path_factory.mktemp("cli")
    suffix, save = UNREADABLE[variant]
    bad = d / f"bad{suffix}"
    save(bad, A)
    np.save(d / "good.npy", B)
    files = [str(bad), str(d / "good.npy")]
    if side == "b":
        files.reverse()
    status = _status(["score", *files, *MEASURES[metric][0]])
    _check_refused(status, capsys.readouterr(), bad.name)


@few
@given(AB=pairs(min_rows=5, max_rows=10), metric=st.sampled_from(list(MEASURES)))
def test_files_of_different_stimuli_are_named(tmp_path_factory, capsys, AB, metric):
    A, B = AB
    d = tmp_path_factory.mktemp("cli")
    np.save(d / "a.npy", A)
    np.save(d / "b.npy", B[:-1])
    status = _status(["score", str(d / "a.npy"), str(d / "b.npy"), *MEASURES[metric][0]])
    _check_refused(status, capsys.readouterr(), "one row per stimulus")


# --------------------------------------------------------------------------- align
def _triplets(rng, n, m):
    return np.array([rng.choice(n, 3, replace=False) for _ in range(m)])


BAD_TRIPLETS = {  # canonical 0-based rows (odd one out last) made invalid
    "out-of-range": lambda T, n: np.vstack([T, [[0, 1, n]]]),
    "negative": lambda T, n: np.vstack([T, [[0, 1, -1]]]),
    "repeated-object": lambda T, n: np.vstack([T, [[0, 0, 1]]]),
    "two-columns": lambda T, n: T[:, :2],
    "fractional": lambda T, n: T + 0.5,
    "nan": lambda T, n: np.vstack([T.astype(float), [[0, 1, np.nan]]]),
    "strings": lambda T, n: np.char.add("obj", T.astype(str)),
    "empty": lambda T, n: T[:0],
}


@pytest.fixture
def align_files(tmp_path):
    rng = np.random.RandomState(0)
    F = rng.randn(12, 4)
    np.save(tmp_path / "F.npy", F)
    return tmp_path, F, _triplets(rng, 12, 40)


def _align(d, features, triplets, fmt="canonical"):
    return ["align", "--features", str(features), "--triplets", str(triplets), "--format", fmt,
            "--out", str(d / "out.npz"), "--max-epochs", "1", "--holdout", "0", "--quiet"]


@pytest.mark.parametrize("variant", list(BAD_TRIPLETS))
@pytest.mark.parametrize("suffix", [".npy", ".tsv"])
def test_align_names_bad_triplet_files(align_files, capsys, variant, suffix):
    d, F, T = align_files
    bad = BAD_TRIPLETS[variant](T, len(F))
    path = d / f"T{suffix}"
    if suffix == ".npy":
        np.save(path, bad)
    else:
        np.savetxt(path, bad, fmt="%s", delimiter="\t")
    _check_refused(_status(_align(d, d / "F.npy", path)), capsys.readouterr(), path.name)
    assert not (d / "out.npz").exists()


@pytest.mark.parametrize("choice", [0, 4, -1])
def test_align_names_bad_things_choices(align_files, capsys, choice):
    d, F, T = align_files
    rows = np.column_stack([T + 1, np.full(len(T), 3)])
    rows[-1, 3] = choice
    np.savetxt(d / "T.txt", rows, fmt="%d")
    _check_refused(_status(_align(d, d / "F.npy", d / "T.txt", fmt="things")),
                   capsys.readouterr(), "T.txt")


@pytest.mark.parametrize("variant", [v for v in UNREADABLE if v != "one-row"])
def test_align_names_bad_feature_files(align_files, capsys, variant):
    d, F, T = align_files
    np.save(d / "T.npy", T)
    suffix, save = UNREADABLE[variant]
    bad = d / f"bad{suffix}"
    save(bad, F)
    _check_refused(_status(_align(d, bad, d / "T.npy")), capsys.readouterr(), bad.name)


def test_align_names_triplets_beyond_the_features(align_files, capsys):
    d, F, T = align_files
    np.save(d / "T.npy", T)
    np.save(d / "F.npy", F[:5])
    status = _status(_align(d, d / "F.npy", d / "T.npy"))
    captured = capsys.readouterr()
    _check_refused(status, captured, "T.npy", "F.npy", "objects")
    assert re.search(r"\b5\b", captured.err), captured.err
