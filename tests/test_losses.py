"""course_lib.losses against PyTorch's losses and autograd, MXNet's loss and scikit-learn."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import losses

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(scale=3.0, size=(7, 4))
LABELS = RNG.integers(0, 4, size=7)
WEIGHTS = np.array([0.5, 2.0, 1.0, 3.0])


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


def test_softmax_worked_example():
    z = np.array([3.0, 1.0, -3.0])
    assert np.allclose(np.exp(z[:2]), [20.0855, 2.71828], atol=1e-4)
    assert np.allclose(losses.softmax(z), torch.softmax(_t(z), 0).numpy())
    assert np.isclose(losses.softmax(z).sum(), 1.0)


def test_log_softmax_matches_torch_and_stays_finite():
    assert np.allclose(losses.log_softmax(LOGITS), F.log_softmax(_t(LOGITS), dim=1).numpy())
    z = np.array([0.0, 200.0], dtype=np.float32)
    with np.errstate(divide="ignore"):
        # even the max-shifted softmax underflows: exp(-200) is below float32's smallest number
        assert np.log(losses.softmax(z))[0] == -np.inf
    assert losses.log_softmax(z).dtype == np.float32
    assert np.allclose(losses.log_softmax(z), [-200.0, 0.0])
    big = np.array([1000.0, 0.0], dtype=np.float32)  # exp(1000) overflows float32 and float64
    assert np.all(np.isfinite(losses.log_softmax(big)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_torch(reduction, weighted):
    w = WEIGHTS if weighted else None
    ours = losses.cross_entropy(LOGITS, LABELS, class_weights=w, reduction=reduction)
    ref = F.cross_entropy(_t(LOGITS), torch.tensor(LABELS), reduction=reduction,
                          weight=None if w is None else _t(w))
    two_step = F.nll_loss(F.log_softmax(_t(LOGITS), dim=1), torch.tensor(LABELS),
                          reduction=reduction, weight=None if w is None else _t(w))
    assert np.allclose(ours, ref.numpy())
    assert np.allclose(ours, two_step.numpy())


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_grad_matches_autograd(weighted):
    w = WEIGHTS if weighted else None
    z = _t(LOGITS).requires_grad_()
    F.cross_entropy(z, torch.tensor(LABELS), weight=None if w is None else _t(w)).backward()
    assert np.allclose(losses.cross_entropy_grad(LOGITS, LABELS, class_weights=w), z.grad.numpy())


def test_squared_error_and_grad_match_autograd():
    z = _t(LOGITS).requires_grad_()
    onehot = F.one_hot(torch.tensor(LABELS), 4).double()
    ref = F.mse_loss(torch.softmax(z, 1), onehot) * 4  # torch averages over N*C entries
    ref.backward()
    assert np.isclose(losses.squared_error(LOGITS, LABELS), ref.item())
    assert np.allclose(losses.squared_error_grad(LOGITS, LABELS), z.grad.numpy())


def test_grid_of_settings_is_reduced_per_setting():
    grid = np.stack([LOGITS, 2 * LOGITS, -LOGITS])  # (3, N, C)
    for fn in (losses.cross_entropy, losses.squared_error):
        batched = fn(grid, LABELS)
        assert batched.shape == (3,)
        assert np.allclose(batched, [fn(g, LABELS) for g in grid])
    g = losses.cross_entropy_grad(grid, LABELS, class_weights=WEIGHTS)
    assert np.allclose(g[1], losses.cross_entropy_grad(2 * LOGITS, LABELS, class_weights=WEIGHTS))


def test_gradients_on_a_confidently_wrong_prediction():
    # True class 0, the network is sure of class 1: CE's gradient stays ~1, MSE's vanishes.
    z = np.array([[-10.0, 10.0]])
    y = np.array([0])
    assert np.abs(losses.cross_entropy_grad(z, y)).max() > 0.99
    assert np.abs(losses.squared_error_grad(z, y)).max() < 1e-7


@pytest.mark.mxnet
def test_cross_entropy_matches_mxnet():
    mx = pytest.importorskip("mxnet")
    loss = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    out = loss(mx.nd.array(LOGITS, dtype="float64"), mx.nd.array(LABELS, dtype="float64"))
    assert np.allclose(out.asnumpy(), losses.cross_entropy(LOGITS, LABELS, reduction="none"))
    # MXNet's class weights go through sample_weight, and .mean() is the plain mean over N
    sw = mx.nd.array(WEIGHTS[LABELS][:, None], dtype="float64")
    weighted = loss(mx.nd.array(LOGITS, dtype="float64"), mx.nd.array(LABELS, dtype="float64"), sw)
    ours = losses.cross_entropy(LOGITS, LABELS, class_weights=WEIGHTS, reduction="sum") / len(LABELS)
    assert np.isclose(weighted.mean().asscalar(), ours)


def test_balanced_class_weights_match_sklearn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])
    ref = compute_class_weight("balanced", classes=np.arange(3), y=y)
    assert np.allclose(losses.balanced_class_weights(y, 3), ref)
    assert losses.balanced_class_weights(y, 4)[3] == 0.0


def test_bad_input_is_rejected_with_the_parameter_name():
    with pytest.raises(ValueError, match="reduction"):
        losses.cross_entropy(LOGITS, LABELS, reduction="avg")
    with pytest.raises(ValueError, match="labels"):
        losses.cross_entropy(LOGITS, np.array([0, 9, 0, 0, 0, 0, 0]))
    with pytest.raises(TypeError, match="labels"):
        losses.cross_entropy(LOGITS, LABELS.astype(float))
    with pytest.raises(ValueError, match="class_weights"):
        losses.cross_entropy(LOGITS, LABELS, class_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="n_classes"):
        losses.balanced_class_weights(LABELS, 0)
