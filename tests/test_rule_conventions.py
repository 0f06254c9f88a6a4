"""The MXNet conventions of course_lib.rules (the parameters lr_in_buffer, eps_inside_sqrt,
bias_correction_in_lr, decoupled_weight_decay): each against MXNet's formula written out
from its documentation (mxnet/optimizer/optimizer.py and the kernels of
src/operator/optimizer_op-inl.h, 1.9.1), under a learning rate that changes every step so
that the conventions differ; the same rule on numpy, a torch tensor and a list of tensors;
and the claims of the docstrings (equal to torch's while the learning rate is constant)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib import rules

X0 = np.linspace(-1.5, 2.0, 12).reshape(3, 4)
STEPS = 60
LRS = [0.05 * (0.97 ** t) for t in range(STEPS)]  # decays: lr_in_buffer matters


def _grad(x):
    a = np.linspace(0.5, 3.0, x.size).reshape(x.shape)
    return a * x + x ** 3 - 1.0


# ----------------------------------------------- MXNet's formulas, out of place, numpy
def ref_sgd_mom(x, lrs, momentum, wd=0.0, nesterov=False):
    """sgd_mom_update: m <- mu m - lr (g + wd w); w <- w + m. nag_mom_update:
    w <- w + mu m_new - lr (g + wd w)."""
    m = np.zeros_like(x)
    for lr in lrs:
        d = _grad(x) + wd * x
        m = momentum * m - lr * d
        x = x + momentum * m - lr * d if nesterov else x + m
    return x


def ref_adagrad(x, lrs, eps=1e-7, wd=0.0):
    """AdaGrad.update: h <- h + g^2; w <- w - lr (g / sqrt(h + eps) + wd w)."""
    h = np.zeros_like(x)
    for lr in lrs:
        g = _grad(x)
        h = h + g * g
        x = x - lr * (g / np.sqrt(h + eps) + wd * x)
    return x


def ref_rmsprop(x, lrs, gamma1=0.9, gamma2=0.9, eps=1e-8, wd=0.0, centered=False):
    """rmsprop_update: n <- (1-g1) g^2 + g1 n; w <- w - lr g / sqrt(n + eps).
    rmspropalex_update (centered): gbar <- (1-g1) g + g1 gbar;
    delta <- g2 delta - lr g / sqrt(n - gbar^2 + eps); w <- w + delta."""
    n, gbar, delta = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for lr in lrs:
        g = _grad(x) + wd * x
        n = (1 - gamma1) * g * g + gamma1 * n
        if centered:
            gbar = (1 - gamma1) * g + gamma1 * gbar
            delta = gamma2 * delta - lr * g / np.sqrt(n - gbar * gbar + eps)
            x = x + delta
        else:
            x = x - lr * g / np.sqrt(n + eps)
    return x


def ref_adam(x, lrs, beta1=0.9, beta2=0.999, eps=1e-8, wd=0.0):
    """Adam.update + adam_update: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t);
    w <- w - lr_t m / (sqrt(v) + eps)."""
    m, v = np.zeros_like(x), np.zeros_like(x)
    for t, lr in enumerate(lrs, 1):
        g = _grad(x) + wd * x
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        x = x - lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t) * m / (np.sqrt(v) + eps)
    return x


def ref_adadelta(x, rho=0.9, eps=1e-5, wd=0.0, steps=STEPS):
    """AdaDelta.update: no learning rate; w <- w - (delta + wd w)."""
    s, u = np.zeros_like(x), np.zeros_like(x)
    for _ in range(steps):
        g = _grad(x)
        s = rho * s + (1 - rho) * g * g
        d = np.sqrt(u + eps) / np.sqrt(s + eps) * g
        u = rho * u + (1 - rho) * d * d
        x = x - (d + wd * x)
    return x


CASES = [  # (rule, hyperparameters with MXNet's conventions, reference, its arguments)
    ("momentum", dict(momentum=0.9, lr_in_buffer=True), ref_sgd_mom, dict(momentum=0.9)),
    ("momentum", dict(momentum=0.8, weight_decay=0.1, lr_in_buffer=True), ref_sgd_mom,
     dict(momentum=0.8, wd=0.1)),
    ("nesterov", dict(momentum=0.9, weight_decay=0.1, lr_in_buffer=True), ref_sgd_mom,
     dict(momentum=0.9, wd=0.1, nesterov=True)),
    ("adagrad", dict(eps=0.1, eps_inside_sqrt=True, decoupled_weight_decay=True), ref_adagrad,
     dict(eps=0.1)),
    ("adagrad", dict(eps=1e-7, weight_decay=0.1, eps_inside_sqrt=True,
                     decoupled_weight_decay=True), ref_adagrad, dict(eps=1e-7, wd=0.1)),
    ("rmsprop", dict(alpha=0.9, eps=1e-3, eps_inside_sqrt=True), ref_rmsprop,
     dict(eps=1e-3)),
    ("rmsprop", dict(alpha=0.9, momentum=0.9, eps=1e-3, centered=True, weight_decay=0.1,
                     eps_inside_sqrt=True, lr_in_buffer=True), ref_rmsprop,
     dict(eps=1e-3, wd=0.1, centered=True)),
    ("adam", dict(eps=1e-2, bias_correction_in_lr=True), ref_adam, dict(eps=1e-2)),
    ("adam", dict(betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1, bias_correction_in_lr=True),
     ref_adam, dict(beta1=0.5, beta2=0.9, eps=1e-3, wd=0.1)),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


def _run(name, ops_kind, lrs, **hyper):
    """The rule over ``lrs`` on numpy, one torch tensor or a list of two tensors."""
    rule = rules.get(name)
    full = rule.hyper(**hyper)
    if ops_kind == "numpy":
        xs, ops, to, back = [X0.copy()], rules.NUMPY, np.asarray, np.asarray
    else:
        import torch
        from course_lib.torch import TENSOR, TENSOR_LIST
        ops = TENSOR if ops_kind == "tensor" else TENSOR_LIST
        xs = [torch.tensor(X0)] if ops_kind == "tensor" else [torch.tensor(r) for r in X0]
        to, back = torch.from_numpy, lambda t: t.numpy()
    single = ops_kind != "list"
    state = rule.init(xs[0] if single else xs, ops, **full)
    for lr in lrs:
        full["lr"] = lr
        grad = _grad(np.stack([back(x) for x in xs]).reshape(X0.shape))
        grads = [to(grad)] if single else [to(g.copy()) for g in grad]
        rule.update(xs[0] if single else xs, grads[0] if single else grads, state, ops,
                    **full)
    return np.stack([back(x) for x in xs]).reshape(X0.shape)


@pytest.mark.parametrize("ops_kind", ["numpy", "tensor", "list"])
@pytest.mark.parametrize("name,hyper,ref,ref_kw", CASES, ids=IDS)
def test_mxnet_convention_matches_mxnets_formula(name, hyper, ref, ref_kw, ops_kind):
    if ops_kind != "numpy":
        pytest.importorskip("torch")
    expected = ref(X0.copy(), LRS, **ref_kw)
    assert np.isfinite(expected).all() and np.abs(expected - X0).max() > 0.1  # it moved
    np.testing.assert_allclose(_run(name, ops_kind, LRS, **hyper), expected, rtol=1e-9,
                               atol=1e-12)
    # and the course's (torch's) convention is another formula here
    course = {k: v for k, v in hyper.items()
              if k not in ("lr_in_buffer", "eps_inside_sqrt", "bias_correction_in_lr")}
    if "decoupled_weight_decay" in course and name != "adam":
        del course["decoupled_weight_decay"]
    assert np.abs(_run(name, "numpy", LRS, **course) - expected).max() > 1e-4


def test_adadelta_decoupled_weight_decay_is_mxnets_with_lr_one():
    got = _run("adadelta", "numpy", [1.0] * STEPS, eps=1e-5, weight_decay=0.05,
               decoupled_weight_decay=True)
    np.testing.assert_allclose(got, ref_adadelta(X0.copy(), wd=0.05), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name,hyper", [
    ("momentum", dict(momentum=0.9, weight_decay=0.1)),
    ("nesterov", dict(momentum=0.9)),
    ("rmsprop", dict(alpha=0.9, momentum=0.5, centered=True))])
def test_lr_in_buffer_equals_torchs_buffer_while_the_learning_rate_is_constant(name, hyper):
    """v_mxnet = lr v_torch at a constant rate: the same trajectory; a decaying rate parts
    them (past gradients keep the rate they were taken with)."""
    constant = [0.02] * STEPS
    np.testing.assert_allclose(_run(name, "numpy", constant, **hyper, lr_in_buffer=True),
                               _run(name, "numpy", constant, **hyper), rtol=1e-10, atol=1e-12)
    assert np.abs(_run(name, "numpy", LRS, **hyper, lr_in_buffer=True)
                  - _run(name, "numpy", LRS, **hyper)).max() > 1e-4


def test_bias_correction_in_lr_is_the_paper_with_eps_over_sqrt_one_minus_beta2_power():
    """Kingma & Ba's cheaper ordering equals their formula with eps_t = eps / sqrt(1-b2^t)."""
    x, state = np.array([1.0]), rules.adam.init(np.array([1.0]), rules.NUMPY)
    y, ref_state = x.copy(), rules.adam.init(x, rules.NUMPY)
    for t in range(1, 20):
        g = np.array([1e-3 * t])
        rules.adam.update(x, g, state, rules.NUMPY, lr=0.1, eps=1e-3, bias_correction_in_lr=True)
        rules.adam.update(y, g, ref_state, rules.NUMPY, lr=0.1,
                          eps=1e-3 / math.sqrt(1 - 0.999 ** t))
        assert x[0] == pytest.approx(y[0], rel=1e-12)
    assert abs(x[0] - _run_plain_adam()) > 1e-2


def _run_plain_adam():
    x, state = np.array([1.0]), rules.adam.init(np.array([1.0]), rules.NUMPY)
    for t in range(1, 20):
        rules.adam.update(x, np.array([1e-3 * t]), state, rules.NUMPY, lr=0.1, eps=1e-3)
    return x[0]


def test_new_hyperparameters_are_listed_in_the_defaults():
    assert rules.momentum.defaults["lr_in_buffer"] is False
    assert rules.rmsprop.defaults["eps_inside_sqrt"] is False
    assert rules.adam.defaults["bias_correction_in_lr"] is False
    assert rules.adagrad.defaults["decoupled_weight_decay"] is False
    assert rules.adadelta.defaults["decoupled_weight_decay"] is False
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        rules.sgd.hyper(lr_in_buffer=True)  # plain SGD has no buffer
