"""Deciding a claim of a file with `[symbols]`: entry by entry, at every instance.

Input: a claim and its file's `Declarations`. Output: a checker `Result`. At each instance
(sizes, labels, one-hot targets; see `declarations`) both sides are built by the tensor
layer; their shapes must agree, and each pair of entries is decided by the checker as a scalar
claim. A counterexample names the instance, the entry (`grad(C, W1)[1, 0]`), the point and both
values. The corrected form is the right side with one common mistake undone when that holds
everywhere (`rewrites`), else a factor that fits every instance (a number, or a power of
a size such as `1/N`), else the true entries at the smallest failing instance.
"""

from __future__ import annotations

import ast
import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from derive.errors import DeriveError
from derive.verify import approx, checker
from derive.verify.claims import (
    MAX_EXP_ARGUMENT,
    Claim,
    ClaimsFile,
    Expression,
    check_size,
    validate_tree,
)
from derive.verify.declarations import Case, Declarations, Declared
from derive.verify.regions import SMALL
from derive.verify.rewrites import rewrites
from derive.verify.tensors import Context, Evaluator, ShapeError, entry_names, is_tensor, shown

__all__ = ["check_claim"]

VALUES = [-3, -2, -1, -0.5, 1 / 3, 0.5, 1, 1.5, 2, 3]  # the checker's points, as floats
EXPONENTS = (1, -1, 2, -2)  # a factor that varies with the sizes: k * size**e
MAX_REWRITES = 12  # candidate corrections tried (derive.verify.rewrites)
MAX_TENSOR_EXP_NESTING = 8  # a network of 7 sigmoid layers and a softmax; arguments probed


@dataclass
class Judged:
    """One instance: the first failing entry (or a holding outcome) and every entry pair."""

    case: Case
    outcome: checker.Outcome
    ctx: Context
    pairs: list[tuple[sp.Expr, sp.Expr]] = field(default_factory=list)


def check_claim(claim: Claim, cfile: ClaimsFile) -> checker.Result:
    """holds (proved at every instance), fails (entry, point, values, correction), conditional."""
    decl = cfile.declarations
    assert decl is not None
    result = checker.Result(claim.id, "holds", claim.statement, claim.source, claim.latex)
    trees = [side.tree for side in (claim.lhs, claim.rhs) if side.tree is not None]
    cases = list(decl.cases(claim, trees))
    if not cases:  # every size and label has a value: never, but a claim holds on no instance
        raise DeriveError(f"{claim.lhs.where}: no instance to check")
    if claim.tolerance is not None:
        return _numeric(result, claim, decl, cases, claim.tolerance)
    judged = [_judge(decl, case, claim.lhs, claim.rhs) for case in cases]
    _refuse_constant_derivatives(judged)
    reading = checker.kink_reading(claim, [body for _, body in decl.definitions])
    checker.written_kinks_fail([j.outcome for j in judged], reading)
    failed = [j for j in judged if j.outcome.status in ("fails", "missing")]
    kinked = [j for j in judged if j.outcome.status == "kink"]
    if reading == checker.DERIVATIVE:
        defined = dict(decl.definitions)
        outcomes = [j.outcome for j in kinked]
        checker.convention_side_first(outcomes, claim.lhs, claim.rhs, defined)
    known = ("holds", "fails", "missing", "kink")
    open_ = [j for j in judged if j.outcome.status not in known]
    if open_ and not failed:  # the checker neither proved nor refuted an entry: never "holds"
        first = open_[0].outcome
        result.verdict, result.tried = first.status, f"{first.label}: {first.reason}"
        return result
    if not failed and not kinked:
        touches = any(_has_kink(pair) for j in judged for pair in j.pairs)
        result.condition = checker.checked_with(reading) if touches else None
        result.condition = _domain_note(claim, decl, trees) or result.condition
        return result
    _explain(result, claim, decl, judged, failed or kinked)
    result.verdict = "conditional"
    if not failed:
        result.condition = checker.kink_text([j.outcome for j in kinked], reading)
        return result
    for condition in claim.conditions:
        assert condition.lhs is not None and condition.lhs.tree is not None
        if not _binds(decl, cases, condition.lhs.tree):
            continue
        again = [_judge(decl, case, condition.lhs, claim.rhs) for case in cases]
        if all(j.outcome.status in ("holds", "kink") for j in again):
            result.condition = condition.text
            return result
    result.verdict = "fails"
    return result


def _refuse_constant_derivatives(judged: list[Judged]) -> None:
    """A derivative by something the expression never depends on: a typo, not a 0."""
    always = [
        {message for message, yes in j.ctx.independent.items() if yes}
        for j in judged
        if j.ctx.independent
    ]
    if always and set.intersection(*always):
        raise DeriveError(sorted(set.intersection(*always))[0])


