"""The `[symbols]` and `[definitions]` tables of a claims file (second edition).

Input: the two TOML tables. Output: `Declarations`, which parses the file's expressions (the
tensor language: `@`, `.T`, `grad`, `sigmoid'(z)`...), refuses any name that is not declared,
defined, a size or a function (with a did-you-mean), and lists the instances of a claim: every
combination of the sizes it depends on, every label value and every one-hot target.

A domain restricts a symbol: `"> 0"`, `">= 0"` and `"(0, 1)"` make its components positive
(or non-negative) for SymPy and draw counterexample points inside the domain; `probabilities`
writes the last entry (of each row) as 1 minus the others; `one_hot` and `"label < n"` are
finite, so every value is enumerated: a proof over all of them is a proof.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp

from derive.errors import DeriveError, input_error
from derive.verify.claims import (
    _ALLOWED_NODES,
    MAX_TEXT,
    Claim,
    Definition,
    Expression,
    _check_tree,
    parse_expression,
)
from derive.verify.claims import FUNCTIONS as FIRST_EDITION
from derive.verify.tensors import ELEMENTWISE

__all__ = ["FUNCTIONS", "Case", "Declarations", "Declared", "check_numbers", "read"]

DECLARE = "declare it in [symbols] or [definitions]"  # what to do with an unknown name
NUMBERS_ONLY = (  # ... in a claim with a tolerance of a file without [symbols]
    "a claim with a tolerance compares numbers: write its value, or define it in [definitions]"
)

FUNCTIONS: dict[str, tuple[int, int | None]] = {  # name -> (min args, max args)
    **{name: (1, 1) for name in ELEMENTWISE},
    **{f"{name}__prime": (1, 1) for name in ELEMENTWISE},  # sigmoid'(z), after pre-lexing
    "leaky_relu": (1, 2),
    "leaky_relu__prime": (1, 2),
    "elu": (1, 2),
    "elu__prime": (1, 2),
    "Max": (2, 2),
    "Min": (2, 2),
    **{  # as in the first edition
        name: FIRST_EDITION[name]
        for name in ("Heaviside", "KroneckerDelta", "Eq", "Ne", "Piecewise", "Sum")
    },
    "Derivative": FIRST_EDITION["Derivative"],
    "diff": FIRST_EDITION["diff"],
    "indicator": (1, 1),
    "grad": (2, 2),
    "jacobian": (2, 2),
    "outer": (2, 2),
    "sum": (1, 2),
    "mean": (1, 2),
    "diag": (1, 1),
    "ones": (1, 2),
    "eye": (1, 1),
    "softmax": (1, 1),
    "log_softmax": (1, 1),
}
_NODES = (*_ALLOWED_NODES, ast.MatMult, ast.Attribute)
TENSOR_NODES = _NODES
_PRIME = re.compile(r"\b([A-Za-z]\w*)'(?=\s*\()")
DOMAINS = ("one_hot", "probabilities", "(0, 1)", "> 0", ">= 0", "label < n")
MAX_CASES = 400  # instances of one claim: sizes x labels x one-hot targets
_LABEL = re.compile(r"label\s*<\s*(\w+)")


class Sampled(sp.Symbol):
    """A real symbol whose counterexample points are drawn from its domain."""

    sample_values: tuple[sp.Rational, ...] = ()


def _sampled(name: str, values: str, near_kinks: bool = False) -> type[Sampled]:
    rationals = tuple(sp.Rational(v) for v in values.split())
    attributes = {"sample_values": rationals, "near_kinks": near_kinks, "__slots__": ()}
    return type(name, (Sampled,), attributes)


# A component without a domain: small points and both sides of a kink near it, never the large
# magnitudes (10**6) that make a network's nested exp slow to evaluate; sampling proves nothing.
Real = _sampled("Real", "-3 -2 -1 -1/2 1/3 1/2 1 3/2 2 3", near_kinks=True)

Positive = _sampled("Positive", "1/3 1/2 1 3/2 2 3")
NonNegative = _sampled("NonNegative", "0 1/2 1 2 3")
UnitInterval = _sampled("UnitInterval", "1/4 1/3 1/2 2/3 3/4")
_PROBABILITY: dict[int, type[Sampled]] = {}


def _probability(n: int) -> type[Sampled]:
    """Entries of an n-vector of probabilities but the last: each below 1/n, so the last > 0."""
    if n not in _PROBABILITY:
        values = " ".join(f"{k}/{d * n}" for k, d in ((1, 2), (1, 3), (2, 3), (1, 4)))
        _PROBABILITY[n] = _sampled(f"Probability{n}", values)
    return _PROBABILITY[n]


def __getattr__(name: str) -> type[Sampled]:
    """`Probability3` and the like, made on demand: a symbol of one pickles by its class name."""
    if name.startswith("Probability") and name[11:].isdigit():
        return _probability(int(name[11:]))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Declared:
    """One entry of `[symbols]`: a size (its values), or a scalar/vector/matrix with a domain."""

    sizes: tuple[int, ...] = ()
    shape: tuple[str | int, ...] = ()
    domain: str = ""  # one of DOMAINS with "label < n" read as "label"; "" for none
    bound: str | int = 0  # a label is < bound

    @property
    def finite(self) -> bool:
        """A size, a label or a one-hot target: bound to values by each instance."""
        return bool(self.sizes) or self.domain in ("label", "one_hot")

    def extent(self, env: dict[str, int]) -> tuple[int, ...]:
        """The shape at these sizes."""
        return tuple(env[s] if isinstance(s, str) else s for s in self.shape)

    def components(self, name: str, env: dict[str, int], plain: bool) -> Any:
        """A symbol, or an object array of symbols named `name[i, j]`, with the domain's kind."""
        extent = self.extent(env)
        if not extent:
            return self._symbol(name, plain, 1)
        out = np.empty(extent, dtype=object)
        for index in itertools.product(*map(range, extent)):
            out[index] = self._symbol(f"{name}[{', '.join(map(str, index))}]", plain, extent[-1])
        if self.domain == "probabilities" and not plain:
            rows = out.reshape(-1, extent[-1])
            for row in rows:
                row[-1] = 1 - sp.Add(*row[:-1])
        return out

    def _symbol(self, name: str, plain: bool, length: int) -> sp.Symbol:
        kinds: dict[str, tuple[type[sp.Symbol], dict[str, bool]]] = {
            "> 0": (Positive, {"positive": True}),
            ">= 0": (NonNegative, {"nonnegative": True}),
            "(0, 1)": (UnitInterval, {"positive": True}),
            "probabilities": (_probability(length), {"positive": True}),
        }
        kind, assumptions = kinds.get("" if plain else self.domain, (Real, {}))
        return kind(name, real=True, **assumptions)

    def one_hots(self, env: dict[str, int]) -> list[Any]:
        """Every one-hot value: each row of the shape has a single 1."""
        extent = self.extent(env)
        rows = int(np.prod(extent[:-1])) if len(extent) > 1 else 1
        found = []
        for hot in itertools.product(range(extent[-1]), repeat=rows):
            value = np.full((rows, extent[-1]), sp.Integer(0), dtype=object)
            for row, column in enumerate(hot):
                value[row, column] = sp.Integer(1)
            found.append(value.reshape(extent))
        return found


