"""course_lib.hessian against exact references: torch.func.hessian, torch.autograd.functional.hvp,
scipy's eigsh and numpy's eigvalsh of the full matrix."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from course_lib import hessian
from course_lib.data import digits

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small models run fastest on one thread; on a busy 2-core machine, torch's and OpenBLAS's
    thread pools spinning against each other made these tests 30x slower (see the module
    docstring of course_lib.hessian). Restored afterwards."""
    from threadpoolctl import threadpool_limits
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


def tanh_problem():
    """5-6-3 tanh network, float64, 40 random examples: n = 57 parameters."""
    torch.manual_seed(0)
    x = torch.randn(40, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (40,))
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    return model, F.cross_entropy, (x, y)


def relu_digits_problem(hidden=8, dtype=torch.float64, n=200):
    """64-hidden-10 ReLU network briefly trained on digits (610 parameters for hidden=8)."""
    torch.manual_seed(1)
    split = digits()
    x = torch.as_tensor(split.x_train[:n]).to(dtype)
    y = torch.as_tensor(split.y_train[:n])
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10)).to(dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(30):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.zero_grad(set_to_none=True)
    return model, F.cross_entropy, (x, y)


def torch_func_hessian(model, loss_fn, data):
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]
    x, y = data

    def loss_of(theta):
        params = {name: part.reshape(shape)
                  for name, part, shape in zip(names, theta.split(sizes), shapes)}
        return loss_fn(functional_call(model, params, (x,)), y)

    return torch.func.hessian(loss_of)(hessian.parameter_vector(model)).numpy()


@pytest.fixture(scope="module")
def tanh():
    model, loss_fn, data = tanh_problem()
    return model, loss_fn, data, hessian.full_hessian(model, loss_fn, data)


@pytest.fixture(scope="module")
def relu():
    model, loss_fn, data = relu_digits_problem()
    return model, loss_fn, data, hessian.full_hessian(model, loss_fn, data)


# ------------------------------------------------------------------ products and the full matrix
def test_full_hessian_matches_torch_func(tanh):
    model, loss_fn, data, H = tanh
    np.testing.assert_allclose(H, torch_func_hessian(model, loss_fn, data), atol=1e-12)


def test_hvp_matches_torch_autograd_functional(tanh):
    model, loss_fn, data, H = tanh
    params = list(model.parameters())
    v = torch.randn(57, dtype=torch.float64)
    ours = hessian.hvp(lambda: loss_fn(model(data[0]), data[1]), params, v)
    np.testing.assert_allclose(ours.numpy(), H @ v.numpy(), atol=1e-12)
    # the per-parameter form returns per-parameter tensors
    parts = hessian.hvp(lambda: loss_fn(model(data[0]), data[1]), model, hessian._split(v, params))
    assert [p.shape for p in parts] == [p.shape for p in params]
    np.testing.assert_allclose(torch.cat([p.reshape(-1) for p in parts]).numpy(), ours.numpy(), atol=1e-14)
    # reference: torch's own double-backward HVP of a functional version of the loss
    w = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    u = torch.tensor([1.0, 0.5, -2.0], dtype=torch.float64)
    f = lambda t: (t.sin() * t.roll(1)).sum()
    expected = torch.autograd.functional.hvp(f, w.detach(), u)[1]
    torch.testing.assert_close(hessian.hvp(lambda: f(w), [w], u), expected)


def test_operator_is_a_scipy_linear_operator(tanh):
    model, loss_fn, data, H = tanh
    op = hessian.HessianOperator(model, loss_fn, data)
    assert isinstance(op, scipy.sparse.linalg.LinearOperator) and op.shape == (57, 57)
    assert op.dtype == np.float64
    x = np.random.default_rng(0).standard_normal(57)
    np.testing.assert_allclose(op @ x, H @ x, atol=1e-12)
    np.testing.assert_allclose(op.T @ x, H @ x, atol=1e-12)
    top = scipy.sparse.linalg.eigsh(op, k=2, which="LA", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(top), np.linalg.eigvalsh(H)[-2:], rtol=1e-8)
    assert op.num_hvps > 0
    assert op.loss == pytest.approx(float(loss_fn(model(data[0]), data[1]).detach()))


