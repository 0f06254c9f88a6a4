"""course_lib._checks: one message style, and the type decisions its docstring states."""
import math

import numpy as np
import pytest

from course_lib import _checks as checks


def test_positive_message_names_parameter_requirement_and_value():
    with pytest.raises(ValueError) as info:
        checks.positive("lr", -0.1)
    assert str(info.value) == "lr must be a positive finite number, got -0.1"


@pytest.mark.parametrize("bad", [0, 0.0, -1, math.inf, math.nan])
def test_positive_refuses_zero_negative_and_nonfinite(bad):
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        checks.positive("lr", bad)


def test_positive_returns_plain_float_from_numpy_scalars():
    for good in (3, 2.5, np.float32(0.5), np.int64(4)):
        out = checks.positive("x", good)
        assert type(out) is float and out == float(good)


@pytest.mark.parametrize("flag", [True, False, np.bool_(True)])
def test_bools_are_not_numbers(flag):
    with pytest.raises(TypeError, match="lr must be a positive finite number, got"):
        checks.positive("lr", flag)
    with pytest.raises(TypeError, match="steps must be an integer"):
        checks.integer("steps", flag, low=0)


@pytest.mark.parametrize("bad", ["0.1", None, [0.1], 1j])
def test_non_numbers_raise_an_error_that_is_both_type_and_value_error(bad):
    with pytest.raises(checks.ArgumentTypeError) as info:
        checks.positive("lr", bad)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


def test_out_of_range_is_a_plain_value_error_not_a_type_error():
    with pytest.raises(ValueError) as info:
        checks.integer("k", 0, low=1)
    assert not isinstance(info.value, TypeError)


def test_nonnegative_allows_zero_refuses_negative():
    assert checks.nonnegative("noise", 0) == 0.0
    with pytest.raises(ValueError, match=r"noise must be a finite number >= 0, got -1e-09"):
        checks.nonnegative("noise", -1e-9)


def test_finite_refuses_nan_and_inf_of_either_sign():
    assert checks.finite("tol", -3) == -3.0
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match="tol must be a finite number"):
            checks.finite("tol", bad)


def test_number_interval_open_and_closed_ends():
    assert checks.number("x", 1, 0, 1) == 1.0
    with pytest.raises(ValueError, match=r"x must be a finite number in \[0, 1\), got 1"):
        checks.number("x", 1, 0, 1, high_open=True)
    with pytest.raises(ValueError, match=r"x must be a finite number in \(0, 1\]"):
        checks.number("x", 0, 0, 1, low_open=True)
    with pytest.raises(ValueError, match="a relative tolerance"):
        checks.number("tol", 2, 0, 1, requirement="a relative tolerance in (0, 1)")


def test_probability_is_half_open_unless_one_is_included():
    assert checks.probability("beta1", 0.0) == 0.0
    with pytest.raises(ValueError, match=r"beta1 must be a number in \[0, 1\), got 1"):
        checks.probability("beta1", 1)
    assert checks.probability("mix", 1, include_one=True) == 1.0
    with pytest.raises(ValueError, match=r"mix must be a number in \[0, 1\]"):
        checks.probability("mix", 1.5, include_one=True)


def test_integer_bounds_and_messages():
    assert checks.integer("k", np.int32(3), low=1, high=3) == 3
    assert type(checks.integer("k", np.int32(3))) is int
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 3\], got 4"):
        checks.integer("k", 4, low=1, high=3)
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        checks.integer("steps", 0, low=1)
    with pytest.raises(ValueError, match="n must be an integer <= 5, got 6"):
        checks.integer("n", 6, high=5)


def test_integer_refuses_whole_floats():
    with pytest.raises(TypeError, match="steps must be an integer >= 1, got 2.0"):
        checks.integer("steps", 2.0, low=1)


def test_boolean_accepts_only_flags():
    assert checks.boolean("nesterov", np.bool_(False)) is False
    assert checks.boolean("nesterov", True) is True
    for bad in (0, 1, "False", None):
        with pytest.raises(TypeError, match="nesterov must be True or False"):
            checks.boolean("nesterov", bad)


def test_one_of_does_not_confuse_true_with_one():
    assert checks.one_of("method", "slq", ("slq", "hutchinson")) == "slq"
    with pytest.raises(ValueError, match=r"method must be one of \('slq', 'hutchinson'\), got 'x'"):
        checks.one_of("method", "x", ("slq", "hutchinson"))
    with pytest.raises(ValueError, match="got True"):
        checks.one_of("order", True, (1, 2))
    with pytest.raises(ValueError, match="must be one of"):
        checks.one_of("order", [1], (1, 2))


def test_function_must_be_callable():
    assert checks.function("schedule", abs) is abs
    with pytest.raises(TypeError, match=r"schedule must be a function step -> lr, got 0.1"):
        checks.function("schedule", 0.1, "a function step -> lr")


def test_finite_array_counts_bad_entries():
    out = checks.finite_array("starts", [[1, 2], [3, 4]])
    assert out.dtype == float and out.shape == (2, 2)
    with pytest.raises(ValueError, match=r"starts must be finite \(no NaN or inf\), got 2 non-finite of 4"):
        checks.finite_array("starts", [[np.nan, 2], [3, -np.inf]])
    with pytest.raises(TypeError, match="starts must be an array of numbers, got str"):
        checks.finite_array("starts", "ab")


def test_shape_with_wildcards():
    assert checks.shape("xy", np.zeros((5, 2)), (None, 2)).shape == (5, 2)
    with pytest.raises(ValueError, match=r"xy must be an array of shape \(\*, 2\), got \(5, 3\)"):
        checks.shape("xy", np.zeros((5, 3)), (None, 2))
    with pytest.raises(ValueError, match=r"v must be an array of shape \(4,\), got \(2, 2\)"):
        checks.shape("v", np.zeros((2, 2)), (4,))


def test_same_shape():
    checks.same_shape("guide", np.zeros(3), "theta", np.ones(3))
    with pytest.raises(ValueError, match=r"guide must be of the shape of theta \(3,\), got \(2,\)"):
        checks.same_shape("guide", np.zeros(2), "theta", np.ones(3))
