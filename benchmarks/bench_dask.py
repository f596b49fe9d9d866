"""Linear CKA of two 4,000,000 x 512 float32 representations on a dask LocalCluster.

Run: ``flock /tmp/reprlign-bench.lock python benchmarks/bench_dask.py [--rows N] [--workers 1 2]``

The representations are generated lazily, chunk by chunk, inside the workers
(8 GB each, never materialised anywhere); ``reprlign.measures.cka`` reduces them
with a per-worker memory limit of 2 GB. The script prints, in one run:

* the per-chunk costs on one core: generating a chunk pair, and the moments
  kernel of the reduction; the size of one partial sum (the message a step of
  the tree reduction sends);
* numpy's ``cka`` on an in-memory slice on one core, and the dask result on the
  same rows (they must agree);
* for each worker count: wall time, throughput per core against numpy's,
  peak resident memory of every worker, and the CKA value.

Recorded results: ``docs/performance/distributed.rst``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import describe  # noqa: E402

D = 512
CHUNK = 8192
SEED = 0


def x_block(block_info=None):
    """Rows of X for one chunk: uniform [0, 1), seeded by the chunk's index."""
    info = block_info[None]
    rng = np.random.default_rng([SEED, info["chunk-location"][0]])
    return rng.random(info["chunk-shape"], dtype=np.float32)


def y_block(X, block_info=None):
    """Y = 0.6 X (columns shifted by one) + 0.4 noise: related to X, CKA well inside (0, 1)."""
    rng = np.random.default_rng([SEED + 1, block_info[0]["chunk-location"][0]])
    Y = rng.random(X.shape, dtype=np.float32)
    Y *= 0.4
    Y[:, 1:] += 0.6 * X[:, :-1]
    Y[:, 0] += 0.6 * X[:, -1]
    return Y