@pytest.mark.parametrize("cache", [True, False])
def test_batches_give_the_hessian_of_the_mean_loss(tanh, cache):
    model, loss_fn, (x, y), H = tanh
    batches = [(x[:7], y[:7]), (x[7:25], y[7:25]), (x[25:], y[25:])]
    op = hessian.HessianOperator(model, loss_fn, batches, cache=cache)
    v = np.random.default_rng(1).standard_normal(57)
    np.testing.assert_allclose(op @ v, H @ v, atol=1e-12)
    # a generator is read once and kept
    gen_op = hessian.HessianOperator(model, loss_fn, (b for b in batches), cache=cache)
    np.testing.assert_allclose(gen_op @ v, H @ v, atol=1e-12)
    np.testing.assert_allclose(gen_op @ v, H @ v, atol=1e-12)
    grad = torch.autograd.grad(loss_fn(model(x), y), list(model.parameters()))
    torch.testing.assert_close(gen_op.gradient(), torch.cat([g.reshape(-1) for g in grad]))


# ------------------------------------------------------------------ spectra
@pytest.mark.parametrize("problem", ["tanh", "relu"])
def test_top_and_bottom_eigenvalues_match_eigvalsh(problem, request):
    model, loss_fn, data, H = request.getfixturevalue(problem)
    exact = np.linalg.eigvalsh(H)
    top = hessian.top_eigenvalues(model, loss_fn, data, k=3, tol=1e-6)
    bottom = hessian.bottom_eigenvalues(model, loss_fn, data, k=3, tol=1e-6)
    np.testing.assert_allclose(top.values, exact[::-1][:3], rtol=1e-4)
    np.testing.assert_allclose(bottom.values, exact[:3], rtol=1e-4)
    assert bottom.values[0] < 0  # neither network sits at a minimum
    for values, vectors in (top, bottom):
        V = vectors.numpy()
        np.testing.assert_allclose(V @ V.T, np.eye(3), atol=1e-8)
        np.testing.assert_allclose(np.einsum("in,nm,im->i", V, H, V), values, rtol=1e-10)
        residual = np.linalg.norm(H @ V.T - V.T * values, axis=0)      # stopping rule: r <= tol |theta|
        assert np.all(residual <= 1.5e-6 * np.abs(values))


def test_float32_model_at_default_tolerance():
    model, loss_fn, data = relu_digits_problem(hidden=16, dtype=torch.float32, n=300)
    exact = np.linalg.eigvalsh(hessian.full_hessian(model, loss_fn, data))
    top = hessian.top_eigenvalues(model, loss_fn, data, k=3)
    assert top.vectors.dtype == torch.float32
    np.testing.assert_allclose(top.values, exact[::-1][:3], rtol=1e-3)


def test_k_equal_to_n_returns_the_whole_spectrum(tanh):
    model, loss_fn, data, H = tanh
    values = hessian.top_eigenvalues(model, loss_fn, data, k=57, tol=1e-8).values
    np.testing.assert_allclose(values, np.linalg.eigvalsh(H)[::-1], atol=1e-10)


def test_a_good_start_saves_products(relu):
    model, loss_fn, data, H = relu
    exact = np.linalg.eigvalsh(H)[::-1][:2]
    op = hessian.HessianOperator(model, loss_fn, data)
    cold = hessian.top_eigenvalues(op, k=2, tol=1e-6)
    cold_hvps = op.num_hvps
    for start in (cold.vectors[0] + cold.vectors[1], "gradient"):
        op.num_hvps = 0
        warm = hessian.top_eigenvalues(op, k=2, tol=1e-6, start=start)
        np.testing.assert_allclose(warm.values, exact, rtol=1e-4)
        if not isinstance(start, str):
            assert op.num_hvps < cold_hvps
    with pytest.raises(ValueError, match="start"):
        hessian.top_eigenvalues(op, start="hessian")
    with pytest.raises(ValueError, match="start"):
        hessian.bottom_eigenvalues(op, start=torch.ones(3))


