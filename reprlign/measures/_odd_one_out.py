"""Agreement of a representation with human odd-one-out choices, via reprlign.triplets."""

from __future__ import annotations

from sklearn.utils import Bunch

from ..triplets import choice_kl
from ..triplets._choices import (
    _check_similarity,
    _choice_softmax,
    _correct,
    _features_and_triplets,
    _pair_columns,
    _referenced_rows,
    _stack,
)
from ..triplets.validation import check_distributions, odd_positions
from ..utils._torch import to_numpy
from ..utils._validation import check_in_memory, check_positive


def odd_one_out_agreement(X, triplets, y=None, *, similarity="cosine", temperature=1.0):
    """How well a representation reproduces human odd-one-out choices.

    Parameters
    ----------
    X : array-like, torch.Tensor or dask array of shape (n_objects, d)
        The representation, one row per object. A dask array is not computed
        whole: only the row chunks holding an object of ``triplets`` are
        read, once, and only those rows are kept (memory
        ``O(n_referenced_objects x d)``).
    triplets : array-like of shape (m, 3)
        Object indices into ``X`` (see :mod:`reprlign.triplets`).
    y : None, array-like of shape (m,) or of shape (m, 3)
        Human choices: None for canonical triplets (odd one out last), the
        odd-one-out position of each triplet, or a choice distribution per
        triplet in the odd-one-out layout (for example ``choice_proba`` of
        :func:`reprlign.datasets.load_things_triplets`).
    similarity : {"cosine", "dot"}, default="cosine"
        Pair similarity; cosine is the usual zero-shot choice for raw features.
    temperature : float, default=1.0
        Softmax temperature of the model's choice distribution (used for the
        KL divergence only).

    Returns
    -------
    sklearn.utils.Bunch
        * ``accuracy``: fraction of triplets whose human odd one out the
          representation predicts (ties are wrong; chance 1/3). With choice
          distributions, the human answer is the majority (an exact tie goes to
          the lowest position).
        * ``kl``: mean ``KL(human || model)`` when ``y`` holds choice
          distributions, else None.
        * ``n_triplets``: m.

    See Also
    --------
    reprlign.triplets.odd_one_out_accuracy, reprlign.triplets.choice_kl

    Notes
    -----
    The odd-one-out protocol of Hebart et al. (2020) and Muttenthaler et al.
    (2023); this is a thin combination of :func:`~reprlign.triplets.odd_one_out_accuracy`,
    :func:`~reprlign.triplets.choice_probabilities` and
    :func:`~reprlign.triplets.choice_kl`, which share one computation of the
    triplets' similarities. With a dask ``X``, every argument is checked
    (triplet indices against ``X.shape[0]``, the shape of ``y``) before any
    chunk is read; NaN or infinite values are looked for in the rows read.

    Examples
    --------
    >>> import numpy as np
    >>> from reprlign.measures import odd_one_out_agreement
    >>> X = np.array([[1.0, 0], [0.9, 0.1], [0, 1]])
    >>> odd_one_out_agreement(X, [[0, 1, 2]]).accuracy
    1.0
    """
    _check_similarity(similarity)
    X, t = _features_and_triplets(X, triplets, name="X")
    # y is checked before a dask X is read
    check_in_memory(y, "y")
    y_arr = None if y is None else to_numpy(y)
    if y_arr is not None and y_arr.ndim == 2:
        if y_arr.shape != (t.shape[0], 3):
            raise ValueError(
                f"y as choice distributions must have shape ({t.shape[0]}, 3), "
                f"got {y_arr.shape}"
            )
        check_positive(temperature, "temperature")
        target = check_distributions(y_arr, "target")
        odd = y_arr.argmax(axis=1)
    else:
        odd = None if y is None else odd_positions(y, t.shape[0])
    cols = _pair_columns(*_referenced_rows(X, t, name="X"), similarity, name="X")
    kl = None
    if y_arr is not None and y_arr.ndim == 2:
        kl = choice_kl(target, _choice_softmax(_stack(cols), temperature))
    accuracy = float(_correct(cols, odd).mean())
    return Bunch(accuracy=accuracy, kl=kl, n_triplets=int(t.shape[0]))
