"""The torch training loop behind :class:`reprlign.HumanAlignTransformer`.

Kept apart from the estimator so that the estimator module reads as the
sklearn contract (parameters, validation, prediction) and this one as the
optimisation (the loss of the user guide's alignment page):

``loss = (1 - alpha) * L_global + alpha * L_local + lambda * L_reg``

The speed trick: per step the batch's objects are transformed once
(``Z = X_u W + b`` for the distinct objects ``u`` of the batch, or all objects
when the batch covers most of them) and the triplet similarities are gathered,
from ``S = Z Z^T`` when that product is cheaper than row-wise dot products.
The per-triplet one-hot products of the reference code are never formed.
"""

from __future__ import annotations

import time

import numpy as np

from ..utils._torch import EarlyStopping, log_epoch

# Opposite pairs of positions 0, 1, 2 (odd-one-out layout): (j,k), (i,k), (i,j).
_PAIR_A = [1, 0, 0]
_PAIR_B = [2, 2, 1]


def batch_similarities(X, W, b, triplets):
    """Similarities (B, 3) in the odd-one-out layout under ``Z = X W + b``.

    ``X`` (n, d) tensor, ``triplets`` (B, 3) long tensor on the same device.
    """
    import torch

    n, B = X.shape[0], triplets.shape[0]
    if 3 * B >= n:  # the batch touches most objects: transform them all, no unique()
        u_rows, inv = None, triplets
        Z = X @ W
    else:
        u_rows, inv = torch.unique(triplets, return_inverse=True)
        Z = X.index_select(0, u_rows) @ W
    if b is not None:
        Z = Z + b
    k = Z.shape[0]
    ia, ib = inv[:, _PAIR_A], inv[:, _PAIR_B]
    # One k x k GEMM beats 3B gathered row-wise dot products (whose backward is a scattered
    # index_add) unless the batch is tiny: measured break-even near k^2 = 400 B on 2 CPU cores.
    if k * k <= 400 * B:
        S = Z @ Z.T
        return S.reshape(-1)[ia * k + ib]
    za = Z.index_select(0, ia.reshape(-1))
    zb = Z.index_select(0, ib.reshape(-1))
    return (za * zb).sum(-1).view(B, 3)


def _soft_ce(logits, target, weight):
    """Weighted mean of the soft-label cross-entropy (= KL + the target's entropy)."""
    ce = -(target * logits.log_softmax(dim=1)).sum(dim=1)
    if weight is None:
        return ce.mean()
    return (weight * ce).sum() / weight.sum()


def _local_loss(P_teacher, P, W, b, tau):
    """gLocal's local contrastive term on one batch of unlabeled features.

    Teacher: the batch's original (standardised) features, L2-normalised;
    student: the transformed ones. The diagonal is removed from both cosine
    similarity matrices; per row, the student's ``softmax(S / tau)`` is fitted
    to the teacher's by soft-label cross-entropy.
    """
    import torch

    Zs = P @ W
    if b is not None:
        Zs = Zs + b
    Zs = torch.nn.functional.normalize(Zs, dim=1)
    S_student = Zs @ Zs.T
    S_teacher = P_teacher @ P_teacher.T
    B = S_student.shape[0]
    off = ~torch.eye(B, dtype=torch.bool, device=P.device)
    S_student = S_student[off].view(B, B - 1) / tau
    target = (S_teacher[off].view(B, B - 1) / tau).softmax(dim=1)
    return -(target * S_student.log_softmax(dim=1)).sum(dim=1).mean()


def _regulariser(W, toward):
    import torch

    if toward == "identity":  # pull toward a scaled identity, the scale left free
        eye = torch.eye(W.shape[0], dtype=W.dtype, device=W.device)
        return ((W - W.diagonal().mean() * eye) ** 2).sum()
    return (W**2).sum()


