"""The parser of derive's LaTeX front end: tokens of one display -> trees of the claims language.

Recursive descent, one method per construct (fractions and derivatives, sums, functions and
primes, names with sub/superscripts, cases); every nesting step is counted against
MAX_NESTING, so hostile input is refused, never recursed on without bound. derive/verify/latex.py
holds the tokenizer, the `[latex]` settings and the claims a display gives.
"""

from __future__ import annotations

import ast
import copy
import difflib
import re
from dataclasses import dataclass
from typing import Any

from derive.verify.latex import (
    _GREEK,
    _KNOWN,
    _PRODUCTS,
    _REFUSED,
    _RELATIONS,
    MAX_NESTING,
    Display,
    LatexError,
    Relation,
    Settings,
    Token,
    _canonical,
    _environment_name,
)
from derive.verify.latex_scheme import (
    SchemeError,
    entrywise,
    family,
    has_family,
    neuron_range,
    pattern,
    same,
)
from derive.verify.latex_tensors import rank

__all__ = ["Parser", "check_depth"]


# --- trees ---------------------------------------------------------------------------------


def _call(name: str, *args: ast.expr) -> ast.expr:
    return ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])


def _num(value: int) -> ast.expr:
    return ast.Constant(value)


def _bin(left: ast.expr, op: ast.operator, right: ast.expr) -> ast.expr:
    return ast.BinOp(left, op, right)


def _exp_of(arg: ast.expr) -> ast.expr:
    return _call("exp", arg)


def _expanded(name: str, arg: ast.expr) -> ast.expr:
    """cosh, sinh, sech in exponentials (derive's whitelist has exp, not these)."""
    plus, minus = _exp_of(arg), _exp_of(ast.UnaryOp(ast.USub(), arg))
    if name == "cosh":
        return _bin(_bin(plus, ast.Add(), minus), ast.Div(), _num(2))
    if name == "sinh":
        return _bin(_bin(plus, ast.Sub(), minus), ast.Div(), _num(2))
    return _bin(_num(2), ast.Div(), _bin(plus, ast.Add(), minus))  # sech


def _apply(name: str, args: list[ast.expr], pos: int) -> ast.expr:
    if name in ("cosh", "sinh", "sech"):
        if len(args) != 1:
            raise LatexError(pos, f"\\{name} takes one argument")
        return _expanded(name, args[0])
    if name in ("Max", "Min"):
        if not args:
            raise LatexError(pos, f"{name} needs arguments")
        return _call(name, *args)
    if len(args) != 1:
        raise LatexError(pos, f"{name} takes one argument, found {len(args)}")
    return _call(name, *args)


def _replace_name(tree: ast.expr, names: dict[str, ast.expr]) -> ast.expr:
    """tree with each Name in `names` replaced by its tree."""

    class Swap(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> Any:
            return names.get(node.id, node)

    return Swap().visit(_copy(tree))


def _replace_subtree(tree: ast.expr, old: ast.expr, new: ast.expr) -> tuple[ast.expr, bool]:
    """tree with every copy of `old` replaced by `new`, and whether there was one."""
    target, found = ast.dump(old), False

    class Swap(ast.NodeTransformer):
        def visit(self, node: ast.AST) -> Any:
            nonlocal found
            if isinstance(node, ast.expr) and ast.dump(node) == target:
                found = True
                return _copy(new)
            return super().visit(node)

    return Swap().visit(_copy(tree)), found


def _copy(tree: ast.expr) -> ast.expr:
    return copy.deepcopy(tree)


def _names(tree: ast.expr) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _plain_names(tree: ast.expr) -> set[str]:
    """The names used unindexed (x, not the E of E[i])."""
    bases = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Subscript)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in bases}


# --- the parser ----------------------------------------------------------------------------

_NETWORK_NAMES = {"a", "z", "w", "t", "E"}
# letters conventionally a function: f(x) is not f * x
_FUNCTION_LETTERS = {"f", "g", "h", "F", "G", "H", "phi", "varphi", "psi", "Phi", "Psi"}
_ELISIONS = {r"\dots", r"\cdots", r"\ldots", r"\vdots", r"\ddots"}


@dataclass
class _Atom:
    base: str
    pos: int
    tokens: list[Token]  # base, subscript and superscript tokens, for matching declared names
    sub: list[Token] | None = None
    sup: list[Token] | None = None
    primes: int = 0


