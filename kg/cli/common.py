"""What every command shares: the --project option and turning errors into one-line messages
with kg's exit codes (0 ok, 1 check failed, 2 usage/input error, 3 internal error)."""

from __future__ import annotations

import functools
import inspect
import sys
import traceback
from pathlib import Path

import click

from kg.errors import EXIT_INTERNAL, KgError

project_option = click.option(
    "--project",
    "-C",
    "project",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The kg project folder (holds ontology/, shapes/, registry/, articles/, out/).",
)
debug_option = click.option("--debug", is_flag=True, help="Show tracebacks (and, for load, every HTTP request).")


def reports_errors(command):
    """Run a command body; KgError -> its lines on stderr and its exit code; anything else -> exit 3."""

    wants_debug = "debug" in inspect.signature(command).parameters

    @functools.wraps(command)
    def wrapper(*args, debug: bool = False, **kwargs):
        try:
            return command(*args, **({"debug": debug} if wants_debug else {}), **kwargs)
        except KgError as error:
            if debug:
                traceback.print_exc()
            for problem in error.problems:
                click.echo(str(problem), err=True)
            sys.exit(error.exit_code)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - the one place internal errors become exit 3
            if debug:
                traceback.print_exc()
            click.echo(f"internal error: {type(error).__name__}: {error} (run with --debug for a traceback)", err=True)
            sys.exit(EXIT_INTERNAL)

    return debug_option(wrapper)
