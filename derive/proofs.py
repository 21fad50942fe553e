"""Proofs: the registered derivations of `backprop` against direct differentiation.

Input: the registry (`backprop.DERIVATIONS`, `output_delta`, the activations and losses).
Output: `ProofResult`s; `prove_all()` runs every case of `PROOFS`, and
`unproved_derivations()` lists any registered id no proof covers. Imported by the tests and
by nothing on the generator's path, so `derive generate` never pays for it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache, partial
from typing import Any

import mpmath
import sympy as sp

from derive import activations, backprop, losses
from derive.activations import logistic_as_tanh, one_plus_exp
from derive.backprop import output_delta, stable_bce_term
from derive.symbols import matrix, n, p, t, vector, x, y

# --- Proofs: the vectorized backward pass against sympy.diff of the total loss -----------------
#
# A small network with symbolic weights is built from the definitions (samples as rows,
# Z_l = A_{l-1} W_l^T + b_l), its batch-averaged loss E is differentiated by sympy.diff with
# respect to every weight and bias symbol, and the result is compared, entry by entry, with the
# backward formulas assembled from the registry pieces above. At random rational points (off
# every kink) the derivative is sympy.diff chained over E's distinct subexpressions
# (`chained_diff`, equal to sp.diff(E, w) and much faster); values are exact rationals for
# piecewise-linear networks with mse, else 80-digit floats that must agree to 1e-40 relative.
# `symbolic=True` asks simplify(formula - sp.diff(E, w)) == 0 instead, for tiny networks.


def softmax_jvp(s: sp.Matrix, g: sp.Matrix) -> sp.Matrix:
    """[bp.softmax_jvp] J^T g for the softmax of one row, in O(n): s * (g - sum(g * s))."""
    dot = sum(gk * sk for gk, sk in zip(g, s, strict=True))
    return sp.Matrix(1, len(s), [si * (gi - dot) for si, gi in zip(s, g, strict=True)])


def softmax_jacobian(zs: list[sp.Expr]) -> sp.Matrix:
    """The full softmax Jacobian J[k, i] = ds_k/dz_i, from sympy.diff (eq. (15))."""
    s = activations.softmax(zs)
    return sp.Matrix(len(zs), len(zs), lambda k, i: sp.diff(s[k], zs[i]))


def softmax_ce_general_delta(S: sp.Matrix, T: sp.Matrix) -> sp.Matrix:
    """dE/dZ of cross-entropy after softmax without sum(t) = 1: s * sum(t) - t, per row."""
    return sp.Matrix(S.rows, S.cols, lambda b, i: S[b, i] * sum(T.row(b)) - T[b, i])


def forward(acts: tuple[str, ...], X: sp.Matrix, Ws: list, bs: list) -> tuple[list, list]:
    """[bp.dense] Pre-activations Z_1..Z_L and activations A_0 = X, A_1..A_L, samples as rows."""
    Zs, outputs = [], [X]
    for W, b, name in zip(Ws, bs, acts, strict=True):
        Z = outputs[-1] * W.T
        if b is not None:
            Z += sp.ones(Z.rows, 1) * b
        Zs.append(Z)
        act = activations.get(name)
        if act.elementwise:
            outputs.append(Z.applyfunc(partial(_apply, act)))
        else:
            outputs.append(sp.Matrix([activations.softmax(list(Z.row(r))) for r in range(Z.rows)]))
    return Zs, outputs


def _apply(act: activations.Activation, z_: sp.Expr) -> sp.Expr:
    """act.of(z_); a Max is built unevaluated, skipping its costly search of nested arguments."""
    if not act.has_kink:
        return act.of(z_)
    with sp.evaluate(False):
        return act.of(z_)


def total_loss(loss_name: str, A_out: sp.Matrix, T: sp.Matrix) -> sp.Expr:
    """[bp.batch_mean] E = (1/B) sum over the B samples (rows) of each sample's loss."""
    loss = losses.get(loss_name)
    rows = range(A_out.rows)
    return sp.Add(*[loss.of(list(A_out.row(r)), list(T.row(r))) for r in rows]) / A_out.rows


