"""Real servers for the tests, started on free loopback ports and stopped afterwards.

- the Oxigraph server (`oxigraph serve`, from the `oxigraph` package on PyPI);
- Virtuoso (`virtuoso-t`, Debian's virtuoso-opensource-7-bin; tests/setup/system-packages.sh installs it);
- a cutting proxy: forwards to a real server and drops the connection once a client has sent too many bytes
  (the connection dies mid-upload while the server lives on; tests/test_load.py also kills a real server);
- a silent server: accepts connections and never answers (timeouts).

Import the fixtures into a test module (`from servers import oxigraph_server, ...`).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

VIRTUOSO_USER = "dba"
VIRTUOSO_PASSWORD = "dba"  # the password of a fresh Virtuoso database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, *, timeout: float, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout}s:\n{log.read_text(errors='replace')[-2000:]}")


def _answers(url: str, **kwargs) -> bool:
    try:
        return requests.get(url, timeout=1, **kwargs).status_code == 200
    except requests.RequestException:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class SparqlServer:
    """A running server: how `kg load` reaches it, and plain-HTTP helpers for the tests' own checks."""

    name: str  # the --store preset
    root: str  # ENDPOINT for `kg load`
    query_url: str
    gsp_url: str
    update_url: str
    auth: requests.auth.AuthBase | None
    process: subprocess.Popen
    port: int

    def load_args(self) -> list[str]:
        args = [self.root, "--store", self.name]
        if self.name == "virtuoso":
            args += ["--user", VIRTUOSO_USER, "--password", VIRTUOSO_PASSWORD]
        return args

    def select(self, query: str, *, default_graphs: list[str] = ()) -> dict:
        """SPARQL Query Results JSON of a form-POSTed query (Virtuoso never answers application/sparql-query)."""
        data = [("query", query)] + _dataset(default_graphs)
        response = requests.post(
            self.query_url, data=data, headers={"Accept": "application/sparql-results+json"},
            auth=self.auth, timeout=30,
        )
        response.raise_for_status()
        return response.json()

    def construct(self, query: str, *, default_graphs: list[str] = ()) -> str:
        data = [("query", query)] + _dataset(default_graphs)
        response = requests.post(
            self.query_url, data=data, headers={"Accept": "application/n-triples"}, auth=self.auth, timeout=30
        )
        response.raise_for_status()
        return response.content.decode("utf-8")

    def graph_ntriples(self, graph: str) -> str:
        """The graph's content (via CONSTRUCT, so both servers answer in N-Triples; empty when absent)."""
        return self.construct(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")

    def gsp_get(self, graph: str) -> requests.Response:
        return requests.get(
            self.gsp_url, params={"graph": graph}, headers={"Accept": "text/turtle"}, auth=self.auth, timeout=30
        )

    def put(self, graph: str, ntriples: str) -> requests.Response:
        return requests.put(
            self.gsp_url, params={"graph": graph}, data=ntriples.encode("utf-8"),
            headers={"Content-Type": "application/n-triples"}, auth=self.auth, timeout=30,
        )

    def update(self, update: str) -> None:
        requests.post(self.update_url, data={"update": update}, auth=self.auth, timeout=30).raise_for_status()

    def graphs(self, prefix: str) -> set[str]:
        answer = self.select(
            f'SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?s ?p ?o }} FILTER(STRSTARTS(STR(?g), "{prefix}")) }}'
        )
        return {b["g"]["value"] for b in answer["results"]["bindings"]}

    def clear(self, prefix: str) -> None:
        for graph in self.graphs(prefix):
            self.update(f"DROP SILENT GRAPH <{graph}>")


def _dataset(graphs) -> list[tuple[str, str]]:
    # The protocol's dataset: our graphs merged as the default graph, and the same graphs as the named graphs
    # (naming only default-graph-uri leaves GRAPH ?g with no graphs at all on Oxigraph).
    return [("default-graph-uri", g) for g in graphs] + [("named-graph-uri", g) for g in graphs]


def start_oxigraph(location: Path) -> SparqlServer:
    port = free_port()
    log = location.parent / f"{location.name}.log"
    binary = Path(sys.executable).parent / "oxigraph"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(binary if binary.is_file() else shutil.which("oxigraph")), "serve",
             "--location", str(location), "--bind", f"127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
        )
    root = f"http://127.0.0.1:{port}"
    _wait(lambda: _answers(root + "/query?query=ASK%7B%7D"), timeout=20, what="oxigraph", process=process, log=log)
    return SparqlServer("oxigraph", root, root + "/query", root + "/store", root + "/update", None, process, port)


VIRTUOSO_INI = """\
[Parameters]
DatabaseFile = {dir}/virtuoso.db
TransactionFile = {dir}/virtuoso.trx
ErrorLogFile = {dir}/virtuoso.log
xa_persistent_file = {dir}/virtuoso.pxa
ServerPort = {sql_port}
DirsAllowed = {dir}
NumberOfBuffers = 10000
MaxDirtyBuffers = 6000
[HTTPServer]
ServerPort = {http_port}
ServerThreads = 10
"""


