"""course_lib.constrained: the toy fronts against their closed forms, the methods against each
other, and the PyTorch Lagrangian against the PyPI package ``mdmm`` (Crowson's MDMM)."""
import math

import numpy as np
import pytest
import torch

from course_lib import constrained as C
from course_lib import descent

torch.set_num_threads(1)
CONVEX, CONCAVE = C.convex_problem(), C.concave_problem()
STARTS = np.array([[0.3, 0.5], [1.2, -0.4], [-0.3, 0.2], [0.8, 0.8]])


# ------------------------------------------------------------------------ the toy problems
@pytest.mark.parametrize("problem", [CONVEX, C.two_objectives(0.5), CONCAVE, C.two_objectives(2.0)])
def test_gradients_and_hessians_match_finite_differences(problem):
    rng = np.random.default_rng(0)
    theta = rng.uniform(-0.4, 1.4, (5, 2))
    h = 1e-6
    for k in range(2):
        e = np.zeros(2)
        e[k] = h
        fd = (problem.losses(theta + e) - problem.losses(theta - e)) / (2 * h)
        assert np.allclose(problem.grads(theta)[..., k], fd, atol=1e-6)
        fd2 = (problem.grads(theta + e) - problem.grads(theta - e)) / (2 * h)
        assert np.allclose(problem.hessians(theta)[..., k], fd2, atol=1e-5)


def test_losses_work_on_torch_tensors_with_autograd():
    theta = torch.tensor([[0.3, 0.2], [1.1, -0.5]], dtype=torch.float64, requires_grad=True)
    losses = CONCAVE.losses(theta)
    losses[:, 0].sum().backward()
    assert np.allclose(losses.detach().numpy(), CONCAVE.losses(theta.detach().numpy()))
    assert np.allclose(theta.grad.numpy(), CONCAVE.grads(theta.detach().numpy())[:, 0])


def test_fronts_have_the_stated_shape():
    convex = CONVEX.front(401)
    assert np.allclose(np.sqrt(convex[:, 0]) + np.sqrt(convex[:, 1]), 1.0)
    # concave: the middle lies above the chord from (0, 1) to (1, 0); convex: below it
    assert np.allclose(CONCAVE.front(3)[1], [0.625, 0.625])
    assert (CONCAVE.front()[1:-1].sum(1) > 1).all() and (convex[1:-1].sum(1) < 1).all()
    assert CONVEX.shape == "convex" and CONCAVE.shape == "concave" and C.two_objectives(1).shape == "linear"


@pytest.mark.parametrize("problem", [CONVEX, CONCAVE])
def test_front_is_pareto_optimal_against_random_parameters(problem):
    """No attainable point is better than the front in both losses."""
    rng = np.random.default_rng(1)
    pts = problem.losses(np.column_stack([rng.uniform(-2, 2, 20000), rng.uniform(-1, 1, 20000)]))
    # the front point with the same L1 (solve (1 - c) q^2 + c q = L1 for q = 1 - p) has L0 no larger
    c, l1 = problem.waste, np.clip(pts[:, 1], 0, 1)
    q = l1 if c == 1 else (-c + np.sqrt(c * c + 4 * (1 - c) * l1)) / (2 * (1 - c))
    p = 1 - q
    l0_on_front = (1 - c) * p * p + c * p
    assert (pts[:, 0] >= l0_on_front - 1e-9).all()
    assert (pts[:, 0] - l0_on_front).min() < 1e-2    # and the front is approached


@pytest.mark.parametrize("problem", [CONVEX, C.two_objectives(0.5), CONCAVE])
@pytest.mark.parametrize("epsilon", [0.2, 0.5, 0.8])
def test_constrained_optimum_is_on_the_front_with_the_slope_as_multiplier(problem, epsilon):
    opt = problem.constrained_optimum(epsilon)
    assert np.allclose(problem.losses(opt.theta), opt.losses)
    assert math.isclose(opt.losses[1], epsilon, abs_tol=1e-12)
    # KKT: grad L0 + lambda* grad L1 = 0 at the optimum
    g = problem.grads(opt.theta)
    assert np.allclose(g[0] + opt.multiplier * g[1], 0.0, atol=1e-12)
    # brute force over the front
    front = problem.front(200001)
    feasible = front[front[:, 1] <= epsilon]
    assert math.isclose(feasible[:, 0].min(), opt.losses[0], abs_tol=1e-4)


