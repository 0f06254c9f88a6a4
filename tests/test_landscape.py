"""course_lib.landscape against analytic losses: quadratics whose line, plane and epsilon-box
maxima are known in closed form, plus a small network for the bookkeeping (restored
parameters, filter normalization, state_dict interpolation)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import hessian, landscape


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one thread avoids thread pools fighting on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Bowl(nn.Module):
    """L(w) = 1/2 sum_i c_i (w_i - w*_i)^2 with the loss below: H = diag(c), minimum w*."""

    def __init__(self, curvatures, center):
        super().__init__()
        self.register_buffer("sqrt_c", torch.as_tensor(curvatures, dtype=torch.float64).sqrt())
        self.register_buffer("center", torch.as_tensor(center, dtype=torch.float64))
        self.w = nn.Parameter(self.center.clone())

    def forward(self, x):
        return self.sqrt_c * (self.w - self.center)


def half_square(outputs, targets):
    return 0.5 * (outputs ** 2).sum()


BOWL_DATA = (torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
CURVATURES = [1.0, 4.0, 0.5, 2.0]
CENTER = [0.3, -1.5, 0.0, 2.0]


def small_network(seed=0):
    torch.manual_seed(seed)
    x = torch.randn(64, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (64,))
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    return model, F.cross_entropy, (x, y)


# ------------------------------------------------------------------ interpolate
def test_interpolate_traces_the_exact_parabola_of_a_quadratic():
    model = Bowl(CURVATURES, CENTER)
    a = hessian.parameter_vector(model)
    b = a + torch.tensor([1.0, -0.5, 2.0, 0.25], dtype=torch.float64)
    alphas = np.linspace(-1, 2, 13)
    losses = landscape.interpolate(model, half_square, BOWL_DATA, a, b, alphas)
    d = (b - a).numpy()
    expected = 0.5 * alphas ** 2 * (np.array(CURVATURES) * d ** 2).sum()
    np.testing.assert_allclose(losses, expected, rtol=1e-12, atol=1e-15)
    assert torch.equal(hessian.parameter_vector(model), a)        # restored
    # numpy vectors work too, and the default alphas are Keskar et al.'s range [-1, 2]
    default = landscape.interpolate(model, half_square, BOWL_DATA, a.numpy(), b.numpy())
    assert default.shape == (31,) and default[10] == pytest.approx(0.0, abs=1e-15)


def test_interpolate_between_two_trained_networks_and_state_dicts():
    model, loss_fn, (x, y) = small_network()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(50):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    end = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        end_loss = float(loss_fn(model(x), y))
        model.load_state_dict(start)
        start_loss = float(loss_fn(model(x), y))
    losses = landscape.interpolate(model, loss_fn, (x, y), start, end, [0.0, 0.5, 1.0, 1.5])
    assert losses[0] == pytest.approx(start_loss, rel=1e-12)
    assert losses[2] == pytest.approx(end_loss, rel=1e-12)
    assert end_loss < losses[1] < start_loss                       # training went downhill
    flat = landscape.interpolate(model, loss_fn, (x, y), _vector(start), _vector(end), [0.0, 0.5, 1.0, 1.5])
    np.testing.assert_allclose(flat, losses, rtol=1e-12)           # no buffers: both forms agree
    for key, value in model.state_dict().items():                  # restored
        assert torch.equal(value, start[key])


def _vector(state):
    return torch.cat([v.reshape(-1) for v in state.values()])


def test_interpolate_interpolates_batch_norm_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)).double()
    x, y = torch.randn(32, 3, dtype=torch.float64), torch.randn(32, 1, dtype=torch.float64)
    a = {k: v.clone() for k, v in model.state_dict().items()}
    b = {k: v.clone() for k, v in a.items()}
    b["1.running_mean"] += 2.0
    losses = landscape.interpolate(model, F.mse_loss, (x, y), a, b, [0.0, 0.5, 1.0])
    with torch.no_grad():
        model.eval()
        model.load_state_dict(b)
        model[1].running_mean.sub_(1.0)                            # halfway
        middle = float(F.mse_loss(model(x), y))
        model.load_state_dict(a)
    assert losses[1] == pytest.approx(middle, rel=1e-12)
    assert losses[0] != pytest.approx(losses[2])


def test_interpolate_rejects_bad_input():
    model, loss_fn, data = small_network()
    a = hessian.parameter_vector(model)
    with pytest.raises(ValueError, match="theta_b"):
        landscape.interpolate(model, loss_fn, data, a, a[:-1])
    with pytest.raises(ValueError, match="alphas"):
        landscape.interpolate(model, loss_fn, data, a, a, [0.0, float("nan")])
    with pytest.raises(TypeError, match="both"):
        landscape.interpolate(model, loss_fn, data, a, model.state_dict())
    with pytest.raises(ValueError, match="no trainable parameters"):
        landscape.interpolate(nn.Linear(6, 3).requires_grad_(False), loss_fn, data, a, a)


# ------------------------------------------------------------------ plane
def test_plane_of_a_quadratic_is_the_exact_paraboloid():
    model = Bowl(CURVATURES, CENTER)
    d1 = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    d2 = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=torch.float64)
    result = landscape.plane(model, half_square, BOWL_DATA, (d1, d2), extent=2.0, steps=5)
    A, B = np.meshgrid(result.alphas, result.betas)               # loss[i, j] at (alpha_j, beta_i)
    c = np.array(CURVATURES)
    expected = 0.5 * (c[0] + c[2]) * A ** 2 + 0.5 * (c[1] + c[3]) * B ** 2
    np.testing.assert_allclose(result.loss, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result.alphas, np.linspace(-2, 2, 5))
    assert torch.equal(hessian.parameter_vector(model), torch.tensor(CENTER, dtype=torch.float64))


def test_filter_normalized_directions_follow_li_et_al():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    params = list(model.parameters())
    d = landscape.random_direction(model, "filter", seed=1)
    parts = hessian._split(d, params)
    for p, part in zip(params, parts):
        if p.dim() == 1:
            assert torch.all(part == 0)                            # biases are not moved
        else:
            filter_norms = part.reshape(p.shape[0], -1).norm(dim=1)
            weight_norms = p.detach().double().reshape(p.shape[0], -1).norm(dim=1)
            torch.testing.assert_close(filter_norms, weight_norms, rtol=1e-6, atol=0)
    # scale invariance: doubling a layer's weights doubles its directions
    with torch.no_grad():
        model[0].weight.mul_(2)
    doubled = hessian._split(landscape.random_direction(model, "filter", seed=1), params)
    torch.testing.assert_close(doubled[0], 2 * parts[0])
    torch.testing.assert_close(doubled[2], parts[2])
    plain = landscape.random_direction(model, "none", seed=1)
    assert float(plain.norm()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="normalization"):
        landscape.random_direction(model, "layer")


def test_plane_of_a_network_is_centered_and_restores_parameters():
    model, loss_fn, (x, y) = small_network()
    before = hessian.parameter_vector(model)
    result = landscape.plane(model, loss_fn, (x, y), steps=5, extent=0.5, seed=3)
    with torch.no_grad():
        center = float(loss_fn(model(x), y))
    assert result.loss.shape == (5, 5)
    assert result.loss[2, 2] == pytest.approx(center, rel=1e-12)
    assert torch.equal(hessian.parameter_vector(model), before)
    d1, d2 = result.directions
    again = landscape.plane(model, loss_fn, (x, y), steps=5, extent=0.5, seed=3)
    np.testing.assert_array_equal(again.loss, result.loss)         # seeded
    assert not torch.allclose(d1, d2)
    with pytest.raises(ValueError, match="directions"):
        landscape.plane(model, loss_fn, (x, y), directions="pca")
    with pytest.raises(ValueError, match="steps"):
        landscape.plane(model, loss_fn, (x, y), steps=1)
    with pytest.raises(ValueError, match="extent"):
        landscape.plane(model, loss_fn, (x, y), extent=0.0)


# ------------------------------------------------------------------ sharpness
def keskar_box_maximum(curvatures, center, epsilon, scale=1.0):
    """At the minimum of 1/2 s^2 sum c_i d_i^2 the box |d_i| <= eps(|w_i|+1) peaks at a corner."""
    c, w = np.asarray(curvatures), np.asarray(center)
    return 100 * 0.5 * scale ** 2 * (c * (epsilon * (np.abs(w) + 1)) ** 2).sum()


def test_sharpness_of_a_quadratic_minimum_is_the_box_corner():
    model = Bowl(CURVATURES, CENTER)
    value = landscape.sharpness(model, half_square, BOWL_DATA, epsilon=1e-2)
    assert value == pytest.approx(keskar_box_maximum(CURVATURES, CENTER, 1e-2), rel=1e-6)
    assert torch.equal(hessian.parameter_vector(model), torch.tensor(CENTER, dtype=torch.float64))


def test_sharpness_grows_when_the_minimum_is_made_sharper():
    values = []
    for scale in (1.0, 2.0, 4.0):
        model = Bowl(scale ** 2 * np.array(CURVATURES), CENTER)    # L(w) -> s^2 L(w)
        values.append(landscape.sharpness(model, half_square, BOWL_DATA, epsilon=1e-3))
        expected = keskar_box_maximum(CURVATURES, CENTER, 1e-3, scale)
        assert values[-1] == pytest.approx(expected, rel=1e-6)
    assert values[0] < values[1] < values[2]
    np.testing.assert_allclose(np.diff(np.log(values)), np.log(4), rtol=1e-6)
    # in a random subspace (Keskar et al.'s second variant) the ordering holds too
    sub = [landscape.sharpness(Bowl(s ** 2 * np.array(CURVATURES), CENTER), half_square, BOWL_DATA,
                               epsilon=1e-3, subspace=2, seed=5) for s in (1.0, 2.0)]
    assert 0 < sub[0] < sub[1]


def test_sharpness_of_a_network_is_a_restored_lower_bound_growing_with_epsilon():
    model, loss_fn, (x, y) = small_network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(200):
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    model.zero_grad(set_to_none=True)
    before = hessian.parameter_vector(model)
    values = [landscape.sharpness(model, loss_fn, (x, y), epsilon=eps) for eps in (1e-3, 1e-2, 3e-2)]
    assert 0 < values[0] < values[1] < values[2]
    assert torch.equal(hessian.parameter_vector(model), before)
    # The maximum over the box is at least the loss at the corner the gradient points to.
    op = hessian.HessianOperator(model, loss_fn, (x, y))
    corner = before + 1e-3 * (before.abs() + 1) * op.gradient().sign()
    value = landscape.interpolate(model, loss_fn, (x, y), before, corner, [0.0, 1.0])
    assert values[0] >= 0.99 * 100 * (value[1] - value[0]) / (1 + value[0]) > 0


def test_sharpness_rejects_bad_input():
    model = Bowl(CURVATURES, CENTER)
    for epsilon in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="epsilon"):
            landscape.sharpness(model, half_square, BOWL_DATA, epsilon=epsilon)
    with pytest.raises(ValueError, match="subspace"):
        landscape.sharpness(model, half_square, BOWL_DATA, subspace=5)
    with pytest.raises(ValueError, match="maxiter"):
        landscape.sharpness(model, half_square, BOWL_DATA, maxiter=0)
    with pytest.raises(ValueError, match="scalar"):
        landscape.sharpness(model, lambda out, t: out ** 2, BOWL_DATA)
