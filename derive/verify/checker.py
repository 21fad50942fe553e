"""Deciding a claim: holds, fails (with a counterexample and a corrected form) or conditional.

A claim is checked instance by instance: a plain equation once; a family once per size and
index value (`sizes`, `indices`); a network claim once per network shape of `[network]`.
Each instance is decided symbolically first (`cancel`, then `simplify` of lhs - rhs). When that
does not give 0, exact rational points look for a counterexample; then an expression with a
kink (Heaviside, Max, Piecewise) is split region by region: each kink argument positive,
negative and zero, innermost first, and every region is simplified on its own. A region that
still differs is confirmed by a witness point inside it, so every counterexample is exact.

Network quantities (`a[l, i]`, `z[l, i]`, `w[l, i, j]`, `t[i]`, `E[i]`, `Etot`, `s(l)`, `n`)
follow the notes: z = W a (no bias), a = f(z), E_i the loss term of output i, Etot the loss.
A derivative by a quantity of layer L first writes the expression in layer L's quantities,
and the two sides are compared once written in the lowest layer either side mentions.
"""

from __future__ import annotations

import ast
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import sympy as sp

from derive import activations, losses
from derive.activations import KINK_CONVENTION, KINK_SOURCES, differentiate, kink_key
from derive.errors import DeriveError, plain
from derive.symbols import t as t_sym
from derive.symbols import y as y_sym
from derive.verify.claims import (
    MAX_INSTANCES,
    Claim,
    ClaimsFile,
    Expression,
    OutOfRangeError,
    Scope,
    build,
)
from derive.verify.regions import (
    KINKED,
    Points,
    Region,
    all_kinks,
    differs,
    domain_constraints,
    in_domain,
    region_point,
    regions,
    show,
    sign_at,
    value,
)

__all__ = ["Outcome", "Result", "check_claim", "check_file"]

SAMPLES = 8  # random points tried before a region-by-region split
MAX_REGIONS = 128  # leaves of the region split; beyond it, only a counterexample can decide
LARGE_OPS = 500  # operations in lhs - rhs past which two points are tried before cancelling
WITNESS_TRIES = 60
_INPUT_ONLY = 10**6  # the derivative level of a target t: nothing is expanded


