"""The two-loss toy problem of chapter 11, its front and its weighted sums.

p in [0, 1] is the prediction, y the wasted effort, c the waste that the
model pays for an in-between prediction; the front is y = 0.
"""


# [start-toy_losses]
def toy_losses(p, y, c):
    """L0 = p^2 + c p (1 - p) + y^2 and L1 = (1 - p)^2 + c p (1 - p) + y^2."""
    shared = c * p * (1 - p) + y ** 2
    return p ** 2 + shared, (1 - p) ** 2 + shared
# [end-toy_losses]


# [start-front_curvature]
def front_curvature(p, c):
    """d^2 L1 / d L0^2 along the front y = 0. With a = 2 (1 - c) p + c,
    dL0/dp = a and dL1/dp = a - 2, so dL1/dL0 = 1 - 2 / a and
    d^2 L1 / d L0^2 = (2 a' / a^2) / a = 4 (1 - c) / a^3 (a' = 2 (1 - c))."""
    a = 2 * (1 - c) * p + c
    return 4 * (1 - c) / a ** 3
# [end-front_curvature]


# [start-stationary_position]
def stationary_position(alpha, c):
    """The p where d(L0 + alpha L1)/dp = a + alpha (a - 2) = 0 on the front,
    a = 2 (1 - c) p + c: p_s = (alpha (2 - c) - c) / (2 (1 - c) (1 + alpha));
    the second derivative 2 (1 - c) (1 + alpha) makes it a minimum along
    the front for c < 1 and a maximum for c > 1."""
    return (alpha * (2 - c) - c) / (2 * (1 - c) * (1 + alpha))
# [end-stationary_position]
