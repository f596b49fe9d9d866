"""Speed and memory of reprlign.measures against rsatoolbox 0.3 and torch-cka 0.21.

Run: ``flock /tmp/reprlign-bench.lock python benchmarks/bench_measures.py [section ...]``
with sections ``n5000`` (RSA and CKA vs rsatoolbox, n=5,000, d=512), ``n50000`` (CKA and
RSA at n=50,000, d=768, float32, with peak extra memory), ``minibatch`` (minibatch CKA vs
torch-cka on the same batches), ``stats`` (intervals and permutation tests of CKA at n=2,000,
d=64, with scipy's own BCa as the peer) and ``gpu`` (needs CUDA). No section runs all of them.

Recorded results: ``docs/performance/measures.rst``.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import describe  # noqa: E402

from reprlign.measures import MinibatchCKA, cka, rsa  # noqa: E402


def best_of(fn, repeat=3):
    """Smallest wall time of ``repeat`` calls, and the last result."""
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def peak_extra_mb(fn):
    """Peak memory allocated through numpy/Python during ``fn`` (tracemalloc), in MB."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def row(name, ours, peer=None, peer_name="", note=""):
    line = f"{name:<48} ours {ours:8.3f} s"
    if peer is not None:
        line += f" | {peer_name} {peer:8.3f} s | speed-up {peer / ours:6.1f}x"
    print(line + (f"  {note}" if note else ""), flush=True)


def section_n5000():
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm, compare

    print("\n## n = 5,000 stimuli, d = 512, float64 (rsatoolbox 0.3 in the same run)")
    rng = np.random.RandomState(0)
    X = rng.randn(5000, 512)
    Y = np.tanh(X @ rng.randn(512, 512) / 20) + rng.randn(5000, 512)

    def tk_rsa(method, metric="correlation"):
        a = calc_rdm(Dataset(X), method=metric)
        b = calc_rdm(Dataset(Y), method=metric)
        return float(compare(a, b, method=method)[0, 0])

    t_peer, v_peer = best_of(lambda: tk_rsa("spearman"), 1)
    t_ours, v_ours = best_of(lambda: rsa(X, Y, compare="spearman"), 3)
    row("Spearman RSA (2 correlation RDMs + compare)", t_ours, t_peer, "rsatoolbox",
        f"values {v_ours:.10f} / {v_peer:.10f}")
    t_peer, v_peer = best_of(lambda: tk_rsa("corr"), 1)
    t_ours, v_ours = best_of(lambda: rsa(X, Y, compare="pearson"), 3)
    row("Pearson RSA on correlation RDMs", t_ours, t_peer, "rsatoolbox",
        f"values {v_ours:.10f} / {v_peer:.10f}")
    t_xy, _ = best_of(lambda: X.T @ Y, 5)
    t_peer, v_peer = best_of(lambda: tk_rsa("cosine_cov", "euclidean"), 1)
    for debiased in (False, True):
        t_ours, v_ours = best_of(lambda d=debiased: cka(X, Y, debiased=d), 5)
        row(f"linear CKA debiased={debiased}", t_ours, t_peer, "rsatoolbox cosine_cov",
            f"= {t_ours / t_xy:.2f} x one X'Y ({t_xy * 1e3:.0f} ms); values {v_ours:.10f}"
            + ("" if debiased else f" / {v_peer:.10f}"))
    # The floor of any exact feature-space CKA: X'Y plus ||X'X||_F and ||Y'Y||_F on centred
    # data. numpy calls BLAS syrk for X'X (half the flops of a GEMM), so in flops the three
    # products are exactly 2 x one X'Y; their time here says what this BLAS makes of it.
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    t_floor, _ = best_of(lambda: (Xc.T @ Yc, Xc.T @ Xc, Yc.T @ Yc), 5)
    t_syrk, _ = best_of(lambda: Xc.T @ Xc, 5)
    print(f"floor: X'Y + X'X + Y'Y on centred copies {t_floor * 1e3:.0f} ms = "
          f"{t_floor / t_xy:.2f} x one X'Y (one X'X alone: {t_syrk / t_xy:.2f} x; 2.00 x in flops)")


