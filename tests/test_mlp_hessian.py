"""The layer-by-layer Hessian of plain MLPs (course_lib.mlp_hessian) against autograd's double backward
and torch.func.hessian, and the rules that decide which engine a HessianOperator uses."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import hessian
from test_hessian import torch_func_hessian

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def data(n=30, d=6, classes=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, classes, (n,), generator=gen)
    values = torch.randn(n, classes, generator=gen, dtype=torch.float64)
    return x, labels, values


def network(*modules):
    torch.manual_seed(0)
    return nn.Sequential(*modules).double()


def smooth_loss(outputs, targets):
    """A loss course_lib does not recognise: its output Hessian comes from autograd."""
    return F.cross_entropy(outputs, targets, label_smoothing=0.1) + 0.01 * (outputs ** 4).mean()


X, LABELS, VALUES = data()
CASES = {
    "relu + cross_entropy": (lambda: network(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)),
                             F.cross_entropy, LABELS),
    "tanh, sigmoid, no bias, dropout + mse": (
        lambda: network(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 5, bias=False), nn.Sigmoid(),
                        nn.Dropout(0.3), nn.Linear(5, 3), nn.Sigmoid()),
        F.mse_loss, VALUES),
    "flatten, leaky relu, identity + unrecognised loss": (
        lambda: network(nn.Flatten(), nn.Linear(6, 8), nn.LeakyReLU(0.1), nn.Identity(), nn.Linear(8, 3)),
        smooth_loss, LABELS),
    "activation before the first layer + CrossEntropyLoss module": (
        lambda: network(nn.Tanh(), nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3)), nn.CrossEntropyLoss(), LABELS),
    "one layer + MSELoss module": (lambda: network(nn.Linear(6, 3)), nn.MSELoss(), VALUES),
    "a loss linear in the outputs": (lambda: network(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3)),
                                     lambda outputs, targets: (outputs * targets).mean(), VALUES),
    "consecutive activations (products updated in place)": (
        lambda: network(nn.Linear(6, 8), nn.ReLU(), nn.Tanh(), nn.Linear(8, 5), nn.Sigmoid(),
                        nn.LeakyReLU(0.2), nn.Linear(5, 3)),
        F.cross_entropy, LABELS),
    "ignored targets (-100)": (lambda: network(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)),
                               F.cross_entropy, torch.where(torch.arange(30) % 4 == 0, -100, LABELS)),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("batches", [1, 3])
def test_the_mlp_engine_equals_autograd(case, batches):
    build, loss_fn, targets = CASES[case]
    model = build()
    model.train()
    pieces = [(X[i::batches], targets[i::batches]) for i in range(batches)]
    data_arg = pieces[0] if batches == 1 else pieces
    fast = hessian.HessianOperator(model, loss_fn, data_arg, cache=True)
    slow = hessian.HessianOperator(model, loss_fn, data_arg, cache=True, engine="autograd")
    assert (fast.engine, slow.engine) == ("mlp", "autograd")
    assert model.training and all(m.training for m in model.modules())  # mode restored
    assert fast.loss == pytest.approx(slow.loss, rel=1e-12)
    torch.testing.assert_close(fast.gradient(), slow.gradient(), rtol=1e-10, atol=1e-12)
    first = None
    for seed in range(3):
        v = torch.randn(fast.n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        product = fast.apply(v)
        torch.testing.assert_close(product, slow.apply(v), rtol=1e-10, atol=1e-12)
        first = (v, product) if first is None else first
    # nothing cached was overwritten by the in-place updates: the first product comes out again
    assert torch.equal(fast.apply(first[0]), first[1])


def test_the_full_hessian_matches_torch_func():
    # second derivatives of tanh and sigmoid, a layer without bias, MSE after a sigmoid output
    build, loss_fn, targets = CASES["tanh, sigmoid, no bias, dropout + mse"]
    model = build().eval()
    H = hessian.full_hessian(model, loss_fn, (X, targets))
    np.testing.assert_allclose(H, torch_func_hessian(model, loss_fn, (X, targets)), atol=1e-12)
    assert hessian.HessianOperator(model, loss_fn, (X, targets)).engine == "mlp"


def test_float32_spectrum_is_the_same_with_both_engines():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3))
    batch = (X.float(), LABELS)
    top = {engine: hessian.top_eigenvalues(hessian.HessianOperator(model, F.cross_entropy, batch, engine=engine),
                                           k=3, tol=1e-5).values
           for engine in ("mlp", "autograd")}
    np.testing.assert_allclose(top["mlp"], top["autograd"], rtol=1e-4)


class Scaled(nn.Linear):
    def forward(self, x):
        return 2 * super().forward(x)


def conv():
    return nn.Sequential(nn.Unflatten(1, (1, 6)), nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3)).double()


def frozen():
    model = network(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    model[0].bias.requires_grad_(False)
    return model


def shared():
    layer = nn.Linear(6, 6)
    return network(layer, nn.Tanh(), layer, nn.Tanh(), nn.Linear(6, 3))


def hooked():
    model = network(nn.Linear(6, 3))
    model[0].register_forward_hook(lambda module, inputs, output: output * 2)
    return model


@pytest.mark.parametrize("build, reason", [
    (conv, "Unflatten"),
    (lambda: network(Scaled(6, 3)), "Scaled"),
    (frozen, "frozen or shared"),
    (shared, "frozen or shared"),
    (hooked, "hooks"),
])
def test_other_models_use_autograd_and_say_why_not_mlp(build, reason):
    model = build()
    op = hessian.HessianOperator(model, F.cross_entropy, (X, LABELS))
    assert op.engine == "autograd"
    with pytest.raises(ValueError, match=reason):
        hessian.HessianOperator(model, F.cross_entropy, (X, LABELS), engine="mlp")


def test_inputs_with_more_dimensions_and_uncached_data_use_autograd():
    model = network(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    sequences = (X.reshape(5, 6, 6), torch.randn(5, 6, 3, dtype=torch.float64))
    assert hessian.HessianOperator(model, F.mse_loss, sequences).engine == "autograd"
    with pytest.raises(ValueError, match="3 dimensions"):
        hessian.HessianOperator(model, F.mse_loss, sequences, engine="mlp")
    uncached = hessian.HessianOperator(model, F.cross_entropy, (X, LABELS), cache=False)
    assert uncached.engine == "autograd"
    with pytest.raises(ValueError, match="cache=True"):
        hessian.HessianOperator(model, F.cross_entropy, (X, LABELS), cache=False, engine="mlp")
    with pytest.raises(ValueError, match="engine must be"):
        hessian.HessianOperator(model, F.cross_entropy, (X, LABELS), engine="fast")


def test_a_nan_loss_is_refused_by_the_mlp_engine_too():
    model = network(nn.Linear(6, 3))
    with pytest.raises(ValueError, match="nan"):
        hessian.HessianOperator(model, F.mse_loss, (X, VALUES * float("nan")), engine="mlp")


@pytest.mark.parametrize("device", DEVICES)
def test_mlp_engine_on_every_device(device):
    model = network(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to(device)
    fast = hessian.HessianOperator(model, F.cross_entropy, (X, LABELS))
    slow = hessian.HessianOperator(model, F.cross_entropy, (X, LABELS), engine="autograd")
    v = torch.randn(fast.n, dtype=torch.float64, device=device)
    assert fast.engine == "mlp" and fast.apply(v).device.type == device
    torch.testing.assert_close(fast.apply(v), slow.apply(v), rtol=1e-10, atol=1e-12)