def start_virtuoso(directory: Path) -> SparqlServer:
    binary = shutil.which("virtuoso-t")
    if binary is None:
        raise RuntimeError("virtuoso-t is not installed: run `bash tests/setup/system-packages.sh`")
    directory.mkdir(parents=True, exist_ok=True)
    sql_port, http_port = free_port(), free_port()
    ini = directory / "virtuoso.ini"
    ini.write_text(VIRTUOSO_INI.format(dir=directory, sql_port=sql_port, http_port=http_port))
    log = directory / "console.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [binary, "+foreground", "+configfile", str(ini)],
            cwd=directory, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
        )
    root = f"http://127.0.0.1:{http_port}"

    def up() -> bool:
        return "Server online at" in log.read_text(errors="replace") and _answers(
            root + "/sparql", params={"query": "ASK {}"}
        )

    _wait(up, timeout=60, what="virtuoso", process=process, log=log)
    auth = requests.auth.HTTPDigestAuth(VIRTUOSO_USER, VIRTUOSO_PASSWORD)
    return SparqlServer(
        "virtuoso", root, root + "/sparql-auth", root + "/sparql-graph-crud-auth", root + "/sparql-auth",
        auth, process, http_port,
    )


def start_server(name: str, directory: Path) -> SparqlServer:
    """Start server `name` on its database in `directory`: a new one, or the one a killed server left there."""
    if name == "oxigraph":
        directory.mkdir(parents=True, exist_ok=True)
        return start_oxigraph(directory / "store")
    return start_virtuoso(directory)


def stop_server(server: SparqlServer) -> None:
    _stop(server.process)


@pytest.fixture(scope="session")
def oxigraph_server(tmp_path_factory) -> Iterator[SparqlServer]:
    server = start_oxigraph(tmp_path_factory.mktemp("oxigraph") / "store")
    yield server
    _stop(server.process)


@pytest.fixture(scope="session")
def virtuoso_server(tmp_path_factory) -> Iterator[SparqlServer]:
    server = start_virtuoso(tmp_path_factory.mktemp("virtuoso"))
    yield server
    _stop(server.process)


@pytest.fixture(params=["oxigraph", "virtuoso"])
def sparql_server(request) -> SparqlServer:
    """Each real server in turn."""
    return request.getfixturevalue(f"{request.param}_server")


class CuttingProxy:
    """Forwards loopback connections to `target_port`, and drops any connection (both ways, mid-request)
    once its client has sent more than `cut_after` bytes: a server that dies during a large upload."""

    def __init__(self, target_port: int, *, cut_after: int):
        self.target_port = target_port
        self.cut_after = cut_after
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._upload, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._download, args=(upstream, client), daemon=True).start()

    def _upload(self, client: socket.socket, upstream: socket.socket) -> None:
        sent = 0
        try:
            while data := client.recv(65536):
                if sent + len(data) > self.cut_after:
                    upstream.sendall(data[: max(0, self.cut_after - sent)])
                    self.cuts += 1
                    break
                upstream.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (client, upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _download(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(65536):
                client.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self._closed = True
        self.listener.close()


class SilentServer:
    """Accepts connections, reads whatever comes, never answers."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self.listener.close()
        for c in self.connections:
            c.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def rows(answer: dict) -> list[tuple]:
    """SPARQL JSON results as comparable rows: each term as (kind, value, datatype-or-language).

    Stores differ in what the JSON spells out: Virtuoso writes `typed-literal`, omits xsd:string, and answers
    ASK as a one-row table. This keeps exactly what RDF says and nothing of the spelling."""
    if "boolean" in answer:
        return [(("boolean", str(answer["boolean"]).lower(), ""),)]
    names = answer["head"]["vars"]
    result = []
    for binding in answer["results"]["bindings"]:
        result.append(tuple(_term(binding.get(name)) for name in names))
    return result


def _term(term: dict | None) -> tuple:
    if term is None:
        return ("unbound", "", "")
    kind = term["type"]
    if kind in ("literal", "typed-literal"):
        if "xml:lang" in term:
            return ("literal", term["value"], "@" + term["xml:lang"].lower())
        datatype = term.get("datatype", "http://www.w3.org/2001/XMLSchema#string")
        return canonical_literal(term["value"], datatype)
    if kind == "bnode":
        return ("bnode", "", "")
    return (kind, term["value"], "")


__all__ = [
    "CuttingProxy", "SilentServer", "SparqlServer", "free_port", "oxigraph_server", "rows", "silent_server",
    "sparql_server", "start_oxigraph", "start_server", "start_virtuoso", "stop_server", "virtuoso_server",
]


INTEGER_TYPES = {
    "http://www.w3.org/2001/XMLSchema#" + t
    for t in ("nonNegativeInteger", "positiveInteger", "nonPositiveInteger", "negativeInteger", "long", "int",
              "short", "byte", "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte")
}


def canonical_literal(value: str, datatype: str) -> tuple:
    """A typed literal in a form every store gives back: Oxigraph 0.5 (embedded and server) stores the subtypes of
    xsd:integer as xsd:integer, and Virtuoso writes xsd:boolean values as 1/0."""
    import rdflib

    if datatype in INTEGER_TYPES:
        datatype = "http://www.w3.org/2001/XMLSchema#integer"
    return ("literal", str(rdflib.Literal(value, datatype=datatype)), datatype)
