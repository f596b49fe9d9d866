"""Growth machinery for :mod:`reprlign.growing`: activations, the network maths, the growers.

Functions here work on two plain lists of tensors (``weights[i]`` of shape
``(fan_out, fan_in)`` and ``biases[i]``, None without bias), so that growing a
hidden layer is a concatenation. The module that holds them as parameters, the
growth callback and the skorch net are in ``_net.py``; the optimizers whose
state grows with them in ``_optim.py``.
"""

from __future__ import annotations

import math
import warnings

import torch

GROWTH_METHODS = ("gradmax", "random", "random_inverse", "zeros")


class _ReLUGrad1(torch.autograd.Function):
    """ReLU whose derivative at 0 is 1 (``x >= 0``), so GradMax neurons can learn."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x >= 0).to(grad.dtype)


def relu_grad1(x):
    """ReLU with ``f(0) = 0`` and ``f'(0) = 1``."""
    return _ReLUGrad1.apply(x)


def _identity(x):
    return x


ACTIVATIONS = {
    "relu": relu_grad1,
    "torch_relu": torch.relu,  # derivative 0 at 0: the GradMax trap, kept for demonstrations
    "tanh": torch.tanh,
    "identity": _identity,
}


def resolve_activation(activation, growth):
    """Return the activation function, checking what growth needs of it.

    New neurons start with zero pre-activation, so a grower that gives them
    non-zero outgoing weights (``gradmax``, ``random``) needs ``f(0) = 0`` to
    leave the function unchanged (a ``ValueError`` otherwise), and ``f'(0) != 0``
    for their incoming weights to receive any gradient (a ``UserWarning``
    otherwise: growth then silently degenerates to ``zeros``). ``activation`` is a
    key of :data:`ACTIVATIONS` or a callable (the estimators' parameter
    constraints check which).
    """
    fn = ACTIVATIONS[activation] if isinstance(activation, str) else activation
    if growth not in ("gradmax", "random"):
        return fn
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    y = fn(x)
    if not torch.is_tensor(y) or y.shape != x.shape:
        raise TypeError("activation must map a tensor to a tensor of the same shape")
    value = float(y.detach())
    if abs(value) > 1e-12:
        raise ValueError(
            f"activation has f(0) = {value:.4g} != 0: growth={growth!r} gives new neurons "
            "non-zero outgoing weights, so the network's function would change at growth"
        )
    (d0,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
    if d0 is None or abs(float(d0)) < 1e-12:
        warnings.warn(
            f"activation has derivative 0 at 0, so the zero-initialised incoming weights of "
            f"neurons added by growth={growth!r} get zero gradient and never learn: growth "
            "degenerates to 'zeros'. Use activation='relu' (derivative 1 at 0) instead.",
            UserWarning,
            stacklevel=3,
        )
    return fn


def init_network(sizes, *, bias, generator, device, dtype=torch.float32):
    """Glorot-uniform weights and zero biases for layer widths ``sizes``."""
    weights, biases = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        w = (torch.rand(fan_out, fan_in, generator=generator, dtype=dtype) * 2 - 1) * bound
        weights.append(w.to(device))
        biases.append(torch.zeros(fan_out, dtype=dtype, device=device) if bias else None)
    return weights, biases


def _linear(weights, biases, i, h):
    z = h @ weights[i].T
    return z if biases[i] is None else z + biases[i]


def forward(weights, biases, activation, X, *, start=0):
    """Run the MLP from weight layer ``start`` (whose input is ``X``) to the output."""
    h = X
    last = len(weights) - 1
    for i in range(start, last + 1):
        z = _linear(weights, biases, i, h)
        h = z if i == last else activation(z)
    return h


def _scaled_columns(directions, reference, scale):
    """Normalise the columns of ``directions`` to ``scale`` x mean column norm of ``reference``."""
    target = scale * reference.norm(dim=0).mean()
    norms = directions.norm(dim=0, keepdim=True).clamp_min(torch.finfo(directions.dtype).tiny)
    return directions / norms * target


def _fix_signs(U):
    """Make each column's largest-magnitude entry positive (deterministic across devices)."""
    idx = U.abs().argmax(dim=0)
    signs = torch.sign(U[idx, torch.arange(U.shape[1], device=U.device)])
    signs[signs == 0] = 1
    return U * signs


def gradmax_directions(M, n_new, generator):
    """Top ``n_new`` left singular vectors of ``M`` (shape ``(d_{l+1}, d_{l-1})``).

    At most ``d_{l+1}`` orthonormal directions exist; any further new neurons get
    random unit directions (their incoming gradient cannot be made larger).
    """
    U, _, _ = torch.linalg.svd(M.double(), full_matrices=True)
    U = _fix_signs(U[:, :n_new]).to(M.dtype)
    extra = n_new - U.shape[1]
    if extra > 0:
        rnd = torch.randn(M.shape[0], extra, generator=generator, dtype=M.dtype).to(M.device)
        U = torch.cat([U, rnd / rnd.norm(dim=0, keepdim=True)], dim=1)
    return U


def shortcut_gradient(weights, biases, activation, layer, X, loss_fn):
    """``M = sum_batch delta_{l+1} h_{l-1}^T``: gradient of a zero shortcut over hidden layer l.

    ``h_{l-1}`` is the input of weight layer ``l`` and ``delta_{l+1}`` the gradient
    of the loss with respect to the pre-activation produced by weight layer
    ``l + 1``. Computed from the data loss only (no L2 penalty), as in the paper.
    """
    last = len(weights) - 1
    with torch.no_grad():
        h_prev = X
        for i in range(layer):
            h_prev = activation(_linear(weights, biases, i, h_prev))
        h_layer = activation(_linear(weights, biases, layer, h_prev))
        z_next = _linear(weights, biases, layer + 1, h_layer)
    with torch.enable_grad():
        z_next = z_next.detach().requires_grad_(True)
        out = z_next
        if layer + 1 < last:
            out = forward(weights, biases, activation, activation(z_next), start=layer + 2)
        (delta,) = torch.autograd.grad(loss_fn(out), z_next)
    return delta.T @ h_prev


def grow_layer(weights, biases, activation, layer, n_new, method, X, loss_fn, *, scale, generator):
    """Add ``n_new`` neurons to hidden layer ``layer`` in place; return the growth record.

    Incoming weights ``W_l`` gain ``n_new`` rows, outgoing weights ``W_{l+1}``
    gain ``n_new`` columns, bias ``b_l`` gains ``n_new`` zeros.
    """
    w_in, w_out = weights[layer], weights[layer + 1]
    dtype, device = w_in.dtype, w_in.device
    with torch.no_grad():
        loss_before = float(loss_fn(forward(weights, biases, activation, X)))
        out_before = forward(weights, biases, activation, X)
    new_in = torch.zeros(n_new, w_in.shape[1], dtype=dtype, device=device)
    new_out = torch.zeros(w_out.shape[0], n_new, dtype=dtype, device=device)
    if method == "gradmax":
        M = shortcut_gradient(weights, biases, activation, layer, X, loss_fn)
        new_out = _scaled_columns(gradmax_directions(M, n_new, generator), w_out, scale)
    elif method == "random":
        rnd = torch.randn(w_out.shape[0], n_new, generator=generator, dtype=dtype).to(device)
        new_out = _scaled_columns(rnd, w_out, scale)
    elif method == "random_inverse":
        rnd = torch.randn(w_in.shape[1], n_new, generator=generator, dtype=dtype).to(device)
        new_in = _scaled_columns(rnd, w_in.T, scale).T
    elif method != "zeros":
        raise ValueError(f"growth must be one of {GROWTH_METHODS}, got {method!r}")
    weights[layer] = torch.cat([w_in, new_in], dim=0)
    weights[layer + 1] = torch.cat([w_out, new_out], dim=1)
    if biases[layer] is not None:
        biases[layer] = torch.cat([biases[layer], torch.zeros(n_new, dtype=dtype, device=device)])

    # Gradient of the (data) loss with respect to the new incoming weights.
    with torch.enable_grad():
        w = weights[layer].detach().requires_grad_(True)
        trial = list(weights)
        trial[layer] = w
        out_after = forward(trial, biases, activation, X)
        loss_after_t = loss_fn(out_after)
        (g,) = torch.autograd.grad(loss_after_t, w)
    return {
        "layer": layer,
        "n_new": n_new,
        "grad_norm": float(g[-n_new:].norm()),
        "loss_before": loss_before,
        "loss_after": float(loss_after_t.detach()),
        "max_output_change": float((out_after.detach() - out_before).abs().max()),
    }
