"""Experiments of chapter 5: batch size, speed, gradient noise, sharpness and generalization.

The network is a small MLP ``64 -> hidden (relu) -> 10`` on scikit-learn's 8x8 digits
(:func:`course_lib.data.digits`), trained with plain minibatch SGD in PyTorch
(:class:`course_lib.torch.SGD`) and in MXNet Gluon (:class:`course_lib.mxnet.SGD`) from the
same starting weights and with the same order of examples, so the two frameworks give the same
numbers up to float32 rounding.

* :func:`time_per_update`: wall time of one update against the batch size;
* :func:`gradient_noise`: how far minibatch gradients scatter around the full gradient,
  against the sampling-without-replacement formula :func:`noise_theory`;
* :func:`batch_critical_point`: at a critical point of one batch's loss, the other batches'
  gradients are far from zero;
* :func:`train_torch`, :func:`train_mxnet`: training runs (:class:`Run`);
* :func:`top_eigenvalue` (:func:`course_lib.hessian.top_eigenvalues`) and
  :func:`eps_sharpness`, Keskar et al.'s epsilon-sharpness (:func:`course_lib.landscape.sharpness`);
* :func:`interpolation`: loss and accuracy on the line between two solutions
  (:func:`course_lib.landscape.interpolate`), Keskar et al.'s Figure 3 in miniature.

The controlled comparison of batch sizes (tuned learning rates, three budgets, many seeds)
is :mod:`course_lib.experiments.batch_comparison`.
"""
from __future__ import annotations

import copy
import math
import time
from typing import NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.func import functional_call, grad, vmap

import course_lib.torch as ctorch
from course_lib import _checks, config, hessian, landscape
from course_lib.data import batches, digits
from course_lib.models import torch_mlp

__all__ = [
    "load", "torch_net", "torch_to_mxnet", "gpu_available", "time_per_update", "gradient_noise",
    "batch_critical_point", "noise_theory", "squared_error", "Run", "train_torch", "train_mxnet",
    "accuracy", "top_eigenvalue", "eps_sharpness", "interpolation", "draw_noise",
    "draw_interpolation",
]


def load(n_train: int | None = None, seed: int = 0):
    """The digits split (standardized, float32): ``(x_train, y_train, x_test, y_test)``;
    ``n_train`` keeps only that many training examples."""
    return digits(test_size=0.25, seed=seed, n_train=n_train)


def torch_net(hidden: int = 32, seed: int = 0):
    """``64 -> hidden (relu) -> 10`` in PyTorch (default initialization, seeded)."""
    return torch_mlp([64, hidden, 10], "relu", seed=seed)


def torch_to_mxnet(model, ctx=None):
    """A Gluon ``Sequential`` with the layers and the weights of the torch MLP ``model``."""
    import course_lib.mxnet as cmx
    import mxnet as mx

    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    net = mx.gluon.nn.Sequential()
    for i, lin in enumerate(linear):
        act = "relu" if i < len(linear) - 1 else None
        net.add(mx.gluon.nn.Dense(lin.out_features, in_units=lin.in_features, activation=act))
    net.initialize(ctx=cmx.context() if ctx is None else ctx)
    for lin, dense in zip(linear, net):
        dense.weight.set_data(lin.weight.detach().cpu().numpy())
        dense.bias.set_data(lin.bias.detach().cpu().numpy())
    return net


def _mxnet_to_torch(net, hidden: int):
    model = torch_net(hidden)
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, dense in zip(linear, net):
            lin.weight.copy_(torch.as_tensor(dense.weight.data().asnumpy()))
            lin.bias.copy_(torch.as_tensor(dense.bias.data().asnumpy()))
    return model


# --------------------------------------------------------------------------- speed
def _device_kind(device) -> str | None:
    """``None`` (the default device), ``"cpu"`` or ``"gpu"`` from a name or a device object."""
    if device is None:
        return None
    name = str(getattr(device, "type", getattr(device, "device_type", device))).lower()
    name = name.split(":")[0].split("(")[0]
    if name == "cpu":
        return "cpu"
    if name in ("cuda", "gpu"):
        return "gpu"
    raise ValueError(f"device must be None, 'cpu' or 'cuda' (or 'gpu'), got {device!r}")


