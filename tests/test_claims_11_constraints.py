"""The claims of chapter 11 (lectures/11_constraints.md), recomputed with course_lib and
checked against the closed forms of the toy fronts.

Each claim of the chapter, and the test that checks it:

- convex / concave front defined by the sign of d2 L1 / d L0^2 = 4 (1 - c) / L0'(p)^3;
  c = 0: sqrt(L0) + sqrt(L1) = 1, middle (0.25, 0.25) below the chord L0 + L1 = 1;
  c = 1.5: middle (0.625, 0.625) above it; every attainable (L0, L1) lies above and right
  of the front -> test_front_shapes_and_the_chord
- convex sweep: every weight its own point, the same from every start, p = alpha/(1+alpha)
  -> test_convex_sweep_reaches_interior_points_the_same_from_every_start
- concave sweep: every run ends at an end point, for every alpha and start
  -> test_concave_sweep_lands_on_an_end_point_for_every_alpha_and_start
- the lowest line touches the concave front at (0, 1) for alpha < 1 and (1, 0) for
  alpha > 1, yet with alpha = 0.5 a quarter of the starts end at (1, 0); both ends are
  local minima exactly for (2 - c)/c < alpha < c/(2 - c), 1/3 < alpha < 3
  -> test_descent_ends_where_its_start_leads_not_on_the_lowest_line
- basin shares 100%, 75%, 50%, 25%, 0% -> test_basin_shares
- stationary point: a minimum on the convex front, a saddle on the concave one (Hessian
  eigenvalues) -> test_stationary_point_is_a_minimum_on_convex_and_a_saddle_on_concave
- the printed constrained optima and multipliers -> test_constrained_optima_printed
- damping c g^2 / 2 turns the saddle into a minimum (c = 5, 10; not 0, 1)
  -> test_damping_turns_the_saddle_into_a_minimum
- the table: on the convex front every method within 0.15 of the optimum, the dual within
  about 5e-3 for 25 descents; hard-constraint-first a few
  hundredths beyond the budget (both fronts), extra evaluations for repairs; BDMM rings for
  tens to hundreds of steps, unsettled after 1000 at eps = 0.65, never settles and ends far
  on the concave front; MDMM within 1e-3 and settled within about 40 steps on both fronts;
  concave dual violates by 1 - eps or wastes the budget -> test_method_table_claims
- MDMM meets the budget strictly inside the concave front
  -> test_mdmm_meets_the_budget_strictly_inside_the_concave_front
- BDMM's multiplier rings longer than MDMM's on both fronts
  -> test_bdmm_lambda_oscillates_longer_than_mdmm_on_both_fronts
- the chapter's numpy steps reproduce course_lib's runs: asserted in the chapter itself
  (executed by tests/test_notebooks.py)
- PyTorch MDMM cell reaches the optimum and lambda* -> test_pytorch_mdmm_cell
- digits network: unconstrained |theta|^2 near 50 (PyTorch) and 85 (MXNet); PyTorch
  starts inside the budget, MXNet outside; both end within a fraction of a percent of 30
  with a multiplier of about 0.015; the same on two more seeds
  -> test_network_with_a_norm_budget_in_pytorch_and_mxnet, test_norm_budget_other_seeds
"""
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


def test_front_shapes_and_the_chord():
    for problem, sign in ((CONVEX, 1), (CONCAVE, -1)):
        c = problem.waste
        p = np.linspace(0.01, 0.99, 99)
        l0, l1, d0, _, _ = problem._of_p(p)
        h = 1e-4
        a0, a1, *_ = problem._of_p(p - h)
        b0, b1, *_ = problem._of_p(p + h)
        # d2 L1 / d L0^2 by finite differences along the front, against the closed form
        slope_minus, slope_plus = (l1 - a1) / (l0 - a0), (b1 - l1) / (b0 - l0)
        curvature = (slope_plus - slope_minus) / ((b0 - a0) / 2)
        exact = 4 * (1 - c) / d0 ** 3
        assert np.allclose(curvature, exact, rtol=1e-3)
        assert (np.sign(exact) == sign).all()
        middle = problem.losses(problem.theta_at(0.5))
        assert np.sign(1 - middle.sum()) == sign                      # below / above the chord
        # every attainable point lies above and right of the front
        rng = np.random.default_rng(0)
        theta = np.column_stack([rng.uniform(-0.5, 1.5, 3000), rng.uniform(-0.6, 0.6, 3000)])
        pts = problem.losses(theta)
        front = problem.front(2001)
        l1_on_front = np.interp(pts[:, 0], front[:, 0], front[:, 1])
        assert (pts[:, 1] >= l1_on_front - 1e-6).all()
    assert np.allclose(np.sqrt(CONVEX.front()).sum(axis=1), 1.0)
    assert np.allclose(CONVEX.losses(CONVEX.theta_at(0.5)), [0.25, 0.25])
    assert np.allclose(CONCAVE.losses(CONCAVE.theta_at(0.5)), [0.625, 0.625])


