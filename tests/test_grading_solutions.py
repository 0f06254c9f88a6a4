"""The solutions are the graders' references: check them against PyTorch, SciPy and the claims.

Each hidden test compares a student's output with the solution notebook's function, so
a wrong solution would grade every student wrongly. Here the solution functions (taken
from the executed solution notebooks) are checked against reference libraries.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.grading.assignment import Assignment

RNG = np.random.default_rng(0)


def solution(name: str) -> dict:
    return Assignment(name).reference


def _torch_steps(optimizer_class, grads, x0, **hyper):
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([x], **hyper)
    for grad in grads:
        x.grad = torch.tensor(grad, dtype=torch.float64)
        optimizer.step()
    return x.detach().numpy()


def test_adaptive_steps_match_torch_optim():
    ref = solution("07_adaptive")
    grads, x0 = RNG.normal(size=(25, 4)) * 3, RNG.normal(size=4)
    x, s = x0.copy(), np.zeros(4)
    for grad in grads:
        x, s = ref["adagrad_step"](x, s, grad, 0.1, 1e-10)
    np.testing.assert_allclose(x, _torch_steps(torch.optim.Adagrad, grads, x0, lr=0.1), rtol=1e-10)
    x, s = x0.copy(), np.zeros(4)
    for grad in grads:
        x, s = ref["rmsprop_step"](x, s, grad, 0.01, 0.9, 1e-8)
    np.testing.assert_allclose(x, _torch_steps(torch.optim.RMSprop, grads, x0, lr=0.01, alpha=0.9),
                               rtol=1e-10)
    x, m, v = x0.copy(), np.zeros(4), np.zeros(4)
    for t, grad in enumerate(grads, start=1):
        x, m, v = ref["adam_step"](x, m, v, grad, t, 0.01, 0.8, 0.99, 1e-8)
    np.testing.assert_allclose(x, _torch_steps(torch.optim.Adam, grads, x0, lr=0.01, betas=(0.8, 0.99)),
                               rtol=1e-10)


def test_momentum_steps_match_torch_sgd():
    ref = solution("06_momentum")
    grads, x0 = RNG.normal(size=(20, 3)), RNG.normal(size=3)
    for step, nesterov in ((ref["heavy_ball_step"], False), (ref["nesterov_step"], True)):
        x, v = x0.copy(), np.zeros(3)
        for grad in grads:
            x, v = step(x, v, grad, 0.05, 0.9)
        expected = _torch_steps(torch.optim.SGD, grads, x0, lr=0.05, momentum=0.9, nesterov=nesterov)
        np.testing.assert_allclose(x, expected, rtol=1e-10)
    # The EMA weights reproduce the EMA itself, and 0.95 remembers about 20 steps.
    m = np.zeros(3)
    for grad in grads:
        m = 0.95 * m + 0.05 * grad
    np.testing.assert_allclose(ref["ema_weights"](0.95, 20) @ grads, m, rtol=1e-12)
    assert ref["effective_window"](0.95) == pytest.approx(20.0)


def test_losses_match_torch():
    ref = solution("09_loss_functions")
    logits = RNG.normal(size=(6, 4)) * 50
    labels = RNG.integers(0, 4, size=6)
    weights = RNG.uniform(0.5, 2, size=4)
    z = torch.tensor(logits, requires_grad=True)
    np.testing.assert_allclose(ref["softmax"](logits), torch.softmax(z, -1).detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ref["log_softmax"](logits), torch.log_softmax(z, -1).detach().numpy(),
                               rtol=1e-12)
    loss = F.cross_entropy(z, torch.tensor(labels), weight=torch.tensor(weights))
    assert ref["cross_entropy"](logits, labels, weights) == pytest.approx(loss.item(), rel=1e-12)
    F.cross_entropy(z, torch.tensor(labels)).backward()
    np.testing.assert_allclose(ref["cross_entropy_grad"](logits, labels), z.grad.numpy(), atol=1e-12)
    # The chapter's numbers: softmax inputs 3 and 1 exponentiate to about 20 and 2.7.
    assert np.exp([3.0, 1.0]) == pytest.approx([20.09, 2.718], rel=1e-3)


def test_batch_norm_matches_torch():
    ref = solution("10_batch_norm")
    x = RNG.normal(size=(8, 3)) * 4 + 2
    gamma, beta = RNG.normal(size=3), RNG.normal(size=3)
    layer = torch.nn.BatchNorm1d(3, momentum=0.2, eps=1e-5).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(gamma))
        layer.bias.copy_(torch.tensor(beta))
    y, mean, var = ref["batchnorm_train"](x, gamma, beta, np.zeros(3), np.ones(3), 0.2, 1e-5)
    expected = layer(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mean, layer.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var, layer.running_var.numpy(), rtol=1e-12)
    layer.eval()
    np.testing.assert_allclose(ref["batchnorm_eval"](x, gamma, beta, mean, var, 1e-5),
                               layer(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    # Standardizing makes the least-squares surface rounder, for every student.
    for sid in ("", "a", "b", "c"):
        X = ref["my_features"](sid)
        standardized = (X - X.mean(axis=0)) / X.std(axis=0)
        assert ref["condition_number"](standardized) < ref["condition_number"](X) / 100


def test_schedules_match_torch_schedulers():
    ref = solution("08_schedules")
    x = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([x], lr=0.3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.5)
    for step in range(40):
        assert ref["step_decay"](step, 0.3, 7, 0.5) == pytest.approx(scheduler.get_last_lr()[0], rel=1e-12)
        optimizer.step()
        scheduler.step()
    optimizer = torch.optim.SGD([x], lr=1.0)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=50, eta_min=0.1)
    for step in range(50):
        expected = cosine.get_last_lr()[0]
        assert ref["warmup_cosine"](step + 5, 1.0, 5, 55, 0.1) == pytest.approx(expected, rel=1e-9)
        optimizer.step()
        cosine.step()
    rates = [ref["inverse_sqrt"](step, 512, 4000) for step in range(10000)]
    assert int(np.argmax(rates)) == 3999  # the transformer's peak is at the end of warm-up


def test_gradient_descent_solution_shows_the_stability_bound():
    ref = solution("02_gradient_descent")
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    bound = ref["stability_bound"](A)
    assert bound == pytest.approx(2 / np.linalg.eigvalsh(A).max())
    for factor, converges in ((0.95, True), (1.05, False)):
        trajectory = ref["gd_quadratic"](A, np.zeros(2), np.ones(2), factor * bound, 400)
        assert (np.linalg.norm(trajectory[-1]) < 1e-3) == converges
    x = RNG.normal(size=2)
    np.testing.assert_allclose(ref["newton_step"](x, A @ x, A), 0.0, atol=1e-12)


def test_sgd_gradients_match_autograd():
    ref = solution("03_sgd")
    X, y, w, b = RNG.normal(size=(7, 2)), RNG.normal(size=7), RNG.normal(size=2), 0.3
    grad_w, grad_b = ref["per_example_grads"](X, y, w, b)
    for i in range(7):
        tw = torch.tensor(w, requires_grad=True)
        tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        (0.5 * (torch.tensor(X[i]) @ tw + tb - y[i]) ** 2).backward()
        np.testing.assert_allclose(grad_w[i], tw.grad.numpy(), rtol=1e-12)
        assert grad_b[i] == pytest.approx(tb.grad.item(), rel=1e-12)
    # Batch size n is one step of gradient descent; the noise formula matches sampling.
    w_gd, b_gd = ref["sgd_epoch"](X, y, w, b, 0.1, 7, np.arange(7))
    full_w, full_b = ref["minibatch_grad"](X, y, w, b, np.arange(7))
    np.testing.assert_allclose(w_gd, w - 0.1 * full_w)
    grads = np.column_stack([grad_w, grad_b])
    draws = RNG.integers(0, 7, size=(20000, 3))
    sampled = np.mean(np.sum((grads[draws].mean(axis=1) - grads.mean(axis=0)) ** 2, axis=1))
    assert ref["minibatch_noise"](X, y, w, b, 3) == pytest.approx(sampled, rel=0.05)


def test_critical_points_and_sharpness_against_numpy():
    critical, batch = solution("04_critical_points"), solution("05_batch_size")
    H = np.array([[2.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 0.5]])
    assert critical["classify"](H) == "saddle"
    direction = critical["escape_direction"](H)
    assert abs(direction[1]) == pytest.approx(1.0)
    A = np.cov(RNG.normal(size=(5, 50)))
    assert batch["power_iteration"](A, np.ones(5), 500) == pytest.approx(np.linalg.eigvalsh(A).max(), rel=1e-8)
    assert batch["updates_per_epoch"](1000, 32) == 32


def test_multiplier_steps_match_course_lib():
    from course_lib.constrained import multiplier_force, multiplier_step

    ref = solution("11_constraints")
    x, grad_l0, grad_g = RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=3)
    for lam, g in ((0.0, 0.4), (1.0, -2.0), (0.3, -0.01)):
        new_x, new_lam = ref["mdmm_step"](x, lam, grad_l0, g, grad_g, 0.1, 0.5, 10.0)
        np.testing.assert_allclose(new_x, x - 0.1 * (grad_l0 + multiplier_force(lam, g, 10.0) * grad_g))
        assert new_lam == pytest.approx(multiplier_step(lam, g, 0.5))


def test_sampling_estimates_against_scipy_and_monte_carlo():
    from scipy.stats import multivariate_normal

    ref = solution("12_sampling")
    x, mean = RNG.normal(size=(5, 3)), RNG.normal(size=3)
    np.testing.assert_allclose(ref["gaussian_logpdf"](x, mean, 0.7),
                               multivariate_normal(mean, 0.49 * np.eye(3)).logpdf(x), rtol=1e-12)
    # Self-normalized IS of N(1, 1) from the proposal N(0, 2^2) recovers the mean 1.
    samples = RNG.normal(0.0, 2.0, size=200000)
    log_target = -0.5 * (samples - 1.0) ** 2
    log_proposal = -0.5 * (samples / 2.0) ** 2
    assert ref["snis_estimate"](samples, log_target, log_proposal) == pytest.approx(1.0, abs=0.02)
    assert ref["effective_sample_size"](np.zeros(10)) == pytest.approx(10)
    assert ref["reinforce_estimate"](np.ones(4), np.ones((4, 2)), 1.0) == pytest.approx([0.0, 0.0])


def test_general_guide_diagnosis_is_right_for_every_kind_of_run():
    ref = solution("01_general_guide")
    rng = np.random.default_rng(1)
    for letter in "ABCD":
        for _ in range(50):
            assert ref["diagnose"](ref["make_run"](rng, letter)) == letter
    assert ref["kfold_splits"](10, 3)[0].tolist() == [0, 1, 2, 3]
