"""The main job, ``python -m reprlign demo``: align MiniLM features to THINGS judgments.

Steps, all on the bundled THINGS noise-ceiling set (20,000 responses to 1,000
triplets) and bundled MiniLM features:

1. zero-shot odd-one-out accuracy (cosine) and KL to the human choice
   distributions (temperature fitted on the training folds);
2. a grid search over alignment strength (``reg``, ``local_weight``) of
   :class:`reprlign.HumanAlignTransformer` with grouped 5-fold CV (repeats of
   a triplet stay in one fold), scoring held-out accuracy and held-out KL;
3. the human noise ceiling;
4. a table on stdout and a PNG of accuracy against alignment strength.
"""

from __future__ import annotations

import time

import numpy as np

DEFAULT_REG = (0.1, 1.0, 10.0, 100.0)
DEFAULT_LOCAL_WEIGHT = (0.0, 0.1)


def held_out_kl(estimator, X, y=None):
    """Negative mean KL from the human choice distributions of ``X``'s triplets to the model's.

    ``X`` holds responses (repeats of a triplet answered by several people); they
    are pooled with :func:`reprlign.triplets.aggregate_triplets`. Usable as a
    scorer (greater is better).
    """
    from .triplets import aggregate_triplets, choice_kl

    unique, proba, _ = aggregate_triplets(X, y)
    return -choice_kl(proba, estimator.predict_proba(unique))


def zero_shot_cv(F, X, cv):
    """Per-fold zero-shot accuracy and KL (cosine, temperature fitted on the training fold)."""
    from .triplets import (
        aggregate_triplets,
        choice_kl,
        choice_probabilities,
        fit_temperature,
        odd_one_out_accuracy,
        triplet_similarities,
    )

    accs, kls = [], []
    for train, test in cv.split(X):
        u_tr, p_tr, c_tr = aggregate_triplets(X[train])
        T = fit_temperature(triplet_similarities(F, u_tr, similarity="cosine"), p_tr,
                            c_tr.sum(axis=1))
        u_te, p_te, _ = aggregate_triplets(X[test])
        accs.append(odd_one_out_accuracy(F, X[test], similarity="cosine"))
        kls.append(choice_kl(p_te, choice_probabilities(F, u_te, similarity="cosine",
                                                        temperature=T)))
    return np.array(accs), np.array(kls)


def run_demo(features="minilm-words", reg=DEFAULT_REG, local_weight=DEFAULT_LOCAL_WEIGHT,
             n_splits=5, output="reprlign_demo.png", random_state=0, n_jobs=None, verbose=True):
    """Run the demo; return a dict of the figures (also printed and plotted).

    Parameters
    ----------
    features : {"minilm-words", "minilm-definitions"}
        Bundled feature set.
    reg, local_weight : sequence of float
        The grid of alignment strength (gLocal's lambda and alpha).
    n_splits : int
        Folds of the grouped cross-validation.
    output : str or Path or None
        Where to write the PNG; None skips the plot. The plot needs matplotlib
        (``pip install "reprlign[plot]"``); without it an ``ImportError`` is raised
        before any fit, not after the work is done.
    random_state : int
        Seed of every fit.
    n_jobs : int or None
        Passed to GridSearchCV.
    verbose : bool
        Print the table.
    """
    import importlib.util

    if output is not None and importlib.util.find_spec("matplotlib") is None:
        raise ImportError(
            f"the demo writes its plot to {output} with matplotlib, which is not installed: "
            "pip install \"reprlign[plot]\" (or matplotlib), or pass output=None "
            "(--output none) to skip the plot"
        )
    say = print if verbose else (lambda *a, **k: None)
    return _run(features, reg, local_weight, n_splits, output, random_state, n_jobs, say,
                time.perf_counter())


