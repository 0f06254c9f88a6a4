"""The claims of chapter 8 (lectures/08_schedules.md), recomputed with course_lib and checked
against references: a direct numpy transcription of the RMS form of Adagrad (Hung-yi Lee's
course), torch.optim.Adagrad, torch's built-in lr schedulers, MXNet's Trainer.

- The RMS form is Eq. (schedules-rms-adagrad): test_rms_adagrad_is_the_formula_of_lees_course;
  with eta / sqrt(t + 1) it is torch's Adagrad: test_eta_over_sqrt_t_is_torch_adagrad.
- Constant eta bursts late: arrival at step 365, first burst at 782, 4 bursts, the largest
  1.36; sigma of b falls by about 1.5 = sqrt(t1/t0); the stability number crosses 2 at step
  574; the loss bottoms out about 1e-17 above the minimum around step 700, then grows by
  about 1.7 per step: test_constant_eta_bursts_late (the chapter's burst definitions,
  transcribed step by step: test_burst_definition_on_a_made_up_loss).
- Every decay removes the bursts (never again 1e-6 above the minimum); eta/sqrt(t + 1) has
  not arrived after 3000 steps (about 1e-2 above): test_every_decay_removes_the_bursts.
- Robbins and Monro: the SGD loop is plain batch-1 SGD, the start is 5.8 away:
  test_sgd_distances_is_plain_batch_one_sgd; p = 2 is summable (sum about 2), p = 1/2 and
  1 are not: test_the_conditions_of_each_schedule; a constant rate stays about 4e-3 away
  (ten times more steps change its RMS distance by less than 15%, five seeds) and its mean
  squared radius is proportional to eta: test_constant_rate_keeps_the_noise; 1/t^2 stalls
  0.6 to 1.4 away, only about 5% closer: test_summable_schedule_stalls; 1/t falls by more
  than ten and ends more than ten times closer than the constant rate, 1/sqrt(t) gains less
  than 2: test_both_conditions_keep_closing_in.
- Step, exponential and cosine decays match torch's schedulers, the exponential ends at 1%:
  test_decays_match_torch_schedulers; warm-up and the inverse square root peak where stated
  (45% at t = 499): test_warmup_and_inverse_sqrt_shapes; bad input:
  test_compose_rejects_bad_input.
- Adam on the minibatch regression: the constant rate jitters about 1e-3 away, at a distance
  proportional to eta; cosine and step end about three times closer; exponential and the
  inverse square root without warm-up end far; no schedule ends closer with a warm-up than
  the best without: test_decay_lets_adam_settle_on_minibatches.
- Adam's first step moves every weight by eta (0.099-0.1): test_adam_first_step_moves_every_weight_by_lr;
  its median normalized step is 4 to 5 times smaller at step 10, about 10 times at step 40
  (three seeds): test_normalized_step_shrinks_after_the_first.
- Warm-up, three seeds per framework: the loss starts at log 10, jumps to 45-80 at lr 0.1
  without warm-up and 4-7 with it, 2.5-5 at lr 0.03 (never 0.3 above the start with
  warm-up), no spike at 0.01; in PyTorch the warmed-up 0.01 runs are still behind after 40
  steps: test_warmup_removes_the_early_spike_in_pytorch, ..._in_mxnet; the schedule reaches
  both frameworks: test_warmup_schedule_reaches_torch_through_lambda_lr,
  test_warmup_schedule_reaches_mxnet_trainer.
"""
import math

import numpy as np
import pytest
import torch

from lr_trace import torch_lrs

from course_lib import schedules
from course_lib.experiments import schedules as sch


# ------------------------------------------------------------------ Adagrad's burst
def _rms_adagrad_by_hand(surface, start, steps, eta):
    """Eq. (schedules-rms-adagrad) written out: sigma = RMS of all gradients so far."""
    x = np.array(start, dtype=float)
    squares = np.zeros(2)
    path = [x.copy()]
    for t in range(steps):
        g = surface.grad(x)
        squares += g * g
        sigma = np.sqrt(squares / (t + 1))
        x = x - eta(t) / sigma * g
        path.append(x.copy())
    return np.array(path)


