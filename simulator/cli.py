"""Command line: thin layer over the engine (parse, call, print, exit code).

Exit codes: 0 success, 1 the run failed (or a check failed), 2 usage or input error.
"""

import faulthandler
import json
import os
import signal
import sys

import click

from simulator import __version__
from simulator.engine import interrupts

EXIT_FAILED = 1
EXIT_INPUT = 2


def _interrupted_exit(exc, what):
    click.echo(f"interrupted ({str(exc) or 'Ctrl-C'}): {what}", err=True)
    sys.exit(128 + (signal.SIGTERM if isinstance(exc, interrupts.Terminated) else signal.SIGINT))


def _fail_input(message):
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_INPUT)


def _open_trace(path):
    from simulator.engine.trace import Trace, TraceError

    try:
        return Trace(path)
    except (TraceError, OSError) as exc:
        _fail_input(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="simulator")
def cli():
    """Simulate training of over-parameterized two-layer networks (seed 002 and baselines).

    Run a named scenario into an HDF5 trace, then inspect it. `simulator run`
    with no name runs `quickstart`.
    """


@cli.command("list")
def list_cmd():
    """List the named scenarios with their descriptions."""
    from simulator.config import list_scenarios

    for name, description in list_scenarios():
        first = " ".join(description.split())
        click.echo(f"{name:16s} {first}")


@cli.command()
@click.argument("name")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a field, e.g. network.m=65536.")
def show(name, overrides):
    """Print scenario NAME (a name or a .toml path) resolved: every key explicit."""
    from simulator.config import scenario_to_toml
    from simulator.engine.runner import InputError, load

    try:
        click.echo(scenario_to_toml(load(name, overrides), comments=True), nl=False)
    except InputError as exc:
        _fail_input(str(exc))


@cli.command()
@click.argument("name", required=False, default="quickstart")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario field, type-checked, e.g. --set network.m=65536 "
                   "--set solver.name=gauss-newton. Repeatable.")
