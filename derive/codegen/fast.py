"""The fast path: `train_step` as NumPy calls writing into buffers made once.

The same expressions as the readable path, lowered by `lower.Lowering` into three-address
`ir.Op`s, with the parameter blocks, the workspace and the optimizer update. Every builder
returns IR items (`ir.Op`, `ir.Stmt`, `ir.Comment`); the workspace, the imports and the
constants are read off those items, never off printed text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import sympy as sp

from derive import backprop
from derive import optimizers as rules
from derive.codegen.blas import MEASURED_FROM, ONE_THREAD_FROM, largest, thread_batches
from derive.codegen.ir import (
    Buffer,
    Comment,
    Item,
    Op,
    Stmt,
    cited,
    constants,
    import_lines,
    kept,
    numpy_names,
    print_items,
    referenced,
)
from derive.codegen.lower import Lowering, literal
from derive.codegen.naming import (
    BODY_WIDTH,
    COUNTS_STEPS,
    OPTIMIZER_PREFIXES,
    Layers,
    block_shape,
    num,
)
from derive.codegen.outputs import Output, output_rule, softmax_columns
from derive.codegen.printing import to_numpy
from derive.symbols import n, t, x, y


class Numbers:
    """Numeric constants of the fast path, as named 0-d arrays of the module's dtype.

    A 0-d array costs a ufunc less than a Python scalar, which it must convert on every call.
    """

    NAMES: ClassVar[dict[sp.Expr, str]] = {
        sp.Integer(0): "ZERO",
        sp.Integer(1): "ONE",
        sp.Rational(1, 2): "HALF",
    }

    def __init__(self) -> None:
        self.defined: dict[str, str] = {}  # name -> its Python source
        self.values: dict[str, sp.Expr] = {}  # name -> its exact value, when given one

    def __call__(
        self, value: sp.Expr | str, name: str | None = None, means: sp.Expr | None = None
    ) -> str:
        """The name of a constant: `value` a SymPy number, or Python source with a `name`
        and what it `means` in the optimizers' symbols (`optimizers.lr`, ...)."""
        code = value if isinstance(value, str) else literal(value)
        if name is None:
            assert isinstance(value, sp.Expr), "name a constant given as source"
            spelled = re.sub(r"\W+", "_", code.replace("-", "NEG_")).strip("_")
            name = self.NAMES.get(value) or f"K_{spelled}"
        assert self.defined.get(name, code) == code, f"{name} names two constants"
        self.defined[name] = code
        if isinstance(value, sp.Expr):
            self.values[name] = value
        elif means is not None:
            self.values[name] = means
        return name


