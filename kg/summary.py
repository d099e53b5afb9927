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
