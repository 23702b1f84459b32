"""The theory a trace is checked against, as data: one module per paper.

A paper module (``seed002`` = "Training Overparametrized Neural Networks in
Sublinear Time"; ``seed001`` = "Does preprocessing help training
over-parameterized neural networks?") holds the paper's bound formulas, the
functions that read a bound off a trace's attrs, and ``CHECKS``: a tuple of
:class:`Check` records, one per checked statement (seed 002: Thm 2.13,
Lemma 2.12, Lemmas 4.2-4.4, Def 4.5, Lemma D.3, Lemma A.10, Cor. A.11,
Thm G.2, Lemma E.4, Def 2.1, Thm 4.1; seed 001: Lemma 3.4, Remark 3.5,
Prop. 5.1, Lemma 5.2, Lemma 4.1, two derived facts of gradient steps and a
diagnostic of approximate indexes, keys prefixed ``s001_``).

Which records apply to a trace follows from what the trace records: its root
attr ``model`` picks the papers (``MODEL_PAPERS``), and each record's
``evaluate`` reads the attrs and metrics it needs (it returns None when the
check produces no row). ``checks_for(attrs)`` is the whole selection rule.

Kinds of record: "identity" (holds exactly, by construction), "inequality"
(a hard bound: holds / fails / not applicable) and "order" (holds only up to
a constant or log factors: reported as the ratio measured / bound with status
``ratio``, never as pass/fail).

Premises are part of every statement (docs/theory.md §2 "Premises", §7). A
record measures its conclusion (holds / fails / ratio / not applicable) and
lists the premises the run can measure as :class:`Premise` values (the width
as m against the proof's requirement, the drift inside the radius, the
probability level ρ, ...; ``at_least``, ``at_most``, ``probability``,
``unknown_constant`` for a requirement without a constant). One function,
:func:`verdict`, combines the two for every record: a failing conclusion is
``fails`` only when every premise is met, ``premise not met`` when one is
measurably not met, ``premise not checkable`` when one cannot be decided.
Only ``fails`` makes `validate` exit 1.

Nothing here imports matplotlib.
"""

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

#: the statuses of a check result (docs/theory.md §7). A conclusion (what the run measured) is one of
#: HOLDS, FAILS, RATIO, NA; the status reported combines it with the premises (:func:`verdict`)
HOLDS, FAILS, NA, RATIO = "holds", "fails", "not applicable", "ratio"
#: a conclusion that fails while a premise of the statement is measurably not met: no contradiction
PREMISE_NOT_MET = "premise not met"
#: a conclusion that fails while every measurable premise is met but one cannot be checked (a constant the
#: paper does not give): no contradiction either
PREMISE_NOT_CHECKABLE = "premise not checkable"
#: every status a result can carry, in the order `validate` counts them
STATUSES = (FAILS, PREMISE_NOT_MET, PREMISE_NOT_CHECKABLE, HOLDS, RATIO, NA)

#: the state of one premise on a run
MET, NOT_MET, NOT_CHECKABLE = "met", "not met", "not checkable"

#: the kinds of a Check record
KINDS = ("identity", "inequality", "order")

#: traces written before the root attr ``model`` existed are of this model
DEFAULT_MODEL = "two-layer"


