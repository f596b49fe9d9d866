"""Speed of HumanAlignTransformer at THINGS scale against the per-triplet one-hot baseline.

Workload: 1,854 objects, d = 768 features, 1,000,000 training triplets,
20 epochs. The data are synthetic with a known ground truth
(``make_hierarchical_concepts``: a "model" view of a "human" embedding), labelled by
``simulate_choices`` on the human embedding; 20,000 further triplets are held out.

* reprlign: ``HumanAlignTransformer(method="global")`` with large batches; per step the
  objects are transformed once and the similarities gathered from ``S = Z Z^T``.
* baseline: the straightforward per-triplet implementation of gLocal's reference code:
  per batch of 256 triplets, one-hot matrices (3 x 256 x n) times the features, then the
  transform and the dot products; Adam lr 1e-3. It is run for ``--baseline-seconds`` (or
  ``--baseline-epochs``, whichever ends first); its time for the full workload is
  extrapolated from the measured time per batch, and its held-out accuracy is reported at
  the point it reached and after every full epoch.

``--method glocal`` turns gLocal's local term on for both (``local_weight`` 0.1, 1,024 rows
of the object table per step, the bundled table being the pool): the baseline computes it
as gLocal's code does (both cosine matrices, diagonals removed by gathering) on rows drawn
afresh every step. Both report the held-out accuracy and the local term's own measure, the
share of each object's 10 nearest neighbours kept (``mutual_knn`` with the raw features).

Run: ``flock /tmp/reprlign-bench.lock python benchmarks/bench_align.py``
(``--quick`` for a 100,000-triplet smoke run; ``--baseline-seconds inf --baseline-epochs 20``
runs the baseline's whole workload, about 40 minutes on 2 quiet cores; ``--fixed-cost``
times what a fit spends outside its training loop).

Recorded results: ``docs/performance/alignment.rst``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe  # noqa: E402

from reprlign import HumanAlignTransformer
from reprlign.datasets import make_hierarchical_concepts
from reprlign.measures import mutual_knn
from reprlign.triplets import odd_one_out_accuracy, sample_triplets, simulate_choices


def glocal_local_loss(P, W, b, tau=1.0):
    """gLocal's local term as its code computes it: both cosine matrices, diagonals removed."""
    B = P.shape[0]
    teacher = torch.nn.functional.normalize(P, dim=1)
    student = torch.nn.functional.normalize(P @ W + b, dim=1)
    off = ~torch.eye(B, dtype=torch.bool)
    target = ((teacher @ teacher.T)[off].reshape(B, -1) / tau).softmax(dim=1)
    logits = (student @ student.T)[off].reshape(B, -1) / tau
    return torch.nn.functional.cross_entropy(logits, target)


def one_hot_baseline(F, X, X_test, *, seconds, epochs=1, batch_size=256, lr=1e-3, seed=0,
                     local_weight=0.0, local_batch_size=1024):
    """gLocal-style training with a one-hot product per batch; returns timing and accuracy.

    Runs for ``epochs`` passes over ``X`` (a fresh permutation each) or until ``seconds`` have
    passed, whichever comes first; prints the held-out accuracy after every full epoch. With
    ``local_weight > 0`` every step adds gLocal's local term on ``local_batch_size`` rows of
    the (standardised) object table drawn afresh: ``(1 - a) global + a local``.
    """
    g = torch.Generator().manual_seed(seed)
    Xs = torch.as_tensor((F - F.mean()) / F.std(), dtype=torch.float32)
    n, d = Xs.shape
    W = (torch.eye(d) * d**-0.5).requires_grad_(True)
    b = torch.zeros(d, requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=lr)
    t = torch.as_tensor(X)
    target = torch.full((batch_size,), 2)
    per_epoch = len(t) // batch_size
    n_batches, eval_seconds, curve = 0, 0.0, []
    start = time.perf_counter()

    def trained():  # training time so far, held-out evaluations excluded
        return time.perf_counter() - start - eval_seconds

    for epoch in range(epochs):
        perm = torch.randperm(len(t), generator=g)
        for i in range(per_epoch):
            if trained() >= seconds:
                break
            idx = t[perm[i * batch_size:(i + 1) * batch_size]]
            one_hot = torch.zeros(3, batch_size, n)
            one_hot.scatter_(2, idx.T.unsqueeze(-1), 1.0)
            emb = (one_hot @ Xs) @ W + b  # (3, B, d)
            s = torch.stack([(emb[1] * emb[2]).sum(-1), (emb[0] * emb[2]).sum(-1),
                             (emb[0] * emb[1]).sum(-1)], dim=1)
            loss = torch.nn.functional.cross_entropy(s, target)
            if local_weight > 0:
                rows = torch.randperm(n, generator=g)[:local_batch_size]
                loss = ((1 - local_weight) * loss
                        + local_weight * glocal_local_loss(Xs[rows], W, b))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([W, b], 1.0)
            opt.step()
            n_batches += 1
        else:
            tic = time.perf_counter()
            with torch.no_grad():
                curve.append(odd_one_out_accuracy((Xs @ W + b).numpy(), X_test))
            eval_seconds += time.perf_counter() - tic
            print(f"  baseline epoch {epoch + 1}: held-out accuracy {curve[-1]:.4f} "
                  f"({trained():.0f} s of training)", flush=True)
            continue
        break
    elapsed = trained()
    with torch.no_grad():
        Z = (Xs @ W + b).numpy()
    return {"batches": n_batches, "seconds": elapsed, "ms_per_batch": 1e3 * elapsed / n_batches,
            "accuracy": odd_one_out_accuracy(Z, X_test), "curve": curve,
            "kept": mutual_knn(F, Z, k=10)}