@dataclass(frozen=True)
class Case:
    """One instance of a claim: sizes and labels bound, one-hot targets fixed."""

    label: str
    env: dict[str, int]
    fixed: dict[str, Any]
    plain: bool = False


@dataclass(frozen=True)
class Declarations:
    """The declared symbols and the ordered definitions of one file."""

    path: Path
    symbols: dict[str, Declared]
    definitions: tuple[tuple[str, Expression], ...]

    def tensors(self) -> list[str]:
        """Declared quantities that have components (not sizes, not labels)."""
        return [n for n, d in self.symbols.items() if not d.sizes and d.domain != "label"]

    def parse(self, text: object, where: str) -> ast.expr:
        """Parse an expression of the tensor language into a checked AST."""
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            return parse_expression(text, where)  # its message for a non-string or a long one
        for match in _PRIME.finditer(text):
            if f"{match[1]}__prime" not in FUNCTIONS:
                known = ", ".join(ELEMENTWISE)
                raise DeriveError(f"{where}: {match[1]}' is not a derivative derive knows: {known}")
        return _parse(_PRIME.sub(r"\1__prime", text), where, text)

    def check_claims(self, path: Path, claims: list[Claim]) -> None:
        """Refuse claims this file cannot check, and any unknown name."""
        known = set(self.symbols) | {name for name, _ in self.definitions}
        for claim in claims:
            self._check_claim(path, claim, known)

    def _check_claim(self, path: Path, claim: Claim, known: set[str]) -> None:
        at = f"{path}: claim {claim.id}"
        if claim.kind != "equation":
            raise DeriveError(f"{at}: kind: a file with [symbols] has equation claims only")
        for key, value in (("indices", claim.indices), ("layers", claim.layers)):
            if value:
                raise DeriveError(f"{at}: {key}: not used with [symbols] (declare sizes)")
        if claim.domain is not None:
            raise DeriveError(f"{at}: domain: give domains in [symbols]")
        for name, values in claim.sizes:
            if not self.symbols.get(name, Declared()).sizes:
                raise DeriveError(f"{at}: sizes: {name!r} is not a declared size")
            if 0 in values:  # a vector of no entries: every claim about it holds vacuously
                raise input_error(path, f"claim {claim.id}: sizes.{name}", "sizes 1 to 8", 0)
        for side in [claim.lhs, claim.rhs] + [c.lhs for c in claim.conditions if c.lhs]:
            _check_names(side, known, set())
        if any(c.where is not None for c in claim.conditions):
            raise DeriveError(f"{at}: conditions: only lhs readings with [symbols]")

    def needed(self, trees: list[ast.expr]) -> set[str]:
        """Every declared or defined name the trees use, through the definitions."""
        found: set[str] = set()
        todo = [name for tree in trees for name in _names(tree)]
        definitions = dict(self.definitions)
        while todo:
            name = todo.pop()
            if name in found:
                continue
            found.add(name)
            declared = self.symbols.get(name)
            if name in definitions and definitions[name].tree is not None:
                todo.extend(_names(definitions[name].tree))  # type: ignore[arg-type]
            if declared is not None:
                todo.extend(s for s in (*declared.shape, declared.bound) if isinstance(s, str))
        return found & (set(self.symbols) | set(definitions))

    def restricted(self, names: set[str]) -> Declarations:
        """Only these symbols and definitions (a claim evaluates what it uses)."""
        symbols = {n: d for n, d in self.symbols.items() if n in names}
        definitions = tuple((n, e) for n, e in self.definitions if n in names)
        return Declarations(self.path, symbols, definitions)

    def cases(self, claim: Claim, trees: list[ast.expr], plain: bool = False) -> Iterator[Case]:
        """Every size combination, label value and one-hot target the claim depends on."""
        used = self.needed(trees)
        override = dict(claim.sizes)
        sizes = [n for n in self.symbols if n in used and self.symbols[n].sizes]
        count = 0
        for values in itertools.product(*[override.get(n, self.symbols[n].sizes) for n in sizes]):
            env = dict(zip(sizes, values, strict=True))
            count += self._count(used, env, plain)  # before any one-hot value is listed
            if count > MAX_CASES:
                raise DeriveError(
                    f"{self.path}: claim {claim.id}: more than {MAX_CASES} instances "
                    "(fewer size values, or smaller sizes)"
                )
            yield from self._finite(used, env, plain)

    def _count(self, used: set[str], env: dict[str, int], plain: bool) -> int:
        """The instances `_finite` lists at these sizes: label values x one-hot values."""
        count = 1
        for name in used & set(self.symbols):
            declared = self.symbols[name]
            if declared.domain == "label":
                count *= _bound(declared.bound, env)
            elif declared.domain == "one_hot" and not plain:
                extent = declared.extent(env)
                count *= extent[-1] ** math.prod(extent[:-1])
        return count

    def _finite(self, used: set[str], env: dict[str, int], plain: bool) -> Iterator[Case]:
        labels = [n for n in self.symbols if n in used and self.symbols[n].domain == "label"]
        hots = [n for n in self.symbols if n in used and self.symbols[n].domain == "one_hot"]
        if plain:
            hots = []
        label_ranges = [range(_bound(self.symbols[n].bound, env)) for n in labels]
        hot_values = [self.symbols[n].one_hots(env) for n in hots]
        for chosen in itertools.product(*label_ranges):
            for fixed in itertools.product(*hot_values):
                bound = dict(zip(labels, chosen, strict=True))
                targets = dict(zip(hots, fixed, strict=True))
                shown = [f"{k}={v}" for k, v in (env | bound).items()]
                shown += [f"{n}={_show_array(v)}" for n, v in targets.items()]
                yield Case(", ".join(shown), env | bound, targets, plain)


