"""Tests of the growable optimizers and of how a parameter grows in place."""

import numpy as np
import torch
from torch import nn

from reprlign.growing._net import GrowingModule
from reprlign.growing._optim import GrowableAdam, GrowableSGD


def _grow_rows(p, n_new):
    """Append ``n_new`` zero rows to parameter ``p`` in place, as growth does."""
    grown = torch.cat([p.detach(), p.new_zeros(n_new, *p.shape[1:])])
    torch.utils.swap_tensors(p, nn.Parameter(grown))


def test_adam_new_entries_get_fresh_state_old_entries_keep_theirs():
    gen = torch.Generator().manual_seed(0)
    p0 = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    grads = [torch.randn(3, 4, generator=gen, dtype=torch.float64) for _ in range(5)]
    g_new = torch.randn(5, 4, generator=gen, dtype=torch.float64)

    p, ref_p = nn.Parameter(p0.clone()), p0.clone().requires_grad_(True)
    ours = GrowableAdam([p], lr=0.01)
    ref = torch.optim.Adam([ref_p], lr=0.01, foreach=False)
    for g in grads:
        p.grad = g.clone()
        ours.step()
        ref_p.grad = g.clone()
        ref.step()
    np.testing.assert_allclose(p.detach().numpy(), ref_p.detach().numpy(), rtol=1e-12)

    # Grow by two rows, then take one more step.
    _grow_rows(p, 2)
    ours.grow(p, 0, 2)
    before = p.detach().clone()
    p.grad = g_new.clone()
    ours.step()
    ref_p.grad = g_new[:3].clone()
    ref.step()
    p = p.detach()
    # Old rows: exactly what uninterrupted Adam does.
    np.testing.assert_allclose(p[:3].numpy(), ref_p.detach().numpy(), rtol=1e-12)
    # New rows: exactly a first Adam step, lr * g / (|g| + eps).
    fresh = 0.01 * g_new[3:] / (g_new[3:].abs() + 1e-8)
    np.testing.assert_allclose((before[3:] - p[3:]).numpy(), fresh.numpy(), rtol=1e-10)


def test_sgd_momentum_padding_equals_fresh_state():
    gen = torch.Generator().manual_seed(0)
    p = nn.Parameter(torch.randn(2, 3, generator=gen, dtype=torch.float64))
    opt = GrowableSGD([p], lr=0.1, momentum=0.9)
    for _ in range(3):
        p.grad = torch.randn(2, 3, generator=gen, dtype=torch.float64)
        opt.step()
    grown = torch.cat([p.detach(), torch.zeros(2, 1, dtype=torch.float64)], dim=1)
    torch.utils.swap_tensors(p, nn.Parameter(grown))
    opt.grow(p, 1, 1)
    g = torch.randn(2, 4, generator=gen, dtype=torch.float64)
    before = p.detach().clone()
    p.grad = g
    opt.step()
    np.testing.assert_allclose((p.detach() - before)[:, 3].numpy(), (-0.1 * g[:, 3]).numpy(),
                               rtol=1e-12)
    assert opt.state[p]["buf"].shape == (2, 4)


def test_sgd_and_adam_match_torch_without_growth():
    # Weight decay coupled as in torch.optim, momentum without dampening.
    gen = torch.Generator().manual_seed(1)
    p0 = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    grads = [torch.randn(4, 3, generator=gen, dtype=torch.float64) for _ in range(6)]
    for ours_cls, ref_cls, kw in [
        (GrowableSGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, weight_decay=0.1)),
        (GrowableAdam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    ]:
        p, q = nn.Parameter(p0.clone()), nn.Parameter(p0.clone())
        ours, ref = ours_cls([p], **kw), ref_cls([q], foreach=False, **kw)
        for g in grads:
            p.grad, q.grad = g.clone(), g.clone()
            ours.step()
            ref.step()
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-12)


def test_grow_without_state_is_a_no_op_and_state_starts_at_the_new_shape():
    p = nn.Parameter(torch.zeros(2, 2))
    opt = GrowableAdam([p], lr=0.1)
    _grow_rows(p, 3)
    opt.grow(p, 0, 3)  # no step yet: nothing to pad
    p.grad = torch.ones(5, 2)
    opt.step()
    assert {k: tuple(v.shape) for k, v in opt.state[p].items()} == {
        "m": (5, 2), "v": (5, 2), "t": (5, 2)}


def test_module_adopt_keeps_parameter_identity():
    gen = torch.Generator().manual_seed(0)
    module = GrowingModule([3, 2, 4], generator=gen)
    X = torch.randn(20, 3, generator=gen)
    opt = GrowableSGD(module.parameters(), lr=0.1, momentum=0.5)
    module(X).sum().backward()
    opt.step()
    ids = [id(p) for p in module.parameters()]
    weights, biases = ([t.detach() for t in ts] for ts in module.tensors())
    weights[0] = torch.cat([weights[0], torch.zeros(2, 3)])
    weights[1] = torch.cat([weights[1], torch.zeros(4, 2)], dim=1)
    biases[0] = torch.cat([biases[0], torch.zeros(2)])
    grown = module.adopt(weights, biases)
    assert [(tuple(p.shape), dim, n) for p, dim, n in grown] == [
        ((4, 3), 0, 2), ((4, 4), 1, 2), ((4,), 0, 2)]
    assert [id(p) for p in module.parameters()] == ids
    assert all(p.grad is None for p, _, _ in grown)
    for p, dim, n in grown:
        opt.grow(p, dim, n)
    # The optimizer still drives the module's parameters, at their new shapes.
    module(X).sum().backward()
    before = [p.detach().clone() for p in module.parameters()]
    opt.step()
    after = [p.detach() for p in module.parameters()]
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert all(opt.state[p]["buf"].shape == p.shape for p in module.parameters())
