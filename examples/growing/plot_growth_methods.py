"""
Growing a network with GradMax
==============================

A student network learns to imitate a fixed *teacher* (10 inputs, 10 ReLU
hidden units, 10 outputs, bias-free, weights drawn from U[-1, 1]), the setting
of Evci et al., "GradMax: Growing Neural Networks using Gradient Information"
(ICLR 2022). The student starts with 5 hidden units and gains one every 200
full-batch SGD steps until it has 10.

New neurons start with zero incoming weights, so growth never changes what the
network computes (the loss curve is continuous at every growth, marked by dotted
lines). What differs is how their *outgoing* weights are chosen:

* ``gradmax`` takes the directions that make the gradient of the new incoming
  weights as large as possible (top singular vectors of the gradient of a
  zero shortcut over the layer), so the new units start learning at once;
* ``random`` takes random directions of the same norm;
* ``zeros`` leaves them at zero: the new units never receive a gradient and
  the student stays as good as its 5-unit start.

The last panel repeats GradMax with ``torch.relu``, whose derivative at 0 is 0:
the zero pre-activation of the new units then blocks every gradient, and
GradMax silently collapses to ``zeros`` (reprlign warns). reprlign's default
``activation="relu"`` uses derivative 1 at 0.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch

from reprlign import GrowingMLPRegressor

torch.set_num_threads(1)  # tiny matrices: more threads only add overhead

rng = np.random.RandomState(0)
W1, W2 = rng.uniform(-1, 1, (10, 10)), rng.uniform(-1, 1, (10, 10))
X = rng.normal(size=(1000, 10))
Y = np.maximum(X @ W1, 0) @ W2


def student(growth, **kw):
    params = dict(
        hidden_layer_sizes=10,
        initial_hidden_sizes=5,
        grow_by=1,
        grow_every=200,
        growth=growth,
        use_bias=False,
        optimizer="sgd",
        lr=0.1,
        max_epochs=1500,
        dtype="float64",
        random_state=1,
    )
    params.update(kw)
    return GrowingMLPRegressor(**params).fit(X, Y)


models = {name: student(name) for name in ("gradmax", "random", "zeros")}
models["fixed 10 units"] = student(None)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    trapped = student("gradmax", activation="torch_relu")
print("warning:", caught[0].message if caught else None)

for name in ("gradmax", "random"):
    h = models[name].growth_history_
    print(
        f"{name:8s} gradient norm of new weights at first growth {h[0]['grad_norm']:.3f}; "
        f"loss at step 1000 {models[name].loss_curve_[1000]:.4f}, "
        f"final {models[name].loss_curve_[-1]:.4f}"
    )
changes = [r["max_output_change"] for m in models.values() for r in m.growth_history_]
print(f"largest change of the outputs at a growth step: {max(changes):.1e}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for name, m in models.items():
    axes[0].plot(m.loss_curve_, label=name, lw=1.5)
for name in ("zeros",):
    axes[1].plot(models[name].loss_curve_, label=name, lw=3, alpha=0.4)
axes[1].plot(models["gradmax"].loss_curve_, label="gradmax, relu (f'(0)=1)", lw=1.5)
axes[1].plot(trapped.loss_curve_, "--", label="gradmax, torch.relu (f'(0)=0)", lw=1.5)
for ax in axes:
    for step in (h["step"] for h in models["gradmax"].growth_history_):
        ax.axvline(step, color="grey", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("SGD step")
    ax.legend(fontsize=8)
axes[0].set_ylabel("training MSE")
axes[0].set_title("growth methods (dotted: growth steps)")
axes[1].set_title("the ReLU trap")
fig.tight_layout()
plt.show()
