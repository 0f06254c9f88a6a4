"""Estimating a model's error from data (chapter 1): the bias-variance split
and k-fold cross-validation."""
import numpy as np


# [start-bias_variance]
def bias_variance(fits, f_bar, f):
    """bias^2 = E_x[(f_bar(x) - f(x))^2] and variance = E_x[Var f_hat(x)],
    with fits[s, j] the fit to training set s at the test input x_j, f_bar
    the average fit and f the target at the same inputs."""
    bias2 = np.mean((f_bar - f) ** 2)
    variance = np.mean((fits - f_bar) ** 2)
    return bias2, variance
# [end-bias_variance]


# [start-kfold_cv]
def kfold_cv(x, y, fit, k, order):
    """CV_k = (1/k) sum_j L(f_-j; D_j): cut the examples, in the given
    order, into k folds D_j; fit on all the others (f_-j = fit(x, y))
    and take the mean squared error on D_j."""
    folds = np.array_split(order, k)
    losses = []
    for j in range(k):
        train = np.concatenate(folds[:j] + folds[j + 1:])
        f_minus_j = fit(x[train], y[train])
        D_j = folds[j]
        losses.append(np.mean((f_minus_j(x[D_j]) - y[D_j]) ** 2))
    return np.mean(losses)
# [end-kfold_cv]
