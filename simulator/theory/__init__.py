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

Nothing here imports matplotlib.
"""

from dataclasses import dataclass
from typing import Any, Callable, Mapping

#: the statuses of a check result
HOLDS, FAILS, NA, RATIO = "holds", "fails", "not applicable", "ratio"

#: the kinds of a Check record
KINDS = ("identity", "inequality", "order")

#: traces written before the root attr ``model`` existed are of this model
DEFAULT_MODEL = "two-layer"


def result(ref, statement, status, measured=None, bound=None, first_failing=-1, note=""):
    """One check's result dict (the format stored under /validation)."""
    return {"ref": ref, "statement": statement, "status": status,
            "measured": float("nan") if measured is None else float(measured),
            "bound": float("nan") if bound is None else float(bound),
            "ratio": float(measured / bound) if measured is not None and bound not in (None, 0) else float("nan"),
            "first_failing_iteration": int(first_failing), "note": note}


@dataclass(frozen=True)
class Check:
    """One checked statement of a paper.

    key:       the name of its row in /validation (e.g. "lemma_4_3")
    ref:       where the paper states it ("Lemma 4.3")
    statement: the statement, as text
    kind:      "identity" | "inequality" | "order" (order: a ratio measured / bound, never pass/fail)
    evaluate:  open Trace -> result dict (see :func:`result`), or None when the check gives no row
    """

    key: str
    ref: str
    statement: str
    kind: str
    evaluate: Callable[[Any], dict | None]

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Check {self.key}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    def result(self, status, measured=None, bound=None, first_failing=-1, note="", statement=None):
        """A result dict with this record's ref and statement (or `statement` instead)."""
        return result(self.ref, self.statement if statement is None else statement, status, measured, bound,
                      first_failing, note)


def registrar(records):
    """A decorator `check(key, ref, kind, statement)` that turns `fn(tr, record)` into the evaluate of a
    Check record appended to `records` (a paper module's list, in definition order)."""
    def check(key, ref, kind, statement):
        def register(fn):
            def evaluate(tr):
                return fn(tr, record)
            evaluate.__name__, evaluate.__qualname__, evaluate.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
            record = Check(key, ref, statement, kind, evaluate)
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
REPORTS = {"width-threshold": (seed002.width_threshold_report, seed002.format_width_threshold_report)}


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


__all__ = ["Check", "registrar", "DEFAULT_MODEL", "FAILS", "HOLDS", "KINDS", "MODEL_PAPERS", "NA", "PAPERS", "RATIO",
           "REPORTS", "checks_for", "model_of", "papers_for", "result", "seed001", "seed002", "seed004", "sweep_columns"]