def _judge(decl: Declarations, case: Case, lhs: Expression, rhs: Expression) -> Judged:
    """Both sides at one instance, decided entry by entry; the first failing entry is kept."""
    outcome = checker.Outcome("holds", case.label, env=case.env)
    ctx = _context(decl, case, lhs, rhs)
    judged = Judged(case, outcome, ctx)
    try:
        left, right = _side(ctx, lhs), _side(ctx, rhs)
    except ShapeError as exc:
        outcome.status, outcome.reason = "missing", str(exc)
        return judged
    if _shape(left) != _shape(right):
        outcome.status, outcome.reason = "missing", _shapes_differ(lhs, rhs, left, right)
        return judged
    rng = random.Random(case.label)
    for (index, true), (_, stated) in zip(entry_names(left), entry_names(right), strict=True):
        judged.pairs.append((true, stated))
        if outcome.status == "fails" or _lifted_cancels(ctx, true, stated):
            continue  # a failing entry is enough; or proved on the defined quantities
        entry = checker.Outcome("holds", _entry_label(case, lhs, index), env=case.env)
        checker._decide_instance(entry, true, stated, {}, rng)
        entry.lhs, entry.rhs = true, stated
        if entry.status != "holds" and (outcome.status == "holds" or entry.status == "fails"):
            judged.outcome = outcome = entry  # the first entry that does not hold; a fail first
    return judged


def _context(decl: Declarations, case: Case, lhs: Expression, rhs: Expression) -> Context:
    """The instance's context, with only the symbols and definitions the claim uses."""
    sub = decl.restricted(decl.needed([t for t in (lhs.tree, rhs.tree) if t is not None]))
    return Context(sub, case.env, case.fixed, case.plain)


def _lifted_cancels(ctx: Context, true: sp.Expr, stated: sp.Expr) -> bool:
    """A proof on the defined quantities, tried when lifting shrinks the difference a lot."""
    diff = true - stated
    for sums_only in (True, False):
        lifted = ctx.lift(true, sums_only) - ctx.lift(stated, sums_only)
        if 3 * _size(lifted) < _size(diff) and checker._cancels(lifted):
            return True
    return False


def _size(expr: sp.Expr) -> int:
    return sum(1 for _ in sp.preorder_traversal(expr))


def _side(ctx: Context, side: Expression) -> Any:
    """A side's value at one instance, each entry within the caps of a built side."""
    value = Evaluator(ctx, None, ctx.values(None)).build(side)
    entries = [entry for _, entry in entry_names(value)]
    for entry in entries:
        check_size(entry, side.where, side.text)
        if not isinstance(entry, sp.Expr) or entry.has(sp.nan, sp.zoo, sp.oo, -sp.oo, sp.I):
            raise ShapeError(f"{side.text} is not a finite real expression ({entry})")
        validate_tree(entry, side.where, side.text, MAX_TENSOR_EXP_NESTING)
    _probe_exp_arguments(entries, side)
    return value


def _probe_exp_arguments(entries: list[sp.Expr], side: Expression) -> None:
    """Refuse a side whose exp arguments pass MAX_EXP_ARGUMENT at a corner of the sample box.

    The checker draws each component from its domain's sample values (at most 3 in size), so
    a network's nested exps stay small there; a tower such as exp(exp(exp(x))) does not, and
    evaluating it would never end. Four corners are probed: every component at its lowest
    sample, at its highest, and two alternations. A probe proves nothing; the time limit
    still bounds what it misses.
    """
    symbols = sorted(set().union(*[e.free_symbols for e in entries]), key=str)
    ends = [_sample_ends(symbol) for symbol in symbols]
    for pattern in (lambda k: 0, lambda k: 1, lambda k: k % 2, lambda k: 1 - k % 2):
        point = {s: ends[k][pattern(k)] for k, s in enumerate(symbols)}
        at = approx.Approximation(point)
        try:
            for entry in entries:
                at.value(entry)
        except (approx.UnknownNodeError, RecursionError):
            return  # a function the probe does not evaluate: the time limit bounds it
        if at.largest_exp > MAX_EXP_ARGUMENT:
            shown = ", ".join(f"{s}={v:g}" for s, v in list(point.items())[:4])
            more = ", ..." if len(point) > 4 else ""
            raise DeriveError(
                f"{side.where}: exp of a number past {MAX_EXP_ARGUMENT} at {shown}{more}, a "
                f"point the checker samples (exp nested in exp?): {side.text!r:.80}"
            )