def _run(features, reg, local_weight, n_splits, output, random_state, n_jobs, say, t0):
    from sklearn.model_selection import GridSearchCV

    from .alignment import HumanAlignTransformer
    from .datasets import load_things_features, load_things_triplets
    from .model_selection import TripletGroupKFold
    from .triplets import noise_ceiling

    data = load_things_triplets()
    F = load_things_features(features)
    X = data.triplets
    cv = TripletGroupKFold(n_splits)
    ceiling = noise_ceiling(X)
    zs_acc, zs_kl = zero_shot_cv(F, X, cv)
    say(f"THINGS noise-ceiling set: {len(X):,} responses to {len(data.unique_triplets):,} "
        f"triplets over {data.n_objects:,} concepts; features: {features} {F.shape}")
    say(f"human noise ceiling {ceiling:.3f}, chance 0.333; grouped {n_splits}-fold CV "
        "(repeats of a triplet stay in one fold)\n")

    grid = {"reg": [float(r) for r in reg], "local_weight": [float(a) for a in local_weight]}
    est = HumanAlignTransformer(F, random_state=random_state)
    search = GridSearchCV(est, grid, cv=cv, scoring={"accuracy": _accuracy, "kl": held_out_kl},
                          refit="accuracy", n_jobs=n_jobs)
    search.fit(X)
    res = search.cv_results_
    rows = []
    for i, params in enumerate(res["params"]):
        rows.append({
            "reg": params["reg"], "local_weight": params["local_weight"],
            "accuracy": res["mean_test_accuracy"][i], "accuracy_sd": res["std_test_accuracy"][i],
            "kl": -res["mean_test_kl"][i],
        })
    best = search.best_index_
    say(f"{'transform':<28}{'held-out acc':>14}{'+/- sd':>9}{'held-out KL':>13}")
    say(f"{'zero-shot (cosine)':<28}{zs_acc.mean():>14.3f}{zs_acc.std():>9.3f}"
        f"{zs_kl.mean():>13.3f}")
    for i, r in enumerate(rows):
        name = f"reg={r['reg']:g}, local={r['local_weight']:g}" + (" *" if i == best else "")
        say(f"{name:<28}{r['accuracy']:>14.3f}{r['accuracy_sd']:>9.3f}{r['kl']:>13.3f}")
    result = {
        "features": features, "noise_ceiling": ceiling, "chance": 1 / 3, "n_splits": n_splits,
        "zero_shot_accuracy": float(zs_acc.mean()), "zero_shot_kl": float(zs_kl.mean()),
        "grid": rows, "best_params": search.best_params_,
        "best_accuracy": float(res["mean_test_accuracy"][best]),
        "best_kl": float(-res["mean_test_kl"][best]),
        "temperature": float(search.best_estimator_.temperature_),
    }
    say(f"\n* selected by CV accuracy: {search.best_params_}; held-out accuracy "
        f"{result['best_accuracy']:.3f} (zero-shot {result['zero_shot_accuracy']:.3f}), "
        f"held-out KL {result['best_kl']:.3f} (zero-shot {result['zero_shot_kl']:.3f}); "
        f"the refit's temperature {result['temperature']:.3g}")
    if output is not None:
        _plot(result, output)
        say(f"plot written to {output}")
    result["seconds"] = time.perf_counter() - t0
    say(f"done in {result['seconds']:.0f} s")
    return result


def _accuracy(estimator, X, y=None):
    return estimator.score(X, y)


def _plot(result, output):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.4))
    rows = result["grid"]
    for k, lw in enumerate(sorted({r["local_weight"] for r in rows})):
        sel = sorted((r for r in rows if r["local_weight"] == lw), key=lambda r: r["reg"])
        ax.errorbar([r["reg"] for r in sel], [r["accuracy"] for r in sel],
                    yerr=[r["accuracy_sd"] for r in sel], marker="o", capsize=3, color=f"C{k}",
                    label=f"aligned, local_weight={lw:g}" + (" (global)" if lw == 0 else ""))
    best = result["best_params"]
    ax.plot([best["reg"]], [result["best_accuracy"]], marker="*", markersize=16, color="gold",
            markeredgecolor="k", linestyle="none", zorder=5,
            label=f"selected: reg={best['reg']:g}, local_weight={best['local_weight']:g} "
                  f"({result['best_accuracy']:.3f})")
    ax.axhline(result["noise_ceiling"], color="C3", label=f"noise ceiling "
               f"({result['noise_ceiling']:.3f})")
    ax.axhline(result["zero_shot_accuracy"], color="0.3", linestyle="--",
               label=f"zero-shot ({result['zero_shot_accuracy']:.3f})")
    ax.axhline(result["chance"], color="k", linestyle=":", label="chance (1/3)")
    ax.set_xscale("log")
    ax.set_xlabel("reg (pull toward the original representation; larger = weaker alignment)")
    ax.set_ylabel("held-out odd-one-out accuracy\n(mean over folds; bars: ± 1 SD across folds)")
    ax.set_title(f"THINGS, {result['features']}: grouped {result['n_splits']}-fold CV accuracy "
                 "vs alignment strength")
    ax.set_ylim(0.3, max(0.7, result["noise_ceiling"] + 0.05))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)
