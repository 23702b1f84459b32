"""Options: the one type that describes a setting (`Field`) and the check of a value against it.

A Field gives a setting's type ("int" | "float" | "bool" | "str" | "strlist"), default, help
text and allowed values (a range, a set of choices, or also "auto"). Both tables of settings
are made of Fields: the scenario schema (``simulator.config.SCHEMA``) and every solver's
options (``simulator.solvers.SOLVER_OPTIONS``). :func:`check_value` checks a value read
from TOML or ``--set`` against its Field and normalises it; its one-line messages leave out
the key, which the caller puts in front.

This module imports nothing from the simulator, so any module may use it.
"""

import difflib
import json
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One setting: its type ("int" | "float" | "bool" | "str" | "strlist"), default, help and range.

    ``minimum``/``maximum`` bound a number (inclusive unless ``min_exclusive``/``max_exclusive``);
    ``choices`` lists the strings a "str" accepts (empty: any string); ``allow_auto`` accepts the
    string "auto" as well, for a value derived from the problem at run time (e.g. a step size
    from λ); ``optional`` marks a key that may be absent (None, never written to TOML then).
    """

    type: str
    default: object
    help: str
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: tuple = ()
    optional: bool = False
    allow_auto: bool = False


#: the range of an "int" value: every integer setting ends up in int64 arrays or HDF5 attrs (a seed, a size)
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class BadValue(ValueError):
    """A value that does not fit its Field; the message does not name the key (the caller adds
    the file and dotted path)."""


def describe_value(v):
    """A value with its TOML type, for "got ..." in messages: ``string "big"``, ``integer 3``."""
    if isinstance(v, bool):
        return f"boolean {'true' if v else 'false'}"
    if isinstance(v, int):
        text = _fmt_int(v)
        return text if text.startswith(("an ", "-an ")) else f"integer {text}"
    if isinstance(v, float):
        return f"float {_fmt_float(v)}"
    if isinstance(v, str):
        return f"string {json.dumps(v, ensure_ascii=False)}"
    if isinstance(v, dict):
        return "a table"
    if isinstance(v, list):
        return "an array"
    return f"{type(v).__name__} {v}"


def format_value(v):
    """Value as shown after 'got' for range errors: bare numbers, quoted strings."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return _fmt_int(v)
    if isinstance(v, float):
        return _fmt_float(v)
    return describe_value(v)


def _num(x):
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _expected(f):
    if f.type == "bool":
        s = "true or false"
    elif f.type == "str":
        s = "a string"
    elif f.type == "strlist":
        s = 'an array of strings (e.g. ["network.m=2^6..2^10"])'
    elif f.type == "int":
        if f.maximum is None and f.minimum == 1:
            s = "a positive integer"
        elif f.maximum is None and f.minimum == 0:
            s = "a non-negative integer"
        elif f.minimum is not None and f.maximum is None:
            s = f"an integer >= {_num(f.minimum)}"
        elif f.minimum is not None and f.maximum is not None:
            s = f"an integer in [{_num(f.minimum)}, {_num(f.maximum)}]"
        else:
            s = "an integer"
    else:
        if f.minimum is not None and f.maximum is not None:
            lo = "(" if f.min_exclusive else "["
            hi = ")" if f.max_exclusive else "]"
            s = f"a number in {lo}{_num(f.minimum)}, {_num(f.maximum)}{hi}"
        elif f.minimum is not None:
            s = f"a number {'>' if f.min_exclusive else '>='} {_num(f.minimum)}"
        else:
            s = "a finite number"
    if f.allow_auto:
        s += ' or "auto"'
    return s


def suggest(word, candidates):
    """The candidate closest to ``word`` (for a "did you mean" hint), or None."""
    m = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=0.6)
    return m[0] if m else None


def check_value(f, v):
    """Check value ``v`` against Field ``f``; return it normalised (int → float for floats).
    Raises BadValue with a message that does not include the field path."""
    if f.allow_auto and v == "auto":
        return "auto"
    if f.type == "bool":
        if not isinstance(v, bool):
            raise BadValue(f"must be {_expected(f)}, got {describe_value(v)}")
        return v
    if f.type == "str":
        if not isinstance(v, str):
            raise BadValue(f"must be {_expected(f)}, got {describe_value(v)}")
        if f.choices and v not in f.choices:
            choices = ", ".join(json.dumps(c) for c in f.choices)
            if f.allow_auto:
                choices += ', "auto"'
            hint = suggest(v, f.choices)
            raise BadValue(f"must be one of {choices}; got {json.dumps(v)}"
                       + (f" (did you mean {json.dumps(hint)}?)" if hint else ""))
        return v
    if f.type == "strlist":
        if not isinstance(v, (list, tuple)):
            raise BadValue(f"must be {_expected(f)}, got {describe_value(v)}")
        for i, item in enumerate(v):
            if not isinstance(item, str):
                raise BadValue(f"must be {_expected(f)}; item {i} is {describe_value(item)}")
        return tuple(v)
    if f.type == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise BadValue(f"must be {_expected(f)}, got {describe_value(v)}")
        if not INT_MIN <= v <= INT_MAX and _in_range(f, v):  # a range of the Field's own is named first
            raise BadValue(f"must be {_expected(f)} that fits in 64 bits (at most 2^63 - 1 = {INT_MAX}), "
                           f"got {_fmt_int(v)}")
    elif f.type == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BadValue(f"must be {_expected(f)}, got {describe_value(v)}")
        written = v
        try:
            v = float(v)
        except OverflowError:  # an integer beyond the float range (e.g. --set key=10^400)
            raise BadValue(f"must be {_expected(f)} (finite), got {_fmt_int(written)}") from None
        if not math.isfinite(v):
            raise BadValue(f"must be {_expected(f)} (finite), got {_fmt_float(v)}")
        if not _in_range(f, v):
            raise BadValue(f"must be {_expected(f)}, got {format_value(written)}")
        return v
    else:  # pragma: no cover - schema error
        raise TypeError(f"unsupported field type {f.type!r}")
    if not _in_range(f, v):
        raise BadValue(f"must be {_expected(f)}, got {_fmt_int(v)}")
    return v


def _fmt_int(v):
    """An integer for a message: in full up to 30 digits, else its size (a 10^400 is not printed)."""
    s = str(v)
    return s if len(s.lstrip("-")) <= 30 else f"{'-' if v < 0 else ''}an integer of {len(s.lstrip('-'))} digits"


def _in_range(f, v):
    lo_bad = f.minimum is not None and (v <= f.minimum if f.min_exclusive else v < f.minimum)
    hi_bad = f.maximum is not None and (v >= f.maximum if f.max_exclusive else v > f.maximum)
    return not (lo_bad or hi_bad)


def _fmt_float(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))
