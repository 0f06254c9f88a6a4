"""Softmax, cross-entropy and their gradients for one example (chapter 9).

z holds the C logits of one example, y its class (an integer in 0..C-1).
"""
import numpy as np


# [start-softmax]
def softmax(z):
    """softmax(z)_c = e^(z_c) / sum_k e^(z_k), computed as e^(z_c - m) /
    sum_k e^(z_k - m) with m = max_k z_k so that nothing overflows."""
    e = np.exp(z - np.max(z))
    return e / e.sum()
# [end-softmax]


# [start-cross_entropy]
def cross_entropy(z, y, w_y=1.0):
    """l = -w_y log softmax(z)_y = w_y (-z_y + m + log sum_k e^(z_k - m)),
    m = max_k z_k: LogSoftmax, then the negative log-likelihood."""
    m = np.max(z)
    return w_y * (-z[y] + m + np.log(np.sum(np.exp(z - m))))
# [end-cross_entropy]


# [start-cross_entropy_grad]
def cross_entropy_grad(z, y, w_y=1.0):
    """dl/dz_c = w_y (softmax(z)_c - [c = y])."""
    onehot = np.eye(len(z))[y]
    return w_y * (softmax(z) - onehot)
# [end-cross_entropy_grad]


# [start-binary_gradients]
def binary_gradients(z, y):
    """For p = sigma(z) and a label y in {0, 1}, the gradients in z of
    cross-entropy, p - y, and of the squared error 2 (p - y)^2,
    4 (p - y) p (1 - p): the extra factor p (1 - p) is sigma'(z)."""
    p = 1 / (1 + np.exp(-z))
    return p - y, 4 * (p - y) * p * (1 - p)
# [end-binary_gradients]


# [start-balanced_weights]
def balanced_weights(labels, C):
    """w_c = N / (C N_c), N_c the number of examples of class c among N:
    every class then carries the same total weight N / C."""
    N_c = np.bincount(labels, minlength=C)
    return len(labels) / (C * N_c)
# [end-balanced_weights]


# [start-weighted_mean]
def weighted_mean(l, w):
    """sum_n w_n l_n / sum_n w_n: the mean of PyTorch's weighted losses,
    where l_n is the unweighted loss and w_n = w_(y_n) of each example."""
    return np.sum(w * l) / np.sum(w)
# [end-weighted_mean]
