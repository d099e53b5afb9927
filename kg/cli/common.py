"""What every command shares: the --project option, turning errors into one-line messages with kg's exit
codes (0 ok, 1 check failed, 2 usage/input error, 3 internal error), and one command at a time on a project's
.cache/ and out/."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import os
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


LOCK_FILE = ".cache/lock"


@contextlib.contextmanager
def project_lock(project: Path):
    """Held while a command reads and writes the project's .cache/ and out/ (kg build, validate, export, report): a
    second such command on the same project waits for the first, saying so on stderr, rather than failing
    on the validation store (RocksDB opens in one process at a time) or interleaving its writes. A project
    where .cache/ cannot be made (read-only) is not locked. Released when the command ends, however it ends."""
    try:
        (project / LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(project / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            click.echo(f"waiting for another kg command on this project to finish ({LOCK_FILE})", err=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
