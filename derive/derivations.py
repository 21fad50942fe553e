"""`derive derivations [ID ...]`: the registered derivations that generated code cites.

Input: ids (none: all). Output: for each, its id, title, statement, LaTeX, condition, the
equations of the seed notes it corresponds to, and how it is proved: the registered proofs of
`derive.proofs` that cite it (each one's own description), or, for the optimizer updates,
the tests against torch.optim. Generated modules cite these ids (`# [bp.hidden]`) and their
header points here.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

import sympy as sp

from derive import activations, backprop, losses, optimizers
from derive.errors import DeriveError, plain
from derive.symbols import x, y

__all__ = ["Entry", "entries", "run_derivations"]

# LaTeX of the derivations whose statement is not one SymPy expression (the layer-level chain
# rule, the fused and stable forms, the optimizer updates). The activations' and losses' LaTeX
# is printed from their SymPy expressions.
LATEX = {
    "bp.dense": r"Z_l = A_{l-1} W_l^\top + b_l",
    "bp.delta_out": r"\delta_L = \frac{\partial E}{\partial A_L} \odot f_L'(Z_L)",
    "bp.hidden": r"\delta_l = \left(\delta_{l+1} W_{l+1}\right) \odot f_l'(Z_l)",
    "bp.grad_w": r"\frac{\partial E}{\partial W_l} = \delta_l^\top A_{l-1}",
    "bp.grad_b": r"\frac{\partial E}{\partial b_l} = \sum_{b=1}^{B} \delta_{l,b}",
    "bp.batch_mean": r"E = \frac{1}{B} \sum_{b=1}^{B} E_b",
    "bp.softmax_ce": r"\frac{\partial E}{\partial z_i} = s_i \sum_j t_j - t_i = s_i - t_i",
    "bp.sigmoid_bce": r"\frac{\partial E}{\partial z_i} = \frac{a_i - t_i}{n}",
    "bp.softmax_jvp": r"\sum_k g_k \frac{\partial s_k}{\partial z_i}"
    r" = s_i \Big(g_i - \sum_k g_k s_k\Big)",
    "bp.stable_softmax": r"\operatorname{softmax}(z) = \operatorname{softmax}(z - \max_j z_j)",
    "bp.log_softmax": r"-\sum_i t_i \log s_i"
    r" = \sum_i t_i \Big(m + \log \sum_j e^{z_j - m} - z_i\Big),\ m = \max_j z_j",
    "bp.stable_bce": r"-\big(t \log \sigma(z) + (1 - t) \log(1 - \sigma(z))\big)"
    r" = \log(1 + e^{-z}) + (1 - t) z",
    "bp.sigmoid_from_softplus": r"\sigma(z) = e^{-\log(1 + e^{-z})}",
    "bp.huber_value": r"\operatorname{huber}(d) = g d - \frac{g^2}{2},\ g = \min(1, \max(-1, d))",
    "opt.sgd": r"W \leftarrow W - \eta \frac{\partial E}{\partial W}",
    "opt.momentum": r"v \leftarrow \mu v + \eta g;\ W \leftarrow W - v",
    "opt.adam": r"m \leftarrow \beta_1 m + (1 - \beta_1) g;\ v \leftarrow \beta_2 v"
    r" + (1 - \beta_2) g^2;\ W \leftarrow W - \frac{\eta}{1 - \beta_1^k}"
    r" \frac{m}{\sqrt{v / (1 - \beta_2^k)} + \epsilon}",
    "opt.weight_decay": r"g \leftarrow \frac{\partial E}{\partial W} + \lambda W",
    "opt.nesterov": r"v \leftarrow \mu v + \eta g;\ W \leftarrow W - (\eta g + \mu v)",
    "opt.adamw": r"W \leftarrow W (1 - \eta \lambda)",
    "opt.rmsprop": r"v \leftarrow \alpha v + (1 - \alpha) g^2;\ W \leftarrow W"
    r" - \eta \frac{g}{\sqrt{v} + \epsilon}",
}
TORCH_TESTED = {
    "opt.sgd": "torch.optim.SGD (test_schedules)",
    "opt.momentum": "torch.optim.SGD(momentum=...) (test_schedules)",
    "opt.adam": "torch.optim.Adam (test_schedules)",
    "opt.weight_decay": "torch.optim.SGD and Adam(weight_decay=...) (test_optimizers_torch)",
    "opt.nesterov": "torch.optim.SGD(momentum=..., nesterov=True) (test_optimizers_torch)",
    "opt.adamw": "torch.optim.AdamW (test_optimizers_torch)",
    "opt.rmsprop": "torch.optim.RMSprop (test_optimizers_torch)",
}


@dataclass(frozen=True)
class Entry:
    """One registered derivation as `derive derivations` shows it."""

    id: str
    title: str
    statement: str
    latex: str
    condition: str | None
    notes: str | None
    proved_by: tuple[str, ...]  # how it is proved, one line per kind of proof


def _latex(eq_id: str) -> str:
    """The LaTeX of a registered derivation: from the table, else printed by SymPy."""
    if eq_id in LATEX:
        return LATEX[eq_id]
    kind, _, name = eq_id.partition(".")
    if kind in ("def", "act"):
        act = activations.get(name)
        assert act.expr is not None
        if kind == "def":
            return f"f(z) = {sp.latex(act.expr.subs(x, sp.Symbol('z')))}"
        if not act.slope_in_output:  # kept from the forward pass, in z
            return f"f'(z) = {sp.latex(act.derivative.subs(x, sp.Symbol('z')))}"
        return f"f'(z) = {sp.latex(act.derivative_of_output)},\\ y = f(z)"
    loss = losses.get(name)
    return rf"\frac{{\partial E}}{{\partial {sp.latex(y)}}} = {sp.latex(loss.gradient)}"


def _proofs_by_id() -> dict[str, list[str]]:
    """For each derivation id, how the registered proofs that cite it prove it."""
    from derive import proofs  # SymPy and mpmath work: only this command pays for it

    found: dict[str, dict[str, int]] = {}
    for proof in proofs.PROOFS.values():
        run = getattr(proof.run, "func", proof.run)
        doc = (run.__doc__ or proof.name).split("\n\n")[0]
        text = " ".join(doc.split())
        text = text.split("] ", 1)[1] if text.startswith("[") else text
        if run.__name__ == "prove_case":
            text = "the vectorized backward pass equals sympy.diff of a whole small network's loss"
        for eq_id in proof.eq_ids:
            kinds = found.setdefault(eq_id, {})
            kinds[text] = kinds.get(text, 0) + 1
    return {
        eq_id: [f"{text} ({count} cases)" if count > 1 else text for text, count in kinds.items()]
        for eq_id, kinds in found.items()
    }


def entries() -> list[Entry]:
    """Every registered derivation generated code may cite, in registry order."""
    proved = _proofs_by_id()
    records = [*backprop.DERIVATIONS.values(), *optimizers.UPDATES.values()]
    result = []
    for record in records:
        how = tuple(proved.get(record.id, ()))
        if record.id in TORCH_TESTED:
            how = (f"step for step against {TORCH_TESTED[record.id]}",)
        result.append(
            Entry(
                record.id,
                record.title,
                record.statement,
                _latex(record.id),
                record.condition,
                record.notes,
                how,
            )
        )
    return result


def _select(ids: list[str]) -> list[Entry]:
    """The entries named by `ids` (all for none); DeriveError for an unknown id."""
    everything = entries()
    if not ids:
        return everything
    by_id = {entry.id: entry for entry in everything}
    for eq_id in ids:
        if eq_id.strip("[]") not in by_id:
            close = difflib.get_close_matches(eq_id, by_id, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DeriveError(f"derivations: no registered derivation {plain(eq_id)!r}{hint}")
    return [by_id[eq_id.strip("[]")] for eq_id in ids]


def _kind(how: str) -> str:
    """`tested` for an update checked against torch.optim, `proved` for a SymPy proof."""
    return "tested" if how.startswith("step for step against ") else "proved"


def format_text(selected: list[Entry]) -> str:
    """Each entry as a block of labelled lines."""
    blocks = []
    for entry in selected:
        lines = [f"[{entry.id}] {entry.title}", f"  statement: {entry.statement}"]
        lines.append(f"  latex:     {entry.latex}")
        if entry.condition:
            lines.append(f"  condition: {entry.condition}")
        if entry.notes:
            lines.append(f"  notes:     {entry.notes}")
        lines += [f"  {_kind(how)}:    {how}" for how in entry.proved_by]
        lines += [] if entry.proved_by else ["  proved:    (no proof)"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def run_derivations(ids: list[str], output_format: str) -> int:
    """`derive derivations`: print the selected derivations; exit 0."""
    selected = _select(ids)
    if output_format == "json":
        print(json.dumps([entry.__dict__ for entry in selected], indent=2))
    else:
        print(format_text(selected))
    return 0
