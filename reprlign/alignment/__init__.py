"""Aligning representations and networks to human judgments.

:class:`HumanAlignTransformer` fits a linear transform of a frozen feature table
to human odd-one-out triplets (gLocal, global and naive probes; soft-label
distillation as in AligNet). :class:`HumanAlignFinetuner` fine-tunes a torch
network on triplets, typically labelled by such a teacher with
:func:`teacher_triplets` (AligNet's student step).
"""

from ._finetune import HumanAlignFinetuner
from ._human_align import HumanAlignTransformer
from ._teacher import teacher_triplets

__all__ = ["HumanAlignFinetuner", "HumanAlignTransformer", "teacher_triplets"]