def soft_vs_hard():
    """Held-out KL of fits on human choice distributions vs on majority labels (THINGS)."""
    from reprlign.datasets import load_things_features, load_things_triplets
    from reprlign.model_selection import TripletGroupKFold
    from reprlign.triplets import choice_kl

    things = load_things_triplets()
    U, P = things.unique_triplets, things.choice_proba
    for name in ("minilm-words", "minilm-definitions"):
        F = load_things_features(name)
        res = {"soft": [], "hard": []}
        for tr, te in TripletGroupKFold(5).split(U):
            for kind, y in (("soft", P[tr]), ("hard", None)):
                est = HumanAlignTransformer(F, method="global", reg=1.0, batch_size=None,
                                            max_epochs=60, early_stopping=True,
                                            n_iter_no_change=10,
                                            random_state=0).fit(U[tr], y)
                res[kind].append((choice_kl(P[te], est.predict_proba(U[te])),
                                  est.score(U[te], P[te])))
        for kind, v in res.items():
            kl, acc = np.mean(v, axis=0)
            print(f"{name} {kind}: held-out KL {kl:.4f}, accuracy vs majority {acc:.4f}",
                  flush=True)


def local_term():
    """Held-out accuracy and kept neighbours (mutual 10-NN) per method, THINGS, grouped CV."""
    from reprlign.datasets import load_things_features, load_things_triplets
    from reprlign.measures import mutual_knn
    from reprlign.model_selection import TripletGroupKFold

    X = load_things_triplets().triplets
    F = load_things_features("minilm-words")
    variants = [("naive", dict(method="naive", reg=1e-2)), ("global", dict(method="global")),
                ("glocal 0.1", dict(method="glocal", local_weight=0.1)),
                ("glocal 0.3", dict(method="glocal", local_weight=0.3))]
    for name, params in variants:
        acc, kept = [], []
        for tr, te in TripletGroupKFold(5).split(X):
            est = HumanAlignTransformer(F, random_state=0,
                                        **{"reg": 1.0, **params}).fit(X[tr])
            acc.append(est.score(X[te]))
            kept.append(mutual_knn(F, est.embedding_, k=10))
        print(f"{name}: held-out accuracy {np.mean(acc):.4f}, kept neighbours {np.mean(kept):.4f}",
              flush=True)