def output_layer_delta(loss_name: str, act_name: str, A_out: sp.Matrix, T: sp.Matrix) -> sp.Matrix:
    """delta_L = dE/dZ_L per sample (no 1/B), from `output_delta` of the registry."""
    rule = output_delta(loss_name, act_name)
    values = {n: A_out.cols}
    G = sp.Matrix(
        A_out.rows,
        A_out.cols,
        lambda r, i: rule.expr.xreplace(values | {y: A_out[r, i], t: T[r, i]}),
    )
    if rule.kind == "elementwise":
        return G
    rows = [softmax_jvp(A_out.row(r), G.row(r)) for r in range(A_out.rows)]
    return sp.Matrix.vstack(*rows)


def hidden_delta(
    delta_next: sp.Matrix,
    W_next: sp.Matrix,
    A: sp.Matrix,
    act_name: str,
    Z: sp.Matrix | None = None,
) -> sp.Matrix:
    """[bp.hidden] delta_l = (delta_{l+1} W_{l+1}) * f_l'(Z_l), f' written in A_l = f_l(Z_l),
    or at Z_l itself for an activation whose f' generated code keeps from the forward pass."""
    act = activations.get(act_name)
    if act.slope_in_output:
        slope = A.applyfunc(lambda a_: act.derivative_of_output.xreplace({y: a_}))
    else:
        assert Z is not None, f"{act_name}' is taken at Z"
        slope = Z.applyfunc(lambda z_: act.derivative.xreplace({x: z_}))
    return (delta_next * W_next).multiply_elementwise(slope)


def layer_gradients(delta: sp.Matrix, A_prev: sp.Matrix, bias: bool) -> tuple:
    """[bp.grad_w, bp.grad_b, bp.batch_mean] (delta^T A_{l-1} / B, column sums of delta / B)."""
    batch = delta.rows
    grad_w = delta.T * A_prev / batch
    grad_b = sp.ones(1, batch) * delta / batch if bias else None
    return grad_w, grad_b


@dataclass(frozen=True)
class BackwardRules:
    """The three pieces of the vectorized backward pass; a test may swap in a wrong one."""

    output: Callable[[str, str, sp.Matrix, sp.Matrix], sp.Matrix] = output_layer_delta
    hidden: Callable[..., sp.Matrix] = hidden_delta
    gradients: Callable[[sp.Matrix, sp.Matrix, bool], tuple] = layer_gradients


RULES = BackwardRules()


def backward(
    acts: tuple[str, ...],
    loss_name: str,
    outputs: list,
    T: sp.Matrix,
    Ws: list,
    bias: bool,
    rules: BackwardRules = RULES,
    Zs: list | None = None,
) -> list[tuple]:
    """(dE/dW_l, dE/db_l or None) for l = 1..L by the vectorized formulas; outputs[l] is A_l,
    Zs[l - 1] is Z_l (read for an activation whose f' is taken at Z)."""
    delta = rules.output(loss_name, acts[-1], outputs[-1], T)
    grads = []
    for layer in range(len(Ws), 0, -1):
        grads.append(rules.gradients(delta, outputs[layer - 1], bias))
        if layer > 1:
            act, A = acts[layer - 2], outputs[layer - 1]
            if activations.get(act).slope_in_output:
                delta = rules.hidden(delta, Ws[layer - 1], A, act)
            else:
                assert Zs is not None, f"{act}' is taken at Z: pass Zs"
                delta = rules.hidden(delta, Ws[layer - 1], A, act, Zs[layer - 2])
    return grads[::-1]


@dataclass(frozen=True)
class ProofResult:
    """The verdict of one proof, the derivations it cites, and evidence when it fails."""

    name: str
    holds: bool
    method: str
    eq_ids: tuple[str, ...]
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class NetworkCase:
    """A small network to prove: layer sizes, one activation per weight layer, loss, bias."""

    layers: tuple[int, ...]
    acts: tuple[str, ...]
    loss: str
    bias: bool
    batch: int = 2

    @property
    def name(self) -> str:
        """A readable id, e.g. net:2-3-2:tanh-softmax:cross_entropy:bias:B2."""
        sizes, acts, bias = "-".join(map(str, self.layers)), "-".join(self.acts), self.bias
        return f"net:{sizes}:{acts}:{self.loss}:{'bias' if bias else 'nobias'}:B{self.batch}"

    @property
    def eq_ids(self) -> tuple[str, ...]:
        """The derivations this network's backward pass is built from."""
        ids = [
            "bp.dense",
            "bp.batch_mean",
            "bp.grad_w",
            *output_delta(self.loss, self.acts[-1]).eq_ids,
        ]
        ids += ["bp.grad_b"] if self.bias else []
        ids += [i for act in self.acts[:-1] for i in ("bp.hidden", f"act.{act}")]
        return tuple(dict.fromkeys(ids))