def _sample_ends(symbol: sp.Symbol) -> tuple[float, float]:
    samples = getattr(symbol, "sample_values", ()) or SMALL
    return float(min(samples)), float(max(samples))


def _shape(value: Any) -> str:
    return str(value.shape) if is_tensor(value) else "scalar"


def _shapes_differ(lhs: Expression, rhs: Expression, left: Any, right: Any) -> str:
    return f"shapes differ: {lhs.text} is {_shape(left)}, {rhs.text} is {_shape(right)}"


def _entry_label(case: Case, side: Expression, index: tuple[int, ...]) -> str:
    at = f"{side.text}[{', '.join(map(str, index))}]" if index else ""
    return ", ".join(part for part in (case.label, at) if part)


def _has_kink(pair: tuple[sp.Expr, sp.Expr]) -> bool:
    return any(side.has(sp.Heaviside, sp.Max) for side in pair)


# --- explaining a failure --------------------------------------------------------------------


def _explain(
    result: checker.Result,
    claim: Claim,
    decl: Declarations,
    judged: list[Judged],
    failed: list[Judged],
) -> None:
    valued = [j for j in failed if j.outcome.point is not None]
    first = (valued or failed)[0].outcome
    result.evidence = first
    failing_first = [j.case for j in failed] + [j.case for j in judged if j not in failed]
    rewritten = _rewritten(claim, decl, failing_first) if failed else None
    if first.point is None:
        result.counterexample = {"at": first.label, "missing": first.reason}
        result.corrected = rewritten
        return
    assert first.lhs is not None and first.rhs is not None
    result.counterexample = {
        "at": first.label,
        "point": {str(s): checker._show(v) for s, v in first.point.items()},
        "stated": _show(first.at_point(first.rhs)),
        "true": _show(first.at_point(first.lhs)),
    }
    if first.status == "kink":
        result.counterexample["kink"] = f"{first.kink} = 0"
        return
    factor = _factor(judged, failed)
    if factor is not None:
        result.corrected_expr = factor * first.rhs
        scale = f"stated = {sp.sstr(1 / factor)} x true"
        result.corrected = f"{sp.sstr(factor)}*({claim.rhs.text}) ({scale})"
        return
    result.corrected_expr = checker._tidy(first.lhs)
    if rewritten is not None:
        result.corrected = rewritten
        return
    smallest = min(valued, key=lambda j: sum(j.case.env.values()))
    own = _functions(claim.lhs) | _functions(claim.rhs)
    true = [smallest.ctx.fold(_in_own_terms(t, own)) for t, _ in smallest.pairs]
    shown = sp.sstr(true[0]) if len(true) == 1 else sp.sstr(true)
    at = f"at {smallest.case.label}: " if smallest.case.label else ""
    result.corrected = f"{at}{claim.lhs.text} = {shown}"


def _rewritten(claim: Claim, decl: Declarations, cases: list[Case]) -> str | None:
    """The right side with one common mistake undone (see derive.verify.rewrites), when that makes
    the claim hold at every instance: the correction in the claim's own notation."""
    assert claim.rhs.tree is not None
    for tree in itertools.islice(rewrites(claim.rhs.tree, decl), MAX_REWRITES):
        rhs = Expression(shown(tree), tree, where=claim.rhs.where)
        if not _binds(decl, cases, tree):
            continue
        if all(_plausible(decl, case, claim.lhs, rhs) for case in cases) and all(
            _judge(decl, case, claim.lhs, rhs).outcome.status == "holds" for case in cases
        ):
            return rhs.text
    return None


def _binds(decl: Declarations, cases: list[Case], tree: ast.expr) -> bool:
    """The instances bind every size, label and one-hot target the expression needs."""
    bound = set(cases[0].env) | set(cases[0].fixed)
    return all(n in bound for n in decl.needed([tree]) if decl.symbols.get(n, Declared()).finite)


def _plausible(decl: Declarations, case: Case, lhs: Expression, rhs: Expression) -> bool:
    """Both sides fit and agree at a few float points (a cheap screen before a proof)."""
    ctx = _context(decl, case, lhs, rhs)
    try:
        left, right = _side(ctx, lhs), _side(ctx, rhs)
    except (ShapeError, DeriveError):
        return False
    if _shape(left) != _shape(right):
        return False
    rng = random.Random(case.label)
    pairs = zip(entry_names(left), entry_names(right), strict=True)
    return all(_differing_point(t - s, rng) is None for (_, t), (_, s) in pairs)


def _functions(side: Expression) -> set[str]:
    assert side.tree is not None
    calls = [node for node in ast.walk(side.tree) if isinstance(node, ast.Call)]
    return {node.func.id for node in calls if isinstance(node.func, ast.Name)}


