"""A user's grid search over HumanAlignTransformer on THINGS: time and accuracy, n_jobs 1 and -1.

Workload: the bundled THINGS noise-ceiling set (20,000 responses to 1,000 triplets), MiniLM
word features (d = 384), ``GridSearchCV`` over ``reg`` in {0.1, 1, 10, 100} with grouped
5-fold cross-validation (``TripletGroupKFold``): 4 x 5 = 20 fits and the refit.

* defaults: ``HumanAlignTransformer(F)`` with every other setting left to its default.
* earlier settings (peer): the settings the demo used before the defaults were made
  "auto": full batch, at most 60 epochs, early stopping with patience 10 on a tenth of the
  training triplets, 256 pool rows per step, a constant rate of 1e-3, bias on.

Each is run with ``n_jobs=1`` and ``n_jobs=-1``. Reported: wall time, the grouped-CV
accuracy of every grid point and of the selected one, and ``best_epoch_`` of the refit.

Run: ``flock /tmp/reprlign-bench.lock python benchmarks/bench_align_grid.py``

Recorded results: ``docs/performance/alignment.rst``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from sklearn.model_selection import GridSearchCV

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe  # noqa: E402

from reprlign import HumanAlignTransformer
from reprlign.datasets import load_things_features, load_things_triplets
from reprlign.model_selection import TripletGroupKFold

EARLIER = dict(batch_size=None, max_epochs=60, early_stopping=True, n_iter_no_change=10,
               local_batch_size=256, lr=1e-3, lr_schedule="constant", bias=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="minilm-words")
    parser.add_argument("--method", default="glocal")
    args = parser.parse_args()
    print(f"{describe()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    X = load_things_triplets().triplets
    F = load_things_features(args.features)
    grid = {"reg": [0.1, 1.0, 10.0, 100.0]}
    for name, params in (("defaults", {}), ("earlier settings", EARLIER)):
        for n_jobs in (1, -1):
            est = HumanAlignTransformer(F, method=args.method, random_state=0, **params)
            search = GridSearchCV(est, grid, cv=TripletGroupKFold(5), n_jobs=n_jobs)
            tic = time.perf_counter()
            search.fit(X)
            seconds = time.perf_counter() - tic
            scores = ", ".join(f"{p['reg']:g}: {s:.3f}" for p, s in
                               zip(search.cv_results_["params"],
                                   search.cv_results_["mean_test_score"], strict=True))
            print(f"{name}, n_jobs={n_jobs}: {seconds:.1f} s; CV accuracy by reg {{{scores}}}; "
                  f"selected reg={search.best_params_['reg']:g} ({search.best_score_:.3f}); "
                  f"refit best_epoch_={search.best_estimator_.best_epoch_}; load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
