"""
How well does human IT predict human similarity judgments?
==========================================================

Sixteen people arranged 92 object images by similarity (Mur et al. 2013); each
arrangement gives a representational dissimilarity matrix (RDM). Kriegeskorte
et al. (2008) measured the RDM of human inferior temporal cortex (hIT) for the
same images with fMRI. Here we compare each person's RDM with the hIT RDM by
Spearman correlation (RSA), put a bootstrap confidence interval over the 92
images on each value, and draw the noise ceiling of the human data (Nili et
al. 2014): how well the people predict each other. A model RDM that reached
the lower bound would be as good a predictor of a person as the other people.
"""

# %%
# The data and the comparisons
# ----------------------------
import matplotlib.pyplot as plt
import numpy as np

from reprlign.datasets import load_mur92
from reprlign.measures import bootstrap, compare_rdms, rdm_noise_ceiling

data = load_mur92()
people = data.behavior_rdms  # (16, 92, 92)
hit = data.brain_rdms[data.brain_rdm_names.index("hIT")]

# One interval per person, from half-samples of the images drawn without
# replacement (BCa, the default of bootstrap).
per_person = [
    bootstrap("compare_rdms", person, hit, method="spearman", n_bootstrap=200, random_state=i)
    for i, person in enumerate(people)
]
values = np.array([b.value for b in per_person])
low = np.array([b.low for b in per_person])
high = np.array([b.high for b in per_person])

# The group: mean similarity to hIT, and its interval from resampling images
# (the same resample for every person, so the mean is resampled as a whole).
n = hit.shape[0]
rng = np.random.RandomState(0)
iu = np.triu_indices(n, 1)
boot_means = []
for _ in range(200):
    idx = rng.randint(0, n, n)
    a, b = idx[iu[0]], idx[iu[1]]
    keep = a != b
    a, b = a[keep], b[keep]
    boot_means.append(np.mean([compare_rdms(p[a, b], hit[a, b]) for p in people]))
group_low, group_high = np.quantile(boot_means, [0.025, 0.975])

ceiling = rdm_noise_ceiling(people, "spearman")
print(f"Spearman(person, hIT): mean {values.mean():.3f} "
      f"[{group_low:.3f}, {group_high:.3f}], range {values.min():.3f} to {values.max():.3f}")
print(f"noise ceiling of the 16 people: lower {ceiling.lower:.3f}, upper {ceiling.upper:.3f}")

# %%
# The plot
# --------
# Every person's RDM agrees with hIT well above zero, but far below the noise
# ceiling: human judgments carry structure (for example about the use of
# objects, which Mur et al. discuss) that the hIT RDM does not.
order = np.argsort(values)
fig, ax = plt.subplots(figsize=(8, 4))
x = np.arange(len(values))
ax.axhspan(ceiling.lower, ceiling.upper, color="0.85", label="noise ceiling (people)")
ax.bar(x, values[order], color="tab:blue", alpha=0.8, label="person vs hIT")
ax.errorbar(x, values[order], yerr=[values[order] - low[order], high[order] - values[order]],
            fmt="none", ecolor="k", capsize=2, lw=1, label="95% bootstrap interval")
ax.errorbar([len(values) + 1], [values.mean()],
            yerr=[[values.mean() - group_low], [group_high - values.mean()]],
            fmt="o", color="tab:red", capsize=3, label="mean over people")
ax.set_xticks(list(x) + [len(values) + 1],
              [f"P{i + 1}" for i in order] + ["mean"], rotation=60, fontsize=8)
ax.set_ylabel("Spearman correlation of RDMs")
ax.set_title("RSA: 16 people's similarity judgments vs human IT (92 images)")
ax.legend(loc="upper left", fontsize=8, ncol=2)
ax.set_ylim(0, 0.8)
fig.tight_layout()
plt.show()
