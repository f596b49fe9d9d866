"""
Aligning a pretrained CNN to people's RDMs, tested on new images
================================================================

Odd-one-out methods such as gLocal (:class:`reprlign.HumanAlignTransformer`)
learn from triplets, while many human data sets are dissimilarity matrices
(RDMs): here, 16 people's arrangements of the 92 object images.
:func:`reprlign.triplets.rdm_triplets` turns RDMs into odd-one-out triplets
with choice probabilities: for images ``i, j, k`` the odd one out is drawn from
``softmax(-[d_jk, d_ik, d_ij] / T)``, averaged over the people.

The test that matters is on *new images*: the images are split into folds,
the transform learns from triplets among the training images only, and it is
scored on triplets among the held-out images, against the people's consensus
there, and by RSA with the people's mean RDM of the held-out images.
"""

# %%
# Block 14 of EfficientNet-Lite0, the block closest to people
# -----------------------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from scipy.spatial.distance import squareform
from scipy.stats import rankdata
from sklearn.model_selection import KFold

from reprlign import FeatureExtractor, HumanAlignTransformer
from reprlign.datasets import load_mur92
from reprlign.inspection import load_efficientnet_lite
from reprlign.measures import compare_rdms, rdm
from reprlign.plotting import plot_rdm
from reprlign.triplets import odd_one_out_accuracy, rdm_triplets

data = load_mur92()
net = load_efficientnet_lite("lite0", crop=1.0)
fx = FeatureExtractor(net.model, "_blocks.14", preprocess=net.preprocess, batch_size=46)
F = fx.fit(data.images).transform(data.images).astype(np.float64)  # (92, 192)
people = data.behavior_rdms
mean_human = people.mean(axis=0)

# %%
# Triplets from the RDMs, split by images
# ---------------------------------------
# ``objects=`` draws triplets among the given images only (indices stay those
# of the 92-image table). Training: 5,000 random triplets among the training
# images, with the people's mean choice distribution at ``T = 0.3`` (in units
# of each person's spread of dissimilarities). Test: every triplet of the
# held-out images, with the consensus (the share of people whose closest pair
# is each pair, ``T = 0``) as the answer.
print(f"Training on triplets of {len(F) * 3 // 4} images, testing on triplets of the others")
results = []
for fold, (train_img, test_img) in enumerate(KFold(4, shuffle=True, random_state=0).split(F)):
    X_train, y_train = rdm_triplets(people, 5000, objects=train_img, temperature=0.3,
                                    random_state=fold)
    X_test, y_test = rdm_triplets(people, objects=test_img, temperature=0)
    est = HumanAlignTransformer(F, local_features=F[train_img], batch_size=None, lr=1e-2,
                                max_epochs=300, early_stopping=True,
                                random_state=fold).fit(X_train, y_train)
    Z = est.transform(F)
    held_out = np.ix_(test_img, test_img)
    results.append({
        "raw accuracy": odd_one_out_accuracy(F, X_test, similarity="cosine"),
        "aligned accuracy": est.score(X_test),
        "raw RSA": compare_rdms(rdm(F[test_img]), mean_human[held_out]),
        "aligned RSA": compare_rdms(rdm(Z[test_img]), mean_human[held_out]),
    })
    print(f"fold {fold}: {len(X_test)} held-out triplets; " + ", ".join(
        f"{k} {v:.3f}" for k, v in results[-1].items()))
mean = {k: np.mean([r[k] for r in results]) for k in results[0]}
print("mean over folds: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))

# %%
# The held-out images of the last fold
# ------------------------------------
# Left to right: the people's mean RDM of the held-out images, the RDM of
# block 14 before and after alignment, each shown as ranks (images ordered
# animate first, then inanimate). The aligned RDM takes up the people's
# animate / inanimate split.
order = test_img[np.argsort(-data.category_vectors[test_img, 0].astype(int), kind="stable")]
kind = np.where(data.category_vectors[order, 0] == 1, "animate", "inanimate")
fig, axes = plt.subplots(1, 4, figsize=(15, 4.4), layout="constrained",
                         gridspec_kw={"width_ratios": [1, 1, 1, 1.3]})
for ax, (R, title) in zip(axes[:3], [
        (squareform(mean_human[np.ix_(order, order)], checks=False), "people (mean)"),
        (rdm(F[order]), f"block 14, RSA {results[-1]['raw RSA']:.2f}"),
        (rdm(Z[order]), f"aligned, RSA {results[-1]['aligned RSA']:.2f}")], strict=True):
    plot_rdm(rankdata(R), labels=kind, ax=ax, colorbar=False)
    ax.set_title(title)
x = np.arange(len(results))
axes[3].plot(x, [r["raw accuracy"] for r in results], "o--", label="accuracy, raw")
axes[3].plot(x, [r["aligned accuracy"] for r in results], "o-", label="accuracy, aligned")
axes[3].plot(x, [r["raw RSA"] for r in results], "s--", label="RSA, raw")
axes[3].plot(x, [r["aligned RSA"] for r in results], "s-", label="RSA, aligned")
axes[3].set_xticks(x, [f"fold {i}" for i in x])
axes[3].set_title("held-out images")
axes[3].legend(fontsize=8)
plt.show()