def gpu_available(framework: str = "torch") -> bool:
    """Whether ``framework`` (``"torch"`` or ``"mxnet"``, if installed) sees a GPU."""
    if framework == "torch":
        return torch.cuda.is_available()
    try:
        import mxnet as mx

        return mx.context.num_gpus() > 0
    except Exception:  # MXNet missing, or a CPU-only build that raises instead of returning 0
        return False


def time_per_update(batch_sizes: Sequence[int], framework: str = "torch", hidden: int = 32,
                    updates: int = 20, n: int = 4096, seed: int = 0, device=None) -> np.ndarray:
    """Median wall time (seconds) of one SGD update (forward, backward, step) per batch size.

    Inputs are random (timing does not depend on the values); ``n`` examples are kept on the
    device and each update draws its batch from them. A few warm-up updates are not timed.
    ``device``: ``"cpu"``, ``"cuda"`` (or ``"gpu"``, the first GPU), a ``torch.device`` or an
    ``mx.Context``; ``None`` takes the experiments' default (``course_lib.torch.device()`` or
    ``course_lib.mxnet.context()``: the GPU when present). Asking for a GPU where the framework
    sees none raises ``RuntimeError``.
    """
    _checks.one_of("framework", framework, ("torch", "mxnet"))
    if updates < 1:
        raise ValueError(f"updates must be >= 1, got {updates}")
    if any(int(b) < 1 or int(b) > n for b in batch_sizes):
        raise ValueError(f"batch_sizes must lie in [1, n={n}], got {list(batch_sizes)}")
    kind = _device_kind(device)
    if kind == "gpu" and not gpu_available(framework):
        raise RuntimeError(f"{framework} sees no GPU on this machine")
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((n, 64)).astype(np.float32)
    ys = rng.integers(0, 10, n)
    out = []
    if framework == "torch":
        dev = ctorch.device() if kind is None else torch.device("cpu" if kind == "cpu" else "cuda")
        x, y = torch.as_tensor(xs, device=dev), torch.as_tensor(ys, device=dev)
        model = torch_net(hidden, seed).to(dev)
        opt = ctorch.SGD(model.parameters(), lr=0.01)

        def update(idx):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()

        def index(b):
            return torch.as_tensor(rng.integers(0, n - b + 1) + np.arange(b), device=dev)
    else:
        import course_lib.mxnet as cmx
        import mxnet as mx

        ctx = cmx.context() if kind is None else (mx.cpu() if kind == "cpu" else mx.gpu(0))
        x, y = mx.nd.array(xs, ctx=ctx), mx.nd.array(ys, ctx=ctx)
        net = torch_to_mxnet(torch_net(hidden, seed), ctx)
        trainer = mx.gluon.Trainer(net.collect_params(), cmx.SGD(learning_rate=0.01))
        ce = mx.gluon.loss.SoftmaxCrossEntropyLoss()

        def update(idx):
            with mx.autograd.record():
                loss = ce(net(x[idx]), y[idx]).mean()
            loss.backward()
            trainer.step(1)
            mx.nd.waitall()

        def index(b):
            start = int(rng.integers(0, n - b + 1))
            return slice(start, start + b)
    for b in batch_sizes:
        b = int(b)
        for _ in range(2):
            update(index(b))
        times = []
        for _ in range(updates):
            idx = index(b)
            t0 = time.perf_counter()
            update(idx)
            times.append(time.perf_counter() - t0)
        out.append(float(np.median(times)))
    return np.array(out)


