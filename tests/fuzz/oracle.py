"""What a fuzz case may end in, and the input variants the cases are run on.

Every call on altered input must end in one of three ways:

* a ``ValueError`` or ``TypeError`` whose message names the argument
  (:func:`expect_error`);
* a documented warning with the documented value (:func:`expect_documented`);
* the result of the clean equivalent input (:func:`expect_same`).

Any other exception (``IndexError``, ``KeyError``, ``AttributeError``, a
``LinAlgError`` ...) propagates and fails the test, as does a floating-point or
complex-casting warning from numpy or torch: those are what a user would see
instead of a message from us.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

ERRORS = (ValueError, TypeError)

# The CI profile: few examples, no deadline (the first call of a case pays for imports),
# derandomized so that CI sees the same examples on every run, no example database (nothing
# written into the repository), and no shrinking: a failure reports the example as drawn
# (small already), within the suite's time budget (tests/fuzz: well under 2 minutes on 2
# cores). REPRLIGN_FUZZ_PROFILE=deep runs the same tests on 40 times more random examples,
# to hunt for new defects.
settings.register_profile(
    "ci", max_examples=6, deadline=None, derandomize=True, database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture])
settings.register_profile("deep", settings.get_profile("ci"), max_examples=240,
                          derandomize=False)
fuzz = settings(settings.get_profile(os.environ.get("REPRLIGN_FUZZ_PROFILE", "ci")))
few = settings(fuzz, max_examples=max(3, fuzz.max_examples // 2))

# Warnings a user must never see from us: numpy / torch noticing bad arithmetic.
_FORBIDDEN = ("encountered in", "divide by zero", "Mean of empty slice", "Degrees of freedom",
              "discards the imaginary part", "invalid value", "overflow")


@dataclass
class Outcome:
    value: object = None
    error: BaseException | None = None
    warnings: list = field(default_factory=list)

    def __repr__(self):
        what = f"error {type(self.error).__name__}: {self.error}" if self.error else \
            f"value {self.value!r}"
        return f"Outcome({what}; warnings {self.warnings})"


def plain(value):
    """A result as nested lists / dicts of numpy arrays and floats (tensors detached)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):  # Bunch too
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def run(call):
    """Call ``call()``; a ValueError or TypeError is an outcome, any other exception fails."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        try:
            out = Outcome(value=plain(call()))
        except ERRORS as exc:
            out = Outcome(error=exc)
    out.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    bad = [w for w in out.warnings if any(f in w for f in _FORBIDDEN)]
    assert not bad, f"undocumented numerical warning(s) {bad}; outcome {out!r}"
    return out


def expect_error(call, *names):
    """``call()`` raises ValueError / TypeError naming one of ``names``."""
    out = run(call)
    assert out.error is not None, f"expected an error naming {names}, got {out!r}"
    if names:
        assert any(n in str(out.error) for n in names), \
            f"the error does not name {names}: {out.error!r}"
    return out


def expect_documented(call, value, match, *, error_names=()):
    """``call()`` warns with ``match`` and returns ``value``, or raises an error naming an argument.

    ``error_names=()`` means the error is not accepted (the warning is the documented answer).
    """
    out = run(call)
    if out.error is not None:
        assert error_names, f"expected the warning {match!r} and {value}, got {out!r}"
        assert any(n in str(out.error) for n in error_names), out
        return out
    assert any(match in w for w in out.warnings), f"expected a warning {match!r}: {out!r}"
    close(out.value, value, 0, 0)
    return out


def close(a, b, rtol, atol, path="result"):
    """Recursive allclose of two plain results (NaN equals NaN)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (path, a, b)
        for k in a:
            close(a[k], b[k], rtol, atol, f"{path}.{k}")
        return
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (path, a, b)
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            close(u, v, rtol, atol, f"{path}[{i}]")
        return
    if a is None or isinstance(a, str | bool):
        assert a == b, (path, a, b)
        return
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "OUS" or b.dtype.kind in "OUS":
        assert a.shape == b.shape and (a == b).all(), (path, a, b)
        return
    np.testing.assert_allclose(b, a, rtol=rtol, atol=atol, equal_nan=True, err_msg=path)


def expect_same(call, clean, *, rtol=1e-9, atol=1e-12):
    """``call()`` ends as ``clean()`` does: the same error type, or the same value and warnings."""
    ref, out = run(clean), run(call)
    if ref.error is not None:
        assert out.error is not None and type(out.error) is type(ref.error), (ref, out)
        return out
    assert out.error is None, f"clean input gives {ref!r}, this one {out!r}"
    close(ref.value, out.value, rtol, atol)
    assert [w[:40] for w in out.warnings] == [w[:40] for w in ref.warnings], (ref, out)
    return out