def _bursts_by_hand(excess, arrive_tol=1e-6, burst_tol=1e-2):
    """The chapter's definitions, step by step: arrival = first step within arrive_tol of the
    minimum; a burst = a step whose loss is above burst_tol after one that was not."""
    arrived, first, bursts, was_high = -1, -1, 0, False
    for t, value in enumerate(excess):
        if arrived < 0:
            if value < arrive_tol:
                arrived = t
            continue
        high = value > burst_tol
        if high and not was_high:
            bursts += 1
            first = t if first < 0 else first
        was_high = high
    peak = max(excess[arrived:]) if arrived >= 0 else float("nan")
    return dict(arrived=arrived, first_burst=first, bursts=bursts, peak=peak, final=excess[-1])


def _excess(result):
    return result.loss[:, 0] - result.surface.value(result.surface.minima[0])


def _stability(result, eta=0.1):
    """Largest eigenvalue of diag(eta / sigma_t) H, through the similar symmetric matrix
    D^1/2 H D^1/2 (the chapter uses the non-symmetric product)."""
    sigma = sch.rms_sigma(result)
    root = np.sqrt(eta / sigma)
    return np.array([np.linalg.eigvalsh(r[:, None] * result.surface.A * r[None, :]).max()
                     for r in root])


def test_rms_adagrad_is_the_formula_of_lees_course():
    surface = sch.burst_surface()
    start = sch.burst_start(surface)
    eta = schedules.constant(0.1)
    ours = sch.rms_adagrad(surface, start, 300, eta).trajectory[:, 0]
    assert np.allclose(ours, _rms_adagrad_by_hand(surface, start, 300, eta), rtol=1e-6, atol=1e-8)
    sigma = sch.rms_sigma(sch.rms_adagrad(surface, start, 300, eta))
    g = surface.grad(ours[:-1])
    assert np.allclose(sigma[-1], np.sqrt(np.mean(g ** 2, axis=0)))


def test_eta_over_sqrt_t_is_torch_adagrad():
    surface = sch.burst_surface()
    start = sch.burst_start(surface)
    decay = sch.burst_decays()["eta/sqrt(t+1) (torch's Adagrad)"]
    ours = sch.rms_adagrad(surface, start, 500, decay).trajectory[:, 0]
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adagrad([p], lr=0.1)
    ref = [start]
    for _ in range(500):
        opt.zero_grad()
        p.grad = torch.tensor(surface.grad(p.detach().numpy()))
        opt.step()
        ref.append(p.detach().numpy().copy())
    assert np.allclose(ours, np.array(ref), rtol=1e-9, atol=1e-9)


def test_constant_eta_bursts_late():
    surface = sch.burst_surface()
    result = sch.rms_adagrad(surface, sch.burst_start(surface), sch.BURST["steps"], 0.1)
    s = _bursts_by_hand(_excess(result))
    assert 340 <= s["arrived"] <= 390  # "arrival at step 365"
    assert 740 <= s["first_burst"] <= 820  # "first burst at step 782"
    assert s["bursts"] == 4  # "4 bursts in 3,000 steps"
    assert 1.0 < s["peak"] < 2.0  # "the largest 1.36 above the minimum"
    sigma_b = sch.rms_sigma(result)[:, 1]
    drop = sigma_b[s["arrived"]] / sigma_b[s["first_burst"] - 1]
    assert 1.3 < drop < 1.7  # "fell by a factor of about 1.5"
    assert abs(drop - math.sqrt(s["first_burst"] / s["arrived"])) < 0.1  # "which is sqrt(t1/t0)"
    # "the largest eigenvalue of diag(eta/sigma) H ... passes 2": at step 574, before the burst
    stability = _stability(result, 0.1)
    assert stability[s["arrived"]] < 2 < stability[s["first_burst"] - 1]
    cross = int(np.argmax(stability > 2))
    assert 550 <= cross <= 600 and s["first_burst"] - cross > 150
    assert np.all(stability[cross:s["first_burst"]] > 2)
    excess = result.loss[:, 0] - surface.value(surface.minima[0])
    lowest = s["arrived"] + int(np.argmin(excess[s["arrived"]:s["first_burst"]]))
    assert 680 <= lowest <= 720 and excess[lowest] < 1e-15  # "around step 700, about 1e-17"
    growth = (excess[s["first_burst"] - 2] / excess[s["first_burst"] - 42]) ** (1 / 40)
    assert 1.5 < growth < 1.9  # "a factor of about 1.7 per step"
    # the effective learning rate eta/sigma grew between arrival and the burst
    assert 0.1 / sigma_b[s["first_burst"] - 1] > 1.3 * 0.1 / sigma_b[s["arrived"]]


