"""Learning-rate schedules as formulas of the step t = 0, 1, 2, ... (chapter 8).

Each schedule takes an array of steps t and returns eta_t for each;
rms_adagrad is the optimizer whose late burst opens the chapter.
"""
import numpy as np


# [start-step_decay]
def step_decay(t, eta, gamma, s):
    """eta_t = eta gamma^floor(t / s): multiply by gamma every s steps."""
    return eta * gamma ** np.floor(t / s)
# [end-step_decay]


# [start-exponential]
def exponential(t, eta, gamma):
    """eta_t = eta gamma^t."""
    return eta * gamma ** t
# [end-exponential]


# [start-cosine]
def cosine(t, eta, T):
    """eta_t = (eta / 2) (1 + cos(pi t / T)) for t <= T, then 0."""
    return eta / 2 * (1 + np.cos(np.pi * np.minimum(t, T) / T))
# [end-cosine]


# [start-inverse_power]
def inverse_power(t, eta0, tau, p):
    """eta_t = eta0 / (1 + t / tau)^p: constant for p = 0, 1/t for p = 1."""
    return eta0 / (1 + t / tau) ** p
# [end-inverse_power]


# [start-linear_warmup]
def linear_warmup(t, eta_t, w):
    """eta_t min(1, (t + 1) / w): a linear ramp over the first w steps."""
    return eta_t * np.minimum(1, (t + 1) / w)
# [end-linear_warmup]


# [start-inverse_sqrt]
def inverse_sqrt(t, c, d_model, w):
    """c d_model^(-1/2) min(s^(-1/2), s w^(-3/2)) with s = t + 1:
    a linear ramp up to s = w, then a 1/sqrt(s) decay."""
    s = t + 1
    return c * d_model ** -0.5 * np.minimum(s ** -0.5, s * w ** -1.5)
# [end-inverse_sqrt]


# [start-rms_adagrad]
def rms_adagrad(grad, theta, eta, T):
    """T steps of Adagrad with the root mean square of the gradients,
    sigma_t = sqrt((1 / (t + 1)) sum_{k <= t} g_k^2) per coordinate,
    theta_{t+1} = theta_t - (eta / sigma_t) g_t. Returns theta_0 ... theta_T.
    As sigma_t = sqrt(sum_k g_k^2) / sqrt(t + 1), this is Adagrad on the
    sum with the learning rate eta sqrt(t + 1)."""
    path, sum_g2 = [theta], 0.0
    for t in range(T):
        g = grad(theta)
        sum_g2 = sum_g2 + g ** 2
        sigma = np.sqrt(sum_g2 / (t + 1))
        theta = theta - eta / sigma * g
        path.append(theta)
    return np.array(path)
# [end-rms_adagrad]
