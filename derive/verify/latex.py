"""The LaTeX front end: a display equation in, trees of the SymPy-syntax language out.

LaTeX is read by the tokenizer here and the recursive-descent parser of
derive/verify/latex_parser.py (one pass over the text, nesting capped), and translated into the same
checked `ast` trees `claims.parse_expression` makes from SymPy syntax:
`\\frac{\\partial E_i}{\\partial a_i^{[n-1]}}` becomes `Derivative(E[i], a[n - 1, i])`. Those
trees go through the same whitelist check and the same builder, so both front ends share one
validation and one meaning. Nothing is evaluated.

How names, sub- and superscripts are read is declared once per file in a `[latex]` table
(`Settings`); docs/claims.md, "LaTeX", documents it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field, replace
from typing import Any

from derive.errors import DeriveError, escape, input_error
from derive.verify.latex_scheme import has_family, same

__all__ = [
    "Display",
    "LatexError",
    "Relation",
    "Settings",
    "display_claims",
    "parse_display",
    "parse_side",
    "settings_from_table",
    "tokenize",
]

MAX_TOKENS = 1500  # tokens in one display
MAX_NESTING = 30  # groups, fractions and environments inside one another

# LaTeX name -> derive function (claims.FUNCTIONS) or an expansion into exp
_FUNCTIONS = {
    "sigma": "sigmoid",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "exp": "exp",
    "log": "log",
    "ln": "log",
    "max": "Max",
    "min": "Min",
    "sqrt": "sqrt",
    "ReLU": "relu",
    "relu": "relu",
    "Relu": "relu",
    "cosh": "cosh",
    "sinh": "sinh",
    "sech": "sech",
}
_TARGETS = {"sigmoid", "tanh", "exp", "log", "Max", "Min", "sqrt", "relu", "cosh", "sinh", "sech"}
_TARGETS |= {"s", "Abs"}


def _words(text: str) -> list[str]:
    return text.split()


_GREEK = _words(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi"
    " pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi"
    " Psi Omega ell"
)
_DROPPED = {  # spacing and sizing: no meaning in an expression
    "\\ ",
    *_words(r"\, \; \: \! \left \right \big \Big \bigg \Bigg \bigl \bigr \Bigl \Bigr"),
    *_words(r"\biggl \biggr \Biggl \Biggr \displaystyle \textstyle \limits \nolimits \nonumber"),
}
_FONTS = _words(r"\mathbf \boldsymbol \bm \vec \mathcal \mathit \mathsf \pmb \mathscr \mathnormal")
_WORDS = _words(r"\text \mathrm \operatorname \textrm \textit \mbox \textbf \textnormal")
_ACCENTS = {r"\hat": "hat", r"\widehat": "hat", r"\bar": "bar", r"\tilde": "tilde"}
_ACCENTS |= {r"\overline": "bar", r"\dot": "dot"}
_RELATIONS = {
    "=": "=",
    "<": "<",
    ">": ">",
    r"\le": "<=",
    r"\leq": "<=",
    r"\leqslant": "<=",
    r"\ge": ">=",
    r"\geq": ">=",
    r"\geqslant": ">=",
    r"\neq": "!=",
    r"\ne": "!=",
}
_PRODUCTS = {"*", r"\cdot", r"\times", r"\odot", r"\circ", r"\ast"}
_REFUSED = {
    r"\dots": "elided terms (\\dots) cannot be read: write the expression out",
    r"\cdots": "elided terms (\\cdots) cannot be read: write the expression out",
    r"\ldots": "elided terms (\\ldots) cannot be read: write the expression out",
    r"\vdots": "elided terms (\\vdots) cannot be read: write the expression out",
    r"\ddots": "elided terms (\\ddots) cannot be read: write the expression out",
    r"\leftarrow": "an update (x \\leftarrow x - \\eta g) is read only as the whole display",
    r"\gets": "an update (x \\gets x - \\eta g) is read only as the whole display",
    r"\rightarrow": "an arrow is not an equation",
    r"\to": "an arrow is not an equation",
    r"\Rightarrow": "an implication is not an equation",
    r"\Leftrightarrow": "an equivalence is not an equation",
    r"\iff": "an equivalence is not an equation",
    r"\implies": "an implication is not an equation",
    r"\forall": "a quantifier is read only at the start of a display: \\forall i \\in "
    "\\llbracket 0, n \\rrbracket, ...",
    r"\approx": "an approximation is not an equation",
    r"\infty": "infinity is not a value derive checks",
    r"\int": "integrals are not read",
    r"\lim": "limits are not read",
}
_KNOWN = sorted(
    {f"\\{name}" for name in [*_FUNCTIONS, *_GREEK]}
    | set(_DROPPED)
    | set(_FONTS)
    | set(_WORDS)
    | set(_ACCENTS)
    | set(_RELATIONS)
    | set(_PRODUCTS)
    | set(_REFUSED)
    | {
        "\\frac",
        "\\dfrac",
        "\\tfrac",
        "\\partial",
        "\\sum",
        "\\prod",
        "\\begin",
        "\\end",
        "\\quad",
        "\\qquad",
        "\\mathbb",
        "\\nabla",
        "\\in",
        "\\notin",
        "\\sqrt",
        "\\top",
        "\\intercal",
        "\\llbracket",
        "\\prime",
        "\\rrbracket",
        "\\tag",
        "\\label",
        "\\{",
        "\\}",
        "\\|",
        "\\operatorname",
        "\\text",
    }
)


class LatexError(Exception):
    """A refusal at a place of the LaTeX text."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message

    def show(self, where: str, text: str) -> str:
        """`where: col N: message` and the line of text with a caret under the place.

        The line is shown escaped (a tab as `\\t`), so a report can print it as it is, and cut
        to SHOWN_LINE characters around the place; the caret is counted in what is shown, so
        it stays under the place whatever the line holds."""
        line_start = text.rfind("\n", 0, self.pos) + 1
        line_end = text.find("\n", self.pos)
        line = text[line_start : None if line_end < 0 else line_end]
        col = self.pos - line_start
        shown, caret = _window([escape(c) for c in line], col)
        return f"{where}: col {col + 1}: {self.message}\n    {shown}\n    {' ' * caret}^"


