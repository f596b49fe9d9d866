"""
How much do people agree on THINGS odd-one-out triplets?
========================================================

The bundled THINGS noise-ceiling set has 1,000 triplets of object concepts,
each answered by 14 to 25 people. For each triplet we take the share of people
who chose the majority odd one out. Its distribution shows why no model can
reach 100%: on many triplets people disagree. The leave-one-out noise ceiling
(predict each response by the majority of the other people) is the best
accuracy a model can expect; chance is 1/3.

We mark the zero-shot accuracy of the bundled MiniLM word and definition
embeddings for comparison.
"""

import matplotlib.pyplot as plt
import numpy as np

from reprlign.datasets import load_things_features, load_things_triplets
from reprlign.triplets import noise_ceiling, odd_one_out_accuracy

data = load_things_triplets()
majority_share = data.choice_proba.max(axis=1)
ceiling = noise_ceiling(data.triplets)
zero_shot = {
    name: odd_one_out_accuracy(load_things_features(name), data.triplets, similarity="cosine")
    for name in ("minilm-words", "minilm-definitions")
}

print(f"noise ceiling: {ceiling:.3f}")
for name, acc in zero_shot.items():
    print(f"{name}: zero-shot accuracy {acc:.3f}")

fig, ax = plt.subplots(figsize=(7, 4))
ax.hist(majority_share, bins=np.linspace(1 / 3, 1, 21), color="0.75", edgecolor="0.3")
ax.axvline(1 / 3, color="k", linestyle=":", label="chance (1/3)")
ax.axvline(ceiling, color="C3", label=f"noise ceiling ({ceiling:.3f})")
for (name, acc), color in zip(zero_shot.items(), ("C0", "C2"), strict=True):
    ax.axvline(acc, color=color, linestyle="--", label=f"{name} zero-shot ({acc:.3f})")
ax.set_xlabel("share of people choosing the majority odd one out")
ax.set_ylabel("number of triplets")
ax.set_title("Human agreement on 1,000 THINGS triplets")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
