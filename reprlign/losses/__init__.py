"""Differentiable objectives in torch: triplet KL / cross-entropy, soft ranks, perturbed top-k.

Any torch user can import them; :class:`reprlign.HumanAlignFinetuner` trains
networks with them.

* :func:`triplet_kl`, :func:`triplet_cross_entropy`: a model's choice
  distribution over the odd one out against a target distribution (a
  teacher's, human repeats) or hard labels, in the odd-one-out layout of
  :mod:`reprlign.triplets`.
* :func:`soft_rank`, :func:`soft_spearman`, :func:`soft_rsa_loss`:
  differentiable ranks (Blondel et al. 2020) and, on them, training toward a
  target RDM by Spearman correlation.
* :func:`perturbed_topk`, :func:`knn_overlap_loss`: soft top-k indicators
  (Berthet et al. 2020; Cordonnier et al. 2021) and, on them, the trainable
  counterpart of :func:`reprlign.measures.mutual_knn`.
"""

from ._ranking import soft_rank, soft_rsa_loss, soft_spearman
from ._topk import knn_overlap_loss, perturbed_topk
from ._triplet import triplet_cross_entropy, triplet_kl

__all__ = [
    "knn_overlap_loss",
    "perturbed_topk",
    "soft_rank",
    "soft_rsa_loss",
    "soft_spearman",
    "triplet_cross_entropy",
    "triplet_kl",
]