SHOWN_LINE = 100  # characters of a LaTeX line shown around an error's place


def _window(pieces: list[str], col: int) -> tuple[str, int]:
    """The escaped characters around `col` that fit in SHOWN_LINE, and where col is in them:
    up to half the width before the place, the rest after it, then before it again."""
    start = end = col
    width = 0
    for limit in (SHOWN_LINE // 2, SHOWN_LINE):
        while start > 0 and width + len(pieces[start - 1]) <= limit:
            start -= 1
            width += len(pieces[start])
        while end < len(pieces) and width + len(pieces[end]) <= SHOWN_LINE:
            width += len(pieces[end])
            end += 1
    return "".join(pieces[start:end]), sum(len(p) for p in pieces[start:col])


# --- settings: the [latex] table -----------------------------------------------------------


@dataclass(frozen=True)
class Macro:
    """A declared name: a LaTeX atom (letters in its subscript match any index) -> a tree."""

    pattern: re.Pattern[str]
    params: tuple[str, ...]
    tree: ast.expr


@dataclass(frozen=True)
class Settings:
    """How one file's LaTeX is read (the `[latex]` table), and the claim's index names."""

    layers: str = "none"  # none | brackets: a_i^{[l]} -> a[l, i] | superscript: a^l_i
    layered: frozenset[str] = frozenset({"a", "z", "w", "b", "W", "delta"})
    symbols: frozenset[str] = frozenset()  # e, sigma, delta read as plain symbols
    functions: tuple[tuple[str, str], ...] = ()  # LaTeX name -> derive function
    macros: tuple[Macro, ...] = ()
    sum_range: tuple[ast.expr, ast.expr] | None = None  # bounds of \sum_k without limits
    indices: frozenset[str] = frozenset()  # subscripts made of these are indices
    network: bool = False  # a, z, w, t, E are the network's quantities
    loss: ast.expr | None = None  # what an update (w \leftarrow w - \eta g) descends
    ranges: tuple[tuple[str, ast.expr, ast.expr], ...] = ()  # the claim's indices and bounds
    # a file with [symbols]: the rank of each declared and defined name (tensor language)
    tensors: tuple[tuple[str, int], ...] | None = None

    def function(self, name: str) -> str | None:
        """The derive function a LaTeX name stands for, or None."""
        declared = dict(self.functions)
        if name in declared:
            return declared[name]
        if name in self.symbols:
            return None
        return _FUNCTIONS.get(name)

    def with_names(self, where: str, names: object) -> Settings:
        """These settings with more declared names (a claim's `latex_names`), first in line."""
        if not isinstance(names, dict):
            raise DeriveError(f"{where}: latex_names: expected a table of LaTeX = expression")
        return replace(self, macros=(*_macros(where, names, self), *self.macros))

    def for_claim(self, indices: set[str], network: bool) -> Settings:
        """These settings with a claim's index names and kind."""
        return replace(self, indices=frozenset(indices), network=network)


_TABLE_KEYS = {"layers", "layered", "symbols", "functions", "names", "sum_range", "loss"}


def settings_from_table(path: object, raw: object) -> Settings:
    """The `[latex]` table of a claims file; DeriveError naming the key when it is wrong."""
    from derive.verify.claims import parse_expression

    if not isinstance(raw, dict):
        raise input_error(str(path), "latex", "a table", raw)
    unknown = set(raw) - _TABLE_KEYS
    if unknown:
        raise input_error(str(path), f"latex.{sorted(unknown)[0]}", ", ".join(_TABLE_KEYS), "?")
    layers = raw.get("layers", "none")
    if layers not in ("none", "brackets", "superscript"):
        raise input_error(str(path), "latex.layers", "none, brackets or superscript", layers)
    sets = {}
    for key in ("layered", "symbols"):
        names = raw.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise input_error(str(path), f"latex.{key}", "a list of names", names)
        sets[key] = frozenset(names)
    settings = Settings(layers=layers, symbols=sets["symbols"])
    if "layered" in raw:
        settings = replace(settings, layered=sets["layered"])
    functions = raw.get("functions", {})
    if not isinstance(functions, dict) or not all(v in _TARGETS for v in functions.values()):
        raise input_error(
            str(path), "latex.functions", f"name = one of {', '.join(sorted(_TARGETS))}", functions
        )
    names = raw.get("names", {})
    if not isinstance(names, dict):
        raise input_error(str(path), "latex.names", "a table of LaTeX = expression", names)
    bounds = None
    if "sum_range" in raw:
        pair = raw["sum_range"]
        if not isinstance(pair, list) or len(pair) != 2:
            raise input_error(str(path), "latex.sum_range", "[low, high]", pair)
        low, high = (parse_expression(str(b), f"{path}: latex.sum_range") for b in pair)
        bounds = (low, high)
    settings = replace(settings, functions=tuple(sorted(functions.items())), sum_range=bounds)
    settings = replace(settings, macros=tuple(_macros(f"{path}: latex.names", names, settings)))
    if "loss" in raw:  # LaTeX, read with the names above: loss = 'E_{tot}'
        if not isinstance(raw["loss"], str):
            raise input_error(str(path), "latex.loss", "the loss as LaTeX text", raw["loss"])
        try:
            loss = parse_side(raw["loss"], replace(settings, network=True))
        except LatexError as exc:
            raise DeriveError(exc.show(f"{path}: latex.loss", raw["loss"])) from None
        settings = replace(settings, loss=loss)
    return settings


def tensor_settings(settings: Settings, declarations: Any) -> Settings:
    """The settings of a file with [symbols]: LaTeX read in the tensor language."""
    from derive.verify.latex_tensors import ranks

    return replace(settings, tensors=tuple(sorted(ranks(declarations).items())))


def tensor_definition(value: object, where: str, settings: Settings, above: Any) -> Any:
    """A definition `{ latex = '...' }` of a file with [symbols], read with the names above."""
    from derive.verify.claims import MAX_LATEX, Expression, LatexSideError, check_latex_tree

    text = value.get("latex") if isinstance(value, dict) and set(value) == {"latex"} else None
    if not isinstance(text, str) or len(text) > MAX_LATEX:
        raise DeriveError(
            f"{where}: expected an expression string or {{ latex = '...' }} (up to {MAX_LATEX} "
            f"characters), found {value!r:.60}"
        )
    try:
        tree = parse_side(text, tensor_settings(settings, above))
        check_latex_tree(tree, where, text, tensor=True)
    except LatexError as exc:
        raise DeriveError(exc.show(where, text)) from None
    except LatexSideError as exc:
        raise DeriveError(str(exc)) from None
    return Expression(text, tree, where=where)


def _macros(where: str, names: dict[str, Any], settings: Settings) -> list[Macro]:
    """Declared names, in order; a value is SymPy syntax, or `{ latex = '...' }` read with
    `settings` and the names declared above it."""
    from derive.verify.claims import parse_expression

    macros: list[Macro] = []
    for key, value in names.items():
        at = f"{where}.{key}"
        if isinstance(value, dict) and set(value) == {"latex"} and isinstance(value["latex"], str):
            above = replace(settings, macros=(*reversed(macros), *settings.macros))
            try:
                tree = parse_side(value["latex"], above)
            except LatexError as exc:
                raise DeriveError(exc.show(at, value["latex"])) from None
        else:
            tree = parse_expression(value, at)
        macros.append(_macro(key, tree, at))
    return macros


def _macro(key: str, tree: ast.expr, where: str) -> Macro:
    try:
        tokens = [t for t in tokenize(key) if t.text not in ("{", "}")]
    except LatexError as exc:
        raise DeriveError(exc.show(where, key)) from None
    under = next((i for i, t in enumerate(tokens) if t.text == "_"), None)
    sub = [] if under is None else tokens[under + 1 :]
    sub = sub[: next((i for i, t in enumerate(sub) if t.text == "^"), len(sub))]
    word = len(sub) > 1 and all(t.kind == "char" for t in sub)  # E_{tot}: literal
    wild = {id(t) for t in sub if t.kind == "char" and len(t.text) == 1 and not word}
    parts, params = [], []
    for token in tokens:
        if id(token) in wild and token.text in params:
            parts.append(f"(?P={token.text})")
        elif id(token) in wild:
            params.append(token.text)
            parts.append(f"(?P<{token.text}>[cn]:[A-Za-z0-9]+)")
        else:
            parts.append(re.escape(_canonical([token])))
    return Macro(re.compile(" ".join(parts)), tuple(params), tree)


def _canonical(tokens: list[Token]) -> str:
    """The tokens of an atom as one string, braces aside, for matching declared names."""
    return " ".join(f"{t.kind[0]}:{t.text}" for t in tokens if t.text not in ("{", "}"))


# --- tokens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """One unit of LaTeX: a command, a letter, a number, a symbol, a word (\\text{...})."""

    kind: str  # cmd | char | num | sym | word | bb | brk | end
    text: str
    pos: int


_TOKEN = re.compile(
    r"(?P<brk>\\\\)|(?P<cmd>\\(?:[A-Za-z]+|.))|(?P<num>\d+(?:\.\d+)?)|(?P<char>[A-Za-z])"
    r"|(?P<space>\s+)|(?P<sym>[-+*/=<>()\[\]{}^_',&|!.;:])|(?P<other>.)",
    re.DOTALL,
)


def tokenize(text: str) -> list[Token]:
    """The tokens of a LaTeX text; LatexError at the first character that cannot be read."""
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        assert match is not None
        kind, value = match.lastgroup or "other", match.group()
        pos = match.end()
        if kind == "space":
            continue
        if kind == "other":
            raise LatexError(match.start(), f"{value!r} is not LaTeX derive reads")
        if kind == "cmd":
            pos = _command(text, value, match.start(), pos, out)
            continue
        out.append(Token(kind, value, match.start()))
        if len(out) > MAX_TOKENS:
            raise LatexError(match.start(), f"more than {MAX_TOKENS} tokens in one display")
    return out


def _command(text: str, name: str, start: int, pos: int, out: list[Token]) -> int:
    """Append the tokens of the command `name` found at `start`; the position after it."""
    if name in _DROPPED:
        if name in (r"\left", r"\right") and text[pos : pos + 1] == ".":
            return pos + 1
        return pos
    if name in (r"\{", r"\}"):
        out.append(Token("sym", "(" if name == r"\{" else ")", start))
        return pos
    if name == r"\|":
        out.append(Token("sym", "|", start))
        return pos
    if name == r"\prime":  # \sigma^{\prime}(z): a prime
        out.append(Token("sym", "'", start))
        return pos
    if name in _FONTS or name in _WORDS or name in _ACCENTS or name == r"\mathbb":
        body_start, body_end = _braced(text, pos, start, name)
        body = text[body_start:body_end]
        if name in _WORDS:
            out.append(Token("word", body.strip(), start))
        elif name == r"\mathbb":
            out.append(Token("bb", body.strip(), start))
        elif name in _ACCENTS:
            inner = [t for t in tokenize(body) if t.text not in "{}"]
            if len(inner) != 1 or inner[0].kind not in ("char", "cmd"):
                raise LatexError(start, f"{name} takes one letter here")
            letter = inner[0].text.lstrip("\\")
            out.append(Token("char", f"{letter}_{_ACCENTS[name]}", start))
        else:
            inner = tokenize(body)
            shifted = [Token(t.kind, t.text, t.pos + body_start) for t in inner]
            out.extend(shifted if len(shifted) == 1 else [Token("sym", "{", start), *shifted])
            if len(shifted) != 1:
                out.append(Token("sym", "}", body_end))
        return body_end + 1
    out.append(Token("cmd", name, start))
    return pos


def _braced(text: str, pos: int, start: int, name: str) -> tuple[int, int]:
    """The span inside the braces after a command (or the one character that is its argument)."""
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text):
        raise LatexError(start, f"{name} needs an argument")
    if text[pos] != "{":
        return pos, pos + 1
    depth = 0
    for end in range(pos, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            return pos + 1, end
    raise LatexError(pos, "this brace is never closed")


# --- displays: lines, relations, conditions and definitions ---------------------------------


@dataclass(frozen=True)
class Relation:
    """`lhs = rhs` as read from one line of a display."""

    lhs: ast.expr
    rhs: ast.expr
    line: int  # 1-based line of the display (a `\\` starts a new line)
    pos: int


@dataclass
class Display:
    """The relations of a display equation, its conditions (i \\neq j) and where-clauses."""

    relations: list[Relation] = field(default_factory=list)
    conditions: list[ast.expr] = field(default_factory=list)
    # indices the display itself ranges over (\forall i \in [[0, n]], a vector's rows)
    indices: list[tuple[str, ast.expr, ast.expr]] = field(default_factory=list)


_ENVIRONMENTS = {"aligned", "align", "align*", "gather", "gather*", "gathered", "equation"}
_ENVIRONMENTS |= {"equation*", "split", "multline", "multline*", "alignat", "alignat*", "eqnarray"}
_ENVIRONMENTS |= {"eqnarray*", "displaymath", "math"}


def parse_display(text: str, settings: Settings) -> Display:
    """Every relation of a display (a chain `a = b = c`, aligned lines, `, \\quad` parts)."""
    if not isinstance(text, str):
        raise LatexError(0, "expected LaTeX text")
    from derive.verify.latex_parser import Parser

    tokens = _strip_display(tokenize(text))
    return Parser(tokens, settings, text).display()


def parse_side(text: str, settings: Settings) -> ast.expr:
    """One side of a claim (`lhs_latex`, `rhs_latex`): a single expression."""
    from derive.verify.latex_parser import Parser, check_depth

    tokens = _strip_display(tokenize(text))
    parser = Parser(tokens, settings, text)
    tree = parser.expression()
    parser.finish()
    parser.raise_undefined(set())
    check_depth(tree)
    if has_family(tree):
        raise LatexError(
            0,
            "a layered vector or matrix (Z^{[l]}) is read only in a claim given by its latex "
            "(row by row)",
        )
    return tree


def _strip_display(tokens: list[Token]) -> list[Token]:
    """Tokens without math delimiters, alignment, tags and equation numbers."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "cmd" and token.text in (r"\begin", r"\end"):
            name, after = _environment_name(tokens, i)
            if name in _ENVIRONMENTS:
                i = after
                if name in ("alignat", "alignat*") and token.text == r"\begin":
                    i = _skip_group(tokens, i)
                continue
        if token.kind == "cmd" and token.text in (r"\tag", r"\label", r"\tag*"):
            i = _skip_group(tokens, i + 1)
            continue
        if token.kind == "cmd" and token.text in (r"\[", r"\]", r"\(", r"\)"):
            i += 1
            continue
        out.append(token)
        i += 1
    return _drop_number(_drop_alignment(_drop_inner_numbers(out)))


def _drop_inner_numbers(tokens: list[Token]) -> list[Token]:
    """`\\quad (11)` before a line break: an equation number inside an aligned block."""
    out: list[Token] = []
    for token in tokens:
        out.append(token)
        tail = out[-5:]
        if (
            len(tail) == 5
            and token.kind == "brk"
            and tail[0].text in (r"\quad", r"\qquad")
            and [t.text for t in tail[1:4:2]] == ["(", ")"]
            and tail[2].kind == "num"
        ):
            del out[-5:-1]
    return out


def _drop_alignment(tokens: list[Token]) -> list[Token]:
    """`&` outside cases and matrices is alignment."""
    depth, out = 0, []
    for i, token in enumerate(tokens):
        if token.kind == "cmd" and token.text == r"\begin":
            depth += 1
        elif token.kind == "cmd" and token.text == r"\end":
            depth -= 1
        if token.text == "&" and token.kind == "sym" and depth == 0:
            continue
        if token.kind == "sym" and token.text == "$":
            continue
        out.append(tokens[i])
    return out


def _drop_number(tokens: list[Token]) -> list[Token]:
    """`\\quad (13)` (an equation number) at the end of a line, and trailing punctuation."""
    out = list(tokens)
    changed = True
    while changed:
        changed = False
        tail = [t.text for t in out[-4:]]
        number = len(tail) == 4 and tail[1] == "(" and tail[3] == ")" and out[-2].kind == "num"
        if number and tail[0] in (r"\quad", r"\qquad"):
            del out[-4:]
            changed = True
        if out and out[-1].kind == "sym" and out[-1].text in ".,;":
            out.pop()
            changed = True
        if out and (out[-1].kind == "brk" or out[-1].text in (r"\quad", r"\qquad")):
            out.pop()
            changed = True
    return out


def _environment_name(tokens: list[Token], i: int) -> tuple[str, int]:
    """The name in `\\begin{name}` at tokens[i], and the index after the closing brace."""
    if i + 1 >= len(tokens) or tokens[i + 1].text != "{":
        raise LatexError(tokens[i].pos, f"{tokens[i].text} needs {{name}}")
    j, name = i + 2, ""
    while j < len(tokens) and tokens[j].text != "}":
        name += tokens[j].text
        j += 1
    if j >= len(tokens):
        raise LatexError(tokens[i].pos, "this environment name is never closed")
    return name, j + 1


def _skip_group(tokens: list[Token], i: int) -> int:
    if i >= len(tokens) or tokens[i].text != "{":
        return i
    depth = 0
    for j in range(i, len(tokens)):
        depth += {"{": 1, "}": -1}.get(tokens[j].text, 0) if tokens[j].kind == "sym" else 0
        if depth == 0:
            return j + 1
    raise LatexError(tokens[i].pos, "this brace is never closed")


def display_claims(claim: Any, settings: Settings) -> list[Any]:
    """The claims of a claim given by its `latex` alone: one per relation of the display.

    A chain `a = b = c` (or aligned lines `&= ...`) states `a = b` and `a = c`; with more than
    one relation, relation N is claim `<id>.N`, so the report shows which line breaks it. A
    display that cannot be read gives one claim that fails with the message.
    """
    from derive.verify.claims import Expression, LatexSideError, check_latex_tree

    where, located = "latex", f"{claim.lhs.where}: latex"
    declared = {name: (low, high) for name, low, high in claim.indices}
    ranges = tuple(
        (name, low.tree, high.tree)
        for name, low, high in claim.indices
        if low.tree is not None and high.tree is not None
    )
    settings = replace(settings, ranges=ranges)
    try:
        display = parse_display(claim.latex, settings)
        for relation in display.relations:
            for tree in (relation.lhs, relation.rhs):
                check_latex_tree(tree, where, claim.latex, settings.tensors is not None)
    except LatexError as exc:  # the report's row names file and claim: the message names the key
        return [replace(claim, error=exc.show("latex", claim.latex))]
    except LatexSideError as exc:
        return [replace(claim, error=str(exc))]
    except RecursionError:
        return [replace(claim, error="latex: nested too deeply")]
    indices = list(claim.indices)
    for name, low, high in display.indices:  # \forall i \in [[low, high]], a vector's rows
        if name not in declared:
            indices.append(
                (
                    name,
                    Expression(ast.unparse(low), low, located),
                    Expression(ast.unparse(high), high, located),
                )
            )
            continue
        low_declared, high_declared = declared[name]
        trees = (low_declared.tree, high_declared.tree)
        if None in trees or not (same(low, trees[0]) and same(high, trees[1])):
            return [
                replace(
                    claim,
                    error=(
                        f"latex: {name} runs over {ast.unparse(low)}..{ast.unparse(high)} in the "
                        f"display but over {low_declared.text}..{high_declared.text} in indices"
                    ),
                )
            ]
    domain = claim.domain
    if display.conditions:
        tree = display.conditions[0]
        if len(display.conditions) > 1:
            tree = ast.BoolOp(ast.And(), display.conditions)
        if domain is not None:
            tree = ast.BoolOp(ast.And(), [domain.tree, tree])
        domain = Expression(ast.unparse(tree), tree, where=located)
    several = len(display.relations) > 1
    out = []
    for number, relation in enumerate(display.relations, 1):
        read = f"{ast.unparse(relation.lhs)} = {ast.unparse(relation.rhs)}"
        source = claim.source
        if several and display.relations[-1].line > 1:  # a document's line, or the display's
            start = re.search(r", line (\d+)$", source)
            if start:
                source = f"{source[: start.start()]}, line {int(start[1]) + relation.line - 1}"
            else:
                source = f"{source}, line {relation.line}" if source else f"line {relation.line}"
        out.append(
            replace(
                claim,
                id=f"{claim.id}.{number}" if several else claim.id,
                # each side's text is its reading, which messages and corrections quote
                lhs=Expression(ast.unparse(relation.lhs), relation.lhs, where=located),
                rhs=Expression(ast.unparse(relation.rhs), relation.rhs, where=located),
                statement=claim.statement or f"read as {read}",
                source=source,
                latex=claim.latex if number == 1 else "",  # the display is shown once
                domain=domain,
                indices=tuple(indices),
            )
        )
    return out
