"""Cost of growth (SVD + rebuild) as a share of training time, digits classifier case.

Target: the growth steps cost under 5% of the training time. The case
is a digits protocol of ``reproductions/reproduce_gradmax.py`` (``--protocol``, default
``sgd-early``: the hidden layer grows from 16 to 64 units in 4 GradMax steps
every 25 steps, mini-batches of 64, plain SGD lr 0.1, 40 epochs), here on all
1,797 images; ``--growth-batch-size`` computes GradMax on that many images. The
growth time is what ``growth_history_[i]["seconds"]``
records: the shortcut gradient, its SVD, the rebuild of weights and optimizer
state, and the diagnostics (loss before and after, gradient norm of the new
weights), so it is an upper bound on the SVD + rebuild alone. Peers, measured in
the same run: the same estimator without growth (fixed 64 units); that network's
module and optimizer driven by a bare torch loop over the same mini-batches (no
skorch: what skorch's per-batch machinery costs); and scikit-learn's
``MLPClassifier`` with the same width, batch size and epochs (always on the
CPU). ``--device cuda`` trains the torch fits on the GPU.

Run: ``python benchmarks/bench_growing.py [--repeats 3] [--threads 1] [--protocol NAME]
[--growth-batch-size N] [--device cuda]``

Recorded results: ``docs/performance/growing.rst``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
# The digits protocols are defined once, by the reproduction that studies them.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reproductions"))

from _machine import describe  # noqa: E402
from reproduce_gradmax import DIGITS_PROTOCOLS, digits_model  # noqa: E402


def time_bare_loop(X, y, widths, p, device, seed):
    """The fixed network's module and optimizer in a bare torch loop, same batches and steps."""
    import torch

    from reprlign.growing._net import GrowingModule, TensorBatches
    from reprlign.growing._optim import GrowableSGD

    dev = torch.device(device)
    Xt = torch.as_tensor(X, dtype=torch.float32, device=dev)
    yt = torch.as_tensor(y, device=dev)
    sizes = [X.shape[1], *widths, int(y.max()) + 1]
    module = GrowingModule(sizes, generator=torch.Generator().manual_seed(seed)).to(dev)
    opt = GrowableSGD(module.parameters(), lr=p["lr"], momentum=p["momentum"])
    loss_fn = torch.nn.CrossEntropyLoss()
    batches = TensorBatches(Xt, yt, 64, torch.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    for _ in range(p["max_epochs"]):
        for Xb, yb in batches:
            opt.zero_grad()
            loss = loss_fn(module(Xb), yb)
            loss.backward()
            opt.step()
            loss.item()
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--protocol", choices=list(DIGITS_PROTOCOLS), default="sgd-early")
    parser.add_argument("--growth-batch-size", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    import torch
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    torch.set_num_threads(args.threads)
    print(describe())
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    p = DIGITS_PROTOCOLS[args.protocol]
    widths = (64,) if p["hidden2"] is None else (64, p["hidden2"])
    rows = {"gradmax growth": [], "fixed 64 (no growth)": [], "fixed 64, bare torch loop": [],
            "sklearn MLPClassifier": []}
    shares, growth_s, per_event = [], [], []
    # Warm-up: the first torch optimizer of a process imports torch._dynamo (about a
    # second), a one-time cost that is no part of training.
    digits_model("fixed64", args.protocol, 0, None).set_params(max_epochs=1).fit(X, y)
    for rep in range(args.repeats):
        clf = digits_model("gradmax", args.protocol, rep, args.growth_batch_size)
        clf.set_params(device=args.device)
        t = time.perf_counter()
        clf.fit(X, y)
        total = time.perf_counter() - t
        g = sum(h["seconds"] for h in clf.growth_history_)
        rows["gradmax growth"].append(total)
        growth_s.append(g)
        shares.append(g / total)
        per_event.append(g / len(clf.growth_history_))

        fixed = digits_model("fixed64", args.protocol, rep, None).set_params(device=args.device)
        t = time.perf_counter()
        fixed.fit(X, y)
        rows["fixed 64 (no growth)"].append(time.perf_counter() - t)
        rows["fixed 64, bare torch loop"].append(time_bare_loop(X, y, widths, p, args.device, rep))

        sk = MLPClassifier(
            hidden_layer_sizes=widths,
            solver="sgd",
            learning_rate_init=p["lr"],
            momentum=p["momentum"],
            nesterovs_momentum=False,
            batch_size=64,
            max_iter=p["max_epochs"],
            alpha=0.0,
            tol=0.0,
            n_iter_no_change=1000,
            random_state=rep,
        )
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sk.fit(X, y)
        rows["sklearn MLPClassifier"].append(time.perf_counter() - t)

    steps = clf.n_steps_
    print(
        f"digits {X.shape}, protocol {args.protocol!r} {p}, growth_batch_size="
        f"{args.growth_batch_size}, {steps} optimizer steps, device {args.device}, torch threads "
        f"{args.threads}, median of {args.repeats}"
    )
    for name, ts in rows.items():
        ms = 1e3 * np.median(ts) / steps
        print(f"  {name:<26} fit {np.median(ts):7.3f} s  ({ms:.2f} ms/step)")
    print(
        f"  growth: {np.median(growth_s) * 1e3:.1f} ms in {len(clf.growth_history_)} events "
        f"({np.median(per_event) * 1e3:.2f} ms per event), "
        f"{100 * np.median(shares):.2f}% of training time (target < 5%: "
        f"{np.median(shares) < 0.05})"
    )


if __name__ == "__main__":
    main()