def section_n50000():
    print("\n## n = 50,000 stimuli, d = 768, float32 (inputs: 2 x 154 MB)")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50_000, 768), dtype=np.float32)
    Y = (np.tanh(X @ rng.standard_normal((768, 768), dtype=np.float32) / 30)
         + rng.standard_normal((50_000, 768), dtype=np.float32))
    t_xy, _ = best_of(lambda: X.T @ Y, 3)
    print(f"one X'Y product (sgemm): {t_xy:.3f} s")
    for debiased in (False, True):
        t, v = best_of(lambda d=debiased: cka(X, Y, debiased=d), 3)
        mem = peak_extra_mb(lambda d=debiased: cka(X, Y, debiased=d))
        row(f"linear CKA debiased={debiased}", t,
            note=f"= {t / t_xy:.2f} x one X'Y; peak extra memory {mem:.0f} MB; value {v:.6f}")
    t, v = best_of(lambda: rsa(X, Y, compare="pearson"), 3)
    mem = peak_extra_mb(lambda: rsa(X, Y, compare="pearson"))
    row("Pearson RSA on correlation RDMs (exact route)", t,
        note=f"peak extra memory {mem:.0f} MB; value {v:.6f}")
    t0 = time.perf_counter()
    try:
        rsa(X, Y, compare="spearman")
        print("Spearman RSA ran")
    except MemoryError as exc:
        print(f"Spearman RSA refused after {time.perf_counter() - t0:.4f} s: {exc}")


def section_minibatch():
    import torch

    try:
        from torch_cka import CKA
    except ImportError as exc:  # recorded, not hidden
        print(f"\n## minibatch: torch-cka could not be imported ({exc}); skipped")
        return

    n_layers, n, batch = 8, 2048, 256
    print(f"\n## minibatch CKA, {n_layers} x {n_layers} layer pairs, n = {n}, batch {batch}, "
          "float32, torch CPU (torch-cka 0.21 in the same run)")
    gen = torch.Generator().manual_seed(0)
    widths = [64, 128, 256, 512, 256, 128, 64, 32]
    feats1 = [torch.randn(n, w, generator=gen) for w in widths]
    feats2 = [torch.tanh(f @ torch.randn(f.shape[1], w, generator=gen) / 8)
              for f, w in zip(feats1, reversed(widths), strict=True)]

    class Lookup(torch.nn.Module):  # a "layer" whose output is precomputed features
        def __init__(self, table):
            super().__init__()
            self.table = table

        def forward(self, idx):
            return self.table[idx]

    class Net(torch.nn.Module):
        def __init__(self, tables):
            super().__init__()
            self.layers = torch.nn.ModuleList(Lookup(t) for t in tables)

        def forward(self, idx):
            return [layer(idx) for layer in self.layers]

    idx = torch.arange(n)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(idx), batch_size=batch)
    names = [f"layers.{i}" for i in range(n_layers)]

    def peer():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c = CKA(Net(feats1), Net(feats2), "a", "b", names, names, device="cpu")
            c.compare(loader)
        return c.export()["CKA"].numpy()

    def ours():
        acc = MinibatchCKA()
        for (b,) in loader:
            acc.update([f[b] for f in feats1], [f[b] for f in feats2])
        return acc.result()

    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()):  # torch-cka's tqdm bar
        t_peer, s_peer = best_of(peer, 1)
    t_ours, s_ours = best_of(ours, 3)
    row("minibatch CKA, all layer pairs", t_ours, t_peer, "torch-cka",
        f"max |difference| {np.abs(s_ours - s_peer).max():.2e}")


