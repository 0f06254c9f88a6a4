"""Batch normalization in training and at inference (chapter 10).

x has one row per example of the batch and one column per feature; every
statistic is per feature (axis 0).
"""
import numpy as np


# [start-batch_norm_train]
def batch_norm_train(x, gamma, beta, eps=1e-5):
    """mu_B = mean_i x_i, sigma_B^2 = mean_i (x_i - mu_B)^2 (biased),
    y_i = gamma (x_i - mu_B) / sqrt(sigma_B^2 + eps) + beta.
    Returns y and the batch statistics mu_B, sigma_B^2."""
    mu_B = x.mean(axis=0)
    var_B = ((x - mu_B) ** 2).mean(axis=0)
    y = gamma * (x - mu_B) / np.sqrt(var_B + eps) + beta
    return y, mu_B, var_B
# [end-batch_norm_train]


# [start-running_average]
def running_average(old, new, m):
    """(1 - m) old + m new: PyTorch's momentum is m, MXNet's is 1 - m.
    Starting from old = 0, k batches with the same statistic s reach
    (1 - (1 - m)^k) s, not s."""
    return (1 - m) * old + m * new
# [end-running_average]


# [start-batch_norm_eval]
def batch_norm_eval(x, gamma, beta, mu_hat, var_hat, eps=1e-5):
    """y = gamma (x - mu_hat) / sqrt(var_hat + eps) + beta with the
    running averages: each example's output ignores the rest of the batch."""
    return gamma * (x - mu_hat) / np.sqrt(var_hat + eps) + beta
# [end-batch_norm_eval]
