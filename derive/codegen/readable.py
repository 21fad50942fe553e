"""The readable path: `_forward`, `_loss` and `_loss_and_grads`, one printed expression a line.

Each expression comes from the records (activations, losses, backprop.output_delta), is
printed by `printing.to_numpy` and cites the derivation ids it implements.
"""

from __future__ import annotations

import sympy as sp

from derive import activations, backprop
from derive.codegen.naming import BODY_WIDTH, Layers, cite, fit, used
from derive.codegen.printing import to_numpy, to_numpy_scaled
from derive.symbols import n, t, x, y


def _forward_names(lay: Layers) -> list[str]:
    return [f"{kind}{layer}" for layer in range(1, lay.depth + 1) for kind in "za"]


def forward_lines(lay: Layers) -> tuple[list[str], str]:
    lines: list[str] = []
    for layer in range(1, lay.depth + 1):
        act = lay.act(layer)
        bias = f" + b{layer}" if lay.spec.bias else ""
        lines.append(f"z{layer} = {lay.inp(layer)} @ W{layer}.T{bias}{cite('bp.dense')}")
        if act.elementwise:
            assert act.expr is not None
            code = to_numpy(act.expr, {x: f"z{layer}"})
            lines.append(f"a{layer} = {code}{cite(f'def.{act.name}')}")
        else:
            lines.append(
                f"shifted{layer} = z{layer} - z{layer}.max(axis=1, keepdims=True)"
                + cite("bp.stable_softmax")
            )
            lines.append(f"exp{layer} = numpy.exp(shifted{layer})")
            lines.append(f"a{layer} = exp{layer} / exp{layer}.sum(axis=1, keepdims=True)")
    return _with_params(lay, lines), ", ".join(_forward_names(lay))


def _with_params(lay: Layers, body: list[str]) -> list[str]:
    """body after `W1, b1 = params["W1"], params["b1"]` lines for the parameters it uses."""
    lines = []
    for layer in range(1, lay.depth + 1):
        names = used(lay.params(layer), body)
        if names:
            lookups = ", ".join(f'params["{name}"]' for name in names)
            lines.append(f"{', '.join(names)} = {lookups}")
    return lines + fit(body)


def loss_lines(lay: Layers) -> list[str]:
    """The body of `_loss(z, a, T)`: the batch-mean loss from the output layer's z and a."""
    loss = lay.loss
    if loss.name == "cross_entropy":
        term = loss.term.subs(sp.log(y), sp.Symbol("log_softmax", real=True))
        return [
            "shifted = z - z.max(axis=1, keepdims=True)" + cite("bp.stable_softmax"),
            "log_softmax = shifted - numpy.log(numpy.exp(shifted).sum(axis=1, keepdims=True))"
            + cite("bp.log_softmax"),
            f"return float(numpy.sum({to_numpy(term, {t: 'T'})})) / z.shape[0]"
            + cite("bp.batch_mean"),
        ]
    if loss.name == "binary_cross_entropy":
        code = to_numpy(backprop.stable_bce_term(), {x: "z", t: "T"})
        return [f"return float(numpy.mean({code}))" + cite("bp.stable_bce", "bp.batch_mean")]
    code = to_numpy(loss.term, {y: "a", t: "T"})
    return [f"return float(numpy.mean({code}))" + cite("bp.batch_mean")]


def grad_lines(lay: Layers) -> list[str]:
    last = lay.depth
    lines: list[str] = []
    used = {f"a{layer}" for layer in range(1, last + 1)} | {f"z{last}"}
    used |= {f"z{layer}" for layer in range(1, last) if not lay.act(layer).slope_in_output}
    unpack = ", ".join(name if name in used else "_" for name in _forward_names(lay))
    lines.append(f"{unpack} = _forward(params, X)")
    lines.append("batch = X.shape[0]")
    lines.append(f"loss = _loss(z{last}, a{last}, T)")
    delta = backprop.output_delta(lay.loss.name, lay.act(last).name)
    expr = delta.expr.subs(n, lay.spec.n_out) / sp.Symbol("batch", positive=True)
    names = {y: f"a{last}", t: "T"}
    if delta.kind == "softmax_jvp":
        lines.append(f"g{last} = {to_numpy_scaled(expr, names)}" + cite(delta.eq_ids[0]))
        lines.append(
            f"delta{last} = a{last} * (g{last} - numpy.sum(g{last} * a{last}, axis=1,"
            f" keepdims=True)){cite(*delta.eq_ids[1:])}"
        )
    else:
        lines.append(f"delta{last} = {to_numpy_scaled(expr, names)}" + cite(*delta.eq_ids))
    for layer in range(last, 0, -1):
        lines.append(
            f"# layer {layer}: gradients of W{layer}" + (f", b{layer}" if lay.spec.bias else "")
        )
        lines.append(f"gW{layer} = delta{layer}.T @ {lay.inp(layer)}" + cite("bp.grad_w"))
        if lay.spec.bias:
            lines.append(f"gb{layer} = delta{layer}.sum(axis=0)" + cite("bp.grad_b"))
        if layer > 1:
            act = lay.act(layer - 1)
            back = sp.Symbol(f"(delta{layer} @ W{layer})", real=True)
            if act.slope_in_output:
                code = to_numpy(back * act.derivative_of_output, {y: f"a{layer - 1}"})
                lines.append(f"delta{layer - 1} = {code}" + cite("bp.hidden", f"act.{act.name}"))
            else:  # f' from the weighted input z, which the forward pass returns
                lines += _slope_lines(act, layer - 1)
                lines.append(f"delta{layer - 1} = {back} * slope{layer - 1}" + cite("bp.hidden"))
    grads = ", ".join(f'"{name}": g{name}' for name in lay.all_params())
    lines.append(f"return loss, {{{grads}}}")
    return _with_params(lay, lines)


def _slope_lines(act: activations.Activation, layer: int) -> list[str]:
    """`slope<l> = f'(z<l>)`; a derivative too long for one line is cut at its common
    subexpressions (sympy.cse), each named slope<l>_<i>."""
    names = {x: f"z{layer}"}
    line = f"slope{layer} = {to_numpy(act.derivative, names)}"
    if len(line) <= BODY_WIDTH:
        return [line + cite(f"act.{act.name}")]
    parts = sp.numbered_symbols(f"slope{layer}_", real=True)
    shared, (rest,) = sp.cse(act.derivative, symbols=parts, optimizations=None)
    lines = [f"# slope{layer} = {act.name}'(z{layer}){cite(f'act.{act.name}')}"]
    numbers: dict[sp.Expr, sp.Expr] = {}
    for name, expr in shared:
        expr = expr.xreplace(numbers)
        if expr.is_number:  # a constant such as sqrt(2/pi) stays a literal, not a name
            numbers[name] = sp.Symbol(repr(float(expr)))
        else:
            lines.append(f"{name} = {to_numpy(expr, names)}")
    rest = rest.xreplace(numbers)
    terms: list[sp.Expr] = []
    op = "="
    for term in sp.Add.make_args(rest):  # a sum too long for a line: += term by term
        if terms and len(to_numpy(sp.Add(*terms, term), names)) > BODY_WIDTH - 12:
            lines.append(f"slope{layer} {op} {to_numpy(sp.Add(*terms), names)}")
            terms, op = [], "+="
        terms.append(term)
    return [*lines, f"slope{layer} {op} {to_numpy(sp.Add(*terms), names)}"]
