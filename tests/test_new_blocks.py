"""The second edition's building blocks, each a registry entry: softplus, ELU, GELU (tanh),
SiLU, a spec's own activation (`[activation.NAME]`) and the Huber loss.

Each is checked in a generated module as the first edition's blocks are (test_generated.py):
gradients against finite differences and torch.autograd, the fast path against the readable
path, no allocation in the step; plus the kink convention at exactly 0 and the refusals of
an expression that cannot be an activation (exit 2, one message).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from generator_support import batch, build, spec_toml
from test_generated import _traced_peak, assert_fast_equals_readable, assert_gradients_right

from derive import activations, backprop, codegen, proofs
from derive import spec as specs
from derive.errors import DeriveError

NEW = ["softplus", "elu", "gelu", "silu"]
MISH = {"mish": {"expression": "x * tanh(softplus(x))"}}


def _with_own(fields: dict[str, Any], own: dict[str, dict[str, str]]) -> str:
    text = spec_toml(**fields)
    for name, table in own.items():
        text += f"[activation.{name}]\n" + "".join(f'{k} = "{v}"\n' for k, v in table.items())
    return text


def _build_own(folder: Path, own: dict[str, dict[str, str]], **fields: Any):
    spec = specs.parse(_with_own(fields, own), source="<test>")
    (folder / f"{spec.name}.py").write_text(codegen.render_module(spec), encoding="utf-8")
    return codegen.load_module(spec.name, folder)


@pytest.mark.parametrize("act", NEW)
@pytest.mark.parametrize(
    ("out", "loss"), [("identity", "mse"), ("softmax", "cross_entropy")], ids=["mse", "ce"]
)
def test_new_activation_gradients_and_paths(tmp_path: Path, act: str, out: str, loss: str) -> None:
    net = build(tmp_path, layers=[3, 5, 4, 3], activations=[act, act, out], loss=loss)
    assert_gradients_right(net, seed=1)
    assert_fast_equals_readable(net, seed=2)


@pytest.mark.parametrize("act", NEW)
def test_new_activation_float32_without_bias(tmp_path: Path, act: str) -> None:
    net = build(
        tmp_path, layers=[3, 4, 2], activations=[act, "identity"], loss="mse", bias=False,
        dtype="float32", optimizer={"kind": "adam", "learning_rate": 0.01},
    )  # fmt: skip
    assert_fast_equals_readable(net, seed=3)


def test_user_defined_activation_gradients_and_paths(tmp_path: Path) -> None:
    for out, loss in (("identity", "mse"), ("softmax", "cross_entropy")):
        net = _build_own(
            tmp_path, MISH, name=f"own_{loss}", layers=[3, 5, 4, 3],
            activations=["mish", "mish", out], loss=loss,
        )  # fmt: skip
        assert net.ACTIVATIONS[:2] == ("mish", "mish")
        assert_gradients_right(net, seed=1)
        assert_fast_equals_readable(net, seed=2)
    text = (tmp_path / "own_mse.py").read_text()
    assert "# [def.mish]" in text and "[act.mish]" in text  # its lines cite its derivations
    assert "tanh" in text and "logaddexp" in text  # printed from SymPy, overflow-free


@pytest.mark.parametrize("act", ["gelu", "mish"])
def test_kept_derivative_step_allocates_nothing(tmp_path: Path, act: str) -> None:
    net = _build_own(
        tmp_path, MISH, name=f"alloc_{act}", layers=[8, 32, 16, 4],
        activations=[act, act, "softmax"], loss="cross_entropy", dtype="float32",
    )  # fmt: skip
    growth, small_peak = _traced_peak(net, size=16, steps=100)
    _, large_peak = _traced_peak(net, size=4096, steps=3)
    assert growth < 4096
    assert large_peak - small_peak < 70_000


@pytest.mark.parametrize(
    ("own", "slope_at_zero"),
    [("Max(0, x)", 0.0), ("Max(0, x) + Min(0, x) / 10", 0.1), ("Abs(x)", -1.0)],
)
def test_kink_of_a_user_expression_takes_the_left_derivative(
    tmp_path: Path, own: str, slope_at_zero: float
) -> None:
    """Every z1 exactly 0: the gradient of W2 sees f(0), of W1 sees f'(0), the left one."""
    net = _build_own(
        tmp_path, {"kinked": {"expression": own}}, name=f"kink{abs(hash(own)) % 1000}",
        layers=[2, 3, 1], activations=["kinked", "identity"], loss="mse", bias=False,
    )  # fmt: skip
    params = net.init_params(0)
    params["W1"][...] = 0.0
    X, Y = batch(net)
    _, grads = net.loss_and_grads(params, X, Y)
    err = net._forward(params, X)[-1] - Y  # (5, 1): dE/da2 * 5 / 2
    expected = (2 / 5) * ((err @ params["W2"]) * slope_at_zero).T @ X
    np.testing.assert_allclose(grads["W1"], expected, rtol=1e-12, atol=1e-15)
    assert_fast_equals_readable(net)


