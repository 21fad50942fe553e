"""`make demo` (`python -m derive.training.demo`): the tour a newcomer runs.

1. verify the bundled backprop notes against SymPy;
2. regenerate every example module from `generated/specs/`;
3. train each example on its data set, and scikit-learn's MLPClassifier/MLPRegressor with the
   same hidden layers, activation, optimizer, learning rate, batch size and epochs on the same
   split;
4. print one comparison table; with matplotlib, write PNG figures into `plots/`.
"""

from __future__ import annotations

import io
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

from derive import codegen
from derive import spec as specs
from derive.training import datasets, train

# The current directory's, as for `derive generate --all`: `make demo` runs in the checkout.
SPECS = codegen.SPECS
PLOTS = Path("plots")

# scikit-learn has one activation for all hidden layers, and of the ReLU family plain ReLU
# only: leaky ReLU, softplus, ELU, GELU, SiLU and a spec's own activation run as ReLU there.
SKLEARN_ACTIVATIONS = {
    "relu": "relu",
    "leaky_relu": "relu",
    "tanh": "tanh",
    "sigmoid": "logistic",
    "identity": "identity",
}


def sklearn_model(spec: specs.Spec, data: datasets.Dataset) -> Any:
    """scikit-learn's MLP with the spec's hidden layers, activation, optimizer and training.

    What it cannot copy: a network without biases, leaky ReLU (plain ReLU instead), an output
    other than softmax/sigmoid (classifier) or identity (regressor), MSE on a softmax, AdamW's
    decoupled weight decay and RMSprop (its adam, without decay, instead). An L2 weight_decay
    becomes its `alpha`, which it divides by the batch size and puts on the weights only.
    Tolerance-based stopping is turned off so that it runs every epoch.
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    opt = spec.optimizer
    solver: dict[str, object] = {"solver": "adam"}
    l2 = 0.0 if opt.kind in ("adamw", "rmsprop") else opt.weight_decay
    if opt.kind in ("adam", "adamw"):
        solver.update(beta_1=opt["beta1"], beta_2=opt["beta2"], epsilon=opt["epsilon"])
    elif opt.kind == "rmsprop":
        solver.update(epsilon=opt["epsilon"])
    else:
        momentum = opt["momentum"] if opt.kind == "momentum" else 0.0
        solver.update(solver="sgd", momentum=momentum, nesterovs_momentum=opt.nesterov)
    hidden = spec.activations[0] if spec.depth > 1 else "identity"
    epochs = spec.training.epochs
    model = MLPClassifier if data.task == "classification" else MLPRegressor
    return model(
        hidden_layer_sizes=spec.layers[1:-1],
        activation=SKLEARN_ACTIVATIONS.get(hidden, "relu"),
        learning_rate="constant",
        learning_rate_init=opt.learning_rate,
        batch_size=spec.training.batch_size,
        max_iter=epochs,
        n_iter_no_change=epochs,
        tol=0.0,
        alpha=l2 * spec.training.batch_size,
        shuffle=True,
        random_state=spec.training.seed,
        **solver,
    )


def sklearn_score(spec: specs.Spec, data: datasets.Dataset) -> tuple[float, float]:
    """Fit the matching scikit-learn MLP on the train split: (held-out score, seconds)."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    model = sklearn_model(spec, data)
    y = data.y_train if data.task == "classification" else data.y_train[:, 0]
    # These networks multiply small matrices: on a busy machine, BLAS threads waiting on each
    # other made a fit up to 20 times slower than one thread. (Generated modules choose their
    # BLAS threads per product themselves.)
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(data.X_train, y)
        seconds = time.perf_counter() - start
    predicted = model.predict(data.X_test)
    if data.task == "classification":
        return float(np.mean(predicted == data.y_test)), seconds
    return float(np.mean((predicted.reshape(data.y_test.shape) - data.y_test) ** 2)), seconds


def verify_notes() -> None:
    """Step 1: `derive verify` on the bundled notes, one row per equation and step."""
    from derive.verify.report import run_verify

    start = time.perf_counter()
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        run_verify([], "text")
    seconds = time.perf_counter() - start
    lines = buffer.getvalue().rstrip().splitlines()
    rows: list[str] = []
    shown = True
    for line in lines[1:-1]:  # below the header row, above the summary
        if not line.startswith(" "):  # a row; the indented lines below it continue it
            shown = "." not in line.split(" ", 1)[0]  # eq13, not eq13.2: its worst line
        if shown:
            rows.append(line)
    equations = sum(not row.startswith(" ") for row in rows)
    # the summary counts every line of every equation: say why it is more than the rows shown
    print(
        f"1. verify the seed notes ({seconds:.1f} s): {equations} equations and steps, each"
        " with the verdict of its worst line; `derive verify` lists every line"
    )
    for line in [lines[0], *rows, lines[-1]]:
        print(f"   {line}")


def regenerate() -> None:
    """Step 2: `derive generate --all`."""
    start = time.perf_counter()
    from derive.codegen import run_generate

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = run_generate([], out=None, all_specs=True, check=False, force=False)
    print(f"2. regenerate every example module: exit {code} in {time.perf_counter() - start:.1f} s")


def main() -> int:
    """Run the tour; returns 0 when every example met its target."""
    verify_notes()
    regenerate()
    with_plots = _plots_available()
    print("3. train every example, and scikit-learn's MLP on the same split")
    header = ["data set", "spec", "architecture", "training", "target"]
    header += ["derive", "time", "sklearn", "time"]
    rows = []
    all_met = True
    for path in sorted(SPECS.glob("*.toml")):
        spec = specs.load(path)
        if spec.training.dataset is None:
            continue
        data = datasets.load(spec.training.dataset, seed=spec.training.seed)
        train.check_fits(spec, data, path)
        result = train.train(spec, data)
        theirs, their_seconds = sklearn_score(spec, data)
        met = datasets.meets_target(data.name, result.metric, result.score)
        all_met = all_met and met is not False
        rows.append(
            [
                data.name,
                spec.name,
                train.architecture(spec),
                train.schedule(spec),
                _target(data.name) + ("" if met is None else " ok" if met else " MISSED"),
                _short(result.metric, result.score),
                f"{result.seconds:.2f}s",
                _short(result.metric, theirs),
                f"{their_seconds:.2f}s",
            ]
        )
        if with_plots:
            from derive.training import plots

            plots.write_all(result, spec, data, PLOTS)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip())
    print()
    if with_plots:
        print(f"4. figures: {PLOTS}/<spec>_<data set>_{{loss,boundary,fit}}.png")
    else:
        print("4. figures: skipped (install matplotlib: pip install matplotlib)")
    print(
        "scikit-learn cannot copy: no-bias networks, leaky ReLU, softplus, ELU, GELU, SiLU or a"
        " spec's own activation (runs ReLU), a ReLU output or MSE on a softmax (runs its own"
        " output and loss), AdamW's decoupled weight decay or RMSprop (runs adam without decay)."
    )
    return 0 if all_met else 1


def _plots_available() -> bool:
    from derive.training import plots

    return plots.available()


def _target(name: str) -> str:
    if name not in datasets.TARGETS:
        return "-"
    metric, bound = datasets.TARGETS[name]
    if metric == "accuracy":
        return "100%" if bound == 1 else f">= {100 * bound:g}%"  # as the README's table
    return f"mse <= {bound:g}"


def _short(metric: str, value: float) -> str:
    return f"{100 * value:.1f}%" if metric == "accuracy" else f"mse {value:.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