def test_descent_ends_where_its_start_leads_not_on_the_lowest_line(starts, finals):
    # the lowest line touches the convex front at an inner point for every alpha > 0
    for alpha in np.logspace(-3, 3, 13):
        assert 0 < CONVEX.linear_optimum(alpha) < 1
    # the lowest line touches the concave front at (0, 1) for alpha < 1, (1, 0) above
    for alpha in ALPHAS:
        if alpha != 1.0:
            assert CONCAVE.linear_optimum(alpha) == (0.0 if alpha < 1 else 1.0)
    # alpha = 0.5: the lowest line touches only (0, 1), yet a quarter end at (1, 0)
    half = finals["concave"][ALPHAS.index(0.5)]
    assert np.isclose((half[:, 0] > 0.5).mean(), 0.25, atol=0.02)
    # both ends are local minima along the front exactly for 1/3 < alpha < 3
    c = CONCAVE.waste
    low, high = (2 - c) / c, c / (2 - c)
    assert np.isclose(low, 1 / 3) and np.isclose(high, 3.0)
    for alpha in (low * 0.99, high * 1.01, 0.25, 4.0):
        assert CONCAVE.stationary_position(alpha) is None
    for alpha in (low * 1.01, 0.5, 1.0, 2.0, high * 0.99):
        assert CONCAVE.stationary_position(alpha) is not None
    for alpha in (0.25, 0.5, 2.0, 4.0):        # slope of L0 + alpha L1 along the front at the ends
        _, _, d0, d1, _ = CONCAVE._of_p(np.array([0.0, 1.0]))
        slope = d0 + alpha * d1
        assert (slope[0] > 0) == (alpha < high) and (slope[1] < 0) == (alpha > low)


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
        # convex: the dual is accurate to about 5e-3, for 25 full descents of 400 steps
        assert convex["solve the dual"]["distance"] < 6e-3
        for row in (convex["solve the dual"], concave["solve the dual"]):
            assert row["evals"] == 25 * 400
        # hard-constraint-first: a few hundredths beyond the budget, on both fronts; on the
        # concave front a few hundredths off the optimum; repairs cost extra evaluations
        for row in (convex["hard constraint first"], concave["hard constraint first"]):
            assert 0.01 < row["violation"] < 0.1 and row["evals"] > 600
        assert concave["hard constraint first"]["distance"] < 0.1
        # convex: "every method gets close"
        assert max(row["distance"] for row in convex.values()) < 0.15
        # MDMM: within 1e-3 of the optimum, settled within about 40 steps, both fronts
        for row in (convex["MDMM"], concave["MDMM"]):
            assert row["violation"] < 1e-3 and row["distance"] < 1e-3 and row["settling"] <= 40
        # BDMM's multiplier rings longer than MDMM's, on both fronts
        assert convex["BDMM"]["settling"] > convex["MDMM"]["settling"]
        # concave: BDMM never settles in 1000 steps and ends far from the optimum
        assert concave["BDMM"]["settling"] > 1000 and concave["BDMM"]["distance"] > 0.2
        # concave: the dual lands on an end point, violating by 1 - eps or wasting the budget
        v = concave["solve the dual"]["violation"]
        assert np.isclose(v, 1 - eps, atol=1e-3) or np.isclose(v, -eps, atol=1e-3)
    # convex BDMM: "rings for tens to hundreds of steps", not settled after 1000 at eps = 0.65
    for eps in (0.2, 0.35, 0.5):
        assert 10 <= method_runs[eps]["convex"]["BDMM"]["settling"] < 1000
    assert max(method_runs[eps]["convex"]["BDMM"]["settling"] for eps in (0.2, 0.35, 0.5)) >= 100
    assert method_runs[0.65]["convex"]["BDMM"]["settling"] > 1000     # not settled after 1000


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


def _check_norm_budget(epochs, budget, seed):
    runs = {"torch": (ex.train_digits_torch(None, epochs, seed=seed),
                      ex.train_digits_torch(budget, epochs, seed=seed)),
            "mxnet": (ex.train_digits_mxnet(None, epochs, seed=seed),
                      ex.train_digits_mxnet(budget, epochs, seed=seed))}
    (tf, tr), (mf, mr) = runs["torch"], runs["mxnet"]
    # unconstrained: "near 50" (PyTorch) and "85" (MXNet)
    assert 45 < tf["norm2"][-1] < 55 and 80 < mf["norm2"][-1] < 90
    # "PyTorch's network starts inside the budget ... MXNet's starts outside"
    assert tr["norm2_init"] < budget < mr["norm2_init"]
    for run in (tr, mr):
        # "within a fraction of a percent of the budget"
        assert abs(run["norm2"][-1] - budget) < 0.01 * budget
        assert 0.0125 < run["multiplier"][-1] < 0.0175            # "about 0.015"
    # "with the same multiplier"
    assert abs(tr["multiplier"][-1] - mr["multiplier"][-1]) < 0.1 * mr["multiplier"][-1]
    assert tr["test_accuracy"] > 0.9 and mr["test_accuracy"] > 0.9


def test_network_with_a_norm_budget_in_pytorch_and_mxnet():
    pytest.importorskip("mxnet")
    _check_norm_budget(pick(fast=10, full=30), 30.0, seed=0)     # the chapter's run


@pytest.mark.parametrize("seed", [1, 2])
def test_norm_budget_other_seeds(seed):
    pytest.importorskip("mxnet")
    _check_norm_budget(pick(fast=10, full=30), 30.0, seed=seed)
