"""The one list of named measures, read by :class:`RSAScorer`, the resampling functions and the CLI.

Each entry says what the measure compares (two feature tables, or two RDMs)
and which of its keyword parameters the scorer and the command line offer,
with their defaults and allowed values (the tests check them against the
functions' signatures). The allowed values of the measures' own arguments are
defined here too, so a new kernel or comparator is added in one place. This
module imports nothing heavy: the command line builds its ``--help`` from it,
and a measure's function is imported on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import MappingProxyType

KERNELS = ("linear", "rbf")
RDM_METRICS = ("correlation", "cosine", "euclidean", "sqeuclidean")
COMPARATORS = ("spearman", "pearson", "tau_a", "cosine")
KNN_METRICS = ("cosine", "euclidean")
PROCRUSTES_MEASURES = ("similarity", "angular")


@dataclass(frozen=True)
class Param:
    """A keyword parameter of a measure: its default and allowed values (None: any)."""

    default: object
    choices: tuple | None = None


@dataclass(frozen=True)
class Measure:
    """A named measure.

    Attributes
    ----------
    name : str
        Also the function's name in :mod:`reprlign.measures`.
    inputs : {"features", "rdms"}
        Two (n, d) representations of the same stimuli, or two RDMs.
    params : mapping of str -> Param
        The keyword parameters offered to users.
    """

    name: str
    inputs: str
    params: MappingProxyType

    @property
    def function(self):
        """``function(X, Y, **params) -> float`` (a 0-d tensor for torch input)."""
        return getattr(importlib.import_module("reprlign.measures"), self.name)

    def defaults(self):
        return {name: p.default for name, p in self.params.items()}


def _measure(name, inputs, **params):
    return Measure(name, inputs, MappingProxyType(params))


MEASURES = MappingProxyType({m.name: m for m in (
    _measure("cka", "features", kernel=Param("linear", KERNELS),
             debiased=Param(False, (False, True)), sigma=Param(None)),
    _measure("rsa", "features", rdm_metric=Param("correlation", RDM_METRICS),
             compare=Param("spearman", COMPARATORS)),
    _measure("procrustes", "features", measure=Param("similarity", PROCRUSTES_MEASURES)),
    _measure("mutual_knn", "features", k=Param(10), metric=Param("cosine", KNN_METRICS)),
    _measure("compare_rdms", "rdms", method=Param("spearman", COMPARATORS)),
)})

#: Measures of two feature tables: what :class:`RSAScorer` and ``python -m reprlign score`` offer.
FEATURE_MEASURES = tuple(name for name, m in MEASURES.items() if m.inputs == "features")


def get_measure(measure):
    """The :class:`Measure` named ``measure``; for a callable, its entry or an anonymous one."""
    if isinstance(measure, str):
        if measure not in MEASURES:
            raise ValueError(f"measure must be a callable or one of {sorted(MEASURES)}, "
                             f"got {measure!r}")
        return MEASURES[measure]
    if not callable(measure):
        raise TypeError(f"measure must be a callable or a name, got {type(measure).__name__}")
    for m in MEASURES.values():  # the function itself resamples as its name does
        if m.function is measure:
            return m
    return _Anonymous(measure)


class _Anonymous:
    """A user's callable: features in, no declared parameters."""

    inputs = "features"
    params = MappingProxyType({})

    def __init__(self, function):
        self.function = function
        self.name = getattr(function, "__name__", "measure")

    def defaults(self):
        return {}
