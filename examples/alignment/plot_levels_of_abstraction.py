"""
Levels of abstraction, before and after human alignment
=======================================================

AligNet (Muttenthaler et al. 2024) evaluates representations on odd-one-out
triplets at three levels of abstraction: *coarse* (three objects from three
different high-level categories), *class boundary* (two from one category, one
from another) and *subordinate* (all from one category, two from one
subcategory). :func:`reprlign.levels_agreement` reports agreement per level;
this example shows how fitting a :class:`reprlign.HumanAlignTransformer`
changes it, first on synthetic concepts whose human embedding is known, then
on real THINGS judgments split by level with :func:`reprlign.things_levels`.
"""

# %%
# Synthetic concepts: agreement with the human embedding, on new objects
# -----------------------------------------------------------------------
# The model features are a distorted, noisy view of a hierarchical "human"
# embedding. The transform is fitted on triplets among 70% of the objects and
# evaluated on level triplets among the other 30%, against the human
# embedding's own choices (``reference=``).
import matplotlib.pyplot as plt
import numpy as np
import torch

from reprlign import HumanAlignTransformer, levels_agreement, things_levels, triplet_levels
from reprlign.datasets import (
    load_things_features,
    load_things_triplets,
    make_hierarchical_concepts,
    make_levels_triplets,
)
from reprlign.triplets import sample_triplets, simulate_choices

torch.set_num_threads(1)
data = make_hierarchical_concepts(random_state=0)
n = len(data.human)
rng = np.random.RandomState(0)
train_objects = np.sort(rng.permutation(n)[: int(0.7 * n)])
test_objects = np.setdiff1d(np.arange(n), train_objects)

t = train_objects[sample_triplets(len(train_objects), 20_000, random_state=0)]
X_train = simulate_choices(data.human, t, random_state=0)
est = HumanAlignTransformer(data.model, random_state=0).fit(X_train)

lv = make_levels_triplets(data.coarse[test_objects], data.fine[test_objects], 500, random_state=0)
held_out = test_objects[lv.triplets]
before = levels_agreement(data.model, held_out, lv.level, reference=data.human)
after = levels_agreement(est.transform(data.model), held_out, lv.level, reference=data.human)
for lvl, a, b in zip(before.levels, before.accuracy, after.accuracy, strict=True):
    print(f"{lvl:15s} before {a:.3f}   after {b:.3f}")

# %%
# THINGS: real judgments split by level
# -------------------------------------
# The 27 THINGS categories nest (bird and insect in animal; fruit, vegetable
# and dessert in food; ...): :func:`reprlign.things_levels` turns them into a
# coarse/fine hierarchy, and :func:`reprlign.triplet_levels` assigns each
# human triplet a level. The transform is fitted on 80% of the distinct
# triplets and evaluated on the responses to the other 20% (the answer is
# the person's choice at every level, ``structural=False``).
things = load_things_triplets()
F = load_things_features("minilm-words")
h = things_levels()
coarse = np.full(things.n_objects, None, dtype=object)
fine = np.full(things.n_objects, None, dtype=object)
coarse[h.objects], fine[h.objects] = h.coarse, h.fine
level = triplet_levels(things.triplets, coarse, fine)

test_groups = np.random.RandomState(0).rand(len(things.unique_triplets)) < 0.2
test = test_groups[things.groups]
align = HumanAlignTransformer(F, random_state=0)
align.fit(things.triplets[~test])
things_before = levels_agreement(F, things.triplets[test], level[test], structural=False)
things_after = levels_agreement(align.transform(F), things.triplets[test], level[test],
                                structural=False)
for lvl, k, a, b in zip(things_before.levels, things_before.n_triplets, things_before.accuracy,
                        things_after.accuracy, strict=True):
    print(f"{lvl:15s} n={k:5d}  before {a:.3f}   after {b:.3f}")

# %%
# The figure
# ----------
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained", sharey=True)
for ax, (b, a, title) in zip(axes, [(before, after, "synthetic concepts, new objects"),
                                    (things_before, things_after, "THINGS, held-out triplets")],
                             strict=True):
    x = np.arange(len(b.levels))
    ax.bar(x - 0.2, b.accuracy, 0.4, label="original features")
    ax.bar(x + 0.2, a.accuracy, 0.4, label="aligned")
    ax.axhline(b.chance, color="black", ls=":", label="chance")
    ax.set_xticks(x, [f"{lv}\n(n={k})" for lv, k in zip(b.levels, b.n_triplets, strict=True)])
    ax.set_title(title)
axes[0].set_ylabel("odd-one-out agreement")
axes[0].legend()
plt.show()