def test_operator_is_reused_without_new_forward_passes(relu):
    model, loss_fn, data, H = relu
    op = hessian.HessianOperator(model, loss_fn, data)
    first = hessian.top_eigenvalues(op, k=1, tol=1e-8)
    used = op.num_hvps
    second = hessian.top_eigenvalues(op, k=1, tol=1e-8)
    assert op.num_hvps == 2 * used and first.values == pytest.approx(second.values)


# ------------------------------------------------------------------ trace and density
def test_hutchpp_is_exact_when_the_sketch_spans_the_space(tanh):
    model, loss_fn, data, H = tanh
    estimate = hessian.trace(model, loss_fn, data, method="hutch++", num_hvps=3 * 57)
    assert estimate == pytest.approx(np.trace(H), rel=1e-10)


def test_trace_estimators_are_unbiased_and_hutchpp_is_more_accurate(relu):
    model, loss_fn, data, H = relu
    exact = np.trace(H)
    op = hessian.HessianOperator(model, loss_fn, data)
    # 99 HVPs, PyHessian's budget: Hutch++ sketches the top 33 directions exactly (measured
    # mean errors: Hutchinson 1.8%, Hutch++ 0.6%)
    plain = np.array([hessian.trace(op, method="hutchinson", num_hvps=99, seed=s) for s in range(20)])
    plus = np.array([hessian.trace(op, method="hutch++", num_hvps=99, seed=s) for s in range(20)])
    for estimates in (plain, plus):
        assert abs(estimates.mean() - exact) < 4 * estimates.std() / np.sqrt(20) + 1e-9
    assert np.abs(plus - exact).mean() < 0.5 * np.abs(plain - exact).mean()


def test_density_is_a_gauss_quadrature(tanh):
    model, loss_fn, data, H = tanh
    exact = np.linalg.eigvalsh(H)
    full = hessian.density(model, loss_fn, data, steps=57, seed=3)
    np.testing.assert_allclose(np.sort(full.ritz_values[0]), exact, atol=1e-8)
    np.testing.assert_allclose(full.ritz_weights.sum(axis=1), 1.0, atol=1e-12)
    assert getattr(np, "trapezoid", getattr(np, "trapz", None))(full.density, full.grid) == pytest.approx(1.0, abs=1e-3)
    # the quadrature integrates polynomials exactly: sum_i w_i theta_i^2 = v^T H^2 v / |v|^2
    v = hessian._random_vector(57, 3, "cpu", torch.float64, rademacher=True).numpy()
    assert (full.ritz_weights[0] * full.ritz_values[0] ** 2).sum() == pytest.approx(v @ H @ H @ v / (v @ v))
    short = hessian.density(model, loss_fn, data, steps=25, runs=2, sigma=0.01)
    assert short.ritz_values.shape == (2, 25)
    assert short.ritz_values.max() == pytest.approx(exact[-1], rel=1e-6)


# ------------------------------------------------------------------ critical points
def _eigenvalues_at(f, point):
    H = torch.autograd.functional.hessian(f, torch.tensor(point, dtype=torch.float64))
    return np.linalg.eigvalsh(H.numpy())