# --------------------------------------------------------------------------- input tables
@st.composite
def tables(draw, min_rows=2, max_rows=12, max_cols=5, min_cols=1):
    """A seeded Gaussian (n, d) table at a drawn scale and offset (continuous: no ties)."""
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(min_cols, max_cols))
    seed = draw(st.integers(0, 2**16))
    scale = draw(st.sampled_from([1.0, 1e-3, 1e3]))
    shift = draw(st.sampled_from([0.0, 5.0]))
    return np.random.RandomState(seed).randn(n, d) * scale + shift


@st.composite
def pairs(draw, min_rows=2, max_rows=12, max_cols=5):
    """Two tables of the same stimuli, the second partly driven by the first."""
    X = draw(tables(min_rows, max_rows, max_cols))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.RandomState(seed)
    d2 = draw(st.integers(1, max_cols))
    Y = X @ rng.randn(X.shape[1], d2) + 0.5 * np.abs(X).mean() * rng.randn(X.shape[0], d2)
    return X, Y


# --------------------------------------------------------------------------- variants
def _frame(X, offset=0):
    import pandas as pd

    return pd.DataFrame(X, index=np.arange(offset, offset + len(X)),
                        columns=[f"f{j}" for j in range(X.shape[1])])


def _strided(X):
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=X.dtype)
    wide[:, ::2] = X
    return wide[:, ::2]


def _torch_strided(X):
    return torch.as_tensor(np.ascontiguousarray(X.T)).T


def _round_to(dtype):
    return lambda X: X.astype(dtype).astype(np.float64)


def _integers(X):
    return np.round(X / (np.abs(X).max() + 1e-300) * 8)


# name -> (make the variant from a table, the clean float64 equivalent, (rtol, atol))
EXACT = (1e-9, 1e-12)
SINGLE = (2e-3, 2e-4)
EQUIVALENT = {
    "fortran": (np.asfortranarray, lambda X: X, EXACT),
    "strided": (_strided, lambda X: X, EXACT),
    "pandas": (_frame, lambda X: X, EXACT),
    "pandas-index": (lambda X: _frame(X, offset=7), lambda X: X, EXACT),
    "list": (lambda X: X.tolist(), lambda X: X, EXACT),
    "int": (lambda X: _integers(X).astype(np.int64), _integers, EXACT),
    "float32": (lambda X: X.astype(np.float32), _round_to(np.float32), SINGLE),
    "float16": (lambda X: X.astype(np.float16), _round_to(np.float16), SINGLE),
    "torch": (torch.as_tensor, lambda X: X, EXACT),
    "torch-strided": (_torch_strided, lambda X: X, EXACT),
    "torch-float32": (lambda X: torch.as_tensor(X, dtype=torch.float32), _round_to(np.float32),
                      SINGLE),
    "torch-float16": (lambda X: torch.as_tensor(X, dtype=torch.float16), _round_to(np.float16),
                      SINGLE),
    "torch-int": (lambda X: torch.as_tensor(_integers(X).astype(np.int64)), _integers, EXACT),
    "torch-grad": (lambda X: torch.tensor(X, requires_grad=True), lambda X: X, EXACT),
}
NUMPY_EQUIVALENT = {k: v for k, v in EQUIVALENT.items() if not k.startswith("torch")}


def _with(X, i, j, value):
    X = np.array(X, dtype=np.result_type(X, type(value)))
    X[i, j] = value
    return X


def _ragged(X):
    rows = X.tolist()
    rows[-1] = rows[-1][:-1] if len(rows[-1]) > 1 else rows[-1] + [0.0]
    return rows


# name -> a table no function may accept
INVALID = {
    "nan": lambda X: _with(X, -1, 0, np.nan),
    "inf": lambda X: _with(X, 0, -1, np.inf),
    "complex": lambda X: X + 1j,
    "strings": lambda X: X.astype(str),
    "objects": lambda X: np.array([[str(v) for v in row] for row in X], dtype=object),
    "1-d": lambda X: X[:, 0],
    "3-d": lambda X: X[None],
    "empty": lambda X: X[:0],
    "no-columns": lambda X: X[:, :0],
    "none": lambda X: None,
    "scalar": lambda X: 3.0,
    "ragged": _ragged,
    "torch-nan": lambda X: torch.as_tensor(_with(X, 0, 0, np.nan)),
    "torch-complex": lambda X: torch.as_tensor(X + 1j),
    "torch-1-d": lambda X: torch.as_tensor(X[:, 0]),
}


