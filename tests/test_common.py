"""scikit-learn's common estimator checks over every public reprlign estimator.

Estimators are found by :func:`reprlign.utils.all_estimators`, so a new public
estimator is checked without editing this file. ``CHECK_PARAMS`` gives fast
settings (few epochs) for the torch estimators; ``EXPECTED_FAILURES`` is the one
list of checks we knowingly fail, each with its reason.
"""

import pytest
import torch
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from reprlign.utils import all_estimators

# Estimator name -> parameters that keep the common checks fast.
CHECK_PARAMS: dict[str, dict] = {}
# FeatureExtractor wraps a model; an elementwise one accepts any number of input features.
CHECK_PARAMS["FeatureExtractor"] = {
    "model": torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Softsign()),
    "layers": ["0", "1"], "dtype": "float64", "batch_size": 7,
}
# OKOClassifier: a small MLP and a fixed number of sets, so a fit takes well under a second.
CHECK_PARAMS["OKOClassifier"] = {
    "hidden_layer_sizes": (16,), "sets_per_epoch": 64, "max_epochs": 15, "lr": 1e-2,
    "early_stopping": False, "random_state": 0,
}
# HumanAlignFinetuner: a small MLP over 12 objects' features, two epochs.
CHECK_PARAMS["HumanAlignFinetuner"] = {
    "module": torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)),
    "inputs": torch.randn(12, 4, generator=torch.Generator().manual_seed(0)),
    "max_epochs": 2, "early_stopping": False, "random_state": 0,
}
# GrowingMLP(Regressor): 4 -> 16 hidden units in 3 growth events, full batch, 25 epochs.
for _name in ("GrowingMLP", "GrowingMLPRegressor"):
    CHECK_PARAMS[_name] = {
        "hidden_layer_sizes": 16, "initial_hidden_sizes": 4, "grow_by": 4, "grow_every": 6,
        "max_epochs": 25, "lr": 0.1, "random_state": 0,
    }

# Estimator name -> {check name: one-line reason}.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}
# HumanAlignTransformer: samples are triplets (X (m, 3) object indices or (m, 3, d) features), so
# every check that fits on a generic (n, k) float table is rejected with a ValueError by design
# (its behaviour on triplets is covered by tests/alignment/test_human_align.py); fit_transform
# raises TypeError.
_TRIPLET_SAMPLES = "X must be triplets (m, 3) indices or (m, 3, d) features, not an (n, k) table"
EXPECTED_FAILURES["HumanAlignTransformer"] = {
    "check_complex_data": _TRIPLET_SAMPLES,
    "check_fit_check_is_fitted": _TRIPLET_SAMPLES,
    "check_dict_unchanged": _TRIPLET_SAMPLES,
    "check_dont_overwrite_parameters": _TRIPLET_SAMPLES,
    "check_dtype_object": _TRIPLET_SAMPLES,
    "check_estimator_sparse_array": _TRIPLET_SAMPLES,
    "check_estimator_sparse_matrix": _TRIPLET_SAMPLES,
    "check_estimator_sparse_tag": _TRIPLET_SAMPLES,
    "check_estimators_dtypes": _TRIPLET_SAMPLES,
    "check_estimators_empty_data_messages": _TRIPLET_SAMPLES,
    "check_estimators_fit_returns_self": _TRIPLET_SAMPLES,
    "check_estimators_nan_inf": _TRIPLET_SAMPLES,
    "check_estimators_overwrite_params": _TRIPLET_SAMPLES,
    "check_estimators_pickle": _TRIPLET_SAMPLES,
    "check_f_contiguous_array_estimator": _TRIPLET_SAMPLES,
    "check_fit2d_1feature": _TRIPLET_SAMPLES,
    "check_fit2d_1sample": _TRIPLET_SAMPLES,
    "check_fit2d_predict1d": _TRIPLET_SAMPLES,
    "check_fit_idempotent": _TRIPLET_SAMPLES,
    "check_fit_score_takes_y": _TRIPLET_SAMPLES,
    "check_is_fitted": _TRIPLET_SAMPLES,
    "check_methods_sample_order_invariance": _TRIPLET_SAMPLES,
    "check_methods_subset_invariance": _TRIPLET_SAMPLES,
    "check_n_features_in": _TRIPLET_SAMPLES,
    "check_n_features_in_after_fitting": _TRIPLET_SAMPLES,
    "check_pipeline_consistency": _TRIPLET_SAMPLES,
    "check_positive_only_tag_during_fit": _TRIPLET_SAMPLES,
    "check_readonly_memmap_input": _TRIPLET_SAMPLES,
    "check_transformer_data_not_an_array": _TRIPLET_SAMPLES,
    "check_transformer_general": _TRIPLET_SAMPLES,
    "check_transformer_preserve_dtypes": _TRIPLET_SAMPLES,
}

