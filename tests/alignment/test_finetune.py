"""HumanAlignFinetuner: the sklearn contract, the two efficiencies, what trains, bad input."""

import itertools
import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_param_validation

from reprlign import HumanAlignFinetuner, teacher_triplets
from reprlign.alignment._finetune_net import object_batches, triplet_batches
from reprlign.datasets import make_hierarchical_concepts
from reprlign.measures import mutual_knn, rdm, rsa
from reprlign.model_selection import TripletObjectKFold
from reprlign.triplets import odd_one_out_accuracy, sample_triplets, simulate_choices

FAST = dict(lr=1e-2, max_epochs=6, batch_objects=40, batch_size=512, early_stopping=False,
            random_state=0)


def mlp(d_in=12, width=24, d_out=12, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d_in, width), torch.nn.ReLU(),
                               torch.nn.Linear(width, width), torch.nn.ReLU(),
                               torch.nn.Linear(width, d_out))


@pytest.fixture(scope="module")
def toy():
    data = make_hierarchical_concepts(120, n_coarse=3, n_fine=3, n_components=6, n_features=12,
                                      random_state=0)
    inputs = torch.tensor(data.model, dtype=torch.float32)
    X, y = teacher_triplets(data.human, 20_000, temperature=0.5, random_state=1)
    human = simulate_choices(data.human, sample_triplets(120, 3000, random_state=2),
                             random_state=3)
    return data, inputs, X, y, human


# ---------------------------------------------------------------- the contract
def test_clone_params_and_param_validation(toy):
    _, inputs, *_ = toy
    est = HumanAlignFinetuner(mlp, inputs=inputs, module__width=8, lr=0.5)
    params = est.get_params()
    assert params["module__width"] == 8 and params["lr"] == 0.5
    twin = clone(est)
    assert twin.module__width == 8 and torch.equal(twin.inputs, inputs)
    check_param_validation("HumanAlignFinetuner", HumanAlignFinetuner(mlp(), inputs=inputs))
    with pytest.raises(TypeError, match="unexpected keyword"):
        HumanAlignFinetuner(mlp(), inputs=inputs, width=3).fit(np.array([[0, 1, 2]] * 4))


def test_learns_the_teacher_and_generalises_to_new_objects(toy):
    data, inputs, X, y, human = toy
    # Train on teacher triplets of 2/3 of the objects only; test on human triplets of the rest.
    train, test = next(TripletObjectKFold(3, shuffle=True, random_state=0).split(human))
    seen = np.setdiff1d(np.arange(120), np.unique(human[test]))
    keep = np.isin(X, seen).all(axis=1)
    est = HumanAlignFinetuner(mlp(), inputs=inputs, **FAST).fit(X[keep], y[keep])
    zero_shot = odd_one_out_accuracy(data.model, human[test], similarity="cosine")
    assert est.score(human[test]) > zero_shot + 0.03
    proba = est.predict_proba(human[test])
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(est.predict(human[test]), proba.argmax(axis=1))
    assert est.decision_function(human[:5]).shape == (5, 3)
    assert est.net_.history[-1, "train_loss"] < est.net_.history[0, "train_loss"]


def test_pickle_round_trip_and_transform_of_indices_or_raw_inputs(toy):
    _, inputs, X, y, human = toy
    est = HumanAlignFinetuner(mlp(), inputs=inputs, **{**FAST, "max_epochs": 2}).fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(again.predict_proba(human[:50]), est.predict_proba(human[:50]))
    by_index = est.transform([3, 4, 5])
    np.testing.assert_allclose(by_index, est.transform(inputs[3:6]), atol=1e-6)
    assert by_index.shape == (3, est.embedding_dim_)
    np.testing.assert_allclose(np.linalg.norm(by_index, axis=1), 1, atol=1e-6)  # cosine
    assert list(est.get_feature_names_out())[:2] == ["humanalignfinetuner0",
                                                     "humanalignfinetuner1"]
    with pytest.raises(TypeError, match="fit_transform"):
        est.fit_transform(X, y)


def test_grid_search_over_object_folds(toy):
    _, inputs, _, _, human = toy
    est = HumanAlignFinetuner(mlp(), inputs=inputs, **{**FAST, "max_epochs": 2})
    search = GridSearchCV(est, {"lr": [1e-3, 1e-2]},
                          cv=TripletObjectKFold(3, shuffle=True, random_state=0)).fit(human)
    assert search.best_params_["lr"] in (1e-3, 1e-2)