def _rational(rng: random.Random) -> sp.Rational:
    """A small nonzero rational, k/4 with 1 <= |k| <= 8."""
    return sp.Rational(rng.choice((-1, 1)) * rng.randint(1, 8), 4)


def _targets(rng: random.Random, batch: int, size: int, condition: bool | None) -> sp.Matrix:
    """Rational targets in [0, 1]; condition True: each row sums to 1 (last = 1 - others),
    False: no row sums to 1, None: no constraint."""
    T = sp.Matrix(batch, size, lambda r, i: sp.Rational(rng.randint(0, 4), 4))
    for r in range(batch):
        if condition:
            T[r, size - 1] = 1 - sum(T.row(r)[: size - 1])
        elif condition is False and sum(T.row(r)) == 1:
            T[r, 0] += sp.Rational(1, 3)
    return T


def _evaluator(point: dict, exact: bool) -> Callable[[sp.Expr], Any]:
    """Evaluation at point: Fractions when exact, else mpmath floats at the working precision
    (80 digits in the proofs); each shared subtree is evaluated once."""
    cache: dict[sp.Expr, Any] = {}
    functions = {sp.exp: mpmath.exp, sp.log: mpmath.log, sp.tanh: mpmath.tanh}

    def value(e: sp.Expr) -> Any:
        if e not in cache:
            cache[e] = evaluate(e)
        return cache[e]

    def evaluate(e: sp.Expr) -> Any:
        e = point.get(e, e)
        if not isinstance(e, sp.Basic):  # a value already computed
            return e
        if e.is_Rational:
            return Fraction(int(e.p), int(e.q)) if exact else mpmath.mpf(int(e.p)) / int(e.q)
        args = [value(arg) for arg in e.args]
        if e.is_Add:
            return sum(args)
        if e.is_Mul:
            return math.prod(args)
        if e.is_Pow:
            return args[0] ** (int(e.exp) if e.exp.is_Integer else args[1])
        if isinstance(e, sp.Max):
            return max(args)
        if isinstance(e, sp.Min):
            return min(args)
        if isinstance(e, sp.Abs):
            return abs(args[0])
        if e.is_number and not exact:  # a constant such as sqrt(2/pi), to 90 digits
            return mpmath.mpf(str(e.evalf(90)))
        if isinstance(e, sp.Heaviside):  # at 0 only on the convention side, where y = 0
            return 1 if args[0] > 0 else 0 if args[0] < 0 else args[1]
        assert not exact and e.func in functions, f"cannot evaluate {e.func} in the proofs"
        return functions[e.func](*args)

    return lambda expr: value(sp.sympify(expr))


PIECEWISE_LINEAR = ("relu", "leaky_relu", "identity")


def _exact(case: NetworkCase) -> bool:
    """A piecewise-linear network with a polynomial loss evaluates in rationals, exactly."""
    return case.loss in ("mse", "huber") and all(a in PIECEWISE_LINEAR for a in case.acts)


def _off_kinks(case: NetworkCase, Zs: list, point: dict) -> bool:
    """Every pre-activation of a kinked layer is nonzero, with both signs present (both regions)."""
    for Z, name in zip(Zs, case.acts, strict=True):
        if activations.get(name).has_kink:
            value = _evaluator(point, _exact(case))
            values = [value(z_) for z_ in Z]
            if min(abs(v) for v in values) < 1e-30 or min(values) > 0 or max(values) < 0:
                return False
    return True


def _network(case: NetworkCase, rng: random.Random, symbolic: bool, condition: bool | None):
    """Symbolic weights and biases, inputs X and targets T (rational, or symbols if symbolic)."""
    sizes = case.layers
    Ws = [matrix(f"W{k}", sizes[k], sizes[k - 1]) for k in range(1, len(sizes))]
    bs = [matrix(f"b{k}", 1, sizes[k]) if case.bias else None for k in range(1, len(sizes))]
    if symbolic:
        X, T = matrix("x", case.batch, sizes[0]), matrix("t", case.batch, sizes[-1])
        if condition:  # sum_i t_i = 1 on every sample: the last target is 1 - the others
            T[:, -1] = sp.ones(case.batch, 1) - T[:, :-1] * sp.ones(sizes[-1] - 1, 1)
    else:
        X = sp.Matrix(case.batch, sizes[0], lambda r, j: _rational(rng))
        T = _targets(rng, case.batch, sizes[-1], condition)
    return Ws, bs, X, T