def test_every_decay_removes_the_bursts():
    surface = sch.burst_surface()
    for name, eta_t in sch.burst_decays().items():
        s = _bursts_by_hand(_excess(sch.rms_adagrad(surface, sch.burst_start(surface),
                                                    sch.BURST["steps"], eta_t)))
        if name == "constant":
            assert s["bursts"] > 0
        elif name.startswith("eta/sqrt"):
            # "after 3,000 steps it has not reached the minimum (still 1e-2 above it)"
            assert s["arrived"] == -1 and s["bursts"] == 0 and 5e-3 < s["final"] < 3e-2
        else:
            # "after arriving, the loss never again rises even 1e-6 above the minimum"
            assert s["arrived"] > 0 and s["bursts"] == 0 and s["peak"] < 1e-6
            assert s["final"] < 1e-9


def test_burst_definition_on_a_made_up_loss():
    """The definitions on a made-up loss with every case: no arrival, arrival, a burst that
    lasts two steps, a burst of one step, and the peak."""
    made_up = np.array([5, 1, 1e-7, 0.5, 0.2, 1e-3, 0.3, 1e-8, 2.0, 2.0, 1e-3])
    s = _bursts_by_hand(made_up)
    assert (s["arrived"], s["first_burst"], s["bursts"], s["peak"]) == (2, 3, 3, 2.0)
    assert _bursts_by_hand(np.array([1.0, 0.5]))["arrived"] == -1


# ------------------------------------------------------------------ Robbins and Monro
@pytest.fixture(scope="module")
def robbins_monro():
    rm = sch.ROBBINS_MONRO
    runs = sch.sgd_distances([schedules.inverse_power(rm["eta0"], rm["tau"], p)
                              for p in rm["powers"]], rm["steps"], rm["seeds"])
    early, late = sch.rms_distance(runs, 500, 1000), sch.rms_distance(runs, 5000, 10000)
    return dict(zip(rm["powers"], zip(runs, early, late)))


def test_sgd_distances_is_plain_batch_one_sgd():
    from course_lib.data import synthetic_regression

    x, y = synthetic_regression()
    a = np.hstack([x, np.ones((len(x), 1))]).astype(float)
    best = np.linalg.lstsq(a, y.astype(float), rcond=None)[0]
    theta = np.zeros(3)
    picks = np.random.default_rng(7).integers(0, len(y), 50)
    for t, i in enumerate(picks):
        theta = theta - 0.1 / (1 + t / 20) * (a[i] @ theta - y[i]) * a[i]
    ours = sch.sgd_distances([schedules.inverse_power(0.1, 20, 1)], 50, [7])[0, 0]
    assert ours[-1] == pytest.approx(np.linalg.norm(theta - best), rel=1e-9)
    assert ours[0] == pytest.approx(np.linalg.norm(best))             # "started 5.8 away"
    assert np.linalg.norm(best) == pytest.approx(5.8, abs=0.05)
    with pytest.raises(ValueError, match="schedules"):
        sch.sgd_distances([0.1], 10, [0])


