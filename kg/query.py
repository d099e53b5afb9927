"""Running SPARQL on the embedded store and rendering the answers.

SELECT and ASK answers render as an aligned table (for people), csv, tsv or json (SPARQL 1.1 Query Results
JSON); CONSTRUCT and DESCRIBE answers as RDF in one of the export formats.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph

from kg.errors import KgError, Problem
from kg.namespaces import PREFIXES, prefixed

RESULT_FORMATS = ("table", "csv", "tsv", "json")

# Format name -> pyoxigraph format. Same names as `kg export`.
_RESULTS_FORMATS = {
    "csv": pyoxigraph.QueryResultsFormat.CSV,
    "tsv": pyoxigraph.QueryResultsFormat.TSV,
    "json": pyoxigraph.QueryResultsFormat.JSON,
}

_POSITION = re.compile(r"^error at (\d+):(\d+): ")
_QUESTION = re.compile(r"^#\s*Question:\s*(.+?)\s*$")


@dataclass(frozen=True)
class QueryText:
    """A query and where it came from (a file path, or `<stdin>`), for error messages."""

    text: str
    source: str


@dataclass(frozen=True)
class CannedQuery:
    name: str
    path: Path
    question: str


def list_queries(queries_dir: Path) -> list[CannedQuery]:
    """The canned queries in `queries_dir`, sorted by name, each with the question its first line asks."""
    found = []
    for path in sorted(Path(queries_dir).glob("*.rq")):
        question = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            match = _QUESTION.match(line)
            if match:
                question = match.group(1)
                break
        found.append(CannedQuery(name=path.stem, path=path, question=question))
    return found


def read_query(query: str, *, queries_dir: Path) -> QueryText:
    """Resolve QUERY: a canned query name from `queries_dir`, or the path of a .rq file."""
    canned = Path(queries_dir) / f"{query}.rq"
    path = Path(query)
    if "/" not in query and not query.endswith(".rq") and canned.is_file():
        path = canned
    elif not path.is_file():
        names = ", ".join(q.name for q in list_queries(queries_dir)) or "none"
        raise KgError(Problem(f"no query file or canned query named {query!r} (canned queries: {names})"))
    return QueryText(text=path.read_text(encoding="utf-8"), source=str(path))


def run_query(
    store: pyoxigraph.Store, query: QueryText, *, graphs: list[str] | None = None
) -> pyoxigraph.QuerySolutions | pyoxigraph.QueryBoolean | pyoxigraph.QueryTriples:
    """Run a query. The default graph is the union of all graphs, or the merge of `graphs` when given."""
    if graphs:
        options = {"default_graph": [pyoxigraph.NamedNode(g) for g in graphs]}
    else:
        options = {"use_default_graph_as_union": True}
    try:
        return store.query(query.text, **options)
    except SyntaxError as e:
        raise KgError(syntax_problem(e, query.source)) from None
    except ValueError as e:
        raise KgError(Problem(f"--graph: {e}")) from None


def syntax_problem(error: SyntaxError, source: str) -> Problem:
    """oxigraph's query SyntaxError as `source:line:col: error: …` (its message starts `error at L:C: `)."""
    message = str(error)
    match = _POSITION.match(message)
    if match:
        return Problem(
            message[match.end() :], path=source, line=int(match.group(1)), column=int(match.group(2))
        )
    return Problem(message, path=source)


def is_graph_result(result: object) -> bool:
    return isinstance(result, pyoxigraph.QueryTriples)


def render_answer(result: pyoxigraph.QuerySolutions | pyoxigraph.QueryBoolean, *, format: str) -> bytes:
    """A SELECT or ASK answer as table, csv, tsv or json."""
    if format == "table":
        return render_table(result).encode("utf-8")
    if format not in _RESULTS_FORMATS:
        raise KgError(Problem(f"--format {format} is for CONSTRUCT/DESCRIBE; use one of {', '.join(RESULT_FORMATS)}"))
    rendered = result.serialize(format=_RESULTS_FORMATS[format])
    return rendered if rendered.endswith(b"\n") else rendered + b"\n"


def render_graph(result: pyoxigraph.QueryTriples, *, format: str, context: dict | None = None) -> bytes:
    """A CONSTRUCT or DESCRIBE answer in one of kg's RDF formats, written by kg.export (sorted, stable)."""
    from kg.export import FORMATS, serialize

    if format not in FORMATS:
        raise KgError(Problem(f"--format {format} is for SELECT/ASK; use one of {', '.join(FORMATS)}"))
    return serialize((pyoxigraph.Quad(t.subject, t.predicate, t.object) for t in result), format, context=context)


def render_table(result: pyoxigraph.QuerySolutions | pyoxigraph.QueryBoolean) -> str:
    """An aligned text table with prefixed names, for people; the last line counts the rows."""
    if isinstance(result, pyoxigraph.QueryBoolean):
        return ("true" if bool(result) else "false") + "\n"
    header = [str(v)[1:] for v in result.variables]
    rows = [[compact(solution[v]) for v in result.variables] for solution in result]
    widths = [max([_width(h)] + [_width(row[i]) for row in rows]) for i, h in enumerate(header)]
    lines = [_line(header, widths), _line(["-" * w for w in widths], widths)]
    lines += [_line(row, widths) for row in rows]
    lines.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(lines) + "\n"


def compact(term: object) -> str:
    """A term as a person reads it: prefixed name, literal value (with @lang), `_:id`; empty when unbound."""
    if term is None:
        return ""
    if isinstance(term, pyoxigraph.NamedNode):
        return prefixed(term.value, PREFIXES) or f"<{term.value}>"
    if isinstance(term, pyoxigraph.Literal):
        text = " ".join(term.value.split())
        return f"{text}@{term.language}" if term.language else text
    if isinstance(term, pyoxigraph.BlankNode):
        return f"_:{term.value}"
    return str(term)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths)).rstrip()
