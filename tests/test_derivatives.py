"""Every activation and loss derivative of the registries, three ways.

The SymPy derivatives (lambdified with NumPy) are checked against central finite differences
in float64 at seeded random points away from the kinks, and against torch.autograd as an
independent oracle. The kink convention (ReLU'(0) = 0, leaky ReLU'(0) = 0.01, as PyTorch)
is asserted exactly, and SymPy's default Heaviside(0) = 1/2 must not leak anywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derive import activations, backprop, losses, proofs
from derive.symbols import n, t, x, y

ELEMENTWISE = [a for a in activations.ACTIVATIONS.values() if a.elementwise]
STEP = 1e-6


def _points(seed: int = 0, size: int = 64) -> np.ndarray:
    """Seeded points in [-4, 4] at least 0.1 away from the kink at 0."""
    values = np.random.default_rng(seed).uniform(-4.0, 4.0, size)
    return values[np.abs(values) > 0.1]


def _numpy(expr: sp.Expr, *args: sp.Symbol):
    f = sp.lambdify(args, expr, modules="numpy")
    return lambda *v: np.broadcast_to(np.asarray(f(*v), dtype=np.float64), np.shape(v[0]))


def _central(f, v: np.ndarray) -> np.ndarray:
    return (f(v + STEP) - f(v - STEP)) / (2 * STEP)


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
def test_activation_derivative_vs_finite_differences(act: activations.Activation) -> None:
    v = _points()
    f = _numpy(act.expr, x)
    expected = _central(f, v)
    np.testing.assert_allclose(_numpy(act.derivative, x)(v), expected, rtol=1e-6, atol=1e-8)
    if act.slope_in_output:
        in_output = _numpy(act.derivative_of_output, y)(f(v))
        np.testing.assert_allclose(in_output, expected, rtol=1e-6, atol=1e-8)
    else:  # generated code keeps f'(z): no output form is claimed
        with pytest.raises(ValueError, match="not sought in the output"):
            _ = act.derivative_of_output


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_loss_derivative_vs_finite_differences(name: str) -> None:
    loss = losses.get(name)
    rng = np.random.default_rng(1)
    a, target = rng.uniform(0.05, 0.95, 32), rng.uniform(0.0, 1.0, 32)
    term = _numpy(loss.term, y, t)
    expected = (term(a + STEP, target) - term(a - STEP, target)) / (2 * STEP)
    np.testing.assert_allclose(_numpy(loss.derivative, y, t)(a, target), expected, rtol=1e-6)


def test_softmax_jacobian_vs_finite_differences() -> None:
    zs = list(sp.symbols("z0:4", real=True))
    jacobian = sp.lambdify([zs], proofs.softmax_jacobian(zs), modules="numpy")
    softmax = sp.lambdify([zs], activations.softmax(zs), modules="numpy")
    z0 = np.random.default_rng(2).normal(size=4)
    numeric = np.empty((4, 4))
    for i in range(4):
        e = np.eye(4)[i] * STEP
        numeric[:, i] = (np.array(softmax(z0 + e)) - np.array(softmax(z0 - e))) / (2 * STEP)
    np.testing.assert_allclose(np.array(jacobian(z0), dtype=float), numeric, atol=1e-9)


# --- the kink convention ------------------------------------------------------------------


def test_kink_convention_exact() -> None:
    assert activations.get("relu").derivative.subs(x, 0) == 0
    assert activations.get("leaky_relu").derivative.subs(x, 0) == sp.Rational(1, 100)
    assert activations.get("relu").derivative_of_output.subs(y, 0) == 0
    assert activations.get("leaky_relu").derivative_of_output.subs(y, 0) == sp.Rational(1, 100)
    zero = np.array([0.0, -0.0])
    assert np.all(_numpy(activations.get("relu").derivative, x)(zero) == 0.0)
    assert np.all(_numpy(activations.get("leaky_relu").derivative, x)(zero) == 0.01)


def _half_heavisides(expr: sp.Expr) -> list[sp.Expr]:
    return [
        h
        for h in sp.preorder_traversal(expr)
        if isinstance(h, sp.Heaviside) and (len(h.args) == 1 or h.args[1] == sp.S.Half)
    ]


def test_sympy_default_heaviside_half_never_leaks() -> None:
    assert sp.diff(sp.Max(0, x), x).subs(x, 0) == sp.S.Half  # what the convention overrides
    registered = [a.derivative for a in ELEMENTWISE]
    registered += [a.derivative_of_output for a in ELEMENTWISE if a.slope_in_output]
    registered += [loss.derivative for loss in losses.LOSSES.values()]
    registered += [loss.gradient for loss in losses.LOSSES.values()]
    registered += [backprop.output_delta(loss, act).expr for loss, act in proofs.OUTPUT_PAIRS]
    one, at = sp.Matrix([[1]]), sp.Matrix([[y]])
    registered += [proofs.hidden_delta(one, one, at, a.name, at)[0] for a in ELEMENTWISE]
    assert [e for e in registered if _half_heavisides(e)] == []
    at_zero = {"relu": 0.0, "leaky_relu": 0.01, "identity": 1.0, "sigmoid": 0.25, "tanh": 1.0}
    at_zero |= {"softplus": 0.5, "elu": 1.0, "gelu": 0.5, "silu": 0.5}
    assert at_zero.keys() == {a.name for a in ELEMENTWISE}
    for act in ELEMENTWISE:
        zero = np.zeros(1)
        assert _numpy(act.derivative, x)(zero)[0] == pytest.approx(at_zero[act.name], abs=1e-15)
        if act.slope_in_output:
            in_output = _numpy(act.derivative_of_output, y)(_numpy(act.expr, x)(zero))[0]
            assert in_output == pytest.approx(at_zero[act.name], abs=1e-15)


# --- torch.autograd as an independent oracle --------------------------------------------------


TORCH_ACTIVATIONS = {
    "relu": lambda torch, v: torch.nn.functional.relu(v),
    "leaky_relu": lambda torch, v: torch.nn.functional.leaky_relu(v, negative_slope=0.01),
    "sigmoid": lambda torch, v: torch.sigmoid(v),
    "tanh": lambda torch, v: torch.tanh(v),
    "identity": lambda torch, v: v * 1.0,
    "softplus": lambda torch, v: torch.nn.functional.softplus(v),
    "elu": lambda torch, v: torch.nn.functional.elu(v, alpha=1.0),
    "gelu": lambda torch, v: torch.nn.functional.gelu(v, approximate="tanh"),
    "silu": lambda torch, v: torch.nn.functional.silu(v),
}


def _torch_grad(torch, f, v: np.ndarray) -> np.ndarray:
    tv = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    f(tv).sum().backward()
    return tv.grad.numpy()


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
def test_activation_derivative_vs_torch(act: activations.Activation) -> None:
    torch = pytest.importorskip("torch")
    v = np.concatenate([_points(3), [0.0]])  # torch's own value at the kink too
    expected = _torch_grad(torch, lambda tv: TORCH_ACTIVATIONS[act.name](torch, tv), v)
    np.testing.assert_allclose(_numpy(act.derivative, x)(v), expected, rtol=1e-12, atol=1e-15)
    assert TORCH_ACTIVATIONS.keys() == {a.name for a in ELEMENTWISE}


def test_kink_convention_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    zero = np.array([0.0])
    relu = _torch_grad(torch, torch.nn.functional.relu, zero)
    leaky = _torch_grad(torch, lambda v: torch.nn.functional.leaky_relu(v, 0.01), zero)
    elu = _torch_grad(torch, torch.nn.functional.elu, zero)
    assert float(activations.get("relu").derivative.subs(x, 0)) == relu[0] == 0.0
    assert float(activations.get("leaky_relu").derivative.subs(x, 0)) == leaky[0] == 0.01
    # ELU = Max(0, x) + exp(Min(0, x)) - 1: H(x) is 0 at 0, H(-x) (rising to the left) is 1
    assert float(activations.get("elu").derivative.subs(x, 0)) == elu[0] == 1.0


def test_left_derivative_of_a_step_rising_to_the_left() -> None:
    """Min(0, x) has slope 1 left of 0 and 0 right of it: the convention gives 1 at 0."""
    assert activations.differentiate(sp.Min(0, x), x).subs(x, 0) == 1
    assert activations.differentiate(sp.Max(0, x), x).subs(x, 0) == 0
    assert activations.differentiate(sp.Max(0, -x), x).subs(x, 0) == -1


@pytest.mark.parametrize("name", ["softplus", "silu"])
def test_derivative_finite_where_exp_overflows(name: str) -> None:
    """sympy.diff writes exp(u)/(1 + exp(u)); the registry's form stays finite at |x| = 800."""
    v = np.array([-800.0, -50.0, 50.0, 800.0])
    with np.errstate(over="ignore"):
        slope = _numpy(activations.get(name).derivative, x)(v)
    assert np.all(np.isfinite(slope))
    np.testing.assert_allclose(slope[[0, 3]], [0.0, 1.0], atol=1e-300)


