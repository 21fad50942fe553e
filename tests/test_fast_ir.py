"""The fast path's IR: every lowering of every step proved equal to its SymPy expression
(`lower.rebuild` over the recorded ops), and what the IR derives (workspace, imports,
constants, liveness) read off the op list, not the printed text."""

from __future__ import annotations

import pytest
import sympy as sp

from derive import activations, losses
from derive import spec as specs
from derive.codegen import ir
from derive.codegen.fast import FastPath
from derive.codegen.lower import rebuild
from derive.codegen.naming import Layers
from tests.generator_support import EXAMPLES, spec_toml

OUTPUTS = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}
HIDDEN = [name for name, act in activations.ACTIVATIONS.items() if act.elementwise]


def _specs() -> list[specs.Spec]:
    """The committed examples, every hidden activation, every loss, every optimizer."""
    found = [specs.load(path) for path in EXAMPLES]
    for index, act in enumerate(HIDDEN):
        loss = list(losses.LOSSES)[index % len(losses.LOSSES)]
        out = OUTPUTS.get(loss, "identity")
        kind = ["sgd", "momentum", "adam", "adamw", "rmsprop"][index % 5]
        toml = spec_toml(
            name=f"ir_{act}",
            layers=[3, 4, 4, 2],
            activations=[act, act, out],
            loss=loss,
            optimizer={"kind": kind, "learning_rate": 0.01},
        )
        found.append(specs.parse(toml, source="<test>"))
    return found


SPECS = _specs()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_lowering_of_the_step_rebuilds_to_its_expression(spec: specs.Spec) -> None:
    fast = FastPath(Layers(spec))
    assert fast.lowered, "the step lowers its activations and deltas"
    step_ops = [item for item in fast.items if isinstance(item, ir.Op)]
    for lowered in fast.lowered:
        env: dict[str, sp.Expr] = {code: sym for sym, code in lowered.names.items()}
        env |= fast.number.values
        result = rebuild(list(lowered.ops), env)[lowered.out]
        want = lowered.expr * (sp.Symbol("scale") if lowered.scale else 1)
        assert sp.simplify((result - want).rewrite(sp.exp)) == 0, (lowered.expr, lowered.ops)
        # what was proved is what the step runs (citations aside)
        plain = [(op.func, op.args, op.out) for op in step_ops]
        for op in lowered.ops:
            assert (op.func, op.args, op.out) in plain


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_workspace_holds_what_the_ops_name_and_what_those_view(spec: specs.Spec) -> None:
    fast = FastPath(Layers(spec))
    used = ir.referenced(fast.items) | {"plan"}
    made = {buffer.name: buffer for group in fast.buffers for buffer in group}
    for name, buffer in made.items():
        assert name in used or any(b.view_of == name for b in made.values()), name
        if buffer.view_of is not None:
            assert buffer.view_of in made
    every = {buffer.name for group in fast._all_buffers() for buffer in group}
    assert used & every <= set(made)


def test_imports_and_constants_come_from_the_ops() -> None:
    items: list[ir.Item] = [
        ir.Op("maximum.reduce", ("a",), "cols", axis=0),
        ir.Stmt("loss = float(vdot(d, d))", ("d",), ("vdot",)),
        ir.Op("multiply", ("d", "HALF"), "d"),
    ]
    assert ir.numpy_names(items) == ["maximum", "multiply", "vdot"]
    assert ir.constants(items, {"HALF": "1 / 2", "ONE": "1"}) == ["HALF"]
    assert ir.print_items(items[:1]) == ["maximum.reduce(a, axis=0, out=cols)"]


def test_live_ranges_say_which_buffers_could_share_memory() -> None:
    items: list[ir.Item] = [
        ir.Op("exp", ("a",), "q"),
        ir.Op("add", ("q", "a"), "a"),
        ir.Op("tanh", ("a",), "r"),
        ir.Op("multiply", ("r", "a"), "a"),
    ]
    ranges = ir.live_ranges(items, ["q", "r", "a"])
    assert ranges == {"q": (0, 1), "r": (2, 3), "a": (0, 3)}