# --------------------------------------------------------------------------- float64 oracle
# Textbook definitions in plain float64 numpy / scipy, written independently of reprlign (no
# shared helper, no rescaling trick beyond an exact power of two, n x n matrices throughout).
# Each raises Undefined where the quantity is undefined; the measure must then raise a named
# error or warn and return its documented value.
class Undefined(Exception):
    """The oracle's quantity is undefined for this input (zero variance, a zero-norm row ...)."""


def unit(X):
    """``X`` (as float64) times an exact power of two, largest magnitude in [0.5, 1)."""
    X = np.array(X, dtype=np.float64)
    m = np.abs(X).max()
    return X if m == 0 else np.ldexp(X, -np.frexp(m)[1])


def _centred(X):
    return X - X.mean(axis=0)


def _hsic(K, L, debiased):
    n = K.shape[0]
    if not debiased:
        H = np.eye(n) - 1.0 / n
        return np.trace(K @ H @ L @ H)
    K, L = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (np.trace(K @ L) + (one @ K @ one) * (one @ L @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ K @ L @ one)) / (n * (n - 3))


def _cka_of_grams(K, L, debiased):
    kk, ll = _hsic(K, K, debiased), _hsic(L, L, debiased)
    if kk <= 0 or ll <= 0:
        raise Undefined("no variance")
    return _hsic(K, L, debiased) / np.sqrt(kk * ll)


def _varying(X):
    """Column-centred ``unit(X)``; Undefined when every column is constant (up to rounding)."""
    Xc = _centred(unit(X))
    if not np.abs(Xc).max() > 1e-13:
        raise Undefined("no variance")
    return Xc


def cka_linear(X, Y, debiased=False):
    X, Y = _varying(X), _varying(Y)
    return _cka_of_grams(X @ X.T, Y @ Y.T, debiased)


def cka_rbf(X, Y, debiased=False):
    from scipy.spatial.distance import pdist, squareform

    grams = []
    for A in (unit(X), unit(Y)):
        d = pdist(A)
        sigma = np.median(d)
        if sigma == 0:
            raise Undefined("median distance 0")
        grams.append(np.exp(-squareform(d) ** 2 / (2 * sigma**2)))
    return _cka_of_grams(*grams, debiased)


def procrustes(X, Y, angular=False):
    X, Y = _varying(X), _varying(Y)
    nx_, ny_ = np.linalg.norm(X), np.linalg.norm(Y)
    sim = min(1.0, np.linalg.svd(X.T @ Y, compute_uv=False).sum() / (nx_ * ny_))
    return float(np.arccos(sim)) if angular else float(sim)


# The precision of the input, for the tie rule of the correlation and cosine distances
# (float32 input is computed in float32: its rounding is the documented tolerance).
TIE_EPS = {"value": np.finfo(np.float64).eps}


def rdm(X, metric):
    """scipy's condensed distances (``sqeuclidean`` divided by d, as rsatoolbox)."""
    from scipy.spatial.distance import pdist

    X = unit(X)
    if metric == "correlation":
        if (np.ptp(X, axis=1) == 0).any():
            raise Undefined("constant row")
    if metric == "cosine" and (np.abs(X).max(axis=1) == 0).any():
        raise Undefined("zero row")
    if metric not in ("correlation", "cosine"):
        D = pdist(X, metric)
        return D / X.shape[1] if metric == "sqeuclidean" else D
    # 1 - cos(a, b) = ||a/|a| - b/|b|||^2 / 2 = 2 - ||a/|a| + b/|b|||^2 / 2: the form that
    # keeps its digits (pdist's 1 - u.v/(|u||v|) leaves noise of 1e-16 near 0 and 2), and the
    # documented tie rule: within eps^2 (256^2 + 4 (kappa_i^2 + kappa_j^2)) of 0 or 2 is 0 or
    # 2, with kappa the amplification of rounding by the centring of the correlation distance.
    eps = TIE_EPS["value"]
    C = X - X.mean(axis=1, keepdims=True) if metric == "correlation" else X
    norms = np.sqrt((C * C).sum(axis=1))
    kappa = (np.abs(X).max(axis=1) * np.sqrt(X.shape[1]) / norms if metric == "correlation"
             else np.ones(len(X)))
    U = C / norms[:, None]
    D = []
    for i in range(len(X)):
        for j in range(i + 1, len(X)):
            near = ((U[i] - U[j]) ** 2).sum() / 2
            far = ((U[i] + U[j]) ** 2).sum() / 2
            tie = eps**2 * (256**2 + 4 * (kappa[i] ** 2 + kappa[j] ** 2))
            D.append(0.0 if near <= tie else 2.0 if far <= tie else
                     near if near < 1 else 2.0 - far)
    return np.array(D)


