"""Input checks shared by the measures: a pair of representations of the same stimuli."""

from __future__ import annotations

import warnings

import numpy as np

from ..utils._backend import is_torch, to_float64
from ..utils._validation import check_features


def check_pair(X, Y, *, min_samples=2, names=("X", "Y")):
    """Validate two (n, d) representations of the same n stimuli.

    Returns both in one back end: if either is a torch tensor, the other is
    moved to its device; dtypes are promoted to the wider of the two.
    """
    X = check_features(X, name=names[0], min_samples=min_samples)
    Y = check_features(Y, name=names[1], min_samples=min_samples)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must describe the same stimuli (rows): "
            f"got {X.shape[0]} and {Y.shape[0]} rows"
        )
    if is_torch(X) or is_torch(Y):
        import torch

        ref = X if is_torch(X) else Y
        X = torch.as_tensor(X, device=ref.device)
        Y = torch.as_tensor(Y, device=ref.device)
        dtype = torch.promote_types(X.dtype, Y.dtype)
        return X.to(dtype), Y.to(dtype)
    dtype = np.promote_types(X.dtype, Y.dtype)
    return X.astype(dtype, copy=False), Y.astype(dtype, copy=False)


def degenerate(measure, what, value=0.0):
    """Warn that ``measure`` is undefined because of ``what``; return the documented value."""
    warnings.warn(
        f"{measure} is undefined: {what}; returning {value}",
        RuntimeWarning,
        stacklevel=4,
    )
    return value


def center_columns(X):
    """Column-centred copy of ``X``; constant columns become exactly zero.

    Subtracting a float mean can leave ulp-sized residue in a constant column,
    which a normalised measure would then blow up into a spurious signal.
    """
    Xc = X - X.mean(axis=0, keepdims=True)
    if is_torch(X):
        constant = X.amax(dim=0) == X.amin(dim=0)
    else:
        constant = X.max(axis=0) == X.min(axis=0)
    if bool(constant.any()):
        Xc[:, constant] = 0
    return Xc


def feature_space_cheaper(n, d1, d2):
    """Whether three d x d products cost no more than two n x n Gram matrices."""
    return d1 * d2 + (d1 * d1 + d2 * d2) / 2 <= n * (d1 + d2) / 2 + n


def gram_products(A, B):
    """``(||A'B||_F^2, ||A'A||_F^2, ||B'B||_F^2)`` in float64, by the cheaper exact route.

    These are ``tr(K L)``, ``tr(K K)`` and ``tr(L L)`` for ``K = A A'`` and
    ``L = B B'``: three d x d products cost ``O(n d^2)`` and no n x n matrix;
    when ``d > n`` the two n x n Gram matrices are cheaper and are used instead.
    """
    n, d1 = A.shape
    if feature_space_cheaper(n, d1, B.shape[1]):
        return (
            (to_float64(B.T @ A) ** 2).sum(),
            (to_float64(A.T @ A) ** 2).sum(),
            (to_float64(B.T @ B) ** 2).sum(),
        )
    K = to_float64(A @ A.T)
    L = to_float64(B @ B.T)
    return (K * L).sum(), (K * K).sum(), (L * L).sum()


def row_sq_norms(X, block=8192):
    """Squared L2 norm of each row, accumulated in float64 block by block (O(block x d) memory)."""
    parts = [(to_float64(X[i : i + block]) ** 2).sum(axis=1) for i in range(0, X.shape[0], block)]
    if is_torch(X):
        import torch

        return torch.cat(parts)
    return np.concatenate(parts)