def test_a_citation_too_long_for_its_line_goes_above_it() -> None:
    op = ir.Op("multiply", ("a_very_long_buffer_name_" * 3, "x"), "out", ("bp.dense",))
    assert ir.print_items([op], indent="    ") == [
        "    # [bp.dense]",
        f"    multiply({'a_very_long_buffer_name_' * 3}, x, out=out)",
    ]


@pytest.mark.parametrize("loss", sorted(losses.LOSSES))
def test_every_loss_has_an_output_rule_for_each_output_it_allows(loss: str) -> None:
    from derive import backprop
    from derive.codegen import outputs

    allowed = [
        name
        for name, act in activations.ACTIVATIONS.items()
        if losses.LOSSES[loss].output_activation in (None, name)
        and (act.slope_in_output or not act.elementwise)
    ]
    assert allowed
    for act in allowed:
        rule = outputs.output_rule(loss, act)
        assert rule.loss == loss and rule.activation in (None, act)
        assert rule.targets in ("probabilities", "binary", "any")
        for eq_id in rule.cites:
            backprop.derivation(eq_id)  # raises for an id nobody registered


def test_codegen_names_no_loss_outside_the_output_rules() -> None:
    """A new loss is a record in codegen/outputs.py: no other stage tests a loss's name."""
    from pathlib import Path

    import derive.codegen

    folder = Path(derive.codegen.__file__).parent
    for path in folder.glob("*.py"):
        if path.name == "outputs.py":
            continue
        text = path.read_text(encoding="utf-8")
        for loss in losses.LOSSES:
            assert f'"{loss}"' not in text, f"{path.name} names the loss {loss}"


def _optimizer_specs() -> list[specs.Spec]:
    """Every optimizer of `spec.OPTIMIZERS` at its defaults, with weight decay, with Nesterov."""
    cases = []
    for kind, keys in specs.OPTIMIZERS.items():
        cases.append({"kind": kind})
        if "weight_decay" in keys:
            cases.append({"kind": kind, "weight_decay": 0.05})
        if "nesterov" in keys:
            cases.append({"kind": kind, "nesterov": True, "weight_decay": 0.01})
    found = []
    for index, optimizer in enumerate(cases):
        toml = spec_toml(
            name=f"opt_{index}",
            layers=[3, 4, 2],
            activations=["tanh", "identity"],
            loss="mse",
            optimizer={"learning_rate": 0.01, **optimizer},
        )
        found.append(specs.parse(toml, source="<test>"))
    assert len(found) >= 10
    return found


@pytest.mark.parametrize("spec", _optimizer_specs(), ids=lambda s: s.name)
def test_the_fast_updates_are_the_optimizers_sympy_rules(spec: specs.Spec) -> None:
    """Each layer's update ops, folded back by `lower.rebuild`, give the parameter and the
    state that `optimizers.RULES` give (a view <name>_wb: the rows that decay)."""
    from derive import optimizers

    fast = FastPath(Layers(spec))
    assert len(fast.updates) == spec.depth
    for updated in fast.updates:
        ops = [
            ir.Op(
                op.func,
                tuple(arg.removesuffix("_wb") for arg in op.args),
                op.out.removesuffix("_wb"),
            )
            for op in updated.ops
        ]
        env = {**fast.number.values, **updated.held}
        rebuilt = rebuild(ops, env)
        want = optimizers.run(updated.ids)
        for buffer, symbol in updated.held.items():
            if symbol in (optimizers.W, optimizers.m, optimizers.v) and buffer in rebuilt:
                difference = sp.simplify(rebuilt[buffer] - want[symbol])
                assert difference == 0, (spec.optimizer, updated.ids, buffer, difference)
