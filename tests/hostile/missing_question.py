# newton_step renamed: q3 has no answer.
def newton(x, grad, hessian):
    return x - np.linalg.solve(hessian, grad)