def _torch_loss(torch, name: str, out, target):
    functional = torch.nn.functional
    if name == "mse":
        return functional.mse_loss(out, target)
    if name == "binary_cross_entropy":
        return functional.binary_cross_entropy(out, target)
    if name == "huber":
        return functional.huber_loss(out, target, delta=1.0)
    return -(target * torch.log(out)).sum(dim=1).mean()


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_batch_loss_and_gradient_vs_torch(name: str) -> None:
    """E and dE/dA for a (3, 4) batch: the registry's loss and derivative against torch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    out, target = rng.uniform(0.05, 0.95, (3, 4)), rng.uniform(0.0, 1.0, (3, 4))
    A = torch.tensor(out, requires_grad=True)
    E = _torch_loss(torch, name, A, torch.tensor(target))
    E.backward()
    loss = losses.get(name)
    ours = sp.lambdify([y, t], loss.term, modules="numpy")(out, target).sum(axis=1)
    ours = ours / (4 if loss.mean_over_outputs else 1)
    np.testing.assert_allclose(ours.mean(), E.item(), rtol=1e-12)
    scale = 3 * (4 if loss.mean_over_outputs else 1)
    gradient = _numpy(loss.derivative, y, t)(out, target) / scale
    np.testing.assert_allclose(gradient, A.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize(("loss", "act"), proofs.OUTPUT_PAIRS, ids="-".join)
def test_output_delta_vs_torch(loss: str, act: str) -> None:
    """delta_L = dE/dZ_L per sample, as generated code computes it, against torch.autograd."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    Z, target = rng.uniform(-2.0, 2.0, (3, 4)), rng.uniform(0.0, 1.0, (3, 4))
    if loss == "cross_entropy":
        target /= target.sum(axis=1, keepdims=True)  # the condition sum(t) = 1
    tz = torch.tensor(Z, requires_grad=True)
    out = torch.softmax(tz, dim=1) if act == "softmax" else TORCH_ACTIVATIONS[act](torch, tz)
    _torch_loss(torch, loss, out, torch.tensor(target)).backward()
    rule = backprop.output_delta(loss, act)
    A = out.detach().numpy()
    delta = _numpy(rule.expr, y, t, n)(A, target, np.full_like(A, 4.0))
    if rule.kind == "softmax_jvp":
        delta = A * (delta - (delta * A).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(delta / 3, tz.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_cross_entropy_with_probabilities_vs_torch() -> None:
    """torch's cross_entropy on logits with probability targets: gradient (s - t) / B."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    Z, target = rng.normal(size=(5, 3)), rng.dirichlet(np.ones(3), 5)
    tz = torch.tensor(Z, requires_grad=True)
    torch.nn.functional.cross_entropy(tz, torch.tensor(target)).backward()
    s = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    fused = _numpy(backprop.softmax_ce_delta(), y, t)(s, target)
    np.testing.assert_allclose(fused / 5, tz.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_stable_bce_vs_torch_with_logits() -> None:
    torch = pytest.importorskip("torch")
    z, target = np.array([-6.0, -0.5, 0.3, 7.0]), np.array([0.0, 0.25, 1.0, 0.5])
    tz = torch.tensor(z, requires_grad=True)
    functional = torch.nn.functional
    E = functional.binary_cross_entropy_with_logits(tz, torch.tensor(target), reduction="sum")
    E.backward()
    term = sp.lambdify([x, t], backprop.stable_bce_term(), modules="numpy")
    np.testing.assert_allclose(term(z, target).sum(), E.item(), rtol=1e-12)
    gradient = _numpy(sp.diff(backprop.stable_bce_term(), x), x, t)(z, target)
    np.testing.assert_allclose(gradient, tz.grad.numpy(), rtol=1e-10)


def test_softmax_jacobian_vs_torch() -> None:
    torch = pytest.importorskip("torch")
    zs = list(sp.symbols("z0:4", real=True))
    jacobian = sp.lambdify([zs], proofs.softmax_jacobian(zs), modules="numpy")
    z0 = np.random.default_rng(7).normal(size=4)
    expected = torch.autograd.functional.jacobian(
        lambda v: torch.softmax(v, dim=0), torch.tensor(z0)
    )
    np.testing.assert_allclose(np.array(jacobian(z0), dtype=float), expected.numpy(), atol=1e-14)
    g = np.random.default_rng(8).normal(size=4)
    s = np.exp(z0) / np.exp(z0).sum()
    jvp = proofs.softmax_jvp(sp.Matrix([list(s)]), sp.Matrix([list(g)]))
    np.testing.assert_allclose(np.array(jvp, dtype=float)[0], expected.numpy().T @ g, atol=1e-14)


def test_huber_on_every_piece_vs_torch() -> None:
    """|a - t| below, at and above delta = 1: loss and gradient as torch's HuberLoss."""
    torch = pytest.importorskip("torch")
    out = np.array([[0.3, 2.5, -4.0], [1.0, -1.0, 0.0]])
    target = np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 0.9]])
    A = torch.tensor(out, requires_grad=True)
    E = torch.nn.HuberLoss()(A, torch.tensor(target))
    E.backward()
    huber = losses.get("huber")
    terms = sp.lambdify([y, t], huber.term, modules="numpy")(out, target)
    np.testing.assert_allclose(terms.mean(), E.item(), rtol=1e-14)
    for form in (huber.derivative, huber.gradient):
        np.testing.assert_allclose(_numpy(form, y, t)(out, target) / out.size, A.grad.numpy())
