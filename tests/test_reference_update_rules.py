"""The fast update rules agree with the plain numpy references of the pages.

course_lib.reference.update_rules is what chapters 2, 3, 6 and 7 show under their
equations. Here every fast implementation reachable through a public entry point
(course_lib.rules.get, the optimizers of course_lib.torch and, when MXNet imports,
of course_lib.mxnet) runs 150 steps on random problems next to the reference, in
float64, and the trajectories must agree to 1e-9 relative. Where a fast rule is
written differently (course_lib.rules folds Adam's bias correction into eps and the
learning rate; MXNet's Adam puts eps / sqrt(1 - beta2^t) in place of eps) the tests
say how close they are and where they part.
"""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

import course_lib.torch as ct
from course_lib import rules
from course_lib.reference import update_rules as ref

STEPS = 150
RTOL, ATOL = 1e-9, 1e-12
SEEDS = (0, 1, 2)


class Problem:
    """g(theta) = A (theta - c) + 0.05 theta^3 + z_t, with A random SPD
    (eigenvalues 0.2 ... 5) and z_t a fixed random sequence (minibatch-like noise)."""

    def __init__(self, seed, d=6, steps=STEPS):
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        self.a = q @ np.diag(np.geomspace(0.2, 5.0, d)) @ q.T
        self.c = rng.standard_normal(d)
        self.noise = 0.3 * rng.standard_normal((steps, d))
        self.theta0 = rng.standard_normal(d)

    def grad(self, theta, t):
        """Gradient at step t (1-based)."""
        return (self.a @ (theta - self.c) + 0.05 * theta**3
                + self.noise[t - 1])


# name -> (reference function, number of state arrays, takes t,
#          reference hyper, course_lib.rules hyper, torch factory, mxnet factory)
def _cases():
    return {
        "gd": (ref.gradient_descent, 0, False, dict(eta=0.05),
               ("sgd", dict(lr=0.05)),
               lambda p: ct.SGD(p, lr=0.05),
               lambda cm: cm.SGD(learning_rate=0.05)),
        "momentum": (ref.momentum, 1, False, dict(eta=0.02, mu=0.8),
                     ("momentum", dict(lr=0.02, momentum=0.8)),
                     lambda p: ct.SGD(p, lr=0.02, momentum=0.8),
                     lambda cm: cm.SGD(learning_rate=0.02, momentum=0.8)),
        "nesterov": (ref.nesterov, 1, False, dict(eta=0.02, mu=0.8),
                     ("nesterov", dict(lr=0.02, momentum=0.8)),
                     lambda p: ct.SGD(p, lr=0.02, momentum=0.8, nesterov=True),
                     lambda cm: cm.NAG(learning_rate=0.02, momentum=0.8)),
        "adagrad": (ref.adagrad, 1, False, dict(eta=0.3, eps=1e-10),
                    ("adagrad", dict(lr=0.3, eps=1e-10)),
                    lambda p: ct.Adagrad(p, lr=0.3),
                    lambda cm: cm.Adagrad(learning_rate=0.3)),
        "rmsprop": (ref.rmsprop, 1, False, dict(eta=0.01, gamma=0.9, eps=1e-8),
                    ("rmsprop", dict(lr=0.01, alpha=0.9, eps=1e-8)),
                    lambda p: ct.RMSprop(p, lr=0.01, alpha=0.9),
                    lambda cm: cm.RMSProp(learning_rate=0.01, gamma1=0.9)),
        "adadelta": (ref.adadelta, 2, False, dict(rho=0.9, eps=1e-6),
                     ("adadelta", dict(lr=1.0, rho=0.9, eps=1e-6)),
                     lambda p: ct.Adadelta(p, lr=1.0, rho=0.9),
                     lambda cm: cm.AdaDelta(rho=0.9)),
        "adam": (ref.adam, 2, True, dict(eta=0.03, beta1=0.9, beta2=0.999),
                 ("adam", dict(lr=0.03, betas=(0.9, 0.999))),
                 lambda p: ct.Adam(p, lr=0.03),
                 lambda cm: cm.Adam(learning_rate=0.03)),
        "adamw": (ref.adamw, 2, True,
                  dict(eta=0.03, beta1=0.9, beta2=0.999, lambda_=0.1),
                  ("adamw", dict(lr=0.03, weight_decay=0.1)),
                  lambda p: ct.AdamW(p, lr=0.03, weight_decay=0.1),
                  lambda cm: cm.AdamW(learning_rate=0.03, wd=0.1)),
    }


CASES = _cases()