class Parser:
    """Recursive descent over the tokens of one display."""

    def __init__(self, tokens: list[Token], settings: Settings, text: str) -> None:
        self.tokens = tokens
        self.at = 0
        self.settings = settings
        self.text = text
        self.depth = 0
        self.bound: list[str] = []  # indices of the sums around the current place
        self.fresh = 0
        self.line = 1
        self.index_mode = False  # inside a subscript, layer or bound: letters are indices
        # d z / d x with z undefined so far: an error unless the display defines z after it
        self.pending: list[tuple[str, LatexError]] = []
        self.conditions: list[ast.expr] = []  # from subscripts like z_{k \neq i}
        self.step_names: set[str] = set()  # names in an update's step: defined after it
        self.applied = _applied(tokens)  # u in u(x): written as a function somewhere

    # -- token access

    def peek(self, ahead: int = 0) -> Token:
        index = self.at + ahead
        return self.tokens[index] if index < len(self.tokens) else self.end

    @property
    def end(self) -> Token:
        return Token("end", "", len(self.text))

    def take(self) -> Token:
        token = self.peek()
        self.at += 1
        return token

    def is_(self, text: str, kind: str | None = None) -> bool:
        token = self.peek()
        return token.text == text and (kind is None or token.kind == kind)

    def expect(self, text: str) -> Token:
        token = self.peek()
        if token.text != text:
            found = "the end" if token.kind == "end" else repr(token.text)
            raise LatexError(token.pos, f"expected {text!r}, found {found}")
        return self.take()

    def fail(self, message: str, token: Token | None = None) -> LatexError:
        return LatexError((token or self.peek()).pos, message)

    def finish(self) -> None:
        token = self.peek()
        if token.kind != "end":
            raise self.fail(_REFUSED.get(token.text, f"unexpected {token.text!r}"), token)

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail(f"nested more than {MAX_NESTING} deep")

    # -- displays

    def display(self) -> Display:
        result = Display()
        defined: list[tuple[ast.expr, ast.expr]] = []  # (name or name[i], value) by `where`
        while True:
            self.skip_breaks()
            if self.peek().kind == "end":
                break
            self.part(result, defined)
            self.skip_breaks()
            if self.is_(",") or self.is_(";") or self.is_(r"\quad") or self.is_(r"\qquad"):
                while self.peek().text in (",", ";", r"\quad", r"\qquad"):
                    self.take()
                continue
            if self.is_("=", "sym") and result.relations:  # `&= ...` after a where-clause
                continue
            self.finish()
        if not result.relations:
            raise LatexError(0, "no equation (lhs = rhs) in this display")
        self.raise_undefined({_base(name) for name, _ in defined})
        seen = {ast.dump(c) for c in result.conditions}
        for condition in self.conditions:
            if ast.dump(condition) not in seen:
                seen.add(ast.dump(condition))
                result.conditions.append(condition)
        for relation in result.relations:
            check_depth(relation.lhs)
            check_depth(relation.rhs)
        for name, value in reversed(defined):
            result.relations = [
                Relation(_define(r.lhs, name, value), _define(r.rhs, name, value), r.line, r.pos)
                for r in result.relations
            ]
        result.relations = [new for old in result.relations for new in self.rows(old, result)]
        return result

    def rows(self, relation: Relation, result: Display) -> list[Relation]:
        """A relation between layered vectors (Z^{[l]} = W^{[l]} A^{[l-1]}), read at one row,
        and one relation per pair of dimensions that must agree (s(l - 1) = n + 1)."""
        if not (has_family(relation.lhs) or has_family(relation.rhs)):
            return [relation]
        used = _names(relation.lhs) | _names(relation.rhs)
        taken = used | self.settings.indices | {name for name, _, _ in result.indices}
        try:
            read = entrywise(relation.lhs, relation.rhs, taken, "i")
        except SchemeError as exc:
            raise LatexError(relation.pos, str(exc)) from None
        lhs, rhs = read.lhs, read.rhs
        declared = [  # an index of the claim over the same rows, not used otherwise: that one
            name
            for name, low, high in self.settings.ranges
            if name not in used and same(low, read.low) and same(high, read.high)
        ]
        if declared:
            row: dict[str, ast.expr] = {read.row: ast.Name(declared[0], ast.Load())}
            lhs, rhs = _replace_name(lhs, row), _replace_name(rhs, row)
        else:
            result.indices.append((read.row, read.low, read.high))
        sizes = [Relation(a, b, relation.line, relation.pos) for a, b in read.dimensions]
        return [Relation(lhs, rhs, relation.line, relation.pos), *sizes]

    def skip_breaks(self) -> None:
        while self.peek().kind == "brk":
            self.take()
            self.line += 1

    def part(self, result: Display, defined: list[tuple[ast.expr, ast.expr]]) -> None:
        """One `, \\quad`-separated part: a definition, condition, equation or continuation."""
        token = self.peek()
        if token.kind == "cmd" and token.text == r"\forall" and not result.relations:
            self.quantifier(result)
            return
        if token.kind == "word" and token.text.rstrip(":") in ("where", "with", "for", "if"):
            self.take()
            self.definition(defined, required=True)
            return
        if token.kind == "sym" and token.text == "=" and result.relations:
            self.continuation(result)
            return
        if result.relations and self.definition(defined, False, result.relations):
            return
        start = self.at
        first = self.expression()
        if self.peek().kind == "cmd" and self.peek().text in (r"\leftarrow", r"\gets"):
            self.update(result, first)
            return
        relations: list[tuple[str, ast.expr, int]] = []
        while self.relation_ahead():
            op_token = self.take()
            op = _RELATIONS[op_token.text]
            self.skip_breaks()
            relations.append((op, self.expression(), op_token.pos))
            self.skip_breaks_before_relation()
        if not relations and result.indices and not result.relations:
            # \forall i \in [[0, n]], X: a step that evaluates X; it states that X exists at
            # every index of the range (no neuron or layer past the end), checked as X = X
            result.relations.append(Relation(first, first, self.line, self.tokens[start].pos))
            return
        if not relations:
            raise LatexError(self.tokens[start].pos, "an expression without '=' is not a claim")
        if all(op == "=" for op, _, _ in relations) and not self.is_condition(first, relations):
            for _, rhs, pos in relations:
                result.relations.append(Relation(first, rhs, self.line, pos))
            return
        left = first
        for op, right, _ in relations:
            result.conditions.append(_condition(op, left, right))
            left = right

    def quantifier(self, result: Display) -> None:
        """`\\forall i \\in \\llbracket low, high \\rrbracket`: the display ranges over i."""
        token = self.take()
        index = self.take()
        if index.kind != "char" or len(index.text) != 1:
            raise self.fail("\\forall needs an index letter: \\forall i \\in ...", token)
        if not self.is_(r"\in", "cmd"):
            raise self.fail(f"expected \\in after \\forall {index.text}", self.peek())
        self.take()
        opening = self.peek()
        if not self.is_(r"\llbracket", "cmd"):
            raise self.fail(
                "\\forall reads an integer range with both ends: \\llbracket low, high \\rrbracket",
                opening,
            )
        self.take()
        inside: list[Token] = []
        while not self.is_(r"\rrbracket", "cmd"):
            if self.peek().kind == "end":
                raise self.fail("this \\llbracket is never closed", opening)
            inside.append(self.take())
        self.take()
        parts = _split_commas(inside)
        if len(parts) != 2:
            raise self.fail("expected \\llbracket low, high \\rrbracket", opening)
        low, high = (self.sub_parse(part, opening, index=True) for part in parts)
        result.indices.append((index.text, low, high))
        self.bound.append(index.text)

    def update(self, result: Display, parameter: ast.expr) -> None:
        """`w \\leftarrow w - \\eta g`: gradient descent, read as g = d(loss)/dw."""
        arrow = self.take()
        if self.settings.loss is None:
            raise self.fail(
                "an update is read as gradient descent on the loss: declare it in [latex] "
                "(loss = 'E')",
                arrow,
            )
        if not isinstance(parameter, ast.Name | ast.Subscript):
            raise self.fail("an update's left side is the parameter it changes", arrow)
        step = _descent_step(
            parameter, self.expression(), self.settings.indices | frozenset(self.bound)
        )
        if step is None:
            raise self.fail(
                f"an update is read as {ast.unparse(parameter)} \\leftarrow "
                f"{ast.unparse(parameter)} - \\eta g (a rate, a name used nowhere else, times "
                "the step g)",
                arrow,
            )
        self.step_names |= _names(step)
        gradient = self.differentiate(_copy(self.settings.loss), parameter)
        result.relations.append(Relation(gradient, step, self.line, arrow.pos))

    def skip_breaks_before_relation(self) -> None:
        ahead = 0
        while self.peek(ahead).kind == "brk":
            ahead += 1
        if ahead and self.peek(ahead).text in _RELATIONS:
            for _ in range(ahead):
                self.take()
                self.line += 1

    def continuation(self, result: Display) -> None:
        """`= rhs` on a line of its own: the first left side equals it too."""
        first = result.relations[0].lhs
        while self.is_("=", "sym"):
            token = self.take()
            self.skip_breaks()
            result.relations.append(Relation(first, self.expression(), self.line, token.pos))
            self.skip_breaks_before_relation()

    def relation_ahead(self) -> bool:
        token = self.peek()
        return token.text in _RELATIONS and token.kind in ("sym", "cmd")

    def is_condition(self, first: ast.expr, relations: list[tuple[str, ast.expr, int]]) -> bool:
        """`i = j` between plain indices is a condition on the claim, not a claim."""
        sides = [first, *(rhs for _, rhs, _ in relations)]
        return all(
            isinstance(side, ast.Name) and side.id in self.settings.indices for side in sides
        )

    def definition(
        self,
        defined: list[tuple[ast.expr, ast.expr]],
        required: bool,
        relations: list[Relation] = [],  # noqa: B006 (read, never changed)
    ) -> bool:
        """`k = ...` or `E_i = ...` after the equation: a name the display defines."""
        head = self.peek()
        under = self.peek(1).text == "_"
        letters: list[str] = []
        if under:
            group = self.peek(2)
            if group.text == "{":
                ahead = 3
                while self.peek(ahead).kind == "char" and len(self.peek(ahead).text) == 1:
                    letters.append(self.peek(ahead).text)
                    ahead += 2 if self.peek(ahead + 1).text == "," else 1  # D_{i,j}
                closes = self.peek(ahead).text == "}"
                equal = self.peek(ahead + 1).text == "="
            else:
                letters = [group.text] if group.kind == "char" and len(group.text) == 1 else []
                closes, equal = bool(letters), self.peek(3).text == "="
            fits = head.kind == "char" and closes and equal
        else:
            fits = head.kind in ("char", "cmd") and self.peek(1).text == "="
        step = head.text in self.step_names  # D_{i,j} = ... after w <- w - eta D_{i,j}
        if not fits or (not required and set(letters) & self.settings.indices and not step):
            if required:
                raise self.fail("expected a name to define after 'where'", head)
            return False
        if not required and not under and head.text in self.settings.indices:
            return False
        self.bound.extend(letters)
        name = self.factor()
        self.expect("=")
        value = self.expression()
        del self.bound[len(self.bound) - len(letters) :]
        used = set().union(*(_names(r.lhs) | _names(r.rhs) for r in relations))
        both = isinstance(name, ast.Name) and any(
            name.id in _plain_names(r.lhs) & _plain_names(r.rhs) for r in relations
        )
        constant = not _names(value) - {"pi"}
        if not required and _base(name) in used and (constant or both):
            # 2x = x, \quad x = 0: a second statement, not a definition of the claim's variable
            raise self.fail(
                f"{ast.unparse(name)} = {ast.unparse(value)} after the equation would replace a "
                "variable of the equation (set to a constant, or on both of its sides), so the "
                f"equation would not be checked as written: state it on its own, or write "
                f"`where {ast.unparse(name)} = ...` if it is a definition",
                head,
            )
        defined.append((name, value))
        return True

    # -- expressions

    def expression(self) -> ast.expr:
        self.nested()
        if self.peek().text in ("+", "-"):
            sign = self.take().text
            left = self.term()
            if sign == "-":
                left = ast.UnaryOp(ast.USub(), left)
        else:
            left = self.term()
        while self.peek().kind == "sym" and self.peek().text in ("+", "-"):
            op = self.take().text
            right = self.term()
            left = _bin(left, ast.Add() if op == "+" else ast.Sub(), right)
        self.depth -= 1
        return left

    def term(self) -> ast.expr:
        left = self.factor()
        while True:
            token = self.peek()
            if token.text in _PRODUCTS and token.kind in ("sym", "cmd"):
                self.take()
                left = self.product(left, self.factor(), token)
            elif token.kind == "sym" and token.text == "/":
                self.take()
                left = _bin(left, ast.Div(), self.factor())
            elif self.starts_factor(token):
                left = self.product(left, self.factor(), token)
            else:
                return left

    def ranks(self) -> dict[str, int] | None:
        """A file with [symbols]: the rank of each name; None: the first-edition language."""
        return None if self.settings.tensors is None else dict(self.settings.tensors)

    def product(self, left: ast.expr, right: ast.expr, token: Token) -> ast.expr:
        """left times right: `@` between two operands with components (a file with [symbols])."""
        ranks = self.ranks()
        if ranks is None or token.text in (r"\odot", r"\circ"):
            return _bin(left, ast.Mult(), right)
        left_rank, right_rank = rank(left, ranks), rank(right, ranks)
        if left_rank is None or right_rank is None:
            unknown = ast.unparse(left if left_rank is None else right)
            raise self.fail(
                f"cannot tell whether {unknown[:40]} is a scalar, a vector or a matrix, so "
                "whether this product is a matrix product: declare it in [symbols]",
                token,
            )
        if not (left_rank and right_rank):
            return _bin(left, ast.Mult(), right)
        row_left, row_right = _is_row(left, ranks), _is_row(right, ranks)
        if left_rank == right_rank == 1 and row_right and not row_left:  # \delta a^T: outer
            plain = right.value if isinstance(right, ast.Attribute) else right
            return _call("outer", left, plain)
        fits = {  # (rank, is a row) of each side: a row times a column, a matrix times a column...
            (1, True, 1, False),
            (2, False, 1, False),
            (1, True, 2, False),
            (2, False, 2, False),
        }
        if (left_rank, row_left, right_rank, row_right) not in fits:
            raise self.fail(
                f"{ast.unparse(left)[:30]} times {ast.unparse(right)[:30]} is not a matrix "
                "product of these shapes: write x^T y (inner), x y^T (outer), W x, x^T W, or "
                "\\odot (elementwise)",
                token,
            )
        return _bin(left, ast.MatMult(), right)

    def transpose(self, node: ast.expr, at: int) -> ast.expr:
        """x^T: itself in the first-edition language, `.T` in a file with [symbols]."""
        ranks = self.ranks()
        if ranks is None:
            return node  # a scalar's transpose is itself
        if not rank(node, ranks):
            raise LatexError(at, f"{ast.unparse(node)[:40]}^T: a transpose of a scalar")
        return ast.Attribute(node, "T", ast.Load())

    def starts_factor(self, token: Token) -> bool:
        if token.kind in ("char", "num", "word", "bb"):
            return token.kind != "word" or token.text not in ("if", "else", "otherwise", "where")
        if token.kind == "sym":
            return token.text in ("(", "[", "{", "|") and not (token.text == "|" and self.in_abs)
        if token.kind == "cmd":
            return (
                token.text not in _RELATIONS
                and token.text not in _PRODUCTS
                and token.text
                not in (
                    r"\end",
                    r"\quad",
                    r"\qquad",
                    r"\in",
                    r"\notin",
                    r"\leftarrow",
                    r"\gets",
                )
            )
        return False

    in_abs = False

    def factor(self) -> ast.expr:
        token = self.peek()
        if token.kind == "sym" and token.text == "-":
            self.take()
            self.nested()
            negated = ast.UnaryOp(ast.USub(), self.factor())
            self.depth -= 1
            return negated
        if token.kind == "sym" and token.text == "+":
            self.take()
            return self.factor()
        base = self.primary()
        return self.power(base)

    def power(self, base: ast.expr) -> ast.expr:
        while self.is_("^", "sym"):
            token = self.take()
            group = self.group_tokens()
            if _is_transpose(group):
                base = self.transpose(base, token.pos)
                continue
            base = _bin(base, ast.Pow(), self.exponent(group, token))
        return base

    def primary(self) -> ast.expr:
        token = self.peek()
        if token.kind == "end":
            raise self.fail("the expression ends too early")
        if token.kind == "num":
            self.take()
            value = token.text
            return ast.Constant(float(value) if "." in value else int(value))
        if token.kind == "sym":
            return self.bracketed(token)
        if token.kind == "bb":
            return self.indicator(token)
        if token.kind == "word":
            return self.word(token)
        if token.kind == "char":
            return self.letters(token)
        if token.kind == "cmd":
            return self.command(token)
        raise self.fail(f"unexpected {token.text!r}", token)

    def bracketed(self, token: Token) -> ast.expr:
        pairs = {"(": ")", "[": "]", "{": "}", "|": "|"}
        if token.text not in pairs:
            raise self.fail(f"unexpected {token.text!r}", token)
        self.take()
        saved = self.in_abs
        self.in_abs = token.text == "|"
        inner = self.expression()
        self.in_abs = saved
        if token.text == "(" and self.is_(","):
            raise self.fail("a list in parentheses is not a value here", self.peek())
        self.expect(pairs[token.text])
        if token.text != "|":
            return inner
        ranks = self.ranks()
        inner_rank = None if ranks is None else rank(inner, ranks)
        if inner_rank and self.text.startswith("\\|", token.pos):  # \|x\|: the norm
            if inner_rank != 1:
                raise self.fail("the norm of a matrix is not read: write the sum it stands for")
            return _call("sqrt", _call("sum", _bin(inner, ast.Pow(), _num(2))))
        return _call("Abs", inner)

    # -- names, functions, sub- and superscripts

    def letters(self, token: Token) -> ast.expr:
        word = self.function_word()
        if word is not None:
            return self.function(word, token)
        self.take()
        return self.atom(_Atom(token.text, token.pos, [token]))

    def function_word(self) -> str | None:
        """A declared or built-in function name spelled in letters (ReLU, f), longest first."""
        letters, pos = "", self.peek().pos
        ahead = 0
        while self.peek(ahead).kind == "char" and len(self.peek(ahead).text) == 1:
            token = self.peek(ahead)
            if token.pos != pos + len(letters):
                break
            letters += token.text
            ahead += 1
        for size in range(len(letters), 0, -1):
            name = letters[:size]
            if size == 1 and name not in dict(self.settings.functions):
                continue
            if self.settings.function(name) is None:
                continue
            if name in ("s",) and self.peek(size).text != "(":
                continue
            for _ in range(size):
                self.take()
            return name
        return None

    def word(self, token: Token) -> ast.expr:
        self.take()
        text = token.text
        if self.settings.function(text) is not None:
            return self.function(text, token, taken=True)
        if text == "d":
            return self.atom(_Atom("d", token.pos, [token]))
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", text):
            return self.atom(_Atom(text, token.pos, [token]))
        raise self.fail(f"\\text{{{text}}} is not a name or function derive reads", token)

    def command(self, token: Token) -> ast.expr:
        name = token.text
        bare = name[1:]
        if name in _REFUSED:
            raise self.fail(_REFUSED[name], token)
        if name in (r"\frac", r"\dfrac", r"\tfrac"):
            return self.fraction()
        if name in (r"\sum", r"\prod"):
            return self.sum()
        if name == r"\sqrt":
            self.take()
            return _call("sqrt", self.sub_parse(self.group_tokens(), token))
        if name == r"\begin":
            return self.environment()
        if name == r"\nabla":
            return self.nabla()
        if name == r"\delta" and "delta" not in self.settings.symbols and self.delta_ahead():
            return self.kronecker()
        if self.settings.function(bare) is not None:
            return self.function(bare, token)
        if bare in _GREEK:
            self.take()
            return self.atom(_Atom(bare, token.pos, [token]))
        if name == r"\partial":
            raise self.fail("\\partial outside \\frac{\\partial ...}{\\partial ...}", token)
        known = difflib.get_close_matches(name, _KNOWN, n=1)
        hint = f" (did you mean {known[0]}?)" if known else ""
        raise self.fail(f"{name} is not a function derive knows{hint}", token)

    def atom(self, atom: _Atom) -> ast.expr:
        """A name with its sub/superscripts and primes: a macro, an indexed name or a power."""
        self.scripts(atom)
        is_index = atom.sub is None and atom.base in self.settings.indices | set(self.bound)
        if atom.primes:  # y' by what? only a function's derivative is read from a prime
            raise self.fail(
                f"{atom.base}' is a derivative of a function: declare {atom.base} "
                "in [latex] functions, or write \\frac{d ...}{d ...}",
                Token("char", "", atom.pos),
            )
        macro = None if self.index_mode or is_index else self.macro(atom)
        if macro is not None:
            return self.power_of_atom(macro, atom)
        declared = None if self.index_mode or is_index else self.declared_name(atom)
        if declared is not None:
            return self.power_of_atom(ast.Name(declared, ast.Load()), atom)
        if not is_index:
            self.refuse_undeclared_function(atom)
        euler = atom.base == "e" and "e" not in self.settings.symbols and not is_index
        if euler and atom.sub is None:
            if atom.sup is not None:
                return _exp_of(self.sub_parse(atom.sup, Token("char", "e", atom.pos)))
            return _exp_of(_num(1))
        if atom.base == "pi" and atom.sub is None:
            return self.power_of_atom(ast.Name("pi", ast.Load()), atom)
        layer, rest_sup = self.layer(atom)
        indices, suffix = self.indices(atom)
        name = atom.base + (f"_{suffix}" if suffix else "")
        if layer is not None and not indices and self.settings.network:
            if atom.base.lower() in ("a", "z", "w") and not suffix:  # Z^{[l]}: the vector
                atom.sup = rest_sup
                return self.power_of_atom(family(atom.base.lower(), layer), atom)
            raise self.fail(
                f"{name}^[...] has a layer but no neuron index: a vector or a matrix, which "
                "needs shapes (matrices are read with shapes, which claims do not declare yet)",
                Token("char", name, atom.pos),
            )
        node: ast.expr = ast.Name(name, ast.Load())
        parts = ([layer] if layer is not None else []) + indices
        if parts:
            slice_ = parts[0] if len(parts) == 1 else ast.Tuple(parts, ast.Load())
            node = ast.Subscript(node, slice_, ast.Load())
        atom.sup = rest_sup
        return self.power_of_atom(node, atom)

    def refuse_undeclared_function(self, atom: _Atom) -> None:
        """f(x + y) would read as f times (x + y): f, g, h, and a name written u(x)
        somewhere in the display, are functions."""
        looks = atom.base in _FUNCTION_LETTERS or atom.base in self.applied
        if not looks or atom.base in self.settings.symbols:
            return
        if not self.is_("(", "sym"):
            return
        raise self.fail(
            f"{atom.base}(...) would read as {atom.base} times (...), but {atom.base} is "
            f"written as a function: declare it in [latex] functions ({atom.base} = 'tanh'), "
            f"or write {atom.base} \\cdot (...) for a product",
            Token("char", atom.base, atom.pos),
        )

    def exponent(self, group: list[Token], at: Token) -> ast.expr:
        """A power's exponent; x^{(i)} and W^{[2]} name a sample or a layer, not a power."""
        if _wrapped(group, "[", "]"):
            raise self.fail(
                "a bracketed superscript (W^{[2]}) names a layer, not a power: declare "
                "[latex] layers = 'brackets'",
                at,
            )
        if _wrapped(group, "(", ")"):
            raise self.fail(
                "a parenthesized superscript (x^{(i)}) names a sample or a layer, not a power: "
                "declare [latex] layers = 'superscript' with the name in layered, or write "
                "the power without parentheses",
                at,
            )
        return self.sub_parse(group, at)

    def power_of_atom(self, node: ast.expr, atom: _Atom) -> ast.expr:
        if atom.sup is not None and _is_transpose(atom.sup):
            node = self.transpose(node, atom.pos)
        elif atom.sup is not None:
            node = _bin(node, ast.Pow(), self.exponent(atom.sup, Token("sym", "^", atom.pos)))
        if self.is_("(") and self.tuple_ahead():
            self.skip_arguments()  # s_{z_i}(z_1, ..., z_n): the variables a name is a function of
        return node

    def tuple_ahead(self) -> bool:
        depth = 0
        for ahead in range(len(self.tokens) - self.at):
            token = self.peek(ahead)
            if token.text in ("(", "{", "["):
                depth += 1
            elif token.text in (")", "}", "]"):
                depth -= 1
                if depth == 0:
                    return False
            elif token.text == "," and depth == 1:
                return True
        return False

    def skip_arguments(self) -> None:
        depth, opening = 0, self.peek()
        while True:
            token = self.take()
            if token.kind == "end":
                raise self.fail("this parenthesis is never closed", opening)
            if token.text == "(":
                depth += 1
            elif token.text == ")":
                depth -= 1
                if depth == 0:
                    return

    def scripts(self, atom: _Atom) -> None:
        while True:
            token = self.peek()
            if token.kind == "sym" and token.text == "_" and atom.sub is None:
                self.take()
                atom.sub = self.group_tokens()
            elif token.kind == "sym" and token.text == "^" and atom.sup is None:
                self.take()
                atom.sup = self.group_tokens()
                if atom.sup and atom.sup[0].text == "'":
                    atom.primes += len(atom.sup)
                    atom.sup = None
                    continue
            elif token.kind == "sym" and token.text == "'":
                self.take()
                atom.primes += 1
            else:
                return

    def group_tokens(self) -> list[Token]:
        """The tokens of a braced group, or the single token (or command) after ^ or _."""
        token = self.peek()
        if token.kind == "end":
            raise self.fail("a sub- or superscript is missing")
        if token.text != "{" or token.kind != "sym":
            if token.kind == "num" and len(token.text) > 1:  # x_12 is x_1 times 2, as in TeX
                first = Token("num", token.text[0], token.pos)
                rest = Token("num", token.text[1:], token.pos + 1)
                self.tokens[self.at : self.at + 1] = [first, rest]
                token = first
            self.take()
            return [token]
        depth, start = 0, self.at
        while True:
            token = self.take()
            if token.kind == "end":
                raise self.fail("this brace is never closed", self.tokens[start])
            if token.kind == "sym" and token.text == "{":
                depth += 1
            elif token.kind == "sym" and token.text == "}":
                depth -= 1
                if depth == 0:
                    return self.tokens[start + 1 : self.at - 1]

    def sub_parse(self, tokens: list[Token], at: Token, index: bool = False) -> ast.expr:
        """An expression from a group's tokens; `index`: a subscript, layer or bound."""
        if not tokens:
            raise self.fail("an empty group", at)
        inner = Parser(tokens, self.settings, self.text)
        inner.depth, inner.bound, inner.fresh = self.depth + 1, list(self.bound), self.fresh
        inner.index_mode = index or self.index_mode
        inner.pending = self.pending
        inner.conditions = self.conditions
        inner.applied = self.applied
        if inner.depth > MAX_NESTING:
            raise self.fail(f"nested more than {MAX_NESTING} deep", at)
        tree = inner.expression()
        inner.finish()
        self.fresh = inner.fresh
        return tree

    def macro(self, atom: _Atom) -> ast.expr | None:
        """The tree of a declared name matching the atom (with its superscript, or without)."""
        under = [Token("sym", "_", atom.pos), *atom.sub] if atom.sub is not None else []
        plain = [*atom.tokens, *under]
        tries: list[tuple[list[Token], list[Token] | None]] = [(plain, atom.sup)]
        if atom.sup is not None:
            tries.insert(0, ([*plain, Token("sym", "^", atom.pos), *atom.sup], None))
        for tokens, left in tries:
            text = _canonical(tokens)
            for macro in self.settings.macros:
                match = macro.pattern.fullmatch(text)
                if match is None:
                    continue
                bound: dict[str, ast.expr] = {}
                for name in macro.params:
                    kind, value = match[name].split(":", 1)
                    bound[name] = (
                        ast.Constant(int(value)) if kind == "n" else ast.Name(value, ast.Load())
                    )
                atom.sup = left
                return _replace_name(macro.tree, bound)
        return None

    def layer(self, atom: _Atom) -> tuple[ast.expr | None, list[Token] | None]:
        """The layer a superscript names under the declared scheme, and what is left of it."""
        sup = atom.sup
        if sup is None or self.settings.layers == "none":
            return None, sup
        at = Token("sym", "^", atom.pos)
        if self.settings.layers == "brackets":
            if sup[0].text == "[" and sup[-1].text == "]":
                return self.sub_parse(sup[1:-1], at, index=True), None
            return None, sup
        if atom.base in self.settings.layered and not _is_transpose(sup):
            return self.sub_parse(sup, at, index=True), None
        return None, sup

    def indices(self, atom: _Atom) -> tuple[list[ast.expr], str]:
        """The indices of a subscript (w_{jk}, a_{i,j}, z_{n-1}) or a name suffix (E_{tot})."""
        sub = atom.sub
        if sub is None:
            return [], ""
        known = self.settings.indices | set(self.bound)
        if self.settings.network:
            known |= {"n"}  # the number of layers: a_n is neuron n
        letters = [t for t in sub if t.kind == "char"]
        if all(t.kind == "num" for t in sub) and len(sub) == 1:
            return [ast.Constant(int(float(sub[0].text)))], ""
        if sub and len(letters) == len(sub) and all(len(t.text) == 1 for t in sub):
            if all(t.text in known for t in sub):
                return [ast.Name(t.text, ast.Load()) for t in sub], ""
            return [], "".join(t.text for t in sub)
        if len(sub) == 1 and sub[0].kind in ("word", "char"):
            return [], sub[0].text.replace(" ", "")
        if len(sub) == 1 and sub[0].kind == "cmd" and sub[0].text[1:] in _GREEK:
            return [], sub[0].text[1:]
        parts = _split_commas(sub)
        trees = []
        for part in parts:
            relation = [i for i, t in enumerate(part) if t.text in _RELATIONS]
            if relation:  # z_{k \neq i}: the index is k, and k != i restricts the claim
                at, op = relation[0], _RELATIONS[part[relation[0]].text]
                left = self.sub_parse(part[:at], sub[0], index=True)
                right = self.sub_parse(part[at + 1 :], sub[0], index=True)
                self.conditions.append(_condition(op, left, right))
                part = part[:at]
            trees.append(self.sub_parse(part, sub[0], index=True))
        names = set().union(*(_names(t) for t in trees))
        if names - known - {"s", "n"} and not self.settings.network:
            return [], re.sub(r"\W", "", "".join(t.text for t in sub))
        return trees, ""

    def function(self, name: str, token: Token, taken: bool = False) -> ast.expr:
        """f(x), f'(x), f^2(x), \\log x: a call of a derive function."""
        if not taken and token.kind == "cmd":
            self.take()
        target = self.settings.function(name)
        assert target is not None
        primes, power = 0, None
        while True:
            if self.is_("'", "sym"):
                self.take()
                primes += 1
            elif self.is_("^", "sym"):
                self.take()
                group = self.group_tokens()
                if group and group[0].text == "'":
                    primes += len(group)
                elif [t.text for t in group] == ["-", "1"]:
                    raise self.fail(
                        f"{token.text}^{{-1}} is the inverse function, which derive does not "
                        f"read: write \\frac{{1}}{{{token.text}(x)}} for the reciprocal",
                        token,
                    )
                else:
                    power = self.exponent(group, token)
            elif self.is_("_", "sym") and target in ("log",):
                raise self.fail("a logarithm to another base is not read: use \\ln or \\log")
            else:
                break
        args = self.arguments(token)
        if target == "s" and primes == 0:
            call = _call("s", *args)
        elif primes:
            call = self.derivative_of(target, args, primes, token)
        else:
            call = _apply(target, args, token.pos)
        return _bin(call, ast.Pow(), power) if power is not None else call

    def arguments(self, token: Token) -> list[ast.expr]:
        if self.is_("(", "sym"):
            self.take()
            args = [self.expression()]
            while self.is_(",", "sym"):
                self.take()
                args.append(self.expression())
            self.expect(")")
            return args
        if self.peek().kind == "end" or not self.starts_factor(self.peek()):
            raise self.fail(f"{token.text} needs an argument", token)
        return [self.factor()]

    def derivative_of(self, target: str, args: list[ast.expr], primes: int, at: Token) -> ast.expr:
        if len(args) != 1 or primes > 2:
            raise self.fail(f"{at.text}' takes one argument (and at most two primes)", at)
        arg = args[0]
        if self.ranks() is not None:  # a file with [symbols]: sigmoid'(z), elementwise
            from derive.verify.declarations import FUNCTIONS as TENSOR_FUNCTIONS

            if primes != 1 or f"{target}__prime" not in TENSOR_FUNCTIONS:
                raise self.fail(f"{at.text}' is not a derivative the tensor language has", at)
            return _call(f"{target}__prime", arg)
        if isinstance(arg, ast.Name):
            inner = _apply(target, [arg], at.pos)
            return _call("Derivative", inner, *[arg] * primes)
        dummy = self.dummy(arg)
        inner = _apply(target, [dummy], at.pos)
        return _call("Subs", _call("Derivative", inner, *[dummy] * primes), dummy, arg)

    def dummy(self, *trees: ast.expr) -> ast.Name:
        used = set().union(*(_names(t) for t in trees)) if trees else set()
        while True:
            self.fresh += 1
            name = f"u{self.fresh}"
            if name not in used and name not in self.settings.indices:
                return ast.Name(name, ast.Load())

    # -- fractions and derivatives

    def fraction(self) -> ast.expr:
        start = self.take()
        top = self.group_tokens()
        bottom = self.group_tokens()
        variable = self.differential(bottom)
        if variable is not None and self.differential(top, numerator=True) is not None:
            return self.derivative(top, bottom, start)
        return _bin(self.sub_parse(top, start), ast.Div(), self.sub_parse(bottom, start))

    def differential(self, tokens: list[Token], numerator: bool = False) -> list[Token] | None:
        """The tokens after the `d`/`\\partial` a fraction's part starts with, or None."""
        if not tokens:
            return None
        first = tokens[0]
        is_d = (first.kind in ("char", "word") and first.text == "d") or first.text == r"\partial"
        if not is_d:
            return None
        rest = tokens[1:]
        if numerator:
            return rest
        if not rest or rest[0].text == "^":
            return None
        return rest

    def derivative(self, top: list[Token], bottom: list[Token], at: Token) -> ast.expr:
        variable_tokens = bottom[1:]
        body_tokens = top[1:]
        if body_tokens and body_tokens[0].text == "^":
            raise self.fail("higher derivatives (\\partial^2) are not read yet", at)
        variable = self.sub_parse(variable_tokens, bottom[0])
        if body_tokens:
            body = self.sub_parse(body_tokens, top[0])
            self.check_defined(body, variable, body_tokens[0])
        else:  # \frac{d}{dx} f: the operator applies to the factors that follow
            if not self.starts_factor(self.peek()):
                raise self.fail("\\frac{d}{dx} needs something to differentiate after it", at)
            body = self.term()
        return self.differentiate(body, variable)

    def declared_name(self, atom: _Atom) -> str | None:
        """In a file with [symbols], the declared name an atom spells: W_1, W^{[1]}, W^{(1)} and
        W1 are W1 when W1 is declared; x is x. The atom keeps what is left of its superscript."""
        ranks = self.ranks()
        if ranks is None:
            return None
        sub = "".join(t.text for t in atom.sub) if atom.sub is not None else ""
        sup = [t.text for t in atom.sup] if atom.sup is not None else []
        layer, rest = "", atom.sup
        if len(sup) >= 3 and (sup[0], sup[2]) in (("[", "]"), ("(", ")")) and sup[1].isdigit():
            layer, rest = sup[1], (atom.sup or [])[3:] or None  # W^{(1)T}: T is left
        for name, used_sup in ((atom.base + sub + layer, bool(layer)), (atom.base + sub, False)):
            if name in ranks and re.fullmatch(r"[A-Za-z_0-9]+", name):
                if used_sup:
                    atom.sup = rest
                return name
        return None

    def differentiate(self, body: ast.expr, variable: ast.expr) -> ast.expr:
        ranks = self.ranks()
        if ranks is not None:  # a file with [symbols]: grad of a scalar, jacobian of a vector
            if not isinstance(variable, ast.Name):
                raise LatexError(
                    0,
                    f"a derivative by {ast.unparse(variable)[:40]}: in a file with [symbols], "
                    "differentiate by a declared or defined name",
                )
            body_rank = rank(body, ranks)
            if body_rank is None:
                raise LatexError(0, f"cannot tell the shape of {ast.unparse(body)[:40]}")
            return _call("jacobian" if body_rank else "grad", body, variable)
        if isinstance(variable, ast.Name | ast.Subscript):
            return _call("Derivative", body, variable)
        dummy = self.dummy(body, variable)  # by a quantity: the chain rule through it
        replaced, found = _replace_subtree(body, variable, dummy)
        if not found:
            raise LatexError(
                0,
                f"{ast.unparse(variable)} does not appear in what is "
                "differentiated: nothing to differentiate by",
            )
        return _call("Subs", _call("Derivative", replaced, dummy), dummy, variable)

    def check_defined(self, body: ast.expr, variable: ast.expr, at: Token) -> None:
        """d z / d x with z a bare name nothing defines would be 0 silently: refuse it."""
        if self.ranks() is not None:
            return  # a file with [symbols]: every name is declared or defined, or refused
        plain = isinstance(body, ast.Name) or (
            isinstance(body, ast.Subscript)
            and isinstance(body.value, ast.Name)
            and not (self.settings.network and body.value.id in _NETWORK_NAMES)
        )
        if not plain or ast.dump(body) == ast.dump(variable):
            return
        if isinstance(body, ast.Name) and self.settings.network and body.id in ("Etot",):
            return
        shown = ast.unparse(body)
        error = self.fail(
            f"nothing defines {shown} in terms of {ast.unparse(variable)}: the derivative would "
            f"be 0; declare {shown} in [latex] names",
            at,
        )
        self.pending.append((_base(body), error))

    def raise_undefined(self, defined: set[str]) -> None:
        """The first derivative of a name that nothing, not even a where-clause, defines."""
        for name, error in self.pending:
            if name not in defined:
                raise error

    # -- sums, indicators, Kronecker deltas, gradients

    def sum(self) -> ast.expr:
        start = self.take()
        sub = self.group_tokens() if self.is_("_", "sym") and self.take() else None
        sup = self.group_tokens() if self.is_("^", "sym") and self.take() else None
        if sub is None and sup is None and self.ranks() is not None and start.text == r"\sum":
            return _call("sum", self.term())  # a file with [symbols]: the sum of the entries
        if sub is None:
            raise self.fail("a sum needs its index: \\sum_{i=1}^{n}", start)
        parts = _split_commas(sub)
        head = parts[0]
        if not head or head[0].kind != "char":
            raise self.fail("a sum's index must be a letter", start)
        index = head[0].text
        exclusions: list[ast.expr] = []
        low: ast.expr | None = None
        if len(head) > 1 and head[1].text == "=":
            low = self.sub_parse(head[2:], start, index=True)
        elif len(head) > 1 and head[1].text in (r"\neq", r"\ne"):
            exclusions.append(self.sub_parse(head[2:], start, index=True))
        elif len(head) > 1:
            raise self.fail("a sum's subscript is index = low (or index \\neq j)", start)
        for part in parts[1:]:
            if len(part) > 2 and part[0].text == index and part[1].text in (r"\neq", r"\ne"):
                exclusions.append(self.sub_parse(part[2:], start, index=True))
            else:
                raise self.fail("after the sum's index only 'j \\neq i' is read", start)
        from_scheme = False  # \sum_m in a network claim: m's range is the neuron range
        if (low is None) != (sup is None):
            raise self.fail("a sum with one limit: write both (\\sum_{i=1}^{n})", start)
        if low is None or sup is None:
            if self.settings.sum_range is not None:
                low, high = self.settings.sum_range
            elif self.settings.network:
                from_scheme, low, high = True, _num(0), _num(0)
            else:
                raise self.fail(
                    "a sum without limits: write them, or declare [latex] sum_range", start
                )
        else:
            high = self.sub_parse(sup, start, index=True)
        self.bound.append(index)
        body = self.term()
        self.bound.pop()
        if from_scheme:
            try:
                low, high = neuron_range(body, index)
            except SchemeError as exc:
                raise self.fail(str(exc), start) from None
        for other in exclusions:
            keep = _bin(
                _num(1), ast.Sub(), _call("KroneckerDelta", ast.Name(index, ast.Load()), other)
            )
            body = _bin(keep, ast.Mult(), body)
        limits = ast.Tuple([ast.Name(index, ast.Load()), low, high], ast.Load())
        if start.text == r"\prod":
            if exclusions:
                raise self.fail("a product leaving out a term (j \\neq i) is not read", start)
            return _call("Product", body, limits)
        return _call("Sum", body, limits)

    def delta_ahead(self) -> bool:
        if self.peek(1).text != "_":
            return False
        group = self.peek(2)
        if group.text != "{":
            return False
        inside = []
        ahead = 3
        while self.peek(ahead).text != "}" and self.peek(ahead).kind != "end":
            inside.append(self.peek(ahead))
            ahead += 1
        return len([t for t in inside if t.text != ","]) == 2

    def kronecker(self) -> ast.expr:
        token = self.take()
        self.take()  # _
        parts = [t for t in self.group_tokens() if t.text != ","]
        first, second = (self.sub_parse([t], token, index=True) for t in parts)
        return _call("KroneckerDelta", first, second)

    def indicator(self, token: Token) -> ast.expr:
        self.take()
        if token.text != "1":
            raise self.fail(f"\\mathbb{{{token.text}}} is a set: use it after \\in", token)
        if self.is_("_", "sym"):
            self.take()
            tokens = self.group_tokens()
            inner = Parser(tokens, self.settings, self.text)
            condition = inner.condition()
        else:
            close = {"[": "]", "(": ")", "{": "}"}.get(self.peek().text)
            if close is None:
                raise self.fail("\\mathbb{1} takes its condition in [ ]", token)
            self.take()
            condition = self.condition()
            self.expect(close)
        return _call(
            "Piecewise",
            ast.Tuple([_num(1), condition], ast.Load()),
            ast.Tuple([_num(0), ast.Constant(True)], ast.Load()),
        )

    def nabla(self) -> ast.expr:
        token = self.take()
        if not self.is_("_", "sym"):
            raise self.fail("\\nabla needs the variable as a subscript: \\nabla_a C", token)
        self.take()
        variable = self.sub_parse(self.group_tokens(), token)
        body = self.factor()
        self.check_defined(body, variable, token)
        return self.differentiate(body, variable)

    # -- environments: cases, matrices

    def environment(self) -> ast.expr:
        token = self.peek()
        name, after = _environment_name(self.tokens, self.at)
        self.at = after
        if name == "cases":
            return self.cases(token)
        if name in ("pmatrix", "bmatrix", "matrix", "Bmatrix"):
            return self.matrix(token)
        raise self.fail(f"the environment {name} is not read", token)

    def matrix(self, token: Token) -> ast.expr:
        """A matrix or column vector of a layer's names, with \\dots elisions: its pattern."""
        self.nested()
        grid: list[list[ast.expr | None]] = [[]]
        while not self.is_(r"\end", "cmd"):
            if self.peek().kind == "end":
                raise self.fail("this matrix is never closed (\\end{pmatrix})", token)
            if self.peek().kind == "cmd" and self.peek().text in _ELISIONS:
                self.take()
                grid[-1].append(None)
            else:
                grid[-1].append(self.expression())
            if self.is_("&", "sym"):
                self.take()
            elif self.peek().kind == "brk":
                self.take()
                if not self.is_(r"\end", "cmd"):
                    grid.append([])
            elif not self.is_(r"\end", "cmd"):
                raise self.fail("expected &, \\\\ or \\end{...} in a matrix")
        _, self.at = _environment_name(self.tokens, self.at)
        self.depth -= 1
        try:
            return pattern(grid, self.settings.network)
        except SchemeError as exc:
            raise self.fail(str(exc), token) from None

    def cases(self, token: Token) -> ast.expr:
        self.nested()
        pairs = []
        while True:
            while self.peek().kind == "brk":
                self.take()
            if self.is_(r"\end", "cmd"):
                _, self.at = _environment_name(self.tokens, self.at)
                break
            value = self.expression()
            if self.is_(",", "sym"):
                self.take()
            self.expect("&")
            condition = self.condition()
            if self.is_(",", "sym") or self.is_(".", "sym"):
                self.take()
            pairs.append(ast.Tuple([value, condition], ast.Load()))
            if self.peek().kind not in ("brk",) and not self.is_(r"\end", "cmd"):
                raise self.fail("expected \\\\ or \\end{cases}")
        self.depth -= 1
        if not pairs:
            raise self.fail("empty cases", token)
        return _call("Piecewise", *pairs)

    def condition(self) -> ast.expr:
        """`\\text{if } x > 0`, `x \\in \\mathbb{R}_+^*`, `i = k`, `\\text{otherwise}`."""
        token = self.peek()
        if token.kind == "word":
            words = token.text.rstrip(",").split()
            if words and words[0] in ("otherwise", "else", "sinon"):
                self.take()
                return ast.Constant(True)
            if words and words[0] in ("if", "for", "when", "si"):
                self.take()
                if len(words) > 1:
                    raise self.fail("write the condition outside \\text{}", token)
        left = self.expression()
        if self.is_(r"\in", "cmd"):
            return self.membership(left)
        if not self.relation_ahead():
            raise self.fail("expected a condition (x > 0, i = k, \\text{otherwise})")
        op = _RELATIONS[self.take().text]
        result = _condition(op, left, self.expression())
        while self.relation_ahead():  # 0 < x < 1
            op = _RELATIONS[self.take().text]
            right = self.expression()
            previous = result.comparators[0] if isinstance(result, ast.Compare) else left
            result = ast.BoolOp(ast.And(), [result, _condition(op, previous, right)])
        return result

    def membership(self, left: ast.expr) -> ast.expr:
        token = self.take()
        bb = self.peek()
        if bb.kind != "bb" or bb.text != "R":
            raise self.fail(
                "only x \\in \\mathbb{R}, \\mathbb{R}_+, \\mathbb{R}_-^* ... are read", bb
            )
        self.take()
        sign, star = "", False
        while self.peek().text in ("_", "^"):
            which = self.take().text
            group = [t.text for t in self.group_tokens()]
            if which == "_" and group in (["+"], ["-"]):
                sign = group[0]
            elif which == "^" and group in (["*"], [r"\ast"]):
                star = True
            elif which == "^" and group in (["+"], ["-"]):
                sign = group[0]
            else:
                raise self.fail(
                    "only \\mathbb{R}_+, \\mathbb{R}_-, with ^* for nonzero, are read", token
                )
        zero = _num(0)
        if not sign:
            return _call("Ne", left, zero) if star else ast.Constant(True)
        op = {("+", True): ast.Gt(), ("+", False): ast.GtE(), ("-", True): ast.Lt()}
        return ast.Compare(left, [op.get((sign, star), ast.LtE())], [zero])


