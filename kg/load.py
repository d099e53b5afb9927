"""Uploading the built graph to a remote store: SPARQL 1.1 Graph Store HTTP Protocol plus SPARQL 1.1 Update.

No target graph is ever left half-written. Each graph is uploaded into a staging graph
(`<target>-staging-<random>`), its triple count is checked, and then one SPARQL Update moves every staged graph
into place (`MOVE` for --replace, `ADD` for --append). On any failure the staging graphs are dropped and the
targets hold what they held before. This matters because some stores do not load atomically: Virtuoso, handed
a document that fails halfway, answers 500 after it has dropped the old graph and kept the first part.

A staging graph outlives its load when nobody can drop it: the server was killed mid-upload, or `kg load` itself
was. Its name says when its load started (`<target>-staging-20230524T101500Z-<random>`), and every successful load
then removes the staging graphs of its own targets that started more than `stale_after` seconds ago (an hour by
default). Younger ones are left alone because they may belong to a load still running: Virtuoso 7.2 answers
`MOVE <missing> TO <target>` by emptying the target, so dropping a live load's staging graph could destroy the
very graph this module promises to keep.

Bodies are N-Triples, one request per graph chunk: it is the one format every store accepts (Virtuoso rejects
N-Quads and TriG). Chunks never split a group of triples that share a blank node, because every request
gets fresh blank nodes on the server.

The check counts triples; it cannot see a store that keeps a literal's value but not its lexical form. Virtuoso
7.2 keeps an xsd:duration as a number of months or seconds (openlink/virtuoso-opensource#936): "P3Y" is
served as "P3Y" in Turtle but as "36" in N-Triples and SPARQL results, and a duration with both a year-month
and a day-time part loses the day-time part (tests/test_load.py pins this down).
"""

from __future__ import annotations

import datetime
import netrc
import os
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph
import requests
import requests.auth

from kg.errors import EXIT_FAILED, CheckFailed, KgError, Problem
from kg.store import dataset_path

USER_ENV = "KG_LOAD_USER"
PASSWORD_ENV = "KG_LOAD_PASSWORD"
NTRIPLES = "application/n-triples"
STALE_AFTER = 3600.0
_STAMP = "%Y%m%dT%H%M%SZ"