def test_validation_names_the_parameter():
    with pytest.raises(ValueError, match="waste"):
        C.two_objectives(3.0)
    with pytest.raises(ValueError, match="epsilon"):
        CONCAVE.constrained_optimum(-0.1)
    with pytest.raises(ValueError, match="starts"):
        C.mdmm(CONCAVE, 0.5, np.zeros((3, 3)), 10)
    with pytest.raises(ValueError, match="damping"):
        C.mdmm(CONCAVE, 0.5, STARTS, 10, damping=0.0)
    with pytest.raises(ValueError, match="alpha"):
        C.linear_combination(CONCAVE, -1.0, STARTS, 10)
    with pytest.raises(ValueError, match="steps"):
        C.bdmm(CONCAVE, 0.5, STARTS, -1)
    with pytest.raises(ValueError, match="kind"):
        C.Constraint(lambda: torch.zeros(()), 0.0, kind="lt")
    with pytest.raises(ValueError, match="Lagrangian needs"):
        C.Lagrangian([])


# ----------------------------------------------------------------------------- methods
def test_linear_combination_is_the_numpy_engine_on_the_combined_surface():
    ours = C.linear_combination(CONCAVE, 0.7, STARTS, 200, lr=0.03)
    engine = descent.run("sgd", CONCAVE.combined(0.7), STARTS, 200, lr=0.03)
    assert np.allclose(ours.final, engine.final, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.25, 1.0, 3.0])
def test_linear_combination_on_convex_front_reaches_the_analytic_point(alpha):
    final = C.sweep_alpha(CONVEX, [alpha], STARTS, steps=1500)[0]
    p = CONVEX.linear_optimum(alpha)
    assert math.isclose(p, alpha / (1 + alpha), rel_tol=1e-12)
    assert np.allclose(final, CONVEX.losses(CONVEX.theta_at(p)), atol=1e-6)


def test_concave_stationary_point_is_a_saddle_and_convex_a_minimum():
    for alpha in (0.5, 1.0, 2.0):
        for problem, negative in ((CONVEX, 0), (CONCAVE, 1)):
            p = problem.stationary_position(alpha)
            theta = problem.theta_at(p)
            assert np.allclose(problem.combined(alpha).grad(theta), 0, atol=1e-12)
            eig = np.linalg.eigvalsh(problem.combined(alpha).hessian(theta))
            assert (eig < -1e-3).sum() == negative and (eig > 1e-3).sum() == 2 - negative


def test_mdmm_numpy_reaches_the_concave_optimum_and_bdmm_does_not_settle():
    eps = 0.5
    opt = CONCAVE.constrained_optimum(eps)
    m = C.mdmm(CONCAVE, eps, STARTS, 1500)
    b = C.bdmm(CONCAVE, eps, STARTS, 1500)
    assert np.allclose(m.final_losses, opt.losses, atol=1e-3)
    assert np.allclose(m.multiplier[-1], opt.multiplier, atol=1e-3)
    settle_m = C.settling_time(m.multiplier, opt.multiplier)
    settle_b = C.settling_time(b.multiplier, opt.multiplier)
    assert (settle_m < 200).all() and (settle_b > 3 * settle_m).all()


def test_hard_constraint_first_counts_its_repairs():
    run = C.hard_constraint_first(CONCAVE, 0.3, STARTS, 50)
    assert (run.grad_evals > 50).all()   # each start needed repairs beyond its 50 L0 steps


def test_find_multiplier_brackets_the_convex_multiplier():
    eps = 0.3
    lam = C.solve_dual(CONVEX, eps, STARTS[:2], steps=800, lr=0.04, rounds=4, points=8).multiplier
    assert abs(lam - CONVEX.constrained_optimum(eps).multiplier) < 0.02


def test_divergence_is_recorded_not_raised():
    run = C.linear_combination(CONVEX, 1.0, STARTS, 50, lr=50.0)
    assert (run.diverged_at >= 0).any() and np.isfinite(run.theta).all()