@dataclass(frozen=True)
class _Problem:
    """A network ready to prove: its loss E, formula gradients, parameter matrices, Zs."""

    E: sp.Expr
    formulas: list  # (dE/dW_l, dE/db_l or None) from the backward rules
    params: list  # (W_l, b_l or None) symbol matrices
    Zs: list

    def symbols(self) -> list[sp.Symbol]:
        """Every weight and bias symbol, layer by layer."""
        return [s for pair in self.params for M in pair if M is not None for s in M]


def _problem(case: NetworkCase, rules: BackwardRules, symbolic: bool, condition, rng) -> _Problem:
    Ws, bs, X, T = _network(case, rng, symbolic, condition)
    Zs, outputs = forward(case.acts, X, Ws, bs)
    E = total_loss(case.loss, outputs[-1], T)
    formulas = backward(case.acts, case.loss, outputs, T, Ws, case.bias, rules, Zs)
    return _Problem(E, formulas, list(zip(Ws, bs, strict=True)), Zs)


def _entries(problem: _Problem) -> tuple[list[str], list]:
    """Shape mismatches, else (label, formula entry, parameter symbol) for every parameter."""
    shapes, entries = [], []
    for layer, (formula, param) in enumerate(zip(problem.formulas, problem.params, strict=True), 1):
        for kind, f, P in zip("Wb", formula, param, strict=True):
            label = f"dE/d{kind}{layer}"
            if _shape(f) != _shape(P):
                shapes.append(f"{label}: formula shape {_shape(f)}, parameter {_shape(P)}")
            elif P is not None:
                entries += [(f"{label}[{i}, {j}]", f[i, j], P[i, j]) for i, j in _indices(P)]
    return shapes, entries


def _indices(M: sp.Matrix) -> list[tuple[int, int]]:
    return [(i, j) for i in range(M.rows) for j in range(M.cols)]


def chained_diff(E: sp.Expr, params: list, point: dict, exact: bool) -> list:
    """dE/dw at point for every w in params, by sympy.diff of each common subexpression of E.

    E is split into steps c_k = f_k(params, earlier c), one per distinct subexpression;
    sympy.diff gives each step's local partials, chained in order (forward mode). It equals
    sp.diff(E, w) at the point (a test checks this) but never walks the whole tree once per
    parameter, which makes depth-3 networks affordable.
    """
    known: dict = dict(point)
    tangent = {w: [int(k == i) for k in range(len(params))] for i, w in enumerate(params)}
    zero = [0] * len(params)  # other symbols: constants here
    for c, expr, partials in _chain(E, tuple(params)):
        value = _evaluator(known, exact)
        rows = [(value(d), tangent.get(s_, zero)) for s_, d in partials]
        tangent[c] = [sum(d * r[k] for d, r in rows) for k in range(len(params))]
        known[c] = value(expr)
    return tangent[c]


@lru_cache(maxsize=4)
def _chain(E: sp.Expr, params: tuple) -> list[tuple[sp.Symbol, sp.Expr, list]]:
    """E's distinct subexpressions in evaluation order, each a step c = f(inputs) with its
    local partials [(input, df/dinput)] from sympy.diff; the last step is E itself."""
    names: dict[sp.Expr, sp.Expr] = {w: w for w in params}
    chain: list[tuple[sp.Symbol, sp.Expr, list]] = []

    def name(e: sp.Expr) -> sp.Expr:
        if e not in names:
            if not e.args:  # a number
                return e
            step = e.func(*[name(arg) for arg in e.args])
            c = sp.Symbol(f"_c{len(chain)}", real=True)
            inputs = [arg for arg in set(step.args) if arg.is_Symbol]
            chain.append((c, step, [(arg, sp.diff(step, arg)) for arg in inputs]))
            names[e] = c
        return names[e]

    name(E)
    return chain