def test_classify_the_critical_points_of_2d_functions():
    bowl = lambda p: p[0] ** 2 + 2 * p[1] ** 2
    cap = lambda p: -(p[0] ** 2) - 3 * p[1] ** 2
    saddle = lambda p: p[0] ** 2 - p[1] ** 2
    monkey = lambda p: p[0] ** 3 - 3 * p[0] * p[1] ** 2
    kinds = [hessian.classify(_eigenvalues_at(f, [0.0, 0.0])) for f in (bowl, cap, saddle, monkey)]
    assert kinds == ["minimum", "maximum", "saddle", "degenerate"]
    # vectorized over points, as for a grid of a 2-D surface's Hessians
    hessians = np.array([[[2.0, 0.0], [0.0, 4.0]], [[2.0, 0.0], [0.0, -2.0]], [[0.0, 0.0], [0.0, 0.0]]])
    assert list(hessian.classify(np.linalg.eigvalsh(hessians))) == ["minimum", "saddle", "degenerate"]


def test_classify_the_analytic_hessians_of_course_surfaces():
    from course_lib import surfaces

    def kind(surface, point):
        return hessian.classify(np.linalg.eigvalsh(surface.hessian(np.array(point, dtype=float))))

    assert kind(surfaces.rosenbrock, [1.0, 1.0]) == "minimum"
    for minimum in surfaces.himmelblau.minima:
        assert kind(surfaces.himmelblau, minimum) == "minimum"
    # Himmelblau's local maximum (gradient ~1e-6 there)
    peak = [-0.270844590667, -0.923038556480]
    assert np.abs(surfaces.himmelblau.grad(np.array(peak))).max() < 1e-5
    assert kind(surfaces.himmelblau, peak) == "maximum"
    assert kind(surfaces.saddle, [0.0, 0.0]) == "saddle"
    assert kind(surfaces.monkey_saddle, [0.0, 0.0]) == "degenerate"   # H = 0: third order decides
    # a whole grid at once: the monkey saddle is a saddle everywhere but at the origin
    X, Y, _ = surfaces.monkey_saddle.grid(5)
    kinds = hessian.classify(np.linalg.eigvalsh(surfaces.monkey_saddle.hessian(np.stack([X, Y], -1))))
    assert kinds.shape == (5, 5) and kinds[2, 2] == "degenerate"
    assert (kinds == "saddle").sum() == 24


def test_classify_rules_and_tolerance():
    assert hessian.classify([3.0, 1e-9]) == "degenerate"        # zero within the default tol
    assert hessian.classify([3.0, -1.0, 0.0]) == "saddle"       # mixed signs decide anyway
    assert hessian.classify([-3.0, 0.0]) == "degenerate"
    assert hessian.classify([3.0, 1e-9], tol=0.0) == "minimum"
    assert hessian.classify([3.0, 0.5], tol=1.0) == "degenerate"
    assert hessian.classify(-2.0) == "maximum"


def test_classify_a_trained_network_minimum_and_a_network_saddle():
    # L2-regularized softmax regression is strictly convex: training ends at a true minimum.
    split = digits()
    x = torch.as_tensor(split.x_train[:150, :16], dtype=torch.float64)
    y = torch.as_tensor(split.y_train[:150]) % 3
    model = nn.Linear(16, 3).double()

    def loss_fn(out, target):
        return F.cross_entropy(out, target) + 1e-2 * sum((p ** 2).sum() for p in model.parameters())

    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=200, tolerance_grad=1e-12,
                                  tolerance_change=1e-15, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    op = hessian.HessianOperator(model, loss_fn, (x, y))
    assert op.gradient().norm() < 1e-6
    eigenvalues = np.linalg.eigvalsh(hessian.full_hessian(op))
    assert hessian.classify(eigenvalues) == "minimum"
    assert hessian.minimum_ratio(eigenvalues) == 1.0
    theta = hessian.parameter_vector(model)
    base = op.loss
    with torch.no_grad():
        for seed in range(10):
            step = 1e-2 * torch.randn(theta.shape, generator=torch.Generator().manual_seed(seed), dtype=theta.dtype)
            hessian.load_parameter_vector(model, theta + step)
            assert float(loss_fn(model(x), y)) > base
    hessian.load_parameter_vector(model, theta)

    # A two-layer linear network y = w2 w1 x at w = 0: zero gradient, eigenvalues +c and -c.
    net, loss, data = _two_layer_linear_network()
    op = hessian.HessianOperator(net, loss, data)
    assert op.gradient().abs().max() == 0
    eigenvalues = np.linalg.eigvalsh(hessian.full_hessian(op))
    assert hessian.classify(eigenvalues) == "saddle"
    assert hessian.minimum_ratio(eigenvalues) == 0.5


