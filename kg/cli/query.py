"""`kg query`, `kg load`, `kg serve`: options in, one library call, output out."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kg.cli.common import project_option, reports_errors

OUT_OPTION = click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
    help="The build's output folder to read kg.nq from (default: out/ of the project).",
)


@click.command()
@click.argument("query_name", metavar="QUERY", required=False)
@click.option("--list", "list_only", is_flag=True, help="List the canned queries with their questions and exit.")
@click.option(
    "--format", "-f", "format_", metavar="FORMAT",
    help="SELECT/ASK: table, csv, tsv or json (SPARQL 1.1 Query Results JSON). "
    "CONSTRUCT/DESCRIBE: ttl, nt, nq, trig or jsonld. "
    "Default: table on a terminal, else tsv (SELECT/ASK) or ttl (CONSTRUCT/DESCRIBE).",
)
@click.option(
    "--graph", "graphs", metavar="IRI", multiple=True,
    help="Use this named graph as the default graph (repeat to merge several). "
    "Default: the union of all graphs.",
)
@click.option(
    "--queries", "queries_dir", type=click.Path(file_okay=False, path_type=Path),
    help="Folder of canned queries, NAME.rq (default: queries/ of the project).",
)
@project_option
@OUT_OPTION
@reports_errors
def query(query_name, list_only, format_, graphs, queries_dir, project, out_dir):
    """Run a SPARQL query on the built graph (embedded store, no server needed).

    QUERY is the name of a canned query in queries/ (see --list), the path of a
    .rq file, or - to read the query from stdin. Syntax errors are reported as
    FILE:LINE:COL. Exit codes: 0 answered, 2 bad query or options, 3 internal error.

    \b
    Examples:
      kg query --list
      kg query meetings
      kg query my.rq --format json
      echo 'ASK { ?s ?p ?o }' | kg query -
    """
    from kg import query as q
    from kg.store import open_store

    out_dir = out_dir or project / "out"
    queries_dir = queries_dir or project / "queries"

    if list_only:
        for canned in q.list_queries(queries_dir):
            click.echo(f"{canned.name}\t{canned.question}")
        return
    if not query_name:
        raise click.UsageError("missing QUERY (a canned query name, a .rq file or -); see --list")
    if query_name == "-":
        text = q.QueryText(text=sys.stdin.read(), source="<stdin>")
    else:
        text = q.read_query(query_name, queries_dir=queries_dir)
    result = q.run_query(open_store(out_dir), text, graphs=list(graphs))
    terminal = sys.stdout.isatty()
    if q.is_graph_result(result):
        rendered = q.render_graph(result, format=format_ or "ttl", context=_context(project))
    else:
        rendered = q.render_answer(result, format=format_ or ("table" if terminal else "tsv"))
    sys.stdout.buffer.write(rendered)


def _context(project: Path) -> dict | None:
    from kg.build import CONTEXT_FILE
    from kg.export import read_context

    path = project / CONTEXT_FILE
    return read_context(path) if path.is_file() else None


@click.command()
@click.argument("endpoint")
@click.option(
    "--store", "preset", type=click.Choice(["oxigraph", "fuseki", "graphdb", "virtuoso", "generic"]),
    default="generic", show_default=True,
    help="Endpoint layout. ENDPOINT is the server root for oxigraph and virtuoso "
    "(http://host:7878, http://host:8890), the dataset URL for fuseki (http://host:3030/DATASET), "
    "the repository URL for graphdb (http://host:7200/repositories/REPO), and for generic the one URL "
    "that serves the Graph Store Protocol, queries and updates (or set --gsp-url/--query-url/--update-url).",
)
@click.option("--graph", metavar="IRI", help="Load everything into this one graph (default: one graph per named graph of out/kg.nq).")
@click.option("--replace/--append", default=True, show_default=True,
              help="Replace each target graph, or add to it. Both go through a staging graph and one SPARQL Update, "
              "so a failure leaves every target graph as it was.")
@click.option("--user", help="User name (default: $KG_LOAD_USER, else ~/.netrc for the host).")
@click.option("--password", help="Password (default: $KG_LOAD_PASSWORD, else ~/.netrc). Never printed.")
@click.option("--auth", type=click.Choice(["basic", "digest"]), help="HTTP authentication scheme (default: the store's; digest for virtuoso).")
@click.option("--gsp-url", metavar="URL", help="Graph Store Protocol URL, overriding the preset.")
@click.option("--query-url", metavar="URL", help="SPARQL query URL, overriding the preset.")
@click.option("--update-url", metavar="URL", help="SPARQL update URL, overriding the preset.")
@click.option("--ca-bundle", type=click.Path(dir_okay=False, exists=True), help="CA certificates to verify TLS with (verification is always on).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True, help="Seconds to wait for each answer.")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Retries on connection errors, timeouts and HTTP 5xx, with exponential backoff.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=50_000, show_default=True, help="Triples per request.")
@project_option
@OUT_OPTION
@reports_errors
def load(endpoint, preset, graph, replace, user, password, auth, gsp_url, query_url, update_url, ca_bundle,
         timeout, retries, chunk_size, project, out_dir, debug):
    """Upload the built graph to a SPARQL 1.1 Graph Store.

    Each named graph of out/kg.nq (one per article, the registry, and their
    /inferred graphs) goes into the graph of the same name, as N-Triples. After
    loading, the triples in every target graph are counted; a difference from
    what was sent fails the load. Exit codes: 0 loaded and verified, 1 the store
    failed, could not be reached or the counts differ, 2 bad options, input or
    credentials.

    \b
    Examples:
      kg load http://127.0.0.1:7878 --store oxigraph
      kg load http://127.0.0.1:3030/kg --store fuseki --user admin
      kg load http://127.0.0.1:8890 --store virtuoso --user dba
    """
    from kg import load as loader

    out_dir = out_dir or project / "out"

    layout = loader.PRESETS[preset]
    urls = loader.endpoints(endpoint, layout)
    urls = loader.Endpoints(gsp=gsp_url or urls.gsp, query=query_url or urls.query, update=update_url or urls.update)
    connection = loader.Connection(
        endpoints=urls,
        auth=auth or layout.auth,
        credentials=loader.find_credentials(endpoint, user=user, password=password),
        timeout=timeout,
        retries=retries,
        verify=ca_bundle or True,
        log=(lambda line: click.echo(line, err=True)) if debug else None,
    )
    report = loader.load(out_dir, connection, graph=graph, mode="replace" if replace else "append", chunk_size=chunk_size)
    for upload in report.graphs:
        click.echo(f"{upload.triples:>8} triples  <{upload.target}>")
    total = sum(u.triples for u in report.graphs)
    verb = "replaced" if report.mode == "replace" else "added to"
    click.echo(f"{total} triples in {len(report.graphs)} graphs {verb} and verified")
    for staging in report.removed:
        click.echo(f"removed a stale staging graph left by an interrupted load: <{staging}>")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0 exposes it to the network).")
@click.option("--port", type=click.IntRange(1, 65535), default=7878, show_default=True)
@project_option
@OUT_OPTION
@reports_errors
def serve(host, port, project, out_dir):
    """Serve the built graph as a read-only SPARQL 1.1 Protocol endpoint.

    Runs Oxigraph's server on a snapshot of the embedded store, with the union
    of all named graphs as the default graph. Prints the query endpoint URL and
    serves until Ctrl-C.

    \b
    Example:
      kg serve --port 7878
      curl -H 'Accept: text/csv' --data-urlencode 'query=SELECT * { ?s ?p ?o } LIMIT 3' http://127.0.0.1:7878/query
    """
    from kg.serve import ServeError, serving
    from kg.errors import Problem

    import signal

    out_dir = out_dir or project / "out"

    def stop(signum, frame):  # noqa: ARG001 - a signal handler's arguments
        raise KeyboardInterrupt

    # `kill` (SIGTERM) stops it like Ctrl-C: the Oxigraph server is stopped and its snapshot removed, not
    # left running without us. (Ctrl-C is Python's own KeyboardInterrupt, unless this process was started
    # with SIGINT ignored, as a shell script's background job is.)
    # A stop at any moment is a clean one, also just after the URL is printed, before the wait begins (a
    # loaded machine showed that gap: click's "Aborted!", exit 1).
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with serving(out_dir, host=host, port=port) as server:
            click.echo(f"SPARQL endpoint: {server.query_url}  (Ctrl-C stops it)", err=False)
            sys.stdout.flush()
            code = server.process.wait()
            raise ServeError(Problem(f"the Oxigraph server stopped unexpectedly (exit code {code})"))
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGTERM, previous)
