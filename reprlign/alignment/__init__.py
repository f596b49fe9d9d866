"""Aligning representations to human judgments.

:class:`HumanAlignTransformer` fits a linear transform of a frozen feature table
to human odd-one-out triplets (gLocal, global and naive probes; soft-label
distillation as in AligNet).
"""

from ._human_align import HumanAlignTransformer

__all__ = ["HumanAlignTransformer"]