# ---------------------------------------------------------------- the two efficiencies
def test_object_batches_embed_each_group_once_and_cover_every_triplet():
    rng = np.random.RandomState(0)
    triplets = sample_triplets(50, 20_000, random_state=0)
    objects = np.unique(triplets)
    seen = np.zeros(len(triplets), dtype=bool)
    for _ in range(200):
        for step in object_batches(triplets, objects, 10, 10_000, rng):
            assert len(step.objects) <= 10
            np.testing.assert_array_equal(step.objects[step.triplets], triplets[step.rows])
            seen[step.rows] = True
    assert seen.mean() > 0.99
    steps = list(triplet_batches(triplets, 1000, rng))
    assert sum(len(s) for s in steps) == len(triplets)
    assert all(len(s.objects) == len(np.unique(triplets[s.rows])) for s in steps)


def test_auto_batching_picks_objects_for_a_dense_pool_and_triplets_for_sparse_data(toy):
    _, inputs, X, y, human = toy
    dense = HumanAlignFinetuner(mlp(), inputs=inputs, **{**FAST, "max_epochs": 1}).fit(X, y)
    assert dense.batching_ == "objects"
    sparse = HumanAlignFinetuner(mlp(), inputs=inputs, **{**FAST, "max_epochs": 1})
    assert sparse.fit(human[:500]).batching_ == "triplets"


