"""Every number chapter 11 (lectures/11_constraints.md) states, recomputed with course_lib and
checked against the closed forms of the toy fronts."""
import numpy as np
import pytest
import torch

from course_lib import constrained as C
from course_lib.config import pick
from course_lib.experiments import constraints as ex

torch.set_num_threads(1)
CONVEX, CONCAVE = ex.PROBLEMS["convex"], ex.PROBLEMS["concave"]
ALPHAS = [0.25, 0.5, 1.0, 2.0, 4.0]
EPSILONS = [0.2, 0.35, 0.5, 0.65]


@pytest.fixture(scope="module")
def starts():
    return ex.grid_starts(pick(fast=8, full=12))


@pytest.fixture(scope="module")
def finals(starts):
    return {name: C.sweep_alpha(problem, ALPHAS, starts, steps=1000) for name, problem in ex.PROBLEMS.items()}


@pytest.fixture(scope="module")
def method_runs():
    rng = np.random.default_rng(1)
    method_starts = np.vstack([[0.15, 0.7], np.column_stack([rng.uniform(-0.45, 1.45, 7),
                                                             rng.uniform(-0.9, 0.9, 7)])])
    by_front = {name: ex.run_methods(problem, EPSILONS, method_starts, steps=1000)
                for name, problem in ex.PROBLEMS.items()}
    return {eps: {name: ex.method_table(by_front[name][eps], ex.PROBLEMS[name], eps)
                  for name in by_front} for eps in EPSILONS}


# ------------------------------------------------------------------------- the sweep
def test_convex_sweep_reaches_interior_points_the_same_from_every_start(finals):
    for alpha, f in zip(ALPHAS, finals["convex"]):
        p = alpha / (1 + alpha)                       # "p = alpha / (1 + alpha) exactly"
        assert np.allclose(f, [p * p, (1 - p) ** 2], atol=1e-6)
        assert f.std(axis=0).max() < 1e-6
        assert 0.03 < f[0, 0] < 0.97                  # strictly inside the front
    # the five weights give five distinct points
    assert np.diff(finals["convex"][:, 0, 0]).min() > 0.05


def test_concave_sweep_lands_on_an_end_point_for_every_alpha_and_start(finals):
    for f in finals["concave"]:
        assert ex.landing(CONCAVE, f).max() < 1e-3


def test_basin_shares(starts):
    shares = ex.basin_shares(CONCAVE, ALPHAS, starts)
    assert np.allclose(shares, [1.0, 0.75, 0.5, 0.25, 0.0], atol=0.02)


def test_stationary_point_is_a_minimum_on_convex_and_a_saddle_on_concave():
    theta, eig, kind = ex.saddle_hessian(CONVEX, 1.0)
    assert np.allclose(theta, [0.5, 0]) and np.allclose(eig, [4.0, np.pi ** 2], atol=1e-3)
    assert kind == "minimum"
    theta, eig, kind = ex.saddle_hessian(CONCAVE, 1.0)
    assert np.allclose(eig, [-np.pi ** 2 / 2, 4.0], atol=1e-3) and kind == "saddle"


# ------------------------------------------------------------------ the constrained problem
def test_constrained_optima_printed():
    c = CONVEX.constrained_optimum(0.5)
    assert np.allclose(c.losses, [0.0858, 0.5], atol=1e-4)
    assert abs(c.position - 0.2929) < 1e-4 and abs(c.multiplier - 0.4142) < 1e-4   # sqrt(2) - 1
    k = CONCAVE.constrained_optimum(0.5)
    assert np.allclose(k.losses, [0.7361, 0.5], atol=1e-4)
    assert abs(k.position - 0.6180) < 1e-4 and abs(k.multiplier - 0.7889) < 1e-4   # golden ratio - 1


def test_damping_turns_the_saddle_into_a_minimum():
    eigs = {d: ex.augmented_hessian(CONCAVE, 0.5, d) for d in (0.0, 1.0, 5.0, 10.0)}
    assert eigs[0.0].min() < -4 and eigs[1.0].min() < 0
    assert eigs[5.0].min() > 3 and eigs[10.0].min() > 3
    assert np.isclose(eigs[0.0].min(), -4.17, atol=0.01)


