"""The torch side of :class:`reprlign.HumanAlignTransformer`: a module, its loss, a skorch net.

* :class:`TripletTransform` is the model: ``Z = X W + b`` over a fixed object table
  ``X``; its forward pass maps a batch of triplets to their three similarities in
  the odd-one-out layout.
* :class:`HumanAlignNet` is a skorch :class:`~skorch.NeuralNet` that trains it; what
  differs from a plain net is the loss (:meth:`HumanAlignNet.get_loss`):
  ``(1 - alpha) * L_global + alpha * L_local + lambda * L_reg``.
* :class:`TripletData` / :class:`TripletBatches` stand in for skorch's Dataset and
  DataLoader: the triplets, targets and weights are tensors on the training device
  and a batch is one slice of a permutation, with no per-sample collation.

The speed trick: per step the batch's objects are transformed once (the distinct
objects of the batch, or all objects when the batch covers most of them) and the
triplet similarities are gathered, from ``S = Z Z^T`` when that product is cheaper
than row-wise dot products. The per-triplet one-hot products of the reference code
are never formed.
"""

from __future__ import annotations

import math
import warnings

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback

# Opposite pairs of positions 0, 1, 2 (odd-one-out layout): (j,k), (i,k), (i,j).
_PAIR_A = [1, 0, 0]
_PAIR_B = [2, 2, 1]


def batch_similarities(X, W, b, triplets):
    """Similarities (B, 3) in the odd-one-out layout under ``Z = X W + b``.

    ``X`` (n, d) tensor, ``triplets`` (B, 3) long tensor on the same device.
    """
    n, B = X.shape[0], triplets.shape[0]
    if 3 * B >= n:  # the batch touches most objects: transform them all, no unique()
        inv = triplets
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


class TripletTransform(torch.nn.Module):
    """``Z = X W + b`` over a fixed object table; forward: triplet similarities.

    Parameters
    ----------
    features : torch.Tensor of shape (n_objects, d)
        The (standardised) object table, kept as a non-persistent buffer: it is
        not part of the ``state_dict`` that early stopping copies.
    init : {"identity", "random"}
        ``W = init_scale * I`` (gLocal), or entries drawn from
        ``N(0, init_scale^2)`` (the naive probe).
    init_scale : float
        ``sigma`` of the initialisation.
    bias : bool
        Learn an offset ``b`` (initialised at 0).
    seed : int
        Seeds the random initialisation.
    """

    def __init__(self, features, *, init="identity", init_scale=1.0, bias=True, seed=0):
        super().__init__()
        self.register_buffer("features", features, persistent=False)
        d = features.shape[1]
        if init == "random":
            gen = torch.Generator().manual_seed(int(seed))
            W = torch.randn(d, d, generator=gen, dtype=features.dtype) * init_scale
        else:
            W = torch.eye(d, dtype=features.dtype) * init_scale
        self.W = torch.nn.Parameter(W)
        self.b = torch.nn.Parameter(torch.zeros(d, dtype=features.dtype)) if bias else None

    def forward(self, triplets):
        return batch_similarities(self.features, self.W, self.b, triplets)

    def transform(self, X):
        """``X W + b`` for any (n, d) tensor of standardised features."""
        Z = X @ self.W
        return Z if self.b is None else Z + self.b

    def penalty(self, toward):
        """``||W - mean(diag W) I||_F^2`` (``toward="identity"``) or ``||W||_F^2``."""
        W = self.W
        if toward == "identity":  # pull toward a scaled identity, the scale left free
            return (W**2).sum() - W.diagonal().sum() ** 2 / W.shape[0]
        return (W**2).sum()


class SoftTargetCrossEntropy(torch.nn.Module):
    """Weighted mean soft-label cross-entropy of ``softmax(s / T)`` (= KL + target entropy).

    ``forward(similarities, target, weight=None)``: similarities and target (B, 3),
    weight (B,) or None.
    """

    def __init__(self, temperature=1.0):
        super().__init__()
        self.temperature = float(temperature)

    def forward(self, similarities, target, weight=None):
        logits = similarities if self.temperature == 1.0 else similarities / self.temperature
        ce = -(target * logits.log_softmax(dim=1)).sum(dim=1)
        if weight is None:
            return ce.mean()
        return (weight * ce).sum() / weight.sum()