# ----------------------------------------------------------------------------- PyTorch
def _torch_mdmm(problem, eps, start, steps, kind="le", damping=10.0, lr=0.02, lr_lambda=1.0):
    theta = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    constraint = C.Constraint(lambda: problem.losses(theta)[1], bound=eps, kind=kind, damping=damping)
    lagrangian = C.Lagrangian([constraint])
    opt = torch.optim.SGD([{"params": [theta], "lr": lr}, {"params": lagrangian.parameters(), "lr": lr_lambda}])
    path, lams = [], []
    for _ in range(steps):
        opt.zero_grad()
        lagrangian(problem.losses(theta)[0]).backward()
        opt.step()
        path.append(theta.detach().numpy().copy())
        lams.append(float(lagrangian.multipliers[0]))
    return np.array(path), np.array(lams)


def test_torch_lagrangian_follows_the_numpy_mdmm_step_by_step():
    start = [0.3, 0.5]
    path, lams = _torch_mdmm(CONCAVE, 0.5, start, 300)
    ref = C.mdmm(CONCAVE, 0.5, np.array([start]), 300)
    assert np.allclose(path, ref.theta[1:, 0], atol=1e-10)
    assert np.allclose(lams, ref.multiplier[1:, 0], atol=1e-10)


def test_torch_bdmm_is_damping_zero():
    start = [1.2, -0.4]
    path, _ = _torch_mdmm(CONCAVE, 0.4, start, 200, damping=0.0)
    ref = C.bdmm(CONCAVE, 0.4, np.array([start]), 200)
    assert np.allclose(path, ref.theta[1:, 0], atol=1e-10)


def test_multiplier_stays_nonnegative_for_inequalities():
    theta = torch.nn.Parameter(torch.tensor([0.3, 0.0], dtype=torch.float64))   # L1 <= 1 < bound
    constraint = C.Constraint(lambda: CONCAVE.losses(theta)[1], bound=1.5, multiplier=0.5)
    lagrangian = C.Lagrangian([constraint])
    opt = torch.optim.SGD([{"params": [theta], "lr": 0.02}, {"params": lagrangian.parameters(), "lr": 1.0}])
    lams = []
    for _ in range(50):
        opt.zero_grad()
        lagrangian(CONCAVE.losses(theta)[0]).backward()
        opt.step()
        lams.append(float(lagrangian.multipliers[0]))
    # the slack constraint drives lambda down, and the clip keeps it at 0, not below
    assert lams[0] < 0.5 and min(lams) == 0.0 and lams[-1] == 0.0
    assert float(constraint.multiplier.detach()) <= 0.0  # the raw parameter went below: clipped on use


mdmm = pytest.importorskip("mdmm", reason="test dependency: pip install mdmm==0.1.3 --no-deps")


def test_equality_constraint_matches_pypi_mdmm_step_by_step():
    """Same problem, same SGD, same learning rates: PyPI mdmm's EqConstraint and our
    Constraint(kind="eq") take the same steps (mdmm keeps -lambda and a negative lr)."""
    eps, damping, lr, start = 0.5, 5.0, 0.02, [0.3, 0.5]
    path, lams = _torch_mdmm(CONCAVE, eps, start, 400, kind="eq", damping=damping)

    theta = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    theirs = mdmm.MDMM([mdmm.EqConstraint(lambda: CONCAVE.losses(theta)[1], eps, damping=damping)])
    theirs[0].lmbda.data = theirs[0].lmbda.data.double()
    opt = theirs.make_optimizer([theta], optimizer=torch.optim.SGD, lr=lr)
    opt.param_groups[1]["lr"] = -1.0           # their ascent learning rate, sign included
    ref = []
    for _ in range(400):
        opt.zero_grad()
        theirs(CONCAVE.losses(theta)[0]).value.backward()
        opt.step()
        ref.append(theta.detach().numpy().copy())
    assert np.allclose(path, np.array(ref), atol=1e-10)
    assert math.isclose(lams[-1], -theirs[0].lmbda.item(), abs_tol=1e-6), (lams[-1], theirs[0].lmbda.item())


