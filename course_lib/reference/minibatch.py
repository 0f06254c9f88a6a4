"""The minibatch gradient estimator and its noise (chapters 3 and 5).

Rows of ``per_example`` are the per-example gradients g_i of one loss at one
point: the training loss is f = (1/n) sum_i f_i, so its gradient g is the mean
of the rows.
"""
import numpy as np


# [start-minibatch_gradient]
def minibatch_gradient(per_example, batch):
    """g_B = (1/B) sum_{i in B} g_i, the mean over the batch's rows.

    Unbiased when B is drawn uniformly: E[g_B] = g = (1/n) sum_i g_i.
    """
    return per_example[batch].mean(axis=0)
# [end-minibatch_gradient]


# [start-minibatch_variance]
def minibatch_variance(per_example, B):
    """E |g_B - g|^2 = sigma^2 / B * (n - B) / (n - 1) for B rows drawn
    without replacement, sigma^2 = (1/n) sum_i |g_i - g|^2."""
    n = len(per_example)
    g = per_example.mean(axis=0)
    sigma2 = np.sum((per_example - g) ** 2) / n
    return sigma2 / B * (n - B) / (n - 1)
# [end-minibatch_variance]


# [start-noise_scale]
def noise_scale(per_example):
    """B_noise = sigma^2 / |g|^2: for batches B much smaller than n, the
    expected squared error sigma^2 / B of g_B exceeds |g|^2 when B < B_noise."""
    n = len(per_example)
    g = per_example.mean(axis=0)
    sigma2 = np.sum((per_example - g) ** 2) / n
    return sigma2 / np.sum(g ** 2)
# [end-noise_scale]