def test_the_conditions_of_each_schedule():
    """Eq. (schedules-inverse-power): p = 2 sums to eta0 (tau + 1/2), about 2."""
    steps = np.arange(2_000_000)
    for p, summable in ((0.5, False), (1, False), (2, True)):
        partial = np.cumsum(0.1 / (1 + steps / 20) ** p)
        # a divergent sum still grows over the last decade; a convergent one has settled
        grew = partial[-1] - partial[len(steps) // 10]
        assert (grew < 1e-3) == summable
    assert np.sum(0.1 / (1 + steps / 20) ** 2) == pytest.approx(0.1 * 20.5, rel=2e-3)


def test_constant_rate_keeps_the_noise(robbins_monro):
    """"within about 4e-3 ... ten times more steps change its RMS distance by less than 15%
    in every seed", and the cloud's mean squared radius is proportional to eta."""
    runs, early, late = robbins_monro[0]
    assert np.all((late > 3e-3) & (late < 5.5e-3))
    assert np.all(np.abs(early / late - 1) < 0.15)
    half = sch.sgd_distances([schedules.constant(0.05)], 10_000, sch.ROBBINS_MONRO["seeds"])
    ratio = np.mean(late ** 2) / np.mean(sch.rms_distance(half, 5000, 10000)[0] ** 2)
    assert 1.6 < ratio < 2.5                                        # eta halved: radius^2 / 2


def test_summable_schedule_stalls(robbins_monro):
    """"run out 0.6 to 1.4 from the solution ... only about 5% closer"."""
    runs, early, late = robbins_monro[2]
    assert np.all((late > 0.55) & (late < 1.45)) and np.all((early > 0.55) & (early < 1.45))
    assert np.all((early / late > 1.0) & (early / late < 1.1))


def test_both_conditions_keep_closing_in(robbins_monro):
    """1/t: "by a factor of more than ten ... in every seed", "ends more than ten times closer
    than the constant rate"; 1/sqrt(t): "converges, but gains less than a factor of 2"."""
    _, early, late = robbins_monro[1]
    assert np.all(early / late > 10)
    assert 10 * late.max() < robbins_monro[0][2].min()
    _, early, late = robbins_monro[0.5]
    assert np.all((early / late > 1.2) & (early / late < 2))


# ------------------------------------------------------------------ shapes
def test_decays_match_torch_schedulers():
    total, lr = 1000, 1e-3
    ours = {d: np.array([sch.compose(d, 0, lr, total)(t) for t in range(total)]) for d in sch.DECAYS}
    lr_sched = torch.optim.lr_scheduler
    assert np.allclose(ours["step"], torch_lrs(lambda o: lr_sched.StepLR(o, 250, 0.5), total))
    assert np.allclose(ours["exponential"],
                       torch_lrs(lambda o: lr_sched.ExponentialLR(o, 0.01 ** (1 / total)), total))
    assert np.allclose(ours["cosine"], torch_lrs(lambda o: lr_sched.CosineAnnealingLR(o, total), total))
    assert np.allclose(ours["constant"], lr)
    assert np.isclose(ours["exponential"][-1] / lr, 0.01, rtol=0.01)  # "down to 1% of the peak"


def test_warmup_and_inverse_sqrt_shapes():
    lr, total = 1e-3, 1000
    warm = sch.compose("cosine", 100, lr, total)
    assert np.isclose(warm(0), lr / 100) and np.isclose(warm(49), 0.5 * schedules.cosine(lr, total)(49))
    inv = sch.compose("inverse sqrt", 100, lr, total)
    values = np.array([inv(t) for t in range(total)])
    assert np.argmax(values) == 99 and np.isclose(values.max(), lr)  # peaks at s = w
    assert np.isclose(inv(499) / lr, math.sqrt(100 / 500)) and abs(inv(499) / lr - 0.45) < 0.005
    assert np.allclose(values[:100], lr * np.arange(1, 101) / 100)  # linear before the peak
    # with the transformer's constants: lr = d^-0.5 min(s^-0.5, s w^-1.5)
    vaswani = schedules.inverse_sqrt(512, 4000)
    assert np.isclose(vaswani(3999), 512 ** -0.5 * 4000 ** -0.5)


def test_compose_rejects_bad_input():
    with pytest.raises(ValueError, match="decay"):
        sch.compose("linear")
    with pytest.raises(ValueError, match="warmup"):
        sch.compose("cosine", warmup=-1)
    with pytest.raises(ValueError, match="lr"):
        sch.compose("cosine", lr=0)
    with pytest.raises(ValueError, match="eta"):
        sch.rms_adagrad(sch.burst_surface(), [0, 0], 10, eta=-1)
    with pytest.raises(ValueError, match="framework"):
        sch.warmup_sweep("jax")


def test_decay_lets_adam_settle_on_minibatches():
    final = {(d, w): sch.settle_distance(d, w) for d in sch.DECAYS for w in (0, 50)}
    assert 5e-4 < final["constant", 0] < 2e-3  # "about 1e-3"
    for d in ("cosine", "step"):  # "end about three times closer"
        assert 2.2 < final["constant", 0] / final[d, 0] < 4.5
    assert final["exponential", 0] > 0.1 and final["inverse sqrt", 0] > 0.5  # "far from it"
    # "no schedule ends closer with a warm-up than the best one without"
    assert min(final[d, 50] for d in sch.DECAYS) > min(final[d, 0] for d in sch.DECAYS)
    # "a distance proportional to eta": three times the learning rate, about three times
    # the distance (measured 2.8; each a median over 5 seeds)
    assert 2.2 < sch.settle_distance("constant", lr=0.3) / final["constant", 0] < 3.8


# ------------------------------------------------------------------ warm-up for Adam
def test_adam_first_step_moves_every_weight_by_lr():
    moved = sch.first_step_torch(lr=0.1)
    assert moved.size > 80000
    assert moved.min() > 0.099 and moved.max() <= 0.1 + 1e-7  # "between 0.099 and 0.1"


@pytest.mark.parametrize("seed", range(3))
def test_normalized_step_shrinks_after_the_first(seed):
    _, q = sch.warmup_run_torch(0.01, 0, seed=seed, steps=40, normalized_steps=True)
    assert np.allclose(q[0], 1.0, atol=1e-3)  # step 1: every |m_hat|/sqrt(v_hat) = 1
    median = q[:, 1]
    assert 0.15 < median[9] < 0.3 and 0.06 < median[39] < 0.14  # "0.2 eta at 10, 0.1 eta at 40"
    assert 4 < median[0] / median[9] < 5  # "four to five times larger than the tenth" (4.3-4.6)
    assert 8 < median[0] / median[39] < 12.5  # "about ten times (the fortieth)" (9.7-11.4)


@pytest.fixture(scope="module")
def torch_sweep():
    return sch.warmup_sweep("torch", steps=40, seeds=(0, 1, 2))


def _check_sweep(sweep, framework):
    spike = {key: sch.early_spike(runs) for key, runs in sweep.items()}
    start = {key: runs[:, 0] for key, runs in sweep.items()}
    assert np.all(np.abs(start[0.01, 0] - math.log(10)) < 0.15)  # "starts at log 10 = 2.30"
    assert np.all((spike[0.1, 0] > 45) & (spike[0.1, 0] < 80))  # "jumps to 45-80"
    assert np.all((spike[0.1, 20] > 3.5) & (spike[0.1, 20] < 7))  # "the worst loss is 3.5 to 7"
    assert np.all((spike[0.03, 0] > 2.45) & (spike[0.03, 0] < 5.5))  # "2.5 to 5"
    assert np.all(spike[0.03, 20] - start[0.03, 20] < 0.3)  # "never more than 0.3 above its start"
    assert np.all(spike[0.01, 0] - start[0.01, 0] < 0.1)  # "neither run spikes"
    assert np.all(spike[0.01, 20] - start[0.01, 20] < 0.1)
    # warm-up measurably changes Adam early in training: 45-80 against 4-7, six times or more
    assert np.all(spike[0.1, 0] > 6 * spike[0.1, 20])


def test_warmup_removes_the_early_spike_in_pytorch(torch_sweep):
    _check_sweep(torch_sweep, "torch")
    last = {key: runs[:, -5:].mean() for key, runs in torch_sweep.items()}
    assert last[0.01, 20] > last[0.01, 0]  # "in PyTorch its runs are still behind after 40 steps"


@pytest.mark.mxnet
def test_warmup_removes_the_early_spike_in_mxnet():
    pytest.importorskip("mxnet")
    _check_sweep(sch.warmup_sweep("mxnet", steps=40, seeds=(0, 1, 2)), "mxnet")


def test_warmup_schedule_reaches_torch_through_lambda_lr():
    p = torch.zeros(3, requires_grad=True)
    from course_lib import torch as ct

    opt = ct.Adam([p], lr=0.1)
    schedule = schedules.linear_warmup(schedules.constant(0.1), 20)
    scheduler = schedules.to_torch(opt, schedule)
    seen = []
    for _ in range(25):
        seen.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones(3)
        opt.step()
        scheduler.step()
    assert np.allclose(seen, [schedule(t) for t in range(25)])


@pytest.mark.mxnet
def test_warmup_schedule_reaches_mxnet_trainer():
    mx = pytest.importorskip("mxnet")
    from course_lib import mxnet as cm

    schedule = schedules.linear_warmup(schedules.constant(0.1), 20)
    scheduler = schedules.to_mxnet(schedule)
    net = mx.gluon.nn.Dense(1, in_units=2)
    net.initialize(mx.init.Zero())
    trainer = mx.gluon.Trainer(net.collect_params(),
                               cm.Adam(learning_rate=scheduler.base_lr, lr_scheduler=scheduler))
    x = mx.nd.ones((4, 2))
    seen = []
    for _ in range(25):
        before = net.weight.data().asnumpy().copy()
        with mx.autograd.record():
            loss = (net(x) - 1).square().mean()
        loss.backward()
        trainer.step(1)
        seen.append(trainer.learning_rate)
        if len(seen) == 1:
            # Adam's first step moves each weight by exactly the first learning rate
            assert np.allclose(np.abs(net.weight.data().asnumpy() - before), schedule(0), rtol=1e-4)
    assert np.allclose(seen, [schedule(t) for t in range(25)])