def _bound(bound: str | int, env: dict[str, int]) -> int:
    return env[bound] if isinstance(bound, str) else bound


def _show_array(value: Any) -> str:
    return str(value.tolist()).replace("'", "")


def _parse(text: str, where: str, original: str) -> ast.expr:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        shown = original if len(original) <= 80 else original[:77] + "..."
        raise DeriveError(f"{where}: not an expression ({type(exc).__name__}): {shown!r}") from None
    _check_tree(tree, where, original, _NODES, FUNCTIONS)
    return tree.body


def _names(tree: ast.AST) -> Iterator[str]:
    """Names used as values (not called), the indices a Sum or Product binds and the variable a
    Subs binds left out."""
    yield from (name for name, _ in _name_nodes(tree, frozenset()))


def _name_nodes(tree: ast.AST, bound: frozenset[str]) -> Iterator[tuple[str, frozenset[str]]]:
    if isinstance(tree, ast.Name):
        if tree.id not in bound:
            yield tree.id, bound
        return
    if isinstance(tree, ast.Call):
        inner = bound
        function = tree.func.id if isinstance(tree.func, ast.Name) else ""
        if function == "Subs" and len(tree.args) == 3 and isinstance(tree.args[1], ast.Name):
            yield from _name_nodes(tree.args[0], bound | {tree.args[1].id})  # the first edition's
            yield from _name_nodes(tree.args[2], bound)  # Subs(expr, u, value): u bound in expr
            return
        if function in ("Sum", "Product"):
            limits = [arg for arg in tree.args[1:] if isinstance(arg, ast.Tuple) and arg.elts]
            inner = bound | {a.elts[0].id for a in limits if isinstance(a.elts[0], ast.Name)}
        for arg in tree.args:
            yield from _name_nodes(arg, inner)
        return
    for child in ast.iter_child_nodes(tree):
        yield from _name_nodes(child, bound)


