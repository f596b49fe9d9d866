"""Optimizers whose state grows with the parameters: SGD (with momentum) and Adam.

Both are :class:`torch.optim.Optimizer` subclasses with one extra method,
:meth:`grow`, called right after a parameter gained entries along one dimension.
Growth keeps each parameter's identity (the grown tensor is swapped into the
existing ``Parameter`` object, see ``GrowingModule.adopt`` in ``_net.py``), so
the optimizer's ``param_groups`` and state keys keep pointing at the module's
parameters and only the per-parameter state has to be extended.

New entries get *fresh* state and old entries keep theirs. For SGD the momentum
buffer is padded with zeros, which is the same as fresh state. For Adam the
moments are padded with zeros and the step count is kept **per entry** (state
``"t"``, a tensor shaped like the parameter), so the first update of a new
weight is exactly a first Adam step, ``lr * g / (|g| + eps)``, while old weights
keep their moments and bias correction. A single shared step count, as in the
reference implementation, would make that first update up to about 3x a fresh
Adam step.
"""

from __future__ import annotations

import torch


class _GrowableOptimizer(torch.optim.Optimizer):
    """A torch optimizer whose per-parameter state can follow a parameter that grew."""

    def grow(self, param, dim, n_new):
        """Append ``n_new`` fresh (zero) state entries to ``param`` along ``dim``.

        Call it after ``param`` itself gained ``n_new`` entries at the end of
        dimension ``dim``. A parameter without state yet (no step taken) needs
        nothing: its state is created at its current shape on the first step.
        """
        state = self.state.get(param)
        if not state:
            return
        for key, value in state.items():
            shape = list(value.shape)
            shape[dim] = n_new
            state[key] = torch.cat([value, value.new_zeros(shape)], dim=dim)
            if state[key].shape != param.shape:
                raise RuntimeError(
                    f"optimizer state {key!r} has shape {tuple(state[key].shape)} after growth "
                    f"but its parameter has shape {tuple(param.shape)}"
                )

    def zero_grad(self, set_to_none=True):
        """Drop (or zero) the gradients; a plain loop, cheaper per step than torch's."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.detach_().zero_()

    def _closure_loss(self, closure):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        return loss


class GrowableSGD(_GrowableOptimizer):
    """SGD with optional (heavy-ball) momentum and coupled L2 weight decay.

    The update is ``buf = momentum * buf + g``, ``p -= lr * buf`` (``torch.optim.SGD``
    without dampening or Nesterov), with ``g = grad + weight_decay * p``.
    """

    def __init__(self, params, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if not decay else p.grad.add(p, alpha=decay)
                if momentum:
                    state = self.state[p]
                    if "buf" not in state:
                        state["buf"] = torch.zeros_like(p)
                    g = state["buf"].mul_(momentum).add_(g)
                p.sub_(lr * g)
        return loss


class GrowableAdam(_GrowableOptimizer):
    """Adam with a step count per entry (state ``m``, ``v``, ``t``), so new entries start fresh.

    With no growth it takes exactly the steps of ``torch.optim.Adam`` (coupled
    ``weight_decay``, no AMSGrad): ``m_hat = m / (1 - beta1^t)``,
    ``v_hat = v / (1 - beta2^t)``, ``p -= lr * m_hat / (sqrt(v_hat) + eps)``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(
            params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        )

    @torch.no_grad()
    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            decay = group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if not decay else p.grad.add(p, alpha=decay)
                state = self.state[p]
                if not state:
                    state["m"], state["v"], state["t"] = (torch.zeros_like(p) for _ in range(3))
                m, v, t = state["m"], state["v"], state["t"]
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                t.add_(1)
                m_hat = m / (1 - b1**t)
                v_hat = v / (1 - b2**t)
                p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
        return loss