def _two_layer_linear_network():
    torch.manual_seed(0)
    x = torch.randn(50, 1, dtype=torch.float64)
    y = 2.0 * x
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    return net, F.mse_loss, (x, y)


def test_minimum_ratio_counts_positive_eigenvalues():
    assert hessian.minimum_ratio([1.0, 2.0, -1.0, 0.0]) == 0.5
    np.testing.assert_allclose(hessian.minimum_ratio([[1.0, 1.0], [-1.0, 1.0]]), [1.0, 0.5])
    assert hessian.minimum_ratio([1.0, 1e-3], tol=1e-2) == 0.5


def test_escape_direction_leaves_the_saddle():
    net, loss_fn, data = _two_layer_linear_network()
    before = hessian.parameter_vector(net)
    exact = np.linalg.eigvalsh(hessian.full_hessian(net, loss_fn, data))
    escape = hessian.escape_direction(net, loss_fn, data)
    assert escape.eigenvalue == pytest.approx(exact[0], rel=1e-6) and escape.eigenvalue < 0
    assert escape.decrease > 0 and np.all(escape.decreases > 0)
    # near the saddle the second-order prediction is right
    assert escape.decreases[0] == pytest.approx(-0.5 * escape.steps[0] ** 2 * exact[0], rel=1e-2)
    assert float(escape.direction.norm()) == pytest.approx(1.0)
    assert torch.equal(hessian.parameter_vector(net), before)


def test_models_keep_their_parameters_and_mode(relu):
    model, loss_fn, data, _ = relu
    model.train()
    before = hessian.parameter_vector(model)
    hessian.top_eigenvalues(model, loss_fn, data)
    hessian.escape_direction(model, loss_fn, data, steps=[0.1])
    assert model.training and all(m.training for m in model.modules())
    assert torch.equal(hessian.parameter_vector(model), before)


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_every_device(device):
    model, loss_fn, (x, y) = tanh_problem()
    expected = hessian.top_eigenvalues(model, loss_fn, (x, y), k=2, tol=1e-8).values
    model = model.to(device)
    result = hessian.top_eigenvalues(model, loss_fn, (x, y), k=2, tol=1e-8)  # data moved for us
    np.testing.assert_allclose(result.values, expected, rtol=1e-8)
    assert result.vectors.device.type == device
    assert isinstance(hessian.trace(model, loss_fn, (x, y), num_hvps=6), float)


