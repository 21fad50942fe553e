"""The `[network]` shorthand of a file with `[symbols]`: a dense network written out for you.

Input: the `[network]` table (layer sizes, activations, bias, loss, an optional batch size).
Output: the `[symbols]` and `[definitions]` entries it stands for, as text, checked afterwards
exactly as if the user had written them:

    x (or X, N x n for a batch), W1, b1, ..., y (or Y)     symbols
    z1 = W1 @ x + b1 (or X @ W1.T + b1), a1 = f1(z1), ...   definitions, then C = the loss

Losses are derive's (`derive.losses`): `mse` the mean over outputs of (a - y)^2,
`cross_entropy` -sum(y log a) with a one-hot target, `binary_cross_entropy` the mean over
outputs; each then averaged over the batch. Any other text is the loss itself, an expression.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from derive.errors import DeriveError, input_error, plain
from derive.verify.tensors import ELEMENTWISE

__all__ = ["KEYS", "expand"]

KEYS = ("layers", "activations", "activation", "bias", "loss", "batch", "input", "target")
_LOSSES = {  # the loss of one sample, in the output `a` and the target `y`; m outputs
    "mse": "sum(({a} - {y})**2) / {m}",
    "cross_entropy": "-sum({y} * log({a}))",
    "binary_cross_entropy": "-sum({y} * log({a}) + (1 - {y}) * log(1 - {a})) / {m}",
}


def expand(
    path: Path, raw: object, symbols: dict[str, Any], definitions: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """[symbols] and [definitions] with the network's entries first; DeriveError if refused."""
    if not isinstance(raw, dict) or set(raw) - set(KEYS):
        raise input_error(path, "network", f"a table of {', '.join(KEYS)}", raw)
    layers = raw.get("layers")
    if not isinstance(layers, list) or not 2 <= len(layers) <= 6:
        raise input_error(path, "network.layers", 'two to six sizes, as ["n", "h", "m"]', layers)
    activations = _activations(path, raw, len(layers) - 1)
    batch = raw.get("batch")
    if batch is not None and not isinstance(batch, str):
        raise input_error(path, "network.batch", 'the name of a size, as "N"', batch)
    bias = raw.get("bias", True)
    if not isinstance(bias, bool):
        raise input_error(path, "network.bias", "true or false", bias)
    x = _name(path, raw, "input", "X" if batch else "x")
    y = _name(path, raw, "target", "Y" if batch else "y")
    rows = [batch] if batch else []
    made: dict[str, Any] = {x: {"shape": [*rows, layers[0]]}}
    text: dict[str, str] = {}
    below = x
    for number, (size, activation) in enumerate(zip(layers[1:], activations, strict=True), 1):
        made[f"W{number}"] = {"shape": [size, layers[number - 1]]}
        product = f"{below} @ W{number}.T" if batch else f"W{number} @ {below}"
        if bias:
            made[f"b{number}"] = {"shape": [size]}
            product += f" + b{number}"
        text[f"z{number}"] = product
        text[f"a{number}"] = f"{activation}(z{number})"
        below = f"a{number}"
    loss = raw.get("loss", "mse")
    if not isinstance(loss, str):
        expected = f"one of {', '.join(_LOSSES)} or an expression"
        raise input_error(path, "network.loss", expected, loss)
    made[y] = {"shape": [*rows, layers[-1]]}
    if loss == "cross_entropy":
        made[y]["domain"] = "one_hot"
    one = _LOSSES.get(loss, loss).format(a=below, y=y, m=layers[-1])
    text["C"] = f"({one}) / {batch}" if batch and loss in _LOSSES else one
    clash = sorted(set(made) & set(symbols) | set(text) & set(definitions))
    if clash:
        raise DeriveError(
            f"{plain(str(path))}: network: defines {clash[0]!r}, "
            "which [symbols] or [definitions] declares too"
        )
    return made | symbols, text | definitions


def _activations(path: Path, raw: dict[str, Any], count: int) -> list[str]:
    if "activations" in raw and "activation" in raw:
        raise input_error(path, "network", "one of activation, activations", "both")
    given = raw.get("activations", [raw.get("activation", "sigmoid")] * count)
    known = [*ELEMENTWISE, "softmax"]
    if not isinstance(given, list) or len(given) != count or not all(a in known for a in given):
        expected = f"{count} of {', '.join(known)}, one per weight layer"
        raise input_error(path, "network.activations", expected, given)
    if "softmax" in given[:-1]:
        raise input_error(path, "network.activations", "softmax on the output only", given)
    return given


def _name(path: Path, raw: dict[str, Any], key: str, default: str) -> str:
    name = raw.get(key, default)
    if not isinstance(name, str) or not name.isidentifier():
        raise input_error(path, f"network.{key}", "a name", name)
    return name
