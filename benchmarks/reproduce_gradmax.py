"""Reproduce the GradMax teacher-student check and a digits classifier case.

Teacher-student (Evci et al. 2022, their Student_Teacher notebook): a bias-free
teacher 10-10-10 (ReLU) with weights drawn from U[-1, 1] labels 1,000 inputs
x ~ N(0, I_10). A bias-free student of hidden width 5 grows by one neuron every
200 steps (steps 200, 400, ..., 1000) to width 10; full-batch SGD with lr 0.1 on
the MSE, 1,500 steps. As in the notebook, the teacher and data are fixed
(``--teacher-seed``) and the seeds vary the student; ``--vary-teacher`` also
redraws the teacher and data per seed. Methods: gradmax, random,
random_inverse, zeros, the fixed small (5) and big (10) networks, and gradmax
with ``activation="torch_relu"`` (derivative 0 at 0: the collapse case).

Digits: the hidden layer of a digits MLP grows from 16 to 64 units in 4 steps
(every 100 steps, mini-batches of 64, SGD with momentum 0.9, lr 0.05, 40
epochs); gradmax vs random growth vs a fixed 64-unit network, 5 seeds.

Run: ``python benchmarks/reproduce_gradmax.py [--seeds 5] [--growth-scale 0.5] [--vary-teacher]``
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

from _machine import describe  # noqa: E402

from reprlign import GrowingMLP, GrowingMLPRegressor  # noqa: E402


def teacher_data(seed, n=1000, width=10):
    rng = np.random.RandomState(seed)
    W1 = rng.uniform(-1, 1, (width, width))
    W2 = rng.uniform(-1, 1, (width, width))
    X = rng.normal(size=(n, width))
    return X, np.maximum(X @ W1, 0) @ W2


def student(method, seed, scale):
    common = dict(
        use_bias=False,
        optimizer="sgd",
        lr=0.1,
        max_epochs=1500,
        dtype="float64",
        random_state=seed,
    )
    if method == "small":
        return GrowingMLPRegressor(hidden_layer_sizes=5, growth=None, **common)
    if method == "big":
        return GrowingMLPRegressor(hidden_layer_sizes=10, growth=None, **common)
    activation = "relu"
    if method == "gradmax_torch_relu":
        method, activation = "gradmax", "torch_relu"
    return GrowingMLPRegressor(
        hidden_layer_sizes=10,
        initial_hidden_sizes=5,
        grow_by=1,
        grow_every=200,
        growth=method,
        growth_scale=scale,
        activation=activation,
        **common,
    )


TS_METHODS = ["gradmax", "random", "random_inverse", "zeros", "small", "big", "gradmax_torch_relu"]


def run_teacher_student(seeds, scale, vary_teacher, teacher_seed):
    rows = {m: [] for m in TS_METHODS}
    for seed in seeds:
        X, Y = teacher_data(seed if vary_teacher else teacher_seed)
        for method in TS_METHODS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = student(method, seed, scale).fit(X, Y)
            h = m.growth_history_
            rows[method].append(
                {
                    "grad0": h[0]["grad_norm"] if h else np.nan,
                    "loss1000": m.loss_curve_[1000],
                    "final": m.loss_curve_[-1],
                    "max_change": max((r["max_output_change"] for r in h), default=0.0),
                    "max_loss_change": max(
                        (abs(r["loss_after"] - r["loss_before"]) for r in h), default=0.0
                    ),
                    "curve": np.asarray(m.loss_curve_),
                }
            )
    return rows


def report_teacher_student(rows, seeds):
    print("\nper seed: grad norm at first growth / loss at step 1000 / final loss")
    print(f"{'method':<20}" + "".join(f"{'seed ' + str(s):>26}" for s in seeds))
    for method, rs in rows.items():
        cells = "".join(f"{r['grad0']:8.3f} {r['loss1000']:8.4f} {r['final']:8.4f}" for r in rs)
        print(f"{method:<20}{cells}")
    g, r = rows["gradmax"], rows["random"]
    ratio_grad = [a["grad0"] / b["grad0"] for a, b in zip(g, r, strict=True)]
    ratio_1000 = [a["loss1000"] / b["loss1000"] for a, b in zip(g, r, strict=True)]
    mean_ratio = np.mean([a["loss1000"] for a in g]) / np.mean([b["loss1000"] for b in r])
    wins = sum(a["final"] < b["final"] for a, b in zip(g, r, strict=True))
    print("\nmean over seeds:")
    for method, rs in rows.items():
        print(
            f"  {method:<20} grad0 {np.mean([x['grad0'] for x in rs]):.3f}  "
            f"loss@1000 {np.mean([x['loss1000'] for x in rs]):.4f}  "
            f"final {np.mean([x['final'] for x in rs]):.4f}"
        )
    print("\ntargets:")
    print(
        f"  grad norm gradmax/random at first growth per seed: "
        f"{np.round(ratio_grad, 2).tolist()}  (>= 2 in every seed: {min(ratio_grad) >= 2})"
    )
    print(
        f"  loss@1000 gradmax/random per seed: {np.round(ratio_1000, 2).tolist()}; "
        f"ratio of means {mean_ratio:.2f}  (<= 0.6: {mean_ratio <= 0.6})"
    )
    print(f"  final loss lower than random in {wins}/{len(seeds)} seeds  (>= 4: {wins >= 4})")
    z, s = rows["zeros"], rows["small"]
    zdiff = max(float(np.abs(a["curve"] - b["curve"]).max()) for a, b in zip(z, s, strict=True))
    print(f"  zeros vs fixed small network: max |loss curve difference| = {zdiff:.2e}")
    change = max(x["max_change"] for rs in rows.values() for x in rs)
    dloss = max(x["max_loss_change"] for rs in rows.values() for x in rs)
    print(
        f"  max |output change| at any growth: {change:.2e} (float64), "
        f"max |loss_after - loss_before| {dloss:.2e}  (< 1e-6: {change < 1e-6})"
    )
    c = rows["gradmax_torch_relu"]
    cdiff = max(float(np.abs(a["curve"] - b["curve"]).max()) for a, b in zip(c, z, strict=True))
    print(
        f"  collapse: gradmax with torch.relu: grad0 {np.mean([x['grad0'] for x in c]):.2e}, "
        f"max |loss curve - zeros| = {cdiff:.2e}"
    )


def run_digits(seeds):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    common = dict(optimizer="sgd", lr=0.05, momentum=0.9, batch_size=64, max_epochs=40)
    results = {"gradmax": [], "random": [], "fixed64": []}
    for seed in seeds:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
        sc = StandardScaler().fit(Xtr)
        Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
        for name in results:
            if name == "fixed64":
                clf = GrowingMLP(hidden_layer_sizes=64, growth=None, random_state=seed, **common)
            else:
                clf = GrowingMLP(
                    hidden_layer_sizes=64,
                    initial_hidden_sizes=16,
                    grow_by=12,
                    grow_every=100,
                    growth=name,
                    random_state=seed,
                    **common,
                )
            clf.fit(Xtr, ytr)
            curve = np.asarray(clf.loss_curve_)
            results[name].append(
                {
                    "growth_phase_loss": curve[100:500].mean(),
                    "final_train_loss": curve[-21:].mean(),
                    "test_acc": clf.score(Xte, yte),
                    "change": max(
                        (r["max_output_change"] for r in clf.growth_history_), default=0.0
                    ),
                }
            )
    print(f"\n{'digits':<10}{'growth-phase loss':>20}{'final train loss':>18}{'test acc':>10}")
    for name, rs in results.items():
        print(
            f"{name:<10}{np.mean([r['growth_phase_loss'] for r in rs]):20.4f}"
            f"{np.mean([r['final_train_loss'] for r in rs]):18.4f}"
            f"{100 * np.mean([r['test_acc'] for r in rs]):10.2f}"
        )
    g, r, f = results["gradmax"], results["random"], results["fixed64"]
    not_worse = sum(
        a["growth_phase_loss"] <= b["growth_phase_loss"] for a, b in zip(g, r, strict=True)
    )
    acc_gap = 100 * (np.mean([a["test_acc"] for a in g]) - np.mean([b["test_acc"] for b in f]))
    print(f"  growth-phase loss (steps 100-500) gradmax <= random in {not_worse}/{len(seeds)}")
    print(f"  test accuracy gradmax - fixed64 = {acc_gap:+.2f} points (target >= -0.5)")
    print(f"  max |output change| at growth (float32): {max(a['change'] for a in g):.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--growth-scale", type=float, default=0.5)
    parser.add_argument("--teacher-seed", type=int, default=0)
    parser.add_argument("--vary-teacher", action="store_true")
    parser.add_argument("--skip-digits", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # tiny matrices: threads only add contention
    print(describe())
    seeds = list(range(args.seeds))
    t0 = time.perf_counter()
    teacher = "varied per seed" if args.vary_teacher else f"fixed (seed {args.teacher_seed})"
    print(f"teacher-student, growth_scale={args.growth_scale}, teacher {teacher}")
    rows = run_teacher_student(seeds, args.growth_scale, args.vary_teacher, args.teacher_seed)
    report_teacher_student(rows, seeds)
    if not args.skip_digits:
        run_digits(seeds)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