def compare(a, b, method):
    from scipy.stats import pearsonr, rankdata

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if method == "cosine":
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        if na == 0 or nb == 0:
            raise Undefined("zero RDM")
        return float(a @ b / (na * nb))
    if np.ptp(a) <= 1e-12 * np.abs(a).max() or np.ptp(b) <= 1e-12 * np.abs(b).max():
        raise Undefined("constant RDM")
    if method == "pearson":
        return float(pearsonr(a, b)[0])
    a, b = _tie_close(a), _tie_close(b)
    if method == "spearman":
        return float(pearsonr(rankdata(a), rankdata(b))[0])
    m = len(a)  # tau-a: concordant minus discordant over all pairs
    sa, sb = np.sign(a[:, None] - a[None]), np.sign(b[:, None] - b[None])
    return float((sa * sb).sum() / (m * (m - 1)))


def _tie_close(v, ulps=256):
    """The documented tie rule of the rank comparators: neighbours in sorted order within
    ``ulps`` ulps of the larger are equal (each chain of them takes its smallest value)."""
    order = np.argsort(v, kind="stable")
    s = v[order]
    out = s.copy()
    for t in range(1, len(s)):
        if s[t] - s[t - 1] <= ulps * np.finfo(np.float64).eps * max(abs(s[t]), abs(s[t - 1])):
            out[t] = out[t - 1]
    result = np.empty_like(out)
    result[order] = out
    return result


def rsa(X, Y, metric="correlation", method="spearman"):
    return compare(rdm(X, metric), rdm(Y, metric), method)


def _similarities(X, metric):
    X = unit(X)
    if metric == "cosine":
        norms = np.sqrt((X * X).sum(axis=1))
        if (norms == 0).any():
            raise Undefined("zero row")
        X = X / norms[:, None]
        # pair by pair: the same arithmetic for every pair, so duplicates tie exactly
        return np.array([[np.dot(a, b) for b in X] for a in X])
    return -((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)


def mutual_knn(X, Y, k, metric="cosine"):
    """Neighbours by a stable sort: ties at the k-th place go to the lower index."""
    n = len(X)
    near = []
    for S in (_similarities(X, metric), _similarities(Y, metric)):
        S = S.copy()
        off = S[~np.eye(n, dtype=bool)]
        if np.ptp(off) <= 1e-12 * np.abs(off).max():  # every row the same (or parallel)
            raise Undefined("no neighbour structure")
        np.fill_diagonal(S, -np.inf)
        order = np.argsort(-S, axis=1, kind="stable")[:, :k]
        near.append([set(row) for row in order])
    return sum(len(a & b) for a, b in zip(*near, strict=True)) / (n * k)


def triplet_similarities(Z, triplets, similarity="dot"):
    Z = np.array(Z, dtype=np.float64)
    if similarity == "cosine":
        Z = Z / np.sqrt((Z * Z).sum(axis=1))[:, None]
    return np.array([[Z[j] @ Z[k], Z[i] @ Z[k], Z[i] @ Z[j]] for i, j, k in triplets])


def odd_one_out(X, triplets, y=None, similarity="cosine", temperature=1.0):
    """(accuracy, kl): the odd one out is opposite the most similar pair; ties are wrong."""
    S = triplet_similarities(unit(X), triplets, similarity)
    if y is None:
        human = np.full(len(S), 2)
    elif np.ndim(y) == 2:
        human = np.argmax(y, axis=1)
    else:
        human = np.asarray(y)
    top = S.max(axis=1, keepdims=True)
    right = (S[np.arange(len(S)), human] == top[:, 0]) & ((S == top).sum(1) == 1)
    kl = None
    if np.ndim(y) == 2:
        S = triplet_similarities(X, triplets, similarity) / temperature
        logq = S - S.max(1, keepdims=True)
        logq -= np.log(np.exp(logq).sum(1, keepdims=True))
        p = np.asarray(y, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = float(np.where(p > 0, p * (np.log(p) - logq), 0).sum(1).mean())
    return float(right.mean()), kl


def ece(y_true, P, n_bins=10):
    """Top-label ECE with uniform right-closed bins (the first also holds 0)."""
    P = np.asarray(P, dtype=np.float64)
    conf, pred = P.max(1), P.argmax(1)
    correct = (pred == np.asarray(y_true)).astype(float)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (conf > lo) & (conf <= hi) if b else (conf >= 0) & (conf <= hi)
        if inside.any():
            total += inside.sum() / len(conf) * abs(correct[inside].mean() - conf[inside].mean())
    return total
