"""A read-only SPARQL 1.1 Protocol endpoint over the built graph: Oxigraph's own server, not one of ours.

The server runs on a checkpoint of the cached store (`Store.backup`: hard links, so it costs nothing), in a
temporary directory of its own. `kg query` and `kg build` keep working while it runs, and a rebuild that
prunes the old cached store cannot pull the files from under it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph

from kg.errors import EXIT_FAILED, KgError, Problem
from kg.store import refresh


class ServeError(KgError):
    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen
    base_url: str
    log: Path

    @property
    def query_url(self) -> str:
        return self.base_url + "/query"


def oxigraph_binary() -> str:
    """The `oxigraph` server binary: next to this Python (a venv) or on PATH."""
    beside = Path(sys.executable).parent / "oxigraph"
    found = str(beside) if beside.is_file() else shutil.which("oxigraph")
    if not found:
        raise KgError(Problem("the Oxigraph server is not installed; run `pip install oxigraph`"))
    return found


def server_command(location: Path, *, host: str, port: int) -> list[str]:
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [oxigraph_binary(), "serve-read-only", "--location", str(location), "--bind", bind, "--union-default-graph"]


@contextmanager
def serving(out_dir: Path, *, host: str = "127.0.0.1", port: int = 7878, startup_timeout: float = 20.0) -> Iterator[Server]:
    """Run the server until the block ends; yields once it answers queries."""
    with tempfile.TemporaryDirectory(prefix="kg-serve-") as scratch:
        location = Path(scratch) / "store"
        pyoxigraph.Store.read_only(str(refresh(out_dir))).backup(str(location))
        shown_host = f"[{host}]" if ":" in host else host
        log = Path(scratch) / "server.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                server_command(location, host=host, port=port), stdin=subprocess.DEVNULL, stdout=sink, stderr=sink
            )
        server = Server(process=process, base_url=f"http://{shown_host}:{port}", log=log)
        try:
            _wait_until_up(server, startup_timeout)
            yield server
        finally:
            stop(server)


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def _wait_until_up(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    probe = server.query_url + "?query=" + urllib.request.quote("ASK {}")
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            message = server.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            detail = message[-1] if message else f"exit code {server.process.returncode}"
            raise ServeError(Problem(f"the Oxigraph server did not start at {server.base_url}: {detail}"))
        try:
            with urllib.request.urlopen(probe, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise ServeError(Problem(f"the Oxigraph server did not answer at {server.base_url} within {timeout:.0f}s"))