def _define(tree: ast.expr, name: ast.expr, value: ast.expr) -> ast.expr:
    """tree with each use of a defined name (k, or E[i] for any index) replaced by its value."""
    if isinstance(name, ast.Name):
        return _replace_name(tree, {name.id: value})
    if not (isinstance(name, ast.Subscript) and isinstance(name.value, ast.Name)):
        return tree
    params = _slice(name)
    if not all(isinstance(p, ast.Name) for p in params):
        return tree
    base = name.value.id

    class Swap(ast.NodeTransformer):
        def visit_Subscript(self, original: ast.Subscript) -> Any:
            node = self.generic_visit(original)
            if not isinstance(node, ast.Subscript):
                return node
            if not (isinstance(node.value, ast.Name) and node.value.id == base):
                return node
            used = _slice(node)
            if len(used) != len(params):
                return node
            bound = {p.id: u for p, u in zip(params, used, strict=True)}  # type: ignore[attr-defined]
            return _replace_name(value, bound)

    return Swap().visit(_copy(tree))


def _base(tree: ast.expr) -> str:
    """The name of a name or of an indexed name."""
    if isinstance(tree, ast.Subscript):
        tree = tree.value
    return tree.id if isinstance(tree, ast.Name) else ""


def check_depth(tree: ast.expr) -> None:
    """Refuse a tree deeper than the claims language allows, before anything recurses on it."""
    from derive.verify.claims import MAX_DEPTH

    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise LatexError(0, "expression too large or too deeply nested")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _slice(node: ast.Subscript) -> list[ast.expr]:
    return list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]


