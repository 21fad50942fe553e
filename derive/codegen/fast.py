"""The fast path: `train_step` as NumPy calls writing into buffers made once.

The same expressions as the readable path, lowered by `lower.Lowering` into three-address
calls, with the parameter blocks, the workspace and the optimizer update.
"""

from __future__ import annotations

import re
from typing import ClassVar

import sympy as sp

from derive import backprop
from derive.codegen.blas import MEASURED_FROM, ONE_THREAD_FROM, largest, thread_batches
from derive.codegen.lower import Call, Lowering, literal
from derive.codegen.naming import (
    BODY_WIDTH,
    COUNTS_STEPS,
    OPTIMIZER_PREFIXES,
    Layers,
    block_shape,
    cite,
    fit,
    num,
    used,
)
from derive.codegen.printing import to_numpy
from derive.symbols import n, t, x, y


def _cited(calls: list[Call], *ids: str, what: str = "") -> list[str]:
    """The calls' code citing the derivations they implement: inline for a single call,
    else on a comment line above the group that says what the group computes."""
    codes = [call.code() for call in calls]
    if len(codes) <= 1:
        return [code + cite(*ids) for code in codes]
    comment = f"# {what}{cite(*ids)}" if what else cite(*ids).strip()
    return [comment if len(comment) <= BODY_WIDTH else cite(*ids).strip(), *codes]


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
        self.defined: dict[str, str] = {}

    def __call__(self, value: sp.Expr | str, name: str | None = None) -> str:
        """The name of a constant: `value` a SymPy number, or Python source with a `name`."""
        code = value if isinstance(value, str) else literal(value)
        if name is None:
            assert isinstance(value, sp.Expr), "name a constant given as source"
            spelled = re.sub(r"\W+", "_", code.replace("-", "NEG_")).strip("_")
            name = self.NAMES.get(value) or f"K_{spelled}"
        assert self.defined.get(name, code) == code, f"{name} names two constants"
        self.defined[name] = code
        return name

    def lines(self) -> list[str]:
        return [
            f"{name} = numpy.array({code}, DTYPE)" for name, code in sorted(self.defined.items())
        ]