@click.option("--seed", type=int, default=None, help="Master seed (sets the scenario's `seed`).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Trace file to write (default: outputs/<name>-<time>.h5).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it is a simulator trace that no running process is writing (anything else is refused).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(name, overrides, seed, out, overwrite, quiet):
    """Run scenario NAME (a name from `simulator list` or a .toml path) into a trace.

    Prints a short summary and the trace path.
    """
    try:  # Numba and the kernels load here: a Ctrl-C during it is an interrupt too, not click's "Aborted!"
        from simulator.engine.runner import InputError, RunFailed, load, run_scenario
    except KeyboardInterrupt as exc:
        _interrupted_exit(exc, "before the run started; nothing was written")

    try:
        scenario = load(name, overrides, seed)
        with interrupts.catching():
            result = run_scenario(scenario, out=out, overwrite=overwrite, quiet=quiet)
    except InputError as exc:
        _fail_input(str(exc))
    except RunFailed as exc:
        click.echo(f"run failed: {exc}", err=True)
        click.echo(f"trace: {exc.path}")
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt as exc:
        where = getattr(exc, "trace_path", None)
        _interrupted_exit(exc, f"the trace is marked 'interrupted' and keeps every completed iteration: {where}"
                          if where else "before the trace was opened; nothing was written")
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    from simulator.engine.trace import Trace, TraceError

    sizes = {"m": scenario.network.m, "n": scenario.data.n, "d": scenario.data.d}
    try:  # the sizes the run used (data from a file: n and d are the file's), as its trace records them
        with Trace(result.path) as tr:
            sizes.update({k: tr.attrs[k] for k in sizes if k in tr.attrs})
    except (TraceError, OSError):
        pass  # the scenario's values, then
    click.echo(f"scenario   {scenario.name} (solver {scenario.solver.name}, m={sizes['m']}, "
               f"n={sizes['n']}, d={sizes['d']}, seed={scenario.seed})")
    click.echo(f"iterations {result.iterations}")
    click.echo(f"loss       {result.loss0:.3e} -> {result.loss:.3e}")
    click.echo(f"time       init {result.init_seconds:.3f} s, median step {result.median_step_seconds:.4f} s")
    click.echo(f"trace      {result.path}")


@cli.command()
@click.argument("trace", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect(trace, as_json):
    """Summarise TRACE: status, scenario, iterations, final loss, per-metric first/last/min/max."""
    from simulator.engine.inspect import format_metrics, summarize

    tr = _open_trace(trace)
    with tr:
        summary = summarize(tr)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"trace      {trace}")
    for key in ("status", "error", "scenario", "solver", "iterations", "final_loss"):
        if summary.get(key) not in (None, ""):
            click.echo(f"{key:10s} {summary[key]}")
    for key in ("b", "lambda", "delta", "R0"):
        if key in summary["theory"]:
            click.echo(f"{key:10s} {summary['theory'][key]:.6g}")
    click.echo(format_metrics(summary["metrics"]), nl=False)


@cli.command()
@click.argument("traces", nargs=-1, type=click.Path(), metavar="TRACE TRACE...")
@click.option("--target", type=float, default=None, metavar="REL",
              help="Loss to reach, relative to each run's initial loss (default 1e-6): the table gives "
                   "init + step seconds until loss <= REL * loss0.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-o", "--out-dir", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Also draw figures overlaying the runs into this directory as compare-*.png "
                   "(needs matplotlib); created if missing.")
@click.option("--overwrite", is_flag=True, help="Replace PNGs that already exist in --out-dir (without it, refuse).")
@click.option("--allow-different", is_flag=True,
              help="Compare traces of different problems anyway (a warning line says what differs).")
def compare(traces, target, as_json, out_dir, overwrite, allow_different):
    """Compare runs on one problem side by side: TRACE TRACE... (at least two).

    One column per run: scenario, solver, solver_direction and the solver_* options that differ
    between the runs, iterations, status, initial and final loss, init seconds, median step
    seconds, the time to reach --target (init + the step seconds until loss <= REL * loss0) and
    each run's median step over the first run's. The traces must be the same problem: model,
    n, d, m, b (multilayer: layers, alpha, seed) and /data/X, /data/y equal (without /data/X: the
    seed and the scenario's [data] table); otherwise exit 2 naming what differs, unless
    --allow-different. With -o DIR: loss against iteration and against seconds, fire-set sizes
    and the largest drift, one line per run; a figure whose metric no trace has is skipped,
    with the reason.
    """
    import contextlib
    import math
    import os
    from pathlib import Path

    from simulator.engine import compare as cmp

    if len(traces) < 2:
        _fail_input(f"compare needs at least two traces, got {len(traces)}")
    target = cmp.DEFAULT_TARGET if target is None else target
    if not (target > 0 and math.isfinite(target)):
        _fail_input(f"--target: must be a positive number (relative to the initial loss), got {target}")
    if out_dir is not None:
        from simulator.engine.plots import PlotDependencyError, _matplotlib

        try:
            _matplotlib()
        except PlotDependencyError as exc:
            _fail_input(str(exc))
        if Path(out_dir).exists() and not Path(out_dir).is_dir():
            _fail_input(f"{out_dir}: exists and is not a directory")
    with contextlib.ExitStack() as stack:
        trs = [stack.enter_context(_open_trace(path)) for path in traces]
        for i in range(len(traces)):
            for j in range(i):
                if os.path.samefile(traces[i], traces[j]):
                    _fail_input(f"{traces[j]} and {traces[i]} are the same file; give each trace once")
        names = cmp.display_names(trs)
        differences = cmp.problem_differences(trs, names)
        if differences and not allow_different:
            more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
            _fail_input(f"not the same problem: {differences[0]}{more}; --allow-different compares anyway")
        rows = cmp.compare_rows(trs, target=target, names=names)
        written = None
        if out_dir is not None:
            try:
                written = cmp.plot_compare(trs, out_dir, overwrite=overwrite, target=target)
            except FileExistsError as exc:
                _fail_input(str(exc))
            except OSError as exc:
                _fail_input(f"{out_dir}: {exc}")
        problem = cmp.problem_summary(trs)
    if differences:
        click.echo(f"warning: not the same problem, compared anyway: {'; '.join(differences)}", err=True)
    if as_json:
        doc = {"problem": problem, "same_problem": not differences, "differences": differences,
               "target": target, "runs": rows}
        if written is not None:
            doc["figures"] = [str(p) for p in written]
            doc["skipped"] = dict(written.skipped)
        click.echo(json.dumps(doc, indent=2))
    else:
        note = " (of the first trace; see the warning)" if differences else ""
        click.echo(f"problem  {problem}{note}")
        click.echo()
        click.echo(cmp.format_table(rows, target), nl=False)
        for path in written or ():
            click.echo(str(path))
    for key, reason in (written.skipped.items() if written is not None else ()):
        click.echo(f"skipped {key}: {reason}", err=True)


@cli.command()
@click.argument("trace", type=click.Path(), metavar="TRACE|DIR")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--ball", "ball_samples", type=click.IntRange(min=0), default=0, metavar="K",
              help="Also search Lemma 4.3 over the whole ball of radius R0/sqrt(m) around W0 (two-layer traces): "
                   "K random W and three adversarial ones; prints the largest ||G(W) - G_0||_F found beside the "
                   "trajectory's and the bound (rebuilds the run's problem from the trace; O(K m n d)).")
