"""
A CNN's layers against human judgments and human IT (92 images)
===============================================================

The 92 object images of Kriegeskorte et al. (2008) come with the similarity
arrangements of 16 people (Mur et al. 2013) and the RDM of human inferior
temporal cortex (hIT). Here each image goes through a small convolutional
network with :class:`reprlign.FeatureExtractor`, every layer gives an RDM, and
each layer is compared with the people and with hIT by RSA (Spearman
correlation of correlation-distance RDMs), with bootstrap intervals over
images and the human noise ceiling (Nili et al. 2014), all from
:mod:`reprlign.measures`.

The network is randomly initialised (nothing is downloaded), which makes it a
useful baseline: how much of the human structure is already in random
convolutional features of colour and shape? A trained network goes through
the same code.
"""

# %%
# Features of every layer
# -----------------------
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.spatial.distance import squareform
from scipy.stats import rankdata
from torch import nn

from reprlign import FeatureExtractor
from reprlign.datasets import load_mur92
from reprlign.measures import bootstrap, compare_rdms, rdm, rdm_noise_ceiling
from reprlign.plotting import plot_rdm

torch.manual_seed(0)
data = load_mur92()
people = data.behavior_rdms  # (16, 92, 92)
hit = data.brain_rdms[data.brain_rdm_names.index("hIT")]


def block(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out),
                         nn.ReLU())


net = nn.Sequential(block(3, 16), block(16, 32), block(32, 64), block(64, 64),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 32)).eval()


def preprocess(batch):
    """uint8 (b, 175, 175, 3) images -> float (b, 3, 64, 64), per-channel standardised."""
    x = batch.permute(0, 3, 1, 2).float() / 255.0
    x = nn.functional.interpolate(x, size=(64, 64), mode="area")
    return (x - 0.45) / 0.25


layers = ["0", "1", "2", "3", "6"]
names = ["conv1", "conv2", "conv3", "conv4", "linear"]
fx = FeatureExtractor(net, layers, pooling="flatten", preprocess=preprocess, batch_size=32)
features = fx.fit(data.images).extract(data.images)
for name, layer in zip(names, layers, strict=True):
    print(f"{name:7s} {features[layer].shape}")

# Pixels (the downsampled input) as a baseline representation.
with torch.no_grad():
    pixels = preprocess(torch.from_numpy(data.images)).flatten(1).numpy()
reps = {"pixels": pixels} | {n: features[k] for n, k in zip(names, layers, strict=True)}

# %%
# RDMs, stimuli labelled by category
# ----------------------------------
# The images are sorted by category, so :func:`~reprlign.plotting.plot_rdm`
# labels each block once. hIT separates faces and bodies from objects; the
# random network's last convolution mostly follows colour and shape.
cats = dict(zip(data.category_labels, data.category_vectors.T.astype(bool), strict=True))
category = np.where(cats["animate"],
                    np.where(cats["human"], "human ", "animal ").astype(object)
                    + np.where(cats["face"], "face", "body"),
                    np.where(cats["natObj"], "natural object", "artificial object"))
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
plot_rdm(rankdata(squareform(hit, checks=False)), labels=category, ax=axes[0],
         colorbar_label="dissimilarity (rank)")
axes[0].set_title("human IT")
plot_rdm(rankdata(rdm(features["3"], "correlation")), labels=category, ax=axes[1],
         colorbar_label="dissimilarity (rank)")
axes[1].set_title("conv4 of the random network")
plt.show()

# %%
# RSA with bootstrap intervals and the noise ceiling
# ---------------------------------------------------
# Against the people: the mean over the 16 people of the Spearman correlation
# between the layer's RDM and the person's, with a percentile interval from
# half-samples of the images drawn without replacement (as
# :func:`~reprlign.measures.bootstrap` draws them by default). Against hIT: the
# same comparison with the one hIT RDM, through :func:`~reprlign.measures.bootstrap`.
n = len(data.images)
ii, jj = np.triu_indices(n // 2, 1)  # pairs within a half-sample
rng = np.random.RandomState(0)
resamples = [rng.permutation(n)[: n // 2] for _ in range(200)]


def mean_over_people(model_rdm):
    value = np.mean([compare_rdms(model_rdm, p) for p in people])
    boots = []
    for idx in resamples:
        a, b = idx[ii], idx[jj]
        boots.append(np.mean([compare_rdms(model_rdm[a, b], p[a, b]) for p in people]))
    return value, *np.quantile(boots, [0.025, 0.975])


rows = []
for name, F in reps.items():
    R = rdm(F, "correlation", square=True)
    human = mean_over_people(R)
    brain = bootstrap("compare_rdms", R, hit, method="spearman", n_bootstrap=200, random_state=0)
    rows.append((name, human, (brain.value, brain.low, brain.high)))
    print(f"{name:7s} people {human[0]:.3f} [{human[1]:.3f}, {human[2]:.3f}]   "
          f"hIT {brain.value:.3f} [{brain.low:.3f}, {brain.high:.3f}]")

ceiling = rdm_noise_ceiling(people, method="spearman")
hit_vs_people = np.mean([compare_rdms(hit, p) for p in people])
print(f"noise ceiling of the people: [{ceiling.lower:.3f}, {ceiling.upper:.3f}]; "
      f"hIT itself predicts the people at {hit_vs_people:.3f}")

# %%
# The figure
# ----------
# Grey band: the people's noise ceiling (lower bound: a person predicted by the
# others). Dashed line: how well hIT itself predicts the people.
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", sharey=True)
x = np.arange(len(rows))
for ax, k, title in [(axes[0], 1, "16 people's similarity judgments"), (axes[1], 2, "human IT")]:
    vals = np.array([r[k] for r in rows])
    ax.bar(x, vals[:, 0], color="tab:blue")
    ax.errorbar(x, vals[:, 0], yerr=[vals[:, 0] - vals[:, 1], vals[:, 2] - vals[:, 0]],
                fmt="none", color="black", capsize=3)
    ax.set_xticks(x, [r[0] for r in rows], rotation=30)
    ax.set_title(f"RSA with {title}")
    ax.axhline(0, color="black", lw=0.8)
axes[0].axhspan(ceiling.lower, ceiling.upper, color="grey", alpha=0.3, label="noise ceiling")
axes[0].axhline(hit_vs_people, color="tab:red", ls="--", label="hIT")
axes[0].legend()
axes[0].set_ylabel("Spearman correlation of RDMs")
plt.show()
