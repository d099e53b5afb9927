"""What the whole-corpus consistency check (kg.reason.check_union) reads of one unit: its `Summary`.

Apart from kg.reason, which imports rdflib (a quarter of a second): after an edit of an article's notes its
reasoning is inherited (kg.build._inherit_reasoning) and only its summary is made again, here, on pyoxigraph
terms, given the properties the check's closure rules read (kg.reason.summary_reads, which the build keeps in
the unit cache). kg.reason makes summaries with the same functions, on rdflib terms as well (`Terms`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyoxigraph as ox

from kg.namespaces import OWL, RDF, RDFS, XSD

BUILTIN = (OWL, RDF, RDFS, XSD)
# Built-in properties and types that facts about individuals use: any other built-in makes a unit not plain.
FACT_PREDICATES = frozenset([RDF + "type", RDFS + "label", RDFS + "comment", RDFS + "seeAlso", RDFS + "isDefinedBy",
                             OWL + "sameAs"])
INDIVIDUAL_TYPES = frozenset([OWL + "NamedIndividual", OWL + "Thing"])


@dataclass(frozen=True)
class Summary:
    """What `check_union` reads of one unit, unless a node the unit describes is shared (mentioned by another
    unit or the shared facts): then it reads the unit itself. Small enough to keep with the unit, so a
    build after an edit does not read every unit again."""

    own: frozenset  # the subjects of its asserted facts: the nodes it describes
    mentioned: frozenset  # every node it mentions: subjects, and objects that are neither types nor literals
    plain: bool  # only facts about individuals (no class or property axioms), as `plain` says
    facts: tuple  # (triple, asserted?) for each fact about a node it does not describe, or read by the rules


@dataclass(frozen=True)
class Terms:
    """How the functions here tell one library's terms apart (kg.reason passes pyoxigraph's and rdflib's)."""

    rdf_types: frozenset  # rdf:type, as a term (tested with `in`)
    literals: tuple  # the classes of literals
    iri: Callable[[object], str | None]  # the IRI of a named node; None for any other term


def _named(term) -> str | None:
    return term.value if type(term) is ox.NamedNode else None


OXIGRAPH = Terms(frozenset([ox.NamedNode(RDF + "type")]), (ox.Literal,), _named)


def summarise(asserted: Iterable, inferred: Iterable, read: frozenset, terms: Terms = OXIGRAPH) -> Summary:
    """A unit's Summary from its asserted and inferred triples; `read`: the properties the closure rules read
    (as terms of the triples' kind)."""
    pairs = [(t, True) for t in asserted]
    own = frozenset(t[0] for t, _ in pairs)
    pairs += [(t, False) for t in inferred]
    mentioned, is_plain = mentions([([t for t, _ in pairs], True)], terms)
    facts: dict = {}
    types, literals = terms.rdf_types, terms.literals
    for triple, was_asserted in pairs:
        s, p, o = triple
        if p in read or s not in own or o not in own and p not in types and not isinstance(o, literals):
            facts[triple] = facts.get(triple, False) or was_asserted
    return Summary(own, frozenset(mentioned), is_plain, tuple(facts.items()))


def mentions(parts, terms: Terms = OXIGRAPH) -> tuple[set, bool]:
    """The nodes some parts ((triples, asserted?) pairs) mention (subjects, and objects that are neither types
    nor literals), and whether they hold only facts about individuals."""
    nodes, predicates, types = set(), set(), set()
    rdf_types, literals = terms.rdf_types, terms.literals
    for part, _ in parts:
        part = part if isinstance(part, (list, tuple)) else list(part)
        nodes.update([s for s, p, o in part])
        predicates.update([p for s, p, o in part])
        types.update([o for s, p, o in part if p in rdf_types])
        nodes.update([o for s, p, o in part if p not in rdf_types and not isinstance(o, literals)])
    return nodes, plain(predicates, types, terms)