def pool_rows():
    """Local term with 128 to all 1,854 pool rows per full-batch step: accuracy, kept, time."""
    from reprlign.datasets import load_things_features, load_things_triplets
    from reprlign.measures import mutual_knn
    from reprlign.model_selection import TripletGroupKFold

    X = load_things_triplets().triplets
    F = load_things_features("minilm-words")
    splits = list(TripletGroupKFold(5).split(X))[:2]
    for rows in (128, 256, 1024, 1854):
        acc, kept, tic = [], [], time.perf_counter()
        for tr, te in splits:
            est = HumanAlignTransformer(F, reg=0.1, local_weight=0.3, local_batch_size=rows,
                                        random_state=0).fit(X[tr])
            acc.append(est.score(X[te]))
            kept.append(mutual_knn(F, est.embedding_, k=10))
        print(f"{rows} pool rows per step: held-out accuracy {np.mean(acc):.4f}, kept "
              f"neighbours {np.mean(kept):.4f}, {time.perf_counter() - tic:.1f} s for "
              f"{len(splits)} fits", flush=True)


def kfold_leak():
    """Held-out accuracy under a plain KFold over responses against grouped folds (THINGS)."""
    from sklearn.model_selection import KFold, cross_val_score

    from reprlign.datasets import load_things_features, load_things_triplets
    from reprlign.model_selection import TripletGroupKFold

    X = load_things_triplets().triplets
    F = load_things_features("minilm-words")
    est = HumanAlignTransformer(F, reg=1.0, random_state=0)
    for name, cv in (("KFold(5, shuffle=True)", KFold(5, shuffle=True, random_state=0)),
                     ("TripletGroupKFold(5)", TripletGroupKFold(5))):
        scores = cross_val_score(est, X, cv=cv)
        print(f"{name}: held-out accuracy {scores.mean():.4f} +/- {scores.std():.4f}",
              flush=True)