class Counting(torch.nn.Module):
    """A block that counts its forward calls."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_frozen_prefix_is_cached_and_changes_nothing(toy):
    _, inputs, X, y, human = toy
    results = {}
    net = mlp()
    net[0] = Counting(net[0])
    for cache in (True, False):  # the same starting weights (the instance is copied)
        est = HumanAlignFinetuner(net, inputs=inputs, train_params=2, cache_frozen=cache,
                                  **FAST).fit(X, y)
        first = est.net_.module_.body[0]
        results[cache] = (est.predict_proba(human[:200]), first.calls, est.prefix_cached_)
    assert results[True][2] and not results[False][2]
    np.testing.assert_allclose(results[True][0], results[False][0], atol=1e-5)
    # Cached: the first block ran only to build the cache (and for the predictions).
    assert results[True][1] < results[False][1] / 2


def test_train_params_all_top_blocks_and_patterns(toy):
    _, inputs, X, y, _ = toy
    start = mlp()
    before = {n: p.detach().clone() for n, p in start.named_parameters()}
    top = HumanAlignFinetuner(start, inputs=inputs, train_params=1, **FAST).fit(X, y)
    assert top.trained_params_ == ["4.weight", "4.bias"]
    after = dict(top.net_.module_.body.named_parameters())
    assert torch.equal(after["0.weight"], before["0.weight"])
    assert not torch.equal(after["4.weight"], before["4.weight"])
    named = HumanAlignFinetuner(start, inputs=inputs, train_params=["2.*"], head=False,
                                **FAST).fit(X, y)
    assert named.trained_params_ == ["2.weight", "2.bias"] and named.net_.module_.head is None
    every = HumanAlignFinetuner(start, inputs=inputs, **{**FAST, "max_epochs": 1}).fit(X, y)
    assert len(every.trained_params_) == 6


def test_reg_pulls_toward_the_pretrained_weights(toy):
    _, inputs, X, y, _ = toy
    start = mlp()
    w0 = torch.cat([p.detach().ravel() for p in start.parameters()])
    moved = {}
    for reg in (0.0, 10.0):
        est = HumanAlignFinetuner(start, inputs=inputs, reg=reg, **FAST).fit(X, y)
        w = torch.cat([p.detach().ravel() for p in est.net_.module_.body.parameters()])
        moved[reg] = float((w - w0).norm())
    assert moved[10.0] < 0.5 * moved[0.0]


def test_temperature_fixed_or_fitted(toy):
    _, inputs, X, y, _ = toy
    fixed = HumanAlignFinetuner(mlp(), inputs=inputs, temperature=0.2, **FAST).fit(X, y)
    assert fixed.temperature_ == 0.2
    fitted = HumanAlignFinetuner(mlp(), inputs=inputs, **FAST).fit(X, y)
    learned = float(fitted.net_.criterion_.temperature().detach())
    assert fitted.temperature_ == pytest.approx(learned, rel=0.5)


def test_early_stopping_keeps_the_best_epoch(toy):
    _, inputs, X, y, _ = toy
    est = HumanAlignFinetuner(mlp(), inputs=inputs, **{**FAST, "early_stopping": True,
                                                       "max_epochs": 30,
                                                       "n_iter_no_change": 2}).fit(X, y)
    losses = est.net_.history[:, "valid_loss"]
    assert est.best_epoch_ == int(np.argmin(losses)) + 1
    assert est.n_epochs_ <= 30


# A few steps of a tiny network: the fitted temperature may sit at its bound.
@pytest.mark.filterwarnings("ignore:the fitted temperature:RuntimeWarning")
def test_reference_losses_move_toward_the_reference(toy):
    data, inputs, X, _, _ = toy
    reference = data.human[:, :2]  # a coarser structure than the model's features
    for loss, measure, epochs in (("soft_rsa", lambda Z: rsa(Z, reference), 30),
                                  ("knn", lambda Z: mutual_knn(Z, reference, k=5), 100)):
        est = HumanAlignFinetuner(mlp(), inputs=inputs, loss=loss, reference=reference,
                                  knn_k=5, **{**FAST, "batch_objects": 120,
                                              "max_epochs": epochs}).fit(X)
        before = measure(data.model)
        assert measure(est.transform(np.arange(120))) > before + 0.05, loss


def test_reference_rdm_is_the_features_rdm_given_directly(toy):
    data, inputs, X, _, _ = toy
    reference = data.human
    common = dict(loss="soft_rsa", **{**FAST, "batch_objects": 120, "max_epochs": 10})
    by_features = HumanAlignFinetuner(mlp(), inputs=inputs, reference=reference,
                                      **common).fit(X)
    # The RDM the features give, computed as the net computes it (float32 torch).
    target = rdm(torch.tensor(reference, dtype=torch.float32), square=True).numpy()
    by_rdm = HumanAlignFinetuner(mlp(), inputs=inputs, reference=target,
                                 reference_kind="rdm", **common).fit(X)
    np.testing.assert_allclose(by_rdm.transform(np.arange(120)),
                               by_features.transform(np.arange(120)), atol=1e-5)
    with torch.no_grad():
        before = rsa(mlp()(inputs).numpy(), reference)
    assert rsa(by_rdm.transform(np.arange(120)), reference) > before + 0.1


def test_early_stopping_on_held_out_objects(toy):
    data, inputs, _, _, _ = toy
    n, n_val = 30, 9  # every triplet of 30 objects; 0.3 of them held out
    X = np.array(list(itertools.combinations(range(n), 3)))
    est = HumanAlignFinetuner(mlp(), inputs=inputs[:n], loss="soft_rsa",
                              reference=data.human[:n], validation_split="objects",
                              validation_fraction=0.3,
                              **{**FAST, "early_stopping": True, "batch_objects": 64,
                                 "max_epochs": 8, "n_iter_no_change": 3})
    train, valid = est._split(X, np.zeros((len(X), 3)), np.ones(len(X)),
                              np.random.RandomState(0))
    assert np.intersect1d(np.unique(train[0]), np.unique(valid[0])).size == 0
    assert len(np.unique(valid[0])) == n_val and len(valid[0]) == math.comb(n_val, 3)
    assert len(train[0]) == math.comb(n - n_val, 3)
    assert est.n_split_dropped_ == math.comb(n, 3) - math.comb(n_val, 3) - math.comb(n - n_val, 3)
    est.fit(X)
    assert est.n_split_dropped_ > 0
    assert est.best_epoch_ == int(np.argmin(est.net_.history[:, "valid_loss"])) + 1
    with pytest.raises(ValueError, match="at least 3 objects on both sides"):
        est.set_params(validation_fraction=0.05).fit(X)
    # Every triplet holds object 0: whichever side it falls on, the other side has none.
    star = np.array([[0, i, j] for i, j in itertools.combinations(range(1, 10), 2)])
    with pytest.raises(ValueError, match="no triplet lies wholly"):
        est.set_params(validation_fraction=0.3).fit(star)


class Normed(torch.nn.Module):
    """Blocks with batch norm and dropout: only the top block trains."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.blocks = torch.nn.Sequential(
            torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.BatchNorm1d(16),
                                torch.nn.Dropout(0.5), torch.nn.ReLU()),
            torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.BatchNorm1d(16),
                                torch.nn.ReLU()),
            torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.BatchNorm1d(8)))
        for m in self.modules():  # stored statistics that differ from any batch's
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.fill_(0.3)
                m.running_var.fill_(2.0)

    def forward(self, x):
        return self.blocks(x)


