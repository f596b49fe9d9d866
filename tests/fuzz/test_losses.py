"""Fuzzing the torch objectives: values against plain float64 definitions, finite gradients on
the documented degenerate inputs (ties, constant input, extreme scales and temperatures),
named errors for invalid tensors and arguments."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import squareform
from scipy.stats import rankdata, spearmanr

from reprlign.losses import (
    knn_overlap_loss,
    perturbed_topk,
    soft_rank,
    soft_rsa_loss,
    soft_spearman,
    triplet_cross_entropy,
    triplet_kl,
)
from reprlign.measures import compare_rdms, mutual_knn, rdm

from .oracle import expect_error, few, fuzz, run


def _grad(loss_fn, x):
    """``loss_fn(x)`` summed, and the gradient with respect to ``x`` (a float64 copy)."""
    x = x.detach().clone().requires_grad_(True)
    out = loss_fn(x)
    out.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()), x.grad
    return out.detach().double().numpy()


CONTAINERS = {"numpy": np.asarray, "list": lambda a: a.tolist(), "torch": torch.as_tensor,
              "pandas": lambda a: pd.DataFrame(a) if a.ndim == 2 else pd.Series(a),
              "float32": lambda a: a.astype(np.float32),
              "torch-float32": lambda a: torch.as_tensor(a, dtype=torch.float32)}


# --------------------------------------------------------------------------- triplet losses
@st.composite
def triplet_batches(draw):
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    m = draw(st.integers(1, 12))
    scale = draw(st.sampled_from([1.0, 1e-8, 1e8, 1e300]))
    s = rng.randn(m, 3) * scale
    if draw(st.booleans()):
        s[0] = s[0, 0]  # a row of ties
    return s, rng.dirichlet(np.ones(3) * 0.5, m), rng.randint(0, 3, m), rng.rand(m) + 0.1


def _kl(s, p, T, w):
    z = s / T
    z = z - z.max(1, keepdims=True)
    logq = z - np.log(np.exp(z).sum(1, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(p > 0, p * (np.log(p) - logq), 0).sum(1)
    return float((kl * w).sum() / w.sum())


@pytest.mark.parametrize("container", list(CONTAINERS))
@fuzz
@given(batch=triplet_batches(), temperature=st.sampled_from([1e-3, 1.0, 1e3]))
def test_triplet_losses_agree_with_the_definition(container, batch, temperature):
    s, p, odd, w = batch
    wrap = CONTAINERS[container]
    S = torch.as_tensor(s)
    kl = run(lambda: _grad(lambda x: triplet_kl(x, wrap(p), temperature=temperature,
                                                weights=wrap(w)), S))
    wrap_odd = {"float32": np.asarray, "torch-float32": torch.as_tensor}.get(container, wrap)
    ce = run(lambda: _grad(lambda x: triplet_cross_entropy(
        x, wrap_odd(odd), temperature=temperature, weights=wrap(w)), S))
    assert kl.error is None and ce.error is None, (kl, ce)
    if "float32" in container:
        p = p.astype(np.float32).astype(np.float64)
        w = w.astype(np.float32).astype(np.float64)
    want = _kl(s, p, temperature, w)
    if np.isfinite(want):
        assert kl.value == pytest.approx(want, rel=1e-6, abs=1e-9)
    else:
        assert kl.value == np.inf
    want_ce = _kl(s, np.eye(3)[odd], temperature, w)
    if np.isfinite(want_ce):
        assert ce.value == pytest.approx(want_ce, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_triplet_losses_keep_low_precision_finite(dtype):
    s = torch.tensor([[0.1, 0.2, 0.9], [1.0, 1.0, 1.0], [5.0, -3.0, 0.0]], dtype=dtype)
    p = [[0.1, 0.1, 0.8], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    for fn in (lambda x: triplet_kl(x, p, temperature=0.05),
               lambda x: triplet_cross_entropy(x, [0, 1, 2], temperature=0.05)):
        x = s.clone().requires_grad_(True)
        out = fn(x)
        out.backward()
        assert out.dtype == dtype and bool(torch.isfinite(out)) and bool(x.grad.isfinite().all())


BAD_TRIPLET_ARGS = {
    "similarities-numpy": (lambda s, p: dict(similarities=s.numpy()), "similarities"),
    "similarities-int": (lambda s, p: dict(similarities=s.long()), "similarities"),
    "similarities-complex": (lambda s, p: dict(similarities=s + 0j), "similarities"),
    "similarities-2-cols": (lambda s, p: dict(similarities=s[:, :2]), "similarities"),
    "similarities-nan": (lambda s, p: dict(similarities=s * np.nan), "similarities"),
    "similarities-inf": (lambda s, p: dict(similarities=s.clamp_min(0) * np.inf),
                         "similarities"),
    "similarities--inf": (lambda s, p: dict(similarities=-(s.abs() * np.inf)), "similarities"),
    "target-short": (lambda s, p: dict(target=p[1:]), "target"),
    "target-nan": (lambda s, p: dict(target=p * np.nan), "target"),
    "target-negative": (lambda s, p: dict(target=p - 0.5), "target"),
    "target-not-summing": (lambda s, p: dict(target=p * 2), "target"),
    "target-strings": (lambda s, p: dict(target=p.astype(str)), "target"),
    "target-complex": (lambda s, p: dict(target=p + 0j), "target"),
    "target-torch-complex": (lambda s, p: dict(target=torch.as_tensor(p) + 0j), "target"),
    "target-none": (lambda s, p: dict(target=None), "target"),
    "target-ragged": (lambda s, p: dict(target=[[1.0, 0.0]] + p[1:].tolist()), "target"),
    "odd-float": (lambda s, p: dict(odd=np.zeros(len(s)) + 0.5), "odd"),
    "odd-three": (lambda s, p: dict(odd=np.full(len(s), 3)), "odd"),
    "odd-strings": (lambda s, p: dict(odd=np.zeros(len(s), int).astype(str)), "odd"),
    "odd-complex": (lambda s, p: dict(odd=np.zeros(len(s)) + 0j), "odd"),
    "odd-short": (lambda s, p: dict(odd=np.zeros(len(s) + 1, int)), "odd"),
    "weights-negative": (lambda s, p: dict(weights=-np.ones(len(s))), "weights"),
    "weights-zero": (lambda s, p: dict(weights=np.zeros(len(s))), "weights"),
    "weights-nan": (lambda s, p: dict(weights=np.full(len(s), np.nan)), "weights"),
    "weights-inf": (lambda s, p: dict(weights=np.r_[np.inf, np.ones(len(s) - 1)]), "weights"),
    "weights-strings": (lambda s, p: dict(weights=np.ones(len(s)).astype(str)), "weights"),
    "weights-complex": (lambda s, p: dict(weights=np.ones(len(s)) + 1j), "weights"),
    "weights-short": (lambda s, p: dict(weights=np.ones(len(s) + 1)), "weights"),
    "temperature-0": (lambda s, p: dict(temperature=0.0), "temperature"),
    "temperature-nan": (lambda s, p: dict(temperature=np.nan), "temperature"),
    "temperature-inf-tensor": (lambda s, p: dict(temperature=torch.tensor(np.inf)),
                               "temperature"),
    "temperature-int-tensor": (lambda s, p: dict(temperature=torch.tensor(2)), "temperature"),
    "temperature-vector": (lambda s, p: dict(temperature=torch.ones(2)), "temperature"),
    "temperature-string": (lambda s, p: dict(temperature="1"), "temperature"),
    "reduction": (lambda s, p: dict(reduction="max"), "reduction"),
}


@pytest.mark.parametrize("case", list(BAD_TRIPLET_ARGS))
@few
@given(batch=triplet_batches())
def test_triplet_losses_name_invalid_arguments(case, batch):
    s, p, odd, w = batch
    s = torch.as_tensor(s).clamp(-1e3, 1e3)
    kw = BAD_TRIPLET_ARGS[case][0](s, p)
    name = BAD_TRIPLET_ARGS[case][1]
    if name != "odd":
        args = {"similarities": s, "target": p, **kw}
        expect_error(lambda: triplet_kl(args.pop("similarities"), args.pop("target"), **args),
                     name)
    if name != "target":
        args = {"similarities": s, "odd": odd, **kw}
        expect_error(lambda: triplet_cross_entropy(args.pop("similarities"), args.pop("odd"),
                                                   **args), name)


# --------------------------------------------------------------------------- soft ranks
@st.composite
def rows(draw, min_n=1, max_n=9):
    rng = np.random.RandomState(draw(st.integers(0, 2**16)))
    b, n = draw(st.integers(1, 3)), draw(st.integers(min_n, max_n))
    kind = draw(st.sampled_from(["gauss", "ties", "constant", "integers"]))
    x = {"gauss": lambda: rng.randn(b, n), "ties": lambda: rng.randint(0, 3, (b, n)) * 1.0,
         "constant": lambda: np.full((b, n), 2.5),
         "integers": lambda: rng.randint(-50, 50, (b, n)) * 1.0}[kind]()
    return x * draw(st.sampled_from([1.0, 1e-200, 1e200]))


@pytest.mark.parametrize("regularization", ["l2", "kl"])
@fuzz
@given(x=rows(), strength=st.sampled_from([1e-300, 1e-9, 1.0, 1e300]))
def test_soft_rank_is_a_ranking_with_finite_gradients(regularization, x, strength):
    """Soft ranks lie in [1, n] and sum to n(n+1)/2 per row; far below the spacing of the
    values they are the exact (average) ranks: no digit lost to the scale of the values."""
    out = run(lambda: _grad(lambda v: soft_rank(v, regularization_strength=strength,
                                                regularization=regularization),
                            torch.as_tensor(x)))
    assert out.error is None, out
    r, n = out.value, x.shape[1]
    assert (r >= 1 - 1e-9).all() and (r <= n + 1e-9).all()
    np.testing.assert_allclose(r.sum(1), n * (n + 1) / 2, rtol=1e-9)
    gaps = np.diff(np.sort(x, axis=1), axis=1)
    spacing = gaps[gaps > 0].min() if (gaps > 0).any() else np.inf
    if strength * n * n < spacing:  # every value its own block, or exact ties pooled
        np.testing.assert_allclose(r, rankdata(x, axis=1), atol=1e-9)


@pytest.mark.parametrize("regularization", ["l2", "kl"])
@pytest.mark.parametrize("x, strength, want", [
    ([2.5] * 9, 1e-300, [5.0] * 9),  # ties at x / eps = 2.5e300: the block's mean was off
    ([1e200, 2e200, 0.0, 1e200], 1e-300, [2.5, 4, 1, 2.5]),  # x / eps beyond the range
    ([1e11, 1e11 + 2**-16, 1e11 + 2**-15], 2**-16 / 100, [1, 2, 3]),  # gaps of 100 eps
])
def test_soft_rank_keeps_its_digits_far_from_eps(regularization, x, strength, want):
    out = run(lambda: _grad(lambda v: soft_rank(v, regularization_strength=strength,
                                                regularization=regularization),
                            torch.tensor([x], dtype=torch.float64)))
    np.testing.assert_allclose(out.value[0], want, atol=1e-9)


@fuzz
@given(x=rows(min_n=2), strength=st.sampled_from([1e-9, 1.0]), data=st.data())
def test_soft_spearman_agrees_with_spearman(x, strength, data):
    rng = np.random.RandomState(data.draw(st.integers(0, 2**16)))
    y = data.draw(st.sampled_from(["gauss", "ties", "constant"]))
    target = {"gauss": rng.randn(*x.shape), "ties": rng.randint(0, 2, x.shape) * 1.0,
              "constant": np.ones(x.shape)}[y]
    eps = strength * (np.abs(x).max() or 1.0)  # (in the units of the values)
    out = run(lambda: _grad(lambda v: soft_spearman(v, target, regularization_strength=eps),
                            torch.as_tensor(x)))
    assert out.error is None, out
    flat = (np.ptp(target, axis=1) == 0) | (np.ptp(x, axis=1) == 0)
    assert any("without spread" in w for w in out.warnings) == bool(flat.any()), out
    assert (out.value[flat] == 0).all()
    if strength == 1e-9:
        for i in np.flatnonzero(~flat):
            assert out.value[i] == pytest.approx(spearmanr(x[i], target[i])[0], abs=1e-6)


BAD_TARGETS = {
    "nan": (lambda t: np.where(t == t.max(), np.nan, t), ValueError),
    "inf": (lambda t: np.where(t == t.max(), np.inf, t), ValueError),
    "strings": (lambda t: t.astype(str), TypeError), "complex": (lambda t: t + 0j, TypeError),
    "objects": (lambda t: t.astype(object), TypeError), "none": (lambda t: None, TypeError),
    "short": (lambda t: t[..., 1:], ValueError), "ragged": (lambda t: [[1.0], [1.0, 2.0]],
                                                            ValueError),
    "torch-complex": (lambda t: torch.as_tensor(t) + 0j, TypeError),
}


@pytest.mark.parametrize("variant", list(BAD_TARGETS))
def test_soft_spearman_and_soft_rsa_name_invalid_targets(variant):
    make, kind = BAD_TARGETS[variant]
    x = torch.randn(6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = expect_error(lambda: soft_spearman(x, make(np.arange(6.0))), "target")
    assert isinstance(out.error, kind), out
    E = torch.randn(6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = expect_error(lambda: soft_rsa_loss(E, make(np.arange(15.0))), "target_rdm")
    assert isinstance(out.error, kind), out


@pytest.mark.parametrize("strength", [0, -1.0, np.nan, np.inf, "1", None, True,
                                      torch.tensor(1.0)])
def test_regularization_strength_is_named(strength):
    x = torch.randn(5, dtype=torch.float64)
    expect_error(lambda: soft_rank(x, regularization_strength=strength),
                 "regularization_strength")
    expect_error(lambda: soft_spearman(x, np.arange(5), regularization_strength=strength),
                 "regularization_strength")
    E = torch.randn(5, 3, dtype=torch.float64)
    expect_error(lambda: soft_rsa_loss(E, np.arange(10.0), regularization_strength=strength),
                 "regularization_strength")


@pytest.mark.parametrize("values", [np.arange(3.0), [1.0, 2.0], torch.arange(3),
                                    torch.arange(3) + 0j, torch.tensor(1.0),
                                    torch.tensor([[np.nan, 1.0]])])
def test_soft_rank_names_invalid_values(values):
    expect_error(lambda: soft_rank(values), "values")


@pytest.mark.parametrize("metric", ["correlation", "cosine", "euclidean", "sqeuclidean"])
@few
@given(E=st.integers(0, 2**16).map(lambda s: np.random.RandomState(s).randn(7, 3)),
       k=st.sampled_from([-150, 0, 150]), square=st.booleans(),
       container=st.sampled_from(["numpy", "list", "torch", "pandas"]))
def test_soft_rsa_loss_agrees_with_rsa_at_any_scale(metric, E, k, square, container):
    """With a small regularization_strength the loss is 1 - the exact Spearman RSA, whatever
    the scale of the embeddings (their squared distances would overflow at 1e150)."""
    target = rdm(np.random.RandomState(1).randn(7, 4), "euclidean")
    T = squareform(target) if square else target
    out = run(lambda: _grad(lambda Z: soft_rsa_loss(Z, CONTAINERS[container](T), metric=metric,
                                                    regularization_strength=1e-6),
                            torch.as_tensor(E * 10.0**k)))
    assert out.error is None, out
    want = 1 - compare_rdms(rdm(E, metric), target, method="spearman")
    assert out.value == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_soft_rsa_loss_on_a_constant_rdm_is_documented(metric):
    """Every stimulus the same (or a constant target): 1.0 with a warning, zero gradient."""
    E = torch.ones(6, 3, dtype=torch.float64)
    target = np.arange(15.0)
    out = run(lambda: _grad(lambda Z: soft_rsa_loss(Z, target, metric=metric), E))
    assert out.value == 1.0 and any("constant" in w for w in out.warnings), out
    E = torch.randn(6, 3, dtype=torch.float64)
    out = run(lambda: _grad(lambda Z: soft_rsa_loss(Z, np.ones(15), metric=metric), E))
    assert out.value == 1.0 and any("without spread" in w for w in out.warnings), out


@pytest.mark.parametrize("case", ["asymmetric", "diagonal", "wrong-size", "3-d", "numpy-emb",
                                  "two-stimuli", "nan-emb", "metric", "regularization"])
def test_soft_rsa_loss_names_invalid_input(case):
    E = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    D = squareform(rdm(E.numpy(), "euclidean"))
    kw, name = {
        "asymmetric": (dict(target_rdm=D + np.triu(np.ones_like(D), 1)), "target_rdm"),
        "diagonal": (dict(target_rdm=D + np.eye(5)), "target_rdm"),
        "wrong-size": (dict(target_rdm=D[:4, :4]), "target_rdm"),
        "3-d": (dict(target_rdm=D[None]), "target_rdm"),
        "numpy-emb": (dict(embeddings=E.numpy()), "embeddings"),
        "two-stimuli": (dict(embeddings=E[:2], target_rdm=[1.0]), "embeddings"),
        "nan-emb": (dict(embeddings=E * np.nan), "embeddings"),
        "metric": (dict(metric="manhattan"), "metric"),
        "regularization": (dict(regularization="l1"), "regularization"),
    }[case]
    args = {"embeddings": E, "target_rdm": D, **kw}
    expect_error(lambda: soft_rsa_loss(args.pop("embeddings"), args.pop("target_rdm"), **args),
                 name)


# --------------------------------------------------------------------------- top-k and k-NN
@fuzz
@given(x=rows(min_n=2), data=st.data())
def test_perturbed_topk_is_the_hard_topk_for_small_noise(x, data):
    n = x.shape[1]
    k = data.draw(st.integers(1, n))
    seed = data.draw(st.integers(0, 2**16))
    sigma = 1e-12 * (np.abs(x).max() or 1.0)  # (in the units of the values)
    out = run(lambda: _grad(lambda v: perturbed_topk(v, k, sigma=sigma, n_samples=8,
                                                     random_state=seed), torch.as_tensor(x)))
    assert out.error is None, out
    np.testing.assert_allclose(out.value.sum(1), k)
    assert ((out.value >= 0) & (out.value <= 1)).all()
    kth = -np.sort(-x, axis=1)[:, k - 1:k]
    clear = (x > kth).sum(1) + (x == kth).sum(1) == k  # no tie at the k-th place
    np.testing.assert_array_equal(out.value[clear], (x >= kth)[clear] * 1.0)
    again = run(lambda: perturbed_topk(torch.as_tensor(x), k, n_samples=8, random_state=seed))
    np.testing.assert_array_equal(
        again.value, run(lambda: perturbed_topk(torch.as_tensor(x), k, n_samples=8,
                                                random_state=seed)).value)


@pytest.mark.parametrize("case", ["k-0", "k-too-big", "k-float", "k-bool", "sigma-0",
                                  "sigma-nan", "n_samples-0", "seed-huge", "seed-string",
                                  "too-few-finite", "nan", "+inf", "numpy", "int"])
def test_perturbed_topk_names_invalid_input(case):
    x = torch.tensor([[0.1, 0.9, 0.5, 0.2]], dtype=torch.float64)
    kw, name = {
        "k-0": (dict(k=0), "k"), "k-too-big": (dict(k=5), "k"), "k-float": (dict(k=1.5), "k"),
        "k-bool": (dict(k=True), "k"), "sigma-0": (dict(sigma=0.0), "sigma"),
        "sigma-nan": (dict(sigma=np.nan), "sigma"),
        "n_samples-0": (dict(n_samples=0), "n_samples"),
        "seed-huge": (dict(random_state=2**70), "random_state"),
        "seed-string": (dict(random_state="0"), "random_state"),
        "too-few-finite": (dict(values=torch.tensor([[-np.inf, -np.inf, -np.inf, 1.0]])),
                           "values"),
        "nan": (dict(values=x * np.nan), "values"),
        "+inf": (dict(values=x + np.inf), "values"),
        "numpy": (dict(values=x.numpy()), "values"), "int": (dict(values=x.long()), "values"),
    }[case]
    args = {"values": x, "k": 2, **kw}
    expect_error(lambda: perturbed_topk(args.pop("values"), args.pop("k"), **args), name)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@few
@given(seed=st.integers(0, 2**16), n=st.integers(3, 10), dup=st.booleans(),
       k_ref=st.sampled_from([-150, 0, 150]),
       container=st.sampled_from(["numpy", "list", "torch", "pandas", "float32"]))
def test_knn_overlap_loss_is_one_minus_mutual_knn(metric, seed, n, dup, k_ref, container):
    """As sigma -> 0 the loss is 1 - mutual_knn, ties among the reference's neighbours going
    to the lower index as there, at any scale of the reference."""
    rng = np.random.RandomState(seed)
    E, R = rng.randn(n, 3), rng.randn(n, 4)
    if dup:
        R[-1] = R[0]  # a duplicated reference row: tied neighbours
    k = 1 + seed % (n - 1)
    R_in = R * 10.0**k_ref if container != "float32" else R
    out = run(lambda: _grad(lambda Z: knn_overlap_loss(
        Z, CONTAINERS[container](R_in), k=k, metric=metric, sigma=1e-12, n_samples=4,
        random_state=seed), torch.as_tensor(E)))
    assert out.error is None, out
    if container == "float32":
        R = R.astype(np.float32).astype(np.float64)
    want = 1 - mutual_knn(E, R, k=k, metric=metric)
    assert out.value == pytest.approx(want, abs=1e-12)


BAD_REFERENCES = {
    "nan": (lambda R: np.where(R == R.max(), np.nan, R), ValueError, "reference"),
    "strings": (lambda R: R.astype(str), TypeError, "reference"),
    "complex": (lambda R: R + 1j, TypeError, "reference"),
    "objects": (lambda R: R.astype(object), TypeError, "reference"),
    "none": (lambda R: None, TypeError, "reference"),
    "ragged": (lambda R: [[1.0, 2.0], [3.0]], ValueError, "reference"),
    "short": (lambda R: R[1:], ValueError, "reference"),
    "1-d": (lambda R: R[:, 0], ValueError, "reference"),
    "no-columns": (lambda R: R[:, :0], ValueError, "reference"),
    "constant": (lambda R: np.ones_like(R), ValueError, "reference"),
    "zero-row": (lambda R: np.vstack([R[:-1], np.zeros(R.shape[1])]), ValueError, "reference"),
}


@pytest.mark.parametrize("variant", list(BAD_REFERENCES))
def test_knn_overlap_loss_names_invalid_references(variant):
    rng = np.random.RandomState(0)
    E, R = torch.as_tensor(rng.randn(6, 3)), rng.randn(6, 4)
    make, kind, name = BAD_REFERENCES[variant]
    out = expect_error(lambda: knn_overlap_loss(E, make(R), k=2), name)
    assert isinstance(out.error, kind), out


@pytest.mark.parametrize("case", ["numpy", "1-d", "complex", "one-row", "no-columns", "nan",
                                  "overflow", "k-0", "k-n", "metric"])
def test_knn_overlap_loss_names_invalid_embeddings(case):
    rng = np.random.RandomState(0)
    E, R = torch.as_tensor(rng.randn(6, 3)), rng.randn(6, 4)
    kw, name = {
        "numpy": (dict(embeddings=E.numpy()), "embeddings"),
        "1-d": (dict(embeddings=E[:, 0]), "embeddings"),
        "complex": (dict(embeddings=E + 0j), "embeddings"),
        "one-row": (dict(embeddings=E[:1], reference=R[:1]), "embeddings"),
        "no-columns": (dict(embeddings=E[:, :0]), "embeddings"),
        "nan": (dict(embeddings=E * np.nan), "embeddings"),
        "overflow": (dict(embeddings=E * 1e200, metric="euclidean"), "embeddings"),
        "k-0": (dict(k=0), "k"), "k-n": (dict(k=6), "k"),
        "metric": (dict(metric="dot"), "metric"),
    }[case]
    args = {"embeddings": E, "reference": R, "k": 2, **kw}
    expect_error(lambda: knn_overlap_loss(args.pop("embeddings"), args.pop("reference"),
                                          **args), name)