class FastPath:
    """The fast path of `train_step`, its workspace and its parameter blocks.

    A layer's parameters live in one block: [W | b], with a row [0 ... 0 1] below it for a
    hidden layer, so that the layer's output, and so the next layer's input, carries a
    column of ones (the network input's is copied in). One product then gives z with its
    bias, one gives the gradients of W and b, one subtraction updates both. Without bias
    the block is W. A softmax output is computed transposed, (classes, batch), so that its
    reductions run over contiguous rows. Every call writes into a buffer made once.
    """

    def __init__(self, lay: Layers) -> None:
        self.lay, self.spec = lay, lay.spec
        self.bias, self.depth = lay.spec.bias, lay.depth
        self.transposed = not lay.act(lay.depth).elementwise
        self.prefixes = OPTIMIZER_PREFIXES[lay.spec.optimizer.kind]
        self.number = Numbers()
        self.held = self._held()
        body = self._threaded(self._step())
        self.hold = self._hold()
        self.workspace, unpack = self._workspace(body)
        self.lines, self.imports = _bare(self._prelude(unpack) + fit(body))

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
        """numpy.dot, the cheaper call, unless an operand is the caller's X (any strides)."""
        return "numpy.matmul" if layer == 1 and not self.bias else "numpy.dot"

    def _lowering(self, names: dict[sp.Symbol, str], layer: int) -> Lowering:
        return Lowering(names, [f"s{layer}"], mask=f"m{layer}", number=self.number)

    def _keeps_derivative(self, layer: int) -> bool:
        """A hidden layer with f(z) = z f'(z), or whose f' is not written in its output:
        f'(z) is kept from the forward pass."""
        act = self.lay.act(layer)
        if layer == self.depth or not act.elementwise:
            return False
        return not act.slope_in_output or (act.homogeneous and bool(act.derivative.free_symbols))

    # the parameter blocks ---------------------------------------------------------------

    def _held(self) -> list[list[tuple[str, str]]]:
        """Per layer, what `_hold` gives the step, (name, code): its block, views of the block,
        the optimizer's blocks. A code that calls `_block` makes a block; others are views."""
        groups = []
        for layer in range(1, self.depth + 1):
            blk = self.block(layer)
            group = [(blk, f'_block(params, "", {layer}, copies)')]
            if layer > 1 and self.bias:
                rows, cols = self.spec.layers[layer], self.spec.layers[layer - 1]
                group.append((f"W{layer}", f"{blk}[:{rows}, :{cols}]"))
            if not self.out_t(layer):
                group.append((f"{blk}_T", f"{blk}.T"))
            if self.decays(layer):  # [W | b] without the [0 ... 0 1] row, which never decays
                group.append((f"{blk}_wb", f"{blk}[:{self.spec.layers[layer]}]"))
            for prefix in self.prefixes:
                group.append((prefix + blk, f'_block(state, "{prefix}", {layer}, copies)'))
            groups.append(group)
        return groups

    def _refs(self) -> list[tuple[str, str]]:
        """(dict, key) of the arrays that the blocks stand for, in the order `_hold` returns."""
        names = self.lay.all_params()
        return [("params", name) for name in names] + [
            ("state", prefix + name) for prefix in self.prefixes for name in names
        ]

    def _hold(self) -> list[str]:
        """The body of `_hold(params, state)`."""
        groups = self.held
        made = [f"{name} = {code}" for g in groups for name, code in g if code.startswith("_block")]
        inner = []
        for group in groups:
            items = [name if code.startswith("_block") else code for name, code in group]
            inner.append(f"        ({', '.join(items)}{',' if len(items) == 1 else ''}),")
        checks = [f'_check_params(state, "{prefix}", writeable=True)' for prefix in self.prefixes]
        return [
            "_check_params(params, writeable=True)",
            *checks,
            "copies = []",
            *made,
            "return (",
            *[f'    {source}["{key}"],' for source, key in self._refs()],
            "    (",
            *inner,
            "        tuple(copies),",
            "    ),",
            ")",
        ]

    def _prelude(self, unpack_work: list[str]) -> list[str]:
        """The step's first lines: the blocks for params and state, the batch's buffers.

        The common case, the arrays of the last step, costs a lookup and an identity test
        per array; anything else (a first step, another array, a missing key, params or
        state that is not a dict) goes to `_prepare`, which checks and says what is wrong.
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
            "    held = fast.held",
            *[f"    {line}" for line in condition],
            "        held = None",
            "except (KeyError, TypeError, AttributeError):  # none yet, or no dicts",
            "    held = None",
            "if held is None:",
            "    fast, held = _prepare(params, state)",
            f"blocks = held[{len(refs)}]",
            *_unpack([[name for name, _ in group] for group in self.held], "blocks"),
            f"copies = blocks[{self.depth}]",
            "buffers = fast.buffers.get(batch)",
            "if buffers is None:",
            "    buffers = fast.buffers[batch] = _workspace(batch)",
            *unpack_work,
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
            *[f"    {line}" for line in body],
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

    # the workspace ----------------------------------------------------------------------

    def _workspace(self, body: list[str]) -> tuple[list[str], list[str]]:
        """The buffers (and views of them) the step uses, and their unpacking there."""
        spec = self.spec
        groups: list[list[tuple[str, str]]] = []
        if self.bias:
            groups.append(
                [
                    ("xb", f"numpy.ones((batch, {spec.n_in + 1}), DTYPE)"),
                    ("x0", f"xb[:, :{spec.n_in}]  # X goes here: xb = [X | 1]"),
                    ("xb_T", "xb.T"),
                ]
            )
        for layer in range(1, self.depth + 1):
            width, blk = spec.layers[layer], self.block(layer)
            if self.out_t(layer):
                shape = f"({width}, batch)"
                group = [(f"a{layer}", f"numpy.empty({shape}, DTYPE)")]
                group += [(name, f"numpy.empty({shape}, DTYPE)") for name in ("targets", "wide")]
                group += [
                    ("cols", "numpy.empty(batch, DTYPE)"),
                    ("ones", "numpy.ones(batch, DTYPE)"),
                ]
            else:
                shape = f"(batch, {width + self.ones(layer)})"
                group = [
                    (f"a{layer}", f"numpy.empty({shape}, DTYPE)"),
                    (f"a{layer}_T", f"a{layer}.T"),
                    (f"a{layer}_1", f"a{layer}[:, {width}]  # the column of ones"),
                ]
            zeros = "zeros" if self.ones(layer) else "empty"  # the ones column's delta stays 0
            group += [
                (f"d{layer}", f"numpy.{zeros}({shape}, DTYPE)"),
                (f"d{layer}h", f"d{layer}[:, :{width}]  # all but the ones column"),
                (f"d{layer}_T", f"d{layer}.T"),
                (f"s{layer}", f"numpy.empty({shape}, DTYPE)"),
                (f"m{layer}", f"numpy.empty({shape}, bool)"),
                # scratch for an f'(z) kept from the forward pass (GELU, SiLU, ...)
                (f"q{layer}", f"numpy.empty({shape}, DTYPE)"),
                (f"r{layer}", f"numpy.empty({shape}, DTYPE)"),
            ]
            shape_of_block = block_shape(spec, layer)
            group.append((f"g{blk}", f"numpy.empty({shape_of_block}, DTYPE)"))
            group.append((f"t{blk}", f"numpy.empty({shape_of_block}, DTYPE)"))
            group += [(f"{b}_wb", f"{b}[:{width}]") for b in (f"g{blk}", f"t{blk}")]
            groups.append(group)
        groups.append(
            [
                ("scale", f"numpy.array({self.scale} / batch, DTYPE)"),
                ("plan", "_Plan(batch)  # the BLAS threads of this batch size"),
            ]
        )
        lines: list[str] = []
        kept: list[list[str]] = []
        for group in groups:
            mentioned = set(used([name for name, _ in group], body))
            bases = {re.split(r"[\[.]", code)[0] for name, code in group if name in mentioned}
            names = [name for name, _ in group if name in mentioned or name in bases]
            if names:
                kept.append(names)
                lines += [f"{name} = {code}" for name, code in group if name in names]
        returns = [f"    ({', '.join(g)}{',' if len(g) == 1 else ''})," for g in kept]
        return [*lines, "return (", *returns, ")"], _unpack(kept, "buffers")

    # the step ---------------------------------------------------------------------------

    def _forward(self, layer: int) -> list[str]:
        lay, act, blk = self.lay, self.lay.act(layer), self.block(layer)
        a = f"a{layer}"
        if self.out_t(layer):  # z^T = [W | b] [a | 1]^T: the softmax output, transposed
            return [
                f"{self.product(layer)}({blk}, {self.inp(layer, True)}, out={a})" + cite("bp.dense")
            ]
        lines = [f"{self.product(layer)}({self.inp(layer)}, {blk}_T, out={a})" + cite("bp.dense")]
        if layer == self.depth and lay.loss.name == "binary_cross_entropy":
            return lines  # the sigmoid is fused with the loss in _output
        assert act.expr is not None
        if self._keeps_derivative(layer) and not act.homogeneous:
            # s = f'(z) first, while a still holds z; then a = f(z) in place
            scratch = [f"q{layer}", f"r{layer}"]
            low = Lowering({x: a}, scratch, mask=f"m{layer}", number=self.number)
            what = f"s{layer} = {act.name}'(z{layer}), kept for the backward pass"
            lines += _cited(low.lower(act.derivative, f"s{layer}"), f"act.{act.name}", what=what)
            low = Lowering({x: a}, scratch, mask=f"m{layer}", number=self.number)
            try:
                calls = low.lower(act.expr, a)
            except ValueError:  # f(z) needs z after its first write: computed aside, copied
                low = Lowering({x: a}, scratch[1:], mask=f"m{layer}", number=self.number)
                calls = [*low.lower(act.expr, scratch[0]), Call("copyto", (scratch[0],), a)]
            lines += _cited(calls, f"def.{act.name}", what=f"{a} = {act.name}(z{layer})")
            lines += self._ones_column(layer)
        elif self._keeps_derivative(layer):
            scratch = [f"q{layer}", f"r{layer}"]
            low = Lowering({x: a}, scratch, mask=f"m{layer}", number=self.number)
            kept = low.lower(sp.expand(act.derivative), f"s{layer}", factor=False)
            calls = [*kept, Call("multiply", (a, f"s{layer}"), a)]
            what = f"{a} = z{layer} * s{layer}, s{layer} = {act.name}'(z{layer}), kept"
            lines += _cited(calls, f"def.{act.name}", f"act.{act.name}", what=what)
        else:
            low = self._lowering({x: a}, layer)
            lines += _cited(low.lower(act.expr, a), f"def.{act.name}")
            lines += self._ones_column(layer)
        return lines

    def _ones_column(self, layer: int) -> list[str]:
        """Put back a hidden layer's column of ones, which its activation changed."""
        act = self.lay.act(layer)
        assert act.expr is not None
        if not self.ones(layer) or act.expr.subs(x, 1) == 1:
            return []
        one = self.number(sp.Integer(1))
        return [f"numpy.copyto(a{layer}_1, {one})  # the column of ones: {act.name}(1) != 1"]

    def _output(self) -> list[str]:
        """Output activation, loss value and output delta d<L>, scaled by `scale`.

        The learning rate of sgd and momentum is folded into `scale`, so every gradient
        computed from d<L> already carries it.
        """
        lay = self.lay
        last, loss, n_out = lay.depth, lay.loss, lay.spec.n_out
        a, d, s = f"a{last}", f"d{last}", f"s{last}"
        target = "targets" if self.transposed else "Y"
        per_sample = f"({n_out} * batch)" if n_out > 1 else "batch"
        lines: list[str] = []
        if self.transposed:  # softmax, shifted, one sample per column; cross-entropy on the way
            ce = loss.name == "cross_entropy"
            lines += [
                "numpy.copyto(targets, Y.T)",
                "numpy.maximum.reduce(" + a + ", axis=0, out=cols)" + cite("bp.stable_softmax"),
                "numpy.copyto(wide, cols)",
                f"numpy.subtract({a}, wide, out={a})",
                *([f"loss = -float(numpy.vdot(targets, {a}))" + cite("bp.log_softmax")] * ce),
                f"numpy.exp({a}, out={a})",
                f"numpy.add.reduce({a}, axis=0, out=cols)",
                "numpy.copyto(wide, cols)",
                f"numpy.divide({a}, wide, out={a})",
            ]
            if ce:
                lines += [
                    "numpy.log(cols, out=cols)",
                    "loss = (loss + float(numpy.vdot(cols, ones))) / batch  # vdot: a cheap sum",
                ]
        if loss.name == "binary_cross_entropy":
            # log(1 + exp(-z)) is both the loss term and, negated and exponentiated, sigmoid(z)
            zero = self.number(sp.Integer(0))
            lines += [
                f"loss = float(numpy.add.reduce({a}, axis=None)) - float(numpy.vdot(Y, {a}))"
                + cite("bp.stable_bce"),
                f"numpy.negative({a}, out={a})",
                f"numpy.logaddexp({a}, {zero}, out={a})",
                f"loss = (loss + float(numpy.add.reduce({a}, axis=None))) / {per_sample}",
                f"numpy.negative({a}, out={a})",
                f"numpy.exp({a}, out={a})" + cite("bp.sigmoid_from_softplus"),
            ]
        elif loss.name == "mse":  # after any output: d = a - t, then the loss from d alone
            lines += [
                f"numpy.subtract({a}, {target}, out={d})" + cite(f"loss.{loss.name}"),
                f"loss = float(numpy.vdot({d}, {d})) / {per_sample}" + cite("bp.batch_mean"),
            ]
        elif loss.name == "huber":  # g = clip(d, -1, 1) in s; the loss is g d - g**2 / 2
            one, minus_one = self.number(sp.Integer(1)), self.number(sp.Integer(-1))
            lines += [
                f"numpy.subtract({a}, {target}, out={d})",
                f"numpy.minimum({d}, {one}, out={s})" + cite("loss.huber"),
                f"numpy.maximum({s}, {minus_one}, out={s})",
                f"loss = float(numpy.vdot({s}, {d})) - float(numpy.vdot({s}, {s})) / 2"
                + cite("bp.huber_value"),
                f"loss = loss / {per_sample}" + cite("bp.batch_mean"),
                f"numpy.copyto({d}, {s})",
            ]
        adam = lay.spec.optimizer.kind in COUNTS_STEPS
        lines += [
            "if not math.isfinite(loss):",
            "    _refuse(loss, X, Y)  # before any parameter changes",
            *(['state["step"] = step  # counted once the step is sure to happen'] * adam),
        ]
        delta = backprop.output_delta(loss.name, lay.act(last).name)
        coeff, rest = delta.expr.subs(n, n_out).as_content_primitive()
        optimizer = lay.spec.optimizer
        self.scale = num(coeff * (1 if optimizer.adaptive else optimizer.learning_rate))
        acc = sp.Symbol("d", real=True)
        low = self._lowering({y: a, t: target, acc: d}, last)
        if loss.name == "mse":
            rest = rest.subs(y - t, acc)
            if acc not in rest.free_symbols:
                raise ValueError(f"mse delta {rest} has no factor a - t")
        if loss.name == "huber":  # d already holds the gradient clip(a - t, -1, 1)
            rest = rest.subs(loss.gradient, acc)
            if acc not in rest.free_symbols:
                raise ValueError(f"huber delta {rest} has no factor clip(a - t, -1, 1)")
        if delta.kind == "softmax_jvp":  # one sample per column: sums over axis 0
            lines += _cited(low.lower(rest, d), delta.eq_ids[0])
            lines += [
                f"numpy.multiply({d}, {a}, out={s})" + cite("bp.softmax_jvp"),
                f"numpy.add.reduce({s}, axis=0, out=cols)",
                "numpy.copyto(wide, cols)",
                f"numpy.subtract({d}, wide, out={d})",
                f"numpy.multiply({d}, {a}, out={d})",
                f"numpy.multiply({d}, scale, out={d})",
            ]
        else:
            what = f"{d} = {to_numpy(rest * sp.Symbol('scale'), low.names)}"
            lines += _cited(low.lower(rest, d, scale="scale"), *delta.eq_ids, what=what)
        return lines

    def _update(self, layer: int) -> list[str]:
        """In-place optimizer update of block `p` from its gradient g<p>."""
        opt, number = self.spec.optimizer, self.number
        p = self.block(layer)
        g = f"g{p}"
        decay = self._weight_decay(layer)
        if opt.kind == "sgd":
            return [*decay, f"numpy.subtract({p}, {g}, out={p})" + cite("opt.sgd")]
        if opt.kind == "momentum":
            v, mu = f"v_{p}", number(num(opt["momentum"]), "MOMENTUM")
            calls = [Call("multiply", (v, mu), v), Call("add", (v, g), v)]
            if not opt.nesterov:
                return decay + _cited([*calls, Call("subtract", (p, v), p)], "opt.momentum")
            tmp = f"t{p}"
            ahead = [
                Call("multiply", (v, mu), tmp),
                Call("add", (tmp, g), tmp),
                Call("subtract", (p, tmp), p),
            ]
            return decay + _cited(calls, "opt.momentum") + _cited(ahead, "opt.nesterov")
        if opt.kind == "rmsprop":
            return decay + self._rmsprop(layer)
        if opt.kind == "adamw" and opt.weight_decay > 0:
            decay = self._decoupled_decay(layer)
        m, v, tmp = f"m_{p}", f"v_{p}", f"t{p}"
        rest1 = number(f"1 - {num(opt['beta1'])}", "ONE_MINUS_BETA1")
        rest2 = number(f"1 - {num(opt['beta2'])}", "ONE_MINUS_BETA2")
        calls = [
            Call("subtract", (g, m), tmp),
            Call("multiply", (tmp, rest1), tmp),
            Call("add", (m, tmp), m),
            Call("square", (g,), g),
            Call("subtract", (g, v), g),
            Call("multiply", (g, rest2), g),
            Call("add", (v, g), v),
            Call("sqrt", (v,), g),
            Call("multiply", (g, "root_correction"), g),
            Call("add", (g, number(num(opt["epsilon"]), "EPSILON")), g),
            Call("divide", (m, g), g),
            Call("multiply", (g, "step_size"), g),
            Call("subtract", (p, g), p),
        ]
        return decay + _cited(calls, "opt.adam")

    def _decoupled_decay(self, layer: int) -> list[str]:
        """AdamW's W <- W (1 - lr wd) on the block's weights and bias."""
        opt = self.spec.optimizer
        p = f"{self.block(layer)}_wb" if self.decays(layer) else self.block(layer)
        keep = self.number(f"1 - {num(opt.learning_rate)} * {num(opt.weight_decay)}", "KEEP")
        return [f"numpy.multiply({p}, {keep}, out={p})" + cite("opt.adamw")]

    def _rmsprop(self, layer: int) -> list[str]:
        """RMSprop's update of block `p` from its plain gradient g<p>."""
        opt, number = self.spec.optimizer, self.number
        p = self.block(layer)
        g, v, tmp = f"g{p}", f"v_{p}", f"t{p}"
        rest = number(f"1 - {num(opt['alpha'])}", "ONE_MINUS_ALPHA")
        calls = [
            Call("square", (g,), tmp),
            Call("subtract", (tmp, v), tmp),
            Call("multiply", (tmp, rest), tmp),
            Call("add", (v, tmp), v),
            Call("sqrt", (v,), tmp),
            Call("add", (tmp, number(num(opt["epsilon"]), "EPSILON")), tmp),
            Call("divide", (g, tmp), g),
            Call("multiply", (g, number(num(opt.learning_rate), "LEARNING_RATE")), g),
            Call("subtract", (p, g), p),
        ]
        return _cited(calls, "opt.rmsprop")

    def _weight_decay(self, layer: int) -> list[str]:
        """g <- g + wd W on the block's weights and bias (the gradient of sgd and momentum
        carries the learning rate, so their factor does too); none at weight_decay 0."""
        opt = self.spec.optimizer
        if opt.weight_decay == 0 or opt.kind == "adamw":  # adamw's decay is decoupled
            return []
        p = self.block(layer)
        g, tmp = f"g{p}", f"t{p}"
        if self.decays(layer):
            p, g, tmp = f"{p}_wb", f"{g}_wb", f"{tmp}_wb"
        factor = opt.weight_decay * (1 if opt.adaptive else opt.learning_rate)
        wd = self.number(num(factor), "WEIGHT_DECAY")
        calls = [Call("multiply", (p, wd), tmp), Call("add", (g, tmp), g)]
        return _cited(calls, "opt.weight_decay")

    def _step(self) -> list[str]:
        opt = self.spec.optimizer
        lines: list[str] = []
        if opt.kind in COUNTS_STEPS:
            lines += [
                'step = state.get("step")',
                "if type(step) is not int or step < 0:",
                "    raise ValueError(f\"state['step']: expected a step count, found {step!r}\")",
                "step += 1",
                f"root_correction = 1 / math.sqrt(1 - {num(opt['beta2'])}**step)",
                f"step_size = {num(opt.learning_rate)} / (1 - {num(opt['beta1'])}**step)",
            ]
        if self.bias:
            lines.append("numpy.copyto(x0, X)  # xb = [X | 1]")
        for layer in range(1, self.depth + 1):
            lines += self._forward(layer)
        lines += self._output()
        for layer in range(self.depth, 0, -1):
            blk = self.block(layer)
            lines.append(f"# layer {layer}, as the notes' Steps: gradients, propagate, update")
            ids = ("bp.grad_w", "bp.grad_b") if self.bias else ("bp.grad_w",)
            d = f"d{layer}" if self.out_t(layer) else f"d{layer}_T"
            lines.append(f"{self.product(layer)}({d}, {self.inp(layer)}, out=g{blk})" + cite(*ids))
            if layer > 1:  # through W<layer> before it changes
                d = (
                    f"d{layer}_T"
                    if self.out_t(layer)
                    else f"d{layer}h"
                    if self.ones(layer)
                    else f"d{layer}"
                )
                into = f"d{layer - 1}h" if self.bias else f"d{layer - 1}"
                func = "numpy.matmul" if self.bias else "numpy.dot"  # matmul takes strided views
                lines.append(f"{func}({d}, W{layer}, out={into})" + cite("bp.hidden"))
            lines += self._update(layer)
            if layer > 1:
                lines += self._hidden_delta(layer - 1)
        lines += ["if copies:", "    _copy_out(copies)", "return loss"]
        return lines

    def _hidden_delta(self, layer: int) -> list[str]:
        """d<layer> *= f'(z<layer>): from the kept derivative, or from the output a<layer>."""
        act, d = self.lay.act(layer), f"d{layer}"
        if self._keeps_derivative(layer):
            return [
                f"numpy.multiply({d}, s{layer}, out={d})" + cite("bp.hidden", f"act.{act.name}")
            ]
        acc = sp.Symbol("d", real=True)
        low = self._lowering({y: f"a{layer}", acc: d}, layer)
        derivative = act.derivative_of_output
        what = f"{d} *= {to_numpy(derivative, low.names)}"
        return _cited(low.lower(acc * derivative, d), "bp.hidden", f"act.{act.name}", what=what)


def _bare(lines: list[str]) -> tuple[list[str], list[str]]:
    """The lines calling NumPy by bare names (a global is one lookup, `numpy.f` two; on W1
    of the bench that is 0.8 us a step), and the import statement of those names."""
    names: set[str] = set()

    def bare(match: re.Match[str]) -> str:
        names.add(match.group(1))
        return match.group(1)

    out = []
    for line in lines:
        code, sep, comment = line.partition("#")
        out.append(re.sub(r"\bnumpy\.(\w+)", bare, code) + sep + comment)
    one_line = f"from numpy import {', '.join(sorted(names))}"
    if len(one_line) <= 100:
        return out, [one_line]
    return out, ["from numpy import (", *[f"    {name}," for name in sorted(names)], ")"]


def _unpack(groups: list[list[str]], source: str) -> list[str]:
    """`a, b = source[0]` lines, `(a,) = source[1]` for a group of one."""
    return [
        f"({group[0]},) = {source}[{i}]"
        if len(group) == 1
        else f"{', '.join(group)} = {source}[{i}]"
        for i, group in enumerate(groups)
    ]
