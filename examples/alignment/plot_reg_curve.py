"""
The alignment strength ``reg``: held-out accuracy has a clear optimum
=====================================================================

:class:`~reprlign.HumanAlignTransformer` pulls its transform toward a scaled
identity with strength ``reg`` (gLocal's lambda). With its defaults each fit
runs to convergence (about 100 full-batch Adam steps, the rate annealed to
zero, no early stopping), so ``reg`` alone decides how far the transform moves
from the original features: too weak and the fit learns the training
triplets' noise, too strong and it stays at the original representation.

The bundled THINGS noise-ceiling set has 1,000 triplets, each answered by
about 20 people; MiniLM word features have 384 dimensions, so ``W`` has
147,456 entries for 800 training triplets per fold. Grouped 5-fold
cross-validation (:class:`~reprlign.model_selection.TripletGroupKFold`: the
repeats of a triplet stay in one fold) scores each ``reg`` on triplets none of
whose answers were seen in training.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV

from reprlign import HumanAlignTransformer
from reprlign.datasets import load_things_features, load_things_triplets
from reprlign.model_selection import TripletGroupKFold
from reprlign.triplets import noise_ceiling, odd_one_out_accuracy

things = load_things_triplets()
F = load_things_features("minilm-words")
X = things.triplets
cv = TripletGroupKFold(5)

# %%
# One grid search over ``reg``, every other setting left to its default.
regs = [0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0]
search = GridSearchCV(HumanAlignTransformer(F, method="global", random_state=0),
                      {"reg": regs}, cv=cv, n_jobs=-1).fit(X)
mean = search.cv_results_["mean_test_score"]
sd = search.cv_results_["std_test_score"]
zero_shot = np.mean([odd_one_out_accuracy(F, X[test], similarity="cosine")
                     for _, test in cv.split(X)])
for reg, m, s in zip(regs, mean, sd, strict=True):
    print(f"reg={reg:<6g} held-out accuracy {m:.3f} +/- {s:.3f}")
print(f"zero-shot (cosine) {zero_shot:.3f}; selected reg={search.best_params_['reg']:g}")

# %%
# The curve: accuracy rises as ``reg`` stops the fit from learning noise and falls
# back toward zero-shot as it keeps the transform at the identity.
fig, ax = plt.subplots(figsize=(7, 4))
ax.errorbar(regs, mean, yerr=sd, marker="o", capsize=3,
            label="aligned (bars: ± 1 SD across the 5 folds)")
best = int(np.argmax(mean))
ax.plot(regs[best], mean[best], marker="*", markersize=16, color="gold", markeredgecolor="k",
        linestyle="none", label=f"selected: reg={regs[best]:g} ({mean[best]:.3f})")
ax.axhline(zero_shot, color="0.3", linestyle="--", label=f"zero-shot ({zero_shot:.3f})")
ax.axhline(noise_ceiling(X), color="C3", label=f"noise ceiling ({noise_ceiling(X):.3f})")
ax.set_xscale("log")
ax.set_xlabel("reg (pull toward the original representation)")
ax.set_ylabel("held-out odd-one-out accuracy")
ax.set_title("THINGS, MiniLM words: grouped 5-fold CV")
ax.legend(fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 0.93))
fig.tight_layout()
plt.show()