def check_numbers(path: Path, claims: list[Claim], definitions: tuple[Definition, ...]) -> None:
    """A claim with a tolerance in a file without [symbols] compares numbers: it is an equation,
    and every name it uses is bound by its indices or sizes, or defined in [definitions] by
    numbers in turn. Its other claims are read as ever (free names are real symbols)."""
    defined = {d.name: d for d in definitions}
    for claim in claims:
        if claim.tolerance is None:
            continue
        if claim.kind != "equation":
            expected = "an equation claim (a tolerance compares numbers)"
            raise input_error(path, f"claim {claim.id}: tolerance", expected, claim.kind)
        bound = {name for name, _, _ in claim.indices} | {name for name, _ in claim.sizes}
        todo = [(claim.lhs, bound, ""), (claim.rhs, bound, "")]
        seen: set[str] = set()
        while todo:
            side, names, used = todo.pop(0)  # the left side first
            try:
                _check_names(side, set(defined) | names, set(), NUMBERS_ONLY)
            except DeriveError as exc:
                raise DeriveError(f"{exc}{used}") from None
            assert side.tree is not None
            for name in sorted(set(_names(side.tree)) - names - seen - {"pi"}):
                seen.add(name)
                used = f" (claim {claim.id} uses {name})"
                todo.append((defined[name].body, set(defined[name].indices), used))


