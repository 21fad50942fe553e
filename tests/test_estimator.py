"""`derive.training.estimator`: scikit-learn's own estimator checks, and the estimators at work in
Pipeline, GridSearchCV and cross_val_score on scikit-learn's bundled digits."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from derive import spec as specs
from derive.training.estimator import DeriveClassifier, DeriveRegressor

SPECS = Path(__file__).resolve().parent.parent / "generated" / "specs"
DIGITS = SPECS / "digits.toml"
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@parametrize_with_checks([DeriveClassifier(epochs=20), DeriveRegressor(epochs=20)])
def test_scikit_learn_estimator_checks(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digit scans (pixels 0..16) and their labels as words."""
    bunch = load_digits()
    return bunch.data, NAMES[bunch.target]


def test_in_a_pipeline_with_word_labels_on_digits(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    model = make_pipeline(MinMaxScaler(), DeriveClassifier(DIGITS, epochs=15))
    model.fit(X_train, y_train)
    classifier = model[-1]
    assert list(classifier.classes_) == sorted(NAMES)
    predicted = model.predict(X_test)
    assert predicted.dtype == y.dtype and set(predicted) <= set(NAMES)
    assert model.score(X_test, y_test) > 0.94
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(classifier.classes_[proba.argmax(axis=1)], predicted)
    assert classifier.spec_.name == "digits" and classifier.spec_.training.epochs == 15


def test_cross_val_score_on_digits(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    scores = cross_val_score(DeriveClassifier(DIGITS, epochs=10), X / 16, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.88


def test_grid_search_over_learning_rate_and_epochs_on_digits(
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = digits
    search = GridSearchCV(
        make_pipeline(StandardScaler(), DeriveClassifier(DIGITS, batch_size=64)),
        {"deriveclassifier__learning_rate": [1e-4, 0.002], "deriveclassifier__epochs": [2, 10]},
        cv=2,
    )
    search.fit(X, y)
    assert search.best_params_ == {
        "deriveclassifier__epochs": 10,
        "deriveclassifier__learning_rate": 0.002,
    }
    best = search.best_estimator_[-1]
    assert best.spec_.optimizer.learning_rate == 0.002 and best.history_["loss"]
    assert len(best.history_["loss"]) == 10


def test_get_set_params_clone_and_pickle(digits: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = digits
    model = DeriveClassifier(DIGITS, learning_rate=0.01, epochs=3, batch_size=32, seed=4)
    assert model.get_params() == {
        "spec": DIGITS,
        "learning_rate": 0.01,
        "epochs": 3,
        "batch_size": 32,
        "seed": 4,
    }
    model.set_params(epochs=2, seed=5)
    assert clone(model).get_params()["epochs"] == 2
    model.fit(X[:300] / 16, y[:300])
    training = model.spec_.training
    assert (training.epochs, training.batch_size, training.seed) == (2, 32, 5)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict_proba(X / 16), model.predict_proba(X / 16))
    # the same settings give the same model, bit for bit
    twin = clone(model).fit(X[:300] / 16, y[:300])
    for key, value in model.params_.items():
        assert value.tobytes() == twin.params_[key].tobytes()


def test_a_single_sigmoid_output_gives_two_columns_of_probabilities() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 2))
    y = np.where(np.hypot(X[:, 0], X[:, 1]) > 1.1, "outer", "inner")
    model = DeriveClassifier(SPECS / "circles.toml", epochs=40).fit(X, y)
    assert model.spec_.n_out == 1
    proba = model.predict_proba(X)
    assert proba.shape == (80, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(model.classes_) == ["inner", "outer"]
    assert model.score(X, y) > 0.9


def test_a_spec_that_does_not_fit_the_data_is_a_value_error(
    digits: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = digits
    with pytest.raises(ValueError, match="spec moons: input size 2, but X has 64 features"):
        DeriveClassifier(SPECS / "moons.toml").fit(X, y)
    with pytest.raises(ValueError, match="output size 10 does not fit 3 classes"):
        DeriveClassifier(DIGITS).fit(X[y != "zero"][:60], np.resize(["a", "b", "c"], 60))
    with pytest.raises(ValueError, match="expected a classifier"):
        DeriveClassifier(SPECS / "sine.toml").fit(X[:10, :1], y[:10])
    with pytest.raises(ValueError, match="expected an mse regression"):
        DeriveRegressor(SPECS / "xor.toml").fit(X[:10, :2], np.ones((10, 2)))
    with pytest.raises(ValueError, match="no such file"):
        DeriveClassifier("missing.toml").fit(X, y)
    with pytest.raises(ValueError, match=r"^learning_rate: expected a number in \(0, 1000\]"):
        DeriveClassifier(DIGITS, learning_rate=-1).fit(X, y)
    with pytest.raises(ValueError, match=r"^epochs: expected an integer from 1 to 1000000"):
        DeriveClassifier(DIGITS, epochs=2.5).fit(X, y)
    with pytest.raises(ValueError, match=r"^learning_rate: expected a number in"):
        DeriveClassifier(DIGITS, learning_rate="fast").fit(X, y)


def test_a_regressor_from_a_spec_file() -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-np.pi, np.pi, (300, 1))
    y = np.sin(X[:, 0])
    model = DeriveRegressor(SPECS / "sine.toml", epochs=60).fit(X, y)
    assert model.predict(X).shape == (300,)
    assert model.score(X, y) > 0.95
    assert isinstance(model.spec_, specs.Spec)
