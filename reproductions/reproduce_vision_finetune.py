"""Fine-tune EfficientNet-Lite0's last blocks toward people's RDM, cross-validated over images.

The 92 object images of Kriegeskorte et al. (2008) with the similarity judgments of 16 people
(Mur et al. 2013, :func:`reprlign.datasets.load_mur92`); the network is EfficientNet-Lite0
(``pip install "reprlign[vision]"``), its own preprocessing on the whole image (``crop=1.0``).
Folds over *images* (4 folds: 69 training and 23 held-out images); nothing of a held-out image,
not even its pairs with training images, is used in training. Compared on the held-out images:

* ``pretrained``: the layer's global-average-pooled features;
* ``linear``: a :class:`reprlign.HumanAlignTransformer` (gLocal) on those features, fitted to
  odd-one-out triplets drawn from the people's RDMs among the training images
  (:func:`reprlign.triplets.rdm_triplets`, as in ``reproduce_vision_mur92.py --part triplets``),
  stopping early on a tenth of them;
* :class:`reprlign.HumanAlignFinetuner` with ``loss="soft_rsa"`` toward the people's mean RDM of
  the training images (``reference_kind="rdm"``): a linear head only (``train_params=0``), the
  layer's block plus the head (``1``), the last two blocks plus the head (``2``); and the
  layer's block plus the head fitted to the linear baseline's triplets with the triplet KL loss
  (AligNet's objective on the same data). Every fine-tuning run pulls the weights toward the
  pretrained ones (``reg``), keeps batch norm on its stored statistics, and stops early on an
  inner split of the training images (``validation_split="objects"``: a quarter of them held
  out, the loss on their RDM).

Deterministic for a given ``--seed`` and ``--threads``: every estimator gets a fixed
``random_state``, and torch runs its deterministic kernels
(``torch.use_deterministic_algorithms``): on more than one CPU thread some of torch's kernels
otherwise accumulate in an order that varies from run to run, and early stopping can turn a
last-digit difference into several points of held-out RSA on a fold. The figures change
(slightly) with the number of threads.

Measured on the held-out images of each fold: the Spearman correlation of the images' RDM
(1 - Pearson) with the people's mean RDM, and the mean over the 16 people of the correlation with
each person's RDM, averaged over the folds; 95% intervals from stimulus bootstrap resamples (the
held-out images of every fold drawn with replacement, pairs of an image with its own copy left
out), paired between methods; the people's noise ceiling on the same held-out images (Nili et
al. 2014); the RSA on the training images (how much each method fits them); the training cost.

Run: ``flock /tmp/reprlign-bench.lock python reproductions/reproduce_vision_finetune.py``
(block 14; ``--layers b14 head`` adds the 1,280-d pooled head, about twice the time).

Recorded results: ``docs/reproductions/vision.rst``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import KFold
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _machine import describe  # noqa: E402
from reproduce_vision_mur92 import features, pairs_of, unit_ranks  # noqa: E402

from reprlign import HumanAlignFinetuner, HumanAlignTransformer  # noqa: E402
from reprlign.datasets import load_mur92  # noqa: E402
from reprlign.inspection import load_efficientnet_lite  # noqa: E402
from reprlign.measures import compare_rdms, rdm, rdm_noise_ceiling  # noqa: E402
from reprlign.triplets import rdm_triplets  # noqa: E402

FIGURE = Path(__file__).resolve().parents[1] / "docs/reproductions/images/vision_finetune.png"

# name -> (train_params, loss); None: not fine-tuned.
METHODS = {
    "pretrained": None,
    "linear (triplets)": None,
    "head, soft RSA": (0, "soft_rsa"),
    "top block + head, soft RSA": (1, "soft_rsa"),
    "top 2 blocks + head, soft RSA": (2, "soft_rsa"),
    "top block + head, triplet KL": (1, "kl"),
}


class Lite0Trunk(nn.Module):
    """EfficientNet-Lite0 from the pixels to one layer, averaged over space.

    ``blocks`` lists the stem, the MBConv blocks up to the layer (and, for the ``"head"``
    layer, the 1x1 head convolution), so that ``HumanAlignFinetuner(train_params=k)`` trains the
    top ``k`` of them and caches the output of the rest. Batch norm always runs on its stored
    ImageNet statistics: 69 images are too few to re-estimate them, and training then optimises
    exactly the function that is evaluated.
    """

    def __init__(self, model, layer):
        super().__init__()
        stem = nn.Sequential(model._conv_stem, model._bn0, model._swish)
        if layer == "head":
            top = nn.Sequential(model._conv_head, model._bn1, model._swish)
            parts = [stem, *model._blocks, top]
        else:
            parts = [stem, *model._blocks[:int(layer.removeprefix("b")) + 1]]
        self.blocks = nn.ModuleList(parts)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)  # (drop connect is a training regulariser of ImageNet: not used)
        return x.mean(dim=(2, 3))

    def train(self, mode=True):
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self


def finetuner(trunk, X, target, train_params, loss, args, seed):
    return HumanAlignFinetuner(
        trunk, inputs=X, train_params=train_params, blocks="blocks", loss=loss,
        reference=target if loss == "soft_rsa" else None, reference_kind="rdm",
        temperature=1.0 if loss == "soft_rsa" else "fit", reg=args.reg, lr=args.lr,
        lr_schedule="constant", max_epochs=args.max_epochs, n_iter_no_change=args.patience,
        batching="objects", batch_objects=len(X), validation_split="objects",
        validation_fraction=args.validation_fraction, random_state=seed)


def fit_fold(args, trunk, X, F, people, tr, te, fold):
    """Held-out and training embeddings of every method on one fold, and their cost."""
    H = people.mean(axis=0)
    t_lin, y_lin = rdm_triplets(people, args.n_train_triplets, objects=tr,
                                temperature=args.temperature, random_state=fold)
    every = np.array(list(itertools.combinations(tr, 3)))  # soft RSA: which images train together
    out, cost = {"pretrained": (F[te], F[tr])}, {}
    t0 = time.perf_counter()
    lin = HumanAlignTransformer(F, local_features=F[tr], batch_size=None, lr=1e-2,
                                max_epochs=300, early_stopping=True,
                                random_state=fold).fit(t_lin, y_lin)
    Z = lin.transform(F)
    out["linear (triplets)"] = (Z[te], Z[tr])
    cost["linear (triplets)"] = (time.perf_counter() - t0, lin.n_epochs_, lin.best_epoch_,
                                 F.shape[1] ** 2 + F.shape[1])
    for name, spec in METHODS.items():
        if spec is None or name not in args.methods:
            continue
        k, loss = spec
        t0 = time.perf_counter()
        est = finetuner(trunk, X, H, k, loss, args, fold)
        if loss == "soft_rsa":
            est.fit(every)
        else:
            est.fit(t_lin, y_lin)
        seconds = time.perf_counter() - t0
        n_params = sum(p.numel() for p in est.net_.module_.parameters() if p.requires_grad)
        cost[name] = (seconds, est.n_epochs_, est.best_epoch_, n_params)
        out[name] = (est.transform(te), est.transform(tr))
        print(f"  fold {fold} {name:30s} {seconds:5.0f} s, {est.n_epochs_:3d} epochs "
              f"(best {est.best_epoch_}), {est.n_split_dropped_} triplets across the inner "
              f"split left out", flush=True)
    return out, cost


def scores(models, humans, people, a, b):
    """(methods, 2): Spearman with the mean human RDM and mean over people, on pairs (a, b)."""
    M = unit_ranks(np.stack([R[a, b] for R in models]))
    h = unit_ranks(humans[a, b])[0]
    P = unit_ranks(people[:, a, b])
    return np.column_stack([M @ h, (M @ P.T).mean(axis=1)])


def evaluate(args, names, folds, embeddings, people):
    """Cross-validated held-out scores with bootstrap intervals, and the people's ceiling."""
    H = people.mean(axis=0)
    per_fold = []
    for f, (_, te) in enumerate(folds):
        sub = np.ix_(te, te)
        per_fold.append(([rdm(embeddings[name][f][0], square=True) for name in names], H[sub],
                         people[:, te][:, :, te]))
    sizes = [len(te) for _, te in folds]
    value = np.stack([scores(*fold, *np.triu_indices(n, 1))  # (folds, methods, 2)
                      for fold, n in zip(per_fold, sizes, strict=True)])
    check = compare_rdms(per_fold[0][0][0], per_fold[0][1], "spearman")
    assert np.isclose(value[0, 0, 0], check)  # the vectorised Spearman is compare_rdms'
    rng = np.random.RandomState(args.seed)
    boot = np.empty((args.n_bootstrap, len(names), 2))
    for i in range(args.n_bootstrap):
        boot[i] = np.mean([scores(*fold, *pairs_of(rng.randint(0, n, n), n))
                           for fold, n in zip(per_fold, sizes, strict=True)], axis=0)
    ceilings = [rdm_noise_ceiling(fold[2], "spearman") for fold in per_fold]
    ceiling = (np.mean([c.lower for c in ceilings]), np.mean([c.upper for c in ceilings]))
    train_rsa = np.array([np.mean([compare_rdms(rdm(embeddings[name][f][1], square=True),
                                                H[np.ix_(tr, tr)])
                                   for f, (tr, _) in enumerate(folds)]) for name in names])
    return value, boot, ceiling, train_rsa


