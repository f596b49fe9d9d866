"""
gLocal keeps each object's neighbours; a naive probe does not
=============================================================

gLocal (Muttenthaler et al., NeurIPS 2023) fits a linear transform of model
features to human odd-one-out choices. Its loss has three parts: a *global*
term (predict the human odd one out), a *local* term (keep each point's
neighbourhood as it was in the original features, weighted by
``local_weight``, gLocal's alpha) and a pull toward a scaled identity
(``reg``, gLocal's lambda). A *naive* probe has only the global term and a
penalty toward zero.

Part 1 fits the three to 4/5 of the bundled THINGS triplets (MiniLM word
features) and compares them by held-out accuracy on the other fifth and by
how many of each concept's 10 nearest neighbours in the original features
survive the transform (:func:`reprlign.measures.mutual_knn`).

Part 2 freezes transforms of different alignment strength with
:class:`sklearn.frozen.FrozenEstimator` in front of a nearest-neighbour
classifier of the 27 THINGS categories, showing the downstream effect of
alignment.
"""

import matplotlib.pyplot as plt
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from reprlign import HumanAlignTransformer
from reprlign.datasets import load_things_features, load_things_triplets
from reprlign.measures import mutual_knn
from reprlign.model_selection import TripletGroupKFold
from reprlign.triplets import odd_one_out_accuracy

# %%
# Part 1: accuracy against kept neighbours
# ----------------------------------------
things = load_things_triplets()
F = load_things_features("minilm-words")
train, test = next(TripletGroupKFold(5).split(things.triplets))
common = dict(reg=1.0, random_state=0)
variants = {"naive": dict(method="naive", reg=1e-2), "global": dict(method="global")}
for alpha in (0.1, 0.3):
    variants[f"gLocal a={alpha}"] = dict(method="glocal", local_weight=alpha)

rows = []
for name, params in variants.items():
    est = HumanAlignTransformer(F, **{**common, **params}).fit(things.triplets[train])
    rows.append((name, est.score(things.triplets[test]), mutual_knn(F, est.embedding_, k=10)))
    print(f"{name:<14} held-out accuracy {rows[-1][1]:.3f}   kept neighbours {rows[-1][2]:.3f}")
zero_shot = odd_one_out_accuracy(F, things.triplets[test], similarity="cosine")
print(f"zero-shot accuracy {zero_shot:.3f}")

# %%
# Part 2: frozen transforms in front of a category classifier (THINGS)
# --------------------------------------------------------------------
# Concepts that belong to exactly one of the 27 THINGS categories (one with at least
# 8 such concepts) are classified
# by a cosine 10-nearest-neighbour rule on raw or aligned MiniLM word features.
single = things.categories.sum(axis=1) == 1
counts = things.categories[single].sum(axis=0)
single &= (things.categories[:, counts >= 8].sum(axis=1) == 1)  # classes with >= 8 concepts
y_cat = things.categories[single].argmax(axis=1)
knn = KNeighborsClassifier(n_neighbors=10, metric="cosine")
downstream = {"raw": cross_val_score(knn, F[single], y_cat, cv=4).mean()}
for reg in (100.0, 0.01):
    est = HumanAlignTransformer(F, method="global", reg=reg, random_state=0)
    est.fit(things.triplets)
    pipe = make_pipeline(FrozenEstimator(est), knn)
    downstream[f"reg={reg:g}"] = cross_val_score(pipe, F[single], y_cat, cv=4).mean()
for name, acc in downstream.items():
    print(f"27-category kNN accuracy, {name}: {acc:.3f}")

# %%
# Plots
# -----
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for (name, acc, kept), color in zip(rows, ["C3", "C0", "C1", "C2"], strict=True):
    ax1.scatter(kept, acc, s=60, color=color, label=name)
ax1.axhline(zero_shot, color="0.4", linestyle="--", label="zero-shot")
ax1.set_xlabel("mutual 10-NN with the original features")
ax1.set_ylabel("held-out odd-one-out accuracy")
ax1.set_title("THINGS: the local term keeps neighbours")
ax1.legend(fontsize=8)
ax2.bar(list(downstream), list(downstream.values()), color=["0.6", "C0", "C2"])
ax2.set_ylim(min(downstream.values()) - 0.05, max(downstream.values()) + 0.03)
ax2.set_ylabel("4-fold accuracy, 27 THINGS categories")
ax2.set_title("THINGS: frozen transform + kNN classifier")
fig.tight_layout()
plt.show()
