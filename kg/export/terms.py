"""RDF terms as the writers handle them: their N-Triples text, as pyoxigraph writes it.

`<iri>`, `_:label` or a literal `"lexical"`, `"lexical"@lang`, `"lexical"^^<datatype>` (xsd:string is never
written). Working on text makes every writer a string transformation of what N-Quads already holds, and a
rendered piece of output a pure function of text.
"""

from __future__ import annotations

import re

from kg.namespaces import PREFIXES, RDF, RDFS, prefixed

RDF_TYPE = f"<{RDF}type>"
RDFS_LABEL = f"<{RDFS}label>"
RDF_FIRST = f"<{RDF}first>"
RDF_REST = f"<{RDF}rest>"
RDF_NIL = f"<{RDF}nil>"
DEFAULT_GRAPH = "DEFAULT"  # str(pyoxigraph.DefaultGraph()): the default graph's sort key, as before

# Each of kg's prefixes is one bit of a mask: the prefixes a piece of Turtle uses, combined by `|`.
PREFIX_BITS = {name: 1 << i for i, name in enumerate(PREFIXES)}

_TURTLE: dict[str, tuple[str, int]] = {}  # "<iri>" -> (as Turtle writes it, prefix bit)


def turtle_iri(iri: str) -> tuple[str, int]:
    """`<iri>` as Turtle writes it: a prefixed name when one of kg's prefixes fits. And that prefix's bit."""
    hit = _TURTLE.get(iri)
    if hit is None:
        name = prefixed(iri[1:-1], PREFIXES)
        hit = (iri, 0) if name is None else (name, PREFIX_BITS[name.split(":", 1)[0]])
        if len(_TURTLE) > 200_000:
            _TURTLE.clear()
        _TURTLE[iri] = hit
    return hit


def turtle_term(term: str) -> tuple[str, int]:
    """A term as Turtle writes it (prefixed names, literals as in N-Triples but for a prefixed datatype)."""
    first = term[0]
    if first == "<":
        return turtle_iri(term)
    if first == '"' and term[-1] == ">":
        at = term.rindex("^^<")
        datatype, bit = turtle_iri(term[at + 2:])
        return f"{term[:at]}^^{datatype}", bit
    return term, 0


def expand_turtle(name: str) -> str:
    """The N-Triples form of a term `turtle_term` wrote (a subject: never a literal)."""
    if name[0] in "<_":
        return name
    prefix, local = name.split(":", 1)
    return f"<{PREFIXES[prefix]}{local}>"


def prefix_block(mask: int) -> str:
    return "".join(f"@prefix {p}: <{iri}> .\n" for p, iri in PREFIXES.items() if mask & PREFIX_BITS[p])


_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))", re.S)
_ESCAPED = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _unescape(match: re.Match) -> str:
    short, long, char = match.groups()
    if char is not None:
        return _ESCAPED[char]
    return chr(int(short or long, 16))


def literal(term: str) -> tuple[str, str | None, str | None]:
    """(lexical form, language or None, datatype IRI or None) of a literal's N-Triples text;
    datatype None for xsd:string and language-tagged strings."""
    end = term.rindex('"')
    lexical = term[1:end]
    if "\\" in lexical:
        lexical = _ESCAPE.sub(_unescape, lexical)
    suffix = term[end + 1:]
    if not suffix:
        return lexical, None, None
    if suffix[0] == "@":
        return lexical, suffix[1:], None
    return lexical, None, suffix[3:-1]