class FastPath:
    """The fast path of `train_step`, its workspace and its parameter blocks.

    A layer's parameters live in one block: [W | b], with a row [0 ... 0 1] below it for a
    hidden layer, so that the layer's output, and so the next layer's input, carries a
    column of ones (the network input's is copied in). One product then gives z with its
    bias, one gives the gradients of W and b, one subtraction updates both. Without bias
    the block is W. A softmax output is computed transposed, (classes, batch), so that its
    reductions run over contiguous rows. Every call writes into a buffer made once.

    The builders (`_forward`, `_output`, `_update`, `_hidden_delta`, ...) return IR items;
    the workspace, the imports and the constants are derived from those items, and
    `ir.print_items` prints them.
    """

    def __init__(self, lay: Layers) -> None:
        self.lay, self.spec = lay, lay.spec
        self.bias, self.depth = lay.spec.bias, lay.depth
        self.transposed = not lay.act(lay.depth).elementwise
        self.prefixes = OPTIMIZER_PREFIXES[lay.spec.optimizer.kind]
        self.number = Numbers()
        self.rule = output_rule(lay.loss.name, lay.act(lay.depth).name)
        self.scale = self._scale()
        self.lowered: list[Lowered] = []  # every lowering, for `lower.rebuild` to check
        self.updates: list[Updated] = []  # every layer's optimizer ops, checked the same way
        self.held = self._held()
        self.items = self._step()
        used = referenced(self.items) | {"plan"}  # _threaded's statements read the plan
        self.buffers = self._kept_groups(used)
        self.hold = self._hold()
        self.workspace = self._workspace()
        body = self._threaded(print_items(self.items, indent="    "))
        self.lines = self._prelude() + body
        self.imports = import_lines(numpy_names(self.items))

    # names ------------------------------------------------------------------------------

    def block(self, layer: int) -> str:
        """The block of layer `layer`: Wb<l> = [W<l> | b<l>], or W<l> without bias."""
        return f"Wb{layer}" if self.bias else f"W{layer}"

    def ones(self, layer: int) -> bool:
        """Whether the output of layer `layer` carries a column of ones."""
        return self.bias and layer < self.depth

    def decays(self, layer: int) -> bool:
        """Whether weight decay works on a view of layer `layer`'s block without its
        [0 ... 0 1] row (a hidden layer's, with bias)."""
        return self.spec.optimizer.weight_decay > 0 and self.ones(layer)

    def out_t(self, layer: int) -> bool:
        """Whether layer `layer` is computed transposed (a softmax output)."""
        return layer == self.depth and self.transposed

    def inp(self, layer: int, transposed: bool = False) -> str:
        """The input of layer `layer` (X with its ones column, or a<l-1>), maybe transposed."""
        name = f"a{layer - 1}" if layer > 1 else "xb" if self.bias else "X"
        return (f"{name}.T" if name == "X" else f"{name}_T") if transposed else name

    def product(self, layer: int) -> str:
        """dot, the cheaper call, unless an operand is the caller's X (any strides)."""
        return "matmul" if layer == 1 and not self.bias else "dot"

    def _lower(
        self,
        expr: sp.Expr,
        out: str,
        names: dict[sp.Symbol, str],
        scratch: list[str],
        mask: str,
        **options: Any,
    ) -> list[Op]:
        """`Lowering(...).lower(expr, out)`, recorded in `lowered` for `lower.rebuild`."""
        low = Lowering(dict(names), list(scratch), mask=mask, number=self.number)
        ops = low.lower(expr, out, **options)
        scale = options.get("scale")
        self.lowered.append(Lowered(expr, out, dict(names), tuple(ops), scale))
        return ops

    def _keeps_derivative(self, layer: int) -> bool:
        """A hidden layer with f(z) = z f'(z), or whose f' is not written in its output:
        f'(z) is kept from the forward pass."""
        act = self.lay.act(layer)
        if layer == self.depth or not act.elementwise:
            return False
        return not act.slope_in_output or (act.homogeneous and bool(act.derivative.free_symbols))

    def _scale(self) -> str:
        """The numeric factor of the output delta, times the learning rate of sgd and
        momentum (so every gradient computed from d<L> already carries it)."""
        delta = backprop.output_delta(self.lay.loss.name, self.lay.act(self.depth).name)
        coeff, _ = delta.expr.subs(n, self.spec.n_out).as_content_primitive()
        optimizer = self.spec.optimizer
        return num(coeff * (1 if optimizer.adaptive else optimizer.learning_rate))

    # the parameter blocks ---------------------------------------------------------------

    def _held(self) -> list[list[Buffer]]:
        """Per layer, what `_hold` gives the step: its block, views of the block, the
        optimizer's blocks (a `Buffer` without `view_of` is a block `_block` makes)."""
        groups = []
        for layer in range(1, self.depth + 1):
            blk = self.block(layer)
            group = [Buffer(blk, value=f'_block(params, "", {layer}, copies)')]
            if layer > 1 and self.bias:
                rows, cols = self.spec.layers[layer], self.spec.layers[layer - 1]
                group.append(Buffer(f"W{layer}", view_of=blk, index=f"[:{rows}, :{cols}]"))
            if not self.out_t(layer):
                group.append(Buffer(f"{blk}_T", view_of=blk, index=".T"))
            if self.decays(layer):  # [W | b] without the [0 ... 0 1] row, which never decays
                index = f"[:{self.spec.layers[layer]}]"
                group.append(Buffer(f"{blk}_wb", view_of=blk, index=index))
            for prefix in self.prefixes:
                made = f'_block(state, "{prefix}", {layer}, copies)'
                group.append(Buffer(prefix + blk, value=made))
            groups.append(group)
        return groups

    def _refs(self) -> list[tuple[str, str]]:
        """(dict, key) of the arrays that the blocks stand for, in the order `_hold` returns."""
        names = self.lay.all_params()
        return [("params", name) for name in names] + [
            ("state", prefix + name) for prefix in self.prefixes for name in names
        ]

    def _hold(self) -> list[str]:
        """The body of `_hold(params, state)`: (the arrays the blocks stand for, the blocks
        and their views per layer, what to copy each step)."""
        made = [held.code() for group in self.held for held in group if held.view_of is None]
        inner = []
        for group in self.held:
            items = [held.name if held.view_of is None else held.made() for held in group]
            inner.append(f"        ({', '.join(items)}{',' if len(items) == 1 else ''}),")
        checks = [f'_check_params(state, "{prefix}", writeable=True)' for prefix in self.prefixes]
        return [
            "_check_params(params, writeable=True)",
            *checks,
            "copies = []",
            *made,
            "return (",
            "    (  # the arrays the blocks stand for, in the order train_step tests them",
            *[f'        {source}["{key}"],' for source, key in self._refs()],
            "    ),",
            "    (  # per layer: its block, views of it, the optimizer's blocks",
            *inner,
            "    ),",
            "    tuple(copies),",
            ")",
        ]

    def _prelude(self) -> list[str]:
        """The step's first lines: the blocks for params and state, the batch's buffers.

        The common case, the arrays of the last step, costs a lookup and an identity test
        per array (measured faster than a map over the dicts); anything else (a first step,
        another array, a missing key, params or state that is not a dict) goes to
        `_prepare`, which checks and says what is wrong.
        """
        refs = self._refs()
        tests = ["fast.__class__ is not _Fast"]
        tests += [f'{source}["{key}"] is not held[{i}]' for i, (source, key) in enumerate(refs)]
        one_line = f"if {' or '.join(tests)}:"
        condition = (
            [one_line]
            if len(one_line) <= BODY_WIDTH - 4
            else ["if (", f"    {tests[0]}", *[f"    or {test}" for test in tests[1:]], "):"]
        )
        return [
            "try:  # the blocks held for these params and state",
            '    fast = state["_fast"]',
            "    held = fast.arrays",
            *[f"    {line}" for line in condition],
            "        fast = None",
            "except (KeyError, TypeError, AttributeError):  # none yet, or no dicts",
            "    fast = None",
            "if fast is None:",
            "    fast = _prepare(params, state)",
            *_unpack([[held.name for held in group] for group in self.held], "fast.blocks"),
            "copies = fast.copies",
            "buffers = fast.buffers.get(batch)",
            "if buffers is None:",
            "    buffers = fast.buffers[batch] = _workspace(batch)",
            *_unpack([[b.name for b in group] for group in self.buffers], "buffers"),
            "if copies:  # arrays that are not views of blocks: copied in, and back at the end",
            "    _copy_in(copies)",
        ]

    # BLAS threads -----------------------------------------------------------------------

    def _threaded(self, body: list[str]) -> list[str]:
        """body run on the BLAS thread count that `threads` chooses for the batch (the
        workspace's _Plan), set by the module's _Blas and restored after, also on an
        exception."""
        return [
            "threads = 0 if plan.library else _BLAS.enter(plan)",
            "try:",
            *body,
            "finally:",
            "    if threads:  # what enter set, restored",
            "        _BLAS.leave(plan, threads)",
        ]

    def thread_constants(self) -> list[str]:
        """THREADS_ONE and THREADS_MEASURED, the batch sizes where `threads` changes."""
        one, measured = thread_batches(self.spec)
        return [
            f"# BLAS threads (see _Blas): the largest product of a step is batch x"
            f" {largest(self.spec)} multiply-adds;",
            f"# one thread from {ONE_THREAD_FROM}, the faster count, measured, from"
            f" {MEASURED_FROM} (derive.codegen.threads)",
            f"THREADS_ONE, THREADS_MEASURED = {one}, {measured}",
        ]

    def constant_lines(self) -> list[str]:
        """The named numbers the step uses, as 0-d arrays of the module's dtype."""
        return [
            f"{name} = numpy.array({self.number.defined[name]}, DTYPE)"
            for name in constants(self.items, self.number.defined)
        ]

    # the workspace ----------------------------------------------------------------------

    def _all_buffers(self) -> list[list[Buffer]]:
        """Every buffer a step could use, per layer: the step keeps those its ops name."""
        spec = self.spec
        groups: list[list[Buffer]] = []
        if self.bias:
            groups.append(
                [
                    Buffer(
                        "xb",
                        "the input with its column of ones, [X | 1]",
                        shape=f"(batch, {spec.n_in + 1})",
                        fill="ones",
                    ),
                    Buffer(
                        "x0",
                        "the input's part of xb",
                        view_of="xb",
                        index=f"[:, :{spec.n_in}]",
                        comment="X goes here: xb = [X | 1]",
                    ),
                    Buffer("xb_T", "xb transposed", view_of="xb", index=".T"),
                ]
            )
        for layer in range(1, self.depth + 1):
            width, blk = spec.layers[layer], self.block(layer)
            a, d, act = f"a{layer}", f"delta{layer}", self.lay.act(layer).name
            slope = (
                f"{act}'(z{layer}), kept from the forward pass"
                if self._keeps_derivative(layer)
                else "scratch"
            )
            if self.out_t(layer):
                shape = f"({width}, batch)"
                group = [
                    Buffer(a, f"z{layer}, then the softmax output, a sample a column", shape=shape),
                    Buffer("targets", "the targets, transposed", shape=shape),
                    Buffer("wide", "a column's max or sum, spread over its rows", shape=shape),
                    Buffer("cols", "a max or sum per sample", shape="batch"),
                    Buffer("ones", "ones, to sum by a dot product", shape="batch", fill="ones"),
                ]
            else:
                shape = f"(batch, {width + self.ones(layer)})"
                group = [
                    Buffer(a, f"z{layer}, then a{layer} = {act}(z{layer})", shape=shape),
                    Buffer(f"{a}_T", f"{a} transposed", view_of=a, index=".T"),
                    Buffer(
                        f"{a}_ones",
                        f"{a}'s column of ones",
                        view_of=a,
                        index=f"[:, {width}]",
                        comment="the column of ones",
                    ),
                ]
            zeros = "zeros" if self.ones(layer) else "empty"  # the ones column's delta stays 0
            group += [
                Buffer(d, f"the error dloss/dz{layer}", shape=shape, fill=zeros),
                Buffer(
                    f"{d}_cut",
                    f"{d} without the ones column",
                    view_of=d,
                    index=f"[:, :{width}]",
                    comment="all but the ones column",
                ),
                Buffer(f"{d}_T", f"{d} transposed", view_of=d, index=".T"),
                Buffer(f"slope{layer}", slope, shape=shape),
                Buffer(
                    f"mask{layer}", f"a step of z{layer} as booleans", shape=shape, dtype="bool"
                ),
                # scratch for an f'(z) kept from the forward pass (GELU, SiLU, ...)
                Buffer(f"tmp{layer}b", f"scratch for {act}(z{layer}) and its slope", shape=shape),
                Buffer(f"tmp{layer}", f"scratch for {act}(z{layer}) and its slope", shape=shape),
            ]
            shape_of_block = str(block_shape(spec, layer))
            group += [
                Buffer(
                    f"grad_{blk}", f"the gradient of {blk} (then its update)", shape=shape_of_block
                ),
                Buffer(f"tmp_{blk}", f"scratch the shape of {blk}", shape=shape_of_block),
            ]
            group += [
                Buffer(
                    f"{b}_wb", f"{b} without the [0 ... 0 1] row", view_of=b, index=f"[:{width}]"
                )
                for b in (f"grad_{blk}", f"tmp_{blk}")
            ]
            groups.append(group)
        groups.append(
            [
                Buffer(
                    "scale",
                    "the output error's factor, over the batch",
                    value=f"numpy.array({self.scale} / batch, DTYPE)",
                ),
                Buffer(
                    "plan",
                    "the BLAS threads of this batch size",
                    value="_Plan(batch)",
                    comment="the BLAS threads of this batch size",
                ),
            ]
        )
        return groups

    def _kept_groups(self, used: set[str]) -> list[list[Buffer]]:
        """The groups of buffers the step uses (and what they view), empty groups left out."""
        groups = [kept(group, used) for group in self._all_buffers()]
        return [group for group in groups if group]

    def _workspace(self) -> list[str]:
        """The body of `_workspace(batch)`: the buffers the step uses, made once."""
        lines = [buffer.code() for group in self.buffers for buffer in group]
        returns = [
            f"    ({', '.join(b.name for b in g)}{',' if len(g) == 1 else ''}),"
            for g in self.buffers
        ]
        return [*lines, "return (", *returns, ")"]

    def legend(self) -> list[str]:
        """`name  what it holds` for each buffer of the workspace, names aligned."""
        buffers = [buffer for group in self.buffers for buffer in group]
        width = max(len(buffer.name) for buffer in buffers)
        return [f"{buffer.name.ljust(width)}  {buffer.note}" for buffer in buffers]

    # the step ---------------------------------------------------------------------------

    def _forward(self, layer: int) -> list[Item]:
        act, blk = self.lay.act(layer), self.block(layer)
        a, mask = f"a{layer}", f"mask{layer}"
        if self.out_t(layer):  # z^T = [W | b] [a | 1]^T: the softmax output, transposed
            return [Op(self.product(layer), (blk, self.inp(layer, True)), a, ("bp.dense",))]
        items: list[Item] = [
            Op(self.product(layer), (self.inp(layer), f"{blk}_T"), a, ("bp.dense",))
        ]
        if layer == self.depth and self.rule.fused:
            return items  # the output activation is computed with the loss, in _output
        assert act.expr is not None
        scratch = [f"tmp{layer}b", f"tmp{layer}"]  # lent from the end: tmp<l> first
        if self._keeps_derivative(layer) and not act.homogeneous:
            # s = f'(z) first, while a still holds z; then a = f(z) in place
            what = f"slope{layer} = {act.name}'(z{layer}), kept for the backward pass"
            ops = self._lower(act.derivative, f"slope{layer}", {x: a}, scratch, mask)
            items += cited(ops, (f"act.{act.name}",), what)
            try:
                ops = self._lower(act.expr, a, {x: a}, scratch, mask)
            except ValueError:  # f(z) needs z after its first write: computed aside, copied
                ops = self._lower(act.expr, scratch[0], {x: a}, scratch[1:], mask)
                ops = [*ops, Op("copyto", (scratch[0],), a)]
            items += cited(ops, (f"def.{act.name}",), f"{a} = {act.name}(z{layer})")
            items += self._ones_column(layer)
        elif self._keeps_derivative(layer):
            derivative = sp.expand(act.derivative)
            ops = self._lower(derivative, f"slope{layer}", {x: a}, scratch, mask, factor=False)
            ops = [*ops, Op("multiply", (a, f"slope{layer}"), a)]
            what = f"{a} = z{layer} * slope{layer}, slope{layer} = {act.name}'(z{layer}), kept"
            items += cited(ops, (f"def.{act.name}", f"act.{act.name}"), what)
        else:
            ops = self._lower(act.expr, a, {x: a}, [f"slope{layer}"], mask)
            items += cited(ops, (f"def.{act.name}",))
            items += self._ones_column(layer)
        return items

    def _ones_column(self, layer: int) -> list[Item]:
        """Put back a hidden layer's column of ones, which its activation changed."""
        act = self.lay.act(layer)
        assert act.expr is not None
        if not self.ones(layer) or act.expr.subs(x, 1) == 1:
            return []
        one = self.number(sp.Integer(1))
        note = f"the column of ones: {act.name}(1) != 1"
        return [Op("copyto", (one,), f"a{layer}_ones", note=note)]

    def _output(self) -> list[Item]:
        """Output activation, loss value and output delta d<L>, scaled by `scale`: the
        loss's value from its output rule (`outputs.rule`), then the delta of
        `backprop.output_delta` with what the rule left in d<L> replaced by d, lowered."""
        lay = self.lay
        last, n_out = lay.depth, lay.spec.n_out
        a, d, s = f"a{last}", f"delta{last}", f"slope{last}"
        target = "targets" if self.transposed else "Y"
        per_sample = f"({n_out} * batch)" if n_out > 1 else "batch"
        names = Output(a, d, s, target, per_sample, self.number)
        items: list[Item] = []
        if self.transposed and not self.rule.fused:  # softmax, one sample per column
            items += softmax_columns(names)
        items += self.rule.value(names)
        adam = lay.spec.optimizer.kind in COUNTS_STEPS
        items += [
            Stmt("if not math.isfinite(loss):"),
            Stmt("    _refuse(loss, X, Y)", note="before any parameter changes"),
            *[Stmt('state["step"] = step', note="counted once the step is sure to happen")] * adam,
        ]
        delta = backprop.output_delta(lay.loss.name, lay.act(last).name)
        _, rest = delta.expr.subs(n, n_out).as_content_primitive()
        acc = sp.Symbol("d", real=True)
        symbols = {y: a, t: target, acc: d}
        if self.rule.held is not None:  # d already holds this factor of the delta
            held = self.rule.held(lay.loss)
            rest = rest.subs(held, acc)
            if acc not in rest.free_symbols:
                raise ValueError(f"{lay.loss.name} delta {rest} has no factor {held}")
        scratch, mask = [s], f"mask{last}"
        if delta.kind == "softmax_jvp":  # one sample per column: sums over axis 0
            items += cited(self._lower(rest, d, symbols, scratch, mask), (delta.eq_ids[0],))
            items += [
                Op("multiply", (d, a), s, ("bp.softmax_jvp",)),
                Op("add.reduce", (s,), "cols", axis=0),
                Op("copyto", ("cols",), "wide"),
                Op("subtract", (d, "wide"), d),
                Op("multiply", (d, a), d),
                Op("multiply", (d, "scale"), d),
            ]
        else:
            what = f"{d} = {to_numpy(rest * sp.Symbol('scale'), symbols)}"
            ops = self._lower(rest, d, symbols, scratch, mask, scale="scale")
            items += cited(ops, tuple(delta.eq_ids), what)
        return items

    def _update(self, layer: int) -> list[Item]:
        """In-place optimizer update of layer `layer`'s block from its gradient: the rules
        `optimizers.RULES` of the spec's optimizer, lowered as every other expression (weight
        decay first, on the rows that decay)."""
        items: list[Item] = []
        for eq_id in self._rule_ids():
            decay = eq_id in ("opt.weight_decay", "opt.adamw")
            items += self._lower_rule(eq_id, layer, "_wb" if decay and self.decays(layer) else "")
        return items

    def _rule_ids(self) -> list[str]:
        """The ids of the rules a step runs, in order: weight decay first."""
        opt = self.spec.optimizer
        ids = []
        if opt.weight_decay > 0:
            ids.append("opt.adamw" if opt.kind == "adamw" else "opt.weight_decay")
        main = "opt.nesterov" if opt.nesterov else f"opt.{opt.kind}"
        return [*ids, "opt.adam" if opt.kind == "adamw" else main]

    def _hyperparameters(self) -> dict[sp.Expr, sp.Symbol]:
        """The optimizer's constants, what each means in the rules' symbols -> its name
        (registered with `number`: emitted only when an op uses it)."""
        opt, found = self.spec.optimizer, []
        keys = dict(opt.hyper)
        if "momentum" in keys:
            found.append(("MOMENTUM", num(opt["momentum"]), rules.mu))
        for key, symbol in (("beta1", rules.beta1), ("beta2", rules.beta2)):
            if key in keys:
                found.append((f"ONE_MINUS_{key.upper()}", f"1 - {num(opt[key])}", 1 - symbol))
        if opt.kind == "rmsprop":
            rest = f"1 - {num(opt['alpha'])}"
            found += [
                ("ONE_MINUS_ALPHA", rest, 1 - rules.alpha),
                ("LEARNING_RATE", num(opt.learning_rate), rules.lr),
            ]
        if "epsilon" in keys:
            found.append(("EPSILON", num(opt["epsilon"]), rules.eps))
        if opt.weight_decay > 0 and opt.kind == "adamw":
            code = f"1 - {num(opt.learning_rate)} * {num(opt.weight_decay)}"
            found.append(("KEEP", code, 1 - rules.lr * rules.wd))
        elif opt.weight_decay > 0:  # sgd's and momentum's gradient carries the rate
            factor = opt.weight_decay * (1 if opt.adaptive else opt.learning_rate)
            means = rules.wd * (1 if opt.adaptive else rules.lr)
            found.append(("WEIGHT_DECAY", num(factor), means))
        return {
            means: sp.Symbol(self.number(code, name, means), positive=True)
            for name, code, means in found
        }

    def _lower_rule(self, eq_id: str, layer: int, view: str) -> list[Item]:
        """The assignments of `optimizers.RULES[eq_id]` lowered into layer `layer`'s block
        (W), gradient (g, holding lr g for sgd and momentum), state (m, v) and scratch t (u);
        `view` "_wb": on the rows that decay."""
        opt, p = self.spec.optimizer, self.block(layer)
        buffers = {
            rules.W: p + view,
            rules.g: f"grad_{p}{view}",
            rules.m: f"m_{p}",
            rules.v: f"v_{p}",
            rules.u: f"tmp_{p}{view}",
        }
        code = {symbol: sp.Symbol(name, real=True) for symbol, name in buffers.items()}
        holds = {rules.g: rules.g if opt.adaptive else rules.lr * rules.g}  # else itself
        read = {symbol: code[symbol] / holds.get(symbol, symbol) * symbol for symbol in code}
        folded = self._hyperparameters()
        steps = {rules.step_size: "step_size", rules.root_correction: "root_correction"}
        names = {code[s]: name for s, name in buffers.items()} | steps
        names |= {symbol: symbol.name for symbol in folded.values()}
        scalars = frozenset([*steps.values(), *(symbol.name for symbol in folded.values())])
        ops: list[Op] = []
        for target, expr in rules.RULES[eq_id]:
            value = holds.get(target, target).xreplace({target: expr}).xreplace(read)
            value = sp.expand(value) if target in holds else value  # lr (g + wd W)
            for means in sorted(folded, key=sp.count_ops, reverse=True):
                value = value.subs(means, folded[means])
            lent = [f"tmp_{p}{view}"] if target != rules.u else []
            if target == rules.W and eq_id in ("opt.adam", "opt.rmsprop"):
                lent.append(f"grad_{p}")  # the gradient is spent: scratch for the step
            low = Lowering(names, lent, number=self.number, scalars=scalars)
            ops += low.lower(value, buffers[target], factor=False)
        return cited(ops, (eq_id,))

    def _updated(self, layer: int, items: list[Item]) -> Updated:
        """The optimizer ops of layer `layer`, what their buffers hold in the optimizers'
        symbols, and the rules (`optimizers.RULES`) they implement, in order."""
        opt, p = self.spec.optimizer, self.block(layer)
        gradient = rules.g if opt.adaptive else rules.lr * rules.g  # the rate folded in
        held: dict[str, sp.Expr] = {
            p: rules.W,
            f"grad_{p}": gradient,
            f"m_{p}": rules.m,
            f"v_{p}": rules.v,
            "step_size": rules.step_size,
            "root_correction": rules.root_correction,
        }
        ops = tuple(item for item in items if isinstance(item, Op))
        return Updated(tuple(self._rule_ids()), ops, held)

    def _step(self) -> list[Item]:
        opt = self.spec.optimizer
        items: list[Item] = []
        if opt.kind in COUNTS_STEPS:
            items += [
                Stmt('step = state.get("step")'),
                Stmt("if type(step) is not int or step < 0:"),
                Stmt(
                    "    raise ValueError(f\"state['step']: expected a step count,"
                    ' found {step!r}")'
                ),
                Stmt("step += 1"),
                Stmt(f"root_correction = 1 / math.sqrt(1 - {num(opt['beta2'])}**step)"),
                Stmt(f"step_size = {num(opt.learning_rate)} / (1 - {num(opt['beta1'])}**step)"),
            ]
        if self.bias:
            items.append(Op("copyto", ("X",), "x0", note="xb = [X | 1]"))
        for layer in range(1, self.depth + 1):
            items += self._forward(layer)
        items += self._output()
        for layer in range(self.depth, 0, -1):
            blk = self.block(layer)
            items.append(
                Comment(f"layer {layer}, as the notes' Steps: gradients, propagate, update")
            )
            ids = ("bp.grad_w", "bp.grad_b") if self.bias else ("bp.grad_w",)
            d = f"delta{layer}" if self.out_t(layer) else f"delta{layer}_T"
            items.append(Op(self.product(layer), (d, self.inp(layer)), f"grad_{blk}", ids))
            if layer > 1:  # through W<layer> before it changes
                d = (
                    f"delta{layer}_T"
                    if self.out_t(layer)
                    else f"delta{layer}_cut"
                    if self.ones(layer)
                    else f"delta{layer}"
                )
                into = f"delta{layer - 1}_cut" if self.bias else f"delta{layer - 1}"
                func = "matmul" if self.bias else "dot"  # matmul takes strided views
                items.append(Op(func, (d, f"W{layer}"), into, ("bp.hidden",)))
            update = self._update(layer)
            self.updates.append(self._updated(layer, update))
            items += update
            if layer > 1:
                items += self._hidden_delta(layer - 1)
        items += [Stmt("if copies:"), Stmt("    _copy_out(copies)"), Stmt("return loss")]
        return items

    def _hidden_delta(self, layer: int) -> list[Item]:
        """d<layer> *= f'(z<layer>): from the kept derivative, or from the output a<layer>."""
        act, d = self.lay.act(layer), f"delta{layer}"
        if self._keeps_derivative(layer):
            return [Op("multiply", (d, f"slope{layer}"), d, ("bp.hidden", f"act.{act.name}"))]
        acc = sp.Symbol("d", real=True)
        names = {y: f"a{layer}", acc: d}
        derivative = act.derivative_of_output
        what = f"{d} *= {to_numpy(derivative, names)}"
        ops = self._lower(acc * derivative, d, names, [f"slope{layer}"], f"mask{layer}")
        return cited(ops, ("bp.hidden", f"act.{act.name}"), what)


@dataclass(frozen=True)
class Lowered:
    """One lowering of the step: `ops` compute `scale * expr` into `out` (a test folds
    them back with `lower.rebuild` and proves it)."""

    expr: sp.Expr
    out: str
    names: dict[sp.Symbol, str]
    ops: tuple[Op, ...]
    scale: str | None


@dataclass(frozen=True)
class Updated:
    """One layer's optimizer update: `ops` implement `optimizers.RULES[id]` for `ids` in
    order, with `held` saying what each buffer holds (a `<name>_wb` view: the rows that
    decay, entry by entry the same rule)."""

    ids: tuple[str, ...]
    ops: tuple[Op, ...]
    held: dict[str, sp.Expr]


def _unpack(groups: list[list[str]], source: str) -> list[str]:
    """`(a, b), (c,) = source`, one tuple per group, as ruff format writes it."""
    tuples = [f"({', '.join(group)}{',' if len(group) == 1 else ''})" for group in groups]
    target = ", ".join(tuples) if len(tuples) > 1 else f"({tuples[0]},)"
    if len(f"{target} = {source}") <= BODY_WIDTH:
        return [f"{target} = {source}"]
    return ["(", *[f"    {item}," for item in tuples], f") = {source}"]