def test_method_table_claims(method_runs):
    for eps in EPSILONS:
        convex, concave = method_runs[eps]["convex"], method_runs[eps]["concave"]
        # convex: the dual is accurate to about 5e-3
        assert convex["solve the dual"]["distance"] < 6e-3
        # hard-constraint-first: a few hundredths beyond the budget, on both fronts
        for row in (convex["hard constraint first"], concave["hard constraint first"]):
            assert 0.005 < row["violation"] < 0.1 and row["distance"] < 0.15
        # MDMM: meets L1 <= eps within 1e-2 (here 1e-3) at the interior optimum, settles in < 50 steps
        for row in (convex["MDMM"], concave["MDMM"]):
            assert row["violation"] < 1e-3 and row["distance"] < 1e-3 and row["settling"] <= 50
        # BDMM's multiplier rings longer than MDMM's, on both fronts
        assert convex["BDMM"]["settling"] > convex["MDMM"]["settling"]
        # concave: BDMM never settles in 1000 steps and ends far from the optimum
        assert concave["BDMM"]["settling"] > 1000 and concave["BDMM"]["distance"] > 0.2
        # concave: the dual lands on an end point, violating by 1 - eps or wasting the budget
        v = concave["solve the dual"]["violation"]
        assert np.isclose(v, 1 - eps, atol=1e-3) or np.isclose(v, -eps, atol=1e-3)
        assert concave["solve the dual"]["evals"] == 25 * 400
    assert method_runs[0.65]["convex"]["BDMM"]["settling"] > 1000     # not settled after 1000
    assert 30 <= method_runs[0.2]["convex"]["BDMM"]["settling"] <= 150


@pytest.mark.parametrize("eps", [0.2, 0.35, 0.5, 0.65, 0.8])
def test_mdmm_meets_the_budget_strictly_inside_the_concave_front(eps):
    opt = CONCAVE.constrained_optimum(eps)
    run = C.mdmm(CONCAVE, eps, ex.grid_starts(4), 1000)
    assert 0.05 < opt.position < 0.95
    assert (run.final_losses[:, 1] - eps).max() < 1e-2
    assert np.abs(run.final_losses - opt.losses).max() < 1e-2


def test_bdmm_lambda_oscillates_longer_than_mdmm_on_both_fronts():
    starts = ex.grid_starts(4)
    for problem in (CONVEX, CONCAVE):
        opt = problem.constrained_optimum(0.5)
        b = C.settling_time(C.bdmm(problem, 0.5, starts, 1000).multiplier, opt.multiplier)
        m = C.settling_time(C.mdmm(problem, 0.5, starts, 1000).multiplier, opt.multiplier)
        assert np.median(b) > 3 * np.median(m)


def test_pytorch_mdmm_cell():
    concave = CONCAVE
    theta = torch.nn.Parameter(torch.tensor([0.15, 0.7], dtype=torch.float64))
    budget = C.Constraint(lambda: concave.losses(theta)[1], bound=0.5, damping=10.0)
    lagrangian = C.Lagrangian([budget])
    optimizer = torch.optim.SGD([{"params": [theta], "lr": 0.02},
                                 {"params": lagrangian.parameters(), "lr": 1.0}])
    for _ in range(400):
        optimizer.zero_grad()
        lagrangian(concave.losses(theta)[0]).backward()
        optimizer.step()
    assert np.allclose(concave.losses(theta.detach()).numpy(), [0.7361, 0.5], atol=1e-4)
    assert abs(lagrangian.multipliers.item() - 0.7889) < 1e-4


def test_network_with_a_norm_budget_in_pytorch_and_mxnet():
    pytest.importorskip("mxnet")
    epochs, budget = pick(fast=10, full=30), 30.0
    runs = {"torch": (ex.train_digits_torch(None, epochs), ex.train_digits_torch(budget, epochs)),
            "mxnet": (ex.train_digits_mxnet(None, epochs), ex.train_digits_mxnet(budget, epochs))}
    (tf, tr), (mf, mr) = runs["torch"], runs["mxnet"]
    # unconstrained: "near 50" (PyTorch) and "85" (MXNet); both starts are on the stated side
    assert 40 < tf["norm2"][-1] < 55 and 75 < mf["norm2"][-1] < 95
    # "PyTorch's network starts inside the budget ... MXNet's starts outside"
    assert tr["norm2_init"] < budget < mr["norm2_init"]
    for run in (tr, mr):
        # "within a fraction of a percent of the budget"
        assert abs(run["norm2"][-1] - budget) < 0.01 * budget
        assert 0.010 < run["multiplier"][-1] < 0.020             # "about 0.015"
    assert abs(tr["multiplier"][-1] - mr["multiplier"][-1]) < 0.2 * mr["multiplier"][-1]
    assert tr["test_accuracy"] > 0.9 and mr["test_accuracy"] > 0.9