def test_elu_at_exactly_zero_has_slope_one_as_torch(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    net = build(tmp_path, layers=[2, 3, 1], activations=["elu", "identity"], loss="mse", bias=False)
    params = net.init_params(0)
    params["W1"][...] = 0.0
    X, Y = batch(net)
    _, grads = net.loss_and_grads(params, X, Y)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    out = torch.nn.functional.elu(torch.tensor(X) @ tensors["W1"].T) @ tensors["W2"].T
    torch.nn.functional.mse_loss(out, torch.tensor(Y)).backward()
    np.testing.assert_allclose(grads["W1"], tensors["W1"].grad.numpy(), rtol=1e-12)
    assert np.abs(grads["W1"]).max() > 0  # elu'(0) = 1, unlike relu'(0) = 0
    assert_fast_equals_readable(net)


def test_user_defined_derivation_is_proved_and_kept_apart() -> None:
    act = activations.user_defined("mish", "x * tanh(softplus(x))", "<test>")
    result = proofs.prove_slope(act)
    assert result.holds and result.eq_ids == ("act.mish",)
    assert "act.mish" not in backprop.DERIVATIONS  # the built-in registry stays as proved
    for name in NEW:
        assert f"act.{name}" in backprop.DERIVATIONS and f"def.{name}" in backprop.DERIVATIONS
    assert not proofs.unproved_derivations()


def test_a_wrong_slope_is_not_proved() -> None:
    act = activations.user_defined("mish", "x * tanh(softplus(x))", "<test>")
    wrong = activations.Activation("bad", "bad", act.expr, "he", False)
    object.__setattr__(wrong, "derivative", act.derivative + 1)  # a cached_property, replaced
    assert not proofs.prove_slope(wrong).holds


REFUSED = [
    ("log(x)", "finite and continuous on all reals, found Interval.open(0, oo)"),
    ("1 / x", "finite and continuous on all reals"),
    ("sqrt(x)", "finite and continuous on all reals, found Interval(0, oo)"),
    ("x * w", "an expression in x alone, found w"),
    ("2", "an expression in x, found a constant"),
    ("Piecewise((x, x > 0), (0, True))", "expected functions that generated code computes"),
    ("Piecewise((x, x > 0), (0, True))", "Abs, Max, Min, activations by name), found Piecewise"),
    ("__import__('os')", "expected an expression in x, found unknown function '__import__'"),
    ("x +", "expected an expression in x, found not an expression (SyntaxError): 'x +'"),
    ("sin(x)", "expected an expression in x, found unknown function 'sin'"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_an_expression_that_cannot_be_an_activation_is_refused(text: str, reason: str) -> None:
    with pytest.raises(DeriveError, match=r"activation\.own\.expression") as info:
        specs.parse(
            _with_own(
                {"name": "n", "layers": [2, 3, 1], "activations": ["own", "identity"],
                 "loss": "mse"},
                {"own": {"expression": text.replace('"', "'")}},
            ),
            source="s.toml",
        )  # fmt: skip
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("extra", "key", "reason"),
    [
        ('[activation.relu]\nexpression = "x"\n', "activation.relu", "no built-in"),
        ("[activation.own]\nexpr = 'x'\n", "activation.own.expr", "unknown key"),
        ("[activation.own]\n", "activation.own.expression", "required"),
        ("[activation.own]\nexpression = 3\n", "activation.own.expression", "string"),
    ],
)
def test_bad_activation_tables_exit_2(tmp_path: Path, extra: str, key: str, reason: str) -> None:
    path = tmp_path / "s.toml"
    fields = {"name": "n", "layers": [2, 3, 1], "activations": ["own", "identity"], "loss": "mse"}
    path.write_text(spec_toml(**fields) + extra, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "derive", "generate", str(path), "--out", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert key in run.stderr and reason in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "n.py").exists()


@pytest.mark.parametrize("act", ["elu", "gelu", "silu", "mish"])
def test_an_activation_whose_slope_needs_z_is_hidden_only(act: str) -> None:
    fields = {"name": "n", "layers": [2, 3, 1], "activations": ["tanh", act], "loss": "mse"}
    with pytest.raises(DeriveError, match=r"activations\[1\].*use it on hidden layers"):
        specs.parse(_with_own(fields, MISH), source="s.toml")


@pytest.mark.parametrize("expression", ["x * tanh(softplus(x))", "2 * tanh(x)", "x"])
def test_a_spec_s_own_activation_on_the_output_exits_2_naming_it(
    tmp_path: Path, expression: str
) -> None:
    """Generated code takes the output layer's derivative from its output, which a spec's own
    activation does not give (even x or 2 tanh(x), whose f' could be): refused, not generated."""
    path = tmp_path / "s.toml"
    fields = {"name": "n", "layers": [2, 3, 1], "activations": ["mine", "mine"], "loss": "mse"}
    path.write_text(_with_own(fields, {"mine": {"expression": expression}}), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "derive", "generate", str(path), "--out", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (run.returncode, run.stdout) == (2, "")
    allowed = "relu, leaky_relu, sigmoid, tanh, identity, softmax, softplus"
    assert run.stderr == (
        f"derive: error: {path}: activations[1]: expected an output activation ({allowed}),"
        " found 'mine', this spec's own [activation.mine] (use it on hidden layers)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_old_specs_keep_their_fingerprint() -> None:
    spec = specs.parse(spec_toml(name="n", layers=[2, 1], activations=["identity"], loss="mse"))
    assert "user_activations" not in spec.canonical()
    own = specs.parse(_with_own({"name": "n", "layers": [2, 3, 1], "loss": "mse",
                                 "activations": ["mish", "identity"]}, MISH))  # fmt: skip
    assert '"user_activations":[["mish","x * tanh(softplus(x))"]]' in own.canonical()


@pytest.mark.parametrize("out", ["identity", "tanh", "softplus"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_huber_gradients_and_paths(tmp_path: Path, out: str, dtype: str) -> None:
    net = build(tmp_path, layers=[3, 5, 2], activations=["gelu", out], loss="huber", dtype=dtype)
    X, Y = batch(net, size=16, seed=4)
    assert np.abs(net.forward(net.init_params(4), X) - Y).max() > 1  # both pieces in play
    if dtype == "float64":
        assert_gradients_right(net, seed=4)
    assert_fast_equals_readable(net, seed=4)


def test_huber_step_allocates_nothing(tmp_path: Path) -> None:
    net = build(tmp_path, layers=[8, 32, 4], activations=["relu", "identity"], loss="huber")
    growth, small_peak = _traced_peak(net, size=16, steps=100)
    _, large_peak = _traced_peak(net, size=4096, steps=3)
    assert growth < 4096
    assert large_peak - small_peak < 70_000
