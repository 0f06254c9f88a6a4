"""Is an answer right? One comparison shared by ``check()`` and the grader.

:func:`mismatch` returns ``None`` when the answer matches the expected value and a short
reason otherwise. The grader calls it in its own process on plain data that came out of
the sandbox, so nothing a student redefines inside the notebook can change the verdict.
Numbers match when ``|answer - expected| <= atol + rtol * |expected|`` elementwise
(``numpy.allclose``), with equal shapes and no NaN where a finite value is expected.
"""
from __future__ import annotations

import numpy as np


def _numeric(value):
    """``value`` as a float array, or None when it is not numeric data."""
    if isinstance(value, (str, bool, np.bool_, dict)) or value is None:
        return None
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return array


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        return f"a sequence of length {len(value)}"
    if value is None:
        return "None (did you return the result?)"
    return f"a {type(value).__name__}"


def mismatch(answer, expected, rtol: float = 1e-6, atol: float = 1e-9,
             up_to_sign: bool = False, path: str = "") -> str | None:
    """Reason why ``answer`` differs from ``expected``, or None when it matches.

    Parameters
    ----------
    answer, expected : numbers, arrays, str, bool, or (nested) lists, tuples and dicts.
    rtol, atol : float
        Tolerances of ``numpy.allclose`` for numeric values.
    up_to_sign : bool
        Accept ``-answer`` too (eigenvectors are defined up to their sign).
    path : str
        Where we are inside a nested answer, for the message.

    Examples
    --------
    >>> mismatch([1.0, 2.0], np.array([1.0, 2.0])) is None
    True
    >>> mismatch(3, 4.0)
    'values differ: max abs error 1 (allowed 1e-09 + 1e-06*|expected|)'
    """
    where = f"{path}: " if path else ""
    if isinstance(expected, str):
        return _string(answer, expected, where)
    if isinstance(expected, (bool, np.bool_)):
        return _truth(answer, expected, where)
    if isinstance(expected, dict):
        return _mapping(answer, expected, rtol, atol, up_to_sign, path)
    if isinstance(expected, (list, tuple)):
        return _sequence(answer, expected, rtol, atol, up_to_sign, path)
    if expected is None:
        return None if answer is None else f"{where}expected None, got {_describe(answer)}"
    return _numbers(answer, expected, rtol, atol, up_to_sign, where)


def _string(answer, expected: str, where: str) -> str | None:
    """Strings match ignoring case and surrounding blanks."""
    if not isinstance(answer, str):
        return f"{where}expected a string, got {_describe(answer)}"
    if answer.strip().lower() != expected.strip().lower():
        return f"{where}wrong answer {answer.strip()!r}"
    return None


def _truth(answer, expected, where: str) -> str | None:
    """A truth value must be answered by True or False (1 and 0 are not truth values)."""
    if not isinstance(answer, (bool, np.bool_)):
        return f"{where}expected True or False, got {_describe(answer)}"
    return None if bool(answer) == bool(expected) else f"{where}wrong truth value"


def _mapping(answer, expected: dict, rtol, atol, up_to_sign, path: str) -> str | None:
    """Same keys, and every value matches."""
    where = f"{path}: " if path else ""
    if not isinstance(answer, dict):
        return f"{where}expected a dict, got {_describe(answer)}"
    if set(answer) != set(expected):
        return f"{where}expected the keys {sorted(expected)}, got {sorted(map(str, answer))}"
    for key in expected:
        reason = mismatch(answer[key], expected[key], rtol, atol, up_to_sign, f"{path}[{key!r}]")
        if reason:
            return reason
    return None


def _sequence(answer, expected, rtol, atol, up_to_sign, path: str) -> str | None:
    """Same length, and every item matches."""
    where = f"{path}: " if path else ""
    if not isinstance(answer, (list, tuple)):
        return f"{where}expected a sequence of length {len(expected)}, got {_describe(answer)}"
    if len(answer) != len(expected):
        return f"{where}expected {len(expected)} items, got {len(answer)}"
    for index, (got, want) in enumerate(zip(answer, expected)):
        reason = mismatch(got, want, rtol, atol, up_to_sign, f"{path}[{index}]")
        if reason:
            return reason
    return None


def _numbers(answer, expected, rtol, atol, up_to_sign, where: str) -> str | None:
    """Equal shapes and ``|answer - expected| <= atol + rtol |expected|`` elementwise."""
    want = np.asarray(expected, dtype=float)
    got = _numeric(answer)
    if got is None:
        kind = "a number" if want.ndim == 0 else f"an array of shape {want.shape}"
        return f"{where}expected {kind}, got {_describe(answer)}"
    if got.shape != want.shape:
        return f"{where}expected shape {want.shape}, got shape {got.shape}"
    if np.allclose(got, want, rtol=rtol, atol=atol):
        return None
    if up_to_sign and np.allclose(-got, want, rtol=rtol, atol=atol):
        return None
    if not np.all(np.isfinite(got[np.isfinite(want)])):
        return f"{where}got NaN or infinity where a finite value was expected"
    error = np.max(np.abs(got - want)) if got.size else 0.0
    sign = " (up to sign)" if up_to_sign else ""
    return (f"{where}values differ{sign}: max abs error {error:.3g} "
            f"(allowed {atol:.3g} + {rtol:.3g}*|expected|)")