def report(layer, names, value, boot, ceiling, train_rsa, costs):
    mean = value.mean(axis=0)
    low, high = np.quantile(boot, [0.025, 0.975], axis=0)
    print(f"\n{layer}: RSA on held-out images (mean over folds) [95% stimulus bootstrap]")
    print(f"{'method':32s}{'mean human RDM':>24s}{'people (mean)':>24s}"
          f"{'per fold (mean human)':>30s}{'train imgs':>11s}")
    for m, name in enumerate(names):
        cells = "".join(f"{mean[m, c]:8.3f} [{low[m, c]:5.3f},{high[m, c]:6.3f}]"
                        for c in range(2))
        folds = " ".join(f"{v:.3f}" for v in value[:, m, 0])
        print(f"{name:32s}{cells}   {folds:>28s}{train_rsa[m]:10.3f}")
    print(f"people's noise ceiling on the held-out images (mean over folds): lower "
          f"{ceiling[0]:.3f}, upper {ceiling[1]:.3f}")
    print("paired differences (mean human RDM; people) [95% bootstrap]; folds better:")
    ref = {"pretrained": 0, "linear (triplets)": 1}
    for m, name in enumerate(names[2:], start=2):
        for other, r in ref.items():
            d = mean[m] - mean[r]
            dl, dh = np.quantile(boot[:, m] - boot[:, r], [0.025, 0.975], axis=0)
            wins = int((value[:, m, 0] > value[:, r, 0]).sum())
            print(f"  {name:30s} - {other:18s} {d[0]:+.3f} [{dl[0]:+.3f}, {dh[0]:+.3f}]; "
                  f"{d[1]:+.3f} [{dl[1]:+.3f}, {dh[1]:+.3f}]; {wins}/{len(value)}")
    print("training cost per fold (mean): wall seconds, epochs run, best epoch, trained "
          "parameters")
    for name, rows in costs.items():
        c = np.mean(rows, axis=0)
        print(f"  {name:30s} {c[0]:6.0f} s {c[1]:6.0f} {c[2]:6.0f} {int(c[3]):>10,d}")