# --------------------------------------------------------------------------- premises and verdicts

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def fmt(x, digits=4):
    """A number for a report line: `digits` significant digits, as mantissa·10ᵏ when very large or small
    (1.7·10⁻¹⁰); "n/a" for NaN, "∞" for infinity."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.0f}" if abs(x) >= 10 ** digits else f"{x:.{digits}g}"
    mant, exp = f"{x:.{max(digits - 1, 0)}e}".split("e")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return f"{mant}·10{str(int(exp)).translate(_SUPERSCRIPT)}"


@dataclass(frozen=True)
class Premise:
    """One premise of a statement, as measured on a run.

    name:     what is required, as a formula ("m ≥ 36n⁴/λ⁴")
    measured: the run's value of the left-hand side (NaN: not measured)
    required: the right-hand side (NaN: no constant known, nothing to compare with)
    met:      True / False; None when the run cannot decide it (no constant, or not measured)
    sense:    ">=" (measured ≥ required is met) or "<=" (measured ≤ required is met)
    why:      where the premise comes from, one phrase ("R0/√m ≤ λ/(6n) in Lemma 4.3's proof")
    symbol:   how its ratio reads ("m/m_req"); "" for the default "met to <ratio>"
    """

    name: str
    measured: float
    required: float
    met: bool | None
    sense: str = ">="
    why: str = ""
    symbol: str = ""

    def __post_init__(self):
        if self.sense not in (">=", "<="):
            raise ValueError(f"Premise {self.name!r}: sense must be '>=' or '<=', got {self.sense!r}")

    @property
    def ratio(self) -> float:
        """How far the premise is met, ≥ 1 met and < 1 not met: measured/required for "≥",
        required/measured for "≤" (∞ when measured = 0); NaN when either side is not a positive number."""
        a, b = float(self.measured), float(self.required)
        if not (math.isfinite(a) and math.isfinite(b)) or b <= 0 or a < 0:
            return float("nan")
        if self.sense == ">=":
            return a / b
        return math.inf if a == 0 else b / a

    @property
    def state(self) -> str:
        """MET, NOT_MET or NOT_CHECKABLE."""
        return NOT_CHECKABLE if self.met is None else MET if self.met else NOT_MET

    def text(self) -> str:
        """The premise with the run's numbers: "m ≥ 36n⁴/λ⁴: 4096 vs 2.4·10¹³, met to 1.7·10⁻¹⁰ (not met)"."""
        out = self.name + (f" ({self.why})" if self.why else "")
        nums = []
        if math.isfinite(float(self.measured)):
            nums.append(fmt(self.measured) + (f" vs {fmt(self.required)}" if not math.isnan(float(self.required))
                                              else ""))
        if math.isfinite(self.ratio):
            nums.append(f"met to {fmt(self.ratio, 2)}")
        return out + ": " + ", ".join(nums + [self.state]) if nums else out + f": {self.state}"

    def short(self) -> str:
        """The premise in a verdict line: "m ≥ 36n⁴/λ⁴ (m/m_req = 1.7·10⁻¹⁰)", "ρ < 1 met to 10", "b > 0: met",
        "m ≥ poly(n, L, 1/λ): not checkable"."""
        if math.isfinite(self.ratio) and self.met is not None:
            return (f"{self.name} ({self.symbol} = {fmt(self.ratio, 2)})" if self.symbol
                    else f"{self.name} met to {fmt(self.ratio, 2)}")
        if math.isfinite(self.ratio):
            return (f"{self.name} not checkable ({self.symbol} = {fmt(self.ratio, 2)} with constant 1)" if self.symbol
                    else f"{self.name} not checkable (met to {fmt(self.ratio, 2)} with constant 1)")
        out = f"{self.name}: {self.state}"
        if self.met is False and math.isfinite(float(self.measured)):
            out += f" ({fmt(self.measured)} vs {fmt(self.required)})"
        return out