class NetworkScope(Scope):
    """The quantities of one network shape, as the notes define them."""

    def __init__(self, sizes: tuple[int, ...], activation: str, loss: str) -> None:
        super().__init__()
        self.sizes = sizes
        self.activation = activations.get(activation)
        self.loss = losses.get(loss)
        self.levels: dict[sp.Symbol, int] = {}  # a^[l]: 2l, z^[l]: 2l - 1, w^[l]: 2l - 2
        self.lams: list[int] = []  # the levels derivatives were taken at
        self.kink_names: dict[sp.Expr, str] = {}
        self._expanded: dict[int, dict[sp.Symbol, sp.Expr]] = {}

    @property
    def n(self) -> int:
        return len(self.sizes)

    def name(self, name: str) -> sp.Expr:
        if name == "n":
            return sp.Integer(self.n)
        if name == "Etot":
            return self.loss.of(self.outputs(), [self.index("t", (i,)) for i in self.out_range])
        if name in ("a", "z", "w", "t", "E"):
            raise DeriveError(f"{name} is indexed in a network claim: write {name}[...]")
        return super().name(name)

    @property
    def out_range(self) -> range:
        return range(self.sizes[-1])

    def outputs(self) -> list[sp.Expr]:
        return [self.index("a", (self.n - 1, i)) for i in self.out_range]

    def size(self, layer: int) -> int:
        if not 0 <= layer < self.n:
            raise OutOfRangeError(f"s({layer}) does not exist: the layers are 0..{self.n - 1}")
        return self.sizes[layer]

    def index(self, base: str, idx: tuple[int, ...]) -> sp.Expr:
        shape = {"a": 2, "z": 2, "w": 3, "t": 1, "E": 1}.get(base)
        if shape is None:
            return super().index(base, idx)
        shown = f"{base}[{','.join(map(str, idx))}]"
        if len(idx) != shape:
            raise DeriveError(f"{base} takes {shape} indices in a network claim, found {shown}")
        if base in "tE":
            return self._output(base, idx[0], shown)
        layer, i = idx[0], idx[1]
        first_layer = 0 if base == "a" else 1
        if not first_layer <= layer < self.n:
            raise OutOfRangeError(f"{shown} does not exist: layer {layer} has no {base}")
        if not 0 <= i < self.sizes[layer]:
            raise OutOfRangeError(f"{shown} does not exist: {_neurons(layer, self.sizes[layer])}")
        if base == "w" and not 0 <= idx[2] < self.sizes[layer - 1]:
            raise OutOfRangeError(
                f"{shown} does not exist: {_neurons(layer - 1, self.sizes[layer - 1])}"
            )
        symbol = super().index(base, idx)
        assert isinstance(symbol, sp.Symbol)
        self.levels[symbol] = {"a": 2 * layer, "z": 2 * layer - 1, "w": 2 * layer - 2}[base]
        return symbol

    def _output(self, base: str, i: int, shown: str) -> sp.Expr:
        if i not in self.out_range:
            raise OutOfRangeError(
                f"{shown} does not exist: the output layer {self.n - 1} has "
                f"{self.sizes[-1]} neuron(s), 0..{self.sizes[-1] - 1}"
            )
        target = super().index("t", (i,))
        if base == "t":
            return target
        return self.loss.term.subs({y_sym: self.index("a", (self.n - 1, i)), t_sym: target})

    def level(self, var: sp.Symbol) -> int:
        return self.levels.get(var, _INPUT_ONLY)

    def derivative(self, expr: sp.Expr, var: sp.Symbol) -> sp.Expr:
        lam = self.level(var)
        self.lams.append(lam)
        return differentiate(self.expand(expr, lam), var)

    def expand(self, expr: sp.Expr, lam: int) -> sp.Expr:
        """expr with every a, z above level `lam` replaced by its definition, down to `lam`."""
        return expr.xreplace(self._definitions(lam))

    def _definitions(self, lam: int) -> dict[sp.Symbol, sp.Expr]:
        if lam in self._expanded:
            return self._expanded[lam]
        saved = dict(self.levels)
        mapping: dict[sp.Symbol, sp.Expr] = {}
        below = [self.index("a", (0, j)) for j in range(self.sizes[0])]
        for layer in range(1, self.n):
            current = []
            for i in range(self.sizes[layer]):
                z = self.index("z", (layer, i))
                if 2 * layer - 1 > lam:
                    weights = [self.index("w", (layer, i, j)) for j in range(len(below))]
                    mapping[z] = sp.Add(*[w * a for w, a in zip(weights, below, strict=True)])
                    self.kink_names[sp.expand(mapping[z])] = str(z)
                a = self.index("a", (layer, i))
                if 2 * layer > lam:
                    mapping[a] = self.activation.of(mapping.get(z, z))
                current.append(mapping.get(a, a))
            below = current
        self.levels = saved | self.levels
        self._expanded[lam] = mapping
        return mapping

    def final(self, lhs: sp.Expr, rhs: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        """Both sides written in the lowest layer the claim mentions or differentiates by."""
        present = [
            self.levels[s] for s in (lhs.free_symbols | rhs.free_symbols) if s in self.levels
        ]
        lam = min([*self.lams, *present], default=_INPUT_ONLY)
        return self.expand(lhs, lam), self.expand(rhs, lam)


def _neurons(layer: int, size: int) -> str:
    return f"layer {layer} has {size} neuron(s), 0..{size - 1}"


@dataclass
class Outcome:
    """The decision on one instance of a claim."""

    status: (
        str  # "holds" | "fails" | "kink" (fails only where a kink is 0) | "missing" | "unproven"
    )
    label: str
    lhs: sp.Expr | None = None  # the true value (left side), as compared
    rhs: sp.Expr | None = None  # the stated value (right side), as compared
    point: dict[sp.Symbol, sp.Expr] | None = None
    kink: str = ""
    kink_source: str = "the kink"  # "the tie of Max(a, b)" when a general max made it
    reason: str = ""  # "missing": the quantity that does not exist; "unproven": what was tried
    env: dict[str, int] = field(default_factory=dict)
    sizes: tuple[int, ...] = ()

    def at_point(self, side: sp.Expr | None) -> sp.Expr:
        assert side is not None and self.point is not None
        return side.xreplace(self.point)


@dataclass
class Result:
    """The verdict on one claim, with the evidence the report shows."""

    id: str
    verdict: str  # "holds" | "fails" | "conditional" | "unproven" | "undecided"
    statement: str
    source: str
    latex: str
    counterexample: dict[str, object] | None = None
    condition: str | None = None
    corrected: str | None = None
    evidence: Outcome | None = None
    corrected_expr: sp.Expr | None = None
    tried: str | None = None  # unproven: what was tried; undecided: the budget that ran out
    same_as: str | None = None  # the earlier claim of the run whose verdict this one reuses


@dataclass(frozen=True)
class Instance:
    label: str
    env: dict[str, int]
    sizes: tuple[int, ...]  # the network shape, () outside networks

    def scope(self, cfile: ClaimsFile) -> Scope:
        if self.sizes:
            assert cfile.network is not None
            scope: Scope = NetworkScope(self.sizes, cfile.network.activation, cfile.network.loss)
        else:
            scope = Scope()
        scope.env = dict(self.env)
        scope.definitions = {d.name: d for d in cfile.definitions}
        return scope


# --- instances -----------------------------------------------------------------------------


def instances(claim: Claim, cfile: ClaimsFile) -> list[Instance]:
    """Every instance of a claim: network shapes x sizes x index values, filtered by domain.

    The count is capped before any instance is made or filtered: the product of the
    shapes and sizes first, then each index range before its values are listed.
    """
    at = f"{plain(str(cfile.path))}: claim {claim.id}"
    shapes: tuple[tuple[int, ...], ...] = ((),)
    if claim.kind != "equation":
        assert cfile.network is not None
        shapes = claim.layers or cfile.network.layers
    combinations = len(shapes) * math.prod(len(vals) for _, vals in claim.sizes)
    if combinations > MAX_INSTANCES:
        raise DeriveError(f"{at}: more than {MAX_INSTANCES} instances (shapes x sizes)")
    names = [name for name, _ in claim.sizes]
    found: list[Instance] = []
    budget = [MAX_INSTANCES]  # instances left, before the domain filter
    for shape in shapes:
        for values in itertools.product(*[vals for _, vals in claim.sizes]):
            base = Instance("", dict(zip(names, values, strict=True)), shape)
            found.extend(_indexed(claim, cfile, base, budget, at))
    if not found:
        raise DeriveError(f"{at}: no instance (check indices, sizes, domain)")
    return found


def _indexed(
    claim: Claim, cfile: ClaimsFile, base: Instance, budget: list[int], at: str
) -> Iterator[Instance]:
    envs = [dict(base.env)]
    for name, low, high in claim.indices:
        grown: list[dict[str, int]] = []
        for env in envs:
            scope = Instance("", env, base.sizes).scope(cfile)
            first, last = _integer(low, scope), _integer(high, scope)
            if len(grown) + max(0, last - first + 1) > budget[0]:
                raise DeriveError(f"{at}: more than {MAX_INSTANCES} instances (sizes x indices)")
            grown.extend(env | {name: v} for v in range(first, last + 1))
        envs = grown
    budget[0] -= len(envs)
    if budget[0] < 0:
        raise DeriveError(f"{at}: more than {MAX_INSTANCES} instances (sizes x indices)")
    for env in envs:
        instance = Instance(_label(base.sizes, env), env, base.sizes)
        if claim.domain is None or _decide(claim.domain, instance.scope(cfile)):
            yield instance


def _integer(expr: Expression, scope: Scope) -> int:
    try:
        value = build(expr, scope)
    except OutOfRangeError as exc:  # a bound such as s(7) past the network's layers
        raise DeriveError(f"{expr.where}: {expr.text!r}: {exc}") from None
    if not isinstance(value, sp.Integer):
        raise DeriveError(f"{expr.where}: {expr.text!r} is not an integer for every size")
    return int(value)


def _decide(expr: Expression, scope: Scope) -> bool:
    try:
        value = build(expr, scope)
    except OutOfRangeError:
        return False
    if value not in (sp.true, sp.false):
        raise DeriveError(f"{expr.where}: {expr.text!r} must be decided by sizes and indices")
    return bool(value)


def _label(sizes: tuple[int, ...], env: dict[str, int]) -> str:
    parts = [f"layers {list(sizes)}"] if sizes else []
    parts += [f"{name}={value}" for name, value in env.items()]
    return ", ".join(parts)


# --- deciding one instance -----------------------------------------------------------------


def judge(instance: Instance, cfile: ClaimsFile, lhs: Expression, rhs: Expression) -> Outcome:
    """Decide lhs = rhs on one instance."""
    outcome = Outcome("holds", instance.label, env=instance.env, sizes=instance.sizes)
    scope = instance.scope(cfile)
    try:
        left, right = build(lhs, scope), build(rhs, scope)
    except OutOfRangeError as exc:
        outcome.status, outcome.reason = "missing", str(exc)
        return outcome
    for side, expr in ((left, lhs), (right, rhs)):
        if not isinstance(side, sp.Expr) or side.has(sp.Derivative, sp.Subs):
            raise DeriveError(f"{expr.where}: {expr.text!r} is not a closed-form expression")
    if isinstance(scope, NetworkScope):
        left, right = scope.final(left, right)
    outcome.lhs, outcome.rhs = left, right
    names = scope.kink_names if isinstance(scope, NetworkScope) else {}
    _decide_instance(outcome, left, right, names, random.Random(instance.label))
    return outcome


def _decide_instance(
    out: Outcome, lhs: sp.Expr, rhs: sp.Expr, names: dict[sp.Expr, str], rng: random.Random
) -> None:
    """Symbolic zero, else a counterexample, else region by region; never holds by sampling."""
    diff = lhs - rhs
    if diff == 0:
        return
    symbols = sorted(lhs.free_symbols | rhs.free_symbols, key=str)
    kinks = all_kinks(diff)
    points = Points(symbols, rng)
    points.around(kinks)
    large = sp.count_ops(diff) > LARGE_OPS  # cancelling it costs more than a few evaluations
    if large and _sampled(out, lhs, rhs, kinks, symbols, points, 2):
        return
    if not kinks and _cancels(diff):  # cheap without kinks; with them, sampling comes first
        return
    if _sampled(out, lhs, rhs, kinks, symbols, points, SAMPLES):
        return
    if kinks and _cancels(diff):
        return
    whole = Region(diff, (), ())
    if not kinks:
        if not _is_zero(diff):
            _settle(out, lhs, rhs, [whole], points, names)
        return
    leaves = list(itertools.islice(regions(diff), MAX_REGIONS + 1))
    if len(leaves) > MAX_REGIONS:
        _settle(out, lhs, rhs, [whole], points, names, f"more than {MAX_REGIONS} regions")
        return
    for leaf in leaves:
        points.around([kink for kink, _ in leaf.constraints])
    undecided = [
        leaf
        for leaf in leaves
        if leaf.leaf.has(sp.nan) or not _is_zero(leaf.leaf)  # zero: proved on the region
    ]
    _settle(out, lhs, rhs, undecided, points, names, f"{len(leaves)} regions")


def _sampled(
    out: Outcome,
    lhs: sp.Expr,
    rhs: sp.Expr,
    kinks: list[sp.Expr],
    symbols: list[sp.Symbol],
    points: Points,
    tries: int,
) -> bool:
    """A counterexample among `tries` points away from every kink: recorded in `out`."""
    for _ in range(tries):
        point = points.draw(symbols)
        if any(sign_at(k, point) in (0, None) for k in kinks):
            continue
        if differs(lhs, rhs, point):
            out.status, out.point = "fails", point
            return True
    return False


def _settle(
    out: Outcome,
    lhs: sp.Expr,
    rhs: sp.Expr,
    leaves: list[Region],
    points: Points,
    names: dict[sp.Expr, str],
    split: str = "",
) -> None:
    """Regions not proved equal: a counterexample in one, an exactly empty one, or unproven."""
    symbols = sorted(lhs.free_symbols | rhs.free_symbols, key=str)
    open_regions = []
    for leaf in leaves:
        witness = _search(lhs, rhs, leaf, symbols, points)
        if witness is None and leaf.solved:
            decided, inside = region_point(leaf, [s for s in symbols if s not in dict(leaf.subs)])
            if decided and inside is None:
                continue  # SymPy shows the region has no point
            if inside is not None and differs(lhs, rhs, inside):
                witness = inside
        if witness is None:
            open_regions.append(leaf)
            continue
        out.point = witness
        zero = [kink for kink, sign in leaf.constraints if sign == 0]
        if not zero:
            out.status = "fails"
            return
        out.status, out.kink = "kink", names.get(zero[0], show(zero[0]))
        out.kink_source = KINK_SOURCES.get(kink_key(zero[0]), "the kink")
    if out.status != "fails" and open_regions:  # a kink difference is not a proof elsewhere
        out.status = "unproven"
        out.reason = f"no proof and no counterexample: {points.drawn} exact points tried; " + (
            f"{split}: not split into regions"
            if split.startswith("more than")
            else _open_regions(open_regions, split)
        )


def _open_regions(open_regions: list[Region], split: str) -> str:
    shown = "; ".join(leaf.describe() for leaf in open_regions[:3])
    more = f" and {len(open_regions) - 3} more" if len(open_regions) > 3 else ""
    where = f" of {split}" if split else ""
    return f"SymPy does not show 0 on {len(open_regions)} region(s){where}: {shown}{more}"


def _cancels(diff: sp.Expr) -> bool:
    """diff is 0 as a rational function of its atoms (exp(z), Heaviside(...) as generators)."""
    if diff == 0:
        return True
    diff = _as_steps(diff)
    opaque = {node: sp.Dummy() for node in _outermost(diff, KINKED)}
    rational = _exp_as_powers(diff.xreplace(opaque))
    try:
        field, *_ = sp.field(sorted(rational.free_symbols, key=str), sp.QQ)
        return bool(field.from_expr(rational) == 0)
    except (ValueError, TypeError, sp.polys.polyerrors.PolynomialError, sp.CoercionFailed):
        pass
    try:
        return bool(sp.expand(sp.fraction(sp.together(rational))[0]) == 0)
    except (sp.PolynomialError, TypeError, ValueError):
        return False


_STEP = {  # a case `kink OP 0` as a step: (sign of the kink, the step's value at 0)
    sp.StrictGreaterThan: (1, 0),
    sp.GreaterThan: (1, 1),
    sp.StrictLessThan: (-1, 0),
    sp.LessThan: (-1, 1),
}


def _as_steps(expr: sp.Expr) -> sp.Expr:
    """Two-case Piecewise as Heavisides, each Heaviside of a canonical argument: exact
    rewritings, so that a claim writing [z > 0] cancels against the Heaviside(z, 0) of a
    derivative as a rational function would, without a region split."""

    def two_cases(node: sp.Basic) -> bool:
        if not isinstance(node, sp.Piecewise) or len(node.args) != 2:
            return False
        (_, condition), (_, otherwise) = node.args
        return type(condition) in _STEP and otherwise == sp.true

    def step(node: sp.Piecewise) -> sp.Expr:
        (value, condition), (other, _) = node.args
        sign, at_zero = _STEP[type(condition)]
        on = sp.Heaviside(sign * (condition.lhs - condition.rhs), at_zero)
        return value * on + other * (1 - on)

    def canonical(node: sp.Heaviside) -> sp.Expr:
        arg, at_zero = node.args
        content, primitive = sp.expand(arg).as_content_primitive()
        if content.is_negative:
            content, primitive = -content, -primitive
        if primitive.could_extract_minus_sign():
            return 1 - sp.Heaviside(-primitive, 1 - at_zero)
        return sp.Heaviside(primitive, at_zero)

    steps = expr.replace(two_cases, step)
    return steps.replace(lambda e: isinstance(e, sp.Heaviside) and len(e.args) == 2, canonical)


def _exp_as_powers(expr: sp.Expr) -> sp.Expr:
    """exp(2*x - y) as u_x**2 / u_y, so that exp terms cancel as a rational function would."""
    names: dict[sp.Symbol, sp.Dummy] = {}

    def powers(arg: sp.Expr) -> sp.Expr:
        terms = arg.as_coefficients_dict()
        small = all(c.is_Integer and abs(c) <= 32 for c in terms.values())
        if not small or not all(t.is_Symbol or t == 1 for t in terms):
            return sp.exp(arg)
        factors = [
            sp.E ** int(c) if t == 1 else names.setdefault(t, sp.Dummy(positive=True)) ** int(c)
            for t, c in terms.items()
        ]
        return sp.Mul(*factors)

    return expr.replace(sp.exp, powers)


def _outermost(expr: sp.Basic, kinds: tuple[type, ...]) -> list[sp.Basic]:
    if isinstance(expr, kinds):
        return [expr]
    return [found for arg in expr.args for found in _outermost(arg, kinds)]


HYPERBOLIC = (sp.tanh, sp.cosh, sp.sinh, sp.sech, sp.csch, sp.coth)


def _is_zero(diff: sp.Expr) -> bool:
    """simplify(diff) == 0, then .equals(0) (which is only True when it proves it).

    Hyperbolic functions are also written as exponentials (an exact rewriting), so that
    tanh(x) = (e^x - e^-x)/(e^x + e^-x) cancels as a rational function of exp(x)."""
    try:
        return (
            _cancels(diff)
            or (diff.has(*HYPERBOLIC) and _cancels(diff.rewrite(sp.exp)))
            or sp.simplify(diff) == 0
            or diff.equals(0) is True
        )
    except (ValueError, TypeError, ArithmeticError):  # SymPy cannot compare a part: no proof
        return False


def _search(
    lhs: sp.Expr, rhs: sp.Expr, region: Region, symbols: list[sp.Symbol], points: Points
) -> dict[sp.Symbol, sp.Expr] | None:
    """An exact point inside the region where lhs and rhs differ, if one is found."""
    solved = dict(region.subs)
    free = [s for s in symbols if s not in solved]
    domains = domain_constraints(symbols)
    for _ in range(WITNESS_TRIES):
        point = points.draw(free)
        for symbol, solution in reversed(region.subs):
            point[symbol] = solution.xreplace(point)
        if any(v.has(sp.zoo, sp.nan) for v in point.values()):
            continue
        if not in_domain(domains, point):  # a solved symbol's value may leave its domain
            continue
        if any(sign_at(kink, point) != sign for kink, sign in region.constraints):
            continue
        if differs(lhs, rhs, point):
            return point
    return None


# --- deciding a claim ----------------------------------------------------------------------


def check_file(cfile: ClaimsFile) -> list[Result]:
    """The verdict on every claim of a file, in file order."""
    return [check_claim(claim, cfile) for claim in cfile.claims]


def check_claim(claim: Claim, cfile: ClaimsFile) -> Result:
    """holds, fails (counterexample and corrected form) or conditional (the named condition).

    A claim read from LaTeX that cannot be read or built (x^{33}, a[1] in a network) fails
    alone with the message; the file's other claims go on.
    """
    if claim.error:
        return _latex_refused(claim, claim.error)
    try:
        return _check_claim(claim, cfile)
    except DeriveError as exc:
        if not any(side.where.endswith("latex") for side in (claim.lhs, claim.rhs)):
            raise
        return _latex_refused(claim, str(exc))


def _latex_refused(claim: Claim, message: str) -> Result:
    result = Result(claim.id, "fails", claim.statement, claim.source, claim.latex)
    result.condition = message
    return result


def _check_claim(claim: Claim, cfile: ClaimsFile) -> Result:
    result = Result(claim.id, "holds", claim.statement, claim.source, claim.latex)
    KINK_SOURCES.clear()  # a kink is named after the Max or Abs of this claim, not an earlier one
    if cfile.declarations is not None:  # [symbols]: vectors and matrices, entry by entry
        from derive.verify.entrywise import check_claim as check_entrywise

        return check_entrywise(claim, cfile)
    result = Result(claim.id, "holds", claim.statement, claim.source, claim.latex)
    cases = instances(claim, cfile)
    if claim.tolerance is not None:  # numbers: derive.verify.declarations.check_numbers
        scopes = [(case.label, case.scope(cfile)) for case in cases]
        values = [(at, build(claim.lhs, s), build(claim.rhs, s)) for at, s in scopes]
        return compare_numbers(result, values, claim.tolerance, claim.lhs.where)
    outcomes = [judge(case, cfile, claim.lhs, claim.rhs) for case in cases]
    reading = kink_reading(claim, [d.body for d in cfile.definitions])
    written_kinks_fail(outcomes, reading)
    touches = any(_has_kink(o) for o in outcomes)
    failed = [o for o in outcomes if o.status in ("fails", "missing")]
    kinked = [o for o in outcomes if o.status == "kink"]
    defined = {d.name: d.body for d in cfile.definitions}
    if reading == DERIVATIVE:
        convention_side_first(kinked, claim.lhs, claim.rhs, defined)
    unproven = [o for o in outcomes if o.status == "unproven"]
    if not failed and unproven:
        first = unproven[0]
        result.verdict = "unproven"
        result.tried = (f"{first.label}: " if first.label else "") + first.reason
        return result
    if not failed and not kinked:
        result.condition = checked_with(reading) if touches else None
        return result
    _explain(result, claim, cfile, failed or kinked)
    result.verdict = "conditional"
    if not failed:
        result.condition = kink_text(kinked, reading)
        return result
    for condition in claim.conditions:
        chosen = [
            c for c in cases if condition.where is None or _decide(condition.where, c.scope(cfile))
        ]
        lhs = condition.lhs or claim.lhs
        again = [judge(case, cfile, lhs, claim.rhs) for case in chosen]
        if chosen and all(o.status in ("holds", "kink") for o in again):
            kinks = [o for o in again if o.status == "kink"]
            if reading == DERIVATIVE:
                convention_side_first(kinks, lhs, claim.rhs, defined)
            result.condition = condition.text + ("; " + kink_text(kinks, reading) if kinks else "")
            return result
    factor = _procedure_factor(claim, outcomes)
    if factor:
        result.condition = factor
        return result
    result.verdict = "fails"
    return result


def compare_numbers(
    result: Result, values: list[tuple[str, sp.Expr, sp.Expr]], tolerance: float, where: str
) -> Result:
    """A value read off a figure: each (label, true, stated) within the tolerance, or the first
    that is not as the counterexample, with the true value as the correction."""
    worst = 0.0
    for at, true, stated in values:
        if true.free_symbols or stated.free_symbols:
            raise DeriveError(
                f"{where}: a claim with a tolerance compares numbers; "
                f"{sp.sstr(true - stated)} has free symbols"
            )
        gap = abs(float(sp.N(true - stated, 30)))
        worst = max(worst, gap)
        if gap > tolerance:
            result.verdict = "fails"
            result.counterexample = {
                "at": at,
                "point": {"tolerance": str(tolerance)},
                "stated": _show(stated),
                "true": _show(true),
            }
            result.corrected = f"{float(sp.N(true, 15)):.6g}"
            return result
    result.condition = f"within the tolerance {tolerance} (largest gap {worst:.3g})"
    return result


def _has_kink(outcome: Outcome) -> bool:
    sides = [s for s in (outcome.lhs, outcome.rhs) if s is not None]
    return any(s.has(sp.Heaviside, sp.Max) for s in sides)


# What decides a claim's value where a kink's argument is 0: derive's derivative convention
# (the claim differentiates), the value derive reads Heaviside(u) as at 0 (a Heaviside written
# without its value there), or nothing but what the claim wrote (then a difference fails).
DERIVATIVE, HEAVISIDE, WRITTEN = "derivative", "heaviside", "written"
_DIFFERENTIATING = {"Derivative", "diff", "Subs", "grad", "jacobian"}
HEAVISIDE_READING = (
    f"Heaviside(0) = {activations.HEAVISIDE_AT_ZERO}, as derive reads a Heaviside(u) written "
    "without its value at 0 (SymPy's is 1/2)"
)


def kink_reading(claim: Claim, definitions: list[Expression]) -> str:
    """DERIVATIVE, HEAVISIDE or WRITTEN for a claim and the definitions its file has."""
    if claim.kind != "equation":  # a network or procedure claim differentiates the loss
        return DERIVATIVE
    sides = [claim.lhs, claim.rhs, *definitions, *(c.lhs for c in claim.conditions if c.lhs)]
    calls = [
        (node.func.id, len(node.args))
        for side in sides
        if side.tree is not None
        for node in ast.walk(side.tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]
    if any(_differentiating(name) for name, _ in calls):
        return DERIVATIVE
    return HEAVISIDE if ("Heaviside", 1) in calls else WRITTEN


def _differentiating(function: str) -> bool:
    return function in _DIFFERENTIATING or function.endswith("__prime")


def differentiates(side: Expression, definitions: dict[str, Expression]) -> bool:
    """The side differentiates: a derivative call, a prime, or a name defined by one (in turn)."""
    seen: set[str] = set()
    todo = [side]
    while todo:
        tree = todo.pop().tree
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if _differentiating(node.func.id):
                    return True
            elif isinstance(node, ast.Name) and node.id in definitions and node.id not in seen:
                seen.add(node.id)
                todo.append(definitions[node.id])
    return False


def convention_side_first(
    kinked: list[Outcome], lhs: Expression, rhs: Expression, definitions: dict[str, Expression]
) -> None:
    """At a kink the convention decides, the side that differentiates holds the true value.

    Reports read an outcome's lhs as the true value and its rhs as the stated one; a claim that
    differentiates on its right side only (`Heaviside(x, 1) = Derivative(relu(x), x)`) has the
    two swapped in its kinked outcomes, so the report says the convention gives the right
    side's value and the claim the left side's."""
    if differentiates(rhs, definitions) and not differentiates(lhs, definitions):
        for outcome in kinked:
            outcome.lhs, outcome.rhs = outcome.rhs, outcome.lhs


def written_kinks_fail(outcomes: list[Outcome], reading: str) -> None:
    """Where no convention decides a claim's values at a kink (no derivative, no Heaviside(u)
    read at 0 there), it states them: where both sides have one and they differ, it fails."""
    if reading == DERIVATIVE:
        return
    for outcome in outcomes:
        if outcome.status != "kink" or None in _values_at_point(outcome):
            continue
        if reading == WRITTEN or not _read_jumps(outcome):
            outcome.status = "fails"


def _values_at_point(outcome: Outcome) -> tuple[sp.Expr | None, sp.Expr | None]:
    assert outcome.point is not None and outcome.lhs is not None and outcome.rhs is not None
    return value(outcome.lhs, outcome.point), value(outcome.rhs, outcome.point)


def _read_jumps(outcome: Outcome) -> list[sp.Heaviside]:
    """The Heavisides of both sides that jump at the outcome's point, with derive's value there."""
    assert outcome.point is not None and outcome.lhs is not None and outcome.rhs is not None
    point = outcome.point
    return [
        node
        for node in (outcome.lhs - outcome.rhs).atoms(sp.Heaviside)
        if node.args[1] == activations.HEAVISIDE_AT_ZERO and node.args[0].xreplace(point) == 0
    ]


def checked_with(reading: str) -> str | None:
    """The note of a claim that holds through a kink: what its values there were read with."""
    if reading == DERIVATIVE:
        return f"checked with {KINK_CONVENTION}"
    return f"checked with {HEAVISIDE_READING}" if reading == HEAVISIDE else None


def kink_text(kinked: list[Outcome], reading: str) -> str:
    """The condition of a claim that differs only where a kink's argument is 0."""
    first = kinked[0]
    true, stated = _values_at_point(first)
    where = f" (e.g. {first.label})" if first.label else ""
    if reading == DERIVATIVE:
        gives = "gives no value" if stated is None else f"gives {_show(first.at_point(first.rhs))}"
        return (
            f"{first.kink} != 0{where}: at {first.kink_source} ({first.kink} = 0) the claim "
            f"{gives}, while {KINK_CONVENTION} gives {_show(first.at_point(first.lhs))}"
        )
    sides = " and ".join(
        f"the {side} side gives " + ("no value" if number is None else _show(at))
        for side, number, at in (
            ("left", true, first.at_point(first.lhs)),
            ("right", stated, first.at_point(first.rhs)),
        )
    )
    jumps = _read_jumps(first)
    if not jumps:  # a side with no value there: the claim says nothing at the point
        return f"{first.kink} != 0{where}: at {first.kink} = 0 {sides}"
    text = f"{first.kink} != 0{where}: at {first.kink} = 0, where a Heaviside jumps, {sides}"
    text += f", with {HEAVISIDE_READING}"
    other = _heaviside_value_that_holds(first, jumps)
    return text + (f"; with Heaviside(0) = {other} it holds there too" if other else "")


def _heaviside_value_that_holds(outcome: Outcome, jumps: list[sp.Heaviside]) -> sp.Expr | None:
    """The one value of Heaviside(0) that makes both sides equal at the point, if there is one."""
    assert outcome.point is not None and outcome.lhs is not None and outcome.rhs is not None
    at_zero = sp.Dummy("h")
    gap = (outcome.lhs - outcome.rhs).xreplace(dict.fromkeys(jumps, at_zero))
    gap = gap.xreplace(outcome.point)
    if not gap.is_polynomial(at_zero):  # e.g. inside a Max: not solved
        return None
    solutions = sp.solve(gap, at_zero)
    return solutions[0] if len(solutions) == 1 and solutions[0].is_real else None


def _procedure_factor(claim: Claim, outcomes: list[Outcome]) -> str | None:
    """For an update step: in each network, the step is one positive constant times the gradient."""
    if claim.kind != "procedure":
        return None
    factors: dict[tuple[int, ...], sp.Expr] = {}
    for outcome in outcomes:
        ratio = sp.Integer(1) if outcome.status == "holds" else None
        if outcome.status == "fails" and outcome.lhs is not None and outcome.rhs is not None:
            ratio = _constant_ratio(outcome.rhs, outcome.lhs, outcome.point)
        if ratio is None or ratio <= 0 or factors.setdefault(outcome.sizes, ratio) != ratio:
            return None
    shown = ", ".join(f"{r} at layers {list(s)}" for s, r in factors.items() if r != 1)
    return (
        f"the step is a constant positive multiple of the gradient ({shown}): a gradient-descent "
        f"step only if the learning rate absorbs that factor"
    )


def _explain(result: Result, claim: Claim, cfile: ClaimsFile, failed: list[Outcome]) -> None:
    """Counterexample and corrected form from the failing instances, values first."""
    valued = [o for o in failed if o.point is not None]
    first = valued[0] if valued else failed[0]
    result.evidence = first
    if first.point is None:
        result.counterexample = {"at": first.label, "missing": first.reason}
        result.corrected = _corrected_range(claim, cfile, failed)
        return
    true, stated = first.at_point(first.lhs), first.at_point(first.rhs)
    result.counterexample = {
        "at": first.label,
        "point": {str(s): _show(v) for s, v in first.point.items()},
        "stated": _show(stated),
        "true": _show(true),
    }
    if first.status == "kink":
        result.counterexample["kink"] = f"{first.kink} = 0"
    assert first.lhs is not None and first.rhs is not None
    ratio = _common_ratio(valued)
    if ratio is not None and ratio != 1 and first.status == "fails":
        result.corrected_expr = ratio * first.rhs
        result.corrected = f"{ratio}*({claim.rhs.text})"
        return
    result.corrected_expr = _tidy(first.lhs)
    prefix = f"at {first.label}: " if first.label else ""
    result.corrected = prefix + show(result.corrected_expr)


def _common_ratio(valued: list[Outcome]) -> sp.Expr | None:
    """c when lhs = c * rhs in every failing instance, proved once per network shape."""
    if not valued or any(o.status != "fails" for o in valued):
        return None
    guesses = {_guess_ratio(o.lhs, o.rhs, o.point) for o in valued}
    if len(guesses) != 1:
        return None
    ratio = guesses.pop()
    shapes = {o.sizes: o for o in valued}.values()
    proved = ratio is not None and all(_cancels(o.lhs - ratio * o.rhs) for o in shapes)
    return ratio if proved else None


def _guess_ratio(
    top: sp.Expr | None, bottom: sp.Expr | None, point: dict[sp.Symbol, sp.Expr] | None
) -> sp.Expr | None:
    if top is None or bottom is None or point is None:
        return None
    number = value(top / bottom, point)
    if number is None:
        return None
    real, imaginary = number.as_real_imag()
    if abs(imaginary) > 1e-12 or real == 0 or abs(real) > 1e12:
        return None
    return sp.nsimplify(float(real), rational=True, tolerance=1e-9)


def _constant_ratio(
    top: sp.Expr, bottom: sp.Expr, point: dict[sp.Symbol, sp.Expr] | None
) -> sp.Expr | None:
    """c when top = c * bottom identically, c a number (read at the point, proved everywhere)."""
    ratio = _guess_ratio(top, bottom, point)
    return ratio if ratio is not None and _cancels(top - ratio * bottom) else None


def _tidy(expr: sp.Expr) -> sp.Expr:
    if expr.has(*KINKED) or sp.count_ops(expr) > 30:
        return expr
    simpler = sp.simplify(expr)
    return simpler if sp.count_ops(simpler) <= sp.count_ops(expr) else expr


def _corrected_range(claim: Claim, cfile: ClaimsFile, failed: list[Outcome]) -> str:
    """For out-of-range failures: the index bound that keeps every instance in range."""
    for name, _, high in claim.indices:
        if all(name in o.env and o.env[name] == _bound(high, o, cfile) for o in failed):
            return f"{name} up to {high.text} - 1, not {high.text}: {failed[0].reason}"
    return f"every quantity referred to must exist: {failed[0].reason}"


def _bound(high: Expression, outcome: Outcome, cfile: ClaimsFile) -> int:
    return _integer(high, Instance(outcome.label, outcome.env, outcome.sizes).scope(cfile))


def _show(value: sp.Expr) -> str:
    text = show(value)
    if value is sp.nan:
        return "undefined"
    if value.free_symbols or value.is_Rational:
        return text
    try:
        return f"{text} ≈ {float(sp.N(value, 15)):.6g}"
    except (TypeError, ValueError):
        return text
