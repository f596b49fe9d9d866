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
of 12 units, mini-batches of 64; gradmax vs random growth vs fixed 64- and
16-unit networks trained for the same number of steps, 10 seeds x 5-fold
stratified CV (every image is a test image once per seed). Criteria: the mean
batch training loss over the growth phase (first growth to ``grow_every`` steps
after the last), averaged over seeds, with per-seed wins; the CV accuracy gap to
the fixed 64-unit network, averaged over seeds, with its standard error.
Protocols (``DIGITS_PROTOCOLS``, ``--digits-protocol NAME|all``) differ in
optimizer, lr, growth schedule, epochs and an optional fixed second hidden
layer; by default ``sgd-early`` (one hidden layer, plain SGD lr 0.1, growth
after steps 25, 50, 75, 100, 40 epochs) and ``sgd-early-2layer`` (the same with
a fixed 64-unit second hidden layer after the grown one) run. With one hidden
layer and 10 classes GradMax is degenerate: 12 new units exceed the 10 output
directions, so its columns span the whole output space and the gradient norm of
the new weights equals random growth's in expectation. The second hidden layer
gives GradMax 64 output directions to choose from.

Run: ``python reproductions/reproduce_gradmax.py [--seeds 5] [--growth-scale 0.5] [--vary-teacher]
[--skip-teacher-student] [--skip-digits] [--digits-protocol NAME ...] [--digits-seeds 10]
[--digits-folds 5] [--growth-batch-size N]``

Recorded results: ``docs/reproductions/growing.rst``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

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


# Digits protocols. Every one grows the hidden layer 16 -> 64 in 4 events of 12 units
# and trains the fixed 64-unit (and 16-unit) network for the same number of steps.
# "hidden2" is the width of a second, fixed hidden layer after the grown one (None:
# one hidden layer). All are reported in docs/reproductions/growing.rst.
DIGITS_PROTOCOLS = {
    "momentum": dict(lr=0.05, momentum=0.9, grow_every=100, max_epochs=40, hidden2=None),
    "sgd": dict(lr=0.1, momentum=0.0, grow_every=100, max_epochs=40, hidden2=None),
    "sgd-lr0.05-every50": dict(lr=0.05, momentum=0.0, grow_every=50, max_epochs=40, hidden2=None),
    "sgd-lr0.01": dict(lr=0.01, momentum=0.0, grow_every=100, max_epochs=40, hidden2=None),
    "sgd-early": dict(lr=0.1, momentum=0.0, grow_every=25, max_epochs=40, hidden2=None),
    "sgd-early-100ep": dict(lr=0.1, momentum=0.0, grow_every=25, max_epochs=100, hidden2=None),
    "sgd-early-2layer": dict(lr=0.1, momentum=0.0, grow_every=25, max_epochs=40, hidden2=64),
    "momentum-2layer": dict(lr=0.05, momentum=0.9, grow_every=100, max_epochs=40, hidden2=64),
}
# The one-hidden-layer case and the two-layer case where GradMax is not degenerate.
DEFAULT_DIGITS_PROTOCOLS = ("sgd-early", "sgd-early-2layer")


def digits_model(name, protocol, seed, growth_batch_size):
    p = DIGITS_PROTOCOLS[protocol]
    common = dict(
        optimizer="sgd",
        lr=p["lr"],
        momentum=p["momentum"],
        batch_size=64,
        max_epochs=p["max_epochs"],
        random_state=seed,
    )

    def sizes(width):
        return width if p["hidden2"] is None else (width, p["hidden2"])

    if name.startswith("fixed"):
        return GrowingMLP(hidden_layer_sizes=sizes(int(name[5:])), growth=None, **common)
    return GrowingMLP(
        hidden_layer_sizes=sizes(64),
        initial_hidden_sizes=sizes(16),
        grow_by=sizes(12),  # the second layer starts at its final width: never grows
        grow_every=p["grow_every"],
        growth=name,
        growth_batch_size=growth_batch_size,
        **common,
    )


