"""Probabilities over seeds: the failure frequency of each probabilistic statement across a sweep.

A statement that "holds with probability at least 1 − ρ" over the draw of W0 cannot be judged on one
run. A sweep over seeds (``simulator sweep``, one trace per point) is a sample of such draws: this
module reads every point trace of a sweep directory, evaluates the checks that apply to it
(``simulator.engine.validate.run_checks``, the same verdicts as ``simulator validate TRACE``), groups
the points by their grid values other than ``seed`` (e.g. one group per width m), and reports per
statement and group:

* N, the seeds with a verdict (``holds``, ``fails``, ``premise not met`` or ``premise not checkable``;
  ``not applicable``, a statement without a row and unreadable traces are counted apart and left out
  of N);
* k, the failures with the premises met (status ``fails``), their frequency k/N and its 95%
  Clopper–Pearson interval (``scipy.stats.beta``);
* the bound on the failure probability the paper states (``STATEMENTS``: ρ, or (5/2)ρ for Def 4.5),
  with ρ the trace's attr ``rho``;
* whether the data are consistent with "fails with probability ≤ bound": the interval's lower end
  ≤ bound (a one-sided test at level 2.5%);
* the seeds whose conclusion failed with a premise not met (``premise not met``), and those whose
  conclusion failed with a premise the run cannot decide (``premise not checkable``: a constant the
  paper does not give), each with its frequency over N and interval, and whether the data would still
  be consistent with the bound if those undecided premises had held (counting them as failures).

Why k/N and not k over the seeds whose premises were met: the paper bounds P(premise met and conclusion false) — e.g. Lemma 4.3 says
that with probability ≥ 1 − ρ over W0 *every* W within the radius satisfies the conclusion, so a run
whose drift stayed inside and whose conclusion failed is inside that event of probability ≤ ρ. Seeds
whose premise was not met are draws in which the statement claims nothing; they count in N and not in
k. (Dividing by the seeds whose premises were met would estimate a conditional probability the paper
does not bound.)

The exit code of ``simulator validate DIR`` is 1 only when some (statement, group) is inconsistent
with its bound, which takes failures with premises met. With many rows, about 2.5% of rows of a
statement whose failure probability sits exactly at its bound would be flagged by chance.

The statements studied, and why these (docs/theory.md §2 "Premises", §8 "Premises"): every checked
inequality that the papers state with a failure probability. Deterministic statements (Thm 2.13,
Prop. 5.1, the derived facts, seed 004's identities) would fail only through a bug; order bounds
(``ratio``) have no verdict; Def 2.1's sketch fails with δ_sketch, not ρ, and is left out.

Nothing is written: the traces' /validation groups are left as the sweep wrote them.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator import theory
from simulator.engine.sweep import ROW_COLUMNS, SweepInputError, read_summary
from simulator.engine.trace import Trace, TraceError
from simulator.engine.validate import run_checks
from simulator.theory import reports as theory_reports
from simulator.theory.seed002 import rho_of

#: the verdict of a statement whose premises the run did not meet (simulator.theory's statuses)
PREMISE_NOT_MET = getattr(theory, "PREMISE_NOT_MET", "premise not met")
#: the verdict of a failing statement with a premise the run cannot decide (a constant the paper does not give)
PREMISE_NOT_CHECKABLE = getattr(theory, "PREMISE_NOT_CHECKABLE", "premise not checkable")
HOLDS, FAILS, NA = theory.HOLDS, theory.FAILS, theory.NA

#: the confidence level of the binomial intervals
LEVEL = 0.95


class StudyError(ValueError):
    """The directory is not a sweep output directory that can be studied (exit code 2)."""


@dataclass(frozen=True)
class Statement:
    """A statement that holds with probability at least 1 − factor·ρ (ρ: the trace's attr ``rho``).

    key:         the check's key in the validation results
    ref:         where the paper states it
    factor:      the failure-probability bound is factor·ρ
    probability: the probability the paper gives, as text
    note:        how the bound used relates to it
    """

    key: str
    ref: str
    factor: float
    probability: str
    note: str = ""


#: the probabilistic statements, in report order (keys of seed 002, seed 001 ``s001_``, seed 004 ``s004_``)
STATEMENTS = (
    Statement("lemma_2_12", "Lemma 2.12", 1.0, "1 − ρ"),
    Statement("lemma_4_3", "Lemma 4.3", 1.0, "1 − ρ − n²·exp(−m·min{c′e^{−b²/2}, R0/(10√m)})",
              "the exponential term (c′ unknown) is left out: the bound used, ρ, is the stricter one"),
    Statement("lemma_d_3", "Lemma D.3", 1.0, "1 − ρ"),
    Statement("def_4_5", "Def 4.5 (Thm 4.1)", 2.5, "1 − (5/2)ρ − n²·exp(−m·min{c′e^{−b²/2}, R0/(10√m)})",
              "Thm 4.1's induction hypothesis (Lemma 4.6) at every iteration; the exponential term is left out"),
    Statement("lemma_a_10", "Lemma A.10", 1.0, "1 − n·exp(−Ω(m·e^{−b²/2}))",
              "no constant is given: ρ stands in, as for every statement that holds with high probability"),
    Statement("cor_a_11", "Cor. A.11", 1.0, "per point 1 − exp(−min{mR, O(m^0.76)})", "ρ stands in"),
    Statement("s001_lemma_3_4", "Lemma 3.4 (seed 001)", 1.0, "1 − n·exp(−Ω(m·e^{−b²/2}))", "ρ stands in"),
    Statement("s001_remark_3_5", "Remark 3.5 (seed 001)", 1.0, "1 − n·exp(−Ω(m^{4/5}))", "ρ stands in"),
    Statement("s001_lemma_5_2", "Lemma 5.2 (seed 001)", 1.0, "1 − ρ"),
    Statement("s004_sparsity", "Sparsity (seed 004)", 1.0, "with high probability", "ρ stands in"),
)


# --------------------------------------------------------------------------- statistics


def clopper_pearson(k, n, level=LEVEL):
    """The exact (Clopper–Pearson) two-sided interval for a binomial proportion k/n: (lower, upper).
    (nan, nan) for n = 0."""
    from scipy.stats import beta

    k, n = int(k), int(n)
    if n <= 0:
        return float("nan"), float("nan")
    if not 0 <= k <= n:
        raise ValueError(f"k: must be in [0, n = {n}], got {k}")
    alpha = 1.0 - level
    lower = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    upper = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lower, upper


def tally(points, statements=STATEMENTS, level=LEVEL):
    """The study from per-point verdicts.

    ``points``: dicts with ``group`` (a tuple of (key, value) pairs, the grid values but the seed),
    ``rho`` and ``statuses`` ({check key: status} of the point's trace; None when the trace could not be
    read). Returns one dict per (statement, group) in which at least one seed has a verdict, statements
    in the order of ``statements``, groups in first-seen order. Per row: ``n`` (seeds with a verdict),
    ``fails`` (premises met), ``premise_not_met``, ``premise_not_checkable``, ``holds``, each count with
    its frequency over n and Clopper–Pearson interval; ``bound`` = factor·ρ; ``consistent`` (the failures'
    interval starts at or below the bound); ``consistent_if_checkable`` (the same counting "premise not
    checkable" as failures: what the data say if every premise the run could not decide held; None when
    there is none); ``not_applicable`` and ``unread`` (seeds left out of n).
    """
    groups = []
    for p in points:
        if p["group"] not in groups:
            groups.append(p["group"])
    verdicts = (HOLDS, FAILS, PREMISE_NOT_MET, PREMISE_NOT_CHECKABLE)
    rows = []
    for st in statements:
        for g in groups:
            at = [p for p in points if p["group"] == g]
            read = [p for p in at if p.get("statuses") is not None]
            statuses = [p["statuses"].get(st.key) for p in read]
            count = {v: statuses.count(v) for v in verdicts}
            n = sum(count.values())
            if n == 0:
                continue
            rhos = sorted({float(p["rho"]) for p, s in zip(read, statuses) if s in verdicts})
            rho = rhos[0]  # the smallest if a group mixes several (it cannot when rho is a grid key)
            bound = min(1.0, st.factor * rho)
            fails, pnm, pnc = count[FAILS], count[PREMISE_NOT_MET], count[PREMISE_NOT_CHECKABLE]
            lo, hi = clopper_pearson(fails, n, level)
            lo_c = clopper_pearson(fails + pnc, n, level)[0]
            rows.append({
                "key": st.key, "ref": st.ref, "group": dict(g), "seeds": len(at), "n": n, "holds": count[HOLDS],
                "fails": fails, "fail_frequency": fails / n, "fail_interval": [lo, hi],
                "premise_not_met": pnm, "premise_frequency": pnm / n,
                "premise_interval": list(clopper_pearson(pnm, n, level)),
                "premise_not_checkable": pnc, "not_checkable_frequency": pnc / n,
                "not_checkable_interval": list(clopper_pearson(pnc, n, level)),
                "not_applicable": len(read) - n, "unread": len(at) - len(read),
                "rho": rho, "rhos": rhos, "factor": st.factor, "bound": bound,
                "consistent": bool(lo <= bound),
                "consistent_if_checkable": bool(lo_c <= bound) if pnc else None,
            })
    return rows


# --------------------------------------------------------------------------- a sweep directory


def is_sweep_dir(path):
    """Whether ``path`` is a directory holding a sweep's summary (summary.csv or summary.h5)."""
    path = Path(path)
    return path.is_dir() and ((path / "summary.csv").is_file() or (path / "summary.h5").is_file())


def _text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def sweep_meta(directory):
    """{"scenario", "grid_keys", "report"} from summary.h5's attrs (empty where absent)."""
    import h5py

    meta = {"scenario": "", "grid_keys": None, "report": ""}
    try:
        with h5py.File(Path(directory) / "summary.h5", "r") as f:
            meta["scenario"] = _text(f.attrs.get("scenario_name", ""))
            meta["report"] = _text(f.attrs.get("report", ""))
            if "grid_keys" in f.attrs:
                meta["grid_keys"] = [_text(k) for k in np.atleast_1d(f.attrs["grid_keys"])]
    except (OSError, ValueError):
        pass
    return meta


def _grid_keys(rows, meta):
    if meta["grid_keys"] is not None:
        return list(meta["grid_keys"])
    return [k for k in (rows[0] if rows else {}) if k != "point" and k not in ROW_COLUMNS]


def _read_summary(directory):
    directory = Path(directory)
    if not directory.is_dir():
        raise StudyError(f"{directory}: not a directory")
    if not (directory / "summary.csv").is_file():
        raise StudyError(f"{directory}: no summary.csv; expected the output directory of `simulator sweep`")
    try:
        rows = read_summary(directory)
    except SweepInputError as exc:
        raise StudyError(str(exc)) from None
    if not rows:
        raise StudyError(f"{directory}/summary.csv: no points")
    if "trace" not in rows[0]:
        raise StudyError(f"{directory}/summary.csv: no `trace` column; not the summary of a sweep")
    return rows


def scan(directory, rows, point_columns=None):
    """Open each point's trace once: its verdicts (``run_checks``) and, with ``point_columns`` (a
    function of an open trace), extra columns for a report. Returns (points, columns): ``points`` as
    :func:`tally` takes them (plus ``point``, ``status``, ``error``), ``columns`` {point: {column: value}}."""
    directory = Path(directory)
    points, columns = [], {}
    for r in rows:
        entry = {"point": r.get("point"), "status": r.get("status"), "rho": None, "statuses": None, "error": ""}
        name = r.get("trace") or ""
        path = directory / name if name else None
        if path is None or not path.is_file():
            entry["error"] = "no trace" if not name else f"{name}: missing"
            points.append(entry)
            continue
        try:
            with Trace(path) as tr:
                try:
                    results = run_checks(tr)
                    entry["rho"] = rho_of(tr.attrs)
                    entry["statuses"] = {k: res["status"] for k, res in results.items()}
                except (TraceError, KeyError, ValueError) as exc:
                    entry["error"] = f"{name}: {type(exc).__name__}: {exc}"
                if point_columns is not None:
                    try:
                        columns[r.get("point")] = point_columns(tr)
                    except (KeyError, ValueError):
                        pass  # the report shows what it lacks
        except (TraceError, OSError) as exc:
            entry["error"] = f"{name}: {type(exc).__name__}: {exc}"
        points.append(entry)
    return points, columns


def study(directory, statements=STATEMENTS, level=LEVEL, with_report=True):
    """The probability study of a sweep directory (see the module docstring). Raises StudyError.

    Returns {"directory", "scenario", "grid_keys", "group_keys", "points", "traces_read", "unread"
    (point: reason), "runs_failed", "level", "statements" (the table of STATEMENTS), "rows" (:func:`tally`),
    "not_applicable" (statements with no verdict anywhere), "consistent" (bool), "report" (the name of
    the sweep's report, "" for none), "report_text" (its markdown, computed with the point traces)}.
    """
    directory = Path(directory)
    rows = _read_summary(directory)
    meta = sweep_meta(directory)
    keys = _grid_keys(rows, meta)
    group_keys = [k for k in keys if k != "seed"]
    report = meta["report"] if with_report else ""
    point_columns = theory_reports.POINT_COLUMNS.get(report)
    points, columns = scan(directory, rows, point_columns)
    for p, r in zip(points, rows):
        p["group"] = tuple((k, r.get(k)) for k in group_keys)
    table = tally(points, statements, level)
    seen = {row["key"] for row in table}
    report_text = ""
    if report:
        merged = [{**r, **columns.get(r.get("point"), {})} for r in rows]
        try:
            report_text = _format_report(report, merged)
        except (KeyError, TypeError, ValueError) as exc:  # the study stands without its report
            report_text = f"report {report!r}: not computed ({type(exc).__name__}: {exc})\n"
    return {
        "directory": str(directory), "scenario": meta["scenario"], "grid_keys": keys, "group_keys": group_keys,
        "points": len(rows), "traces_read": sum(p["statuses"] is not None for p in points),
        "unread": {p["point"]: p["error"] for p in points if p["statuses"] is None},
        "runs_failed": sum(r.get("status") != "completed" for r in rows), "level": level,
        "statements": [{"key": s.key, "ref": s.ref, "factor": s.factor, "probability": s.probability,
                        "note": s.note} for s in statements],
        "rows": table, "not_applicable": [s.key for s in statements if s.key not in seen],
        "consistent": all(row["consistent"] for row in table),
        "report": report, "report_text": report_text,
    }


def _lookup_report(name):
    if name in theory.REPORTS:
        return theory.REPORTS[name]
    if name in theory_reports.REPORTS:  # before it is registered in simulator.theory.REPORTS
        return theory_reports.REPORTS[name]
    raise ValueError(f"unknown sweep report {name!r}; known: {', '.join({**theory.REPORTS, **theory_reports.REPORTS})}")


def _format_report(name, rows):
    compute, fmt = _lookup_report(name)
    return fmt(compute(rows))


def format_sweep_report(name, rows, directory=None):
    """The markdown of the sweep report ``name`` over summary rows, with the columns it reads from the
    point traces (``simulator.theory.reports.POINT_COLUMNS``) when ``directory`` holds them: what
    `simulator sweep` should print after a sweep and with --report-only. ValueError for an unknown name."""
    if not name:
        return ""
    point_columns = theory_reports.POINT_COLUMNS.get(name)
    if point_columns is not None and directory is not None:
        columns = trace_columns(directory, rows, point_columns)
        rows = [{**r, **columns.get(r.get("point"), {})} for r in rows]
    return _format_report(name, rows)


def trace_columns(directory, rows, point_columns):
    """{point: point_columns(trace)} over the readable point traces of a sweep directory (no checks run)."""
    directory = Path(directory)
    out = {}
    for r in rows:
        name = r.get("trace") or ""
        path = directory / name if name else None
        if path is None or not path.is_file():
            continue
        try:
            with Trace(path) as tr:
                out[r.get("point")] = point_columns(tr)
        except (TraceError, OSError, KeyError, ValueError):
            continue
    return out


# --------------------------------------------------------------------------- output


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _cell(v):
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _freq(k, f, iv):
    lo, hi = iv
    return f"{k} ({f:.3f} [{lo:.3f}, {hi:.3f}])" if _num(lo) and _num(hi) else str(k)


def _bound_text(s):
    factor = "" if s["factor"] == 1 else f"{s['factor']:g}"
    return f"{s['ref']} {factor}ρ (the paper: probability ≥ {s['probability']})"


def _yes(v):
    return "–" if v is None else "yes" if v else "**no**"


def format_study(result):
    """The study as text: a header, the table (markdown), the outcome, then the sweep's report if any."""
    gk = result["group_keys"]
    pct = f"{result['level'] * 100:g}%"
    lines = [f"sweep      {result['directory']}: scenario {result['scenario'] or '?'}, {result['points']} points, "
             f"{result['traces_read']} traces checked" + (f", {len(result['unread'])} unreadable" if result["unread"] else "")
             + (f", {result['runs_failed']} runs not completed (their traces are checked as far as they go)"
                if result["runs_failed"] else ""),
             f"grouped by {', '.join(gk) if gk else '(nothing: every point is its own group)'}; each count is "
             f"followed by (its frequency over the seeds [{pct} Clopper–Pearson interval]); consistent = the interval "
             "of the failures with premises met starts at or below the bound", ""]
    if not result["rows"]:
        lines.append("no probabilistic statement has a verdict in these traces")
    else:
        head = ["statement", *gk, "seeds", "fails, premises met", "ρ", "bound", "consistent", "premise not met",
                "premise not checkable", "consistent if the unchecked premises held"]
        lines += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        for r in result["rows"]:
            cells = [r["ref"], *(_cell(r["group"].get(k)) for k in gk), str(r["n"]),
                     _freq(r["fails"], r["fail_frequency"], r["fail_interval"]), f"{r['rho']:g}", f"{r['bound']:g}",
                     _yes(r["consistent"]),
                     _freq(r["premise_not_met"], r["premise_frequency"], r["premise_interval"]),
                     _freq(r["premise_not_checkable"], r["not_checkable_frequency"], r["not_checkable_interval"]),
                     _yes(r["consistent_if_checkable"])]
            lines.append("| " + " | ".join(cells) + " |")
        used = {r["key"] for r in result["rows"]}
        lines.append("")
        lines.append("bounds: " + "; ".join(_bound_text(s) for s in result["statements"] if s["key"] in used))
    left = {}
    for r in result["rows"]:
        na, un = left.get(r["ref"], (0, 0))
        left[r["ref"]] = (na + r["not_applicable"], un + r["unread"])
    left = {ref: v for ref, v in left.items() if v != (0, 0)}
    if left:
        lines.append("left out of the seeds counted: " + "; ".join(
            f"{ref}: {na} not applicable" + (f", {un} unreadable" if un else "") for ref, (na, un) in left.items()))
    if result["not_applicable"]:
        refs = [s["ref"] for s in result["statements"] if s["key"] in result["not_applicable"]]
        lines.append(f"no verdict in any trace (not applicable to these runs): {', '.join(refs)}")
    bad = [r for r in result["rows"] if not r["consistent"]]
    lines.append("")
    if bad:
        what = "; ".join(f"{r['ref']}" + (f" at {', '.join(f'{k}={_cell(v)}' for k, v in r['group'].items())}"
                                          if r["group"] else "") for r in bad)
        lines.append(f"outcome: inconsistent with the stated failure probability, premises met: {what}")
    else:
        lines.append("outcome: consistent with every stated failure probability (failures with premises met)")
    text = "\n".join(lines) + "\n"
    if result["report_text"]:
        text += "\n" + result["report_text"]
    return text


def to_json(result):
    """The result with NaN/inf as None (strict JSON)."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, (np.floating,)):
            return clean(float(v))
        return v
    return clean(result)