def section_stats():
    import inspect

    import scipy.stats as ss

    from reprlign.measures import bootstrap, permutation_test

    n, d, resamples = 2000, 64, 200
    print(f"\n## intervals and permutation tests: linear CKA, n = {n:,}, d = {d}, float64, "
          f"{resamples} resamples (scipy {__import__('scipy').__version__} in the same run)")
    rng = np.random.RandomState(0)
    X = rng.randn(n, d)
    Y = np.tanh(X @ rng.randn(d, d) / 8) + rng.randn(n, d)
    # Versions before the subsample scheme resample with replacement and take no `resample`.
    new = "resample" in inspect.signature(bootstrap).parameters
    boot = {"resample": "bootstrap"} if new else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # biased CKA: intervals exclude it
        for method in ("percentile", "bca"):
            t, r = best_of(lambda m=method: bootstrap("cka", X, Y, n_bootstrap=resamples,
                                                      ci_method=m, random_state=0, **boot), 1)
            row(f"bootstrap with replacement, {method}", t,
                note=f"[{r.low:.4f}, {r.high:.4f}] around {r.value:.4f}")
        if new:
            def scipy_bca():
                return ss.bootstrap((np.arange(n),), lambda i: cka(X[i], Y[i]),
                                    n_resamples=resamples, vectorized=False, method="BCa",
                                    random_state=np.random.RandomState(0))

            t_peer, r = best_of(scipy_bca, 1)
            print(f"{'  (peer: scipy BCa, n leave-one-out fits)':<48} {t_peer:14.3f} s "
                  f"[{r.confidence_interval.low:.4f}, {r.confidence_interval.high:.4f}]; "
                  "ours groups the jackknife into 500 above 500 stimuli")
            for method in ("basic", "bca"):  # basic is the default
                t, r = best_of(lambda m=method: bootstrap("cka", X, Y, n_bootstrap=resamples,
                                                          ci_method=m, random_state=0), 1)
                row(f"half-samples without replacement, {method}", t,
                    note=f"[{r.low:.4f}, {r.high:.4f}] around {r.value:.4f}")
    t, r = best_of(lambda: permutation_test("cka", X, Y, n_permutations=resamples,
                                            random_state=0), 1)
    row("permutation test", t, note=f"p = {r.p_value:.4f}")


def section_gpu():
    import torch

    if not torch.cuda.is_available():
        print("\n## gpu: unchecked: no CUDA device on this machine")
        return
    dev = "cuda"
    print(f"\n## gpu: {torch.cuda.get_device_name(0)}")
    g = torch.Generator(device=dev).manual_seed(0)
    X = torch.randn(50_000, 4096, device=dev, generator=g)
    Y = torch.randn(50_000, 4096, device=dev, generator=g)
    torch.backends.cuda.matmul.allow_tf32 = True

    def timed(fn, repeat=3):
        fn()
        torch.cuda.synchronize()
        best = np.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = fn()
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        return best, out

    t_xy, _ = timed(lambda: X.T @ Y)
    for debiased in (False, True):
        t, v = timed(lambda d=debiased: cka(X, Y, debiased=d))
        row(f"GPU linear CKA n=50k d=4096 debiased={debiased}", t,
            note=f"= {t / t_xy:.2f} x one TF32 X'Y ({t_xy * 1e3:.1f} ms); value {float(v):.6f}")
    Xs, Ys = X[:, :768].contiguous(), Y[:, :768].contiguous()
    X = Y = None  # free the wide copies before the RSA run
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    t, v = timed(lambda: rsa(Xs, Ys, compare="spearman"), 1)
    peak = torch.cuda.max_memory_allocated() / 1e9
    row("GPU Spearman RSA n=50k d=768", t, note=f"peak GPU memory {peak:.1f} GB; {float(v):.6f}")


SECTIONS = {"n5000": section_n5000, "n50000": section_n50000, "minibatch": section_minibatch,
            "stats": section_stats, "gpu": section_gpu}


if __name__ == "__main__":
    print("machine:", describe())
    for name in sys.argv[1:] or list(SECTIONS):
        SECTIONS[name]()
