"""The update as the mean of p(Delta | theta), estimated by sampling
(chapter 12). Rows of ``Delta`` are sampled steps, one per row."""
import numpy as np


# [start-snis_mean]
def snis_mean(Delta, change, log_q, alpha):
    """Self-normalized importance sampling of E_p[Delta]:
    w_i = (rho_i / q_i) / sum_j (rho_j / q_j), rho_i = exp(-change_i / alpha),
    change_i = l(theta + Delta_i) - l(theta); the normalizer Z cancels.
    Returns sum_i w_i Delta_i and the effective sample size
    (sum_i w_i)^2 / sum_i w_i^2 (= 1 / sum_i w_i^2 here)."""
    log_w = -change / alpha - log_q
    w = np.exp(log_w - log_w.max())
    w = w / w.sum()
    return w @ Delta, 1 / np.sum(w ** 2)
# [end-snis_mean]


# [start-first_order_limits]
def first_order_limits(g, alpha, r):
    """The mean step for the linear loss g . Delta on the ball |Delta| <= r
    at its two ends: for large alpha gradient descent with the learning
    rate r^2 / ((d + 2) alpha); for small alpha a step of length r
    along -g (d = the dimension)."""
    d = len(g)
    hot = -r ** 2 / ((d + 2) * alpha) * g
    cold = -r * g / np.linalg.norm(g)
    return hot, cold
# [end-first_order_limits]


# [start-mixture_log_q]
def mixture_log_q(Delta, center, sigma, lam):
    """log q(Delta) for q = lam N(0, sigma^2 I) + (1 - lam) N(center,
    sigma^2 I), center = -eta grad l~(theta) the surrogate's step."""
    d = Delta.shape[1]
    log_norm = -d / 2 * np.log(2 * np.pi * sigma ** 2)
    near_0 = -np.sum(Delta ** 2, axis=1) / (2 * sigma ** 2)
    near_c = -np.sum((Delta - center) ** 2, axis=1) / (2 * sigma ** 2)
    with np.errstate(divide="ignore"):      # log 0 = -inf at lam = 0 or 1
        return log_norm + np.logaddexp(np.log(lam) + near_0,
                                       np.log(1 - lam) + near_c)
# [end-mixture_log_q]


# [start-reinforce_gradient]
def reinforce_gradient(z, y, y_hat):
    """REINFORCE estimate of the gradient in the logits z of one example's
    expected accuracy E[r], r = [y_hat = y], y_hat ~ softmax(z), from n
    samples y_hat: (1/n) sum_j (r_j - b_j) grad log p(y_hat_j), with
    grad_z log p(c) = e_c - softmax(z) and the baseline b_j the mean reward
    of the other n - 1 samples (independent of sample j: no bias)."""
    e = np.exp(z - z.max())
    p = e / e.sum()
    n = len(y_hat)
    r = (y_hat == y).astype(float)
    b = (r.sum() - r) / (n - 1)
    grad_log_p = np.eye(len(z))[y_hat] - p
    return (r - b) @ grad_log_p / n
# [end-reinforce_gradient]