@pytest.mark.parametrize("eps", [0.3, 0.5])
def test_inequality_reaches_the_same_solution_as_pypi_mdmm(eps):
    """Our "le" constraint and mdmm's MaxConstraint (an equality with a slack variable s,
    L1 + s^2 = eps) end at the same constrained optimum with the same multiplier.

    (mdmm's MaxConstraintHard is not used: its multiplier can only grow, so on this problem
    it overshoots and keeps growing instead of settling.)"""
    opt = CONCAVE.constrained_optimum(eps)
    path, lams = _torch_mdmm(CONCAVE, eps, [0.3, 0.5], 600)

    theta = torch.nn.Parameter(torch.tensor([0.3, 0.5], dtype=torch.float64))
    theirs = mdmm.MDMM([mdmm.MaxConstraint(lambda: CONCAVE.losses(theta)[1], eps, damping=10.0)])
    optimizer = theirs.make_optimizer([theta], optimizer=torch.optim.SGD, lr=0.02)
    optimizer.param_groups[1]["lr"] = -1.0
    for _ in range(600):
        optimizer.zero_grad()
        theirs(CONCAVE.losses(theta)[0]).value.backward()
        optimizer.step()
    ours_losses = CONCAVE.losses(path[-1])
    their_losses = CONCAVE.losses(theta.detach().numpy())
    assert 0.0 < opt.position < 1.0                      # strictly inside the front
    assert np.allclose(ours_losses, opt.losses, atol=1e-4)
    assert np.allclose(their_losses, opt.losses, atol=1e-4)
    assert np.allclose(ours_losses, their_losses, atol=1e-4)
    assert math.isclose(lams[-1], -theirs[0].lmbda.item(), abs_tol=1e-4)
    assert math.isclose(lams[-1], opt.multiplier, abs_tol=1e-4)


def test_fixed_multiplier_constraint_is_the_linear_combination():
    """Constraint(trainable=False) adds lambda (L1 - bound): descent on L0 + lambda L1."""
    start, lam = [1.2, -0.4], 0.7
    theta = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    lagrangian = C.Lagrangian([C.Constraint(lambda: CONCAVE.losses(theta)[1], bound=0.5, kind="eq",
                                            damping=0.0, multiplier=lam, trainable=False)])
    opt = torch.optim.SGD([theta], lr=0.03)
    for _ in range(200):
        opt.zero_grad()
        lagrangian(CONCAVE.losses(theta)[0]).backward()
        opt.step()
    ref = C.linear_combination(CONCAVE, lam, np.array([start]), 200, lr=0.03)
    assert np.allclose(theta.detach().numpy(), ref.final[0], atol=1e-10)


def test_hard_constraint_first_step_in_torch_matches_numpy():
    start, eps = [0.3, 0.5], 0.5
    theta = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    constraint = C.Constraint(lambda: CONCAVE.losses(theta)[1], bound=eps)
    opt = torch.optim.SGD([theta], lr=0.02)
    evals = sum(C.hard_constraint_first_step(opt, lambda: CONCAVE.losses(theta)[0], constraint)
                for _ in range(100))
    ref = C.hard_constraint_first(CONCAVE, eps, np.array([start]), 100, lr=0.02)
    assert np.allclose(theta.detach().numpy(), ref.final[0], atol=1e-8)
    assert evals == ref.grad_evals[0]


def test_solve_the_dual_with_a_pytorch_model():
    """find_multiplier drives any engine: here each multiplier trains a torch model.

    min (w - 2)^2 + lam w^2 gives w = 2 / (1 + lam); the constraint w^2 <= 1 holds from
    lam = 1 on, so "solve the dual" must return lam = 1 and the trained w = 1."""

    from course_lib.torch import SGD

    def train(lam):
        w = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
        optimizer = SGD([w], lr=0.1)   # contracts by |1 - 0.2 (1 + lam)| <= 0.8 per step
        for _ in range(100):
            optimizer.zero_grad()
            ((w - 2) ** 2 + lam * w ** 2).backward()
            optimizer.step()
        return w.detach()

    violation_at = lambda lams: np.array([float(train(lam) ** 2) - 1.0 for lam in lams])
    lam = C.find_multiplier(violation_at, low=0.0, high=4.0, rounds=3, points=9)
    assert lam == pytest.approx(1.0, abs=0.01)
    assert float(train(lam)) == pytest.approx(1.0, abs=0.01)