def _premise(name, measured, required, sense, why, checkable, symbol=""):
    def num(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("nan")
    a, b = num(measured), num(required)
    if not checkable or math.isnan(a) or math.isnan(b):
        met = None
    else:
        met = bool(a >= b) if sense == ">=" else bool(a <= b)
    return Premise(name, a, b, met, sense, why, symbol)


def at_least(name, measured, required, why="", checkable=True, symbol="") -> Premise:
    """A premise measured ≥ required (met=None when `checkable` is false or a side is NaN)."""
    return _premise(name, measured, required, ">=", why, checkable, symbol)


def at_most(name, measured, required, why="", checkable=True, symbol="") -> Premise:
    """A premise measured ≤ required (met=None when `checkable` is false or a side is NaN)."""
    return _premise(name, measured, required, "<=", why, checkable, symbol)


def width(name, m, required, why="", checkable=True) -> Premise:
    """A width premise m ≥ required, its ratio read as m/m_req."""
    return _premise(name, m, required, ">=", why, checkable, "m/m_req")


def unknown_constant(name, measured=float("nan"), required=float("nan"), why="constant not given",
                     sense=">=", symbol="") -> Premise:
    """A premise the run cannot decide: an O/Ω/poly requirement whose constant the paper does not give.
    `required` is its value with constant 1 (its ratio is reported, never judged), NaN when not even that."""
    return _premise(name, measured, required, sense, why, False, symbol)


def probability(rho, factor=1.0, what="the statement") -> Premise:
    """The probability level: `what` is claimed with probability ≥ 1 − factor·ρ, which says something only
    while factor·ρ < 1 (checked as factor·ρ ≤ 1)."""
    f = "" if factor == 1 else f"{factor:g}"
    return at_most(f"{f}ρ < 1", factor * float(rho), 1.0, why=f"{what} is claimed w.p. ≥ 1 − {f}ρ")


def verdict(conclusion: str, premises: Sequence[Premise] = ()) -> str:
    """The status reported for a measured conclusion under its premises, the one rule every record uses.

    A conclusion that holds, is a ratio or does not apply is reported as such (premises only noted). A
    failing conclusion is FAILS only when every premise is met; PREMISE_NOT_MET when some premise is
    measurably not met; else PREMISE_NOT_CHECKABLE (a premise the run cannot decide). Only FAILS makes
    `validate` exit 1."""
    if conclusion != FAILS:
        return conclusion
    states = [p.state for p in premises]
    if NOT_MET in states:
        return PREMISE_NOT_MET
    if NOT_CHECKABLE in states:
        return PREMISE_NOT_CHECKABLE
    return FAILS


def premise_status(premises: Sequence[Premise]) -> str:
    """The premises together: NOT_MET if one is not met, else NOT_CHECKABLE if one cannot be decided, else
    MET; "none" for a statement without measurable premises."""
    states = [p.state for p in premises]
    return "none" if not states else NOT_MET if NOT_MET in states else NOT_CHECKABLE if NOT_CHECKABLE in states \
        else MET


def deciding(status: str, premises: Sequence[Premise]) -> str:
    """The premises that decided a verdict, as text: the unmet ones for PREMISE_NOT_MET (or for a HOLDS outside
    its premises), the undecided ones for PREMISE_NOT_CHECKABLE; "" otherwise."""
    unmet = [p for p in premises if p.met is False]
    if unmet and status in (PREMISE_NOT_MET, HOLDS, RATIO):
        return ", ".join(p.short() for p in unmet)
    if status == PREMISE_NOT_CHECKABLE:
        return ", ".join(p.short() for p in premises if p.met is None)
    return ""


def premise_ratio(premises: Sequence[Premise]) -> float:
    """The smallest ratio (≥ 1 met) over the premises the run decides; NaN when none has one."""
    ratios = [p.ratio for p in premises if p.met is not None and math.isfinite(p.ratio)]
    return float(min(ratios)) if ratios else float("nan")


def conclusion_text(measured, bound, first_failing=-1, labels=("measured", "bound")) -> str:
    """The measured conclusion in words: "‖G_t − G_0‖_F = 2.98 × λ/2 (first failing iteration 1)"."""
    mlabel, blabel = labels
    m = float("nan") if measured is None else float(measured)
    b = float("nan") if bound is None else float(bound)
    numeric = blabel == fmt(b)                      # the bound's label is its value ("1", "0")
    vs = f" vs {blabel}" + ("" if numeric else f" = {fmt(b)}")
    if math.isfinite(m) and math.isfinite(b) and b != 0 and not numeric and 1e-3 <= m / b < 1e5:
        out = f"{mlabel} = {fmt(m / b, 3)} × {blabel}"
    elif math.isfinite(m):
        out = f"{mlabel} = {fmt(m)}" + (vs if math.isfinite(b) else "")
    else:
        out = ""
    if out and first_failing >= 0:
        out += f" (first failing iteration {int(first_failing)})"
    return out


def summary(status, conclusion, measured, bound, first_failing, note, premises, labels) -> str:
    """One line: the status, the measured conclusion beside it and the premises that decided the verdict,
    e.g. "premise not met: ‖G_t − G_0‖_F = 2.98 × λ/2 (first failing iteration 1); premise m ≥ 36n⁴/λ⁴
    (m/m_req = 1.7·10⁻¹⁰), m ≥ b²R0² (m/m_req = 0.0013)"."""
    if conclusion == NA:
        return f"{NA}: {note}" if note else NA
    parts = [conclusion_text(measured, bound, first_failing, labels)]
    unmet = [p for p in premises if p.met is False]
    unchecked = [p for p in premises if p.met is None]
    if unmet:
        parts.append("premise " + ", ".join(p.short() for p in unmet)
                     + (" (outside the proven regime: an observation, not a confirmation)" if status == HOLDS else ""))
    elif unchecked and status in (PREMISE_NOT_CHECKABLE, HOLDS):
        parts.append("premise " + ", ".join(p.short() for p in unchecked))
    elif premises and status in (FAILS, HOLDS):
        parts.append("every premise met (" + ", ".join(p.short() for p in premises) + ")")
    elif status == FAILS:
        parts.append("no premise beyond what the run records: a contradiction")
    return f"{status}: " + "; ".join(p for p in parts if p)


def result(ref, statement, status, measured=None, bound=None, first_failing=-1, note="", premises=(),
           labels=("measured", "bound"), **extra):
    """One check's result dict (the format stored under /validation).

    `status` is the measured conclusion (HOLDS, FAILS, RATIO or NA); the reported "status" is
    ``verdict(status, premises)``. Fields: ref, statement, status, measured, bound, ratio,
    first_failing_iteration, note (as before), and conclusion (the measured conclusion), premise (every
    premise with the run's numbers, "; "-separated), premise_status (met / not met / not checkable / none),
    premise_ratio (the smallest ratio of a decided premise, ≥ 1 met), premise_names, premise_measured,
    premise_required, premise_met, premise_ratios (one entry per premise), premise_reason (the premises that
    decided the verdict), summary (one line: status, conclusion, deciding premises); `extra` adds
    record-specific fields (str, int, float)."""
    premises = tuple(premises)
    reported = verdict(status, premises)
    out = {"ref": ref, "statement": statement, "status": reported,
           "measured": float("nan") if measured is None else float(measured),
           "bound": float("nan") if bound is None else float(bound),
           "ratio": float(measured / bound) if measured is not None and bound not in (None, 0) else float("nan"),
           "first_failing_iteration": int(first_failing), "note": note,
           "conclusion": status,
           "premise": "; ".join(p.text() for p in premises),
           "premise_status": premise_status(premises),
           "premise_ratio": premise_ratio(premises),
           "premise_names": [p.name for p in premises],
           "premise_measured": [float(p.measured) for p in premises],
           "premise_required": [float(p.required) for p in premises],
           "premise_met": [p.state for p in premises],
           "premise_ratios": [p.ratio for p in premises],
           "premise_reason": deciding(reported, premises),
           "summary": summary(reported, status, measured, bound, first_failing, note, premises, labels)}
    for key, value in extra.items():
        if key in out:
            raise ValueError(f"result field {key!r} is reserved")
        out[key] = value
    return out


@dataclass(frozen=True)
class Check:
    """One checked statement of a paper.

    key:       the name of its row in /validation (e.g. "lemma_4_3")
    ref:       where the paper states it ("Lemma 4.3")
    statement: the statement, as text
    kind:      "identity" | "inequality" | "order" (order: a ratio measured / bound, never pass/fail)
    evaluate:  open Trace -> result dict (see :func:`result`), or None when the check gives no row
    labels:    (what `measured` is, what `bound` is), for the verdict line ("‖G_t − G_0‖_F", "λ/2")
    """

    key: str
    ref: str
    statement: str
    kind: str
    evaluate: Callable[[Any], dict | None]
    labels: tuple = ("measured", "bound")

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Check {self.key}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    def result(self, status, measured=None, bound=None, first_failing=-1, note="", statement=None, premises=(),
               **extra):
        """A result dict with this record's ref, statement (or `statement` instead) and labels; `status` is
        the measured conclusion, combined with `premises` by :func:`verdict`."""
        return result(self.ref, self.statement if statement is None else statement, status, measured, bound,
                      first_failing, note, premises, self.labels, **extra)


def registrar(records):
    """A decorator `check(key, ref, kind, statement, measured=..., bound=...)` that turns `fn(tr, record)` into
    the evaluate of a Check record appended to `records` (a paper module's list, in definition order);
    `measured` and `bound` name the two numbers of its results in the verdict line."""
    def check(key, ref, kind, statement, measured="measured", bound="bound"):
        def register(fn):
            def evaluate(tr):
                return fn(tr, record)
            evaluate.__name__, evaluate.__qualname__, evaluate.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
            record = Check(key, ref, statement, kind, evaluate, (measured, bound))
            records.append(record)
            return fn
        return register
    return check


# The paper modules import the names above from this package, so they are imported only now.
from simulator.theory import seed001, seed002, seed004  # noqa: E402

#: paper name -> its module (each has CHECKS)
PAPERS = {"seed002": seed002, "seed001": seed001, "seed004": seed004}

#: model (root attr ``model``) -> the papers whose statements apply to it (both seeds study the two-layer
#: network; each record decides from what the trace records whether it applies, e.g. seed 001's Lemma 5.2
#: only to gradient runs)
MODEL_PAPERS = {"two-layer": ("seed002", "seed001"), "multilayer": ("seed004",)}

#: sweep report name (``[sweep] report``) -> (report from the summary rows, report as markdown)
from simulator.theory import reports  # noqa: E402  (after the paper modules: it imports seed002)

REPORTS = {"width-threshold": (seed002.width_threshold_report, seed002.format_width_threshold_report),
           **reports.REPORTS}


def model_of(attrs: Mapping[str, Any]) -> str:
    """The model a trace records (root attr ``model``; absent in older traces: "two-layer")."""
    model = attrs.get("model", DEFAULT_MODEL)
    return model.decode() if isinstance(model, bytes) else str(model)


def papers_for(attrs: Mapping[str, Any]):
    """The paper modules that apply to a trace with these attrs. ValueError for an unknown model."""
    model = model_of(attrs)
    if model not in MODEL_PAPERS:
        raise ValueError(f"the trace's model {model!r} has no theory to check against "
                         f"(known models: {', '.join(MODEL_PAPERS)})")
    return tuple(PAPERS[name] for name in MODEL_PAPERS[model])


def find_check(key: str):
    """The Check record with this /validation key, from any paper (KeyError if none): what a figure uses to
    show the verdict `validate` gives on the bound it draws."""
    for paper in PAPERS.values():
        for c in paper.CHECKS:
            if c.key == key:
                return c
    raise KeyError(key)


def checks_for(attrs: Mapping[str, Any]) -> tuple:
    """The Check records that apply to a trace with these attrs, in report order."""
    return tuple(c for paper in papers_for(attrs) for c in paper.CHECKS)


def sweep_columns(attrs: Mapping[str, Any], results=None) -> dict:
    """Theory columns of a sweep's summary row, from a trace's attrs and its validation results
    (each paper's ``sweep_columns``)."""
    out = {}
    for paper in papers_for(attrs):
        out.update(paper.sweep_columns(attrs, results))
    return out


__all__ = ["Check", "registrar", "DEFAULT_MODEL", "FAILS", "HOLDS", "KINDS", "MET", "MODEL_PAPERS", "NA", "NOT_CHECKABLE",
           "NOT_MET", "PAPERS", "PREMISE_NOT_CHECKABLE", "PREMISE_NOT_MET", "Premise", "RATIO", "REPORTS", "STATUSES",
           "at_least", "at_most", "checks_for", "deciding", "find_check", "fmt", "model_of", "papers_for", "premise_ratio",
           "premise_status", "probability", "result", "seed001", "seed002", "seed004", "summary", "sweep_columns",
           "unknown_constant", "verdict", "width"]
