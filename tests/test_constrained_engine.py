"""The constrained methods run on the numpy engine (course_lib.descent.run with a gradient
function): their iterates equal, to the bit, those of the plain loops they replaced, written
out here as references (the arithmetic is unchanged, so nothing may differ)."""
import numpy as np
import pytest

from course_lib import constrained as C
from course_lib import descent, rules

PROBLEMS = [C.convex_problem(), C.two_objectives(0.7), C.concave_problem()]
STARTS = np.random.default_rng(0).uniform(-1.0, 1.5, (30, 2))


def ref_linear_combination(problem, alpha, theta, steps, lr, rule, **hyper):
    rule = rules.get(rule)
    hyper = rule.hyper(lr=lr, **hyper)
    theta = theta.copy()
    weights = np.stack([np.ones_like(alpha), alpha], -1)
    out = [theta.copy()]
    state = rule.init(theta, rules.NUMPY, **hyper)
    with np.errstate(all="ignore"):
        for _ in range(steps):
            grad = np.einsum("nk,nki->ni", weights, problem.grads(theta))
            rule.update(theta, grad, state, rules.NUMPY, **hyper)
            out.append(theta.copy())
    return np.array(out)


def ref_multipliers(problem, epsilon, theta, steps, lr, lr_lam, damping, rule, **hyper):
    rule = rules.get(rule)
    hyper = rule.hyper(lr=lr, **hyper)
    theta, lam = theta.copy(), np.zeros(len(theta))
    thetas, lams = [theta.copy()], [lam]
    state = rule.init(theta, rules.NUMPY, **hyper)
    with np.errstate(all="ignore"):
        for _ in range(steps):
            violation = problem.losses(theta)[:, 1] - epsilon
            grads = problem.grads(theta)
            force = C.multiplier_force(lam, violation, damping)
            step = grads[:, 0] + force[:, None] * grads[:, 1]
            rule.update(theta, step, state, rules.NUMPY, **hyper)
            lam = C.multiplier_step(lam, violation, lr_lam)
            thetas.append(theta.copy())
            lams.append(lam)
    return np.array(thetas), np.array(lams)


def ref_hard_constraint_first(problem, epsilon, theta, steps, lr, max_inner):
    hyper = rules.sgd.hyper(lr=lr)
    theta, evals = theta.copy(), np.zeros(len(theta), dtype=int)
    out = [theta.copy()]
    with np.errstate(all="ignore"):
        for _ in range(steps):
            for _ in range(max_inner):
                violated = problem.losses(theta)[:, 1] > epsilon
                if not violated.any():
                    break
                fixing = theta[violated]
                rules.sgd.update(fixing, problem.grads(fixing)[:, 1], {}, rules.NUMPY,
                                 **hyper)
                theta[violated] = fixing
                evals += violated
            rules.sgd.update(theta, problem.grads(theta)[:, 0], {}, rules.NUMPY, **hyper)
            evals += 1
            out.append(theta.copy())
    return np.array(out), evals


def _frozen(reference, run):
    """The reference with the run's divergence freezing applied (rows up to it agree)."""
    last = np.where(run.diverged_at >= 0, np.maximum(run.diverged_at - 1, 0),
                    len(reference) - 1)
    rows = np.minimum(np.arange(len(reference))[:, None], last[None])
    return reference[rows, np.arange(reference.shape[1])[None]]


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("rule, hyper", [("sgd", dict(lr=0.05)), ("sgd", dict(lr=3.0)),
                                         ("adam", dict(lr=0.05)),
                                         ("momentum", dict(lr=0.02, momentum=0.9))])
def test_linear_combination_equals_its_plain_loop(problem, rule, hyper):
    alpha = np.linspace(0.0, 3.0, len(STARTS))
    run = C.linear_combination(problem, alpha, STARTS, 150, rule=rule, **hyper)
    ref = ref_linear_combination(problem, alpha, STARTS, 150, rule=rule, **hyper)
    assert np.array_equal(run.theta, _frozen(ref, run))
    assert (rule, hyper["lr"]) != ("sgd", 3.0) or (run.diverged_at >= 0).all()


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("damping, lr, rule", [(0.0, 0.05, "sgd"), (10.0, 0.05, "sgd"),
                                               (1.0, 0.02, "adam"), (10.0, 2.0, "sgd")])
def test_differential_multipliers_equal_their_plain_loop(problem, damping, lr, rule):
    run = C.differential_multipliers(problem, 0.4, STARTS, 200, lr=lr, lr_multiplier=2.0,
                                     damping=damping, rule=rule)
    thetas, lams = ref_multipliers(problem, 0.4, STARTS, 200, lr, 2.0, damping, rule)
    assert np.array_equal(run.theta, _frozen(thetas, run))
    assert np.array_equal(run.multiplier, _frozen(lams[..., None], run)[..., 0])
    assert lr < 1 or (run.diverged_at >= 0).any()


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("lr, max_inner", [(0.05, 200), (0.3, 3)])
def test_hard_constraint_first_equals_its_plain_loop(problem, lr, max_inner):
    epsilon = np.linspace(0.1, 0.9, len(STARTS))
    run = C.hard_constraint_first(problem, epsilon, STARTS, 120, lr=lr, max_inner=max_inner)
    thetas, evals = ref_hard_constraint_first(problem, epsilon, STARTS, 120, lr, max_inner)
    assert np.array_equal(run.theta, _frozen(thetas, run))
    assert np.array_equal(run.grad_evals, evals)
    assert evals.max() > 120  # the restoration ran


def test_a_gradient_function_is_the_surface_it_differentiates():
    surface = C.concave_problem().combined(0.7)
    by_surface = descent.run("adam", surface, STARTS, 100, lr=0.05)
    by_function = descent.run("adam", surface.grad, STARTS, 100, lr=0.05)
    assert np.array_equal(by_surface.trajectory, by_function.trajectory)
    assert by_function.surface is None
    with pytest.raises(ValueError, match="gradient function"):
        by_function.loss
    with pytest.raises(ValueError, match="Hessian"):
        descent.run("newton", surface.grad, STARTS, 3)
    with pytest.raises(ValueError, match="restore"):
        descent.run("sgd", surface, STARTS, 3, lr=0.1, restore=1.0)
