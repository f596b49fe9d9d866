"""Grid searches over alignment strength on a dask cluster, through joblib."""

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")  # the `dask` extra

from joblib import parallel_config  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from reprlign import HumanAlignTransformer  # noqa: E402
from reprlign.datasets import make_hierarchical_concepts  # noqa: E402
from reprlign.model_selection import TripletObjectKFold  # noqa: E402
from reprlign.triplets import sample_triplets, simulate_choices  # noqa: E402


def test_grid_search_on_a_local_dask_cluster_equals_the_local_run():
    data = make_hierarchical_concepts(60, n_features=8, n_components=4, random_state=0)
    X = simulate_choices(data.human, sample_triplets(60, 800, random_state=0), random_state=0)
    est = HumanAlignTransformer(data.model, max_epochs=4, batch_size=128, random_state=0)
    grid = {"reg": [0.01, 1.0], "local_weight": [0.0, 0.2]}
    cv = TripletObjectKFold(3, shuffle=True, random_state=0)

    local = GridSearchCV(est, grid, cv=cv, n_jobs=1).fit(X)
    # In-process workers (no sockets); two of them, because joblib runs sequentially when the
    # backend offers a single slot.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream, parallel_config(backend="dask"):
            remote = GridSearchCV(est, grid, cv=cv, n_jobs=-1).fit(X)
    # the 4 x 3 fits really ran as tasks on the cluster (joblib may batch several per task)
    assert len(stream.data) >= 2
    assert len({t["worker"] for t in stream.data}) == 2

    for key in ("params", "mean_test_score", "split0_test_score", "split2_test_score"):
        a, b = local.cv_results_[key], remote.cv_results_[key]
        if key == "params":
            assert a == b
        else:
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(remote.best_estimator_.W_, local.best_estimator_.W_, atol=1e-6)
