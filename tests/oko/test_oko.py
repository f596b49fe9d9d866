import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.utils.estimator_checks import check_param_validation

from reprlign import OKOClassifier
from reprlign.oko._net import MLP, OKONet, sample_sets

FAST = dict(hidden_layer_sizes=(16,), sets_per_epoch=128, max_epochs=20, lr=3e-2,
            early_stopping=False, random_state=0)


def _index(y):
    y = np.asarray(y)
    order = np.argsort(y, kind="stable")
    counts = np.bincount(y)
    return order, np.concatenate([[0], np.cumsum(counts)[:-1]]), counts


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(240, centers=4, cluster_std=1.0, random_state=0)
    return X, y


# ---- set sampling ---------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3])
def test_sets_have_a_pair_and_k_odd_classes(k):
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(6), [50, 40, 5, 5, 3, 2])  # heavy-tailed
    members, set_classes = sample_sets(*_index(y), 2000, k, rng)
    assert members.shape == (2000, k + 2) and set_classes.shape == (2000, k + 1)
    for m, cls in zip(members[:300], set_classes[:300], strict=True):
        assert len(set(cls)) == k + 1  # distinct classes
        member_cls = y[m]
        assert (member_cls == cls[0]).sum() == 2  # the pair class twice
        for c in cls[1:]:
            assert (member_cls == c).sum() == 1  # each odd class once
        pair_idx = m[member_cls == cls[0]]
        assert pair_idx[0] != pair_idx[1]  # two distinct examples
    # classes are drawn uniformly, whatever their frequency
    pair_freq = np.bincount(set_classes[:, 0], minlength=6) / 2000
    np.testing.assert_allclose(pair_freq, 1 / 6, atol=0.03)
    all_freq = np.bincount(set_classes.ravel(), minlength=6) / set_classes.size
    np.testing.assert_allclose(all_freq, 1 / 6, atol=0.02)
    # slots are shuffled: the pair is not always in the first two slots
    first_two_pair = (y[members[:, 0]] == set_classes[:, 0]) & (y[members[:, 1]] ==
                                                                set_classes[:, 0])
    assert 0.05 < first_two_pair.mean() < 0.5


def test_single_example_class_fills_both_pair_slots():
    y = np.array([0, 0, 0, 1, 2, 2])
    members, set_classes = sample_sets(*_index(y), 300, 1, np.random.RandomState(1))
    as_pair = set_classes[:, 0] == 1
    assert as_pair.any()
    assert np.all((members[as_pair] == 3).sum(axis=1) == 2)


# ---- the loss ---------------------------------------------------------------------------------

def _net(targets, k, odd_head=False, n_features=5, n_classes=4):
    torch.manual_seed(0)
    net = OKONet(MLP(n_features, n_classes, (8,)), n_classes=n_classes, odd_class_head=odd_head,
                 k=k, targets=targets, criterion=torch.nn.CrossEntropyLoss)
    return net.initialize()


@pytest.mark.parametrize("targets", ["hard", "soft"])
def test_set_loss_sums_member_logits(targets):
    k, n_classes = 2, 4
    net = _net(targets, k)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(6, k + 2, 5, generator=g)
    classes = torch.tensor([[0, 1, 2], [3, 0, 1], [2, 3, 0], [1, 2, 3], [0, 2, 3], [3, 1, 2]])
    step = net.train_step_single((X, classes))
    with torch.no_grad():
        member_logits = net.module_(X.reshape(-1, 5)).reshape(6, k + 2, n_classes)
        set_logits = member_logits.sum(1)
        logp = torch.log_softmax(set_logits, 1)
        if targets == "hard":
            expected = -logp[torch.arange(6), classes[:, 0]].mean()
        else:
            t = torch.zeros(6, n_classes)
            for i, row in enumerate(classes):
                t[i, row[0]] = 2 / (k + 2)
                t[i, row[1:]] = 1 / (k + 2)
            expected = (t * (torch.log(t.clamp_min(1e-30)) - logp)).sum(1).mean()
    torch.testing.assert_close(step["loss"].detach(), expected)
    torch.testing.assert_close(step["y_pred"].detach(), set_logits)


def test_odd_class_head_adds_its_loss():
    net = _net("hard", 1, odd_head=True)
    X = torch.randn(3, 3, 5)
    classes = torch.tensor([[0, 1], [2, 3], [1, 0]])
    loss = net.train_step_single((X, classes))["loss"].detach()
    with torch.no_grad():
        h = net.module_.body.features(X.reshape(-1, 5))
        pair = net.module_.body.head(h).reshape(3, 3, -1).sum(1)
        odd = net.module_.odd_head(h).reshape(3, 3, -1).sum(1)
        expected = (torch.nn.functional.cross_entropy(pair, classes[:, 0])
                    + torch.nn.functional.cross_entropy(odd, classes[:, 1]))
    torch.testing.assert_close(loss, expected)
    # inference uses the classifier alone
    assert net.module_(X[:, 0]).shape == (3, 4)