def validate(trace, as_json, ball_samples):
    """Check TRACE against the bounds of the papers of its model (docs/theory.md §2, §8, §9); results go into
    the trace's /validation (a read-only trace gets the report and a note, and is left as it is).

    Each check: holds / fails / premise not met / premise not checkable / ratio / not applicable, with
    the measured value, the bound, the first failing iteration and each premise's ratio m/m_req.
    Bounds known only up to a constant report `ratio` (measured / bound). Exit code 1 only when a check
    fails with every premise met.

    DIR, the output directory of `simulator sweep`: probabilities over seeds. For each statement that
    holds with probability 1 − ρ, per group of points equal but for the seed, the frequency of failures
    with the premises met, its 95% Clopper–Pearson interval beside the bound (ρ; (5/2)ρ for Def 4.5),
    whether the data are consistent with it, and the frequencies of "premise not met" and "premise not
    checkable"; then the sweep's report, computed with the point traces. Nothing is written. Exit code 1
    when some statement is inconsistent with its bound on failures whose premises were met.
    """
    from pathlib import Path

    if Path(trace).is_dir():
        _validate_sweep(trace, as_json)
        return
    from simulator.engine.trace import ReadOnlyTrace, TraceError, write_validation
    from simulator.engine.validate import FAILS, format_report, outcome, run_checks

    tr = _open_trace(trace)
    with tr:
        try:
            results = run_checks(tr)
        except KeyError as exc:
            _fail_input(f"{trace}: the trace lacks {exc.args[0]!r}; was it written by `simulator run`?")
        except TraceError as exc:
            _fail_input(str(exc))
    try:
        write_validation(trace, results, attrs={"outcome": outcome(results)})
    except ReadOnlyTrace as exc:
        click.echo(f"note: {exc}", err=True)
    except (TraceError, OSError) as exc:
        _fail_input(str(exc))
    ball_result = _ball_search(trace, ball_samples) if ball_samples else None
    if as_json:
        doc = {"outcome": outcome(results), "checks": results}
        if ball_result is not None:
            doc["lemma_4_3_ball"] = ball_result
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(format_report(results), nl=False)
        if ball_result is not None:
            r = ball_result
            click.echo(f"Lemma 4.3 over the ball of radius R = R0/sqrt(m) = {r['R']:.4g} around W0: largest "
                       f"||G(W) - G_0||_F = {max(r['random_max'], r['adversarial_max']):.4g} (random, "
                       f"{ball_samples} W: {r['random_max']:.4g}; adversarial: {r['adversarial_max']:.4g}); along "
                       f"the trajectory {r['trajectory_max']:.4g}; bound lambda/2 = {r['bound']:.4g}")
    if outcome(results) == FAILS:
        sys.exit(EXIT_FAILED)


def _ball_search(trace, samples):
    from simulator.engine import ball

    try:
        return ball.search_trace(trace, samples=samples)
    except ValueError as exc:
        _fail_input(str(exc))


def _validate_sweep(directory, as_json):
    from simulator.engine import study

    try:
        result = study.study(directory)
    except (study.StudyError, ValueError) as exc:
        _fail_input(str(exc))
    if as_json:
        click.echo(json.dumps(study.to_json(result), indent=2))
    else:
        click.echo(study.format_study(result), nl=False)
    if not result["consistent"]:
        sys.exit(EXIT_FAILED)


