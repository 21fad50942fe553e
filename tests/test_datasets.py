"""The data sets: seeded, shaped as documented, disjoint splits, balanced classes."""

from __future__ import annotations

import numpy as np
import pytest

from derive.errors import DeriveError
from derive.training import datasets

NAMES = sorted(datasets.DATASETS)
TOY = [name for name in NAMES if name != "digits"]
REGRESSION = ("sine", "relu_sum")


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_arrays_other_seed_other_arrays(name: str) -> None:
    first, again, other = datasets.load(name, 0), datasets.load(name, 0), datasets.load(name, 1)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert not np.array_equal(first.X_train, other.X_train)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_types(name: str) -> None:
    data = datasets.load(name)
    assert data.X_train.shape == (len(data.y_train), data.n_features)
    assert data.X_test.shape == (len(data.y_test), data.n_features)
    assert data.X_train.dtype == data.X_test.dtype == np.float64
    assert len(data.y_test) == pytest.approx(0.25 * (len(data.y_train) + len(data.y_test)), abs=5)
    if data.task == "classification":
        assert data.y_train.ndim == data.y_test.ndim == 1
        assert data.y_train.dtype == np.int64
        assert data.n_outputs == data.n_classes >= 2
    else:
        assert data.task == "regression"
        assert data.n_classes == 0
        assert data.y_train.shape == (len(data.X_train), 1) == (len(data.X_train), data.n_outputs)
    assert np.isfinite(data.X_train).all() and np.isfinite(data.X_test).all()


@pytest.mark.parametrize("name", TOY)
def test_splits_share_no_sample(name: str) -> None:
    data = datasets.load(name)
    train = {row.tobytes() for row in data.X_train}
    assert len(train) == len(data.X_train)
    assert not train & {row.tobytes() for row in data.X_test}


def test_digits_split_is_a_partition_of_the_bundled_scans() -> None:
    from sklearn.datasets import load_digits

    data = datasets.load("digits")
    assert (data.n_features, data.n_classes) == (64, 10)
    assert len(data.y_train) + len(data.y_test) == 1797
    assert data.X_train.min() == 0.0 and data.X_train.max() == 1.0
    every = np.concatenate([data.X_train, data.X_test]) * 16.0
    expected = load_digits().data
    assert sorted(map(bytes, every)) == sorted(map(bytes, expected))


@pytest.mark.parametrize("name", [n for n in NAMES if n not in REGRESSION])
def test_classes_are_balanced_in_both_splits(name: str) -> None:
    data = datasets.load(name)
    train = np.bincount(data.y_train, minlength=data.n_classes)
    test = np.bincount(data.y_test, minlength=data.n_classes)
    assert len(train) == len(test) == data.n_classes
    # every class sends a quarter of its samples to the test split (stratified)
    assert np.all(np.abs(test - 0.25 * (train + test)) <= 0.5), (train, test)
    if name != "digits":  # the toy generators draw the same number per class
        assert len(set(train)) == len(set(test)) == 1


def test_generators_take_their_knobs() -> None:
    five = datasets.spirals(n_classes=5, n_per_class=40, seed=3)
    assert five.n_classes == 5 and len(five.y_train) == 150 and len(five.y_test) == 50
    assert datasets.blobs(n_classes=3).name == "blobs3"
    assert datasets.load("blobs3").n_classes == 3 and datasets.load("blobs").n_classes == 4


def test_xor_labels_are_the_sign_rule() -> None:
    data = datasets.load("xor")
    X, y = data.X_train, data.y_train
    np.testing.assert_array_equal(y, (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(int))


def test_relu_sum_is_what_a_no_bias_relu_network_can_represent() -> None:
    data = datasets.load("relu_sum")
    X, y = data.X_train, data.y_train
    np.testing.assert_array_equal(y[:, 0], np.maximum(X, 0).sum(axis=1))
    assert (y >= 0).all()
    # positively homogeneous: f(cx) = c f(x) for c >= 0
    np.testing.assert_allclose(np.maximum(3 * X, 0).sum(axis=1), 3 * y[:, 0])


def test_sine_noise_is_small() -> None:
    data = datasets.load("sine")
    residual = data.y_test - np.sin(data.X_test)
    assert 0.03 < residual.std() < 0.07


def test_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(DeriveError, match=r"unknown data set 'spiral' \(did you mean 'spirals'"):
        datasets.load("spiral")
    with pytest.raises(DeriveError, match="known: xor, moons"):
        datasets.load("nope")


def test_targets_are_the_issues() -> None:
    assert datasets.TARGETS["xor"] == ("accuracy", 1.0)
    assert datasets.TARGETS["moons"] == datasets.TARGETS["circles"] == ("accuracy", 0.97)
    assert datasets.TARGETS["spirals"] == ("accuracy", 0.95)
    assert datasets.TARGETS["blobs"] == ("accuracy", 0.98)
    assert datasets.TARGETS["sine"] == ("mse", 0.01)
    assert datasets.TARGETS["digits"] == ("accuracy", 0.96)
    assert datasets.meets_target("sine", "mse", 0.009) is True
    assert datasets.meets_target("moons", "accuracy", 0.96) is False
    assert datasets.meets_target("moons", "mse", 0.0) is None