class RemoteError(KgError):
    """The remote store failed or could not be reached (exit 1: nothing the input could fix)."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Layout:
    """Where a store keeps its endpoints, relative to the ENDPOINT given on the command line."""

    gsp: str
    query: str
    update: str
    auth: str  # "basic" or "digest"


# ENDPOINT is the server root (oxigraph, virtuoso), the dataset URL (fuseki: http://host:3030/DATASET),
# the repository URL (graphdb: http://host:7200/repositories/REPO), or one URL for everything (generic).
PRESETS: dict[str, Layout] = {
    "oxigraph": Layout(gsp="/store", query="/query", update="/update", auth="basic"),
    "fuseki": Layout(gsp="/data", query="/query", update="/update", auth="basic"),
    "graphdb": Layout(gsp="/rdf-graphs/service", query="", update="/statements", auth="basic"),
    "virtuoso": Layout(gsp="/sparql-graph-crud-auth", query="/sparql-auth", update="/sparql-auth", auth="digest"),
    "generic": Layout(gsp="", query="", update="", auth="basic"),
}


@dataclass(frozen=True)
class Endpoints:
    gsp: str
    query: str
    update: str


def endpoints(endpoint: str, layout: Layout) -> Endpoints:
    root = endpoint.rstrip("/")
    return Endpoints(gsp=root + layout.gsp, query=root + layout.query, update=root + layout.update)


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)


def find_credentials(endpoint: str, *, user: str | None, password: str | None) -> Credentials | None:
    """Credentials from the options, else KG_LOAD_USER/KG_LOAD_PASSWORD, else ~/.netrc (by host)."""
    user = user if user is not None else os.environ.get(USER_ENV)
    password = password if password is not None else os.environ.get(PASSWORD_ENV)
    if user is not None:
        return Credentials(user, password or "")
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    try:
        entry = netrc.netrc(os.environ.get("NETRC")).authenticators(host)
    except (FileNotFoundError, netrc.NetrcParseError):
        entry = None
    if entry:
        return Credentials(entry[0] or "", entry[2] or "")
    return None


@dataclass(frozen=True)
class Connection:
    """How to talk to a store: endpoints, credentials and the network policy."""

    endpoints: Endpoints
    auth: str = "basic"
    credentials: Credentials | None = None
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    verify: bool | str = True
    log: Callable[[str], None] | None = None


@dataclass(frozen=True)
class GraphUpload:
    target: str
    triples: int


@dataclass(frozen=True)
class LoadReport:
    graphs: list[GraphUpload]
    mode: str
    removed: list[str] = field(default_factory=list)  # stale staging graphs of earlier loads


def staging_graph(target: str, started: datetime.datetime) -> str:
    """The staging graph of a load into `target` that started at `started` (UTC)."""
    return f"{target}-staging-{started.astimezone(datetime.timezone.utc).strftime(_STAMP)}-{secrets.token_hex(6)}"


def staging_started(target: str, graph: str) -> datetime.datetime | None:
    """When the load that made staging graph `graph` of `target` started; None if `graph` is not one."""
    match = re.fullmatch(re.escape(target) + r"-staging-(\d{8}T\d{6}Z)-[0-9a-f]{12}", graph)
    if match is None:
        return None
    try:
        return datetime.datetime.strptime(match.group(1), _STAMP).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def graphs_to_load(out_dir: Path, *, graph: str | None = None) -> dict[str, list[str]]:
    """target graph IRI -> N-Triples lines (sorted, distinct) read from out/kg.nq."""
    path = dataset_path(out_dir)
    try:
        quads = list(pyoxigraph.parse(path=str(path), format=pyoxigraph.RdfFormat.N_QUADS))
    except FileNotFoundError:
        raise KgError(Problem("not built yet; run `kg build` first", path=str(path))) from None
    except SyntaxError as e:
        raise KgError(Problem(str(e), path=str(path), line=e.lineno, column=e.offset)) from None
    grouped: dict[str, set[pyoxigraph.Triple]] = {}
    for quad in quads:
        if graph is not None:
            name = graph
        elif isinstance(quad.graph_name, pyoxigraph.NamedNode):
            name = quad.graph_name.value
        else:
            raise KgError(Problem("has triples outside a named graph; load them with --graph IRI", path=str(path)))
        grouped.setdefault(name, set()).add(quad.triple)
    return {name: sorted(_ntriples(t) for t in triples) for name, triples in sorted(grouped.items())}


def chunks(lines: list[str], size: int) -> Iterator[list[str]]:
    """Chunks of about `size` triples; triples that share a blank node always travel together."""
    groups = _blank_node_groups(lines)
    chunk: list[str] = []
    for group in groups:
        if chunk and len(chunk) + len(group) > size:
            yield chunk
            chunk = []
        chunk.extend(group)
    if chunk:
        yield chunk


def load(
    out_dir: Path,
    connection: Connection,
    *,
    graph: str | None = None,
    mode: str = "replace",
    chunk_size: int = 50_000,
    stale_after: float = STALE_AFTER,
) -> LoadReport:
    """Upload out/kg.nq (one graph per named graph, or everything into `graph`) with `mode` replace/append,
    then remove the staging graphs of the same targets left by loads that started over `stale_after` s ago."""
    if mode not in ("replace", "append"):
        raise ValueError(mode)
    plan = graphs_to_load(out_dir, graph=graph)
    started = datetime.datetime.now(datetime.timezone.utc)
    staged = {target: staging_graph(target, started) for target in plan}
    client = _Client(connection)
    try:
        for target, lines in plan.items():
            for number, chunk in enumerate(chunks(lines, chunk_size)):
                client.upload(staged[target], "\n".join(chunk) + "\n", replace=number == 0, target=target)
            held = client.count(staged[target])
            if held != len(lines):
                raise CheckFailed(
                    Problem(f"upload to <{target}>: the staging graph holds {held} triples after upload, {len(lines)} were sent")
                )
        # One request, so stores that run an update as one transaction swap all graphs or none.
        verb = "MOVE" if mode == "replace" else "ADD"
        client.update(
            " ;\n".join(f"{verb} <{staged[t]}> TO <{t}>" for t in plan), what=f"{verb} of the staged graphs into place"
        )
        for target, lines in plan.items():
            held = client.count(target) if mode == "replace" else client.count_common(staged[target], target)
            if held != len(lines):
                raise CheckFailed(Problem(f"graph <{target}> holds {held} of the {len(lines)} triples sent"))
        if mode == "append":
            client.update(" ;\n".join(f"DROP SILENT GRAPH <{staged[t]}>" for t in plan), what="drop of the staging graphs")
    except BaseException:
        for staging in staged.values():
            client.drop_quietly(staging)
        raise
    try:
        older_than = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=stale_after)
        removed = _remove_stale_staging(client, list(plan), older_than=older_than)
    finally:
        client.close()
    return LoadReport(graphs=[GraphUpload(t, len(lines)) for t, lines in plan.items()], mode=mode, removed=removed)


def _remove_stale_staging(client: _Client, targets: list[str], *, older_than: datetime.datetime) -> list[str]:
    # Only targets of this load: a staging graph of another target may be another user's business.
    prefixes = " || ".join(f'STRSTARTS(STR(?g), "{_string(t + "-staging-")}")' for t in targets)
    # `GRAPH ?g { ?s ?p ?o }`, not `GRAPH ?g {}`: Virtuoso 7.2 answers the latter with no graphs at all.
    found = client.graph_names(f"SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?s ?p ?o }} FILTER({prefixes}) }}")
    stale = []
    for name in sorted(found):
        for target in targets:
            started = staging_started(target, name)
            if started is not None and started < older_than:
                stale.append(name)
                break
    if stale:
        client.update(" ;\n".join(f"DROP SILENT GRAPH <{g}>" for g in stale), what="removal of stale staging graphs")
        for name in stale:
            client.log(f"removed the stale staging graph <{name}>")
    return stale


class _Client:
    """HTTP with bounded retries and errors that name the request but never the credentials."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.session = requests.Session()
        self.session.trust_env = False  # credentials come from find_credentials, proxies are not wanted on loopback
        self.session.verify = connection.verify
        creds = connection.credentials
        if creds is not None:
            if connection.auth == "digest":
                self.session.auth = requests.auth.HTTPDigestAuth(creds.user, creds.password)
            else:
                self.session.auth = requests.auth.HTTPBasicAuth(creds.user, creds.password)

    def close(self) -> None:
        self.session.close()

    def upload(self, graph: str, body: str, *, replace: bool, target: str) -> None:
        method = "PUT" if replace else "POST"
        self._request(
            method,
            self.connection.endpoints.gsp,
            what=f"upload to <{target}>",
            params={"graph": graph},
            data=body.encode("utf-8"),
            headers={"Content-Type": NTRIPLES},
        )

    def count(self, graph: str) -> int:
        return self._count(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}", graph)

    def count_common(self, staging: str, target: str) -> int:
        query = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{staging}> {{ ?s ?p ?o }} GRAPH <{target}> {{ ?s ?p ?o }} }}"
        return self._count(query, target)

    def graph_names(self, query: str) -> set[str]:
        response = self._request(
            "POST",
            self.connection.endpoints.query,
            what="listing of staging graphs",
            data={"query": query},
            headers={"Accept": "application/sparql-results+json"},
        )
        try:
            return {b["g"]["value"] for b in response.json()["results"]["bindings"] if "g" in b}
        except (ValueError, KeyError, TypeError):
            raise RemoteError(Problem(f"listing of staging graphs: unexpected answer from {_public(response.url)}")) from None

    def _count(self, query: str, graph: str) -> int:
        response = self._request(
            "POST",
            self.connection.endpoints.query,
            what=f"count triples in <{graph}>",
            data={"query": query},
            headers={"Accept": "application/sparql-results+json"},
        )
        try:
            return int(response.json()["results"]["bindings"][0]["n"]["value"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise RemoteError(
                Problem(f"count triples in <{graph}>: unexpected answer from {_public(response.url)}")
            ) from None

    def update(self, update: str, *, what: str) -> None:
        self._request(
            "POST",
            self.connection.endpoints.update,
            what=what,
            data={"update": update},
        )

    def drop_quietly(self, graph: str) -> None:
        try:
            self._request(
                "POST",
                self.connection.endpoints.update,
                what=f"drop <{graph}>",
                data={"update": f"DROP SILENT GRAPH <{graph}>"},
                attempts=1,
            )
        except KgError:
            pass  # the error that made us clean up is the one to report

    def _request(self, method: str, url: str, *, what: str, attempts: int | None = None, **kwargs) -> requests.Response:
        attempts = attempts or 1 + max(0, self.connection.retries)
        failure = ""
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                time.sleep(self.connection.backoff * 2 ** (attempt - 2))
            started = time.monotonic()
            try:
                response = self.session.request(method, url, timeout=self.connection.timeout, **kwargs)
            except requests.exceptions.SSLError as e:
                raise RemoteError(Problem(f"{what}: TLS verification failed for {_public(url)}: {_reason(e)}")) from None
            except requests.exceptions.RequestException as e:
                failure = _reason(e)
                self.log(f"{method} {_public(url)}: {failure} (attempt {attempt}/{attempts})")
                continue
            self.log(
                f"{method} {_public(response.url)}: HTTP {response.status_code} in "
                f"{time.monotonic() - started:.2f}s (attempt {attempt}/{attempts})"
            )
            if response.status_code in (401, 403):
                raise KgError(
                    Problem(f"{what}: {_public(url)} refused the credentials (HTTP {response.status_code}); "
                            f"check --user/--password, {USER_ENV}/{PASSWORD_ENV} or ~/.netrc")
                )
            if response.status_code >= 500:
                failure = f"HTTP {response.status_code}{_snippet(response)}"
                continue
            if response.status_code >= 400:
                raise RemoteError(Problem(f"{what}: {_public(url)} answered HTTP {response.status_code}{_snippet(response)}"))
            return response
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        raise RemoteError(Problem(f"{what}: {_public(url)}: {failure} ({tries})"))

    def log(self, message: str) -> None:
        if self.connection.log:
            self.connection.log(message)


def _string(text: str) -> str:
    """`text` escaped for a SPARQL string literal in double quotes."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _ntriples(triple: pyoxigraph.Triple) -> str:
    return pyoxigraph.serialize([triple], format=pyoxigraph.RdfFormat.N_TRIPLES).decode("utf-8").rstrip("\n")


def _blank_node_groups(lines: list[str]) -> list[list[str]]:
    """Lines grouped so that lines sharing a blank node label are in one group; order kept otherwise."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    labels_of = []
    for line in lines:
        labels = _blank_labels(line)
        labels_of.append(labels)
        for label in labels[1:]:
            parent[find(label)] = find(labels[0])
    groups: dict[str, list[str]] = {}
    ordered: list[list[str]] = []
    for line, labels in zip(lines, labels_of):
        if not labels:
            ordered.append([line])
            continue
        root = find(labels[0])
        if root not in groups:
            groups[root] = []
            ordered.append(groups[root])
        groups[root].append(line)
    return ordered


def _blank_labels(line: str) -> list[str]:
    # A blank node label outside literals and IRIs: N-Triples from oxigraph escapes quotes inside literals,
    # and IRIs cannot contain spaces, so splitting out the quoted parts leaves only terms.
    labels = []
    outside = _strip_literals(line)
    for token in outside.replace("<<(", " ").replace(")>>", " ").split():
        if token.startswith("_:"):
            labels.append(token)
    return labels


def _strip_literals(line: str) -> str:
    result, in_string, escaped = [], False, False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            result.append(" ")
        else:
            result.append(ch)
    return "".join(result)


def _public(url: str) -> str:
    """A URL without user:password@ and without its query string (graph IRIs are named in the message)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _reason(error: requests.exceptions.RequestException) -> str:
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(error, requests.exceptions.ReadTimeout):
        return "no answer before the timeout"
    cause: BaseException | None = error
    for _ in range(10):
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(cause, BrokenPipeError):
            return "connection closed by the server during the upload"
        nested = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = cause.__cause__ or cause.__context__ or nested
    text = str(error)
    if "Connection aborted" in text or "RemoteDisconnected" in text:
        return "connection closed by the server"
    if "refused" in text:
        return "connection refused"
    return "connection failed"


def _snippet(response: requests.Response) -> str:
    text = " ".join(response.text.split())
    for marker in ("<xmp>", "<pre>"):
        if marker in response.text:
            text = " ".join(response.text.split(marker, 1)[1].split("</", 1)[0].split())
    text = text[:200]
    return f": {text}" if text else ""