# ---- the estimator ---------------------------------------------------------------------------

def test_learns_blobs_with_string_labels(blobs):
    X, y = blobs
    names = np.array(["cat", "dog", "emu", "yak"])
    clf = OKOClassifier(**FAST).fit(X, names[y])
    assert list(clf.classes_) == list(names)
    assert clf.score(X, names[y]) > 0.88  # logistic regression: 0.95
    P = clf.predict_proba(X)
    np.testing.assert_allclose(P.sum(1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[P.argmax(1)])
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), P, rtol=1e-6)
    assert clf.n_sets_per_epoch_ == 128 and clf.n_epochs_ == 20


def test_integer_labels_and_epoch_size(blobs):
    X, y = blobs
    clf = OKOClassifier(**{**FAST, "sets_per_epoch": None, "max_epochs": 2}).fit(X, y * 10 + 3)
    np.testing.assert_array_equal(clf.classes_, [3, 13, 23, 33])
    assert clf.n_sets_per_epoch_ == -(-240 // 3)  # about n_train forwards per epoch
    # 80 sets of batch_size 32 = 3 steps per epoch
    assert clf.net_.history[-1, "train_batch_count"] == 3


def test_reproducible_and_leaves_global_rng_alone(blobs):
    X, y = blobs
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = OKOClassifier(**FAST).fit(X, y)
    assert torch.rand(1) == before  # fit forks torch's global RNG
    a = first.predict_proba(X)
    b = OKOClassifier(**FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    c = OKOClassifier(**{**FAST, "random_state": 1}).fit(X, y).predict_proba(X)
    assert np.abs(a - c).max() > 1e-4


def test_early_stopping_restores_best_epoch(blobs):
    X, y = blobs
    clf = OKOClassifier(hidden_layer_sizes=(16,), lr=3e-2, max_epochs=200, n_iter_no_change=3,
                        random_state=0).fit(X, y)
    hist = clf.net_.history
    assert clf.n_epochs_ < 200
    assert clf.n_epochs_ == clf.best_epoch_ + 3
    # the kept weights are those of the best validation epoch
    assert hist[clf.best_epoch_ - 1, "valid_loss"] <= min(hist[:, "valid_loss"]) * (1 + 1e-4)
    P = clf.predict_proba(X)
    clf_fixed = OKOClassifier(hidden_layer_sizes=(16,), lr=3e-2, max_epochs=clf.best_epoch_,
                              n_iter_no_change=1000, random_state=0).fit(X, y)
    np.testing.assert_allclose(clf_fixed.predict_proba(X), P, atol=1e-6)


def test_validation_split_is_stratified_and_keeps_pairs():
    from reprlign.oko._classifier import _validation_mask

    y = np.repeat(np.arange(5), [50, 40, 12, 3, 1])
    mask = _validation_mask(y, 0.1, seed=0)
    np.testing.assert_array_equal(np.bincount(y[mask], minlength=5), [5, 4, 1, 0, 0])
    mask = _validation_mask(y, 0.5, seed=0)
    # at least two training examples stay in each class that has two
    np.testing.assert_array_equal(np.bincount(y[~mask], minlength=5), [25, 20, 6, 2, 1])


def test_validation_data_and_unseen_validation_labels(blobs):
    X, y = blobs
    clf = OKOClassifier(**{**FAST, "early_stopping": True, "n_iter_no_change": 2})
    clf.fit(X[:200], y[:200], validation_data=(X[200:], y[200:]))
    assert clf.best_epoch_ is not None
    with pytest.raises(ValueError, match="not seen at fit time"):
        clf.fit(X[:200], y[:200], validation_data=(X[200:], y[200:] + 7))


def test_single_example_class_warns_and_is_learned():
    X, y = make_blobs(61, centers=[[0, 0], [8, 0], [0, 8]], cluster_std=0.5, random_state=0)
    y[:] = np.r_[np.zeros(30), np.ones(30), 2].astype(int)
    X[-1] = [0, 8]
    with pytest.warns(UserWarning, match="single training example"):
        clf = OKOClassifier(**FAST).fit(X, y)
    assert clf.predict([[0.0, 8.0]])[0] == 2


def test_soft_targets_are_less_confident(blobs):
    X, y = blobs
    hard = OKOClassifier(**FAST).fit(X, y).predict_proba(X).max(1).mean()
    soft = OKOClassifier(**{**FAST, "targets": "soft"}).fit(X, y).predict_proba(X).max(1).mean()
    assert soft < hard - 0.15


def test_odd_class_head_fits(blobs):
    X, y = blobs
    clf = OKOClassifier(**{**FAST, "odd_class_head": True, "k": 2}).fit(X, y)
    assert clf.net_.module_.odd_head is not None
    assert clf.score(X, y) > 0.88


class _TinyCNN(torch.nn.Module):
    def __init__(self, n_channels=4, n_classes=3):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, n_channels, 3, padding=1)
        self.fc = torch.nn.Linear(n_channels, n_classes)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def test_custom_module_on_images_with_module_params():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 20)
    X = rng.normal(size=(60, 1, 6, 6)).astype(np.float32)
    X[y == 1, :, :3] += 2.0
    X[y == 2, :, 3:] += 2.0
    clf = OKOClassifier(_TinyCNN, module__n_channels=6, **{**FAST, "hidden_layer_sizes": ()})
    assert clf.get_params()["module__n_channels"] == 6
    cloned = clone(clf)
    assert cloned.module__n_channels == 6
    cloned.set_params(module__n_channels=5)
    assert cloned.module__n_channels == 5 and clf.module__n_channels == 6
    clf.fit(X, y)
    assert clf.net_.module_.body.conv.out_channels == 6
    assert clf.score(X, y) > 0.8
    # an instance is copied, so refitting starts from the same weights
    inst = _TinyCNN(3)
    w0 = inst.conv.weight.detach().clone()
    OKOClassifier(inst, **FAST).fit(X, y)
    torch.testing.assert_close(inst.conv.weight.detach(), w0)