# ------------------------------------------------------------------ bad input
def test_bad_input_gets_a_clear_error(tanh):
    model, loss_fn, data, _ = tanh
    with pytest.raises(ValueError, match="k must be"):
        hessian.top_eigenvalues(model, loss_fn, data, k=58)
    with pytest.raises(ValueError, match="k must be"):
        hessian.bottom_eigenvalues(model, loss_fn, data, k=0)
    for tol in (0.0, -1e-3, 1.0):
        with pytest.raises(ValueError, match="tol"):
            hessian.top_eigenvalues(model, loss_fn, data, tol=tol)
    frozen = nn.Linear(5, 3).double().requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        hessian.top_eigenvalues(frozen, loss_fn, data)
    with pytest.raises(ValueError, match="scalar"):
        hessian.top_eigenvalues(model, lambda out, t: F.cross_entropy(out, t, reduction="none"), data)
    x, y = data
    with pytest.raises(ValueError, match="nan"):
        hessian.top_eigenvalues(model, loss_fn, (x * float("nan"), y))
    with pytest.raises(ValueError, match="max_params"):
        hessian.full_hessian(model, loss_fn, data, max_params=10)
    big = nn.Linear(100, 60)          # 6,060 parameters > FULL_HESSIAN_MAX_PARAMS: refused at once
    assert hessian.FULL_HESSIAN_MAX_PARAMS == 5000
    with pytest.raises(ValueError, match="n=6060 .*max_params=5000"):
        hessian.full_hessian(big, F.mse_loss, (torch.randn(4, 100), torch.randn(4, 60)))
    with pytest.raises(ValueError, match="method"):
        hessian.trace(model, loss_fn, data, method="exact")
    with pytest.raises(ValueError, match="num_hvps"):
        hessian.trace(model, loss_fn, data, num_hvps=2)
    with pytest.raises(ValueError, match="either a HessianOperator"):
        hessian.top_eigenvalues(hessian.HessianOperator(model, loss_fn, data), loss_fn)
    with pytest.raises(TypeError, match="data"):
        hessian.top_eigenvalues(model, loss_fn, 3)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        hessian.top_eigenvalues("model", loss_fn, data)
    with pytest.raises(ValueError, match="finite"):
        hessian.classify([1.0, float("nan")])
    with pytest.raises(ValueError, match="empty"):
        hessian.classify([])
    with pytest.raises(ValueError, match="tol"):
        hessian.classify([1.0], tol=-1.0)


# ------------------------------------------------------------------ Gauss-Newton and empirical Fisher
from course_lib import gauss_newton  # noqa: E402


