"""Plain data that crosses the sandbox wall.

Only JSON travels between the grader and a student's kernel, in both directions: the
inputs of a hidden test go in, the student's answers come out. No pickle, no objects:
whatever the student's code returns is turned into numbers, strings and lists *inside*
the sandbox, and the grader rebuilds numpy arrays from those plain values. An answer
therefore cannot carry code, and an object with a lying ``__eq__`` arrives as an error.

Arrays travel as ``{"__ndarray__": nested list, "dtype": "float64", "shape": [...]}``;
NaN and infinities use Python's JSON spelling (``NaN``, ``Infinity``), read back the same.
Decoding is strict: what the codec cannot represent (an integer beyond 64 bits, a float in
an integer array, a shape that does not match its data) raises ``ValueError``, which the
grader turns into a wrong answer with that reason.
"""
from __future__ import annotations

import json
import math
import numbers
import warnings

import numpy as np

ARRAY_KEY = "__ndarray__"
#: Largest number of array elements an answer may hold (a guard against memory bombs).
MAX_ELEMENTS = 1_000_000
MAX_DEPTH = 20
INT64 = 2**63


class EncodeError(TypeError):
    """A value that cannot be graded; the message names what it is (a function, a file...)."""


def _encode_array(array: np.ndarray) -> dict:
    if array.size > MAX_ELEMENTS:
        raise EncodeError(f"an array with {array.size} elements (at most {MAX_ELEMENTS})")
    if array.dtype.kind == "b":
        dtype = "bool"
    elif array.dtype.kind in "iu":
        dtype = "int64"
    elif array.dtype.kind == "f":
        dtype = "float64"
    else:
        raise EncodeError(f"an array of dtype {array.dtype} (use floats)")
    return {ARRAY_KEY: array.astype(dtype).tolist(), "dtype": dtype, "shape": list(array.shape)}


def encode(value, _depth: int = 0):
    """Turn ``value`` into JSON-able plain data (numpy arrays become tagged lists).

    Accepted: None, bool, int, float, str, numpy scalars and arrays of bool/int/float,
    objects with ``__array__`` (torch tensors on the CPU), and lists, tuples and dicts
    (str keys) of those. Tuples become lists. Anything else raises :class:`EncodeError`.
    """
    if _depth > MAX_DEPTH:
        raise EncodeError(f"data nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.ndarray):
        return _encode_array(value)
    if isinstance(value, np.generic):
        if value.dtype.kind not in "biuf":
            raise EncodeError(f"a numpy {value.dtype} scalar (use floats)")
        return value.item()
    if isinstance(value, numbers.Integral):
        number = int(value)
        if not -INT64 <= number < INT64:
            raise EncodeError("an integer beyond 64 bits")
        return number
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ELEMENTS:
            raise EncodeError(f"a sequence of {len(value)} items (at most {MAX_ELEMENTS})")
        return [encode(item, _depth + 1) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise EncodeError("a dict with keys that are not strings")
        return {key: encode(item, _depth + 1) for key, item in value.items()}
    if hasattr(value, "__array__"):
        return _encode_array(np.asarray(value))
    raise EncodeError(f"an object of type {type(value).__name__} "
                      "(return numbers, arrays, strings, or lists and dicts of them)")


def _decode_array(data: dict) -> np.ndarray:
    dtype = data.get("dtype")
    if dtype not in ("bool", "int64", "float64"):
        raise ValueError(f"unknown array dtype {str(dtype)[:20]!r}")
    with warnings.catch_warnings():  # numpy 1.x warns on ragged lists, numpy 2 raises
        warnings.simplefilter("ignore")
        array = np.array(data[ARRAY_KEY])
    kinds = {"bool": "b", "int64": "bi", "float64": "bif"}[dtype]
    if array.size and array.dtype.kind not in kinds:
        raise ValueError(f"an array tagged {dtype} that holds {array.dtype.kind!r} data")
    shape = data.get("shape", list(array.shape))
    if not (isinstance(shape, list) and len(shape) <= MAX_DEPTH
            and all(type(n) is int and 0 <= n <= MAX_ELEMENTS for n in shape)):
        raise ValueError("an array with a malformed shape")
    if array.size > MAX_ELEMENTS or array.size != math.prod(shape):
        raise ValueError("array data that does not match its shape")
    return array.astype(dtype).reshape(shape)


def decode(data, _depth: int = 0):
    """Inverse of :func:`encode`: tagged lists become numpy arrays again (strict, see above)."""
    if _depth > MAX_DEPTH:
        raise ValueError("data nested too deeply")
    if isinstance(data, list):
        return [decode(item, _depth + 1) for item in data]
    if isinstance(data, dict):
        if ARRAY_KEY in data:
            return _decode_array(data)
        return {str(key): decode(item, _depth + 1) for key, item in data.items()}
    if type(data) is int and not -INT64 <= data < INT64:
        raise ValueError("an integer beyond 64 bits")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    raise ValueError(f"unexpected JSON value of type {type(data).__name__}")


def dumps(value) -> str:
    """One line of JSON for ``encode(value)`` (no newline inside, NaN allowed)."""
    return json.dumps(encode(value), allow_nan=True, separators=(",", ":"))


def loads(text: str):
    """Inverse of :func:`dumps`."""
    return decode(json.loads(text))
