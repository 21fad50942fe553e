"""The readable path: `_forward`, `_loss` and `_loss_and_grads`, one printed expression a line.

Each expression comes from the records (activations, losses, backprop.output_delta), is
printed by `printing.to_numpy` and cites the derivation ids it implements.
"""

from __future__ import annotations

import sympy as sp

from derive import activations, backprop
from derive.codegen.ir import Comment, Item, Stmt, print_items, referenced
from derive.codegen.naming import BODY_WIDTH, Layers
from derive.codegen.outputs import output_rule
from derive.codegen.printing import to_numpy, to_numpy_scaled
from derive.symbols import n, t, x, y


def _forward_names(lay: Layers) -> list[str]:
    return [f"{kind}{layer}" for layer in range(1, lay.depth + 1) for kind in "za"]


def forward_lines(lay: Layers) -> tuple[list[str], str]:
    """The body of `_forward(params, X)` and the names it returns."""
    items: list[Item] = []
    for layer in range(1, lay.depth + 1):
        act = lay.act(layer)
        bias = f" + b{layer}" if lay.spec.bias else ""
        code = f"z{layer} = {lay.inp(layer)} @ W{layer}.T{bias}"
        items.append(Stmt(code, tuple(lay.params(layer)), cites=("bp.dense",)))
        if act.elementwise:
            assert act.expr is not None
            code = to_numpy(act.expr, {x: f"z{layer}"})
            items.append(Stmt(f"a{layer} = {code}", cites=(f"def.{act.name}",)))
        else:
            code = f"shifted{layer} = z{layer} - z{layer}.max(axis=1, keepdims=True)"
            items += [
                Stmt(code, cites=("bp.stable_softmax",)),
                Stmt(f"exp{layer} = numpy.exp(shifted{layer})"),
                Stmt(f"a{layer} = exp{layer} / exp{layer}.sum(axis=1, keepdims=True)"),
            ]
    return _with_params(lay, items), ", ".join(_forward_names(lay))


def _with_params(lay: Layers, body: list[Item]) -> list[str]:
    """body after `W1, b1 = params["W1"], params["b1"]` lines for the parameters it reads."""
    reads = referenced(body)
    lines = []
    for layer in range(1, lay.depth + 1):
        names = [name for name in lay.params(layer) if name in reads]
        if names:
            lookups = ", ".join(f'params["{name}"]' for name in names)
            lines.append(f"{', '.join(names)} = {lookups}")
    return lines + print_items(body)


def loss_lines(lay: Layers) -> list[str]:
    """The body of `_loss(z, a, T)`: the batch-mean loss from the output layer's z and a."""
    rule = output_rule(lay.loss.name, lay.act(lay.depth).name)
    return print_items(rule.readable(lay.loss))


def grad_lines(lay: Layers) -> list[str]:
    """The body of `_loss_and_grads(params, X, T)`: the readable backward pass."""
    last = lay.depth
    items: list[Item] = []
    used = {f"a{layer}" for layer in range(1, last + 1)} | {f"z{last}"}
    used |= {f"z{layer}" for layer in range(1, last) if not lay.act(layer).slope_in_output}
    unpack = ", ".join(name if name in used else "_" for name in _forward_names(lay))
    items += [
        Stmt(f"{unpack} = _forward(params, X)"),
        Stmt("batch = X.shape[0]"),
        Stmt(f"loss = _loss(z{last}, a{last}, T)"),
    ]
    delta = backprop.output_delta(lay.loss.name, lay.act(last).name)
    expr = delta.expr.subs(n, lay.spec.n_out) / sp.Symbol("batch", positive=True)
    names = {y: f"a{last}", t: "T"}
    if delta.kind == "softmax_jvp":
        g, a = f"g{last}", f"a{last}"
        jvp = f"{a} * ({g} - numpy.sum({g} * {a}, axis=1, keepdims=True))"
        items += [
            Stmt(f"{g} = {to_numpy_scaled(expr, names)}", cites=(delta.eq_ids[0],)),
            Stmt(f"delta{last} = {jvp}", cites=tuple(delta.eq_ids[1:])),
        ]
    else:
        code = f"delta{last} = {to_numpy_scaled(expr, names)}"
        items.append(Stmt(code, cites=tuple(delta.eq_ids)))
    for layer in range(last, 0, -1):
        bias = f", b{layer}" if lay.spec.bias else ""
        items.append(Comment(f"layer {layer}: gradients of W{layer}{bias}"))
        code = f"gW{layer} = delta{layer}.T @ {lay.inp(layer)}"
        items.append(Stmt(code, cites=("bp.grad_w",)))
        if lay.spec.bias:
            items.append(Stmt(f"gb{layer} = delta{layer}.sum(axis=0)", cites=("bp.grad_b",)))
        if layer > 1:
            act = lay.act(layer - 1)
            back = sp.Symbol(f"(delta{layer} @ W{layer})", real=True)
            weight = (f"W{layer}",)
            if act.slope_in_output:
                code = to_numpy(back * act.derivative_of_output, {y: f"a{layer - 1}"})
                cites = ("bp.hidden", f"act.{act.name}")
                items.append(Stmt(f"delta{layer - 1} = {code}", weight, cites=cites))
            else:  # f' from the weighted input z, which the forward pass returns
                items += _slope_items(act, layer - 1)
                code = f"delta{layer - 1} = {back} * slope{layer - 1}"
                items.append(Stmt(code, weight, cites=("bp.hidden",)))
    grads = ", ".join(f'"{name}": g{name}' for name in lay.all_params())
    items.append(Stmt(f"return loss, {{{grads}}}"))
    return _with_params(lay, items)


def _slope_items(act: activations.Activation, layer: int) -> list[Item]:
    """`slope<l> = f'(z<l>)`; a derivative too long for one line is cut at its common
    subexpressions (sympy.cse), each named slope<l>_<i>."""
    names = {x: f"z{layer}"}
    line = f"slope{layer} = {to_numpy(act.derivative, names)}"
    if len(line) <= BODY_WIDTH:
        return [Stmt(line, cites=(f"act.{act.name}",))]
    parts = sp.numbered_symbols(f"slope{layer}_", real=True)
    shared, (rest,) = sp.cse(act.derivative, symbols=parts, optimizations=None)
    items: list[Item] = [Comment(f"slope{layer} = {act.name}'(z{layer})", (f"act.{act.name}",))]
    numbers: dict[sp.Expr, sp.Expr] = {}
    for name, expr in shared:
        expr = expr.xreplace(numbers)
        if expr.is_number:  # a constant such as sqrt(2/pi) stays a literal, not a name
            numbers[name] = sp.Symbol(repr(float(expr)))
        else:
            items.append(Stmt(f"{name} = {to_numpy(expr, names)}"))
    rest = rest.xreplace(numbers)
    terms: list[sp.Expr] = []
    op = "="
    for term in sp.Add.make_args(rest):  # a sum too long for a line: += term by term
        if terms and len(to_numpy(sp.Add(*terms, term), names)) > BODY_WIDTH - 12:
            items.append(Stmt(f"slope{layer} {op} {to_numpy(sp.Add(*terms), names)}"))
            terms, op = [], "+="
        terms.append(term)
    return [*items, Stmt(f"slope{layer} {op} {to_numpy(sp.Add(*terms), names)}")]
