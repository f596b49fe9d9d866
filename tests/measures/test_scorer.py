"""RSAScorer: the measures as a scikit-learn scorer."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from reprlign import RSAScorer
from reprlign.measures import cka, mutual_knn, procrustes, rsa


@pytest.fixture
def data(rng):
    X = rng.randn(150, 12)
    reference = X[:, :3] @ rng.randn(3, 5) + 0.1 * rng.randn(150, 5)
    return X, reference


@pytest.mark.parametrize(
    "params, fn, kwargs",
    [
        ({}, cka, {}),
        ({"debiased": True}, cka, {"debiased": True}),
        ({"kernel": "rbf", "sigma": 2.0}, cka, {"kernel": "rbf", "sigma": 2.0}),
        ({"metric": "rsa"}, rsa, {}),
        ({"metric": "rsa", "rdm_metric": "euclidean", "compare": "tau_a"}, rsa,
         {"rdm_metric": "euclidean", "compare": "tau_a"}),
        ({"metric": "procrustes"}, procrustes, {}),
        ({"metric": "mutual_knn", "k": 5}, mutual_knn, {"k": 5}),
    ],
)
def test_score_dispatches_to_the_measure(data, params, fn, kwargs):
    X, ref = data
    scorer = RSAScorer(**params)
    assert scorer.score(X, ref) == fn(X, ref, **kwargs)
    assert scorer(None, X, ref) == fn(X, ref, **kwargs)
    assert scorer("passthrough", X, ref) == fn(X, ref, **kwargs)


def test_scorer_uses_transform_and_cv_splits_rows_consistently(data):
    X, ref = data
    pca = PCA(n_components=3).fit(X)
    assert RSAScorer()(pca, X, ref) == cka(pca.transform(X), ref)
    scores = cross_val_score(PCA(n_components=3), X, ref, cv=KFold(3), scoring=RSAScorer())
    expected = [
        cka(PCA(n_components=3).fit(X[tr]).transform(X[te]), ref[te])
        for tr, te in KFold(3).split(X)
    ]
    assert np.allclose(scores, expected, atol=1e-12)


def test_grid_search_picks_the_aligned_dimensionality(data):
    X, ref = data
    X = X * np.r_[3.0, 3, 3, np.ones(9)]  # the reference lives in the top-3 PCA subspace
    scorer = RSAScorer(metric="rsa", rdm_metric="sqeuclidean", compare="pearson")
    grid = GridSearchCV(make_pipeline(StandardScaler(with_std=False), PCA()),
                        {"pca__n_components": [1, 3, 12]}, scoring=scorer, cv=3)
    grid.fit(X, ref)
    assert grid.best_params_ == {"pca__n_components": 3}
    scores = grid.cv_results_["mean_test_score"]
    assert scores[1] > scores[2] > scores[0]


def test_params_clone_pickle_repr():
    scorer = RSAScorer(metric="rsa", compare="pearson", random_state=3)
    params = scorer.get_params()
    assert params["metric"] == "rsa" and params["random_state"] == 3 and len(params) == 12
    twin = clone(scorer)
    assert twin is not scorer and twin.get_params() == params
    assert pickle.loads(pickle.dumps(scorer)).get_params() == params
    assert repr(scorer) == "RSAScorer(compare='pearson', metric='rsa', random_state=3)"
    assert scorer.set_params(k=4) is scorer and scorer.k == 4
    with pytest.raises(ValueError, match="(?i)invalid parameter"):
        scorer.set_params(kernal="rbf")


def test_score_ci(data):
    X, ref = data
    scorer = RSAScorer(n_bootstrap=100, random_state=0)
    ci = scorer.score_ci(X, ref)
    assert ci.value == scorer.score(X, ref)
    assert ci.low < ci.value < ci.high and ci.distribution.shape == (100,)
    again = scorer.score_ci(X, ref)
    assert (again.low, again.high) == (ci.low, ci.high)
    bca = RSAScorer(n_bootstrap=100, random_state=0, ci_method="bca", confidence=0.5)
    assert bca.score_ci(X, ref).high - bca.score_ci(X, ref).low < ci.high - ci.low


def test_device_and_errors(data):
    X, ref = data
    assert RSAScorer(device="cpu").score(X, ref) == pytest.approx(cka(X, ref), abs=1e-12)
    assert RSAScorer().score(torch.tensor(X), ref) == pytest.approx(cka(X, ref), abs=1e-12)
    with pytest.raises(ValueError, match="metric"):
        RSAScorer(metric="cca").score(X, ref)
    with pytest.raises(ValueError, match="reference representation"):
        RSAScorer()(None, X, None)
    with pytest.raises(TypeError, match="no transform"):
        RSAScorer()(object(), X, ref)
    with pytest.raises(ValueError, match="same stimuli"):
        RSAScorer().score(X, ref[:-1])


def test_parameters_on_base_estimator_but_not_an_estimator():
    from sklearn.base import BaseEstimator
    from sklearn.utils.estimator_checks import check_param_validation

    from reprlign.utils import all_estimators

    # BaseEstimator gives the parameter protocol; nothing is fitted, so the estimator
    # checks do not apply.
    assert isinstance(RSAScorer(), BaseEstimator) and not hasattr(RSAScorer(), "fit")
    assert "RSAScorer" not in dict(all_estimators())
    check_param_validation("RSAScorer", RSAScorer())


@pytest.mark.parametrize("param, value", [
    ("kernel", "poly"), ("debiased", "yes"), ("sigma", -1.0), ("rdm_metric", "l1"),
    ("compare", "kendall"), ("k", 0), ("n_bootstrap", 1), ("confidence", 95),
    ("ci_method", "student"),
])
def test_parameters_are_validated_when_scoring(data, param, value):
    from sklearn.utils._param_validation import InvalidParameterError

    X, ref = data
    with pytest.raises(InvalidParameterError, match=f"The '{param}' parameter of RSAScorer"):
        RSAScorer(**{param: value}).score(X, ref)


def test_registry_is_the_one_list():
    """The scorer, the resampling functions and the CLI read their measures from the registry."""
    import inspect

    from reprlign._cli import build_parser
    from reprlign.measures import bootstrap
    from reprlign.measures.registry import FEATURE_MEASURES, MEASURES, get_measure

    for name, m in MEASURES.items():
        sig = inspect.signature(m.function).parameters
        assert m.defaults() == {p: sig[p].default for p in m.params}, name
        assert get_measure(name) is m and get_measure(m.function) is m
        for param in m.params.values():
            if param.choices is not None:
                assert param.default in param.choices
    scorer_defaults = RSAScorer().get_params()
    for m in MEASURES.values():
        for p in set(m.params) & set(scorer_defaults) - {"metric"}:
            assert scorer_defaults[p] == m.params[p].default, p
    assert RSAScorer._parameter_constraints["metric"][0].options == set(FEATURE_MEASURES)
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["score"]
    metric = next(a for a in sub._actions if a.dest == "metric")
    assert tuple(metric.choices) == FEATURE_MEASURES
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    for name in FEATURE_MEASURES:  # every scorer measure resamples by name
        assert np.isfinite(bootstrap(name, X, X + rng.randn(30, 3), n_bootstrap=5,
                                     random_state=0).value)