class LocalStructureLoss(torch.nn.Module):
    """gLocal's local term: keep each pool point's cosine neighbourhood as it was.

    Per call, ``batch_size`` rows of the (standardised) pool are drawn; the
    teacher is the original rows L2-normalised, the student the transformed rows
    L2-normalised; per row of the two cosine-similarity matrices with the diagonal
    removed, the student's ``softmax(S / tau)`` is fitted to the teacher's by
    soft-label cross-entropy. When ``batch_size`` covers the pool, the whole pool
    is used every call, without drawing.

    Exact, computed faster: the teacher side is constant, so its cosine matrix
    over a pool of up to ``cache_limit`` rows is computed once and each call
    gathers the drawn rows' block (when the batch covers the pool, the targets
    themselves are computed once); the diagonal is left out through a
    log-sum-exp over the other entries instead of gathering ``B * (B - 1)``
    entries of both matrices.

    Parameters
    ----------
    pool : torch.Tensor of shape (n_pool, d)
    tau : float
    batch_size : int
    seed : int
        Seeds the draws of pool rows.
    cache_limit : int, default=4096
        Largest pool whose teacher cosine matrix is kept (``cache_limit ** 2``
        floats).
    """

    def __init__(self, pool, *, tau=1.0, batch_size=1024, seed=0, cache_limit=4096):
        super().__init__()
        self.register_buffer("pool", pool, persistent=False)
        teacher = torch.nn.functional.normalize(pool, dim=1)
        if pool.shape[0] <= cache_limit:
            teacher = teacher @ teacher.T
        self.register_buffer("teacher", teacher, persistent=False)
        self.tau = float(tau)
        self.batch_size = min(int(batch_size), pool.shape[0])
        self.generator = torch.Generator().manual_seed(int(seed))
        self._targets = None  # the targets when every call uses the whole pool

    def _teacher_targets(self, idx):
        """Row-wise ``softmax(S_teacher / tau)`` with the diagonal left out (0 there)."""
        T = self.teacher
        if T.shape[0] == T.shape[1] == self.pool.shape[0]:  # the cached cosine matrix
            S = T if idx is None else T.index_select(0, idx).index_select(1, idx)
        else:
            T = T if idx is None else T.index_select(0, idx)
            S = T @ T.T
        diag = torch.eye(S.shape[0], dtype=torch.bool, device=S.device)
        return (S / self.tau).masked_fill_(diag, float("-inf")).softmax(dim=1)

    def forward(self, transform):
        """The loss for the module's ``transform`` (a callable ``(B, d) -> (B, d)``)."""
        n = self.pool.shape[0]
        if self.batch_size >= n:
            P = self.pool
            if self._targets is None or self._targets.device != P.device:
                self._targets = self._teacher_targets(None)
            target = self._targets
        else:
            idx = torch.randperm(n, generator=self.generator)[: self.batch_size]
            idx = idx.to(self.pool.device)
            P, target = self.pool.index_select(0, idx), self._teacher_targets(idx)
        Zs = torch.nn.functional.normalize(transform(P), dim=1)
        S = (Zs @ Zs.T) / self.tau
        # Cross-entropy over the off-diagonal entries: log-sum-exp without the diagonal minus
        # the target-weighted logits (the target is 0 on the diagonal). Equal to removing the
        # diagonal from both matrices, without gathering B * (B - 1) entries.
        diag = torch.eye(S.shape[0], dtype=torch.bool, device=S.device)
        lse = torch.logsumexp(S.masked_fill(diag, float("-inf")), dim=1)
        return (lse - (target * S).sum(dim=1)).mean()