def test_pickle_roundtrip(blobs):
    X, y = blobs
    clf = OKOClassifier(**FAST).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert getattr(again.net_, "_train_cache", None) is None  # no copy of the training data


@pytest.mark.parametrize(
    "params, X, y, match",
    [
        ({"k": 0}, None, None, r"'k' parameter of OKOClassifier must be an int in the range \[1"),
        ({"k": 3}, None, None, r"at least k\+1=4 classes"),
        ({}, "nan", None, "NaN"),
        ({}, None, "one", "1 class"),
        ({"targets": "fuzzy"}, None, None, "targets"),
        ({"validation_fraction": 1.5}, None, None, "validation_fraction"),
        ({"optimizer": "lbfgs"}, None, None, "optimizer"),
        ({"module__width": 3}, None, None, "module__ parameters need a module"),
    ],
)
def test_bad_input(params, X, y, match):
    X0, y0 = make_blobs(30, centers=3, random_state=0)
    if isinstance(X, str):
        X0[4, 1] = np.nan
    if isinstance(y, str):
        y0 = np.zeros_like(y0)
    with pytest.raises(ValueError, match=match):
        OKOClassifier(**{**FAST, **params}).fit(X0, y0)


def test_unexpected_keyword_and_wrong_module_output(blobs):
    X, y = blobs
    with pytest.raises(TypeError, match="unexpected keyword argument 'widht'"):
        OKOClassifier(widht=3).fit(X, y)
    with pytest.raises(ValueError, match="n_classes=4"):
        OKOClassifier(torch.nn.Linear, module__in_features=2, module__out_features=3,
                      **FAST).fit(X, y)


def test_param_validation():
    check_param_validation("OKOClassifier", OKOClassifier(**FAST))


def test_optimizer_parameters_are_routed_by_skorch(blobs):
    X, y = blobs
    clf = OKOClassifier(optimizer="sgd", optimizer__momentum=0.9, weight_decay=1e-4, **FAST)
    assert clf.get_params()["optimizer__momentum"] == 0.9
    grid = clone(clf).set_params(optimizer__momentum=0.5, optimizer__nesterov=True)
    assert grid.get_params()["optimizer__nesterov"] is True
    clf.fit(X, y)
    (group,) = clf.net_.optimizer_.param_groups
    assert isinstance(clf.net_.optimizer_, torch.optim.SGD)
    assert (group["momentum"], group["weight_decay"], group["lr"]) == (0.9, 1e-4, FAST["lr"])
    assert clf.score(X, y) > 0.88
    grid.fit(X, y)
    (group,) = grid.net_.optimizer_.param_groups
    assert group["momentum"] == 0.5 and group["nesterov"] is True
    # A parameter skorch would route elsewhere is refused, not silently dropped.
    with pytest.raises(TypeError, match="unexpected keyword argument 'criterion__label_smooth"):
        OKOClassifier(criterion__label_smoothing=0.1, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="not optimizer__weight_decay"):
        OKOClassifier(optimizer__weight_decay=0.1, **FAST).fit(X, y)


def test_score_rejects_unseen_labels(blobs):
    X, y = blobs
    clf = OKOClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"labels \[9\] were not seen at fit time"):
        clf.score(X, np.where(y == 0, 9, y))


@pytest.mark.cuda
def test_cuda_matches_cpu(blobs):
    X, y = blobs
    cpu = OKOClassifier(**FAST).fit(X, y)
    gpu = OKOClassifier(**{**FAST, "device": "cuda"}).fit(X, y)
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), atol=1e-3)
    assert (gpu.predict(X) == cpu.predict(X)).mean() > 0.99
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_allclose(restored.predict_proba(X), gpu.predict_proba(X), atol=1e-6)