def test_frozen_parts_train_in_evaluation_mode(toy):
    _, inputs, X, y, human = toy
    start = Normed()
    results = {}
    for cache in (True, False):
        est = HumanAlignFinetuner(start, inputs=inputs, train_params=1, blocks="blocks",
                                  cache_frozen=cache, **FAST).fit(X, y)
        body = est.net_.module_.body
        for frozen in (body.blocks[0][1], body.blocks[1][1]):  # stored statistics kept
            assert torch.equal(frozen.running_mean, torch.full((16,), 0.3))
        # The trained block's batch norm trains as usual: its statistics move.
        assert not torch.equal(body.blocks[2][1].running_mean, torch.full((8,), 0.3))
        results[cache] = est.predict_proba(human[:200])
    # Dropout off and stored statistics in the frozen blocks: caching changes nothing.
    np.testing.assert_allclose(results[True], results[False], atol=1e-5)


def test_verbose_prints_the_epoch_table(toy, capsys):
    _, inputs, X, y, _ = toy
    HumanAlignFinetuner(mlp(), inputs=inputs, verbose=1, **{**FAST, "max_epochs": 1}).fit(X, y)
    assert "train_loss" in capsys.readouterr().out


# ---------------------------------------------------------------- bad input
def test_bad_input_is_named(toy):
    _, inputs, X, y, _ = toy
    with pytest.raises(ValueError, match="shape \\(batch, d\\)"):
        HumanAlignFinetuner(torch.nn.Flatten(0), inputs=inputs, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="inputs has only 100 objects"):
        HumanAlignFinetuner(mlp(), inputs=inputs[:100], **FAST).fit(X, y)
    bad = y.copy()
    bad[7, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        HumanAlignFinetuner(mlp(), inputs=inputs, **FAST).fit(X, bad)
    nan_inputs = inputs.clone()
    nan_inputs[50] = float("nan")
    with pytest.raises(ValueError, match="inputs contains NaN or infinite values"):
        HumanAlignFinetuner(mlp(), inputs=nan_inputs, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="module is None"):
        HumanAlignFinetuner(inputs=inputs).fit(X, y)
    with pytest.raises(ValueError, match="inputs is None"):
        HumanAlignFinetuner(mlp()).fit(X, y)
    with pytest.raises(ValueError, match="needs reference"):
        HumanAlignFinetuner(mlp(), inputs=inputs, loss="knn").fit(X)
    square = np.ones((120, 120))
    with pytest.raises(ValueError, match="soft_rsa' only"):
        HumanAlignFinetuner(mlp(), inputs=inputs, loss="knn", reference=square,
                            reference_kind="rdm").fit(X)
    with pytest.raises(ValueError, match="the \\(120, 120\\) RDM"):
        HumanAlignFinetuner(mlp(), inputs=inputs, loss="soft_rsa", reference=square[:, :5],
                            reference_kind="rdm").fit(X)
    square[0, 1] = 3.0
    with pytest.raises(ValueError, match="must be symmetric"):
        HumanAlignFinetuner(mlp(), inputs=inputs, loss="soft_rsa", reference=square,
                            reference_kind="rdm").fit(X)
    square[0, 1] = square[1, 0] = np.nan
    with pytest.raises(ValueError, match="reference contains NaN or infinite"):
        HumanAlignFinetuner(mlp(), inputs=inputs, loss="soft_rsa", reference=square,
                            reference_kind="rdm").fit(X)
    with pytest.raises(ValueError, match="reference must be \\(120, d_ref\\)"):
        HumanAlignFinetuner(mlp(), inputs=inputs, loss="soft_rsa",
                            reference=np.ones((100, 4))).fit(X)
    for name, value in (("reference_kind", "matrix"), ("validation_split", "pairs")):
        with pytest.raises(ValueError, match=f"'{name}' parameter of HumanAlignFinetuner"):
            HumanAlignFinetuner(mlp(), inputs=inputs, **{name: value}).fit(X, y)
    with pytest.raises(ValueError, match="match no parameter"):
        HumanAlignFinetuner(mlp(), inputs=inputs, train_params=["nope*"]).fit(X, y)
    with pytest.raises(ValueError, match="has only 5 blocks"):
        HumanAlignFinetuner(mlp(), inputs=inputs, train_params=9).fit(X, y)
    with pytest.raises(ValueError, match="output="):
        HumanAlignFinetuner(mlp(), inputs=inputs, output="embedding").fit(X, y)


def test_teacher_chain_with_an_estimator_teacher(toy):
    from reprlign import HumanAlignTransformer

    data, inputs, _, _, human = toy
    teacher = HumanAlignTransformer(data.model, method="global", batch_size=None, max_epochs=20,
                                    random_state=0).fit(human)
    X, y = teacher_triplets(teacher, 5000, method="cluster_border", n_clusters=6,
                            random_state=0)
    np.testing.assert_allclose(y, teacher.predict_proba(X))
    # Cluster-border triplets: the third object comes from another cluster of the teacher.
    assert X.shape == (5000, 3)
    pool = np.arange(0, 120, 2)
    Xp, _ = teacher_triplets(teacher, 500, objects=pool, random_state=0)
    assert np.isin(Xp, pool).all()


def test_teacher_triplets_bad_input():
    table = np.random.RandomState(0).randn(20, 3)

    class Broken:
        embedding_ = table

        def predict_proba(self, X):
            return np.full((len(X), 3), np.nan)

    with pytest.raises(ValueError, match="unusable choice probabilities"):
        teacher_triplets(Broken(), 10, random_state=0)
    with pytest.raises(ValueError, match="method"):
        teacher_triplets(table, 10, method="within_class")
    with pytest.raises(ValueError, match="refers to object"):
        teacher_triplets(table, 10, objects=[1, 2, 40])
    with pytest.raises(ValueError, match="pass objects"):
        teacher_triplets(type("T", (), {"predict_proba": lambda self, X: X})(), 10)


@pytest.mark.cuda
def test_cuda_matches_cpu(toy):
    _, inputs, X, y, human = toy
    params = {**FAST, "mixed_precision": False}
    cpu = HumanAlignFinetuner(mlp(), inputs=inputs, **params).fit(X, y)
    gpu = HumanAlignFinetuner(mlp(), inputs=inputs, device="cuda", **params).fit(X, y)
    np.testing.assert_allclose(gpu.predict_proba(human[:200]), cpu.predict_proba(human[:200]),
                               atol=2e-2)
    bf16 = HumanAlignFinetuner(mlp(), inputs=inputs, device="cuda",
                               **{**FAST, "mixed_precision": True}).fit(X, y)
    assert abs(bf16.score(human) - cpu.score(human)) < 0.05
    again = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_allclose(again.predict_proba(human[:20]), gpu.predict_proba(human[:20]))


class CharNet(torch.nn.Module):
    """A tiny text model: mean of character embeddings, then two blocks (a dict batch in)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.chars = torch.nn.Embedding(128, 8)
        self.layers = torch.nn.ModuleList([torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)])

    def forward(self, batch):
        mask = batch["mask"].unsqueeze(-1)
        h = (self.chars(batch["ids"]) * mask).sum(1) / mask.sum(1)
        for layer in self.layers:
            h = torch.tanh(layer(h))
        return {"embedding": h, "ids": batch["ids"]}


def tokenize(words):
    width = max(len(w) for w in words)
    ids = torch.zeros(len(words), width, dtype=torch.long)
    for i, w in enumerate(words):
        ids[i, :len(w)] = torch.tensor([ord(c) % 128 for c in w])
    return {"ids": ids, "mask": (ids > 0).float()}


# A few steps of a tiny network: the fitted temperature may sit at its bound.
@pytest.mark.filterwarnings("ignore:the fitted temperature:RuntimeWarning")
def test_text_inputs_through_a_collate_fn_list_array_or_dataset():
    words = [f"word{i}{'x' * (i % 5)}" for i in range(30)]
    X, y = teacher_triplets(np.random.RandomState(0).randn(30, 4), 2000, random_state=0)
    params = dict(module=CharNet(), collate_fn=tokenize, output="embedding", train_params=1,
                  **{**FAST, "batch_objects": 10, "max_epochs": 2})
    as_list = HumanAlignFinetuner(inputs=words, **params).fit(X, y)
    assert as_list.prefix_cached_  # one padded width for all objects: the cache applies
    as_array = HumanAlignFinetuner(inputs=np.array(words), **params).fit(X, y)
    np.testing.assert_allclose(as_array.predict_proba(X[:20]), as_list.predict_proba(X[:20]),
                               atol=1e-6)

    class Words(torch.utils.data.Dataset):
        def __len__(self):
            return len(words)

        def __getitem__(self, i):
            return words[i]

    from_dataset = HumanAlignFinetuner(inputs=Words(), **params).fit(X, y)
    assert from_dataset.predict_proba(X[:5]).shape == (5, 3)
    # New raw inputs: a list of strings is collated with collate_fn.
    np.testing.assert_allclose(as_list.transform(words[:4]), as_list.transform([0, 1, 2, 3]),
                               atol=1e-6)
