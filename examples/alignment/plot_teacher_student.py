"""
AligNet: a human-aligned teacher distils its uncertainty into a student
=======================================================================

AligNet (Muttenthaler et al., 2024/2025) aligns a *teacher* to human
odd-one-out judgments, fits its softmax temperature so that its choice
probabilities match human uncertainty, labels many new triplets with its soft
choice distributions and trains a *student* to match them (KL divergence).

Here the teacher is a :class:`~reprlign.HumanAlignTransformer` on the MiniLM
embeddings of THINGS concept *definitions*, fitted to the human choice
distributions of 4/5 of the bundled THINGS triplets (repeats kept together).
It labels 20,000 new triplets sampled at k-means cluster borders of its own
representation (AligNet's default sampler). The student, on MiniLM *word*
embeddings, never sees a human judgment: it is fitted to the teacher's soft
labels. Both are scored on the held-out fifth of the human triplets.

What to expect: the teacher gains about 4 points over its zero-shot
features; the student gains about 2 points over its own zero-shot
features without seeing any human judgment, though it stays far below the
teacher: the word embeddings carry less of the relevant information, and the
teacher's labels are very uncertain (human uncertainty on THINGS is high).
"""

import matplotlib.pyplot as plt
import numpy as np

from reprlign import HumanAlignTransformer
from reprlign.datasets import load_things_features, load_things_triplets
from reprlign.model_selection import TripletGroupKFold
from reprlign.triplets import (
    aggregate_triplets,
    choice_kl,
    noise_ceiling,
    odd_one_out_accuracy,
    sample_triplets,
)

things = load_things_triplets()
teacher_features = load_things_features("minilm-definitions")
student_features = load_things_features("minilm-words")
train, test = next(TripletGroupKFold(5).split(things.triplets))
u_train, p_train, _ = aggregate_triplets(things.triplets[train])
u_test, p_test, _ = aggregate_triplets(things.triplets[test])

# %%
# Teacher: fitted to human choice distributions; temperature fitted to human uncertainty.
teacher = HumanAlignTransformer(teacher_features, method="global", reg=1.0, random_state=0)
teacher.fit(u_train, p_train)
print(f"teacher temperature fitted to human uncertainty: {teacher.temperature_:.3f}")

# %%
# Triplets at cluster borders of the teacher's representation, soft-labelled by it.
new = sample_triplets(things.n_objects, 20_000, method="cluster_border",
                      features=teacher.embedding_, n_clusters=30, random_state=0)
soft_labels = teacher.predict_proba(new)
print(f"mean teacher entropy on new triplets: "
      f"{-(soft_labels * np.log(soft_labels)).sum(axis=1).mean():.3f} nats (max {np.log(3):.3f})")

# %%
# Student: other features, fitted only to the teacher's soft labels (KL).
student = HumanAlignTransformer(student_features, method="global", reg=1.0, random_state=0)
student.fit(new, soft_labels)

# %%
# Scores on held-out human triplets.
X_test = things.triplets[test]
rows = {
    "words zero-shot": odd_one_out_accuracy(student_features, X_test, similarity="cosine"),
    "student (words)": student.score(X_test),
    "definitions zero-shot": odd_one_out_accuracy(teacher_features, X_test,
                                                  similarity="cosine"),
    "teacher (definitions)": teacher.score(X_test),
}
for name, acc in rows.items():
    print(f"{name:<24} held-out accuracy {acc:.3f}")
kl_student = choice_kl(p_test, student.predict_proba(u_test))
kl_teacher = choice_kl(p_test, teacher.predict_proba(u_test))
print(f"KL to human distributions: student {kl_student:.3f}, teacher {kl_teacher:.3f}")
ceiling = noise_ceiling(things.triplets)

fig, ax = plt.subplots(figsize=(7, 4))
ax.bar(list(rows), list(rows.values()), color=["0.6", "C0", "0.6", "C2"])
ax.axhline(ceiling, color="C3", label=f"noise ceiling ({ceiling:.3f})")
ax.axhline(1 / 3, color="k", linestyle=":", label="chance")
ax.set_ylabel("held-out odd-one-out accuracy")
ax.set_title("teacher -> cluster-border triplets -> student")
ax.tick_params(axis="x", labelsize=8)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