# HumanAlignFinetuner: samples are triplets too (X (m, 3) object indices into `inputs`); its
# behaviour on triplets is covered by tests/alignment/test_finetune.py.
_INDEX_TRIPLETS = "X must be triplets (m, 3) of object indices into `inputs`, not an (n, k) table"
EXPECTED_FAILURES["HumanAlignFinetuner"] = {
    "check_do_not_raise_errors_in_init_or_set_params":
        "the **module_params catch-all only takes skorch-style module__<name> keys",
    "check_complex_data": _INDEX_TRIPLETS,
    "check_dict_unchanged": _INDEX_TRIPLETS,
    "check_dont_overwrite_parameters": _INDEX_TRIPLETS,
    "check_dtype_object": _INDEX_TRIPLETS,
    "check_estimator_sparse_array": _INDEX_TRIPLETS,
    "check_estimator_sparse_matrix": _INDEX_TRIPLETS,
    "check_estimator_sparse_tag": _INDEX_TRIPLETS,
    "check_estimators_dtypes": _INDEX_TRIPLETS,
    "check_estimators_empty_data_messages": _INDEX_TRIPLETS,
    "check_estimators_fit_returns_self": _INDEX_TRIPLETS,
    "check_estimators_nan_inf": _INDEX_TRIPLETS,
    "check_estimators_overwrite_params": _INDEX_TRIPLETS,
    "check_estimators_pickle": _INDEX_TRIPLETS,
    "check_f_contiguous_array_estimator": _INDEX_TRIPLETS,
    "check_fit2d_1feature": _INDEX_TRIPLETS,
    "check_fit2d_1sample": _INDEX_TRIPLETS,
    "check_fit2d_predict1d": _INDEX_TRIPLETS,
    "check_fit_check_is_fitted": _INDEX_TRIPLETS,
    "check_fit_idempotent": _INDEX_TRIPLETS,
    "check_fit_score_takes_y": _INDEX_TRIPLETS,
    "check_methods_sample_order_invariance": _INDEX_TRIPLETS,
    "check_methods_subset_invariance": _INDEX_TRIPLETS,
    "check_n_features_in": _INDEX_TRIPLETS,
    "check_n_features_in_after_fitting": _INDEX_TRIPLETS,
    "check_pipeline_consistency": _INDEX_TRIPLETS,
    "check_positive_only_tag_during_fit": _INDEX_TRIPLETS,
    "check_readonly_memmap_input": _INDEX_TRIPLETS,
    "check_transformer_data_not_an_array": _INDEX_TRIPLETS,
    "check_transformer_general": _INDEX_TRIPLETS,
    "check_transformer_preserve_dtypes": _INDEX_TRIPLETS,
}


def _instances():
    return [cls(**CHECK_PARAMS.get(name, {})) for name, cls in all_estimators()]


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


def test_discovery_finds_only_estimators():
    from sklearn.base import BaseEstimator

    for name, cls in all_estimators():
        assert issubclass(cls, BaseEstimator), name
    # Every expected failure refers to an estimator that exists.
    names = {name for name, _ in all_estimators()}
    assert set(EXPECTED_FAILURES) <= names
    assert set(CHECK_PARAMS) <= names


if _instances():

    @parametrize_with_checks(_instances(), expected_failed_checks=_expected_failed_checks)
    def test_sklearn_compatible(estimator, check):
        check(estimator)


@pytest.mark.parametrize("estimator", _instances(), ids=lambda est: type(est).__name__)
def test_parameters_are_declared_and_validated(estimator):
    # Every parameter has a declared constraint, and an invalid value of any of them gives
    # sklearn's InvalidParameterError naming it before fit touches the data.
    assert set(estimator._parameter_constraints) == set(estimator.get_params(deep=False))
    check_param_validation(type(estimator).__name__, estimator)
