"""Before/after timing of the measures on a shared machine: two libraries, alternated.

Run: ``flock /tmp/reprlign-bench.lock python benchmarks/ab_measures.py BEFORE AFTER [rounds]``
where BEFORE and AFTER are folders that hold a ``reprlign`` package (two checkouts). Each
round times both in fresh processes, one after the other, so that load from other jobs
falls on both alike; the medians over rounds are printed. Cases: linear CKA (biased and
unbiased), Pearson and Spearman RSA and Procrustes at n = 5,000, d = 512, float64, and
1,000 calls of CKA on 300 x 32 inputs (the per-call overhead a bootstrap pays).
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import time


def measure(root):
    sys.path.insert(0, root)
    import numpy as np

    from reprlign.measures import cka, procrustes, rsa

    rng = np.random.RandomState(0)
    X = rng.randn(5000, 512)
    Y = np.tanh(X @ rng.randn(512, 512) / 20) + rng.randn(5000, 512)
    Xs, Ys = X[:300, :32].copy(), Y[:300, :32].copy()

    def best(fn, repeat):
        times = []
        for _ in range(repeat):
            gc.collect()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    return {
        "X'Y product": best(lambda: X.T @ Y, 7),
        "CKA biased": best(lambda: cka(X, Y), 7),
        "CKA unbiased": best(lambda: cka(X, Y, debiased=True), 7),
        "RSA Pearson": best(lambda: rsa(X, Y, compare="pearson"), 5),
        "RSA Spearman": best(lambda: rsa(X, Y), 3),
        "Procrustes": best(lambda: procrustes(X, Y), 5),
        "1,000 small CKA calls": best(lambda: [cka(Xs, Ys) for _ in range(1000)], 3),
    }


def main():
    if sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2])))
        return
    before, after = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    runs = {before: [], after: []}
    for _ in range(rounds):
        for root in (before, after):
            out = subprocess.run([sys.executable, __file__, "--one", root], check=True,
                                 capture_output=True, text=True).stdout
            runs[root].append(json.loads(out))
    print(f"median over {rounds} alternating rounds (before | after), best of 3-7 calls each")
    for case in runs[before][0]:
        med = [statistics.median(r[case] for r in runs[root]) for root in (before, after)]
        print(f"{case:<24} {med[0] * 1e3:9.1f} ms | {med[1] * 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
