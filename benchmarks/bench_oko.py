"""Training throughput of OKO against plain cross-entropy through skorch, same module, same run.

Throughput is examples forwarded (and back-propagated) per second of ``fit``: for
cross-entropy ``epochs * n_train``; for OKO ``epochs * sets_per_epoch * (k + 2)``.
Both see the same number of examples per optimisation step (``--examples-per-step``;
OKO: that many divided by k + 2 sets) and per epoch, with no validation split. Runs
alternate between the methods; the best of ``--repeats`` is kept (the machine
is shared). Target: OKO >= 0.8x cross-entropy through skorch. A stricter
peer, cross-entropy in a bare torch loop over tensor batches (no DataLoader), is
also timed: skorch's per-item DataLoader is most of the skorch peer's cost.

Run: ``flock /tmp/reprlign-bench.lock python benchmarks/bench_oko.py [--device cuda]``

Recorded results: ``docs/performance/oko.rst``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import describe  # noqa: E402


def time_ce(X, y, hidden, epochs, batch, device):
    import torch
    from skorch import NeuralNetClassifier

    from reprlign.oko._net import MLP

    net = NeuralNetClassifier(
        MLP, module__n_features=X.shape[1], module__n_classes=int(y.max()) + 1,
        module__hidden_layer_sizes=hidden, criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam, lr=1e-3, batch_size=batch, max_epochs=epochs,
        train_split=None, iterator_train__shuffle=True, verbose=0, device=device)
    t0 = time.perf_counter()
    net.fit(X, y)
    return epochs * len(y) / (time.perf_counter() - t0)


def time_ce_loop(X, y, hidden, epochs, batch, device):
    """A stricter peer: cross-entropy in a bare torch loop over pre-made tensor batches."""
    import torch

    from reprlign.oko._net import MLP

    dev = torch.device(device)
    model = MLP(X.shape[1], int(y.max()) + 1, hidden).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    Xt, yt = torch.as_tensor(X, device=dev), torch.as_tensor(y, device=dev)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(yt), device=dev)
        for start in range(0, len(yt), batch):
            idx = perm[start:start + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return epochs * len(y) / (time.perf_counter() - t0)


def time_oko(X, y, hidden, epochs, batch, device, k):
    from reprlign import OKOClassifier

    clf = OKOClassifier(hidden_layer_sizes=hidden, k=k, batch_size=batch // (k + 2),
                        sets_per_epoch=len(y) // (k + 2), max_epochs=epochs,
                        early_stopping=False, device=device, random_state=0)
    t0 = time.perf_counter()
    clf.fit(X, y)
    return epochs * clf.n_sets_per_epoch_ * (k + 2) / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--examples-per-step", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from sklearn.datasets import load_digits

    torch.set_num_threads(args.threads)
    print(f"machine: {describe()}; device {args.device}")
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    rng = np.random.RandomState(0)
    cases = [
        ("digits MLP 64-128-128-10", X, y, (128, 128), 20),
        ("synthetic MLP 256-512-512-20", rng.normal(size=(6000, 256)).astype(np.float32),
         rng.randint(0, 20, 6000), (512, 512), 3),
    ]
    b = args.examples_per_step
    print(f"examples per step: {b} (OKO k=1: {b // 3} sets of 3; k=3: {b // 5} sets of 5)")
    print("| case | CE (skorch) ex/s | OKO k=1 ex/s | ratio | OKO k=3 ex/s | ratio "
          "| CE bare loop ex/s | OKO k=1 / bare |")
    print("|---|---|---|---|---|---|---|---|")
    for name, Xc, yc, hidden, epochs in cases:
        ce, oko1, oko3, bare = [], [], [], []
        for _ in range(args.repeats):
            ce.append(time_ce(Xc, yc, hidden, epochs, b, args.device))
            oko1.append(time_oko(Xc, yc, hidden, epochs, b, args.device, 1))
            oko3.append(time_oko(Xc, yc, hidden, epochs, b - b % 5, args.device, 3))
            bare.append(time_ce_loop(Xc, yc, hidden, epochs, b, args.device))
        ce_, o1, o3, bare_ = max(ce), max(oko1), max(oko3), max(bare)
        print(f"| {name} | {ce_:,.0f} | {o1:,.0f} | {o1 / ce_:.2f} | {o3:,.0f} | "
              f"{o3 / ce_:.2f} | {bare_:,.0f} | {o1 / bare_:.2f} |", flush=True)


if __name__ == "__main__":
    main()
