"""Command line: thin layer over the engine (parse, call, print, exit code)."""

import click

from simulator import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="simulator")
def cli():
    """Simulate training of over-parameterized two-layer networks (seed 002 and baselines)."""


def main():
    cli()