# --------------------------------------------------------------------------- noise
def gradient_noise(model, x, y, batch_sizes: Sequence[int], samples: int = 200, seed: int = 0):
    """Scatter of minibatch gradients around the full gradient at the model's parameters.

    For each batch size B, ``samples`` batches drawn without replacement give gradients
    :math:`g_B`; returns a dict of arrays (one entry per B): ``mse`` the mean of
    :math:`\\lVert g_B - g\\rVert^2`, ``cosine`` the mean cosine between :math:`g_B` and
    :math:`g`, plus ``full_norm`` :math:`\\lVert g\\rVert` and ``example_variance``
    :math:`\\sigma^2 = \\frac1N\\sum_i\\lVert g_i - g\\rVert^2` (per-example gradients).
    """
    n = len(y)
    if any(int(b) < 1 or int(b) > n for b in batch_sizes):
        raise ValueError(f"batch_sizes must lie in [1, {n}], got {list(batch_sizes)}")
    names = [k for k, _ in model.named_parameters()]
    params = {k: p.detach() for k, p in model.named_parameters()}

    def loss_one(p, xi, ti):
        out = functional_call(model, p, (xi[None],))
        return 0.5 * ((out[0] - ti) ** 2).sum()             # squared_error of one example

    onehot = torch.nn.functional.one_hot(y, 10).to(x.dtype)
    with ctorch.one_thread():
        per_example = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, x, onehot)
    g_i = torch.cat([per_example[k].reshape(n, -1) for k in names], dim=1).double()   # (N, n)
    g = g_i.mean(dim=0)
    rng = np.random.default_rng(seed)
    mse, cosine = [], []
    for b in batch_sizes:
        # g_B = S g_i with S[k, i] = 1/B for the B examples of batch k: a product instead of
        # a (samples, B, n) gathered copy, which at B = 1024 would take 2 GB
        select = torch.zeros(samples, n, dtype=g_i.dtype)
        for k in range(samples):
            select[k, torch.as_tensor(rng.choice(n, int(b), replace=False))] = 1.0 / int(b)
        g_b = select @ g_i                                                           # (samples, n)
        mse.append(float(((g_b - g) ** 2).sum(dim=1).mean()))
        cosine.append(float(torch.nn.functional.cosine_similarity(g_b, g[None], dim=1).mean()))
    return {"batch_sizes": np.asarray(batch_sizes), "mse": np.array(mse), "cosine": np.array(cosine),
            "full_norm": float(g.norm()), "example_variance": float(((g_i - g) ** 2).sum(dim=1).mean())}


def batch_critical_point(split, batch_size: int = 32, others: int = 20, hidden: int = 32,
                         seed: int = 0, max_iter: int = 500) -> dict:
    """A critical point of one batch's loss is not one of the other batches' losses.

    Shuffles the training set with ``np.random.default_rng(seed)``, takes the first
    ``batch_size`` examples as batch A and the next ``others`` disjoint batches of the same size
    as the other batches, and drives the gradient of A's loss (:func:`squared_error`, float64)
    to zero from the network's initial weights with L-BFGS. Returns the gradient norms there:
    ``batch`` (A's, near zero), ``others`` (one per other batch), ``full`` (the whole training
    set's), the same three at the initial weights (``*_start``), and ``batch_loss``.
    """
    n = len(split.y_train)
    if int(batch_size) < 1 or int(others) < 1 or (others + 1) * int(batch_size) > n:
        raise ValueError(f"need batch_size >= 1, others >= 1 and (others + 1) * batch_size <= {n}, "
                         f"got batch_size={batch_size}, others={others}")
    x = torch.as_tensor(split.x_train, dtype=torch.float64)
    y = torch.as_tensor(split.y_train)
    order = np.random.default_rng(seed).permutation(n)
    batch = order[:batch_size]
    rest = [order[batch_size * (k + 1):batch_size * (k + 2)] for k in range(others)]
    model = torch_net(hidden, seed).double()
    params = list(model.parameters())

    def loss(idx):
        return squared_error(model(x[idx]), y[idx])

    def norm(idx):
        grads = torch.autograd.grad(loss(idx), params)
        return float(torch.sqrt(sum((g ** 2).sum() for g in grads)))

    def norms():
        return norm(batch), np.array([norm(idx) for idx in rest]), norm(np.arange(n))

    with ctorch.one_thread():
        start = norms()
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
                                tolerance_change=0.0, history_size=50, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            value = loss(batch)
            value.backward()
            return value

        opt.step(closure)
        end = norms()
        with torch.no_grad():
            batch_loss = float(loss(batch))
    return {"batch": end[0], "others": end[1], "full": end[2], "batch_start": start[0],
            "others_start": start[1], "full_start": start[2], "batch_loss": batch_loss}