def run_reference(name, problem, steps=STEPS, **override):
    fn, n_state, takes_t, hyper = CASES[name][:4]
    hyper = {**hyper, **override}
    theta = problem.theta0.copy()
    state = [np.zeros_like(theta) for _ in range(n_state)]
    out = []
    for t in range(1, steps + 1):
        g = problem.grad(theta, t)
        args = (theta, *state, g) + ((t,) if takes_t else ())
        result = fn(*args, **hyper)
        if n_state == 0:
            theta = result
        else:
            theta, *state = result
        out.append(theta)
    return np.array(out)


def run_rules(problem, rule_name, steps=STEPS, **hyper):
    rule = rules.get(rule_name)
    theta = problem.theta0.copy()
    full = rule.hyper(**hyper)
    state = rule.init(theta, rules.NUMPY, **full)
    out = []
    for t in range(1, steps + 1):
        rule.update(theta, problem.grad(theta, t), state, rules.NUMPY, **full)
        out.append(theta.copy())
    return np.array(out)


def run_torch(problem, factory, steps=STEPS):
    p = torch.tensor(problem.theta0, dtype=torch.float64, requires_grad=True)
    opt = factory([p])
    out = []
    for t in range(1, steps + 1):
        p.grad = torch.as_tensor(problem.grad(p.detach().numpy(), t))
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


def run_mxnet(problem, make, steps=STEPS, **kwargs):
    cm = pytest.importorskip("course_lib.mxnet")
    w = cm.mx.nd.array(problem.theta0, dtype="float64")
    updater = cm.mx.optimizer.get_updater(make(cm))
    out = []
    for t in range(1, steps + 1):
        g = problem.grad(w.asnumpy().astype(np.float64), t)
        updater(0, cm.mx.nd.array(g, dtype="float64"), w)
        out.append(w.asnumpy().astype(np.float64))
    return np.array(out)


def assert_same(got, expected):
    assert np.isfinite(expected).all()
    moved = np.abs(expected[-1] - expected[0]).max()
    assert moved > 1e-2, f"the reference barely moved ({moved:.1e})"
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def run_fast(implementation, name, problem):
    """The trajectory of ``name`` in one fast implementation."""
    if implementation == "rules":
        rule_name, hyper = CASES[name][4]
        return run_rules(problem, rule_name, **hyper)
    if implementation == "torch":
        return run_torch(problem, CASES[name][5])
    return run_mxnet(problem, CASES[name][6])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("implementation", ["rules", "torch", "mxnet"])
def test_fast_implementations_match_reference(implementation, name, seed):
    problem = Problem(seed)
    assert_same(run_fast(implementation, name, problem),
                run_reference(name, problem))


# The reference signature's defaults are the library's (torch.optim's) defaults.
DEFAULT_NAMES = {  # reference name -> (rule, {reference argument: rule argument})
    "adagrad": ("adagrad", {"eta": "lr", "eps": "eps"}),
    "rmsprop": ("rmsprop", {"eta": "lr", "gamma": "alpha", "eps": "eps"}),
    "adadelta": ("adadelta", {"rho": "rho", "eps": "eps"}),
    "adam": ("adam", {"eta": "lr", "beta1": ("betas", 0),
                      "beta2": ("betas", 1), "eps": "eps"}),
    "adamw": ("adamw", {"eta": "lr", "beta1": ("betas", 0),
                        "beta2": ("betas", 1), "eps": "eps",
                        "lambda_": "weight_decay"}),
    "momentum": ("momentum", {"mu": "momentum"}),
    "nesterov": ("nesterov", {"mu": "momentum"}),
}


@pytest.mark.parametrize("name", sorted(DEFAULT_NAMES))
def test_reference_defaults_are_the_library_defaults(name):
    rule_name, mapping = DEFAULT_NAMES[name]
    signature = inspect.signature(getattr(ref, name)).parameters
    defaults = rules.get(rule_name).defaults
    for ours, theirs in mapping.items():
        expected = (defaults[theirs[0]][theirs[1]] if isinstance(theirs, tuple)
                    else defaults[theirs])
        assert signature[ours].default == expected, (name, ours)