def _in_own_terms(expr: sp.Expr, own: set[str]) -> sp.Expr:
    """The simplest of expr and its simplified form that uses only the claim's functions."""
    candidates = [expr, checker._tidy(expr)]
    used = [{type(f).__name__ for f in c.atoms(sp.Function)} for c in candidates]
    fitting = [c for c, names in zip(candidates, used, strict=True) if names <= own]
    return min(fitting or candidates, key=sp.count_ops)


def _show(value: sp.Expr) -> str:
    """A value: exact when short, else its decimal approximation."""
    text = checker._show(value)
    return text if len(text) <= 40 else "≈ " + text.split(" ≈ ")[-1]


def _factor(judged: list[Judged], failed: list[Judged]) -> sp.Expr | None:
    """c (a number or k * size**e) with true = c * stated at every instance, proved."""
    if any(j.outcome.status != "fails" for j in failed) or not failed:
        return None
    ratios: dict[int, sp.Expr] = {}
    for number, j in enumerate(judged):
        if j.outcome.status == "holds":
            ratios[number] = sp.Integer(1)
            continue
        o = j.outcome
        ratio = checker._guess_ratio(o.lhs, o.rhs, o.point)
        if ratio is None or not all(checker._cancels(t - ratio * s) for t, s in j.pairs):
            return None
        ratios[number] = ratio
    values = set(ratios.values())
    if len(values) == 1:
        return values.pop()
    sizes = sorted({name for j in judged for name in j.case.env})
    for name in sizes:
        for power in EXPONENTS:
            scaled = {r / sp.Integer(judged[k].case.env[name]) ** power for k, r in ratios.items()}
            if len(scaled) == 1:
                return scaled.pop() * sp.Symbol(name) ** power
    return None


# --- domains and numeric claims ----------------------------------------------------------------


def _domain_note(claim: Claim, decl: Declarations, trees: list[Any]) -> str | None:
    """When the claim uses a domain: does it hold without it? If not, say the domain is needed."""
    used = decl.needed(trees)
    declared = [n for n in decl.symbols if n in used]
    domains = [n for n in declared if decl.symbols[n].domain not in ("", "label")]
    if not domains:
        return None
    case = next(decl.cases(claim, trees, plain=True))
    ctx = _context(decl, case, claim.lhs, claim.rhs)
    names = ", ".join(f"{n} {decl.symbols[n].domain}" for n in domains)
    note = f"uses the domain ({names}): without it the claim fails at"
    try:
        left, right = _side(ctx, claim.lhs), _side(ctx, claim.rhs)
    except ShapeError:
        return f"{note} {case.label}"
    rng = random.Random(case.label)
    for (index, true), (_, stated) in zip(entry_names(left), entry_names(right), strict=True):
        point = _differing_point(true - stated, rng)
        if point is not None:
            values = ", ".join(  # the values the domain rules out, not every symbol's
                f"{symbol}={value:g}"
                for symbol, value in point.items()
                if str(symbol).split("[")[0] in domains
            )
            at = (_entry_label(case, claim.lhs, index), values)
            return f"{note} {', '.join(part for part in at if part)}"
    return None


def _differing_point(diff: sp.Expr, rng: random.Random) -> dict[sp.Symbol, float] | None:
    """A point of a few random ones where diff is clearly nonzero (a note, never a verdict)."""
    symbols = sorted(diff.free_symbols, key=str)
    for _ in range(8):
        point = {symbol: float(rng.choice(VALUES)) for symbol in symbols}
        try:
            value = approx.Approximation(point).value(diff)
        except (approx.UnknownNodeError, RecursionError):
            continue
        if math.isfinite(value) and abs(value) > 1e-6:
            return point
    return None


def _numeric(
    result: checker.Result,
    claim: Claim,
    decl: Declarations,
    cases: list[Case],
    tolerance: float,
) -> checker.Result:
    """A value read off a figure: every entry within the tolerance of the true value."""
    values = []
    for case in cases:
        ctx = _context(decl, case, claim.lhs, claim.rhs)
        try:
            left, right = _side(ctx, claim.lhs), _side(ctx, claim.rhs)
            if _shape(left) != _shape(right):
                raise ShapeError(_shapes_differ(claim.lhs, claim.rhs, left, right))
        except ShapeError as exc:
            result.verdict, result.counterexample = "fails", {"at": case.label, "missing": str(exc)}
            return result
        for (index, true), (_, stated) in zip(entry_names(left), entry_names(right), strict=True):
            values.append((_entry_label(case, claim.lhs, index), true, stated))
    return checker.compare_numbers(result, values, tolerance, claim.lhs.where)