def noise_theory(batch_sizes, n: int, example_variance: float) -> np.ndarray:
    """Expected :math:`\\lVert g_B - g\\rVert^2` for a batch of B of n examples drawn without
    replacement: :math:`\\frac{\\sigma^2}{B}\\,\\frac{n-B}{n-1}` (0 at B = n)."""
    b = np.asarray(batch_sizes, dtype=float)
    if np.any(b < 1) or np.any(b > n):
        raise ValueError(f"batch_sizes must lie in [1, n={n}]")
    return example_variance / b * (n - b) / (n - 1)


# --------------------------------------------------------------------------- training
def squared_error(outputs, targets):
    """The training loss of the chapter: :math:`\\frac{1}{2B}\\sum_i \\lVert f(x_i) - e_{y_i}\\rVert^2`,
    half the squared distance between the 10 outputs and the one-hot label, averaged over the
    batch (torch; ``targets`` are integer labels). Unlike cross-entropy, whose curvature
    vanishes as the outputs grow, its Hessian does not shrink as training goes on, so the
    sharpness of two solutions at the same loss can be compared."""
    onehot = torch.nn.functional.one_hot(targets, outputs.shape[1]).to(outputs.dtype)
    return 0.5 * ((outputs - onehot) ** 2).sum(dim=1).mean()


def _mx_squared_error(mx, outputs, targets):
    onehot = mx.nd.one_hot(targets, outputs.shape[1], dtype=outputs.dtype)
    return 0.5 * ((outputs - onehot) ** 2).sum(axis=1).mean()


class Run(NamedTuple):
    """A training run: ``framework``, ``batch_size``, ``lr``, per-epoch ``train_loss``,
    ``train_accuracy``, ``test_accuracy`` (arrays), ``updates`` done, ``seconds`` of wall time,
    and ``model``: a torch model holding the final weights (for MXNet, a copy of them)."""

    framework: str
    batch_size: int
    lr: float
    train_loss: np.ndarray
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray
    updates: int
    seconds: float
    model: object


def accuracy(model, x, y) -> float:
    """Share of examples of ``x`` (torch) whose arg-max logit is ``y``."""
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def _check(batch_size, epochs, updates, lr):
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if (epochs is None) == (updates is None):
        raise ValueError("give exactly one of epochs and updates")
    if epochs is not None and int(epochs) < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if updates is not None and int(updates) < 1:
        raise ValueError(f"updates must be >= 1, got {updates}")
    _checks.positive("lr", lr)
    return math.inf if epochs is None else int(epochs), math.inf if updates is None else int(updates)