def _functional(model):
    """theta -> outputs of ``model`` (torch.func), for explicit Jacobians."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]

    def outputs_of(theta, x):
        params = {name: part.reshape(shape)
                  for name, part, shape in zip(names, theta.split(sizes), shapes)}
        return functional_call(model, params, (x,))

    return outputs_of


def explicit_ggn(model, loss_fn, data):
    """J^T H_out J from torch.func: the full Jacobian of all outputs and the Hessian of the
    loss with respect to them."""
    x, y = data
    outputs_of = _functional(model)
    theta = hessian.parameter_vector(model)
    f = outputs_of(theta, x).detach()
    J = torch.func.jacrev(outputs_of)(theta, x).reshape(f.numel(), -1)
    H_out = torch.func.hessian(lambda o: loss_fn(o.reshape(f.shape), y))(f.reshape(-1))
    return (J.T @ H_out.reshape(f.numel(), f.numel()) @ J).numpy()


def explicit_empirical_fisher(model, loss_fn, data):
    """(1/N) sum_i g_i g_i^T from per-example gradients (torch.func.vmap of grad)."""
    x, y = data
    outputs_of = _functional(model)
    theta = hessian.parameter_vector(model)

    def example_loss(t, xi, yi):
        return loss_fn(outputs_of(t, xi[None]), yi[None])

    g = torch.func.vmap(torch.func.grad(example_loss), in_dims=(None, 0, 0))(theta, x, y)
    return (g.T @ g / len(x)).numpy()


def mse_problem():
    """The tanh network of tanh_problem with 3 real-valued outputs and squared error."""
    model, _, (x, _) = tanh_problem()
    y = torch.randn(40, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    return model, F.mse_loss, (x, y)


@pytest.mark.parametrize("engine", ["mlp", "autograd"])
@pytest.mark.parametrize("problem", [tanh_problem, mse_problem, lambda: relu_digits_problem(n=60)],
                         ids=["cross-entropy", "mse", "relu-digits"])
def test_ggn_is_jt_hout_j(problem, engine):
    model, loss_fn, data = problem()
    op = gauss_newton.GGNOperator(model, loss_fn, data, engine=engine)
    assert op.engine == engine
    G = hessian.full_hessian(op)
    explicit = explicit_ggn(model, loss_fn, data)
    np.testing.assert_allclose(G, explicit, atol=1e-12 * np.abs(explicit).max())
    lam = np.linalg.eigvalsh(G)
    assert lam[0] >= -1e-12 * lam[-1]                     # positive semi-definite to round-off
    H = np.linalg.eigvalsh(hessian.full_hessian(model, loss_fn, data))
    assert H[0] < -1e-3 * H[-1]                           # ... while the Hessian is not
    assert op.loss == pytest.approx(float(loss_fn(model(data[0]), data[1]).detach()))
    torch.testing.assert_close(op.gradient(), hessian.HessianOperator(model, loss_fn, data).gradient())


@pytest.mark.parametrize("cache", [True, False])
def test_ggn_over_batches_is_the_ggn_of_the_mean_loss(cache):
    model, loss_fn, (x, y) = tanh_problem()
    batches = [(x[:7], y[:7]), (x[7:25], y[7:25]), (x[25:], y[25:])]
    explicit = explicit_ggn(model, loss_fn, (x, y))
    for engine in ("auto", "autograd"):
        op = gauss_newton.GGNOperator(model, loss_fn, batches, cache=cache, engine=engine)
        assert op.engine == ("mlp" if cache and engine == "auto" else "autograd")
        np.testing.assert_allclose(hessian.full_hessian(op), explicit, atol=1e-12)
        assert op.loss == pytest.approx(float(loss_fn(model(x), y).detach()))


def test_ggn_equals_the_hessian_where_the_residuals_vanish():
    """H = G + sum_c (d loss / d f_c) grad^2 f_c: the two differ by a term weighted by the
    residuals, so they agree at a perfect fit and disagree at the saddle w = 0."""
    net, loss_fn, (x, y) = _two_layer_linear_network()      # y = 2x, f = w2 w1 x
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[1].weight.fill_(2.0)                              # exact fit: residuals 0
    H = hessian.full_hessian(net, loss_fn, (x, y))
    G = hessian.full_hessian(gauss_newton.GGNOperator(net, loss_fn, (x, y)))
    np.testing.assert_allclose(G, H, atol=1e-12)
    with torch.no_grad():
        net[1].weight.fill_(0.5)                              # residual -1.5 x: H != G
    H = hessian.full_hessian(net, loss_fn, (x, y))
    G = hessian.full_hessian(gauss_newton.GGNOperator(net, loss_fn, (x, y)))
    assert np.abs(H - G).max() > 0.1
    for p in net.parameters():
        torch.nn.init.zeros_(p)                               # the saddle: J = 0, so G = 0
    G = hessian.full_hessian(gauss_newton.GGNOperator(net, loss_fn, (x, y)))
    assert np.abs(G).max() == 0.0
    assert np.linalg.eigvalsh(hessian.full_hessian(net, loss_fn, (x, y)))[0] < 0


@pytest.mark.parametrize("problem", [tanh_problem, mse_problem], ids=["cross-entropy", "mse"])
def test_empirical_fisher_is_the_mean_outer_product_of_example_gradients(problem):
    model, loss_fn, (x, y) = problem()
    explicit = explicit_empirical_fisher(model, loss_fn, (x, y))
    op = gauss_newton.EmpiricalFisherOperator(model, loss_fn, (x, y))
    np.testing.assert_allclose(hessian.full_hessian(op), explicit, atol=1e-12)
    batches = [(x[:15], y[:15]), (x[15:], y[15:])]
    split = gauss_newton.EmpiricalFisherOperator(model, loss_fn, batches)
    np.testing.assert_allclose(hessian.full_hessian(split), explicit, atol=1e-12)
    lam = np.linalg.eigvalsh(explicit)
    assert lam[0] >= -1e-12 * lam[-1]
    # not the GGN: the empirical Fisher uses the observed labels' gradients
    assert np.abs(explicit - explicit_ggn(model, loss_fn, (x, y))).max() > 1e-2


def test_estimators_take_the_gauss_newton_operators(relu):
    model, loss_fn, data, _ = relu
    for op, exact in ((gauss_newton.GGNOperator(model, loss_fn, data), explicit_ggn(model, loss_fn, data)),
                      (gauss_newton.EmpiricalFisherOperator(model, loss_fn, data),
                       explicit_empirical_fisher(model, loss_fn, data))):
        lam = np.linalg.eigvalsh(exact)
        top = hessian.top_eigenvalues(op, k=3, tol=1e-6)
        np.testing.assert_allclose(top.values, lam[::-1][:3], rtol=1e-4)
        V = top.vectors.numpy()
        np.testing.assert_allclose(np.einsum("in,nm,im->i", V, exact, V), top.values, rtol=1e-8)
        np.testing.assert_allclose(scipy.sparse.linalg.eigsh(op, k=1, which="LA", return_eigenvectors=False),
                                   lam[-1:], rtol=1e-8)
        estimates = [hessian.trace(op, num_hvps=60, seed=s) for s in range(5)]
        assert np.mean(estimates) == pytest.approx(np.trace(exact), rel=0.05)
        spectrum = hessian.density(op, steps=30)
        assert spectrum.ritz_values.max() == pytest.approx(lam[-1], rel=1e-6)
        assert spectrum.ritz_values.min() > -1e-6 * lam[-1]


@pytest.mark.parametrize("device", DEVICES)
def test_gauss_newton_runs_on_every_device(device):
    model, loss_fn, (x, y) = tanh_problem()
    expected = hessian.top_eigenvalues(gauss_newton.GGNOperator(model, loss_fn, (x, y)), k=2, tol=1e-8).values
    model = model.to(device)
    for op in (gauss_newton.GGNOperator(model, loss_fn, (x, y), engine="autograd"),
               gauss_newton.EmpiricalFisherOperator(model, loss_fn, (x, y))):
        result = hessian.top_eigenvalues(op, k=2, tol=1e-8)
        assert result.vectors.device.type == device
    np.testing.assert_allclose(hessian.top_eigenvalues(
        gauss_newton.GGNOperator(model, loss_fn, (x, y)), k=2, tol=1e-8).values, expected, rtol=1e-8)


def test_gauss_newton_bad_input_gets_a_clear_error(tanh):
    model, loss_fn, data, _ = tanh
    with pytest.raises(ValueError, match="engine"):
        gauss_newton.GGNOperator(model, loss_fn, data, engine="fast")
    conv = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten()).double()
    with pytest.raises(ValueError, match="engine='mlp' cannot be used"):
        gauss_newton.GGNOperator(conv, F.mse_loss, (torch.randn(4, 1, 5).double(), torch.randn(4, 6).double()),
                                 engine="mlp")
    summed = nn.Sequential(model, _SumOverExamples())   # one output for the whole batch
    with pytest.raises(ValueError, match="first axis"):
        gauss_newton.EmpiricalFisherOperator(summed, F.mse_loss, (data[0], torch.zeros((), dtype=torch.float64)))
    with pytest.raises(ValueError, match="either a HessianOperator"):
        hessian.top_eigenvalues(gauss_newton.GGNOperator(model, loss_fn, data), loss_fn, data)
    op = gauss_newton.GGNOperator(model, loss_fn, data)
    with pytest.raises(ValueError, match="v must have shape"):
        op.apply(torch.ones(3, dtype=torch.float64))


class _SumOverExamples(nn.Module):
    def forward(self, x):
        return x.sum()


def test_gauss_newton_doctest():
    import doctest
    torch.manual_seed(0)
    result = doctest.testmod(gauss_newton)
    assert result.attempted > 0 and result.failed == 0