class TripletData(torch.utils.data.Dataset):
    """Triplets (m, 3) long, targets (m, 3) and optional weights (m,), as tensors.

    Item ``i`` is ``(triplets[i], (targets[i], weights[i] or None))``; training
    reads whole batches through :class:`TripletBatches` instead.
    """

    def __init__(self, triplets, targets, weights=None):
        self.triplets, self.targets, self.weights = triplets, targets, weights

    def __len__(self):
        return self.triplets.shape[0]

    def __getitem__(self, i):
        w = None if self.weights is None else self.weights[i]
        return self.triplets[i], (self.targets[i], w)

    def batch(self, idx=None):
        """All rows (``idx=None``) or the rows ``idx`` as one batch."""
        if idx is None:
            return self.triplets, (self.targets, self.weights)
        w = None if self.weights is None else self.weights[idx]
        return self.triplets[idx], (self.targets[idx], w)


class TripletBatches:
    """skorch iterator over a :class:`TripletData`: slices of a fresh permutation per pass.

    Parameters
    ----------
    dataset : TripletData
    batch_size : int
    shuffle : bool, default=False
    generator : torch.Generator, optional
        Draws the permutations.
    """

    def __init__(self, dataset, batch_size, shuffle=False, generator=None):
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.generator = shuffle, generator

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        m = len(self.dataset)
        if self.batch_size >= m:  # one batch: its order does not change the loss
            yield self.dataset.batch()
            return
        if self.shuffle:
            order = torch.randperm(m, generator=self.generator)
            order = order.to(self.dataset.triplets.device)
        else:
            order = torch.arange(m, device=self.dataset.triplets.device)
        for start in range(0, m, self.batch_size):
            yield self.dataset.batch(order[start:start + self.batch_size])


class HumanAlignNet(NeuralNet):
    """skorch net of a :class:`TripletTransform`; only the loss differs from NeuralNet.

    Training loss ``(1 - local_weight) * criterion + local_weight * local_criterion +
    reg * module.penalty(toward)``; the validation loss (the one early stopping
    monitors) is the criterion alone.

    Parameters
    ----------
    module : TripletTransform class or instance
    reg : float
        ``lambda``, the weight of the penalty.
    toward : {"identity", "zero"}
        What the penalty pulls ``W`` toward (a scaled identity, or zero).
    local_weight : float
        ``alpha``; 0 turns the local term off.
    local_criterion : LocalStructureLoss class or None
        The local term, configured with ``local_criterion__*`` parameters.
    **kwargs
        Passed to :class:`skorch.NeuralNet`.
    """

    def __init__(self, module, *, reg=0.0, toward="identity", local_weight=0.0,
                 local_criterion=None, **kwargs):
        kwargs.setdefault("criterion", SoftTargetCrossEntropy)
        super().__init__(module, **kwargs)
        self.reg = reg
        self.toward = toward
        self.local_weight = local_weight
        self.local_criterion = local_criterion

    def initialize_criterion(self):
        super().initialize_criterion()
        if self.local_criterion is not None and self.local_weight > 0:
            params = self.get_params_for("local_criterion")
            self.local_criterion_ = self.local_criterion(**params).to(self.device)
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        target, weight = y_true
        loss = self.criterion_(y_pred, target, weight)
        if not training:
            return loss
        if self.local_weight > 0:
            local = self.local_criterion_(self.module_.transform)
            loss = (1 - self.local_weight) * loss + self.local_weight * local
        if self.reg > 0:
            loss = loss + self.reg * self.module_.penalty(self.toward)
        return loss


class DivergenceCheck(Callback):
    """Stops a fit whose training loss is not finite, and warns when it grew.

    A non-finite training loss raises a ``ValueError`` naming the epoch and
    ``hint`` (what to change); a last training loss more than ten times the
    first one ends the fit with a ``RuntimeWarning``.
    """

    def __init__(self, hint=""):
        self.hint = hint

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1, "train_loss"]
        if not math.isfinite(loss):
            raise ValueError(f"training diverged: the training loss is {loss} at epoch "
                             f"{len(net.history)}; {self.hint}")

    def on_train_end(self, net, **kwargs):
        losses = net.history[:, "train_loss"]
        if len(losses) > 1 and losses[-1] > 10 * max(losses[0], 1e-12):
            warnings.warn(f"the training loss rose from {losses[0]:.4g} (epoch 1) to "
                          f"{losses[-1]:.4g} (epoch {len(losses)}): the fit diverged; "
                          f"{self.hint}", RuntimeWarning, stacklevel=2)
