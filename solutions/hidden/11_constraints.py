"""Hidden tests of exercises/11_constraints.ipynb (instructor side only)."""
import numpy as np

from course_lib.grading.questions import function, value

SALT = "11-mdmm-8e15"


def pareto_reference(ref, points):
    """A plain double loop, independent of the solution's broadcasting."""
    keep = np.ones(len(points), dtype=bool)
    for i, p in enumerate(points):
        for j, q in enumerate(points):
            if j != i and np.all(q <= p) and np.any(q < p):
                keep[i] = False
                break
    return keep


def pareto_cases(rng):
    cases = [dict(points=rng.normal(size=(int(rng.integers(2, 40)), 2))) for _ in range(3)]
    grid = rng.integers(0, 4, size=(15, 2)).astype(float)  # ties and duplicates
    return cases + [dict(points=grid)]


def bdmm_cases(rng):
    return step_cases(rng, damping=False)


def mdmm_cases(rng):
    return step_cases(rng, damping=True)


def step_cases(rng, damping):
    cases = []
    for g in (-0.5, 0.0, 0.7, float(rng.normal())):
        d = int(rng.integers(1, 4))
        case = dict(x=rng.normal(size=d), lam=float(rng.choice([0.0, rng.uniform(0, 2)])),
                    grad_l0=rng.normal(size=d), g=g, grad_g=rng.normal(size=d),
                    lr=float(rng.uniform(0.01, 0.2)), lr_lambda=float(rng.uniform(0.1, 2.0)))
        if damping:
            case["damping"] = float(rng.uniform(1.0, 20.0))
        cases.append(case)
    return cases


def mdmm_reference(ref, x, lam, grad_l0, g, grad_g, lr, lr_lambda, damping):
    """The course library's own multiplier formulas (course_lib.constrained)."""
    from course_lib.constrained import multiplier_force, multiplier_step

    force = multiplier_force(lam, g, damping)
    return x - lr * (grad_l0 + force * grad_g), multiplier_step(lam, g, lr_lambda)


def bdmm_reference(ref, x, lam, grad_l0, g, grad_g, lr, lr_lambda):
    return mdmm_reference(ref, x, lam, grad_l0, g, grad_g, lr, lr_lambda, 0.0)


PUBLIC = dict(x=np.array([1.0, 2.0]), lam=0.5, grad_l0=np.array([0.2, -0.4]), g=0.3,
              grad_g=np.array([1.0, 1.0]), lr=0.1, lr_lambda=1.0)

QUESTIONS = [
    function("q1", "pareto_mask", points=2, hidden=pareto_cases, reference=pareto_reference,
             public=[dict(points=np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 3.0], [2.5, 1.0], [1.0, 3.5]]))]),
    function("q2", "bdmm_step", points=2, hidden=bdmm_cases, reference=bdmm_reference, public=[PUBLIC]),
    function("q3", "mdmm_step", points=3, hidden=mdmm_cases,
             reference=mdmm_reference, public=[dict(PUBLIC, damping=10.0), dict(PUBLIC, g=-0.3, damping=10.0)]),
    value("q4", "my_front_size", points=1,
          expected=lambda ref, sid: int(pareto_reference(ref, ref["my_points"](sid)).sum())),
]
