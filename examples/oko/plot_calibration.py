"""
OKO against cross-entropy under heavy-tailed classes
====================================================

Odd-k-out set learning (:class:`reprlign.OKOClassifier`) trains on sets of
three digits, two from one class and one from another, drawn with classes
uniformly; plain cross-entropy trains on the examples as they come. When three
classes hold most of the training data, cross-entropy learns a classifier that
is worse on the rare classes and whose confidence does not match its accuracy.

We train both on scikit-learn's digits with the heavy-tailed protocol of the
OKO paper (:func:`reprlign.datasets.make_heavy_tailed`: 3 frequent classes hold
p = 0.9 of 200 training examples, every class keeps at least 5) and compare
reliability diagrams on a balanced test set.

To stay under a minute this example trains **one seed** (early stopping on
a balanced validation set with patience 100, as the reproduction does);
``reproductions/reproduce_oko_digits.py`` runs the full comparison (5 seeds, and
class-balanced sampling, label smoothing and soft-target OKO as well);
:ref:`reproductions_oko` gives its figures. A single seed is noisy: look at
the tables there before drawing conclusions.
"""

# %%
# Data: a heavy-tailed training set, balanced validation and test sets
# ---------------------------------------------------------------------
# Validation (for early stopping) takes 10 examples per class from the
# held-out pool; the rest is the test set.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from reprlign import OKOClassifier
from reprlign.calibration import expected_calibration_error
from reprlign.datasets import make_heavy_tailed
from reprlign.plotting import plot_reliability_diagram

torch.set_num_threads(1)  # a small MLP trains fastest on one thread
X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
data = make_heavy_tailed(X, y, n_train=200, p=0.9, random_state=0)
print("training examples per class:", data.train_counts)

rng = np.random.RandomState(0)
val = np.concatenate([rng.permutation(np.flatnonzero(data.y_test == c))[:10] for c in range(10)])
test = np.setdiff1d(np.arange(len(data.y_test)), val)
X_val, y_val = data.X_test[val], data.y_test[val]
X_test, y_test = data.X_test[test], data.y_test[test]

# %%
# Cross-entropy: the same MLP (64-128-128-10) through skorch
# ----------------------------------------------------------
torch.manual_seed(0)
mlp = torch.nn.Sequential(
    torch.nn.Linear(64, 128), torch.nn.ReLU(),
    torch.nn.Linear(128, 128), torch.nn.ReLU(),
    torch.nn.Linear(128, 10),
)
ce = NeuralNetClassifier(
    mlp, criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=1e-3,
    batch_size=32, max_epochs=1000, iterator_train__shuffle=True,
    train_split=predefined_split(Dataset(X_val, y_val)),
    callbacks=[EarlyStopping(patience=100, load_best=True, sink=lambda *a: None)], verbose=0,
)
ce.fit(data.X_train, data.y_train)

# %%
# OKO: sets of k + 2 = 3, hard targets (the defaults)
# ---------------------------------------------------
# 11 sets of 3 per step forward about as many examples as a cross-entropy
# batch of 32; an epoch has ceil(200 / 3) = 67 sets.
oko = OKOClassifier(hidden_layer_sizes=(128, 128), batch_size=11, max_epochs=1000,
                    n_iter_no_change=100, random_state=0)
oko.fit(data.X_train, data.y_train, validation_data=(X_val, y_val))

# %%
# Accuracy, calibration and NLL on the balanced test set
# ------------------------------------------------------
probas = {"cross-entropy": ce.predict_proba(X_test), "OKO": oko.predict_proba(X_test)}
for name, P in probas.items():
    acc = np.mean(P.argmax(1) == y_test)
    ece = expected_calibration_error(y_test, P)
    nll = -np.mean(np.log(np.clip(P[np.arange(len(y_test)), y_test], 1e-12, None)))
    print(f"{name:14s} accuracy {acc:.3f}  ECE {ece:.3f}  NLL {nll:.3f}  "
          f"mean confidence {P.max(1).mean():.3f}")

# %%
# Reliability diagrams
# --------------------
# Each bar is the accuracy of the test predictions whose confidence falls in
# that bin; the dashed diagonal is perfect calibration, bars below it mean
# over-confidence. Dot areas follow how many predictions each bin holds.
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True)
for ax, (name, P), color in zip(axes, probas.items(), ["tab:red", "tab:blue"], strict=True):
    plot_reliability_diagram(y_test, P, ax=ax, label=name, color=color)
    ax.set_title(name)
fig.tight_layout()
plt.show()