def plain(predicates: set, types: set, terms: Terms = OXIGRAPH) -> bool:
    """Only facts about individuals: no class or property axioms; types are named classes."""
    for p in predicates:
        iri = terms.iri(p) or ""
        if iri.startswith(BUILTIN) and iri not in FACT_PREDICATES:
            return False
    for o in types:
        iri = terms.iri(o)
        if iri is None or iri.startswith(BUILTIN) and iri not in INDIVIDUAL_TYPES:
            return False
    return True


# --- the same, on N-Quads text (kg build) -------------------------------------------------------------------

OWN_PREDICATE = b"<urn:kg:summary:own>"
MENTIONED_PREDICATE = b"<urn:kg:summary:mentioned>"
_TYPE = f"<{RDF}type>".encode()
_BUILTIN_TEXT = tuple(f"<{b}".encode() for b in BUILTIN)
_FACT_PREDICATES_TEXT = frozenset(f"<{p}>".encode() for p in FACT_PREDICATES)
_INDIVIDUAL_TYPES_TEXT = frozenset(f"<{t}>".encode() for t in INDIVIDUAL_TYPES)


def summary_documents(asserted: bytes, asserted_graph: str, inferred: bytes, inferred_graph: str,
                      read: frozenset[str]) -> tuple[bytes, bytes, bytes, bytes, bool] | None:
    """A unit's Summary (as `summarise` makes it), written as kg.build packs it: its asserted facts, its
    inferred facts, the nodes it describes and those it mentions as N-Triples documents of sorted lines, and
    whether it is plain. Made from the unit's N-Quads as kg writes them (each line one quad in the graph
    given, terms as pyoxigraph writes them: one text per term) by cutting lines, not by making a Python object
    per term: 0.5 ms instead of 1.8 ms per synthetic article, 10,000 of them in a build. None when some line
    is not such a quad (the caller then summarises terms)."""
    rows = []
    for nquads, graph, was_asserted in ((asserted, asserted_graph, True), (inferred, inferred_graph, False)):
        suffix = f" <{graph}> .".encode()
        cut = -len(suffix)
        for line in nquads.splitlines():
            if not line.endswith(suffix):
                return None
            body = line[:cut]
            i = body.find(b" ")
            j = body.find(b" ", i + 1)
            s, p, o = body[:i], body[i + 1:j], body[j + 1:]
            if i < 0 or j < 0 or s[:2] == b"<<" or o[:2] == b"<<" or p[:1] != b"<":  # (quoted triples: RDF 1.2)
                return None
            rows.append((s, p, o, was_asserted))
    own = {s for s, _, _, was_asserted in rows if was_asserted}
    mentioned = {s for s, _, _, _ in rows}
    mentioned.update([o for _, p, o, _ in rows if p != _TYPE and o[:1] != b'"'])
    is_plain = all(not p.startswith(_BUILTIN_TEXT) or p in _FACT_PREDICATES_TEXT for p in {p for _, p, _, _ in rows})
    is_plain = is_plain and all(o[:1] == b"<" and (not o.startswith(_BUILTIN_TEXT) or o in _INDIVIDUAL_TYPES_TEXT)
                                for o in {o for _, p, o, _ in rows if p == _TYPE})
    read_text = {f"<{iri}>".encode() for iri in read}
    facts: dict = {}
    for s, p, o, was_asserted in rows:
        if p in read_text or s not in own or o not in own and p != _TYPE and o[:1] != b'"':
            key = b"%s %s %s .\n" % (s, p, o)
            facts[key] = facts.get(key, False) or was_asserted
    return (b"".join(sorted(line for line, was_asserted in facts.items() if was_asserted)),
            b"".join(sorted(line for line, was_asserted in facts.items() if not was_asserted)),
            b"".join(sorted(b"%s %s %s .\n" % (node, OWN_PREDICATE, OWN_PREDICATE) for node in own)),
            b"".join(sorted(b"%s %s %s .\n" % (node, MENTIONED_PREDICATE, MENTIONED_PREDICATE) for node in mentioned)),
            is_plain)