@cli.command()
@click.argument("name", required=False)
@click.option("--grid", "grid", multiple=True, metavar="KEY=VALUES",
              help="A grid axis: KEY=v1,v2,... | KEY=a..b (integers, inclusive) | KEY=2^a..2^b (powers of two), "
                   "e.g. --grid network.m=2^12..2^20 --grid seed=0..9. Repeatable: the points are the cartesian "
                   "product. Default: the scenario's [sweep] grid.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a scenario field at every point (as for `run`). Repeatable.")
@click.option("--workers", type=int, default=None,
              help="Worker processes on this machine (default: the scenario's sweep.workers, 2). "
                   "Ignored with --scheduler.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Directory for the traces point-0000.h5, ... and summary.csv / summary.h5 "
                   "(default: outputs/<name>-sweep-<time>/); must be new or empty. With --scheduler the "
                   "cluster's workers write their traces here, so --out must be a path every worker can "
                   "reach (a shared file system).")
@click.option("--overwrite", is_flag=True, help="Use a non-empty --out: its point traces and summaries are replaced.")
@click.option("--fit", "fit_key", metavar="KEY", default=None,
              help="Print the log-log slope of median seconds per iteration against grid key KEY, the exponents "
                   "of counted operations and of seconds per step (standard error, bootstrap 95% interval) and "
                   "the constant in front of n^2*m^0.76*d (docs/theory.md §10).")
@click.option("--scheduler", metavar="tcp://HOST:PORT", default=None,
              help="Run the points on an existing Dask cluster (pip install 'simulator[cluster]'). "
                   "--out must then be a path every worker can reach.")