def train_transform(
    X,
    train,
    val,
    *,
    local_pool,
    method,
    reg,
    alpha,
    tau,
    temperature,
    bias,
    optimizer,
    lr,
    lr_schedule,
    max_epochs,
    batch_size,
    local_batch_size,
    patience,
    tol,
    clip_grad,
    init_scale,
    device,
    generator,
    verbose,
    estimator,
):
    """Fit ``W`` (d, d) and ``b`` (d,) by minibatch gradient descent.

    ``train`` and ``val`` are ``(triplets (m,3) int64, targets (m,3), weights (m,) or None)``
    numpy tuples (``val`` may be None: no early stopping). Returns a dict with
    ``W``, ``b`` (numpy float32), ``history`` (list of per-epoch dicts),
    ``n_epochs`` and ``best_epoch``.
    """
    import torch

    dtype = torch.float32
    Xt = torch.as_tensor(X, dtype=dtype, device=device)
    d = Xt.shape[1]

    def to_dev(part):
        t, y, w = part
        return (
            torch.as_tensor(t, dtype=torch.long, device=device),
            torch.as_tensor(y, dtype=dtype, device=device),
            None if w is None else torch.as_tensor(w, dtype=dtype, device=device),
        )

    t_tr, y_tr, w_tr = to_dev(train)
    m = t_tr.shape[0]
    if method == "naive":
        W0 = torch.randn(d, d, generator=generator, dtype=dtype) * init_scale
    else:
        W0 = torch.eye(d, dtype=dtype) * init_scale
    W = W0.to(device).requires_grad_(True)
    params = {"W": W}
    b = None
    if bias:
        b = torch.zeros(d, dtype=dtype, device=device, requires_grad=True)
        params["b"] = b
    opt_cls = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer]
    opt = opt_cls(list(params.values()), lr=lr)
    bs = m if batch_size is None else min(batch_size, m)
    sched = None
    if lr_schedule == "cosine":  # decay to 0 over the planned steps (early stopping may cut it)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max_epochs * -(-m // bs))
    toward = "zero" if method == "naive" else "identity"
    inv_T = 1.0 if temperature == "fit" else 1.0 / float(temperature)

    use_local = alpha > 0
    if use_local:
        pool = torch.as_tensor(local_pool, dtype=dtype, device=device)
        pool_teacher = torch.nn.functional.normalize(pool, dim=1)
        n_local = min(local_batch_size, pool.shape[0])

    stopper = EarlyStopping(patience, tol) if val is not None else None
    if val is not None:
        t_va, y_va, w_va = to_dev(val)
    history = []
    for epoch in range(max_epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(m, generator=generator).to(device)
        total, seen = 0.0, 0
        for start in range(0, m, bs):
            idx = perm[start : start + bs]
            sims = batch_similarities(Xt, W, b, t_tr[idx]) * inv_T
            loss = _soft_ce(sims, y_tr[idx], None if w_tr is None else w_tr[idx])
            if use_local:
                li = torch.randperm(pool.shape[0], generator=generator)[:n_local].to(device)
                local = _local_loss(pool_teacher[li], pool[li], W, b, tau)
                loss = (1 - alpha) * loss + alpha * local
            if reg > 0:
                loss = loss + reg * _regulariser(W, toward)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad is not None:
                torch.nn.utils.clip_grad_norm_(list(params.values()), clip_grad)
            opt.step()
            if sched is not None:
                sched.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        record = {"epoch": epoch + 1, "loss": total / seen}
        stop = False
        if val is not None:
            with torch.no_grad():
                s_va = batch_similarities(Xt, W, b, t_va) * inv_T
                val_loss = float(_soft_ce(s_va, y_va, w_va))
            record["val_loss"] = val_loss
            stop = stopper.step(val_loss, params)
        record["time"] = time.perf_counter() - t0
        history.append(record)
        if verbose:
            log_epoch(estimator, epoch + 1, **{k: v for k, v in record.items() if k != "epoch"})
        if stop:
            break
    best_epoch = len(history)
    if stopper is not None and stopper.best_params is not None:
        stopper.restore(params)
        best_epoch = stopper.best_epoch + 1
    return {
        "W": W.detach().cpu().numpy().astype(np.float32),
        "b": None if b is None else b.detach().cpu().numpy().astype(np.float32),
        "history": history,
        "n_epochs": len(history),
        "best_epoch": best_epoch,
    }
