"""Reference optimizer update rules: plain numpy, the math's own names.

One function per rule, one step each: it takes the parameter ``theta``, the
gradient ``g`` and the rule's state, and returns the new parameter and state
(nothing is changed in place). The names are those of the chapters:

====================  ==========================================================
``theta``             parameter
``g``                 gradient at ``theta``
``t``                 step number, 1 for the first step
``eta``               learning rate
``v``                 momentum buffer (heavy ball, Nesterov); Adam's 2nd moment
``m``                 Adam's first moment
``s``                 running sum or average of ``g**2`` (Adagrad, RMSProp, ...)
``u``                 Adadelta's running average of squared updates
``mu``                momentum coefficient
``gamma``             RMSProp's decay (torch: ``alpha``, MXNet: ``gamma1``)
``rho``               Adadelta's decay
``beta1``, ``beta2``  Adam's decays
``eps``               the constant that keeps a division finite
``lambda_``           AdamW's decoupled weight decay
====================  ==========================================================

Defaults are torch.optim's (and :mod:`course_lib.rules`'s), except the
momentum coefficient ``mu = 0.9`` (torch's SGD defaults to no momentum) and
gradient descent's ``eta``, which has none. State starts at
zero (``np.zeros_like(theta)``). The fast implementations in
:mod:`course_lib.rules`, :mod:`course_lib.torch` and :mod:`course_lib.mxnet`
are tested against these functions (tests/test_reference_update_rules.py).
"""
from __future__ import annotations

import numpy as np

__all__ = ["gradient_descent", "momentum", "nesterov", "adagrad", "rmsprop",
           "adadelta", "adam", "adamw", "ema_weights", "bias_factor",
           "unrolled_momentum"]


# [start-gradient_descent]
def gradient_descent(theta, g, eta):
    """theta <- theta - eta g."""
    return theta - eta * g
# [end-gradient_descent]


# [start-momentum]
def momentum(theta, v, g, eta, mu=0.9):
    """Heavy ball: v <- mu v + g;  theta <- theta - eta v  (v starts at 0)."""
    v = mu * v + g
    theta = theta - eta * v
    return theta, v
# [end-momentum]


# [start-nesterov]
def nesterov(theta, v, g, eta, mu=0.9):
    """Nesterov: v <- mu v + g;  theta <- theta - eta (g + mu v)."""
    v = mu * v + g
    theta = theta - eta * (g + mu * v)
    return theta, v
# [end-nesterov]


# [start-adagrad]
def adagrad(theta, s, g, eta=1e-2, eps=1e-10):
    """Adagrad: s <- s + g^2;  theta <- theta - eta g / (sqrt(s) + eps)."""
    s = s + g**2
    theta = theta - eta * g / (np.sqrt(s) + eps)
    return theta, s
# [end-adagrad]


# [start-rmsprop]
def rmsprop(theta, s, g, eta=1e-2, gamma=0.99, eps=1e-8):
    """RMSProp: s <- gamma s + (1 - gamma) g^2;
    theta <- theta - eta g / (sqrt(s) + eps)."""
    s = gamma * s + (1 - gamma) * g**2
    theta = theta - eta * g / (np.sqrt(s) + eps)
    return theta, s
# [end-rmsprop]


# [start-adadelta]
def adadelta(theta, s, u, g, rho=0.9, eps=1e-6):
    """Adadelta: s <- rho s + (1 - rho) g^2;
    delta = sqrt(u + eps) / sqrt(s + eps) g;
    u <- rho u + (1 - rho) delta^2;  theta <- theta - delta."""
    s = rho * s + (1 - rho) * g**2
    delta = np.sqrt(u + eps) / np.sqrt(s + eps) * g
    u = rho * u + (1 - rho) * delta**2
    theta = theta - delta
    return theta, s, u
# [end-adadelta]


# [start-adam]
def adam(theta, m, v, g, t, eta=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam: m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2;
    m_hat = m / (1 - beta1^t);  v_hat = v / (1 - beta2^t);
    theta <- theta - eta m_hat / (sqrt(v_hat) + eps)."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    theta = theta - eta * m_hat / (np.sqrt(v_hat) + eps)
    return theta, m, v
# [end-adam]


# [start-adamw]
def adamw(theta, m, v, g, t, eta=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
          lambda_=1e-2):
    """AdamW: theta <- theta (1 - eta lambda), then the Adam step with g
    (the decay never enters m or v)."""
    theta = theta * (1 - eta * lambda_)
    return adam(theta, m, v, g, t, eta, beta1, beta2, eps)
# [end-adamw]


# [start-ema_weights]
def ema_weights(beta, t):
    """Weights of g_1 ... g_t in y_t = beta y_{t-1} + (1 - beta) g_t, y_0 = 0:
    (1 - beta) beta^(t-k) for k = 1 ... t; they sum to 1 - beta^t."""
    k = np.arange(1, t + 1)
    return (1 - beta) * beta ** (t - k)
# [end-ema_weights]


# [start-bias_factor]
def bias_factor(beta, t):
    """1 - beta^t: the total weight of an EMA after t steps from 0, the
    factor Adam divides m and v by."""
    return 1 - beta**t
# [end-bias_factor]


# [start-unrolled_momentum]
def unrolled_momentum(grads, mu):
    """The heavy-ball buffer as a sum: v_t = sum_k mu^(t-k) g_k over the
    gradients g_1 ... g_t (rows of grads)."""
    grads = np.asarray(grads)
    t = len(grads)
    weights = mu ** (t - np.arange(1, t + 1))
    return np.tensordot(weights, grads, axes=1)
# [end-unrolled_momentum]
