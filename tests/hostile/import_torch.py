# Answer the adaptive-methods questions by calling torch.optim, which implements the same rules.
import torch


def _torch_step(optimizer_class, x, grad, state, **hyper):
    param = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([param], **hyper)
    optimizer.state[param] = {key: torch.as_tensor(value, dtype=torch.float64)
                              for key, value in state.items()}
    param.grad = torch.tensor(grad, dtype=torch.float64)
    optimizer.step()
    return param.detach().numpy(), {key: value.numpy() for key, value in optimizer.state[param].items()}


def adagrad_step(x, s, grad, lr, eps):
    x, state = _torch_step(torch.optim.Adagrad, x, grad, {"step": 0.0, "sum": s}, lr=lr, eps=eps)
    return x, state["sum"]


def rmsprop_step(x, s, grad, lr, alpha, eps):
    x, state = _torch_step(torch.optim.RMSprop, x, grad, {"step": 0.0, "square_avg": s}, lr=lr, alpha=alpha,
                           eps=eps)
    return x, state["square_avg"]


def adam_step(x, m, v, grad, t, lr, beta1, beta2, eps):
    x, state = _torch_step(torch.optim.Adam, x, grad, {"step": float(t - 1), "exp_avg": m, "exp_avg_sq": v},
                           lr=lr, betas=(beta1, beta2), eps=eps)
    return x, state["exp_avg"], state["exp_avg_sq"]


my_first_step = adam_step(np.zeros(4), np.zeros(4), np.zeros(4), g_mine, 1, 0.01, 0.9, 0.999, 1e-8)[0]