def _point(case: NetworkCase, Zs: list, params: list, rng: random.Random) -> dict:
    """Random rational weights and biases with every kinked pre-activation off its kink."""
    for _ in range(200):
        point = {s: _rational(rng) for s in params}
        if _off_kinks(case, Zs, point):
            return point
    raise RuntimeError(f"{case.name}: found no point off the kinks")


def _compare_at_points(case, problem: _Problem, entries: list, rng, count: int) -> list[str]:
    """Mismatches of formula and the chained sympy.diff, entry by entry, at `count` points."""
    exact, evidence = _exact(case), []
    with mpmath.workdps(80):
        for k in range(count):
            point = _point(case, problem.Zs, problem.symbols(), rng)
            value = _evaluator(point, exact)
            direct = chained_diff(problem.E, [w for _, _, w in entries], point, exact)
            for (label, formula, _), dv in zip(entries, direct, strict=True):
                fv = value(formula)
                if fv != dv and (exact or abs(fv - dv) > 1e-40 * max(1, abs(fv), abs(dv))):
                    shown = [v if exact else mpmath.nstr(v, 12) for v in (fv, dv)]
                    evidence.append(f"{label} at point {k}: formula {shown[0]}, diff {shown[1]}")
    return evidence


def prove_network(
    layers: tuple[int, ...],
    acts: tuple[str, ...],
    loss: str,
    bias: bool = True,
    batch: int = 2,
    *,
    rules: BackwardRules = RULES,
    condition: bool = True,
    symbolic: bool = False,
    seed: int = 0,
    points: int = 2,
) -> ProofResult:
    """Prove the vectorized backward pass of one small network equal to sympy.diff of its E.

    Shapes are compared first, then every entry of every dE/dW_l and dE/db_l: by
    simplify(formula - diff) == 0 when `symbolic` (smooth activations only), else at `points`
    random rational points, exactly for piecewise-linear networks with mse (every kinked
    pre-activation nonzero, both signs present), to 1e-40 relative in 80 digits otherwise.
    `condition` is sum(t) = 1 per sample for cross_entropy (the last target = 1 - the others).
    """
    case = NetworkCase(tuple(layers), tuple(acts), loss, bias, batch)
    name = case.name if condition or loss != "cross_entropy" else case.name + ":sum_t_free"
    if symbolic and any(activations.get(a).has_kink for a in acts):
        raise ValueError(f"{name}: kinked activations are proved at points off the kink")
    rng = random.Random(seed)
    problem = _problem(case, rules, symbolic, condition, rng)
    shapes, entries = _entries(problem)
    if shapes:
        return ProofResult(name, False, "shapes", case.eq_ids, tuple(shapes))
    if symbolic:
        method = "symbolic: simplify(formula - sp.diff(E, w)) == 0"
        differences = [(label, sp.simplify(f - sp.diff(problem.E, w))) for label, f, w in entries]
        evidence = [f"{label}: formula - diff = {d}" for label, d in differences if d != 0]
    else:
        method = ("exact rational" if _exact(case) else "80 digits") + f" at {points} points"
        evidence = _compare_at_points(case, problem, entries, rng, points)
    return ProofResult(name, not evidence, method, case.eq_ids, tuple(evidence[:4]))


def _shape(M: sp.Matrix | None) -> tuple[int, int] | None:
    return None if M is None else M.shape


# --- Proofs of the single-function derivations (no network) -----------------------------------


def _symbolic_result(name: str, eq_ids: tuple[str, ...], checks: dict[str, sp.Expr]) -> ProofResult:
    """Holds when simplify(difference) == 0 for every named difference."""
    evidence = tuple(f"{k}: {r}" for k, d in checks.items() if (r := sp.simplify(d)) != 0)
    return ProofResult(name, not evidence, "symbolic: simplify(difference) == 0", eq_ids, evidence)


def prove_softmax_jvp(size: int = 3) -> ProofResult:
    """[bp.softmax_jvp] s * (g - sum(g * s)) equals J^T g with J from sympy.diff."""
    zs, gs = vector("z", size), sp.Matrix(1, size, vector("g", size))
    full = gs * softmax_jacobian(zs)  # (J^T g)^T = g^T J
    fast = softmax_jvp(sp.Matrix(1, size, activations.softmax(zs)), gs)
    checks = {f"[{i}]": full[i] - fast[i] for i in range(size)}
    return _symbolic_result(f"softmax_jvp:{size}", ("bp.softmax_jvp",), checks)


