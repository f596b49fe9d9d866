"""Find the public estimators of reprlign, so checks cover new ones automatically."""

from __future__ import annotations

import inspect


def all_estimators():
    """Return ``(name, class)`` pairs for every public sklearn estimator in reprlign.

    An estimator is public when its name is in ``reprlign.__all__``, it derives
    from :class:`sklearn.base.BaseEstimator` and it can be fitted (a scorer such
    as :class:`~reprlign.RSAScorer` uses ``BaseEstimator`` for its parameters
    only). The list is sorted by name.
    """
    from sklearn.base import BaseEstimator

    import reprlign

    found = []
    for name in reprlign.__all__:
        obj = getattr(reprlign, name)
        if (inspect.isclass(obj) and issubclass(obj, BaseEstimator) and hasattr(obj, "fit")
                and not inspect.isabstract(obj)):
            found.append((name, obj))
    return sorted(found)