def _condition(op: str, left: ast.expr, right: ast.expr) -> ast.expr:
    if op == "=":
        return _call("Eq", left, right)
    if op == "!=":
        return _call("Ne", left, right)
    compare = {"<": ast.Lt(), ">": ast.Gt(), "<=": ast.LtE(), ">=": ast.GtE()}[op]
    return ast.Compare(left, [compare], [right])


def _is_transpose(tokens: list[Token]) -> bool:
    texts = [t.text for t in tokens]
    return texts in (["T"], [r"\top"], [r"\intercal"], [r"\mathsf"], ["\\mathrm"])


def _applied(tokens: list[Token]) -> set[str]:
    """Letters written before one letter in parentheses, u(x): a function's notation."""
    return {
        tokens[k].text
        for k in range(len(tokens) - 3)
        if tokens[k].kind == "char"
        and [t.text for t in tokens[k + 1 : k + 4 : 2]] == ["(", ")"]
        and tokens[k + 2].kind == "char"
    }


def _wrapped(tokens: list[Token], opening: str, closing: str) -> bool:
    """The group is one bracketed part: (i), [l - 1], not (a)(b)."""
    if len(tokens) < 2 or tokens[0].text != opening or tokens[-1].text != closing:
        return False
    depth = 0
    for token in tokens[:-1]:
        depth += {opening: 1, closing: -1}.get(token.text, 0) if token.kind == "sym" else 0
        if depth == 0:
            return False
    return True