def fixed_cost(repeats=5):
    """Seconds a fit spends outside its training loop at 1,000,000 triplets (d = 768).

    The first fit of a process also imports skorch and warms torch up: it is timed
    separately, then ``repeats`` one-epoch fits of the global and the glocal transform give
    their time outside the loop (the fit's wall time minus skorch's epoch times).
    """
    n, d, m = 1854, 768, 1_000_000
    data = make_hierarchical_concepts(n, n_components=32, n_features=d, random_state=0)
    X = simulate_choices(data.human, sample_triplets(n, m, random_state=1), random_state=2)
    F = data.model.astype(np.float32)
    tic = time.perf_counter()
    HumanAlignTransformer(F[:30], max_epochs=1).fit(sample_triplets(30, 200, random_state=0))
    print(f"first fit of the process (imports skorch, warms torch up): "
          f"{time.perf_counter() - tic:.2f} s", flush=True)
    for method in ("global", "glocal"):
        outside = []
        for rep in range(repeats):
            est = HumanAlignTransformer(F, method=method, reg=0.0, lr=0.1, batch_size=131072,
                                        max_epochs=1, random_state=rep)
            tic = time.perf_counter()
            est.fit(X)
            wall = time.perf_counter() - tic
            loop = sum(h["time"] for h in est.history_)
            outside.append(wall - loop)
        outside = np.sort(outside)
        print(f"{method}: outside the training loop at {m:,} triplets: median "
              f"{np.median(outside):.2f} s, min {outside[0]:.2f} s, max {outside[-1]:.2f} s "
              f"over {repeats} fits; load average {os.getloadavg()[0]:.1f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 triplets instead of 1M")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=131072)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--lr-schedule", default="cosine", choices=["constant", "cosine"])
    parser.add_argument("--method", default="global", choices=["global", "glocal"],
                        help="glocal: the local term on, for reprlign and the baseline")
    parser.add_argument("--local-weight", type=float, default=0.1)
    parser.add_argument("--local-batch-size", type=int, default=1024)
    parser.add_argument("--baseline-seconds", type=float, default=120.0,
                        help="time budget of the baseline (its per-batch time is extrapolated)")
    parser.add_argument("--baseline-epochs", type=int, default=1,
                        help="epochs of the baseline within its time budget; with "
                             "--baseline-seconds inf and --baseline-epochs 20 it runs the whole "
                             "workload (about an hour on 2 cores)")
    parser.add_argument("--baseline-threads", type=int, default=None,
                        help="torch threads for the baseline only (default: unchanged)")
    parser.add_argument("--ours-only", action="store_true",
                        help="time reprlign only (no baseline): to compare two versions")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--soft-vs-hard", action="store_true",
                        help="instead: held-out KL of soft- vs hard-label fits on THINGS")
    parser.add_argument("--local-term", action="store_true",
                        help="instead: accuracy and kept neighbours of naive/global/glocal")
    parser.add_argument("--pool-rows", action="store_true",
                        help="instead: the local term's pool rows per step on THINGS")
    parser.add_argument("--kfold-leak", action="store_true",
                        help="instead: plain KFold against grouped folds on THINGS")
    parser.add_argument("--fixed-cost", action="store_true",
                        help="instead: the time a fit spends outside its training loop")
    args = parser.parse_args()
    print(f"{describe()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    if args.fixed_cost:
        fixed_cost()
        return
    if args.local_term:
        local_term()
        return
    if args.kfold_leak:
        kfold_leak()
        return
    if args.pool_rows:
        pool_rows()
        return
    if args.soft_vs_hard:
        soft_vs_hard()
        return
    n_objects, d = 1854, 768
    m = 100_000 if args.quick else 1_000_000
    data = make_hierarchical_concepts(n_objects, n_components=32, n_features=d, random_state=0)
    X = simulate_choices(data.human, sample_triplets(n_objects, m, random_state=1),
                         random_state=2)
    X_test = simulate_choices(data.human, sample_triplets(n_objects, 20_000, random_state=3),
                              random_state=4)
    F = data.model.astype(np.float32)
    print(f"workload: {n_objects} objects, d={d}, {m:,} triplets, {args.epochs} epochs; "
          f"held-out: {len(X_test):,} triplets")
    print(f"ground truth (human embedding) held-out accuracy: "
          f"{odd_one_out_accuracy(data.human, X_test):.4f}; zero-shot model features: "
          f"{odd_one_out_accuracy(F, X_test):.4f}", flush=True)

    glocal = args.method == "glocal"
    local = dict(local_weight=args.local_weight, local_batch_size=args.local_batch_size)
    est = HumanAlignTransformer(F, method=args.method, reg=0.0, lr=args.lr,
                                lr_schedule=args.lr_schedule,
                                batch_size=args.batch_size, max_epochs=args.epochs,
                                early_stopping=False, device=args.device, random_state=0,
                                **(local if glocal else {}))
    start = time.perf_counter()
    est.fit(X)
    fast_seconds = time.perf_counter() - start
    loop_seconds = sum(h["time"] for h in est.history_)
    fast_acc = est.score(X_test)
    steps = args.epochs * -(-m // args.batch_size)
    what = (f"glocal, local_weight {args.local_weight:g}, {args.local_batch_size} pool rows per "
            "step" if glocal else "global")
    print(f"reprlign HumanAlignTransformer ({what}; lr {args.lr:g}, {args.lr_schedule}): "
          f"{fast_seconds:.1f} s for {args.epochs} epochs "
          f"({steps} steps of {args.batch_size:,} triplets, {1e3 * loop_seconds / steps:.0f} ms "
          f"per step; {fast_seconds - loop_seconds:.2f} s outside the training loop); "
          f"held-out accuracy {fast_acc:.4f}; kept neighbours (mutual 10-NN with the features) "
          f"{mutual_knn(F, est.embedding_, k=10):.4f}", flush=True)
    if args.ours_only:
        return

    if args.baseline_threads:
        torch.set_num_threads(args.baseline_threads)
    base = one_hot_baseline(F, X, X_test, seconds=args.baseline_seconds,
                            epochs=args.baseline_epochs, **(local if glocal else {}))
    full_batches = args.epochs * (m // 256)
    extrapolated = base["ms_per_batch"] * full_batches / 1e3
    print(f"one-hot baseline ({what}; batch 256, Adam lr 1e-3): {base['ms_per_batch']:.1f} ms per "
          f"batch over {base['batches']} batches ({base['seconds']:.0f} s); held-out accuracy "
          f"{base['accuracy']:.4f} and kept neighbours {base['kept']:.4f} after "
          f"{base['batches'] * 256:,} triplets; full workload ({full_batches:,} batches) "
          f"extrapolated: {extrapolated:.0f} s")
    if base["curve"]:
        print("baseline held-out accuracy per epoch: "
              + ", ".join(f"{a:.4f}" for a in base["curve"]))
    print(f"speed-up: {extrapolated / fast_seconds:.1f}x; accuracy difference "
          f"(reprlign - baseline at its budget): {100 * (fast_acc - base['accuracy']):+.2f} "
          "points")


if __name__ == "__main__":
    main()