def train_torch(split, batch_size: int, epochs: int | None = None, updates: int | None = None,
                lr: float = 0.3, hidden: int = 32, seed: int = 0) -> Run:
    """Minibatch SGD (:class:`course_lib.torch.SGD`, loss :func:`squared_error`) on ``split``
    for ``epochs`` epochs or ``updates`` updates (give one), batches shuffled by
    ``np.random.default_rng(seed)``. Curves are recorded at the end of every epoch and after
    the last update."""
    max_epochs, max_updates = _check(batch_size, epochs, updates, lr)
    dev = ctorch.device()
    x, y, xt, yt = (torch.as_tensor(a, device=dev) for a in split)
    model = torch_net(hidden, seed).to(dev)
    opt = ctorch.SGD(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    loss_c, acc_c, test_c, done, epoch = [], [], [], 0, 0
    start = time.perf_counter()
    with ctorch.one_thread():
        while epoch < max_epochs and done < max_updates:
            for idx in batches(len(y), int(batch_size), rng):
                idx = torch.as_tensor(idx, device=dev)
                opt.zero_grad()
                squared_error(model(x[idx]), y[idx]).backward()
                opt.step()
                done += 1
                if done >= max_updates:
                    break
            epoch += 1
            with torch.no_grad():
                loss_c.append(float(squared_error(model(x), y)))
            acc_c.append(accuracy(model, x, y))
            test_c.append(accuracy(model, xt, yt))
    return Run("PyTorch", int(batch_size), lr, np.array(loss_c), np.array(acc_c), np.array(test_c),
               done, time.perf_counter() - start, model.cpu())


def train_mxnet(split, batch_size: int, epochs: int | None = None, updates: int | None = None,
                lr: float = 0.3, hidden: int = 32, seed: int = 0) -> Run:
    """The Gluon twin of :func:`train_torch`: same starting weights (copied from the torch
    network of the same ``seed``), same batches, same loss (written out: Gluon's ``L2Loss``
    averages over the 10 outputs instead of summing), :class:`course_lib.mxnet.SGD` in a
    ``gluon.Trainer``."""
    import course_lib.mxnet as cmx
    import mxnet as mx

    max_epochs, max_updates = _check(batch_size, epochs, updates, lr)
    ctx = cmx.context()
    x, y, xt, yt = (mx.nd.array(a, ctx=ctx) for a in split)
    net = torch_to_mxnet(torch_net(hidden, seed), ctx)
    trainer = mx.gluon.Trainer(net.collect_params(), cmx.SGD(learning_rate=lr))
    rng = np.random.default_rng(seed)
    loss_c, acc_c, test_c, done, epoch = [], [], [], 0, 0

    def acc(xs, ys):
        return float((net(xs).argmax(axis=1) == ys).mean().asscalar())

    start = time.perf_counter()
    while epoch < max_epochs and done < max_updates:
        for idx in batches(len(split.y_train), int(batch_size), rng):
            idx = mx.nd.array(idx, ctx=ctx, dtype="int64")
            with mx.autograd.record():
                loss = _mx_squared_error(mx, net(x[idx]), y[idx])
            loss.backward()
            trainer.step(1)
            done += 1
            if done >= max_updates:
                break
        epoch += 1
        loss_c.append(float(_mx_squared_error(mx, net(x), y).asscalar()))
        acc_c.append(acc(x, y))
        test_c.append(acc(xt, yt))
    seconds = time.perf_counter() - start
    return Run("MXNet", int(batch_size), lr, np.array(loss_c), np.array(acc_c), np.array(test_c),
               done, seconds, _mxnet_to_torch(net, net[0].weight.shape[0]))


# --------------------------------------------------------------------------- sharpness
def top_eigenvalue(model, split, tol: float = 1e-3, seed: int = 0) -> float:
    """:math:`\\lambda_{max}`, the largest eigenvalue of the Hessian of the training loss
    (:func:`squared_error` on the whole training set, float64) at the model's weights, by
    Lanczos on Hessian-vector products (:func:`course_lib.hessian.top_eigenvalues`)."""
    m = copy.deepcopy(model).double().cpu()
    data = (torch.as_tensor(split.x_train, dtype=torch.float64), torch.as_tensor(split.y_train))
    with ctorch.one_thread():
        return float(hessian.top_eigenvalues(m, squared_error, data, k=1, tol=tol, seed=seed).values[0])


def eps_sharpness(model, split, epsilon: float = 1e-2, maxiter: int = 10, seed: int = 0) -> float:
    """Keskar et al.'s :math:`\\epsilon`-sharpness in percent, on the whole training set
    (float64): the largest relative loss increase in the box
    :math:`|\\delta_i| \\le \\epsilon(|\\theta_i|+1)` (:func:`course_lib.landscape.sharpness`)."""
    m = copy.deepcopy(model).double().cpu()
    data = (torch.as_tensor(split.x_train, dtype=torch.float64), torch.as_tensor(split.y_train))
    with ctorch.one_thread():
        return float(landscape.sharpness(m, squared_error, data, epsilon=epsilon, maxiter=maxiter,
                                         seed=seed))


def interpolation(model_a, model_b, split, alphas=None) -> dict:
    """Loss (:func:`squared_error`) and accuracy, on the training and the test set, along
    :math:`\\theta(\\alpha) = (1-\\alpha)\\theta_a + \\alpha\\theta_b` (float64)."""
    alphas = np.linspace(-1.0, 2.0, 31) if alphas is None else np.asarray(alphas, dtype=float)
    a = copy.deepcopy(model_a).double().cpu()
    b = copy.deepcopy(model_b).double().cpu()
    theta_a = torch.cat([p.detach().reshape(-1) for p in a.parameters()])
    theta_b = torch.cat([p.detach().reshape(-1) for p in b.parameters()])
    ce = squared_error

    def acc_fn(out, y):
        return (out.argmax(dim=1) == y).double().mean()

    out = {"alphas": alphas}
    for name, (x, y) in (("train", (split.x_train, split.y_train)), ("test", (split.x_test, split.y_test))):
        data = (torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y))
        out[f"{name}_loss"] = landscape.interpolate(a, ce, data, theta_a, theta_b, alphas)
        out[f"{name}_accuracy"] = landscape.interpolate(a, acc_fn, data, theta_a, theta_b, alphas)
    return out


