"""scikit-learn estimators around a generated module: `DeriveClassifier`, `DeriveRegressor`.

Input: a spec (a path to its TOML file, or a `Spec`; None for a default network sized to the
data) and overrides of its learning rate, epochs, batch size and seed. Output: a fitted
estimator whose `fit`, `predict`, `predict_proba` and `score` follow scikit-learn's
conventions, so it works in `Pipeline`, `GridSearchCV` and `cross_val_score`. The training is
the generated module's own `fit`, NumPy only; this module needs scikit-learn (>= 1.6), the
generated module does not.

    from derive.training.estimator import DeriveClassifier
    model = DeriveClassifier("generated/specs/digits.toml", epochs=20).fit(X, y)
    model.predict(X[:5]), model.classes_

Class labels may be of any type scikit-learn accepts (strings, integers, ...); `classes_`
holds them sorted, and output k of the network is `classes_[k]`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as error:  # the generated modules need NumPy only; this module does not
    raise ImportError(
        "derive.training.estimator needs scikit-learn >= 1.6: pip install 'scikit-learn>=1.6'"
    ) from error

from derive import spec as specs
from derive.errors import DeriveError
from derive.training import train

__all__ = ["DeriveClassifier", "DeriveRegressor"]

HIDDEN = 32  # the default network's hidden layer, when no spec is given


@functools.lru_cache(maxsize=32)
def _module(spec: specs.Spec) -> ModuleType:
    """The generated module of `spec`, built once per spec (the committed one if it matches)."""
    return train.load_module(spec)


class _DeriveEstimator(BaseEstimator):
    """What the classifier and the regressor share: the spec, its overrides, and training."""

    def __init__(
        self,
        spec: str | Path | specs.Spec | None = None,
        *,
        learning_rate: float | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.spec = spec
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed

    def _default_spec(self, n_in: int, n_out: int) -> specs.Spec:
        raise NotImplementedError

    def _spec(self, n_in: int, n_out: int) -> specs.Spec:
        """The spec with the overrides, its input size checked; ValueError if it does not fit.
        `n_out` sizes the default network."""
        try:
            if self.spec is None:
                spec = self._default_spec(n_in, n_out)
            elif isinstance(self.spec, specs.Spec):
                spec = self.spec
            else:
                spec = specs.load(self.spec)
            options = train.Options(
                learning_rate=self.learning_rate,
                epochs=self.epochs,
                batch_size=self.batch_size,
                seed=self.seed,
            )
            spec = train.with_overrides(spec, options, flags=False)
        except DeriveError as error:
            raise ValueError(str(error)) from None
        if spec.n_in != n_in:
            what = "feature" if n_in == 1 else "features"
            raise ValueError(f"spec {spec.name}: input size {spec.n_in}, but X has {n_in} {what}")
        return spec

    def _check_outputs(self, spec: specs.Spec, n_out: int, what: str) -> None:
        if spec.n_out != n_out:
            raise ValueError(
                f"spec {spec.name}: output size {spec.n_out} does not fit {what}"
                f" (expected output size {n_out})"
            )

    def _train(self, X: np.ndarray, targets: np.ndarray, spec: specs.Spec) -> None:
        net = _module(spec)
        params = net.init_params(seed=spec.training.seed)
        state = net.init_optimizer(params)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            history = net.fit(
                params,
                X,
                targets,
                epochs=spec.training.epochs,
                batch_size=spec.training.batch_size,
                seed=spec.training.seed,
                state=state,
                schedule=train.fit_schedule(spec),
                clip_norm=spec.training.clip_norm,
            )
        # the state without the fast path's holder: an estimator is pickled, cloned, copied
        state = {key: value for key, value in state.items() if not key.startswith("_")}
        self.spec_, self.params_, self.state_, self.history_ = spec, params, state, history

    def _call(self, function: str, X: Any) -> np.ndarray:
        """The fitted module's `function` (forward, predict_proba) of X, after the checks
        scikit-learn expects."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return getattr(_module(self.spec_), function)(self.params_, X)


