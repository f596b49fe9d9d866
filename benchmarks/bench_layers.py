"""Layer x layer minibatch CKA of two torch models: reprlign against torch-cka 0.21.

Target: 8 x 8 layers, n = 10,000 stimuli, layer widths up to 2,048,
batches of 512, in under 60 s on 2 CPU cores, with memory bounded by the batch
(not by n), and at least 5x faster than torch-cka 0.21 (PyPI, the peer) on the
same models, data and batches, measured in the same run.

The two models are MLPs with eight hooked ``Linear`` + ``Tanh`` stages whose
widths alternate up to 2,048 (so every layer is a genuine (n, d) representation
and the forward passes are cheap next to the CKA work; both tools pay them).
Features are flattened, as torch-cka does. Each tool runs in its own
subprocess so that its peak resident memory (``ru_maxrss``) is its own; ours is
also run at n = 2,500 to show that its memory does not grow with n. The two
CKA matrices are compared (torch-cka runs in float32 without centring, so they
agree to about 1e-3).

Run: ``python benchmarks/bench_layers.py [--n 10000] [--skip-peer]``
(wrap it in ``flock /tmp/reprlign-bench.lock`` on a shared machine).

Recorded results: ``docs/performance/inspection.rst``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

WIDTHS_A = [2048, 256, 2048, 512, 2048, 256, 1024, 128]
WIDTHS_B = [1024, 2048, 512, 2048, 256, 2048, 512, 64]
D_IN = 256
BATCH = 512


def make_model(widths, seed):
    import torch

    torch.manual_seed(seed)
    layers, d = [], D_IN
    for w in widths:
        layers.append(torch.nn.Sequential(torch.nn.Linear(d, w), torch.nn.Tanh()))
        d = w
    return torch.nn.Sequential(*layers).eval()


def make_data(n, models="mlp"):
    shape = (n, D_IN) if models == "mlp" else (n, 3, IMAGE, IMAGE)
    return np.random.RandomState(0).randn(*shape).astype(np.float32)


# --models vision: the pairing of Raghu et al. (2021), a small ResNet-style CNN against a
# small ViT-style transformer, on 3 x 16 x 16 images; every hooked output flattens to at
# most 2,048 features, as in the MLP setting.
IMAGE = 16


def make_cnn(seed):
    """Eight hooked stages (stem, residual blocks, strided convs); maps of 1,024-2,048."""
    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c),
                                      nn.ReLU(), nn.Conv2d(c, c, 3, padding=1),
                                      nn.BatchNorm2d(c))

        def forward(self, x):
            return torch.relu(x + self.body(x))

    def down(c_in, c_out, stride):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
                             nn.BatchNorm2d(c_out), nn.ReLU())

    torch.manual_seed(seed)
    return nn.Sequential(down(3, 8, 1), Residual(8), down(8, 16, 2), Residual(16),
                         down(16, 32, 1), Residual(32), down(32, 64, 2), Residual(64)).eval()


def make_vit(seed, dim=128, patch=4, heads=4):
    """Patch embedding plus seven pre-norm transformer blocks: 16 tokens x 128 = 2,048."""
    import torch
    from torch import nn

    class Embed(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Conv2d(3, dim, patch, stride=patch)
            self.pos = nn.Parameter(0.02 * torch.randn(1, (IMAGE // patch) ** 2, dim))

        def forward(self, x):
            return self.proj(x).flatten(2).transpose(1, 2) + self.pos

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

        def forward(self, x):
            h = self.norm1(x)
            x = x + self.attn(h, h, h, need_weights=False)[0]
            return x + self.mlp(self.norm2(x))

    torch.manual_seed(seed)
    return nn.Sequential(Embed(), *[Block() for _ in range(7)]).eval()


def layer_widths(models):
    """Flattened width of each hooked layer of both models (one probe image)."""
    import torch

    widths = []
    with torch.no_grad():
        for model in make_models(models):
            x = torch.from_numpy(make_data(1, models))
            for stage in model:
                x = stage(x)
                widths.append(x[0].numel())
    return widths


def make_models(models):
    if models == "mlp":
        return make_model(WIDTHS_A, 0), make_model(WIDTHS_B, 1)
    return make_cnn(0), make_vit(1)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(tool, n, threads, models):
    import torch

    torch.set_num_threads(threads)
    a, b = make_models(models)
    names = [str(i) for i in range(8)]
    X = make_data(n, models)
    base = peak_rss_mb()
    if tool in ("forward", "floor"):
        # forward: the two models' forward passes, which both tools pay; floor: the same plus
        # one batch Gram matrix per hooked layer, which any Gram-based minibatch CKA pays.
        Xt = torch.from_numpy(X)
        outs = []
        hooks = [] if tool == "forward" else [
            m.register_forward_hook(lambda _m, _i, o: outs.append(o.flatten(1)))
            for model in (a, b) for m in model
        ]
        t0 = time.perf_counter()
        with torch.no_grad():
            for s in range(0, n, BATCH):
                outs.clear()
                a(Xt[s:s + BATCH])
                b(Xt[s:s + BATCH])
                for f in outs:  # torch has no syrk; numpy's (OpenBLAS) is faster alone, but its
                    f @ f.T     # spinning threads then slow torch's next forward pass
        elapsed = time.perf_counter() - t0
        for h in hooks:
            h.remove()
        S = np.zeros((8, 8))
    elif tool == "ours":
        from reprlign import model_layer_similarity

        t0 = time.perf_counter()
        res = model_layer_similarity(a, b, X, names, names, batch_size=BATCH)
        elapsed = time.perf_counter() - t0
        S = res.similarity
    else:
        import warnings

        from torch.utils.data import DataLoader, TensorDataset
        from torch_cka import CKA

        loader = DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=BATCH)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            peer = CKA(a, b, model1_name="A", model2_name="B", model1_layers=names,
                       model2_layers=names)
            peer.compare(loader)
            elapsed = time.perf_counter() - t0
        S = peer.export()["CKA"].numpy()
    print(json.dumps({"time": elapsed, "peak_mb": peak_rss_mb(), "base_mb": base,
                      "S": np.asarray(S, dtype=float).tolist()}))


def child(tool, n, threads, models):
    out = subprocess.run([sys.executable, __file__, "--child", tool, "--n", str(n),
                          "--threads", str(threads), "--models", models],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-peer", action="store_true", help="do not run torch-cka")
    p.add_argument("--repeats", type=int, default=2,
                   help="alternating runs of each tool; the fastest counts (default: 2)")
    p.add_argument("--models", choices=["mlp", "vision"], default="mlp",
                   help="mlp: two 8-stage MLPs (forward-heavy); vision: a ResNet-style CNN "
                        "against a ViT-style transformer on 16 x 16 images")
    p.add_argument("--child", choices=["ours", "torch-cka", "forward", "floor"],
                   help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return run_child(args.child, args.n, args.threads, args.models)

    from _machine import describe

    print(describe())
    print(f"load average at start: {os.getloadavg()[0]:.1f} (other jobs on the machine)")
    if args.models == "mlp":
        print(f"8 x 8 layers, MLP widths A={WIDTHS_A}, B={WIDTHS_B}, input {D_IN}, "
              f"n={args.n:,}, batch {BATCH}, float32, {args.threads} torch threads\n")
    else:
        print(f"8 x 8 layers, ResNet-style CNN vs ViT-style transformer, input 3 x {IMAGE} x "
              f"{IMAGE}, flattened widths {layer_widths(args.models)}, n={args.n:,}, "
              f"batch {BATCH}, float32, {args.threads} torch threads\n")
    import importlib.util

    tools = ["forward", "floor", "ours"]
    if not args.skip_peer:
        if importlib.util.find_spec("torch_cka") is None:
            print("torch-cka not installed: pip install --no-deps torch-cka==0.21 (needs tqdm)")
        else:
            tools.append("torch-cka")
    runs = {t: [] for t in tools}
    for _ in range(args.repeats):  # alternate, so a busy spell hits every tool alike
        for t in tools:
            runs[t].append(child(t, args.n, args.threads, args.models))
    best = {t: min(r, key=lambda x: x["time"]) for t, r in runs.items()}
    small = child("ours", args.n // 4, args.threads, args.models)
    fwd, ours = best["forward"], best["ours"]

    def line(tool, label, n):
        r = best[tool]
        extra = r["peak_mb"] - r["base_mb"]
        each = ", ".join(f"{q['time']:.1f}" for q in runs[tool])
        return (f"{label:<34s} n={n:>6,}: {r['time']:6.2f} s (runs: {each}), "
                f"peak RSS {r['peak_mb']:.0f} MB (+{extra:.0f} MB)")

    print(line("forward", "forward passes only (both pay)", args.n))
    print(line("floor", "forward + one Gram per layer", args.n))
    print(line("ours", "reprlign model_layer_similarity", args.n))
    print(f"{'reprlign at n/4 (memory check)':<34s} n={args.n // 4:>6,}: {small['time']:6.2f} s, "
          f"peak RSS {small['peak_mb']:.0f} MB (+{small['peak_mb'] - small['base_mb']:.0f} MB)")
    held = 4 * args.n * sum(layer_widths(args.models)) / 2**20
    print(f"(holding every layer's features for n={args.n:,} would take {held:.0f} MB)")
    print(f"target under 60 s: {'met' if ours['time'] < 60 else 'MISSED'}")
    if "torch-cka" not in best:
        return
    peer = best["torch-cka"]
    print(line("torch-cka", "torch-cka 0.21 CKA.compare", args.n))
    diff = np.abs(np.asarray(ours["S"]) - np.asarray(peer["S"])).max()
    speedup = peer["time"] / ours["time"]
    cka_speedup = (peer["time"] - fwd["time"]) / max(ours["time"] - fwd["time"], 1e-9)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    bound = peer["time"] / best["floor"]["time"]
    print(f"speed-up bound for any Gram-based minibatch CKA (torch-cka / floor): {bound:.1f}x")
    print(f"speed-up, end to end: {speedup:.1f}x (target >= 5x: "
          f"{'met' if speedup >= 5 else 'MISSED'}); CKA work only (forward passes "
          f"subtracted): {cka_speedup:.1f}x; max |CKA difference| = {diff:.1e}")


if __name__ == "__main__":
    main()
