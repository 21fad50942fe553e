"""The fast path's intermediate representation: records between SymPy and text.

The fast path is built as a list of records, never as text read back:

- `Op`: one NumPy call writing into a buffer, `multiply(d1, s1, out=d1)`, with the ids of
  the derivations it implements (three-address code, from `lower.Lowering` or a builder);
- `Stmt`: a Python statement no `Op` says (a scalar loss, a check), with the buffers it
  reads and the NumPy functions it calls declared, not found in its text;
- `Comment`: a comment line, maybe citing derivations, above the ops it explains;
- `Buffer`: an array of the workspace or of the held blocks, made once or a view of another,
  with a note that says what it holds (the legend of `_workspace`).

From a list of items: `referenced` (every name an item reads or writes), so `kept` (the
buffers a step uses, with the arrays they view), `numpy_names` (the import line),
`constants` (the named numbers used), `live_ranges` (where each buffer is first and last
used: two buffers whose ranges do not overlap could share memory); and `print_items`, the
one printer, which writes NumPy calls by bare name and moves a citation that would pass the
line width onto a comment line above its code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from derive.codegen.naming import BODY_WIDTH, cite


@dataclass(frozen=True)
class Op:
    """One NumPy call writing into `out`: `numpy.<func>(<args>, out=<out>)`.

    `func` may be a ufunc method (`maximum.reduce`, with `axis`); `copyto(out, src)` has no
    `out=`. `cites` are the derivation ids it implements, `note` a comment for the reader.
    """

    func: str
    args: tuple[str, ...]
    out: str
    cites: tuple[str, ...] = ()
    axis: int | None = None
    note: str = ""

    def code(self, module: str = "numpy.") -> str:
        """The call's source, its function qualified by `module` ("" for a bare name)."""
        if self.func == "copyto":  # copyto(dst, src) has no out=
            return f"{module}copyto({self.out}, {self.args[0]})"
        axis = "" if self.axis is None else f", axis={self.axis}"
        return f"{module}{self.func}({', '.join(self.args)}{axis}, out={self.out})"

    @property
    def numpy_name(self) -> str:
        """The NumPy name the call needs imported: `maximum` for `maximum.reduce`."""
        return self.func.split(".")[0]

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.args, self.out)


@dataclass(frozen=True)
class Stmt:
    """A statement in its own words (bare NumPy names), with what it reads and calls."""

    code: str
    reads: tuple[str, ...] = ()
    numpy: tuple[str, ...] = ()
    cites: tuple[str, ...] = ()
    note: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return self.reads


@dataclass(frozen=True)
class Comment:
    """A comment line, `# text  # [ids]`, or `# [ids]` alone."""

    text: str = ""
    cites: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return ()


Item = Op | Stmt | Comment


@dataclass(frozen=True)
class Buffer:
    """An array made once, or a view of one.

    Made: `numpy.<fill>(<shape>, <dtype>)`, or `value` when it is made otherwise (a 0-d
    array, a held block); a view: `<view_of><index>` (`d1[:, :5]`, `a1.T`).
    """

    name: str
    note: str = ""
    shape: str = ""
    dtype: str = "DTYPE"
    fill: str = "empty"
    view_of: str | None = None
    index: str = ""
    value: str = ""
    comment: str = ""  # a comment on its line in the generated code

    def made(self) -> str:
        """The expression that makes it (or the view)."""
        if self.view_of is not None:
            return f"{self.view_of}{self.index}"
        if self.value:
            return self.value
        return f"numpy.{self.fill}({self.shape}, {self.dtype})"

    def code(self) -> str:
        """`name = ...`, the line that makes it."""
        return f"{self.name} = {self.made()}" + (f"  # {self.comment}" if self.comment else "")


def cited(ops: Sequence[Op], ids: tuple[str, ...], what: str = "") -> list[Item]:
    """Ops citing the derivations they implement: inline for a single op, else on a comment
    line above the group that says what the group computes."""
    if len(ops) <= 1:
        return [Op(op.func, op.args, op.out, ids, op.axis, op.note) for op in ops]
    comment = f"# {what}{cite(*ids)}" if what else ""
    if len(comment) > BODY_WIDTH:
        what = ""
    return [Comment(what, ids), *ops]


def referenced(items: Iterable[Item]) -> set[str]:
    """Every name an item reads or writes."""
    return {name for item in items for name in item.names}


def kept(buffers: Sequence[Buffer], names: set[str]) -> list[Buffer]:
    """The buffers among `buffers` that `names` uses, with every buffer they are views of."""
    needed = set(names)
    views = {buffer.name: buffer.view_of for buffer in buffers if buffer.view_of is not None}
    while True:  # a view needs what it views, and that its own base
        bases = {views[name] for name in needed if name in views} - needed
        if not bases:
            break
        needed |= bases
    return [buffer for buffer in buffers if buffer.name in needed]


def numpy_names(items: Iterable[Item]) -> list[str]:
    """The NumPy names the items call, sorted."""
    found: set[str] = set()
    for item in items:
        if isinstance(item, Op):
            found.add(item.numpy_name)
        elif isinstance(item, Stmt):
            found.update(item.numpy)
    return sorted(found)


def constants(items: Iterable[Item], defined: dict[str, str]) -> list[str]:
    """The named numbers among `defined` (name -> code) that the items use, sorted."""
    used = referenced(items)
    return sorted(name for name in defined if name in used)


def live_ranges(items: Sequence[Item], buffers: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Per buffer the items read or write: (first, last) index of the items that use it."""
    wanted = set(buffers)
    ranges: dict[str, tuple[int, int]] = {}
    for index, item in enumerate(items):
        for name in item.names:
            if name in wanted:
                first, _ = ranges.get(name, (index, index))
                ranges[name] = (first, index)
    return ranges


def _trailing(cites: tuple[str, ...], note: str) -> str:
    if cites:
        return cite(*cites)
    return f"  # {note}" if note else ""


def print_items(items: Sequence[Item], indent: str = "") -> list[str]:
    """The items as source lines at `indent`: NumPy calls by bare name (a global is one lookup,
    `numpy.f` two: 0.8 us a step on the bench's W1), citations inline when they fit."""
    lines = []
    for item in items:
        if isinstance(item, Comment):
            ids = cite(*item.cites) if item.cites else ""
            text = f"# {item.text}{ids}" if item.text else ids.strip()
            lines.append(indent + text)
            continue
        code = indent + (item.code("") if isinstance(item, Op) else item.code)
        margin = code[: len(code) - len(code.lstrip())]
        trailing = _trailing(item.cites, item.note)
        if item.cites and len(code + trailing) > BODY_WIDTH - len(margin):
            lines += [f"{margin}{trailing.lstrip()}", code]  # the citation above its code
        else:
            lines.append(code + trailing)
    return lines


def import_lines(names: list[str]) -> list[str]:
    """`from numpy import ...` for `names`, on one line when it fits in 100 columns."""
    one_line = f"from numpy import {', '.join(names)}"
    if len(one_line) <= 100:
        return [one_line]
    return ["from numpy import (", *[f"    {name}," for name in names], ")"]
