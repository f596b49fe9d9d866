"""Odd-one-out accuracy at THINGS scale: the Gram route against a per-triplet computation.

Target: accuracy of 4.7 million triplets over 1,854 objects with
d = 768 in under 1 second on 2 CPU cores. The peer, measured in the same run, is
the straightforward computation: gather the three rows of every triplet and take
their dot products (what one writes without the ``n x n`` trick), in chunks of
one million triplets. The peer is timed on a tenth of the triplets and scaled up
(it is linear in the number of triplets; the full run would take minutes), and
its accuracy on that tenth is checked against ours on the same tenth.

Run: ``python benchmarks/bench_triplets.py [--repeats 3]``

Recorded results: ``docs/performance/triplets.rst``.
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

from reprlign.triplets import odd_one_out_accuracy, sample_triplets  # noqa: E402


def per_triplet_accuracy(Z, t, chunk=1_000_000):
    correct = 0
    for s in range(0, len(t), chunk):
        a, b, c = (Z[t[s : s + chunk, k]] for k in range(3))
        s_ab = np.einsum("md,md->m", a, b)
        s_ac = np.einsum("md,md->m", a, c)
        s_bc = np.einsum("md,md->m", b, c)
        correct += int(((s_ab > s_ac) & (s_ab > s_bc)).sum())
    return correct / len(t)


def best_of(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-triplets", type=int, default=4_700_000)
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    n, d = 1854, 768
    print(describe())
    for dtype in (np.float32, np.float64):
        Z = rng.normal(size=(n, d)).astype(dtype)
        t = sample_triplets(n, args.n_triplets, random_state=0)
        ours, acc = best_of(lambda Z=Z, t=t: odd_one_out_accuracy(Z, t), args.repeats)
        tenth = t[: len(t) // 10]
        peer, acc_peer = best_of(lambda Z=Z, t=tenth: per_triplet_accuracy(Z, t), 1)
        peer *= len(t) / len(tenth)
        assert abs(odd_one_out_accuracy(Z, tenth) - acc_peer) < 1e-4, acc_peer
        print(
            f"{np.dtype(dtype).name}: {args.n_triplets:,} triplets, n={n}, d={d}: "
            f"reprlign {ours:.3f} s (best of {args.repeats}), "
            f"per-triplet peer {peer:.1f} s (scaled from 1/10), "
            f"speed-up {peer / ours:.1f}x, accuracy {acc:.4f}"
        )


if __name__ == "__main__":
    main()
