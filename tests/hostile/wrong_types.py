# Answers that are not data: an object that claims to equal everything, a string, a huge array.
class Liar:
    def __eq__(self, other):
        return True

    def __float__(self):
        return 0.0


def gd_quadratic(A, b, x0, lr, steps):
    return Liar()


def stability_bound(A):
    return "2 / L"


def newton_step(x, grad, hessian):
    return np.zeros(10**7)
