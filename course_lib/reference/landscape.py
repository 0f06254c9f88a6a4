"""Measures of how sharp a minimum is (chapter 5)."""
import numpy as np
from scipy.optimize import Bounds, minimize


# [start-eps_sharpness]
def eps_sharpness(L, grad, theta, eps, delta0):
    """phi_eps = 100 (max_delta L(theta + delta) - L(theta)) / (1 + L(theta))
    in percent, over the box |delta_i| <= eps (|theta_i| + 1). The maximum
    is searched by L-BFGS-B on -L from delta0, a point inside the box (at
    a minimum the gradient vanishes, so the centre would not move); what
    it finds is a lower bound of the true maximum."""
    r = eps * (np.abs(theta) + 1)

    def minus_L(delta):
        return -L(theta + delta), -grad(theta + delta)

    found = minimize(minus_L, delta0, jac=True, method="L-BFGS-B",
                     bounds=Bounds(-r, r))
    return 100 * (-found.fun - L(theta)) / (1 + L(theta))
# [end-eps_sharpness]
