"""Command line: thin layer over the engine (parse, call, print, exit code).

Exit codes: 0 success, 1 the run failed (or a check failed), 2 usage or input error.
"""

import json
import sys

import click

from simulator import __version__

EXIT_FAILED = 1
EXIT_INPUT = 2


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
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(name, overrides, seed, out, overwrite, quiet):
    """Run scenario NAME (a name from `simulator list` or a .toml path) into a trace.

    Prints a short summary and the trace path.
    """
    from simulator.engine.runner import InputError, RunFailed, load, run_scenario

    try:
        scenario = load(name, overrides, seed)
        result = run_scenario(scenario, out=out, overwrite=overwrite, quiet=quiet)
    except InputError as exc:
        _fail_input(str(exc))
    except RunFailed as exc:
        click.echo(f"run failed: {exc}", err=True)
        click.echo(f"trace: {exc.path}")
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        click.echo("interrupted: the trace is marked 'interrupted' and keeps every completed iteration", err=True)
        sys.exit(130)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(f"scenario   {scenario.name} (solver {scenario.solver.name}, m={scenario.network.m}, "
               f"n={scenario.data.n}, d={scenario.data.d}, seed={scenario.seed})")
    click.echo(f"iterations {result.iterations}")
    click.echo(f"loss       {result.loss0:.3e} -> {result.loss:.3e}")
    click.echo(f"time       init {result.init_seconds:.3f} s, median step {result.median_step_seconds:.4f} s")
    click.echo(f"trace      {result.path}")


@cli.command()
@click.argument("trace", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def inspect(trace, as_json):
    """Summarise TRACE: status, scenario, iterations, final loss, per-metric first/last/min/max."""
    from simulator.engine.inspect import summarize

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
    click.echo(f"{'metric':18s} {'units':10s} {'first':>12s} {'last':>12s} {'min':>12s} {'max':>12s}")
    for name, m in summary["metrics"].items():
        cells = [f"{m[k]:12.5g}" if m[k] is not None else f"{'-':>12s}" for k in ("first", "last", "min", "max")]
        click.echo(f"{name:18s} {m['units'][:10]:10s} " + " ".join(cells))


@cli.command()
@click.argument("trace", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def validate(trace, as_json):
    """Check TRACE against the bounds of seed 002 (SPEC §2); results go into the trace's /validation.

    Each check: holds / fails / not applicable, with the measured value and the bound (and the first
    failing iteration for per-iteration checks). Bounds known only up to a constant report
    `ratio` (measured / bound) instead of pass/fail. Exit code 1 when any check fails.
    """
    from simulator.engine.trace import TraceError, write_validation
    from simulator.engine.validate import FAILS, outcome, run_checks

    tr = _open_trace(trace)
    with tr:
        try:
            results = run_checks(tr)
        except KeyError as exc:
            _fail_input(f"{trace}: the trace lacks {exc.args[0]!r}; was it written by `simulator run`?")
    try:
        write_validation(trace, results, attrs={"outcome": outcome(results)})
    except (TraceError, OSError) as exc:
        _fail_input(str(exc))
    if as_json:
        click.echo(json.dumps({"outcome": outcome(results), "checks": results}, indent=2))
    else:
        click.echo(f"{'check':16s} {'status':15s} {'measured':>11s} {'bound':>11s} {'first fail':>10s}  statement")
        for name, r in results.items():
            first = str(r["first_failing_iteration"]) if r["first_failing_iteration"] >= 0 else "-"
            click.echo(f"{name:16s} {r['status']:15s} {r['measured']:11.4g} {r['bound']:11.4g} {first:>10s}  "
                       f"{r['ref']}: {r['statement']}")
            if r["note"]:
                click.echo(f"{'':16s} {'':15s} {r['note']}")
        click.echo(f"outcome: {outcome(results)}")
    if outcome(results) == FAILS:
        sys.exit(EXIT_FAILED)


def main():
    cli()
