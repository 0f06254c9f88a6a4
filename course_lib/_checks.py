"""Argument checks shared by course_lib, with one message style.

Every check raises with the message ``"<name> must be <requirement>, got <value>"``, e.g.
``lr must be a positive finite number, got -0.1``, and returns the value converted to the
plain Python type it stands for (``float``, ``int``, ``bool``) or to a numpy array.

Decisions, so that no caller has to make them again:

* **Numbers** are ``int``, ``float`` and numpy's integer and floating scalars
  (:class:`numbers.Real`). ``True`` and ``numpy.bool_`` are *not* numbers here: a flag
  passed where a learning rate belongs is a mistake, not ``1.0``. Strings are not parsed.
* **Integers** are ``int`` and numpy integer scalars; ``2.0`` is not an integer (a float
  count usually means an arithmetic slip upstream), nor is ``True``.
* **Flags** (:func:`boolean`) are ``True``/``False`` or a ``numpy.bool_`` (what numpy
  comparisons return); ``0``, ``1``, ``None`` and strings are refused, so ``"False"``
  cannot silently mean ``True``.
* **Exception types**: a value of the wrong type raises :class:`ArgumentTypeError`, which
  is a :class:`TypeError` (Python's convention) *and* a :class:`ValueError`, so
  ``except ValueError`` keeps catching every bad argument, as scikit-learn's
  ``InvalidParameterError`` does. A value of the right type outside its range raises a
  plain :class:`ValueError`.

>>> positive("lr", 0.1)
0.1
>>> positive("lr", -0.1)
Traceback (most recent call last):
...
ValueError: lr must be a positive finite number, got -0.1
"""
from __future__ import annotations

import math
import numbers
from typing import Hashable, Iterable, Sequence

import numpy as np

__all__ = [
    "ArgumentTypeError", "number", "positive", "nonnegative", "finite", "probability",
    "integer", "boolean", "one_of", "function", "finite_array", "shape", "same_shape",
]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a TypeError that ``except ValueError`` also catches."""


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _fail(name: str, requirement: str, value, error=ValueError, *, shown: str | None = None):
    got = repr(value) if shown is None else shown
    raise error(f"{name} must be {requirement}, got {got}")


def number(name: str, value, low: float = -math.inf, high: float = math.inf, *,
           low_open: bool = False, high_open: bool = False,
           requirement: str | None = None) -> float:
    """``value`` as a finite float in the interval from ``low`` to ``high``.

    The interval is closed unless ``low_open`` / ``high_open``; infinite bounds only say
    "unbounded", NaN and infinities are always refused. ``requirement`` replaces the
    default wording of the message (e.g. ``"a relative tolerance in (0, 1)"``).
    """
    if requirement is None:
        left = "(" if low_open or low == -math.inf else "["
        right = ")" if high_open or high == math.inf else "]"
        requirement = f"a finite number in {left}{low:g}, {high:g}{right}"
    if not _is_number(value):
        _fail(name, requirement, value, ArgumentTypeError)
    value = float(value)
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (math.isfinite(value) and above and below):
        _fail(name, requirement, value)
    return value


def positive(name: str, value) -> float:
    """``value`` as a float with ``0 < value < inf``."""
    return number(name, value, 0.0, low_open=True, requirement="a positive finite number")


def nonnegative(name: str, value) -> float:
    """``value`` as a float with ``0 <= value < inf``."""
    return number(name, value, 0.0, requirement="a finite number >= 0")


def finite(name: str, value) -> float:
    """``value`` as a float that is neither NaN nor infinite."""
    return number(name, value, requirement="a finite number")


def probability(name: str, value, *, include_one: bool = False) -> float:
    """``value`` in ``[0, 1)``, the range of a decay rate such as Adam's ``beta1``.

    ``include_one=True`` allows ``1`` too (a probability or a mixing weight in ``[0, 1]``).
    """
    interval = "[0, 1]" if include_one else "[0, 1)"
    return number(name, value, 0.0, 1.0, high_open=not include_one,
                  requirement=f"a number in {interval}")


def integer(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int (not a bool, not a float) with ``low <= value <= high``."""
    if low is not None and high is not None:
        requirement = f"an integer in [{low}, {high}]"
    elif low is not None:
        requirement = f"an integer >= {low}"
    elif high is not None:
        requirement = f"an integer <= {high}"
    else:
        requirement = "an integer"
    if not _is_integer(value):
        _fail(name, requirement, value, ArgumentTypeError)
    if (low is not None and value < low) or (high is not None and value > high):
        _fail(name, requirement, value)
    return int(value)


def boolean(name: str, value) -> bool:
    """``value`` as a bool; only ``True``, ``False`` and ``numpy.bool_`` are flags."""
    if not isinstance(value, (bool, np.bool_)):
        _fail(name, "True or False", value, ArgumentTypeError)
    return bool(value)


def one_of(name: str, value, choices: Iterable):
    """``value`` itself, if it is among ``choices`` (compared with ``==``)."""
    choices = tuple(choices)
    # ``True == 1``: a flag is never taken for the choice 1, nor 1 for True
    if not (isinstance(value, Hashable) and any(
            isinstance(value, bool) == isinstance(c, bool) and value == c for c in choices)):
        _fail(name, f"one of {choices}", value)
    return value


def function(name: str, value, requirement: str = "a function"):
    """``value`` itself, if it can be called; ``requirement`` says what, e.g. "a function t -> lr"."""
    if not callable(value):
        _fail(name, requirement, value, ArgumentTypeError)
    return value


def _array(name: str, value, dtype) -> np.ndarray:
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        _fail(name, "an array of numbers", value, ArgumentTypeError,
              shown=type(value).__name__)


def finite_array(name: str, value, dtype=float) -> np.ndarray:
    """``value`` as a numpy array of ``dtype`` with no NaN or infinite entry."""
    array = _array(name, value, dtype)
    bad = np.size(array) - int(np.count_nonzero(np.isfinite(array)))
    if bad:
        _fail(name, "finite (no NaN or inf)", value,
              shown=f"{bad} non-finite of {array.size} entries")
    return array


def _shape_text(shape: Sequence) -> str:
    parts = ["*" if s is None else str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def shape(name: str, value, expected: Sequence[int | None], dtype=None) -> np.ndarray:
    """``value`` as an array whose shape is ``expected``; ``None`` in it matches any size."""
    array = _array(name, value, dtype)
    ok = array.ndim == len(expected) and all(
        e is None or e == s for e, s in zip(expected, array.shape))
    if not ok:
        _fail(name, f"an array of shape {_shape_text(expected)}", value,
              shown=str(array.shape))
    return array


def same_shape(name: str, value, other_name: str, other) -> None:
    """Refuse ``value`` unless it has the shape of ``other``."""
    have, want = np.shape(value), np.shape(other)
    if have != want:
        _fail(name, f"of the shape of {other_name} {want}", value, shown=str(have))
