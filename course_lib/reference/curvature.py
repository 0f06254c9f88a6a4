"""What the Hessian's eigenvalues say about a critical point (chapter 4).

At a point where the gradient vanishes, L(theta* + delta) - L(theta*) is about
(1/2) sum_i lambda_i c_i^2 with c_i = u_i . delta, u_i the eigenvectors of H.
"""
import numpy as np


# [start-classify]
def classify(lam, tol):
    """The kind of a critical point from the eigenvalues lam of H:
    all > tol a minimum, all < -tol a maximum, both signs a saddle;
    otherwise some |lambda| <= tol and the second order cannot decide."""
    up, down = np.sum(lam > tol), np.sum(lam < -tol)
    if up > 0 and down > 0:
        return "saddle"
    if up == len(lam):
        return "minimum"
    if down == len(lam):
        return "maximum"
    return "degenerate"
# [end-classify]


# [start-minimum_ratio]
def minimum_ratio(lam):
    """#{i : lambda_i > 0} / n: 1 at a strict minimum, 0 at a maximum."""
    return np.sum(lam > 0) / len(lam)
# [end-minimum_ratio]


# [start-escape_steps]
def escape_steps(lam, eta, eps, r):
    """Steps of gradient descent to get from distance eps to distance r
    of a saddle along the eigenvector of lam < 0: each step multiplies
    that distance by 1 - eta lam = 1 + eta |lam|, so
    t = log(r / eps) / log(1 + eta |lam|)."""
    return np.log(r / eps) / np.log(1 + eta * abs(lam))
# [end-escape_steps]


# [start-gradient_norm_gradient]
def gradient_norm_gradient(grad, theta, eps=1e-5):
    """The gradient of (1/2) |grad L(theta)|^2 is H g with g = grad L(theta),
    a Hessian-vector product; here by central differences of the gradient,
    H g = (grad L(theta + eps g) - grad L(theta - eps g)) / (2 eps) + O(eps^2).
    (The census forms H g exactly, by double backpropagation.)"""
    g = grad(theta)
    return (grad(theta + eps * g) - grad(theta - eps * g)) / (2 * eps)
# [end-gradient_norm_gradient]