def _split_commas(tokens: list[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.text in ("(", "{", "["):
            depth += 1
        elif token.text in (")", "}", "]"):
            depth -= 1
        if token.text == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _descent_step(
    parameter: ast.expr, update: ast.expr, indices: frozenset[str]
) -> ast.expr | None:
    """g in `parameter - rate * g` (or `g * rate`), the rate a name used nowhere else."""
    if not (isinstance(update, ast.BinOp) and isinstance(update.op, ast.Sub)):
        return None
    if ast.dump(update.left) != ast.dump(parameter):
        return None
    factors: list[ast.expr] = []
    todo = [update.right]
    while todo:
        node = todo.pop(0)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            todo[:0] = [node.left, node.right]
        else:
            factors.append(node)
    for rate in (factors[0], factors[-1]) if len(factors) > 1 else ():
        rest = [f for f in factors if f is not rate]
        others = set().union(indices, _names(parameter), *(_names(f) for f in rest))
        if isinstance(rate, ast.Name) and rate.id not in others:
            step = rest[0]
            for factor in rest[1:]:
                step = _bin(step, ast.Mult(), factor)
            return step
    return None


def _is_row(node: ast.expr, ranks: dict[str, int]) -> bool:
    """A row vector: a transposed vector, or a row times a matrix (x^T W)."""
    if isinstance(node, ast.Attribute):
        return rank(node.value, ranks) == 1
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return _is_row(node.left, ranks) and rank(node.right, ranks) == 2
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Div):
        return _is_row(node.left, ranks) or _is_row(node.right, ranks)
    return isinstance(node, ast.UnaryOp) and _is_row(node.operand, ranks)
