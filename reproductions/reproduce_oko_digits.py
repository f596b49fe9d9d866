"""Reproduce the OKO digits pilot: calibration and accuracy under heavy-tailed classes.

Protocol (Muttenthaler et al., ICLR 2024; the user guide's OKO page): scikit-learn's
digits (inputs scaled to [0, 1]), MLP 64-128-128-10 (ReLU), Adam lr 1e-3, batches
of about 32 examples (OKO: 11 sets of 3), 5 seeds. Two settings:

* ``heavy``: :func:`reprlign.datasets.make_heavy_tailed` with p = 0.9, 3 frequent
  classes, 200 training examples (20 per class on average, at least 5 per class);
* ``uniform``: 50 training examples per class.

Test sets are balanced. Validation: 10 examples per class from the held-out pool
(balanced, as in ImageNet-LT), disjoint from the test set. ``--protocol early``
(default): every method stops when its validation loss has not improved for
``--patience`` epochs (at most ``--max-epochs``) and keeps its best weights.
``--protocol fixed``: ``--epochs`` epochs, no early stopping (the pilot's
200-epoch run).

Methods: plain cross-entropy (CE), class-balanced sampling (CE with a sampler
drawing classes uniformly), label smoothing (0.1), OKO (k = 1, hard targets;
the default) and OKO with soft targets. The CE family is trained through skorch's
``NeuralNetClassifier`` with the same module class as OKO. Early stopping monitors
each method's validation loss: the NLL of single examples for all but label
smoothing, which monitors its own smoothed loss. An OKO epoch has
ceil(n_train / 3) sets, so every method forwards about n_train examples per epoch.

Metrics on the test set: accuracy, balanced accuracy, top-label ECE (10 equal-width
bins, count-weighted), NLL, Brier score, mean confidence.

Run: ``flock /tmp/reprlign-bench.lock python reproductions/reproduce_oko_digits.py``

Recorded results: ``docs/reproductions/oko.rst``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _machine import describe  # noqa: E402

METHODS = ("ce", "balanced", "label_smoothing", "oko", "oko_soft")


def split_setting(X, y, setting, seed, n_val=10):
    from reprlign.datasets import make_heavy_tailed

    rng = np.random.RandomState(seed + 1000)
    if setting == "heavy":
        d = make_heavy_tailed(X, y, n_train=200, p=0.9, n_frequent=3, random_state=seed)
        X_train, y_train, pool_X, pool_y = d.X_train, d.y_train, d.X_test, d.y_test
    else:
        train_idx, pool_idx = [], []
        for c in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == c))
            train_idx.append(members[:50])
            pool_idx.append(members[50:])
        train_idx = np.concatenate(train_idx)
        pool_idx = np.concatenate(pool_idx)
        X_train, y_train, pool_X, pool_y = X[train_idx], y[train_idx], X[pool_idx], y[pool_idx]
    n_test = min(np.bincount(pool_y)) - n_val
    val_idx, test_idx = [], []
    for c in np.unique(pool_y):
        members = rng.permutation(np.flatnonzero(pool_y == c))
        val_idx.append(members[:n_val])
        test_idx.append(members[n_val:n_val + n_test])
    val_idx, test_idx = np.concatenate(val_idx), np.concatenate(test_idx)
    return (X_train, y_train), (pool_X[val_idx], pool_y[val_idx]), \
        (pool_X[test_idx], pool_y[test_idx])


def fit_ce_family(method, train, valid, seed, args):
    import torch
    from skorch import NeuralNetClassifier
    from skorch.callbacks import EarlyStopping
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    from reprlign.oko._net import MLP
    from reprlign.utils._torch import seeded_torch

    X, y = train
    kwargs = {}
    if method == "balanced":
        weights = 1.0 / np.bincount(y)[y]
        gen = torch.Generator().manual_seed(seed)
        kwargs.update(iterator_train__sampler=torch.utils.data.WeightedRandomSampler(
            weights, num_samples=len(y), replacement=True, generator=gen),
            iterator_train__shuffle=False)
    else:
        kwargs.update(iterator_train__shuffle=True)
    callbacks = []
    if args.protocol == "early":
        callbacks.append(EarlyStopping(patience=args.patience, load_best=True, sink=lambda *a: 0))
    with seeded_torch(seed):
        net = NeuralNetClassifier(
            MLP, module__n_features=64, module__n_classes=10, module__hidden_layer_sizes=(128, 128),
            criterion=torch.nn.CrossEntropyLoss,
            criterion__label_smoothing=0.1 if method == "label_smoothing" else 0.0,
            optimizer=torch.optim.Adam, lr=1e-3, batch_size=32,
            max_epochs=args.max_epochs if args.protocol == "early" else args.epochs,
            train_split=(predefined_split(Dataset(*valid)) if args.protocol == "early" else None),
            callbacks=callbacks, verbose=0, **kwargs)
        net.fit(X, y)
    return net.predict_proba, len(net.history)


def fit_oko(method, train, valid, seed, args):
    from reprlign import OKOClassifier

    clf = OKOClassifier(
        hidden_layer_sizes=(128, 128), targets="soft" if method == "oko_soft" else "hard",
        batch_size=11, lr=1e-3, random_state=seed,
        early_stopping=args.protocol == "early", n_iter_no_change=args.patience,
        max_epochs=args.max_epochs if args.protocol == "early" else args.epochs)
    clf.fit(*train, validation_data=valid if args.protocol == "early" else None)
    return clf.predict_proba, clf.n_epochs_


def metrics(y, P):
    from sklearn.metrics import balanced_accuracy_score

    from reprlign.calibration import expected_calibration_error

    pred = P.argmax(1)
    onehot = np.eye(P.shape[1])[y]
    return dict(
        acc=float((pred == y).mean()),
        bacc=float(balanced_accuracy_score(y, pred)),
        ece=expected_calibration_error(y, P),
        nll=float(-np.log(np.clip(P[np.arange(len(y)), y], 1e-12, None)).mean()),
        brier=float(((P - onehot) ** 2).sum(1).mean()),
        conf=float(P.max(1).mean()),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--settings", nargs="+", default=["heavy", "uniform"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--protocol", choices=["early", "fixed"], default="early")
    parser.add_argument("--max-epochs", type=int, default=2000)
    parser.add_argument("--patience", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=200)
    args = parser.parse_args()

    import torch
    from sklearn.datasets import load_digits

    torch.set_num_threads(1)
    print(f"machine: {describe()}")
    print(f"protocol: {args.protocol} "
          + (f"(patience {args.patience}, max {args.max_epochs} epochs)"
             if args.protocol == "early" else f"({args.epochs} epochs)"))
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    results = {}
    for setting in args.settings:
        for seed in range(args.seeds):
            train, valid, test = split_setting(X, y, setting, seed)
            for method in args.methods:
                fit = fit_oko if method.startswith("oko") else fit_ce_family
                t0 = time.perf_counter()
                predict_proba, epochs = fit(method, train, valid, seed, args)
                m = metrics(test[1], predict_proba(test[0]).astype(np.float64))
                m.update(epochs=epochs, seconds=time.perf_counter() - t0)
                results[setting, method, seed] = m
                print(f"{setting:7s} seed {seed} {method:16s} " + " ".join(
                    f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items()),
                    flush=True)
    report(results, args)


def report(results, args):
    keys = ("acc", "bacc", "ece", "nll", "brier", "conf", "epochs")
    for setting in args.settings:
        print(f"\n### {setting} ({args.seeds} seeds, mean ± std over seeds)\n")
        print("| method | " + " | ".join(keys) + " |")
        print("|---" * (len(keys) + 1) + "|")
        for method in args.methods:
            rows = [results[setting, method, s] for s in range(args.seeds)]
            cells = []
            for key in keys:
                v = np.array([r[key] for r in rows], dtype=float)
                cells.append(f"{v.mean():.1f}" if key == "epochs"
                             else f"{v.mean():.4f} ± {v.std():.4f}")
            print(f"| {method} | " + " | ".join(cells) + " |")
        if {"ce", "oko"} <= set(args.methods):
            oko = [results[setting, "oko", s] for s in range(args.seeds)]
            ce = [results[setting, "ce", s] for s in range(args.seeds)]
            wins = sum(o["ece"] < c["ece"] for o, c in zip(oko, ce, strict=True))
            d_acc = 100 * np.mean([o["acc"] - c["acc"] for o, c in zip(oko, ce, strict=True)])
            d_ece = np.mean([o["ece"] - c["ece"] for o, c in zip(oko, ce, strict=True)])
            nll = {m: np.mean([results[setting, m, s]["nll"] for s in range(args.seeds)])
                   for m in args.methods}
            print(f"\nOKO vs CE ({setting}): ECE {np.mean([o['ece'] for o in oko]):.4f} vs "
                  f"{np.mean([c['ece'] for c in ce]):.4f}; lower ECE in {wins}/{args.seeds} "
                  f"paired seeds; accuracy {d_acc:+.2f} points; ECE difference {d_ece:+.4f}; "
                  f"lowest NLL: {min(nll, key=nll.get)}")


if __name__ == "__main__":
    main()