def run_digits(protocol, seeds, folds, growth_batch_size):
    """Stratified ``folds``-fold CV per seed; every image is tested once per seed.

    Per seed: growth-phase loss = mean batch training loss from the first growth to
    ``grow_every`` steps after the last (steps [g, 5g)), averaged over the folds'
    runs; accuracy = correct test predictions over all 1,797 images. All methods of
    a fold share ``random_state``, hence the mini-batch sequence.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    p = DIGITS_PROTOCOLS[protocol]
    g = p["grow_every"]
    X, y = load_digits(return_X_y=True)
    names = ["gradmax", "random", "fixed64", "fixed16"]
    per_seed = {name: [] for name in names}
    max_change = 0.0
    for seed in seeds:
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        runs = {name: [] for name in names}
        for k, (tr, te) in enumerate(cv.split(X, y)):
            sc = StandardScaler().fit(X[tr])
            Xtr, Xte = sc.transform(X[tr]), sc.transform(X[te])
            for name in names:
                clf = digits_model(name, protocol, 100 * seed + k, growth_batch_size)
                clf.fit(Xtr, y[tr])
                curve = np.asarray(clf.loss_curve_)
                h = [r for r in clf.growth_history_ if r["layer"] == 0]
                runs[name].append(
                    (
                        curve[g : 5 * g].mean(),
                        curve[-22:].mean(),
                        (clf.predict(Xte) == y[te]).sum(),
                        np.mean([r["grad_norm"] for r in h]) if h else np.nan,
                    )
                )
                max_change = max([max_change] + [r["max_output_change"] for r in h])
        for name in names:
            a = np.asarray(runs[name])
            per_seed[name].append(
                (a[:, 0].mean(), a[:, 1].mean(), a[:, 2].sum() / len(y), a[:, 3].mean())
            )
    res = {name: np.asarray(v) for name, v in per_seed.items()}
    print(
        f"\ndigits protocol {protocol!r}: {p}, batch 64, growth_batch_size={growth_batch_size}, "
        f"{len(seeds)} seeds x {folds}-fold CV; growth-phase loss over steps [{g}, {5 * g})"
    )
    print(
        f"{'':<9}{'growth-phase loss':>18}{'final train loss':>18}{'CV accuracy':>13}"
        f"{'grad norm at growth':>21}"
    )
    for name, a in res.items():
        print(
            f"{name:<9}{a[:, 0].mean():18.4f}{a[:, 1].mean():18.4f}{100 * a[:, 2].mean():12.2f}%"
            f"{a[:, 3].mean():21.4f}"
        )
    gm, rd, f64 = res["gradmax"], res["random"], res["fixed64"]
    d = gm[:, 0] - rd[:, 0]
    se = d.std(ddof=1) / np.sqrt(len(d))
    ratio = gm[:, 0].mean() / rd[:, 0].mean()
    print(
        f"  growth-phase loss gradmax/random: ratio of means {ratio:.3f}, paired difference "
        f"{d.mean():+.4f} +- {se:.4f} (SE), gradmax <= random in {(d <= 0).sum()}/{len(d)} seeds"
        f"  (target: mean no worse: {d.mean() <= 0})"
    )
    print(f"  per seed gradmax/random: {np.round(gm[:, 0] / rd[:, 0], 3).tolist()}")
    for name in ("gradmax", "random", "fixed16"):
        gap = 100 * (res[name][:, 2] - f64[:, 2])
        print(
            f"  CV accuracy {name} - fixed64 = {gap.mean():+.2f} +- "
            f"{gap.std(ddof=1) / np.sqrt(len(gap)):.2f} points (SE over seeds)"
            + (f"  (target >= -0.5: {gap.mean() >= -0.5})" if name == "gradmax" else "")
        )
    print(f"  max |output change| at growth (float32): {max_change:.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--growth-scale", type=float, default=0.5)
    parser.add_argument("--teacher-seed", type=int, default=0)
    parser.add_argument("--vary-teacher", action="store_true")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--skip-teacher-student", action="store_true")
    parser.add_argument(
        "--digits-protocol",
        choices=[*DIGITS_PROTOCOLS, "all"],
        action="append",
        help="digits protocol(s) to run (repeatable; default: "
        + ", ".join(DEFAULT_DIGITS_PROTOCOLS)
        + ")",
    )
    parser.add_argument("--digits-seeds", type=int, default=10)
    parser.add_argument("--digits-folds", type=int, default=5)
    parser.add_argument(
        "--growth-batch-size",
        type=int,
        default=None,
        help="GradMax sample size for the digits runs (default: the growth step's batch)",
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # tiny matrices: threads only add contention
    print(describe())
    seeds = list(range(args.seeds))
    t0 = time.perf_counter()
    if not args.skip_teacher_student:
        teacher = "varied per seed" if args.vary_teacher else f"fixed (seed {args.teacher_seed})"
        print(f"teacher-student, growth_scale={args.growth_scale}, teacher {teacher}")
        rows = run_teacher_student(seeds, args.growth_scale, args.vary_teacher, args.teacher_seed)
        report_teacher_student(rows, seeds)
    if not args.skip_digits:
        protocols = args.digits_protocol or DEFAULT_DIGITS_PROTOCOLS
        if "all" in protocols:
            protocols = list(DIGITS_PROTOCOLS)
        for protocol in protocols:
            run_digits(
                protocol, range(args.digits_seeds), args.digits_folds, args.growth_batch_size
            )
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
