"""Running SPARQL on the embedded store and rendering the answers.

SELECT and ASK answers render as an aligned table (for people), csv, tsv or json (SPARQL 1.1 Query Results
JSON); CONSTRUCT and DESCRIBE answers as RDF in one of the export formats. A SELECT's ORDER BY of plain
variables is done here when its terms allow (`_sorted_here`): oxigraph's own sort is slow on large answers.
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
        answer = _sorted_here(store, query.text, options)
        return answer if answer is not None else store.query(query.text, **options)
    except SyntaxError as e:
        raise KgError(syntax_problem(e, query.source)) from None
    except ValueError as e:
        raise KgError(Problem(f"--graph: {e}")) from None


# ORDER BY, done here when that is safe. oxigraph (0.5) sorts with an unstable sort whose every comparison
# decodes both terms from the store again: at 10,000 articles `kg query events-by-plover` took 3.6 s, of which
# the query without ORDER BY 0.9 s and Python's sort of its 52,000 rows 0.2 s. So a SELECT whose outermost
# query ends in ORDER BY plain variables (ASC/DESC), then perhaps LIMIT/OFFSET, is run without them and sorted
# here with oxigraph's own order (spareval's `cmp_terms`: unbound < blank node < IRI < literal; blank nodes
# and IRIs by their string; simple and language-tagged literals by (value, datatype, language); integers by
# value). When a key column holds any other term (a date, a decimal, a typed literal, integers beside
# strings) the query is run again as written: the first run, without ORDER BY, is lost (a fraction of the
# sorted run's time). Rows equal on every key may come in another order than oxigraph's
# (whose sort is unstable anyway: any order of them is the answer).
_ORDER = re.compile(
    r"\s*ORDER\s+BY(?P<keys>(?:\s*(?:(?:ASC|DESC)\s*\(\s*[?$]\w+\s*\)|[?$]\w+))+)"
    r"(?P<slice>(?:\s+(?:LIMIT|OFFSET)\s+\d+){0,2})\s*",
    re.IGNORECASE,
)
_KEY = re.compile(r"(ASC|DESC)?\s*\(?\s*[?$](\w+)", re.IGNORECASE)
_SLICE = re.compile(r"(LIMIT|OFFSET)\s+(\d+)", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_TSV_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "\\": "\\"}
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


def _sorted_here(store: pyoxigraph.Store, text: str, options: dict) -> pyoxigraph.QuerySolutions | None:
    """The answer of `text` sorted here (see above), or None when it is not a query this can sort."""
    end = text.rfind("}")
    tail = re.sub(r"#[^\n]*", "", text[end + 1 :])
    match = _ORDER.fullmatch(tail) if end >= 0 else None
    if match is None:
        return None
    keys = [(name, (direction or "").upper() == "DESC") for direction, name in _KEY.findall(match["keys"])]
    found = _SLICE.findall(match["slice"])
    slices = {word.upper(): int(number) for word, number in found}
    if len(slices) < len(found):
        return None  # LIMIT or OFFSET twice: oxigraph says what is wrong
    result = store.query(text[: end + 1], **options)
    if not isinstance(result, pyoxigraph.QuerySolutions):
        return None
    names = [v.value for v in result.variables]
    if any(name not in names for name, _ in keys):
        return None  # ordered by what is not projected
    header, _, body = result.serialize(format=pyoxigraph.QueryResultsFormat.TSV).decode("utf-8").partition("\n")
    rows = [line.split("\t") for line in body.split("\n")[:-1]]
    for name, descending in reversed(keys):  # stable sorts, the last key first
        column = names.index(name)
        order = _sort_keys([row[column] for row in rows])
        if order is None:
            return None
        rows = [row for _, row in sorted(zip(order, rows), key=lambda pair: pair[0], reverse=descending)]
    start = slices.get("OFFSET", 0)
    rows = rows[start : None if "LIMIT" not in slices else start + slices["LIMIT"]]
    tsv = "".join("\t".join(row) + "\n" for row in rows)
    return pyoxigraph.parse_query_results(f"{header}\n{tsv}".encode("utf-8"), format=pyoxigraph.QueryResultsFormat.TSV)


def _sort_keys(fields: list[str]) -> list[tuple] | None:
    """Each TSV field's place in oxigraph's order, or None when the column holds a term not handled here."""
    keys = []
    kinds = set()  # of the literals: "string" (simple or language-tagged) or "integer"
    for field in fields:
        if not field:
            keys.append((0,))
        elif field.startswith("_:"):
            keys.append((1, field[2:]))
        elif field.startswith("<"):
            keys.append((2, field[1:-1]))
        elif field.startswith('"'):
            close = field.rfind('"')
            rest = field[close + 1 :]
            if rest and not rest.startswith("@") or "--" in rest:
                return None  # a typed literal, or one with a base direction
            value = field[1:close]
            if "\\" in value:
                value = _unescape(value)
                if value is None:
                    return None
            datatype = _LANG_STRING if rest else _XSD_STRING
            keys.append((3, value, datatype, rest[1:]))
            kinds.add("string")
        elif _INTEGER.fullmatch(field) and abs(int(field)) < 1 << 63:  # oxigraph's xsd:integer is 64 bits
            keys.append((3, int(field)))
            kinds.add("integer")
        else:
            return None  # a decimal, double or boolean
    return keys if len(kinds) < 2 else None


def _unescape(value: str) -> str | None:
    """A TSV string's value (oxigraph escapes tab, newline, carriage return, quote and backslash)."""
    parts, index = [], 0
    while (slash := value.find("\\", index)) >= 0:
        character = _TSV_ESCAPES.get(value[slash + 1 : slash + 2])
        if character is None:
            return None
        parts += [value[index:slash], character]
        index = slash + 2
    return "".join(parts) + value[index:]


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