def lazy_pair(n, d=D, chunk=CHUNK):
    import dask.array as da

    rows = (chunk,) * (n // chunk) + ((n % chunk,) if n % chunk else ())
    X = da.map_blocks(x_block, chunks=(rows, (d,)), dtype=np.float32,
                      meta=np.empty((0, 0), np.float32), name=f"bench-x-{n}-{d}-{chunk}")
    Y = X.map_blocks(y_block, dtype=np.float32, name=f"bench-y-{n}-{d}-{chunk}")
    return X, Y


def timed(fn, repeat=1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_rss_mb():
    """This process's peak resident memory (VmHWM), in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds():
    """CPU time this process has used (all its threads)."""
    return time.process_time()


def per_chunk_costs(n_slice):
    from threadpoolctl import threadpool_limits

    from reprlign.measures import cka
    from reprlign.utils.backend._dask import _chunk_moments, _layout

    print(f"\n## Per-chunk costs on one core (chunk = {CHUNK:,} rows x {D})")
    with threadpool_limits(1):
        info = {None: {"chunk-location": (0, 0), "chunk-shape": (CHUNK, D)}}
        t_gen, X = timed(lambda: x_block(info), 5)
        t_geny, Y = timed(lambda: y_block(X, {0: {"chunk-location": (0, 0)}}), 5)
        shifts = (X.mean(axis=0), Y.mean(axis=0))
        rows = np.arange(CHUNK)
        t_mom, packed = timed(lambda: _chunk_moments([X], [Y], rows, names=("X", "Y"),
                                                     transforms=(None, None), shifts=shifts,
                                                     row_norms=False), 5)
        print(f"generate one chunk pair (X, Y)      {1e3 * (t_gen + t_geny):8.1f} ms "
              "(in every dask task, not in numpy's run)")
        print(f"moments of one chunk pair           {1e3 * t_mom:8.1f} ms "
              f"({4 * D * D * CHUNK / t_mom / 1e9:.1f} GFLOP/s)")
        size = _layout(D, D)[1]
        print(f"one partial sum (a tree message)    {size * 8 / 1e6:8.2f} MB "
              f"({size:,} float64)")

        print(f"\n## numpy cka on an in-memory slice of {n_slice:,} rows, one core")
        Xs, Ys = lazy_pair(n_slice)
        Xs, Ys = Xs.compute(scheduler="sync"), Ys.compute(scheduler="sync")
        c0 = time.process_time()
        t_np, v_np = timed(lambda: cka(Xs, Ys), 2)
        cpu_np = (time.process_time() - c0) / 2
        print(f"numpy cka                           {t_np:8.2f} s wall  {n_slice / t_np:10,.0f} "
              f"rows/s   {n_slice / cpu_np:10,.0f} rows per CPU-second   CKA {v_np:.10f}")
    return {"gen": t_gen + t_geny, "moments": t_mom, "numpy_rows_per_s": n_slice / t_np,
            "numpy_rows_per_cpu_s": n_slice / cpu_np, "numpy_value": v_np,
            "message_mb": size * 8 / 1e6}


def on_cluster(n, workers, n_slice, v_slice):
    from distributed import Client, LocalCluster

    from reprlign.measures import cka

    with LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit="2GB",
                      processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        if n_slice:  # the same rows as numpy's slice: the two must agree
            Xs, Ys = lazy_pair(n_slice)
            v = cka(Xs, Ys)
            print(f"dask cka on the numpy slice's rows: CKA {v:.10f}, "
                  f"|dask - numpy| = {abs(v - v_slice):.1e} (numpy's float32 route vs float64 "
                  "sums)")
        X, Y = lazy_pair(n)
        cpu0, main0 = client.run(cpu_seconds), time.process_time()
        t, value = timed(lambda: cka(X, Y))
        cpu1, main1 = client.run(cpu_seconds), time.process_time()
        peaks = client.run(peak_rss_mb)
    cpu = sum(cpu1[w] - cpu0[w] for w in cpu1)
    peak = ", ".join(f"{mb:,.0f}" for mb in peaks.values())
    print(f"{workers} worker(s): {t:8.1f} s wall  {n / t / workers:10,.0f} rows/s per worker  "
          f"{n / cpu:10,.0f} rows per worker CPU-second   CKA {value:.10f}")
    print(f"   worker CPU {cpu:.1f} s, client and scheduler CPU {main1 - main0:.1f} s; "
          f"peak worker memory {peak} MB (limit 2,000 MB)", flush=True)
    return t, cpu, value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--slice", type=int, default=131_072, help="rows numpy gets in memory")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(describe())
    print(f"load average at start: {os.getloadavg()}")
    print(f"X, Y: {args.rows:,} x {D} float32 each ({args.rows * D * 4 / 1e9:.1f} GB), "
          f"generated lazily in chunks of {CHUNK:,} rows")
    costs = per_chunk_costs(args.slice)
    print("\n## dask LocalCluster, 1 thread per worker, memory limit 2 GB per worker")
    times = {}
    for i, w in enumerate(args.workers):
        t, cpu, _ = on_cluster(args.rows, w, args.slice if i == 0 else 0, costs["numpy_value"])
        times[w] = t
        per_core = args.rows / t / w / costs["numpy_rows_per_s"]
        per_cpu = args.rows / cpu / costs["numpy_rows_per_cpu_s"]
        # the workers also generate the data, which numpy's run does not: take it out
        n_chunks = -(-args.rows // CHUNK)
        per_cpu_nogen = args.rows / (cpu - n_chunks * costs["gen"]) / costs["numpy_rows_per_cpu_s"]
        print(f"   against numpy in memory: {per_core:.2f}x per core (wall), {per_cpu:.2f}x per "
              f"CPU-second, {per_cpu_nogen:.2f}x per CPU-second without the generation "
              "(target >= 0.7x)")
    if len(times) > 1:
        w0, w1 = sorted(times)[:2]
        print(f"scaling {w0} -> {w1} workers: {times[w0] / times[w1]:.2f}x faster (wall)")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