def prove_softmax_ce(
    size: int = 3, *, condition: bool = True, general: bool = False
) -> ProofResult:
    """[bp.softmax_ce] d(-sum t log s)/dz_i against s_i - t_i (or s_i sum(t) - t_i if general).

    With `condition`, sum(t) = 1 is imposed by t_last = 1 - sum(others); without it the fused
    form s - t fails and only the general form holds.
    """
    zs, ts = vector("z", size), vector("t", size)
    s = activations.softmax(zs)
    if condition:
        ts[-1] = 1 - sum(ts[:-1])
    E = losses.get("cross_entropy").of(s, ts)
    form = [s[i] * (sum(ts) if general else 1) - ts[i] for i in range(size)]
    checks = {f"dE/dz_{i}": sp.diff(E, zs[i]) - form[i] for i in range(size)}
    form_name, condition_name = (
        "general" if general else "fused",
        "" if condition else ":sum_t_free",
    )
    name = f"softmax_ce:{size}:{form_name}{condition_name}"
    return _symbolic_result(name, ("bp.softmax_ce", "loss.cross_entropy"), checks)


def prove_sigmoid_bce(size: int = 2) -> ProofResult:
    """[bp.sigmoid_bce] d/dz_i of the mean BCE of sigmoid(z) equals (a_i - t_i) / n."""
    zs, ts = vector("z", size), vector("t", size)
    a = [activations.get("sigmoid").of(z_) for z_ in zs]
    E = losses.get("binary_cross_entropy").of(a, ts)
    rule = output_delta("binary_cross_entropy", "sigmoid").expr
    checks = {
        f"dE/dz_{i}": sp.diff(E, zs[i]) - rule.subs({y: a[i], t: ts[i], n: size})
        for i in range(size)
    }
    return _symbolic_result(
        f"sigmoid_bce:{size}", ("bp.sigmoid_bce", "loss.binary_cross_entropy"), checks
    )


def prove_stable_bce() -> ProofResult:
    """[bp.stable_bce] log(1 + exp(-z)) + (1 - t) z equals the BCE of sigmoid(z), for all z."""
    direct = losses.get("binary_cross_entropy").term.subs(y, activations.get("sigmoid").of(x))
    difference = sp.expand_log(direct - stable_bce_term(), force=True)
    return _symbolic_result("stable_bce", ("bp.stable_bce",), {"BCE - stable": difference})


def prove_log_softmax(size: int = 3) -> ProofResult:
    """[bp.log_softmax] -sum t_i log s_i = sum t_i (m + log sum_j exp(z_j - m) - z_i), any m."""
    zs, ts, m = vector("z", size), vector("t", size), sp.Symbol("m", real=True)
    lhs = losses.get("cross_entropy").of(activations.softmax(zs), ts)
    lse = sp.log(sum(sp.exp(z_ - m) for z_ in zs))
    rhs = sum(ti * (m + lse - zi) for ti, zi in zip(ts, zs, strict=True))
    # equal at m = 0 and with d/dm = 0, so equal for every m, in particular m = max_j z_j
    checks = {"m = 0": sp.expand_log(lhs - rhs.subs(m, 0), force=True), "d/dm": sp.diff(rhs, m)}
    return _symbolic_result(f"log_softmax:{size}", ("bp.log_softmax", "loss.cross_entropy"), checks)


def prove_stable_softmax(size: int = 3) -> ProofResult:
    """[bp.stable_softmax] softmax(z - m) equals softmax(z) for every real m."""
    zs, m = vector("z", size), sp.Symbol("m", real=True)
    shifted = activations.softmax([z_ - m for z_ in zs])
    checks = {
        f"s_{i}": a - b
        for i, (a, b) in enumerate(zip(shifted, activations.softmax(zs), strict=True))
    }
    return _symbolic_result(f"stable_softmax:{size}", ("bp.stable_softmax",), checks)