def figure(path, results, ceilings):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for c, (ax, title) in enumerate(zip(axes, ("mean human RDM", "people (mean over 16)"),
                                        strict=True)):
        for j, layer in enumerate(layers):
            names, value, boot = results[layer]
            x = np.arange(len(names)) + (j - (len(layers) - 1) / 2) * 0.3
            mean = value[:, :, c].mean(axis=0)
            low, high = np.quantile(boot[:, :, c], [0.025, 0.975], axis=0)
            ax.errorbar(x, mean, yerr=[mean - low, high - mean], fmt="o", capsize=3,
                        label=f"features of {layer}; grey: each fold")
            for f in range(value.shape[0]):
                ax.plot(x + 0.08, value[f, :, c], ".", color="0.6", ms=3)
            if c == 1:
                lo, hi = ceilings[layer]
                ax.axhspan(lo, hi, color="0.85", zorder=0,
                           label="noise ceiling" if j == 0 else None)
        ax.set_xticks(np.arange(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"held-out images: RSA with the {title}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(f"Spearman correlation (mean over {value.shape[0]} folds)")
    axes[1].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"figure written to {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", nargs="+", default=["b14"],
                    help="b<i> (output of MBConv block i) or head (the 1,280-d pooled head)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--crop", type=float, default=1.0)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--reg", type=float, default=1e-3)
    ap.add_argument("--max-epochs", type=int, default=150)
    ap.add_argument("--patience", type=int, default=20)
    ap.add_argument("--validation-fraction", type=float, default=0.25)
    ap.add_argument("--n-train-triplets", type=int, default=20_000)
    ap.add_argument("--temperature", type=float, default=0.1)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--figure", default=str(FIGURE),
                    help="written after each layer; '' for none")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    print(describe())
    t_all = time.perf_counter()
    data = load_mur92()
    people = data.behavior_rdms
    net = load_efficientnet_lite("lite0", crop=args.crop)
    with torch.no_grad():
        X = net.preprocess(torch.from_numpy(data.images))
    folds = list(KFold(args.folds, shuffle=True, random_state=args.seed).split(X))
    print(f"{args.folds}-fold CV over the 92 images ({len(folds[0][0])} training, "
          f"{len(folds[0][1])} held out); fine-tuning: lr {args.lr} (Adam, constant), reg "
          f"{args.reg}, at most {args.max_epochs} epochs of one full-batch step, early stopping "
          f"(patience {args.patience}) on {args.validation_fraction:.0%} of the training images")
    reference = features(net, data.images)
    results, ceilings = {}, {}
    for layer in args.layers:
        trunk = Lite0Trunk(net.model, layer).eval()
        with torch.no_grad():
            F = trunk(X).double().numpy()
        # The trunk computes what FeatureExtractor extracts at that layer.
        np.testing.assert_allclose(F, reference[layer], rtol=1e-4, atol=1e-4)
        names = [n for n in METHODS if n in args.methods or METHODS[n] is None]
        embeddings = {n: [] for n in names}
        costs = {}
        print(f"\n== {layer} ({F.shape[1]}-d) ==")
        for f, (tr, te) in enumerate(folds):
            out, cost = fit_fold(args, trunk, X, F, people, tr, te, f)
            for n in names:
                embeddings[n].append(out[n])
            for n, c in cost.items():
                costs.setdefault(n, []).append(c)
        value, boot, ceiling, train_rsa = evaluate(args, names, folds, embeddings, people)
        report(layer, names, value, boot, ceiling, train_rsa, costs)
        results[layer], ceilings[layer] = (names, value, boot), ceiling
        if args.figure:
            figure(args.figure, results, ceilings)
    print(f"\ntotal wall time {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
