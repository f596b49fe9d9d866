"""
Fine-tuning a network toward a human-aligned teacher
====================================================

AligNet's recipe (Muttenthaler et al. 2024) in three steps: a *teacher* is
aligned to human odd-one-out judgments, it labels many new triplets with its
choice distributions, and a *student network* is fine-tuned on those labels,
so that it becomes aligned on objects no person judged.

Here, on the bundled THINGS judgments, with new objects held out
(:class:`~reprlign.model_selection.TripletObjectKFold`):

* the teacher is a :class:`~reprlign.HumanAlignTransformer` on MiniLM
  embeddings of the concept words and of their definitions;
* the student is a tiny residual network on the word embeddings alone (its
  blocks start as the identity, so it starts as the word embeddings); only its
  top block and a linear head train, so the frozen blocks' output is computed
  once and cached;
* :class:`~reprlign.HumanAlignFinetuner` trains it on teacher-labelled
  triplets, in object batches: each step embeds 256 objects once and scores
  all the triplets among them.

The real network of the user guide (MiniLM itself, fine-tuned on the concept
words) follows the same three lines; its figures are on the user guide page
"Aligning a whole network".
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from reprlign import HumanAlignFinetuner, HumanAlignTransformer, teacher_triplets
from reprlign.datasets import load_things_features, load_things_triplets
from reprlign.model_selection import TripletObjectKFold
from reprlign.triplets import odd_one_out_accuracy

torch.manual_seed(0)
things = load_things_triplets()
X = things.triplets
words = load_things_features("minilm-words")
both = np.hstack([words, load_things_features("minilm-definitions")])
train, test = next(TripletObjectKFold(3, shuffle=True, random_state=0).split(X))
print(f"{len(train)} training and {len(test)} held-out human responses (new objects)")

# %%
# The teacher: a linear transform fitted to the training objects' human
# triplets, its temperature fitted to human uncertainty. It labels 300,000
# random triplets over all 1,854 concepts (it reads only their features).
# Random triplets match how the human triplets were drawn; AligNet's
# cluster-border sampler (``method="cluster_border"``) concentrates on
# near-boundary triplets and, with this weak teacher, gave a student worse
# than the word embeddings (0.40 on this fold, against 0.45).
teacher = HumanAlignTransformer(both, reg=1.0, random_state=0).fit(X[train])
X_teacher, y_teacher = teacher_triplets(teacher, 300_000, random_state=0)
print(f"teacher temperature {teacher.temperature_:.3f}; mean largest choice probability "
      f"{y_teacher.max(axis=1).mean():.3f}")


# %%
# The student: three residual blocks over the word embeddings. ``train_params=1``
# trains the top block (plus the identity-initialised head); the two frozen
# blocks run once per object.
class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))
        nn.init.zeros_(self.inner[2].weight)
        nn.init.zeros_(self.inner[2].bias)

    def forward(self, x):
        return x + self.inner(x)


class WordNet(nn.Module):
    def __init__(self, width=384, depth=3):
        super().__init__()
        self.blocks = nn.ModuleList(Block(width) for _ in range(depth))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


student = HumanAlignFinetuner(WordNet(), inputs=torch.tensor(words), train_params=1,
                              lr=3e-3, random_state=0)
student.fit(X_teacher, y_teacher)
print(f"{student.batching_} batches, frozen prefix cached: {student.prefix_cached_}, "
      f"{student.n_epochs_} epochs (best {student.best_epoch_})")

# %%
# Held-out human triplets: every object is new to the teacher's human data and
# to the linear transform below.
linear = HumanAlignTransformer(words, reg=1.0, random_state=0).fit(X[train])
scores = {
    "words\nzero-shot": odd_one_out_accuracy(words, X[test], similarity="cosine"),
    "words\nlinear": linear.score(X[test]),
    "teacher\n(words+defs)": teacher.score(X[test]),
    "student\n(words)": student.score(X[test]),
}
for name, value in scores.items():
    print(f"{name.replace(chr(10), ' '):<24} {value:.3f}")

history = student.net_.history
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.bar(list(scores), list(scores.values()), color=["0.6", "0.6", "C2", "C0"])
ax1.axhline(1 / 3, color="k", linestyle=":", label="chance")
ax1.set_ylim(0.3, 0.65)
ax1.set_ylabel("held-out odd-one-out accuracy")
ax1.legend(fontsize=8)
ax2.plot(history[:, "train_loss"], label="training (KL + pull)")
ax2.plot(history[:, "valid_loss"], label="held-out teacher triplets (KL)")
ax2.set_xlabel("epoch")
ax2.set_ylabel("loss")
ax2.legend(fontsize=8)
fig.tight_layout()
plt.show()