def prove_activation(name: str) -> ProofResult:
    """[act.<name>] f'(x) as generated code computes it (written in y = f(x), or at z) equals
    sympy.diff(f, x) (region by region at a kink, where the value at 0 is the convention).

    For f' written in y: the value at 0 is 0 for the step, 1/100 + 0 for leaky ReLU."""
    act = activations.get(name)
    assert act.expr is not None, f"{name} is not elementwise"
    if not act.slope_in_output:
        return prove_slope(act)
    difference = act.derivative_of_output.subs(y, act.expr) - sp.diff(act.expr, x)
    if not act.has_kink:
        return _symbolic_result(f"act:{name}", (f"act.{name}",), {"f'": difference})
    at_zero = act.derivative_of_output.subs(y, act.of(sp.Integer(0)))
    slope = activations.LEAKY_SLOPE if name == "leaky_relu" else 0
    checks = {
        "x > 0": difference.subs(x, p),
        "x < 0": difference.subs(x, -p),
        "f'(0) convention": at_zero - slope,
    }
    return _symbolic_result(f"act:{name}", (f"act.{name}",), checks)


def prove_slope(act: activations.Activation) -> ProofResult:
    """[act.<name>] for an f' kept from the forward pass: the derivative generated code
    computes (its overflow-free form) equals sympy.diff(f, x), on each side of a kink at 0,
    and at 0 it is the left derivative (the convention), the limit of f' from below."""
    assert act.expr is not None, f"{act.name} is not elementwise"
    direct = sp.diff(act.expr, x)
    difference = (act.derivative - direct).rewrite(sp.exp)
    if not act.has_kink:
        return _symbolic_result(f"act:{act.name}", (f"act.{act.name}",), {"f'": difference})
    below = sp.limit(direct.subs(x, -p), p, 0, "+")
    checks = {
        "x > 0": difference.subs(x, p),
        "x < 0": difference.subs(x, -p),
        "f'(0) is the left derivative": act.derivative.subs(x, 0) - below,
    }
    return _symbolic_result(f"act:{act.name}", (f"act.{act.name}",), checks)


def prove_definition(name: str) -> ProofResult:
    """[def.<name>] the form generated code computes f in equals f's definition."""
    act = activations.get(name)
    assert act.expr is not None, f"{name} is not elementwise"
    computed = act.expr
    inner = one_plus_exp(sp.denom(act.expr)) if name == "sigmoid" else None
    if inner is not None:  # printed and lowered as (1 - tanh(u/2))/2
        computed = logistic_as_tanh(inner)
    difference = (computed - act.expr).rewrite(sp.exp)
    return _symbolic_result(f"def:{name}", (f"def.{name}",), {"f": difference})


def prove_sigmoid_from_softplus() -> ProofResult:
    """[bp.sigmoid_from_softplus] exp(-log(1 + exp(-x))) is the sigmoid."""
    sigmoid = activations.get("sigmoid").of(x)
    difference = sp.exp(-sp.log(1 + sp.exp(-x))) - sigmoid
    return _symbolic_result(
        "sigmoid_from_softplus", ("bp.sigmoid_from_softplus",), {"s": difference}
    )


def prove_loss(name: str, size: int = 3) -> ProofResult:
    """[loss.<name>] d(loss of one sample)/dy_i equals derivative(y_i, t_i) (/ n for a mean)."""
    loss = losses.get(name)
    ys, ts = vector("y", size), vector("t", size)
    scale = sp.Rational(1, size) if loss.mean_over_outputs else 1
    # with the kink convention: Huber's H(u) Max(0, u) is the same at u = 0 for any H(0)
    checks = {
        f"dE/dy_{i}": activations.differentiate(loss.of(ys, ts), ys[i])
        - scale * loss.derivative.subs({y: ys[i], t: ts[i]})
        for i in range(size)
    }
    if loss.simpler is not None:
        checks |= _piecewise_checks(loss.derivative - loss.simpler)
    return _symbolic_result(f"loss:{name}", (f"loss.{name}",), checks)


def _piecewise_checks(difference: sp.Expr) -> dict[str, sp.Expr]:
    """A difference in d = y - t that is a polynomial of degree <= 2 on each of d < -1,
    -1 < d < 1, d > 1 (Huber's pieces) is 0 everywhere when it is 0 at three points of each
    piece and at the joints: the exact values at those points."""
    points = [sp.Rational(k, 4) for k in (-20, -12, -6, -4, -2, 0, 2, 4, 6, 12, 20)]
    return {
        f"d = {d}": difference.subs({y: d + sp.Rational(1, 3), t: sp.Rational(1, 3)})
        for d in points
    }


