"""`kg serve`: Oxigraph's read-only server over a snapshot of the embedded store."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from kg.cli.query import query
from kg.serve import ServeError, serving
from servers import free_port

DATA = Path(__file__).resolve().parent / "data"
COUNT = "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"


@pytest.fixture
def out(tmp_path) -> Path:
    shutil.copytree(DATA / "out", tmp_path / "out")
    return tmp_path / "out"


def test_server_answers_over_the_union_of_graphs_like_kg_query(out):
    with serving(out, port=free_port()) as server:
        answer = requests.post(server.query_url, data={"query": COUNT}, headers={"Accept": "text/csv"}, timeout=10)
        assert answer.text.split() == ["n", "53"]
        refused = requests.post(server.base_url + "/update", data={"update": "CLEAR ALL"}, timeout=10)
        assert refused.status_code >= 400
        # kg query keeps working while the server runs.
        result = CliRunner().invoke(query, ["-", "--format", "csv", "--out", str(out)], input=COUNT)
        assert result.output == "n\n53\n"
    assert server.process.poll() is not None


def test_busy_port_is_a_one_line_error(out):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(ServeError, match=rf"^error: the Oxigraph server did not start at http://127.0.0.1:{port}: "):
            with serving(out, port=port):
                pass


def _default_sigint() -> None:
    # As a terminal starts a program; a shell script's background job (a CI runner, say) starts with
    # SIGINT ignored, and Python then leaves it ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_stop_just_after_the_url_is_printed_is_a_clean_stop(out, monkeypatch):
    """Ctrl-C can come before the wait for the server begins (a loaded machine showed it): still a clean stop,
    with the server stopped (the real one: its process ends, and its port closes)."""
    import contextlib

    import kg.serve
    from kg.cli import main

    started = []

    @contextlib.contextmanager
    def serving_then_ctrl_c(*args, **kwargs):
        with serving(*args, **kwargs) as server:
            started.append(server)
            stdout, flush = sys.stdout, sys.stdout.flush

            def ctrl_c():  # once: in the flush after the URL, before the wait
                stdout.flush = flush
                raise KeyboardInterrupt

            stdout.flush = ctrl_c
            yield server

    monkeypatch.setattr(kg.serve, "serving", serving_then_ctrl_c)
    port = free_port()
    result = CliRunner().invoke(main, ["serve", "--port", str(port), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"http://127.0.0.1:{port}/query" in result.output
    (server,) = started
    assert server.process.poll() is not None  # stopped
    with pytest.raises(requests.ConnectionError):
        requests.get(server.query_url, params={"query": "ASK {}"}, timeout=2)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_cli_prints_the_url_and_stops_cleanly_on_ctrl_c_or_kill(out, stop_signal):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kg", "serve", "--port", str(port), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=out.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_default_sigint,
    )
    try:
        line = process.stdout.readline()
        assert line == f"SPARQL endpoint: http://127.0.0.1:{port}/query  (Ctrl-C stops it)\n"
        answer = requests.get(f"http://127.0.0.1:{port}/query", params={"query": "ASK { ?s a ?t }"},
                              headers={"Accept": "application/sparql-results+json"}, timeout=10)
        assert answer.json()["boolean"] is True
        process.send_signal(stop_signal)
        code = process.wait(timeout=15)
        assert (code, process.stderr.read()) == (0, "")
    finally:
        if process.poll() is None:
            process.kill()
    # the Oxigraph server is gone too
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/query", params={"query": "ASK {}"}, timeout=2)