class DeriveClassifier(ClassifierMixin, _DeriveEstimator):
    """A classifier trained by a generated module with a softmax output (or one sigmoid
    output and binary cross-entropy, for two classes).

    Args:
        spec: a spec file's path or a `Spec`; None: a network n_features-32-n_classes,
            ReLU then softmax, cross-entropy, Adam with learning rate 0.01, float64.
        learning_rate, epochs, batch_size, seed: override the spec's; None keeps them.
    """

    def _default_spec(self, n_in: int, n_out: int) -> specs.Spec:
        return specs.Spec(
            name="classifier",
            layers=(n_in, HIDDEN, max(n_out, 2)),
            activations=("relu", "softmax"),
            loss="cross_entropy",
            bias=True,
            dtype="float64",
            optimizer=specs.Optimizer("adam", _adam(0.01)),
        )

    def fit(self, X: Any, y: Any) -> DeriveClassifier:
        """Train on samples X (n, features) and labels y (n,) of any type; returns self."""
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("expected labels of at least 2 classes, found 1 class")
        n_classes = len(self.classes_)
        spec = self._spec(X.shape[1], n_classes)
        one_sigmoid = spec.loss == "binary_cross_entropy" and spec.n_out == 1
        if not spec.classifier or (spec.activations[-1] != "softmax" and not one_sigmoid):
            raise ValueError(
                f"spec {spec.name}: expected a classifier (a softmax output, or one sigmoid"
                f" output with binary_cross_entropy), found {spec.activations[-1]} and {spec.loss}"
            )
        classes = f"{n_classes} classes"
        self._check_outputs(spec, 1 if one_sigmoid and n_classes == 2 else n_classes, classes)
        self._train(X, labels, spec)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, n_classes), columns in the order of `classes_`."""
        return self._call("predict_proba", X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, as a label of `classes_`."""
        probabilities = self.predict_proba(X)  # checks first that the model is fitted
        return self.classes_[probabilities.argmax(axis=1)]


class DeriveRegressor(RegressorMixin, _DeriveEstimator):
    """A regressor trained by a generated module with the `mse` loss.

    Args:
        spec: a spec file's path or a `Spec`; None: a network n_features-32-n_targets,
            tanh then identity, mse, Adam with learning rate 0.01, float64.
        learning_rate, epochs, batch_size, seed: override the spec's; None keeps them.
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n, outputs) is fitted as it is
        return tags

    def _default_spec(self, n_in: int, n_out: int) -> specs.Spec:
        return specs.Spec(
            name="regressor",
            layers=(n_in, HIDDEN, n_out),
            activations=("tanh", "identity"),
            loss="mse",
            bias=True,
            dtype="float64",
            optimizer=specs.Optimizer("adam", _adam(0.01)),
        )

    def fit(self, X: Any, y: Any) -> DeriveRegressor:
        """Train on samples X (n, features) and targets y, (n,) or (n, outputs); returns self."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True)
        targets = y.reshape(len(y), -1).astype(np.float64)
        spec = self._spec(X.shape[1], targets.shape[1])
        self._check_outputs(spec, targets.shape[1], f"{targets.shape[1]} target column(s)")
        if spec.classifier:
            raise ValueError(f"spec {spec.name}: expected an mse regression, found {spec.loss}")
        self._single_ = y.ndim == 1
        self._train(X, targets, spec)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets: (n,) when fitted on 1-D y, else (n, outputs)."""
        outputs = self._call("forward", X)
        return outputs[:, 0] if self._single_ else outputs


def _adam(learning_rate: float) -> tuple[tuple[str, float], ...]:
    """Adam's hyperparameters with the spec loader's defaults."""
    defaults = {
        k: float(v)
        for k, v in specs.OPTIMIZERS["adam"].items()
        if v is not None and k not in specs.OPTIONAL_HYPER  # left out at their defaults
    }
    return tuple(sorted({**defaults, "learning_rate": learning_rate}.items()))