def _check_names(
    expr: Expression,
    known: set[str],
    later: set[str],
    advice: str = DECLARE,
) -> None:
    assert expr.tree is not None
    for name in _names(expr.tree):
        if name in known or name == "pi":
            continue
        if name in later:
            raise DeriveError(
                f"{expr.where}: {name!r} is defined further down: definitions are read in order"
            )
        same = [k for k in sorted(known | later) if k.lower() == name.lower()]
        close = same or difflib.get_close_matches(name, sorted(known | later), n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DeriveError(f"{expr.where}: unknown name {name!r}{hint}: {advice}")


# --- reading the tables --------------------------------------------------------------------


def read(
    path: Path,
    symbols: object,
    definitions: object,
    latex: Callable[[object, str, Declarations], Expression] | None = None,
) -> Declarations:
    """The `[symbols]` and `[definitions]` tables, checked; DeriveError naming the key.

    `latex` reads a definition given as `{ latex = '...' }`, with the names above it."""
    if not isinstance(symbols, dict):
        raise input_error(path, "symbols", "a table of name = { ... }", symbols)
    if not isinstance(definitions, dict):
        raise input_error(path, "definitions", 'a table of name = "expression"', definitions)
    declared = {name: _declared(path, name, raw) for name, raw in symbols.items()}
    for name, decl in declared.items():
        for size in (*decl.shape, decl.bound):
            if isinstance(size, str) and not declared.get(size, Declared()).sizes:
                raise input_error(path, f"symbols.{name}", "sizes declared with size = [...]", size)
    parser = Declarations(path, declared, ())
    parsed: list[tuple[str, Expression]] = []
    for name, text in definitions.items():
        key = f"definitions.{name}"
        _check_name(path, key, name)
        if name in declared:
            raise input_error(path, key, "a new name (it is declared in [symbols])", name)
        where = f"{path}: {key}"
        if isinstance(text, dict) and latex is not None:
            expr = latex(text, where, Declarations(path, declared, tuple(parsed)))
        else:
            expr = Expression(str(text), parser.parse(text, where), where=where)
        later = set(definitions) - {n for n, _ in parsed} - {name}
        _check_names(expr, set(declared) | {n for n, _ in parsed}, later | {name})
        parsed.append((name, expr))
    return Declarations(path, declared, tuple(parsed))


def _check_name(path: Path, key: str, name: str) -> None:
    reserved = name in FUNCTIONS or name == "pi"
    if not name.isidentifier() or name.startswith("_") or "__" in name or reserved:
        raise input_error(path, key, "a plain name that is not a function", name)


def _declared(path: Path, name: str, raw: object) -> Declared:
    key = f"symbols.{name}"
    _check_name(path, key, name)
    if not isinstance(raw, dict) or set(raw) - {"size", "shape", "domain"}:
        raise input_error(path, key, "a table with size, or shape and/or domain", raw)
    if "size" in raw:
        if len(raw) > 1:
            raise input_error(path, key, "a size alone (size = [...]) without shape or domain", raw)
        values = raw["size"]
        ok = isinstance(values, list) and 0 < len(values) <= 6
        if not ok or not all(type(v) is int and 1 <= v <= 8 for v in values):
            raise input_error(path, f"{key}.size", "a list of 1-6 sizes from 1 to 8", values)
        return Declared(sizes=tuple(values))
    shape = raw.get("shape", [])
    ok = isinstance(shape, list) and len(shape) <= 2
    if not ok or not all(isinstance(s, str) or (type(s) is int and 1 <= s <= 8) for s in shape):
        raise input_error(path, f"{key}.shape", 'a list of one or two sizes, as ["m", "n"]', shape)
    domain = raw.get("domain", "")
    if not isinstance(domain, str):
        raise input_error(path, f"{key}.domain", f"one of {', '.join(DOMAINS)}", domain)
    label = _LABEL.fullmatch(domain.strip())
    normal = re.sub(r"\s+", " ", domain.strip())
    if label:
        if shape:
            raise input_error(path, f"{key}.domain", "a label without a shape", domain)
        bound = label[1]
        if bound.isdigit() and not 1 <= int(bound) <= 8:
            raise input_error(path, f"{key}.domain", "label < a size from 1 to 8", domain)
        return Declared(domain="label", bound=int(bound) if bound.isdigit() else bound)
    if normal not in ("", *DOMAINS[:5]):
        raise input_error(path, f"{key}.domain", f"one of {', '.join(DOMAINS)}", domain)
    if normal in ("one_hot", "probabilities") and not shape:
        raise input_error(path, f"{key}.domain", f"a vector or a matrix for {normal}", domain)
    return Declared(shape=tuple(shape), domain=normal)
