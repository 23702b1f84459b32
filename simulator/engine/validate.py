"""Check a trace against the theory that applies to it (``simulator.theory``).

The checks are data: ``simulator.theory.checks_for(attrs)`` picks the Check
records for the trace's model (for the two-layer network, the statements of
seed 002, docs/theory.md §2: ``simulator.theory.seed002.CHECKS``), and each record's
``evaluate`` reads the trace. A record measures its conclusion and the premises
the run can measure; ``simulator.theory.verdict`` combines them into one status
(docs/theory.md §7):

======================== ===========================================================
holds                    the conclusion holds (a premise not met is noted beside it)
fails                    the conclusion fails and every premise is met: a contradiction
premise not met          the conclusion fails and a premise is measurably not met
premise not checkable    the conclusion fails, no premise is measurably not met, but one
                         cannot be decided (a constant the paper does not give)
ratio                    an order bound (O, Õ, Ω): measured / bound, never pass/fail
not applicable           the trace lacks what the check reads, or it is about another setup
======================== ===========================================================

Per-iteration checks give the first failing iteration. ``outcome`` is the exit
rule: `validate` exits 1 only when some check ``fails``.

Everything is read from the trace (attrs, /trace rows); nothing is rerun.

A trace without iterations to check -- no /trace group, no committed state row,
or no ``loss`` (which every run records at every row) -- is refused with a
TraceError: several checks read only the root attrs (Thm 2.13's bounds on λ),
so such a file would otherwise report `holds` without one row behind it.
"""

from simulator import theory
from simulator.engine.trace import TraceError
from simulator.theory import (FAILS, HOLDS, NA, PREMISE_NOT_CHECKABLE, PREMISE_NOT_MET, RATIO,  # noqa: F401
                              STATUSES)  # (re-export: the statuses)

__all__ = ["FAILS", "HOLDS", "NA", "PREMISE_NOT_CHECKABLE", "PREMISE_NOT_MET", "RATIO", "STATUSES", "counts",
           "format_report", "outcome", "require_rows", "run_checks"]

#: what every run records at every state row (engine/metrics.py); its absence means damage
REQUIRED_METRIC = "loss"
#: the (least) width of the check-name column and the width of the status column of the text report
NAME_WIDTH, STATUS_WIDTH = 16, max(len(s) for s in STATUSES)


def require_rows(tr):
    """Raise TraceError unless ``tr`` holds iteration rows to check (a /trace group, state row 0, loss)."""
    where = f"{tr.path}: "
    error = " ".join(str(tr.attrs.get("error") or "").split())      # one line
    status = f"status {tr.status or 'unknown'}" + (f", error: {error}" if error else "")
    if not tr.has_group("trace"):
        raise TraceError(f"{where}no /trace group ({status}): not a complete trace; nothing to validate")
    if "t" not in tr:
        raise TraceError(f"{where}/trace has no scale 't' ({status}): not a complete trace; nothing to validate")
    if not tr.has_rows:
        raise TraceError(f"{where}/trace holds no committed iteration ({status}); nothing to validate")
    if REQUIRED_METRIC not in tr.names():
        raise TraceError(f"{where}/trace lacks {REQUIRED_METRIC!r}, which every run records "
                         f"({status}): not a complete trace; nothing to validate")


def run_checks(tr):
    """Every check that applies to an open Trace; returns {check key: result dict}, in report order.

    Raises TraceError (``require_rows``) for a trace with no rows to check.
    """
    require_rows(tr)
    out = {}
    for check in theory.checks_for(tr.attrs):
        res = check.evaluate(tr)
        if res is not None:
            out[check.key] = res
    return out


def outcome(results):
    """The exit rule: 'fails' if some check fails with its premises met, else 'holds'. A conclusion that fails
    while a premise is not met ('premise not met') or cannot be decided ('premise not checkable') does not
    contradict the paper and does not fail the outcome."""
    return FAILS if any(r["status"] == FAILS for r in results.values()) else HOLDS


def counts(results):
    """{status: number of checks with it}, every status of STATUSES present (0 when none)."""
    out = {s: 0 for s in STATUSES}
    for r in results.values():
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def _num(v):
    try:
        return f"{float(v):11.4g}"
    except (TypeError, ValueError):
        return f"{'':>11s}"


def format_report(results):
    """The text report of `validate` (what the CLI prints): per check one row (status, measured, bound, first
    failing iteration, ref and statement), then, indented, the verdict line (the measured conclusion beside the
    premises that decided it) and the note; last the outcome with the count of each status."""
    width = max([NAME_WIDTH, *(len(k) for k in results)])
    pad = " " * (width + 1 + STATUS_WIDTH + 1)
    lines = [f"{'check':{width}s} {'status':{STATUS_WIDTH}s} {'measured':>11s} {'bound':>11s} {'first fail':>10s}"
             "  statement"]
    for name, r in results.items():
        first = r.get("first_failing_iteration", -1)
        first = str(first) if isinstance(first, int) and first >= 0 else "-"
        lines.append(f"{name:{width}s} {r['status']:{STATUS_WIDTH}s} {_num(r.get('measured'))} "
                     f"{_num(r.get('bound'))} {first:>10s}  {r['ref']}: {r['statement']}")
        verdict_line = str(r.get("summary") or "")
        if verdict_line and r.get("status") != NA:
            lines.append(pad + verdict_line.split(": ", 1)[-1] if verdict_line.startswith(r["status"] + ": ")
                         else pad + verdict_line)
        if r.get("note"):
            lines.append(pad + str(r["note"]))
    c = counts(results)
    tally = ", ".join(f"{c[s]} {s}" for s in STATUSES if c[s])
    lines.append(f"outcome: {outcome(results)} ({tally})")
    return "\n".join(lines) + "\n"