# --------------------------------------------------------------------------- figures
def draw_noise(noise: dict, n: int, batch_size: int | None = None, axes=None):
    """Left: mean squared deviation of minibatch gradients from the full gradient, measured and
    :func:`noise_theory`; right: mean cosine with the full gradient. ``batch_size`` highlights
    one batch size (the playground's slider)."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax, bx = axes
    b = noise["batch_sizes"]
    grid = np.unique(np.round(np.geomspace(1, n - 1, 60)).astype(int))
    ax.loglog(b, noise["mse"], "o", label="measured")
    ax.loglog(grid, noise_theory(grid, n, noise["example_variance"]), "-", color="C1",
              label=r"$\frac{\sigma^2}{B}\,\frac{n-B}{n-1}$")
    ax.axhline(noise["full_norm"] ** 2, color="k", ls=":", label=r"$\|\nabla L\|^2$ (the signal)")
    ax.set_xlabel("batch size B (examples)")
    ax.set_ylabel(r"$E\,\|g_B - \nabla L\|^2$")
    ax.set_title("Noise of the minibatch gradient")
    bx.semilogx(b, noise["cosine"], "o-")
    bx.set_ylim(0, 1.02)
    bx.set_xlabel("batch size B (examples)")
    bx.set_ylabel("mean cosine with the full gradient")
    bx.set_title("Does a minibatch point the right way?")
    if batch_size is not None:
        i = int(np.argmin(np.abs(b - batch_size)))
        for axis, values in ((ax, noise["mse"]), (bx, noise["cosine"])):
            axis.plot(b[i], values[i], "o", ms=14, mfc="none", mec="C3", mew=2)
        bx.text(b[i], noise["cosine"][i] - 0.08, f"B = {b[i]}: cosine {noise['cosine'][i]:.2f}",
                color="C3", ha="center")
    ax.legend(fontsize="small")
    for axis in axes:
        axis.grid(True, alpha=0.3)
    return axes


def draw_interpolation(curves: dict, labels=("small batch", "large batch"), ax=None):
    """Keskar et al.'s Figure 3 in miniature: cross-entropy (left axis) and accuracy (right
    axis) on the training and the test set along the line between two solutions."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4))
    a = curves["alphas"]
    ax.semilogy(a, curves["train_loss"], "-", color="C0", label="training loss")
    ax.semilogy(a, curves["test_loss"], "--", color="C0", label="test loss")
    ax.set_xlabel(r"$\alpha$ in $(1-\alpha)\,\theta_{small} + \alpha\,\theta_{large}$")
    ax.set_ylabel("squared-error loss (log scale)", color="C0")
    bx = ax.twinx()
    bx.plot(a, 100 * curves["train_accuracy"], "-", color="C1", label="training accuracy")
    bx.plot(a, 100 * curves["test_accuracy"], "--", color="C1", label="test accuracy")
    bx.set_ylabel("accuracy (%)", color="C1")
    for x, name in zip((0, 1), labels):
        ax.axvline(x, color="gray", lw=0.8)
        ax.text(x, ax.get_ylim()[1], name, ha="center", va="bottom", fontsize="small")
    lines = ax.get_legend_handles_labels()
    more = bx.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize="small", loc="center left")
    ax.set_title("From the small-batch to the large-batch solution", pad=18)
    return ax
