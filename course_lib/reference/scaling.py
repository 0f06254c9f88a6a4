"""Feature scales set the curvature of linear regression (chapter 10).

x has one row per example and one column per feature; y one target each.
"""
import numpy as np


# [start-profile_loss]
def profile_loss(w, x, y):
    """L(w) = (1 / 2n) sum_i (x_i . w + b* - y_i)^2 with the best bias
    b* = mean_i (y_i - x_i . w) for this w."""
    b_star = np.mean(y - x @ w)
    return np.mean((x @ w + b_star - y) ** 2) / 2
# [end-profile_loss]


# [start-feature_covariance]
def feature_covariance(x):
    """Sigma = (1/n) sum_i (x_i - x_bar)(x_i - x_bar)^T, the Hessian of
    profile_loss: the best bias removes the means of the features."""
    x_c = x - x.mean(axis=0)
    return x_c.T @ x_c / len(x)
# [end-feature_covariance]