def prove_huber_value() -> ProofResult:
    """[bp.huber_value] huber(d) = g d - g**2 / 2 with g = clip(d, -1, 1), piece by piece."""
    huber = losses.get("huber")
    g = huber.simpler
    assert g is not None
    return _symbolic_result(
        "huber_value", ("bp.huber_value",), _piecewise_checks(huber.term - (g * (y - t) - g**2 / 2))
    )


# --- The registry of proofs --------------------------------------------------------------------

OUTPUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("mse", "relu"),
    ("mse", "leaky_relu"),
    ("mse", "sigmoid"),
    ("mse", "tanh"),
    ("mse", "identity"),
    ("mse", "softmax"),  # softmax + mse: eq. (16), by the softmax JVP
    ("cross_entropy", "softmax"),
    ("binary_cross_entropy", "sigmoid"),
    ("huber", "identity"),
)
# the activations of the first edition, proved in every network shape; newer ones in two
FIRST_EDITION = ("relu", "leaky_relu", "sigmoid", "tanh", "identity")
HIDDEN_ACTIVATIONS = tuple(a.name for a in activations.ACTIVATIONS.values() if a.elementwise)
NETWORK_LAYERS = {2: (2, 3, 2), 3: (2, 3, 2, 2)}  # depth (weight layers) -> layer sizes
NETWORK_CASES: tuple[NetworkCase, ...] = tuple(
    NetworkCase(NETWORK_LAYERS[depth], (hidden,) * (depth - 1) + (out,), loss, bias)
    for depth in (2, 3)
    for bias in (True, False)
    for hidden in FIRST_EDITION
    for loss, out in OUTPUT_PAIRS
) + tuple(  # each newer hidden activation, through a regression and a classification output
    NetworkCase(NETWORK_LAYERS[3], (hidden, hidden, out), loss, True)
    for hidden in HIDDEN_ACTIVATIONS
    if hidden not in FIRST_EDITION
    for loss, out in (("mse", "identity"), ("cross_entropy", "softmax"))
)


def prove_case(case: NetworkCase) -> ProofResult:
    """`prove_network` for a registered case."""
    return prove_network(case.layers, case.acts, case.loss, case.bias, case.batch)


@dataclass(frozen=True)
class Proof:
    """A registered proof: its name, the derivation ids it proves, and how to run it."""

    name: str
    eq_ids: tuple[str, ...]
    run: Callable[[], ProofResult]


def _proofs() -> dict[str, Proof]:
    single: list[tuple[str, tuple[str, ...], Callable[[], ProofResult]]] = [
        ("softmax_jvp", ("bp.softmax_jvp",), prove_softmax_jvp),
        ("softmax_ce", ("bp.softmax_ce", "loss.cross_entropy"), prove_softmax_ce),
        ("sigmoid_bce", ("bp.sigmoid_bce", "loss.binary_cross_entropy"), prove_sigmoid_bce),
        ("stable_bce", ("bp.stable_bce",), prove_stable_bce),
        ("log_softmax", ("bp.log_softmax", "loss.cross_entropy"), prove_log_softmax),
        ("stable_softmax", ("bp.stable_softmax",), prove_stable_softmax),
        ("huber_value", ("bp.huber_value",), prove_huber_value),
    ]
    single += [
        (f"act:{a}", (f"act.{a}",), partial(prove_activation, a)) for a in HIDDEN_ACTIVATIONS
    ]
    single += [
        (f"def:{a}", (f"def.{a}",), partial(prove_definition, a)) for a in HIDDEN_ACTIVATIONS
    ]
    single.append(
        ("sigmoid_from_softplus", ("bp.sigmoid_from_softplus",), prove_sigmoid_from_softplus)
    )
    single += [
        (f"loss:{name}", (f"loss.{name}",), partial(prove_loss, name)) for name in losses.LOSSES
    ]
    single += [(c.name, c.eq_ids, partial(prove_case, c)) for c in NETWORK_CASES]
    return {name: Proof(name, ids, run) for name, ids, run in single}


PROOFS: dict[str, Proof] = _proofs()


def prove_all() -> list[ProofResult]:
    """Run every registered proof (minutes: the network cases differentiate whole networks)."""
    return [proof.run() for proof in PROOFS.values()]


def unproved_derivations() -> list[str]:
    """Ids in DERIVATIONS that no registered proof cites; empty when every one is proved."""
    cited = {eq_id for proof in PROOFS.values() for eq_id in proof.eq_ids}
    return sorted(set(backprop.DERIVATIONS) - cited)