@pytest.mark.parametrize("name", ["adagrad", "rmsprop", "adam", "adadelta"])
def test_defaults_match_including_eps_placement(name):
    """With every hyperparameter at its default (eps where each library puts
    it by default) on gradients as small as 1e-6, where eps matters."""
    problem = Problem(7)
    problem.a *= 1e-6
    problem.noise *= 1e-6
    problem.c *= 0
    fn, n_state, takes_t = CASES[name][:3]
    theta, expected = problem.theta0.copy(), []
    state = [np.zeros_like(theta) for _ in range(n_state)]
    for t in range(1, 41):
        g = problem.grad(theta, t)
        out = fn(theta, *state, g, *((t,) if takes_t else ()))
        theta, *state = out
        expected.append(theta)
    factory = {"adagrad": ct.Adagrad, "rmsprop": ct.RMSprop, "adam": ct.Adam,
               "adadelta": ct.Adadelta}[name]
    got_torch = run_torch(problem, lambda p: factory(p), steps=40)
    got_rules = run_rules(problem, name, steps=40)
    for got in (got_torch, got_rules):
        np.testing.assert_allclose(got, np.array(expected), rtol=1e-9,
                                   atol=1e-15)


def test_folded_bias_correction_matches_to_rounding():
    """course_lib.rules computes Adam's step as (c2/c1) m / (sqrt(v) + eps c2),
    c1 = 1 - beta1^t, c2 = sqrt(1 - beta2^t): algebraically the reference's
    m_hat / (sqrt(v_hat) + eps). With eps as large as sqrt(v) (where a wrong
    rescaling of eps would show) they agree to 1e-12."""
    problem = Problem(3)
    problem.a *= 1e-4
    problem.noise *= 1e-4
    problem.c *= 1e-4
    expected = run_reference("adam", problem, eps=1e-4)
    got = run_rules(problem, "adam", lr=0.03, eps=1e-4)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_comparison_catches_a_dropped_bias_correction():
    """The agreement above is not loose: Adam without the 1 - beta^t factors
    leaves the reference by far more than the tolerance."""
    problem = Problem(0)
    expected = run_reference("adam", problem)
    wrong = run_rules(problem, "adam", lr=0.03, bias_correction=False)
    assert np.abs(wrong - expected).max() > 1e3 * (RTOL + ATOL)
    first = np.abs(wrong[0] - problem.theta0) / np.abs(
        expected[0] - problem.theta0)
    # the first uncorrected step is (1 - beta1) / sqrt(1 - beta2) = 3.16 times
    np.testing.assert_allclose(first, 0.1 / math.sqrt(0.001), rtol=1e-3)


def test_mxnet_adam_convention_differs_only_through_eps():
    """MXNet's own ordering (conventions="mxnet", bias correction in the
    learning rate) equals the reference with eps / sqrt(1 - beta2^t) in place
    of eps: the same trajectory to 1e-6 (absolute) when eps << |g|, and at step 1 a step
    of eta g / (|g| + eps / sqrt(1 - beta2)) when it is not."""
    problem = Problem(1)
    expected = run_reference("adam", problem)
    make = (lambda cm: cm.Adam(learning_rate=0.03, conventions="mxnet"))
    np.testing.assert_allclose(run_mxnet(problem, make), expected, rtol=1e-6,
                               atol=1e-6)
    g = problem.grad(problem.theta0, 1)
    eps = float(np.abs(g).min())
    make = (lambda cm: cm.Adam(learning_rate=0.03, epsilon=eps,
                               conventions="mxnet"))
    step = problem.theta0 - run_mxnet(problem, make, steps=1)[0]
    theirs = 0.03 * g / (np.abs(g) + eps / math.sqrt(1 - 0.999))
    ours = problem.theta0 - run_reference("adam", problem, steps=1,
                                          eps=eps)[0]
    np.testing.assert_allclose(step, theirs, rtol=1e-6)
    assert np.abs(step - ours).max() > 0.1 * np.abs(ours).max()


def test_helpers():
    """The EMA weights sum to the bias factor; the unrolled momentum sum is
    the buffer the momentum rule keeps."""
    for beta, t in ((0.9, 1), (0.9, 20), (0.999, 1000), (0.95, 20)):
        np.testing.assert_allclose(ref.ema_weights(beta, t).sum(),
                                   ref.bias_factor(beta, t), rtol=1e-12)
    grads = np.random.default_rng(0).standard_normal((30, 4))
    theta, v = np.zeros(4), np.zeros(4)
    for g in grads:
        theta, v = ref.momentum(theta, v, g, eta=0.1, mu=0.9)
    np.testing.assert_allclose(ref.unrolled_momentum(grads, 0.9), v,
                               rtol=1e-12)
    # an EMA of a constant gradient g is (1 - beta^t) g: what Adam divides out
    m = np.zeros(1)
    for t in range(1, 11):
        m = 0.9 * m + 0.1 * 2.0
    np.testing.assert_allclose(m, 2.0 * ref.bias_factor(0.9, 10))
