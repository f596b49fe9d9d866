"""HumanAlignTransformer's optimisation against gLocal's probe optimisation, side by side.

Workload: the 1,854 THINGS concepts with MiniLM word and definition embeddings side by
side (``d = 768``); training triplets drawn at random and labelled by a human-derived
teacher: a ``HumanAlignTransformer`` fitted to the human choice distributions of the
bundled THINGS triplets, its temperature fitted to human uncertainty, whose choice
distribution labels each triplet (one odd one out drawn per triplet, like one human
answer). Scores: odd-one-out accuracy on the real human triplets (the 20,000 bundled
responses; the teacher was fitted to them, so they measure how much of the teacher each
fit learned), and accuracy on 20,000 fresh teacher-labelled triplets.

* gLocal: a faithful reimplementation of gLocal's global probe optimisation (its code's
  defaults): features standardised by one scalar mean and std, ``W`` initialised at
  ``1e-3 I``, no bias, loss = cross-entropy + ``1e-3 * ||W||_F`` (its "l2" penalty, the
  Frobenius norm, not squared), Adam lr ``1e-3`` with its linear warm-up of the rate
  (from 1/3 of it, over 100 epochs, stepped per epoch), gradient norm clipped at 1,
  batches of 256. Per step the objects of the batch are transformed once and the dot
  products gathered (the same arithmetic as its one-hot products, faster).
* reprlign: ``HumanAlignTransformer(F, method="global")`` with its defaults, at the same
  batch size and epochs, and with every setting left to its default.

Run: ``flock /tmp/reprlign-bench.lock python benchmarks/bench_align_glocal.py``
(``--workload 1m`` or ``200k`` for one of the two; ``--quick`` for 100,000 triplets).

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
from reprlign.datasets import load_things_features, load_things_triplets
from reprlign.triplets import (
    aggregate_triplets,
    odd_one_out_accuracy,
    sample_triplets,
    simulate_choices,
)

WORKLOADS = {"1m": (1_000_000, 1), "200k": (200_000, 3)}


def teacher_workload(n_train, seed=0):
    """Features (1854, 768), teacher-labelled training and test triplets, human triplets."""
    F = np.hstack([load_things_features("minilm-words"),
                   load_things_features("minilm-definitions")]).astype(np.float32)
    things = load_things_triplets()
    unique, proba, _ = aggregate_triplets(things.triplets)
    teacher = HumanAlignTransformer(F, method="global", reg=1.0, batch_size=None,
                                    max_epochs=200, lr=1e-2, lr_schedule="cosine",
                                    bias=False, early_stopping=False, random_state=seed)
    teacher.fit(unique, proba)
    label = dict(temperature=teacher.temperature_)
    n = F.shape[0]
    train = simulate_choices(teacher.embedding_, sample_triplets(n, n_train, random_state=seed),
                             random_state=seed + 1, **label)
    test = simulate_choices(teacher.embedding_, sample_triplets(n, 20_000, random_state=seed + 2),
                            random_state=seed + 3, **label)
    return F, train, test, things.triplets, teacher


def glocal_probe(F, X, *, epochs, batch_size=256, lr=1e-3, lmbda=1e-3, sigma=1e-3,
                 max_epochs=100, seed=0):
    """gLocal's global probe optimisation (its code's defaults); returns the embedding."""
    g = torch.Generator().manual_seed(seed)
    Xs = torch.as_tensor((F - F.mean()) / F.std(), dtype=torch.float32)
    d = Xs.shape[1]
    W = (torch.eye(d) * sigma).requires_grad_(True)
    opt = torch.optim.Adam([W], lr=lr)
    # Its LinearLR(optimizer, total_iters=max_epochs): from lr / 3 up to lr, once per epoch.
    sched = torch.optim.lr_scheduler.LinearLR(opt, total_iters=max_epochs)
    t = torch.as_tensor(X)
    for _ in range(epochs):
        perm = torch.randperm(len(t), generator=g)
        for start in range(0, len(t), batch_size):
            batch = t[perm[start:start + batch_size]]
            rows, inv = torch.unique(batch, return_inverse=True)
            Z = Xs[rows] @ W
            a, b, c = Z[inv[:, 0]], Z[inv[:, 1]], Z[inv[:, 2]]
            dots = torch.stack([(a * b).sum(1), (a * c).sum(1), (b * c).sum(1)], dim=1)
            loss = -dots.log_softmax(dim=1)[:, 0].mean() + lmbda * torch.linalg.norm(W)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([W], 1.0)
            opt.step()
        sched.step()
    with torch.no_grad():
        return (Xs @ W).numpy()


def report(name, Z, human, test, seconds):
    print(f"{name:<58} human {odd_one_out_accuracy(Z, human):.4f}  teacher test "
          f"{odd_one_out_accuracy(Z, test):.4f}  ({seconds:.0f} s)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=[*WORKLOADS, "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="100,000 triplets, 1 epoch")
    parser.add_argument("--batch-sizes", default="256",
                        help="comma-separated batch sizes at which both optimisers run")
    args = parser.parse_args()
    print(f"{describe()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    names = list(WORKLOADS) if args.workload == "both" else [args.workload]
    runs = [(100_000, 1)] if args.quick else [WORKLOADS[w] for w in names]
    for n_train, epochs in runs:
        F, train, test, human, teacher = teacher_workload(n_train)
        print(f"\n{n_train:,} teacher-labelled triplets, {epochs} epoch(s); d = {F.shape[1]}; "
              f"teacher: human {teacher.score(human):.4f}, teacher test "
              f"{odd_one_out_accuracy(teacher.embedding_, test):.4f}; zero-shot (cosine) "
              f"human {odd_one_out_accuracy(F, human, similarity='cosine'):.4f}", flush=True)
        for bs in (int(b) for b in args.batch_sizes.split(",")):
            tic = time.perf_counter()
            Z = glocal_probe(F, train, epochs=epochs, batch_size=bs)
            report(f"gLocal's optimisation, batch {bs}", Z, human, test,
                   time.perf_counter() - tic)
            tic = time.perf_counter()
            est = HumanAlignTransformer(F, method="global", batch_size=bs, max_epochs=epochs,
                                        random_state=0).fit(train)
            report(f"reprlign defaults, batch {bs}, {epochs} epoch(s)", est.embedding_, human,
                   test, time.perf_counter() - tic)
        tic = time.perf_counter()
        est = HumanAlignTransformer(F, method="global", random_state=0).fit(train)
        report(f"reprlign, every setting default ({est.n_epochs_} epochs)", est.embedding_,
               human, test, time.perf_counter() - tic)


if __name__ == "__main__":
    main()