@click.option("--report-only", "report_dir", type=click.Path(), default=None, metavar="DIR",
              help="Run nothing: recompute the width-threshold report (and --fit) from DIR/summary.csv.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep(name, grid, overrides, workers, out, overwrite, fit_key, scheduler, report_dir, quiet):
    """Run scenario NAME over a grid of overrides in parallel: one trace per point, plus a summary table.

    Each point's trace is validated (its /validation written). summary.csv and summary.h5 in --out
    hold, per point, the grid values, status, final loss, iterations, median seconds per iteration
    and the validate outcome. A failed point is recorded as failed and the sweep goes on; the exit
    code is 1 only when every point failed. A scenario with [sweep] report = "width-threshold"
    prints the observed width threshold beside Theorem 4.1's requirement.
    """
    try:  # as in `run`: a Ctrl-C while the engine loads is an interrupt
        from simulator.engine import study
        from simulator.engine.sweep import (SweepInputError, fit_lines, fit_slope, read_summary, run_sweep,
                                            summary_report)
    except KeyboardInterrupt as exc:
        _interrupted_exit(exc, "before the sweep started; nothing was written")

    if report_dir is not None:
        if name or grid or overrides or out or scheduler:
            _fail_input("--report-only DIR reads an existing sweep; give no NAME, --grid, --set, --out or --scheduler")
        try:
            rows = read_summary(report_dir)
        except SweepInputError as exc:
            _fail_input(str(exc))
        if not rows or not {"n", "m", "def_4_5", "lambda", "status"} <= set(rows[0]):
            _fail_input(f"{report_dir}: the summary has no rows or lacks the columns n, m, def_4_5, lambda, status")
        done = sum(r["status"] == "completed" for r in rows)
        click.echo(f"summary    {report_dir}: {len(rows)} points, {done} completed, {len(rows) - done} failed")
        if fit_key:
            try:
                slope, k = fit_slope(rows, fit_key)
                click.echo(f"fit        log(median s/iteration) vs log({fit_key}): slope {slope:.3f} over {k} values")
            except ValueError as exc:
                _fail_input(str(exc))
            for line in fit_lines(rows, fit_key):
                click.echo(line)
        click.echo()
        click.echo(study.format_sweep_report(summary_report(report_dir), rows, report_dir), nl=False)
        return
    if not name:
        _fail_input("give a scenario NAME (or --report-only DIR)")
    if workers is not None and workers < 1:
        _fail_input(f"--workers: must be a positive integer, got {workers}")
    try:
        with interrupts.catching():
            result = run_sweep(name, grid, workers=workers, out_dir=out, scheduler=scheduler, progress=not quiet,
                               overrides=overrides, overwrite=overwrite, fit=fit_key)
    except SweepInputError as exc:
        _fail_input(str(exc))
    except KeyboardInterrupt as exc:
        _interrupted_exit(exc, "the summary holds the points that finished")
    shape = " x ".join(f"{k} ({len(v)})" for k, v in result.grid)
    where = f"scheduler {result.scheduler}" if result.scheduler else f"{result.workers} workers"
    total = len(result.rows)
    click.echo(f"sweep      {result.name}: {total} points = {shape}, {where}")
    click.echo(f"completed  {result.completed} of {total}")
    if result.failed:
        click.echo(f"failed     {result.failed} (their errors are in the `error` column of summary.csv)")
    click.echo(f"time       {result.seconds:.1f} s")
    click.echo(f"summary    {result.csv_path}")
    click.echo(f"           {result.h5_path}")
    click.echo(f"traces     {result.out_dir}/point-0000.h5 ... point-{total - 1:04d}.h5")
    if fit_key:
        try:
            slope, k = fit_slope(result.rows, fit_key)
            click.echo(f"fit        log(median s/iteration) vs log({fit_key}): slope {slope:.3f} over {k} values "
                       f"(points at equal {fit_key} averaged in log)")
            for line in fit_lines(result.rows, fit_key):
                click.echo(line)
        except ValueError as exc:
            click.echo(f"warning: {exc}", err=True)
    if result.report:
        click.echo()
        click.echo(study.format_sweep_report(result.report, result.rows, result.out_dir), nl=False)
    if result.completed == 0:
        sys.exit(EXIT_FAILED)


@cli.command()
@click.argument("trace", type=click.Path())
@click.option("-o", "--out-dir", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Directory for the PNGs (default: <trace stem>-plots/ next to TRACE); created if missing.")
@click.option("--overwrite", is_flag=True, help="Replace PNGs that already exist (without it, refuse).")
def plot(trace, out_dir, overwrite):
    """Draw TRACE as PNG figures against the bounds of the papers of its model (needs matplotlib).

    One file per figure, <trace stem>-<figure>.png. Two-layer traces (seeds 002 and 001): loss
    with Def 4.5's halving envelope, fire counts per point against Lemma A.10, weight drift
    against R0/sqrt(m), lambda_min(G_t) and ||G_t - G_0||_F against Lemma 4.3's lambda/2, flips
    against Lemma D.3, seed 001's union, work and LSH figures. Multilayer traces (seed 004):
    residual against Theorem 1's 1/3 contraction, active neurons per layer against m^(1-alpha),
    drift of W_L, sketch distortion, ranks. Always: time per step by phase. A figure whose
    metric the trace lacks is skipped, with the reason. Prints each written path.
    """
    from pathlib import Path

    from simulator.engine.plots import PlotDependencyError, _matplotlib, plot_trace

    try:
        _matplotlib()
    except PlotDependencyError as exc:
        _fail_input(str(exc))
    out = Path(out_dir) if out_dir else Path(trace).with_name(f"{Path(trace).stem}-plots")
    if out.exists() and not out.is_dir():
        _fail_input(f"{out}: exists and is not a directory")
    tr = _open_trace(trace)
    with tr:
        try:
            written = plot_trace(tr, out, overwrite=overwrite)
        except FileExistsError as exc:
            _fail_input(str(exc))
        except OSError as exc:
            _fail_input(f"{out}: {exc}")
    for path in written:
        click.echo(str(path))
    for key, reason in written.skipped.items():
        click.echo(f"skipped {key}: {reason}", err=True)
    if not written:
        _fail_input(f"{trace}: nothing to plot (no figure's metrics are in the trace)")


def main():
    # `kill -USR1 PID` prints every thread's Python stack to stderr: for a run that seems stuck
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        cli()  # standalone mode: always ends in SystemExit (errors other than usage ones propagate, untouched)
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    if code is not None and not isinstance(code, int):
        click.echo(code, err=True)
        code = 1
    # Skip the interpreter's teardown: with Numba loaded, freeing its thousands of objects takes ~0.4 s (a tenth
    # of a run at m = 2^22) and does nothing for us: every trace, figure and table is closed by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
