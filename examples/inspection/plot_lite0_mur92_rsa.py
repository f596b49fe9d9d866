"""
Every block of a pretrained CNN against people and IT (92 images)
=================================================================

Khaligh-Razavi & Kriegeskorte (2014) found that the deeper layers of
ImageNet-trained CNNs explain the representation of the 92 object images of
Kriegeskorte et al. (2008) in inferior temporal cortex (IT) best, and people's
similarity judgments of them too. Here every block of EfficientNet-Lite0
(:func:`reprlign.inspection.load_efficientnet_lite`) is compared with the
judgments of 16 people (Mur et al. 2013) and with the human and monkey IT RDMs,
with the statistics such claims need:

* an interval per layer from resampling the *images* (a stimulus bootstrap);
* the people's noise ceiling (Nili et al. 2014): how well the people predict
  each other, the most any model can be expected to reach;
* a permutation test for the best layer, corrected for having picked the best
  of all layers.
"""

# %%
# The network, its preprocessing and the features of every block
# ---------------------------------------------------------------
# The loader gives the model in eval mode, its own preprocessing (bicubic
# resize to 224 pixels, pixels scaled to [-1, 1]; ``crop=1.0`` keeps the whole
# image, since each object fills its frame) and the names of its 16 MBConv
# blocks. :class:`reprlign.FeatureExtractor` hooks them by name and averages
# each block's output over space (``pooling="mean"``, global average pooling).
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import rankdata

from reprlign import FeatureExtractor
from reprlign.datasets import load_mur92
from reprlign.inspection import load_efficientnet_lite
from reprlign.measures import compare_rdms, permutation_test, rdm, rdm_noise_ceiling

data = load_mur92()
net = load_efficientnet_lite("lite0", crop=1.0)
layers = net.blocks + [net.head]
labels = [str(i) for i in range(len(net.blocks))] + ["head"]
fx = FeatureExtractor(net.model, layers, pooling="mean", preprocess=net.preprocess,
                      batch_size=46)
features = fx.fit(data.images).extract(data.images)
print({label: features[layer].shape[1] for label, layer in zip(labels, layers, strict=True)})

# One RDM per layer: 1 - Pearson correlation between the images' feature vectors.
model_rdms = np.stack([rdm(features[layer], "correlation", square=True) for layer in layers])
people = data.behavior_rdms  # (16, 92, 92)
targets = {"mean of the people": None, "monkey IT": data.brain_rdms[0],
           "human IT": data.brain_rdms[1]}

# %%
# RSA with a stimulus bootstrap
# -----------------------------
# Against the people, the score of a layer is the mean over the 16 people of
# the Spearman correlation between its RDM and theirs (the quantity the noise
# ceiling bounds). Each resample draws 92 images with replacement and keeps
# the pairs of distinct images; the *same* resamples serve every layer and
# target, so the profiles can be compared. Spearman is the Pearson correlation
# of ranks, computed for all RDMs of a resample at once.
n = len(data.images)


def spearman_all(A, B):
    """Spearman correlation of every row of A with every row of B."""
    ra, rb = rankdata(A, axis=1), rankdata(B, axis=1)
    ra = (ra - ra.mean(1, keepdims=True)) / np.linalg.norm(ra - ra.mean(1, keepdims=True),
                                                           axis=1, keepdims=True)
    rb = (rb - rb.mean(1, keepdims=True)) / np.linalg.norm(rb - rb.mean(1, keepdims=True),
                                                           axis=1, keepdims=True)
    return ra @ rb.T


def scores(a, b):
    """(layers, 3): mean over people, monkey IT, human IT, on the image pairs (a, b)."""
    S = spearman_all(model_rdms[:, a, b], np.concatenate([people[:, a, b],
                                                          data.brain_rdms[:, a, b]]))
    return np.column_stack([S[:, :16].mean(axis=1), S[:, 16:]])


iu = np.triu_indices(n, 1)
value = scores(*iu)
rng = np.random.RandomState(0)
boot = []
for _ in range(200):
    idx = rng.randint(0, n, n)
    a, b = idx[iu[0]], idx[iu[1]]
    boot.append(scores(a[a != b], b[a != b]))
low, high = np.quantile(boot, [0.025, 0.975], axis=0)
assert np.isclose(value[0, 2], compare_rdms(model_rdms[0], data.brain_rdms[1]))  # same Spearman

ceiling = rdm_noise_ceiling(people, method="spearman")
for label, v, lo, hi in zip(labels, value[:, 0], low[:, 0], high[:, 0], strict=True):
    print(f"block {label:>4s}: {v:.3f} [{lo:.3f}, {hi:.3f}]")
print(f"noise ceiling of the people: [{ceiling.lower:.3f}, {ceiling.upper:.3f}]")

# %%
# Is the best layer better than chance, and better than the last block?
# ---------------------------------------------------------------------
# :func:`~reprlign.measures.permutation_test` relabels the images of one RDM;
# picking the best of 17 layers first makes that p-value optimistic, so the
# corrected test compares the best score with the null distribution of the
# *maximum over layers*, each permutation applied to every layer at once. The
# bootstrap resamples above give an interval for the drop after the best layer.
mean_people = people.mean(axis=0)
V = model_rdms[:, iu[0], iu[1]]
r_mean = spearman_all(V, mean_people[iu][None])[:, 0]
best = int(np.argmax(r_mean))
observed = r_mean[best]
single = permutation_test("compare_rdms", model_rdms[best], mean_people, method="spearman",
                          n_permutations=200, random_state=0)
max_null = [spearman_all(V, mean_people[np.ix_(p, p)][iu][None]).max()
            for p in (rng.permutation(n) for _ in range(200))]
p_max = (1 + np.sum(np.array(max_null) >= observed)) / (1 + len(max_null))
drop = np.array(boot)[:, best, 0] - np.array(boot)[:, len(net.blocks) - 1, 0]
print(f"best layer: block {labels[best]}; against the mean human RDM r = {observed:.3f}, "
      f"p = {single.p_value:.3f} (alone), p = {p_max:.3f} (best of {len(layers)} layers)")
print(f"drop to the last block: {value[best, 0] - value[len(net.blocks) - 1, 0]:.3f} "
      f"[{np.quantile(drop, 0.025):.3f}, {np.quantile(drop, 0.975):.3f}]")

# %%
# The figure
# ----------
# Agreement with people and with IT rises with depth, peaks at block 14 and
# falls at the last block and the pooled head, the layers most shaped by the
# ImageNet labels. Even the best block stays well below the people's noise
# ceiling (grey band).
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True, layout="constrained")
x = np.arange(len(labels))
for c, (ax, name) in enumerate(zip(axes, targets, strict=True)):
    if c == 0:
        ax.axhspan(ceiling.lower, ceiling.upper, color="0.85", label="noise ceiling")
    ax.errorbar(x, value[:, c], yerr=[value[:, c] - low[:, c], high[:, c] - value[:, c]],
                fmt="o-", color="tab:blue", capsize=2, ms=4)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel("EfficientNet-Lite0 block")
    ax.set_title(f"RSA with {name}")
axes[0].set_ylabel("Spearman correlation of RDMs")
axes[0].legend(loc="upper left")
plt.show()
