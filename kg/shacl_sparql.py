"""SHACL validation compiled to SPARQL and run by pyoxigraph, with pyshacl's results.

pyshacl evaluates every constraint one focus node at a time through rdflib; at 10,000 articles that takes
many minutes. Here the shapes graph is compiled once (`compile_shapes`) into constraint objects that each
ask pyoxigraph one or a few SPARQL queries returning the violations of *all* focus nodes at once, and the
results are rebuilt the way pyshacl 0.40 builds them (with `inference="none", advanced=True,
allow_warnings=True, allow_infos=True`, as kg.validate calls it): same focus nodes, values, paths,
components, source shapes, source constraints, severities, messages (sh:message, {$var}/{?var}
substitution, pyshacl's generic messages), sh:detail results of sh:node, and a report graph (`Outcome.report`,
rdflib) isomorphic to pyshacl's.

Usage: `store = new_store(data_and_ontology_triples)` (or `add`/`remove` on a kept store), then
`compile_shapes(shapes).run(store, focus=None)`. The data graph is the store's default graph (DATA) plus one
of two views of the literals a pyoxigraph Store would change (see "The store" below); the ontology must be in it,
as kg.validate puts it there (rdfs:subClassOf for sh:class and targets, the code lists for sh:in/sh:class).
`focus` restricts the results to those whose top-level focus node is one of the given IRIs: pyshacl's
results on the whole graph, restricted to them (an article's nodes after an edit).

What is compiled (anything else raises `Unsupported` at compile time, so the caller can fall back to pyshacl):
targets sh:targetClass (rdfs:subClassOf*), sh:targetNode, sh:targetSubjectsOf, sh:targetObjectsOf, implicit
class targets and sh:target SPARQL targets (graph patterns with (NOT) EXISTS, no literals or expressions);
paths: IRIs, sh:inversePath of an IRI, sequences and alternatives of those; components sh:class, sh:datatype,
sh:nodeKind, sh:minCount, sh:maxCount, sh:in, sh:hasValue, sh:minLength, sh:maxLength, sh:languageIn,
sh:lessThan, sh:node, sh:or, sh:property, sh:qualifiedValueShape (not disjoint) and sh:sparql (SELECT,
sh:prefixes/sh:declare, $this, $PATH); sh:message, sh:severity (not on shapes nested in sh:node, sh:or or
sh:qualifiedValueShape), sh:deactivated. Not compiled: sh:and, sh:not, sh:xone, sh:pattern, sh:uniqueLang,
sh:equals, sh:disjoint, sh:lessThanOrEquals, the value ranges, sh:closed, sh:ask, custom constraint
components, SHACL rules and functions, zero/one-or-more paths, recursive shapes.

How a constraint runs: a focus pattern (the targets as a SPARQL sub-SELECT binding ?this, optionally
restricted by VALUES) is joined with the constraint's test. Where pyshacl's answer depends on rdflib's
reading of a literal (sh:datatype's well-formedness test, sh:lessThan's comparison), SPARQL narrows the
candidates (distinct literals, pairs it cannot certify) and pyshacl's own test decides them in Python. A
nested shape (sh:node, sh:or, sh:qualifiedValueShape) is a SPARQL condition when its constraints are, and is
otherwise validated on the value nodes, its results deciding. A SPARQL constraint's query gets the focus
pattern inserted at the head of its WHERE group, which equals pre-binding $this whenever every use of $this
is in a scope where that pattern binds it; `_sparql_plan` checks this on rdflib's algebra of the query and
otherwise runs the query once per focus node with pyoxigraph's `substitutions` (pre-binding, SEP-0007).
pyoxigraph does not plan the joins inside an EXISTS pattern (a chain of patterns there scans the data for
every solution tested), so `_lateral_exists` turns such EXISTS into planned LATERAL sub-SELECTs where that
is the same thing.

The store: a pyoxigraph Store normalises some literals ("84"^^xsd:nonNegativeInteger is stored and read as
"84"^^xsd:integer, "PT24H"^^xsd:duration as "P1D"; oxigraph issue #526); pyshacl sees them as written.
The core constraints read an escaped copy of such literals and get them as written; SPARQL constraints and
targets read them as pyoxigraph does.

Known differences from pyshacl, all outside what kg's shapes and data do:
- A SPARQL constraint is evaluated by pyoxigraph, not rdflib. They differ on literals that are not in their
  canonical form or of a derived numeric type (pyoxigraph: DATATYPE("84"^^xsd:nonNegativeInteger) is
  xsd:integer, STR("01"^^xsd:integer) is "1", and a value the query returns comes back that way) and on
  ill-typed literals ("x"^^xsd:integer > 90 is true in rdflib, an error in pyoxigraph).
- Where pyshacl lists the members of a set in a message (several sh:message values; the generic messages of
  sh:in, sh:hasValue, sh:lessThan and qualified shapes), the order follows Python set order as pyshacl's
  does, but is not guaranteed to be the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import chain
from typing import Iterable

import pyoxigraph as ox

SH = "http://www.w3.org/ns/shacl#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
OWL = "http://www.w3.org/2002/07/owl#"

RDF_TYPE = RDF + "type"
RDF_FIRST, RDF_REST, RDF_NIL = RDF + "first", RDF + "rest", RDF + "nil"
SUBCLASS = RDFS + "subClassOf"
VIOLATION, WARNING, INFO = SH + "Violation", SH + "Warning", SH + "Info"
_ALLOWED = {WARNING, INFO}  # allow_warnings=True, allow_infos=True: these severities do not fail conformance

_INSTANCE_OF = f"<{RDF_TYPE}>/<{SUBCLASS}>*"


class Unsupported(ValueError):
    """The shapes use a SHACL feature this compiler does not compile (or pyshacl would reject them)."""


class ShaclRuntimeError(RuntimeError):
    """Validation cannot proceed where pyshacl would also fail (e.g. sh:lessThan on a blank node)."""


# ---------------------------------------------------------------------------------------------------------
# The store: literals as written
#
# A pyoxigraph Store normalises some literals when it stores them ("84"^^xsd:nonNegativeInteger comes back
# as "84"^^xsd:integer, "PT24H"^^xsd:duration as "P1D"; oxigraph issue #526), and its SPARQL engine reads
# such literals by value. pyshacl sees them as written. So the validation store keeps three graphs: DATA
# holds every triple whose object survives the store unchanged; a triple whose literal would change is
# kept twice, escaped in EXACT ("84"^^<ESCAPED + xsd:nonNegativeInteger>, which oxigraph stores verbatim)
# and as is in VALUE. Core constraints read DATA + EXACT and unescape what they return; SPARQL constraints
# and SPARQL targets read DATA + VALUE, so their arithmetic and comparisons work as in any oxigraph query.
# DATA is the store's default graph, which oxigraph keeps in three indexes rather than a named graph's six:
# at 10,000 articles the on-disk store loads with 27 s of CPU instead of 45 s and compacts in 2.3 s instead of
# 5.2 s, and queries it as quickly.

ESCAPED = "urn:kg:shacl-sparql:datatype:"
DATA = ox.DefaultGraph()
EXACT = ox.NamedNode("urn:kg:shacl-sparql:exact")
VALUE = ox.NamedNode("urn:kg:shacl-sparql:value")
_VIEWS = {"exact": [DATA, EXACT], "value": [DATA, VALUE]}
_LOSSY: dict = {}  # literal -> whether a Store changes it (cache)
_PROBE = ox.NamedNode("urn:kg:shacl-sparql:probe")


def _lossy(literals) -> set:
    """The literals (of `literals`) that a pyoxigraph Store would not give back as written."""
    literals = list(literals)
    unknown = [x for x in dict.fromkeys(literals) if x not in _LOSSY]
    typed = [x for x in unknown if not x.language and x.datatype.value != XSD + "string"]
    for x in unknown:
        _LOSSY[x] = False
    if typed:
        scratch = ox.Store()
        scratch.extend(ox.Quad(ox.NamedNode(f"urn:kg:i:{i}"), _PROBE, x) for i, x in enumerate(typed))
        kept = {q.subject.value: q.object for q in scratch.quads_for_pattern(None, _PROBE, None)}
        for i, x in enumerate(typed):
            back = kept.get(f"urn:kg:i:{i}")
            _LOSSY[x] = back is None or back.value != x.value or back.datatype != x.datatype
    return {x for x in literals if _LOSSY[x]}


def _is_lossy(literal) -> bool:
    if literal not in _LOSSY:
        _lossy([literal])
    return _LOSSY[literal]


def _escape(literal: ox.Literal) -> ox.Literal:
    return ox.Literal(literal.value, datatype=ox.NamedNode(ESCAPED + literal.datatype.value))


def _unescape(term):
    if isinstance(term, ox.Literal) and not term.language and term.datatype.value.startswith(ESCAPED):
        return ox.Literal(term.value, datatype=ox.NamedNode(term.datatype.value[len(ESCAPED):]))
    return term


def _split(triples):
    """The quads of a validation store for `triples` (a generator: no second copy of a large graph)."""
    literal = ox.Literal
    triples = triples if isinstance(triples, list) else list(triples)
    lossy = _lossy({t.object for t in triples if type(t.object) is literal})
    for t in triples:
        o = t.object
        if type(o) is literal and o in lossy:
            yield ox.Quad(t.subject, t.predicate, _escape(o), EXACT)
            yield ox.Quad(t.subject, t.predicate, o, VALUE)
        else:
            yield ox.Quad(t.subject, t.predicate, o, DATA)


def new_store(triples: Iterable[ox.Triple] = (), path: str | None = None, *,
              graphs: Iterable[tuple[bytes, str]] = ()) -> ox.Store:
    """A validation store (in memory, or on disk at `path`) holding `triples` and the triples of every one
    of `graphs`: the data graph that `Compiled.run` validates. It must hold the ontology too (rdfs:subClassOf,
    code lists). `graphs` are (N-Quads of one named graph, its IRI), an article's graph say, as kg writes them
    (one quad per line): split into the store's graphs as text, not as a Python object per triple (4.2 s
    against 6.8 s for 2,000 articles), and bulk-loaded in large chunks as they come, never all held in memory."""
    store = ox.Store(path) if path else ox.Store()
    store.bulk_extend(_split(triples))
    parts: tuple[list[bytes], list[bytes], list[bytes]] = ([], [], [])
    size = 0
    for nquads, graph in chain(graphs, [(None, None)]):
        if nquads is not None:
            split = _split_nquads(nquads, graph)
            if split is None:  # not one quad per line in `graph`: as objects
                store.bulk_extend(_split(q.triple for q in ox.parse(nquads, format=ox.RdfFormat.N_QUADS)))
                continue
            for part, text in zip(parts, split):
                part.append(text)
            size += len(nquads)
        if size > _CHUNK or (nquads is None and size):
            for part, name in zip(parts, (DATA, EXACT, VALUE)):
                store.bulk_load(b"".join(part), format=ox.RdfFormat.N_TRIPLES, to_graph=name)
                part.clear()
            size = 0
    return store


_CHUNK = 64 << 20  # bytes of N-Quads that `new_store` loads at once
_TYPED = re.compile(rb'"\^\^<([^>]*)>$')


def _split_nquads(nquads: bytes, graph: str) -> tuple[bytes, bytes, bytes] | None:
    """N-Triples of the DATA, EXACT and VALUE graphs (see `_split`) of the N-Quads `nquads`, every line of
    which is one quad in `graph`; None when a line is not, or when a blank node may occur (a store names those
    anew when it parses text, and they must keep the names they have elsewhere)."""
    if b"_:" in nquads:
        return None
    suffix = f" <{graph}> .".encode("utf-8")
    lines = nquads.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    typed = {}  # object text of each typed literal -> where its datatype IRI starts in it
    for line in lines:
        if not line.endswith(suffix):
            return None
        match = _TYPED.search(line, 0, len(line) - len(suffix))
        if match is not None:
            quote = line.index(b'"')  # the literal's: IRIs and blank node labels hold no quote
            typed[line[quote:match.end()]] = match.start(1) - quote
    lossy = set()
    if typed:  # the literals a store would change, from one document of them all
        objects = list(typed)
        document = b"".join(b"<urn:kg:o> <urn:kg:o> " + o + b" .\n" for o in objects)
        literals = [t.object for t in ox.parse(document, format=ox.RdfFormat.N_TRIPLES)]
        changed = _lossy(literals)
        lossy = {o for o, literal in zip(objects, literals) if literal in changed}
    if not lossy:
        return b"".join(line[:-len(suffix)] + b" .\n" for line in lines), b"", b""
    data, exact, value = [], [], []
    escaped = ESCAPED.encode("utf-8")
    for line in lines:
        triple = line[:-len(suffix)]
        quote = triple.find(b'"')
        if quote < 0 or triple[quote:] not in lossy:
            data.append(triple + b" .\n")
            continue
        at = quote + typed[triple[quote:]]
        exact.append(triple[:at] + escaped + triple[at:] + b" .\n")
        value.append(triple + b" .\n")
    return b"".join(data), b"".join(exact), b"".join(value)


def add(store: ox.Store, triples: Iterable[ox.Triple]) -> None:
    """Add triples to the data graph of a validation store (a set: adding a triple twice keeps one)."""
    store.extend(_split(triples))


def remove(store: ox.Store, triples: Iterable[ox.Triple]) -> None:
    """Remove triples from the data graph of a validation store. The data graph is a set: remove a
    triple only when no unit asserts it any more."""
    for q in _split(triples):
        store.remove(q)


def triples(store: ox.Store, subject: ox.NamedNode | None = None) -> list[ox.Triple]:
    """The data graph of a validation store (or its triples about `subject`), with literals as written."""
    return [ox.Triple(q.subject, q.predicate, _unescape(q.object))
            for g in _VIEWS["exact"] for q in store.quads_for_pattern(subject, None, None, g)]


# ---------------------------------------------------------------------------------------------------------
# Terms


def _sparql(term) -> str:
    """A data or shapes term as SPARQL text (blank nodes cannot be named in a query)."""
    if isinstance(term, ox.BlankNode):
        raise Unsupported(f"a blank node ({term}) cannot be written in a SPARQL query")
    return str(term)


def _rdflib(term):
    from kg.rdf import to_rdflib_term

    return to_rdflib_term(term)


def _iri(term) -> str | None:
    return term.value if isinstance(term, ox.NamedNode) else None


class _Graph:
    """The shapes graph as an index (insertion order kept) plus, on demand, the rdflib graph pyshacl sees."""

    def __init__(self, triples: Iterable[ox.Triple]):
        self.triples = list(triples)
        self.out: dict = {}
        self.inv: dict = {}
        for t in self.triples:
            self.out.setdefault(t.subject, {}).setdefault(t.predicate.value, [])
            if t.object not in self.out[t.subject][t.predicate.value]:
                self.out[t.subject][t.predicate.value].append(t.object)
            self.inv.setdefault(t.predicate.value, {}).setdefault(t.object, [])
            if t.subject not in self.inv[t.predicate.value][t.object]:
                self.inv[t.predicate.value][t.object].append(t.subject)
        self._rdflib = None

    def objects(self, s, p: str) -> list:
        return self.out.get(s, {}).get(p, [])

    def value(self, s, p: str):
        values = self.objects(s, p)
        return values[0] if values else None

    def subjects(self, p: str, o=None) -> list:
        if o is None:
            return [s for subjects in self.inv.get(p, {}).values() for s in subjects]
        return self.inv.get(p, {}).get(o, [])

    def predicates(self, s) -> list[str]:
        return list(self.out.get(s, {}))

    def items(self, node) -> list:
        items, seen = [], set()
        while node is not None and _iri(node) != RDF_NIL:
            if node in seen:
                raise Unsupported("a cyclic RDF list in the shapes graph")
            seen.add(node)
            first = self.objects(node, RDF_FIRST)
            if len(first) != 1:
                raise Unsupported(f"{node} is not a well-formed RDF list")
            items.append(first[0])
            rest = self.objects(node, RDF_REST)
            node = rest[0] if rest else None
        return items

    @property
    def rdflib(self):
        """The shapes graph as pyshacl gets it from kg.validate (kg.rdf.to_rdflib of the same triples)."""
        if self._rdflib is None:
            from kg.rdf import to_rdflib

            self._rdflib = to_rdflib(self.triples)
        return self._rdflib


# ---------------------------------------------------------------------------------------------------------
# Paths


def _path_sparql(g: _Graph, node, depth: int = 0) -> str:
    if isinstance(node, ox.NamedNode):
        return f"<{node.value}>"
    if isinstance(node, ox.Literal):
        raise Unsupported("a property path cannot be a literal")
    if depth > 10:
        raise Unsupported("property path too deep")
    if g.objects(node, RDF_FIRST):
        parts = [_path_sparql(g, p, depth + 1) for p in g.items(node)]
        if len(parts) < 2:
            raise Unsupported("a sequence path needs at least two members")
        return "(" + " / ".join(parts) + ")"
    predicates = set(g.predicates(node))
    if predicates == {SH + "inversePath"}:
        (inner,) = g.objects(node, SH + "inversePath")
        if not isinstance(inner, ox.NamedNode):
            # pyshacl inverts each step of an inverted sequence without reversing it (not SPARQL's ^(a/b))
            raise Unsupported("sh:inversePath of a complex path")
        return f"^<{inner.value}>"
    if predicates == {SH + "alternativePath"}:
        (alternatives,) = g.objects(node, SH + "alternativePath")
        parts = [_path_sparql(g, p, depth + 1) for p in g.items(alternatives)]
        if len(parts) < 2:
            raise Unsupported("an alternative path needs at least two members")
        return "(" + " | ".join(parts) + ")"
    raise Unsupported(f"property path {node} ({', '.join(sorted(predicates)) or 'empty'}) is not compiled")


# ---------------------------------------------------------------------------------------------------------
# Query text: focus patterns


class _Names:
    """Fresh variable names for one query text, and how it writes data terms: the "exact" view (core
    constraints) reads literals oxigraph would normalise in their escaped form, the "value" view (SPARQL
    constraints) as oxigraph reads them."""

    def __init__(self, view: str = "exact"):
        self.n = 0
        self.view = view

    def __call__(self, hint: str = "v") -> str:
        self.n += 1
        return f"?_{hint}{self.n}"

    def term(self, term) -> str:
        if self.view == "exact" and isinstance(term, ox.Literal) and _is_lossy(term):
            return _sparql(_escape(term))
        return _sparql(term)


class _Focus:
    """A set of focus nodes as a SPARQL group that binds one variable and nothing else."""

    def pattern(self, names: _Names, var: str) -> str:
        raise NotImplementedError


class _TargetFocus(_Focus):
    def __init__(self, parts: list, restrict: tuple | None):
        self.parts = parts  # callables (names, var) -> group text
        self.restrict = restrict

    def pattern(self, names, var):
        if self.restrict is None:
            inner = " UNION ".join(part(names, var) for part in self.parts)
        else:
            nodes = " ".join(names.term(t) for t in self.restrict)
            # the focus nodes go inside each target's group (a join distributes over UNION): joined with
            # the UNION of the targets, pyoxigraph would first find every target node
            inner = " UNION ".join(
                part(names, var, nodes) if isinstance(part, _SparqlTargetPart)
                else "{ VALUES " + var + " { " + nodes + " } " + part(names, var).strip()[1:]
                for part in self.parts)
        return f"{{ SELECT DISTINCT {var} WHERE {{ {inner} }} }}"


class _ValueFocus(_Focus):
    """The value nodes of `path` from the nodes of `parent` (pyshacl validates a nested shape on them)."""

    def __init__(self, parent: _Focus, path: str | None):
        self.parent, self.path = parent, path

    def pattern(self, names, var):
        if self.path is None:
            return self.parent.pattern(names, var)
        f = names("f")
        return f"{{ SELECT DISTINCT {var} WHERE {{ {self.parent.pattern(names, f)} {f} {self.path} {var} . }} }}"


class _FilteredFocus(_Focus):
    def __init__(self, base: _Focus, condition):
        self.base, self.condition = base, condition  # condition(names, var) -> expression text

    def pattern(self, names, var):
        return f"{{ SELECT DISTINCT {var} WHERE {{ {self.base.pattern(names, var)} FILTER ({self.condition(names, var)}) }} }}"


class _NodesFocus(_Focus):
    def __init__(self, nodes):
        self.nodes = list(nodes)

    def pattern(self, names, var):
        return f"{{ VALUES {var} {{ {' '.join(names.term(n) for n in self.nodes)} }} }}"


# ---------------------------------------------------------------------------------------------------------
# Results


@dataclass
class Result:
    """One validation result, as pyshacl's make_v_result builds it."""

    focus: object  # ox term
    component: str  # sh:sourceConstraintComponent IRI
    shape: "Shape"
    value: object = None  # ox term or None
    path: object = None  # ox term (a shapes-graph path node, or a ?path binding) or None
    source_constraint: object = None
    make_messages: object = None  # () -> the result's messages; called when they are first read
    details: list = field(default_factory=list)
    _messages: list | None = field(default=None, repr=False)

    @property
    def messages(self) -> list:
        """rdflib Literals, as they go into the report. Made only when read: a nested shape's results (sh:or,
        sh:node) are mostly never reported, and a generic message needs rdflib and pyshacl imported."""
        if self._messages is None:
            self._messages = self.make_messages() if self.make_messages else []
        return self._messages

    @property
    def severity(self) -> str:
        return self.shape.severity


# ---------------------------------------------------------------------------------------------------------
# Shapes and constraint components


@dataclass(eq=False)
class Shape:
    node: object
    is_property: bool
    path: object = None  # shapes-graph node
    path_sparql: str | None = None
    severity: str = VIOLATION
    deactivated: bool = False
    messages: list = field(default_factory=list)  # ox literals (sh:message)
    components: list = field(default_factory=list)
    targets: list = field(default_factory=list)

    def focus_values(self, names: _Names, focus: _Focus) -> str:
        """Group text binding ?this (a focus node) and ?value (each of its value nodes)."""
        if self.is_property:
            return f"{focus.pattern(names, '?this')} ?this {self.path_sparql} ?value ."
        return f"{focus.pattern(names, '?this')} BIND (?this AS ?value)"

    def value_focus(self, focus: _Focus) -> _Focus:
        return _ValueFocus(focus, self.path_sparql if self.is_property else None)


class _Component:
    iri = ""

    def evaluate(self, ev: "_Evaluator", shape: Shape, focus: _Focus) -> list[Result]:
        raise NotImplementedError

    def conforms(self, ev: "_Evaluator", shape: Shape, names: _Names, var: str) -> str | None:
        """A SPARQL expression true iff the node in `var` passes this component (of a nested `shape`), or
        None when the test needs more than SPARQL (then nested use evaluates the shape and looks at results)."""
        return None

    def generic(self, ev: "_Evaluator", shape: Shape, focus, value) -> list:
        return []


def _all_values_pass(shape: Shape, names: _Names, var: str, test) -> str:
    """Every value node of `shape` for the node in `var` passes `test(value_var)`."""
    if not shape.is_property:
        return test(var)
    w = names("w")
    return f"NOT EXISTS {{ {var} {shape.path_sparql} {w} . FILTER (!({test(w)})) }}"


def _count_at_least(shape: Shape, names: _Names, var: str, n: int, test=None) -> str:
    """`var` has at least n distinct value nodes (passing `test`)."""
    if n <= 0:
        return "true"
    ws = [names("w") for _ in range(n)]
    triples = " ".join(f"{var} {shape.path_sparql} {w} ." for w in ws)
    conditions = [f"!sameTerm({a}, {b})" for i, a in enumerate(ws) for b in ws[i + 1:]]
    if test is not None:
        conditions += [f"({test(w)})" for w in ws]
    where = f" FILTER ({' && '.join(conditions)})" if conditions else ""
    return f"EXISTS {{ {triples}{where} }}"


class _ValueTest(_Component):
    """A component that tests each value node on its own: violation rows are (?this, ?value)."""

    def test(self, names: _Names, var: str) -> str:
        raise NotImplementedError

    def evaluate(self, ev, shape, focus):
        names = _Names()
        rows = ev.select(f"SELECT DISTINCT ?this ?value WHERE {{ {shape.focus_values(names, focus)} "
                         f"FILTER (!({self.test(names, '?value')})) }}")
        return [ev.result(self, shape, f, value=v) for f, v in rows]

    def conforms(self, ev, shape, names, var):
        return _all_values_pass(shape, names, var, lambda w: self.test(names, w))


class _Class(_Component):
    iri = SH + "ClassConstraintComponent"

    def __init__(self, classes):
        self.classes = classes

    def evaluate(self, ev, shape, focus):
        results = []
        for c in self.classes:  # pyshacl reports a value once for every class it lacks
            names = _Names()
            rows = ev.select(f"SELECT DISTINCT ?this ?value WHERE {{ {shape.focus_values(names, focus)} "
                             f"{_without(ev, names, '?value', [[c]])} }}")
            results += [ev.result(self, shape, f, value=v) for f, v in rows]
        return results

    def conforms(self, ev, shape, names, var):
        return _all_values_pass(shape, names, var, lambda w: " && ".join(
            f"EXISTS {{ {w} {_INSTANCE_OF} {_sparql(c)} }}" for c in self.classes))

    def generic(self, ev, shape, focus, value):
        s = ev.stringify
        if len(self.classes) < 2:
            return [f"Value does not have class {s(ev.sg, self.classes[0])}"]
        return [f"Value class is not in classes ({', '.join(s(ev.sg, c) for c in self.classes)})"]


def _instance_pattern(names: _Names, var: str, classes) -> str:
    """Triple patterns matching the nodes in `var` that are SHACL instances of every class."""
    parts = []
    for c in classes:
        t = names("t")
        parts.append(f"{var} <{RDF_TYPE}> {t} . {t} <{SUBCLASS}>* {_sparql(c)} .")
    return " ".join(parts)


def _without(ev, names: _Names, var: str, alternatives: list[list]) -> str:
    """A pattern keeping the solutions where `var` is an instance of none of the alternatives (each a list
    of classes): MINUS, a hash anti-join over all instances, for a whole graph; FILTER NOT EXISTS, a test
    per solution, for a few focus nodes."""
    if ev.restricted:
        tests = " || ".join("(" + " && ".join(f"EXISTS {{ {var} {_INSTANCE_OF} {_sparql(c)} }}" for c in classes) + ")"
                            for classes in alternatives)
        return f"FILTER (!({tests}))"
    return "MINUS { " + " UNION ".join(f"{{ {_instance_pattern(names, var, c)} }}" for c in alternatives) + " }"


def _class_only(shape: "Shape") -> list | None:
    """The classes of a node shape whose only constraint is sh:class (then its conforming nodes are the
    instances of those classes, a pattern rather than a test), else None."""
    if shape.is_property or shape.deactivated or len(shape.components) != 1:
        return None
    component = shape.components[0]
    return list(component.classes) if isinstance(component, _Class) else None


_SPARQL_DATATYPES = {  # datatypes whose pyshacl test is a SPARQL expression
    XSD + "string": lambda w: f"(isLiteral({w}) && DATATYPE({w}) = <{XSD}string>)",
    RDF + "langString": lambda w: f"(isLiteral({w}) && LANG({w}) != \"\")",
    RDFS + "Literal": lambda w: f"isLiteral({w})",
}


_WELL_FORMED = {  # lexical forms rdflib certainly reads as well-typed values of these datatypes
    XSD + "integer": re.compile(r"[+-]?[0-9]+"),
    XSD + "nonNegativeInteger": re.compile(r"[0-9]+"),
    XSD + "positiveInteger": re.compile(r"0*[1-9][0-9]*"),
    XSD + "date": re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})"),
    XSD + "gYear": re.compile(r"[1-9][0-9]{3}"),
    XSD + "gYearMonth": re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])"),
}


def _surely_well_typed(term, datatype: str) -> bool:
    """True when `term` is a literal of `datatype` in a form that rdflib surely reads as well-typed; False
    means only "not sure" (`_datatype_ok` asks rdflib). Importing rdflib costs a quarter of a second, most of
    a `kg validate` after a one-article edit; tests check every True here against rdflib."""
    match = _WELL_FORMED.get(datatype)
    if match is None or not isinstance(term, ox.Literal) or term.datatype.value != datatype:
        return False
    found = match.fullmatch(term.value)
    if found is None:
        return False
    if datatype == XSD + "date":
        from datetime import date

        try:
            return date(*map(int, found.groups())).year >= 1
        except ValueError:
            return False
    if datatype == XSD + "gYearMonth":
        return int(found.group(1)) >= 1
    return True


def _datatype_ok(term, datatype: str) -> bool:
    """pyshacl 0.40's DatatypeConstraintComponent test of one value node, on the rdflib term it would see."""
    if _surely_well_typed(term, datatype):
        return True
    import rdflib
    from datetime import date, datetime, time
    from decimal import Decimal

    v = _rdflib(term)
    if not isinstance(v, rdflib.Literal):
        return False
    rule = rdflib.URIRef(datatype)

    def actual(value) -> bool:
        if rule in (rdflib.XSD.string, rdflib.RDF.langString):
            return isinstance(value, (str, bytes))
        checks = {rdflib.XSD.integer: int, rdflib.XSD.float: float, rdflib.XSD.decimal: Decimal,
                  rdflib.XSD.boolean: bool, rdflib.XSD.date: date, rdflib.XSD.time: time,
                  rdflib.XSD.dateTime: datetime}
        return isinstance(value, checks[rule]) if rule in checks else True

    if v.datatype == rule:
        return False if getattr(v, "ill_typed", None) is True else actual(v.value)
    if rule == rdflib.RDFS.Literal:
        return True
    if rule == rdflib.RDFS.Datatype and v.datatype:
        return True
    if v.datatype is None and v.language is None and rule == rdflib.XSD.string:
        return actual(v.value)
    if rule == rdflib.RDF.langString and v.language:
        return actual(v.value)
    return False


class _Datatype(_Component):
    iri = SH + "DatatypeConstraintComponent"

    def __init__(self, datatype: str):
        self.datatype = datatype

    def evaluate(self, ev, shape, focus):
        names = _Names()
        values = shape.focus_values(names, focus)
        if self.datatype in _SPARQL_DATATYPES:
            test = _SPARQL_DATATYPES[self.datatype]("?value")
            rows = ev.select(f"SELECT DISTINCT ?this ?value WHERE {{ {values} FILTER (!{test}) }}")
            return [ev.result(self, shape, f, value=v) for f, v in rows]
        dt = f"<{self.datatype}>, <{ESCAPED}{self.datatype}>"
        # Literals of the datatype: rdflib decides which are well-formed, once per distinct literal.
        candidate = f"isLiteral(?value) && DATATYPE(?value) IN ({dt})" if self.datatype != RDFS + "Datatype" else "isLiteral(?value)"
        literals = [v for (v,) in ev.select(f"SELECT DISTINCT ?value WHERE {{ {values} FILTER ({candidate}) }}")]
        bad = [v for v in literals if not _datatype_ok(v, self.datatype)]
        rows = ev.select(f"SELECT DISTINCT ?this ?value WHERE {{ {values} FILTER (!({candidate})) }}")
        if bad:
            names = _Names()
            rows += ev.select(f"SELECT DISTINCT ?this ?value WHERE {{ {shape.focus_values(names, focus)} "
                              f"VALUES ?value {{ {' '.join(map(names.term, bad))} }} }}")
        return [ev.result(self, shape, f, value=v) for f, v in rows]

    def conforms(self, ev, shape, names, var):
        if self.datatype not in _SPARQL_DATATYPES:
            return None
        return _all_values_pass(shape, names, var, _SPARQL_DATATYPES[self.datatype])

    def generic(self, ev, shape, focus, value):
        return [f"Value is not Literal with datatype {ev.stringify(ev.sg, ox.NamedNode(self.datatype))}"]


_NODE_KINDS = {
    SH + "IRI": "isIRI({0})", SH + "BlankNode": "isBlank({0})", SH + "Literal": "isLiteral({0})",
    SH + "BlankNodeOrIRI": "(isBlank({0}) || isIRI({0}))", SH + "BlankNodeOrLiteral": "(isBlank({0}) || isLiteral({0}))",
    SH + "IRIOrLiteral": "(isIRI({0}) || isLiteral({0}))",
}


class _NodeKind(_ValueTest):
    iri = SH + "NodeKindConstraintComponent"

    def __init__(self, kind):
        self.kind = kind

    def test(self, names, var):
        return _NODE_KINDS[self.kind.value].format(var) if isinstance(self.kind, ox.NamedNode) and \
            self.kind.value in _NODE_KINDS else "false"

    def generic(self, ev, shape, focus, value):
        return [f"Value is not of Node Kind {ev.stringify(ev.sg, self.kind)}"]


class _In(_ValueTest):
    iri = SH + "InConstraintComponent"

    def __init__(self, members):
        self.members = members

    def test(self, names, var):
        return " || ".join(f"sameTerm({var}, {names.term(m)})" for m in self.members) or "false"

    def generic(self, ev, shape, focus, value):
        members = set()
        for m in self.members:
            members.add(_rdflib(m))
        listed = [ev.stringify_rdflib(ev.sg.rdflib, m) for m in members]
        return [f"Value {ev.stringify(ev.data_graph(focus, value), value)} not in list {listed}"]


def _integer(literal) -> int:
    if literal.datatype.value == XSD + "integer" and _INTEGER.fullmatch(literal.value):
        return int(literal.value)  # as rdflib reads it, without importing rdflib
    return int(_rdflib(literal).value)


class _Length(_ValueTest):
    def __init__(self, bound, minimum: bool):
        self.bound, self.minimum = bound, minimum
        self.iri = SH + ("MinLengthConstraintComponent" if minimum else "MaxLengthConstraintComponent")

    def test(self, names, var):
        n = _integer(self.bound)
        if self.minimum and n == 0:
            return "true"
        op = ">=" if self.minimum else "<="
        return f"(!isBlank({var}) && STRLEN(STR({var})) {op} {n})"

    def generic(self, ev, shape, focus, value):
        op = ">=" if self.minimum else "<="
        return [f"String length not {op} {ev.stringify(ev.data_graph(focus, value), self.bound)}"]


class _LanguageIn(_ValueTest):
    iri = SH + "LanguageInConstraintComponent"

    def __init__(self, list_node, languages: list[str]):
        self.list_node, self.languages = list_node, languages

    def test(self, names, var):
        if "*" in self.languages:
            return f"(isLiteral({var}) && LANG({var}) != \"\")"
        listed = ", ".join(_sparql(ox.Literal(x)) for x in sorted(set(self.languages))) or '""'
        return (f"(isLiteral({var}) && LANG({var}) != \"\" && (LCASE(LANG({var})) IN ({listed}) || "
                f"LCASE(STRBEFORE(CONCAT(LANG({var}), \"-\"), \"-\")) IN ({listed})))")

    def generic(self, ev, shape, focus, value):
        return [f"String language is not in {ev.stringify(ev.sg, self.list_node)}"]


class _MinCount(_Component):
    iri = SH + "MinCountConstraintComponent"

    def __init__(self, literal):
        self.literal, self.n = literal, _integer(literal)

    def evaluate(self, ev, shape, focus):
        if self.n == 0:
            return []
        names = _Names()
        if self.n == 1:
            rows = ev.select(f"SELECT DISTINCT ?this WHERE {{ {focus.pattern(names, '?this')} "
                             f"FILTER NOT EXISTS {{ ?this {shape.path_sparql} ?w }} }}")
        else:
            rows = ev.select(f"SELECT ?this WHERE {{ {focus.pattern(names, '?this')} OPTIONAL {{ ?this {shape.path_sparql} ?w }} }} "
                             f"GROUP BY ?this HAVING (COUNT(DISTINCT ?w) < {self.n})")
        return [ev.result(self, shape, f) for (f,) in rows]

    def conforms(self, ev, shape, names, var):
        return _count_at_least(shape, names, var, self.n) if self.n <= 4 else None

    def generic(self, ev, shape, focus, value):
        s, p = ev.stringify, ev.stringify(ev.sg, shape.path)
        return [f"Less than {_rdflib(self.literal).value} values on {s(ev.data_graph(focus), focus)}->{p}"]


class _MaxCount(_Component):
    iri = SH + "MaxCountConstraintComponent"

    def __init__(self, literal):
        self.literal, self.n = literal, _integer(literal)

    def evaluate(self, ev, shape, focus):
        names = _Names()
        if self.n == 0:
            rows = ev.select(f"SELECT DISTINCT ?this WHERE {{ {focus.pattern(names, '?this')} ?this {shape.path_sparql} ?w }}")
        elif self.n == 1:
            rows = ev.select(f"SELECT DISTINCT ?this WHERE {{ {focus.pattern(names, '?this')} "
                             f"?this {shape.path_sparql} ?w1 , ?w2 . FILTER (!sameTerm(?w1, ?w2)) }}")
        else:
            rows = ev.select(f"SELECT ?this WHERE {{ {focus.pattern(names, '?this')} ?this {shape.path_sparql} ?w }} "
                             f"GROUP BY ?this HAVING (COUNT(DISTINCT ?w) > {self.n})")
        return [ev.result(self, shape, f) for (f,) in rows]

    def conforms(self, ev, shape, names, var):
        return f"!({_count_at_least(shape, names, var, self.n + 1)})" if self.n <= 3 else None

    def generic(self, ev, shape, focus, value):
        s, p = ev.stringify, ev.stringify(ev.sg, shape.path)
        return [f"More than {_rdflib(self.literal).value} values on {s(ev.data_graph(focus), focus)}->{p}"]


class _HasValue(_Component):
    iri = SH + "HasValueConstraintComponent"

    def __init__(self, values):
        self.values = values

    def _test(self, shape, names, var, value) -> str:
        if not shape.is_property:
            return f"sameTerm({var}, {names.term(value)})"
        w = names("w")
        return f"EXISTS {{ {var} {shape.path_sparql} {w} . FILTER (sameTerm({w}, {names.term(value)})) }}"

    def evaluate(self, ev, shape, focus):
        results = []
        for value in self.values:
            names = _Names()
            rows = ev.select(f"SELECT DISTINCT ?this WHERE {{ {focus.pattern(names, '?this')} "
                             f"FILTER (!({self._test(shape, names, '?this', value)})) }}")
            results += [ev.result(self, shape, f) for (f,) in rows]
        return results

    def conforms(self, ev, shape, names, var):
        return " && ".join(f"({self._test(shape, names, var, v)})" for v in self.values)

    def generic(self, ev, shape, focus, value):
        the_set = [ev.stringify_rdflib(ev.sg.rdflib, s) for s in {_rdflib(v) for v in self.values}]
        node = ev.stringify(ev.data_graph(focus), focus)
        if shape.is_property:
            return [f"Node {node}->{ev.stringify(ev.sg, shape.path)} does not contain a value in the set: {the_set}"]
        return [f"Node {node} value is not a in the set of values: {the_set}"]


class _LessThan(_Component):
    iri = SH + "LessThanConstraintComponent"

    def __init__(self, properties):
        self.properties = properties

    def evaluate(self, ev, shape, focus):
        names = _Names()
        if ev.select(f"SELECT ?value WHERE {{ {shape.focus_values(names, focus)} FILTER (isBlank(?value)) }} LIMIT 1"):
            raise ShaclRuntimeError("Cannot use sh:lessThan to compare a BlankNode.")
        results = []
        for lt in self.properties:
            names = _Names()
            # Pairs SPARQL can decide as pyshacl would: same integer datatype, canonical lexical forms
            # (rdflib reads them as the same ints). Everything else is compared in Python, as pyshacl does.
            integer = f"<{XSD}integer>"
            a, b = f"{integer}(STR(?value))", f"{integer}(STR(?other))"
            types = ", ".join(f"<{x}>" for t in ("integer", "nonNegativeInteger") for x in (XSD + t, ESCAPED + XSD + t))
            certain = " && ".join([
                "isLiteral(?value)", "isLiteral(?other)", "DATATYPE(?value) = DATATYPE(?other)",
                f"DATATYPE(?value) IN ({types})", f"STR({a}) = STR(?value)", f"STR({b}) = STR(?other)",
                f"{a} >= 0", f"{b} >= 0", f"{a} < {b}",
            ])
            rows = ev.select(f"SELECT DISTINCT ?this ?value ?other WHERE {{ {shape.focus_values(names, focus)} "
                             f"?this <{lt.value}> ?other . FILTER (!COALESCE({certain}, false)) }}")
            for f, v, other in rows:
                import rdflib  # (only for pairs SPARQL left undecided: a quarter of a second to import)

                if isinstance(other, ox.BlankNode):
                    raise ShaclRuntimeError("Cannot use sh:lessThan to compare a BlankNode.")
                a, b = _rdflib(v), _rdflib(other)
                a_string = isinstance(a, rdflib.URIRef) or (isinstance(a, rdflib.Literal) and isinstance(a.value, str))
                b_string = isinstance(b, rdflib.URIRef) or (isinstance(b, rdflib.Literal) and isinstance(b.value, str))
                if a_string:
                    a = str(a) if isinstance(a, rdflib.URIRef) else a.value
                if b_string:
                    b = str(b) if isinstance(b, rdflib.URIRef) else b.value
                if a_string != b_string or not a < b:
                    results.append(ev.result(self, shape, f, value=v))
        return results

    def generic(self, ev, shape, focus, value):
        data = ev.data_graph(focus, value)
        properties = {_rdflib(p) for p in self.properties}
        if len(properties) < 2:
            rule = ev.stringify_rdflib(ev.sg.rdflib, next(iter(properties)))
        else:
            rule = ", ".join(ev.stringify_rdflib(ev.sg.rdflib, p) for p in properties)
        return [f"Value of {ev.stringify(data, focus)}->{rule} <= {ev.stringify(data, value)}"]


class _Property(_Component):
    iri = SH + "PropertyConstraintComponent"

    def __init__(self, shapes):
        self.shapes = shapes  # resolved later (Shape objects)

    def evaluate(self, ev, shape, focus):
        results = []
        for p in self.shapes:
            results += ev.evaluate(p, shape.value_focus(focus))
        return results

    def conforms(self, ev, shape, names, var):
        if shape.is_property:
            parts = []
            for p in self.shapes:
                inner = ev.conforms(p, names, "__W__")
                if inner is None:
                    return None
                parts.append(inner)
            return _all_values_pass(shape, names, var, lambda w: " && ".join(f"({x.replace('__W__', w)})" for x in parts))
        parts = [ev.conforms(p, names, var) for p in self.shapes]
        return None if None in parts else " && ".join(f"({x})" for x in parts) or "true"


class _NodeComponent(_Component):
    iri = SH + "NodeConstraintComponent"

    def __init__(self, shapes):
        self.shapes = shapes

    def evaluate(self, ev, shape, focus):
        results = []
        for target in self.shapes:
            for f, v, details in ev.failing_values(shape, focus, target):
                result = ev.result(self, shape, f, value=v)
                result.details = details
                results.append(result)
        return results

    def conforms(self, ev, shape, names, var):
        parts = []
        for target in self.shapes:
            inner = ev.conforms(target, names, "__W__")
            if inner is None:
                return None
            parts.append(inner)
        return _all_values_pass(shape, names, var, lambda w: " && ".join(f"({x.replace('__W__', w)})" for x in parts))

    def generic(self, ev, shape, focus, value):
        s = ev.stringify
        if len(self.shapes) < 2:
            m = f"Value does not conform to Shape {s(ev.sg, self.shapes[0].node)}."
        else:
            m = "Value must conform to every Shape in ('{}').".format("', '".join(s(ev.sg, t.node) for t in self.shapes))
        return [m + " See details for more information."]


class _Or(_Component):
    iri = SH + "OrConstraintComponent"

    def __init__(self, lists):
        self.lists = lists  # [(list node, [Shape])]

    def evaluate(self, ev, shape, focus):
        results = []
        for _, members in self.lists:
            if not members:
                continue
            names = _Names()
            classes = [_class_only(m) for m in members]
            if None not in classes:
                rows = ev.select(f"SELECT DISTINCT ?this ?value WHERE {{ {shape.focus_values(names, focus)} "
                                 f"{_without(ev, names, '?value', classes)} }}")
                results += [ev.result(self, shape, f, value=v) for f, v in rows]
                continue
            tests = [ev.conforms(m, names, "?value") for m in members]
            if None not in tests:
                rows = ev.select(f"SELECT DISTINCT ?this ?value WHERE {{ {shape.focus_values(names, focus)} "
                                 f"FILTER (!({' || '.join(f'({t})' for t in tests)})) }}")
            else:
                values = shape.value_focus(focus)
                failing = None
                for m in members:
                    bad = set(ev.nonconforming(m, values))
                    failing = bad if failing is None else failing & bad
                rows = ev.pairs(shape, focus, failing)
            results += [ev.result(self, shape, f, value=v) for f, v in rows]
        return results

    def conforms(self, ev, shape, names, var):
        alternatives = []
        for _, members in self.lists:
            tests = []
            for m in members:
                inner = ev.conforms(m, names, "__W__")
                if inner is None:
                    return None
                tests.append(inner)
            alternatives.append(tests)
        return _all_values_pass(shape, names, var, lambda w: " && ".join(
            "(" + (" || ".join(f"({t.replace('__W__', w)})" for t in tests) or "false") + ")" for tests in alternatives))

    def generic(self, ev, shape, focus, value):
        sg = ev.sg.rdflib
        lists = [_rdflib(node) for node, _ in self.lists]
        if len(lists) < 2:
            text = " , ".join(ev.stringify_rdflib(sg, c) for c in sg.items(lists[0]))
        else:
            text = " and ".join("({})".format(" , ".join(ev.stringify_rdflib(sg, c) for c in sg.items(x))) for x in lists)
        return [f"Node {ev.stringify(ev.data_graph(focus, value), value)} must conform to one or more shapes in {text}"]


class _Qualified(_Component):
    iri = SH + "QualifiedValueShapeConstraintComponent"
    MIN, MAX = SH + "QualifiedMinCountConstraintComponent", SH + "QualifiedMaxCountConstraintComponent"

    def __init__(self, shapes, minimum, maximum):
        self.shapes, self.minimum, self.maximum = shapes, minimum, maximum

    def evaluate(self, ev, shape, focus):
        results = []
        for target in self.shapes:
            names = _Names()
            classes = _class_only(target)
            if classes is not None:
                results += self._instances(ev, shape, focus, classes)
                continue
            test = ev.conforms(target, names, "?w")
            if test is not None:
                rows = ev.select(f"SELECT ?this (COUNT(DISTINCT ?w) AS ?n) WHERE {{ {focus.pattern(names, '?this')} "
                                 f"OPTIONAL {{ ?this {shape.path_sparql} ?w . FILTER ({test}) }} }} GROUP BY ?this")
                counts = [(f, int(n.value)) for f, n in rows]
            else:
                bad = set(ev.nonconforming(target, shape.value_focus(focus)))
                names = _Names()
                total = dict(ev.select(f"SELECT ?this (COUNT(DISTINCT ?w) AS ?n) WHERE {{ {focus.pattern(names, '?this')} "
                                       f"OPTIONAL {{ ?this {shape.path_sparql} ?w }} }} GROUP BY ?this"))
                failing: dict = {}
                for f, v in ev.pairs(shape, focus, bad):
                    failing[f] = failing.get(f, 0) + 1
                counts = [(f, int(n.value) - failing.get(f, 0)) for f, n in total.items()]
            for f, n in counts:
                if self.maximum is not None and n > self.maximum:
                    results.append(ev.result(self, shape, f, iri=self.MAX))
                if self.minimum is not None and n < self.minimum:
                    results.append(ev.result(self, shape, f, iri=self.MIN))
        return results

    def _instances(self, ev, shape, focus, classes) -> list[Result]:
        """Counts of values that are instances of `classes`, by joins (pyoxigraph plans them well)."""
        results = []
        names = _Names()
        f, path = focus.pattern(names, "?this"), shape.path_sparql
        if self.maximum is not None:
            rows = ev.select(f"SELECT ?this WHERE {{ {f} ?this {path} ?w . {_instance_pattern(names, '?w', classes)} }} "
                             f"GROUP BY ?this HAVING (COUNT(DISTINCT ?w) > {self.maximum})")
            results += [ev.result(self, shape, x, iri=self.MAX) for (x,) in rows]
        if self.minimum is not None and self.minimum > 0:
            names = _Names()
            f = focus.pattern(names, "?this")
            if self.minimum == 1 and ev.restricted:
                # one pattern per EXISTS: pyoxigraph does not plan the joins inside one
                test = " && ".join(f"EXISTS {{ ?w {_INSTANCE_OF} {_sparql(c)} }}" for c in classes)
                rows = ev.select(f"SELECT DISTINCT ?this WHERE {{ {f} FILTER NOT EXISTS {{ ?this {path} ?w . "
                                 f"FILTER ({test}) }} }}")
            elif self.minimum == 1:
                rows = ev.select(f"SELECT DISTINCT ?this WHERE {{ {f} MINUS {{ ?this {path} ?w . "
                                 f"{_instance_pattern(names, '?w', classes)} }} }}")
            else:
                rows = ev.select(f"SELECT ?this WHERE {{ {f} OPTIONAL {{ ?this {path} ?w . "
                                 f"{_instance_pattern(names, '?w', classes)} }} }} "
                                 f"GROUP BY ?this HAVING (COUNT(DISTINCT ?w) < {self.minimum})")
            results += [ev.result(self, shape, x, iri=self.MIN) for (x,) in rows]
        return results

    def conforms(self, ev, shape, names, var):
        parts = []
        for target in self.shapes:
            inner = ev.conforms(target, names, "__W__")
            if inner is None:
                return None
            test = lambda w, inner=inner: inner.replace("__W__", w)  # noqa: E731
            if self.minimum is not None:
                if self.minimum > 4:
                    return None
                parts.append(_count_at_least(shape, names, var, self.minimum, test))
            if self.maximum is not None:
                if self.maximum > 3:
                    return None
                parts.append(f"!({_count_at_least(shape, names, var, self.maximum + 1, test)})")
        return " && ".join(f"({p})" for p in parts) or "true"

    def generic(self, ev, shape, focus, value):
        shapes_string = ",".join(ev.stringify_rdflib(ev.sg.rdflib, s) for s in {_rdflib(t.node) for t in self.shapes})
        count = (f" MinCount {self.minimum}" if self.minimum is not None else "") + \
            (f" MaxCount {self.maximum}" if self.maximum is not None else "")
        plural = "s" if len(self.shapes) > 1 else ""
        shapes_string = f"({shapes_string})" if plural else shapes_string
        return [f"Focus node does not conform to shape{plural}{count}: {shapes_string}"]


# ---------------------------------------------------------------------------------------------------------
# SPARQL-based constraints (sh:sparql) and targets (sh:target)

# pyshacl 0.40's SPARQLQueryHelper checks (sparql_query_helper.py); a query it rejects is not compiled.
_HAS_MINUS = re.compile(r"^(?:[^#]*|M)(?!#)#?[^\?\$\#]M?INUS[\s\{]", flags=re.M | re.I)
_HAS_VALUES = re.compile(r"^(?!\s*#).*?(?<![\w\-\:])VALUES\b(?:\s*(?:\(|[\?\$]\w+|\{|\w|\s))", flags=re.M | re.I)
_HAS_SERVICE = re.compile(r"^(?:[^#]*|S)(?!#)#?[^\?\$\#]S?ERVICE[\s\<]", flags=re.M | re.I)
_HAS_NESTED_SELECT = re.compile(r"SELECT[\s\(\)\$\?\a-z]*\{[^\}]*SELECT\s+((?:(?:[\?\$]\w+\s+)|(?:\*\s+))+)", flags=re.M | re.I)
_HAS_AS_VAR = re.compile(r"[^\w]+AS[\s]+[\$\?](\w+)", flags=re.M | re.I)
_BIND_PATH = re.compile(r"([\s{}()])[\$\?]PATH", flags=re.M)
_BIND_SHAPES_GRAPH = re.compile(r"([\s{}()])[\$\?]shapesGraph", flags=re.M)
_BIND_CURRENT_SHAPE = re.compile(r"([\s{}()])[\$\?]currentShape", flags=re.M)
_FOCUS_MARK = "<urn:kg:shacl-sparql:focus>"


def _prefixes(g: _Graph, node) -> dict[str, str]:
    """pyshacl's SPARQLQueryHelper.collect_prefixes: rdf, rdfs, owl, then the sh:declare of sh:prefixes."""
    prefixes = {"rdf": RDF, "rdfs": RDFS, "owl": OWL}
    ontologies = set(g.subjects(RDF_TYPE, ox.NamedNode(OWL + "Ontology")))
    global_declares = {d for o in ontologies for d in g.objects(o, SH + "declare")}
    declared: dict[str, str] = {}
    for value in g.objects(node, SH + "prefixes"):
        own = set(g.objects(value, SH + "declare"))
        declares = own if (own and value in ontologies) else global_declares | own
        for declare in declares:
            prefix, namespace = g.objects(declare, SH + "prefix"), g.objects(declare, SH + "namespace")
            if len(prefix) != 1 or len(namespace) != 1 or not isinstance(prefix[0], ox.Literal) \
                    or not isinstance(namespace[0], ox.Literal):
                raise Unsupported(f"malformed sh:declare {declare}")
            if declared.setdefault(prefix[0].value, namespace[0].value) != namespace[0].value:
                raise Unsupported(f"{node}: prefix {prefix[0].value!r} is declared with two namespaces")
    prefixes.update(sorted(declared.items()))
    return prefixes


def _prologue(prefixes: dict[str, str]) -> str:
    return "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in prefixes.items())


_TOKEN = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|'
                    r'<[^<>"{}|^`\\\s]*>|#[^\n]*|[{}()]|[?$]\w+|[A-Za-z_][\w\-.]*(?::[\w\-.]*)?|:[\w\-.]*|[\s\S]', re.M)


@dataclass
class _Structure:
    select: int  # end of the SELECT keyword
    modifier: int  # end of DISTINCT/REDUCED after it (else = select)
    where: int  # just after the '{' that opens the WHERE group
    projects_this: bool  # SELECT * or ?this/$this among the projected variables


def _structure(text: str) -> _Structure:
    """Where the parts of a SELECT query are (strings, IRIs and comments skipped)."""
    select = modifier = None
    depth = 0
    projects_this = False
    for m in _TOKEN.finditer(text):
        token = m.group(0)
        if select is None:
            if token.upper() == "SELECT":
                select = modifier = m.end()
            continue
        if modifier == select and token.upper() in ("DISTINCT", "REDUCED") and not text[select:m.start()].strip():
            modifier = m.end()
        elif token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0 and token in ("*", "?this", "$this"):
            projects_this = True
        elif token == "{" and depth == 0:
            return _Structure(select, modifier, m.end(), projects_this)
    raise Unsupported("not a SELECT query with a WHERE group")


def _mentions_this(x) -> bool:
    from rdflib import Variable

    stack, seen = [x], set()
    while stack:
        item = stack.pop()
        if isinstance(item, Variable):
            if str(item) == "this":
                return True
            continue
        if isinstance(item, (str, int, float)) or item is None:
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif hasattr(item, "args"):  # rdflib property paths
            stack.extend(item.args)
        elif hasattr(item, "path"):
            stack.append(item.path)
    return False


def _zero_length(path) -> bool:
    from rdflib.paths import AlternativePath, InvPath, MulPath, SequencePath

    if isinstance(path, MulPath):
        return path.mod in ("*", "?") or _zero_length(path.path)
    if isinstance(path, SequencePath):
        return all(_zero_length(p) for p in path.args)
    if isinstance(path, AlternativePath):
        return any(_zero_length(p) for p in path.args)
    if isinstance(path, InvPath):
        return _zero_length(path.arg)
    return False


def _binds_this(node) -> bool:
    """Every solution of algebra `node` binds ?this."""
    from rdflib import Variable

    name = getattr(node, "name", None)
    if name == "BGP":
        return any(Variable("this") in t for t in node.triples)
    if name == "Join":
        return _binds_this(node.p1) or _binds_this(node.p2)
    if name in ("LeftJoin", "Minus"):
        return _binds_this(node.p1)
    if name == "Union":
        return _binds_this(node.p1) and _binds_this(node.p2)
    if name in ("Filter", "Extend", "Distinct", "Reduced", "OrderBy", "Graph", "ToMultiSet"):
        return _binds_this(node.p)
    if name == "Project":
        return Variable("this") in node.PV and _binds_this(node.p)
    return False


def _view_independent(node) -> bool:
    """Only graph patterns over IRIs and variables, combined with (NOT) EXISTS, &&, || and !."""
    import rdflib

    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, rdflib.Literal):
            return False
        if isinstance(item, (str, int, float)) or item is None:
            continue
        name = getattr(item, "name", None)
        if name is not None and not name.startswith("Path") and name not in (
                "SelectQuery", "Project", "Distinct", "Reduced", "BGP", "Join", "Union", "LeftJoin", "Filter",
                "Builtin_EXISTS", "Builtin_NOTEXISTS", "ConditionalAndExpression", "ConditionalOrExpression",
                "UnaryNot", "TrueFilter", "ToMultiSet", "vars", "GroupGraphPatternSub", "TriplesBlock",
                "GroupOrUnionGraphPattern", "OptionalGraphPattern"):
            return False
        if isinstance(item, dict):
            stack.extend(v for k, v in item.items() if k != "_vars")
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return True


def _exists_patterns(expr) -> list:
    found, stack, seen = [], [expr], set()
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, (str, int, float)) or item is None:
            continue
        seen.add(id(item))
        if getattr(item, "name", None) in ("Builtin_EXISTS", "Builtin_NOTEXISTS"):
            found.append(item.graph)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def _join_equals_prebinding(node, top: bool = True) -> bool:
    """Whether joining the focus pattern at the head of the WHERE group (marked by a triple with ?this)
    gives what pre-binding $this gives: every expression that reads ?this sees it bound, and nothing
    evaluates ?this apart from the group that binds it (MINUS, sub-SELECT, aggregates, GRAPH, VALUES)."""
    from rdflib import Variable
    from rdflib.term import URIRef

    name = getattr(node, "name", None)
    if name == "BGP":
        for s, p, o in node.triples:
            if Variable("this") in (s, o) and not isinstance(p, (URIRef, Variable)) and _zero_length(p):
                return False
        return True
    if name in ("Join", "Union"):
        return _join_equals_prebinding(node.p1, False) and _join_equals_prebinding(node.p2, False)
    if name == "LeftJoin":
        if _mentions_this(node.expr) and not (_binds_this(node.p1) or _binds_this(node.p2)):
            return False
        return _inner_ok(node.expr) and _join_equals_prebinding(node.p1, False) and _join_equals_prebinding(node.p2, False)
    if name == "Filter":
        if _mentions_this(node.expr) and not _binds_this(node.p):
            return False
        return _inner_ok(node.expr) and _join_equals_prebinding(node.p, top)
    if name == "Extend":
        if str(node.var) == "this" or (_mentions_this(node.expr) and not _binds_this(node.p)):
            return False
        return _inner_ok(node.expr) and _join_equals_prebinding(node.p, top)
    if name == "Minus":
        return not _mentions_this(node.p2) and _join_equals_prebinding(node.p1, False)
    if name in ("Project", "Distinct", "Reduced", "OrderBy") and top:
        return _join_equals_prebinding(node.p, True)
    if name in ("SelectQuery",):
        return _join_equals_prebinding(node.p, True)
    if name in ("Slice", "Group", "AggregateJoin"):
        return False
    if name in ("ToMultiSet", "Graph", "values", "ServiceGraphPattern", "Project", "Distinct", "Reduced", "OrderBy"):
        return not _mentions_this(node)
    return False


def _inner_ok(expr) -> bool:
    """EXISTS patterns are evaluated with the solution substituted: fine unless they nest a sub-SELECT,
    MINUS or aggregate that reads ?this."""
    for pattern in _exists_patterns(expr):
        stack, seen = [pattern], set()
        while stack:
            node = stack.pop()
            if id(node) in seen or isinstance(node, (str, int, float)) or node is None:
                continue
            seen.add(id(node))
            name = getattr(node, "name", None) or ""
            if name in ("ToMultiSet", "Minus", "Group", "AggregateJoin", "Slice", "SubSelect", "MinusGraphPattern",
                        "ServiceGraphPattern", "InlineData", "GraphGraphPattern") and _mentions_this(node):
                return False
            if isinstance(node, dict):
                stack.extend(node.values())
            elif isinstance(node, (list, tuple)):
                stack.extend(node)
    return True


@dataclass
class _SparqlQuery:
    node: object  # the sh:sparql (or sh:target) node
    text: str  # prologue + select, as pyshacl runs it
    prebound: str | None  # text with ?this added to the projection, for per-focus substitution
    joined: str | None  # text with "{FOCUS}" at the head of the WHERE group, or None: run per focus node
    projects_this: bool
    focused: str | None = None  # `joined` with the rest of the WHERE group in a LATERAL (for few focus nodes)
    prefixes: dict = field(default_factory=dict)
    messages: list = field(default_factory=list)  # ox literals
    deactivated: bool = False


_ANALYSED: dict = {}  # query text -> what rdflib's algebra says about it (rdflib parses slowly)


def analyses() -> dict:
    """What compiling has learnt of SPARQL texts by parsing them (rdflib's parser takes about 0.1 s a query):
    a pure function of each text, which a caller may keep and give back to `remember` in a later process."""
    return dict(_ANALYSED)


def remember(known: dict) -> None:
    """Take analyses from an earlier process (`analyses`): compiling the same shapes then parses nothing."""
    _ANALYSED.update(known)


class _Tokens:
    def __init__(self, text: str):
        self.text = text
        self.items = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text)
                      if not m.group(0).isspace() and not m.group(0).startswith("#")]
        self.match: dict[int, int] = {}
        stack = []
        for i, (_, _, t) in enumerate(self.items):
            if t in ("{", "("):
                stack.append(i)
            elif t in ("}", ")"):
                if not stack:
                    raise Unsupported("unbalanced query text")
                self.match[stack.pop()] = i
        if stack:
            raise Unsupported("unbalanced query text")

    def word(self, i: int) -> str:
        return self.items[i][2].upper() if 0 <= i < len(self.items) else ""


def _chained(tokens: _Tokens, open_index: int, bound: set[str]) -> str | None:
    """The group at `open_index` (an EXISTS body, run once per solution with `bound` substituted) with its
    triple patterns chained by LATERAL: `{ A . B . C FILTER(..) }` becomes `{ A LATERAL { B } LATERAL { C }
    FILTER(..) }`, each next block of patterns one that shares a variable with what is bound so far. Within
    the group pyoxigraph plans a join of two blocks as a hash join, reading all the data the second block
    matches for every solution tested: at 10,000 articles kg:BilateralMeetingShape read every office-holding
    for each meeting's participants (38 s); chained, it reads those of its participants (0.2 s). For blocks
    of triple patterns `A LATERAL { B }` is `A . B`: B's variables that A binds are bound in every solution
    of A. None (leave the group as written) unless the group is only triple patterns and filters, with no
    blank node labels (which would not be shared across blocks)."""
    text, items = tokens.text, tokens.items
    close = tokens.match[open_index]
    blocks: list[tuple[int, int]] = []  # token ranges, inclusive
    filters: list[tuple[int, int]] = []
    i, start = open_index + 1, None
    while i < close:
        t, w = items[i][2], tokens.word(i)
        if w == "FILTER":
            if start is not None:
                blocks.append((start, i - 1))
                start = None
            j = i + 1  # FILTER (...), FILTER EXISTS {...}, FILTER NOT EXISTS {...} or FILTER regex(...)
            k = j + 1 if tokens.word(j) == "EXISTS" else j + 2 if tokens.word(j) == "NOT" else j
            if items[k][2] not in ("(", "{"):
                k += 1
            if k >= close or items[k][2] not in ("(", "{"):
                return None
            filters.append((i, tokens.match[k]))
            i = tokens.match[k] + 1
            continue
        if t in ("{", "}") or t.startswith("_:") or w in (
                "OPTIONAL", "MINUS", "GRAPH", "SERVICE", "BIND", "VALUES", "UNION", "SELECT", "LATERAL"):
            return None
        if t == ".":
            before, after = text[items[i][0] - 1:items[i][0]], text[items[i][1]:items[i][1] + 1]
            if before.isdigit() and after.isdigit():
                return None  # a decimal number's point
            if start is not None:
                blocks.append((start, i - 1))
                start = None
        elif start is None:
            start = i
        if t == "(":
            i = tokens.match[i]  # a collection or a path group: part of the block
        i += 1
    if start is not None:
        blocks.append((start, close - 1))
    if len(blocks) < 2:
        return None
    variables = [{v for _, _, x in items[a:b + 1] for v in [_var(x)] if v} for a, b in blocks]
    order, known, left = [], set(bound), list(range(len(blocks)))
    while left:
        nxt = next((n for n in left if variables[n] & known), left[0])
        left.remove(nxt)
        order.append(nxt)
        known |= variables[nxt]
    spans = [text[items[blocks[n][0]][0]:items[blocks[n][1]][1]] for n in order]
    parts = [spans[0]] + [f"LATERAL {{ {span} }}" for span in spans[1:]]
    parts += [text[items[a][0]:items[b][1]] for a, b in filters]
    return "{ " + " ".join(parts) + " }"


def _pattern_bound(tokens: _Tokens, open_index: int) -> set[str] | None:
    """The variables that the triple patterns of the group at `open_index` bind, when the group is only
    triple patterns (IRIs, variables, literals, paths) and filters without EXISTS; else None."""
    items, close = tokens.items, tokens.match[open_index]
    bound: set[str] = set()
    i = open_index + 1
    while i < close:
        t, w = items[i][2], tokens.word(i)
        if w == "FILTER":
            j = i + 1
            if tokens.word(j) in ("EXISTS", "NOT"):
                return None
            k = j if items[j][2] == "(" else j + 1  # FILTER (...) or FILTER regex(...)
            if items[k][2] != "(" or any(tokens.word(x) == "EXISTS" for x in range(k, tokens.match[k])):
                return None
            i = tokens.match[k] + 1
            continue
        if t in ("{", "}") or t.startswith("_:") or t == "[" or w in (
                "OPTIONAL", "MINUS", "GRAPH", "SERVICE", "BIND", "VALUES", "UNION", "SELECT", "LATERAL", "EXISTS"):
            return None
        v = _var(t)
        if v:
            bound.add(v)
        i += 1
    return bound


def _var(token: str) -> str | None:
    return token[1:] if token[:1] in "?$" and len(token) > 1 else None


def _lateral_exists(text: str, where: int, bound_at_top: set[str], *, hashed: bool = False) -> str:
    """Rewrite EXISTS filters of `text` for pyoxigraph, which does not reorder the joins inside an EXISTS
    pattern (a chain of patterns then costs a scan of the data for every solution tested). In a group
    evaluated on its own (the WHERE group, a UNION branch, a nested group), an EXISTS { Q } (NOT EXISTS)
    in a FILTER becomes BOUND(?v) (!BOUND(?v)), and the group ends with
        LATERAL { OPTIONAL { SELECT <shared variables> (1 AS ?v) WHERE { Q } LIMIT 1 } }
    which pyoxigraph evaluates once per solution with the shared variables bound, planned. That is
    EXISTS (substitution of the solution into Q) when every variable Q shares with the group is bound in
    every solution of the group: the variables of its plain triple patterns (and `bound_at_top` in the
    WHERE group). Other EXISTS are left as written. `where` is the index of the WHERE group's '{'.

    `hashed` (for a query over every focus node) ends the group instead with
        OPTIONAL { SELECT DISTINCT <shared variables> (1 AS ?v) WHERE { Q } }
    where Q is only triple patterns and filters without EXISTS, and its triple patterns bind every shared
    variable: Q is then evaluated once, and joined with the group by hashing the shared variables. That is
    the same EXISTS: with the shared variables bound by Q's patterns, substituting a solution's values into
    Q keeps those of Q's solutions that agree with it, and DISTINCT keeps each solution of the group one
    match at most. Per solution, Q can cost a pass over much of the data: kg:VisitShape's (the visitor's
    office-holdings, hundreds for a leader that every article mentions) made it grow with the square of
    the corpus, 5.4 s at 10,000 articles; hashed, 0.2 s."""
    tokens = _Tokens(text)
    edits: list[tuple[int, int, str]] = []
    counter = [0]

    def group(open_index: int, top: bool) -> None:
        close = tokens.match[open_index]
        i = open_index + 1
        pattern_vars: set[str] = set(bound_at_top) if top else set()
        other_vars: set[str] = set()  # variables outside filters that may be unbound
        filters: list[tuple[int, int]] = []
        if tokens.word(i) == "SELECT":
            return
        while i < close:
            w = tokens.word(i)
            t = tokens.items[i][2]
            if w == "FILTER":
                j = i + 1
                if tokens.items[j][2] == "(":
                    end = tokens.match[j]
                elif tokens.word(j) in ("NOT", "EXISTS"):
                    k = j + 1 if tokens.word(j) == "EXISTS" else j + 2
                    end = tokens.match[k]
                else:
                    k = j + 1
                    if tokens.items[k][2] != "(":
                        return
                    end = tokens.match[k]
                filters.append((j, end))
                i = end + 1
                continue
            if w in ("OPTIONAL", "MINUS", "GRAPH", "SERVICE", "BIND", "VALUES") or t == "(":
                # patterns whose variables may stay unbound; their groups are not rewritten
                j = i + 1
                if w in ("GRAPH", "SERVICE"):
                    while tokens.items[j][2] != "{":
                        j += 1
                if w == "VALUES":
                    while tokens.items[j][2] not in ("{",):
                        other_vars.update(v for v in [_var(tokens.items[j][2])] if v)
                        j += 1
                if w in ("BIND",) or t == "(":
                    j = i if t == "(" else i + 1
                end = tokens.match[j]
                other_vars.update(v for _, _, x in tokens.items[i:end + 1] for v in [_var(x)] if v)
                i = end + 1
                continue
            if t == "{":
                end = tokens.match[i]
                other_vars.update(v for _, _, x in tokens.items[i:end + 1] for v in [_var(x)] if v)
                group(i, False)
                i = end + 1
                continue
            if w == "UNION":
                i += 1
                continue
            v = _var(t)
            if v:
                pattern_vars.add(v)
            i += 1
        additions = []
        for start, end in filters:
            j = start
            while j <= end:
                if tokens.word(j) == "EXISTS" and tokens.items[j + 1][2] == "{":
                    negated = tokens.word(j - 1) == "NOT"
                    body_open = j + 1
                    body_close = tokens.match[body_open]
                    body_vars = {v for _, _, x in tokens.items[body_open:body_close + 1] for v in [_var(x)] if v}
                    shared = body_vars & (pattern_vars | other_vars)
                    if shared <= pattern_vars:
                        counter[0] += 1
                        name = f"?_kgexists{counter[0]}"
                        first = j - 1 if negated else j
                        replacement = f"(!BOUND({name}))" if negated else f"BOUND({name})"
                        edits.append((tokens.items[first][0], tokens.items[body_close][1], replacement))
                        written = text[tokens.items[body_open][0]:tokens.items[body_close][1]]
                        projected = " ".join(f"?{v}" for v in sorted(shared))
                        bound = _pattern_bound(tokens, body_open) if hashed else None
                        if bound is not None and shared <= bound:
                            additions.append(f" OPTIONAL {{ SELECT DISTINCT {projected} (1 AS {name}) WHERE {written} }}")
                        else:
                            body = _chained(tokens, body_open, set(shared)) or written
                            additions.append(f" LATERAL {{ OPTIONAL {{ SELECT {projected} (1 AS {name}) WHERE {body} LIMIT 1 }} }}")
                    j = body_close + 1
                    continue
                j += 1
        if additions:
            at = tokens.items[close][0]
            edits.append((at, at, "".join(additions) + " "))

    start = next(i for i, (a, _, t) in enumerate(tokens.items) if t == "{" and a >= where - 1)
    group(start, True)
    for a, b, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:a] + replacement + text[b:]
    return text


def _sparql_plan(g: _Graph, shape_node, node, select: str, path_sparql: str | None, target: bool) -> _SparqlQuery:
    prefixes = _prefixes(g, node)
    for regex, what in ((_HAS_MINUS, "MINUS"), (_HAS_VALUES, "VALUES"), (_HAS_SERVICE, "SERVICE")):
        if not target and regex.search(select):
            raise Unsupported(f"{node}: pyshacl rejects a SPARQL constraint with {what}")
    if not target and _HAS_NESTED_SELECT.search(select):
        raise Unsupported(f"{node}: nested SELECT in a SPARQL constraint is not compiled")
    found = _HAS_AS_VAR.search(select)
    if not target and found and found.group(1) in ("this", "shapesGraph", "currentShape"):
        raise Unsupported(f"{node}: pyshacl rejects AS ?{found.group(1)}")
    if _BIND_SHAPES_GRAPH.search(select) or _BIND_CURRENT_SHAPE.search(select):
        raise Unsupported(f"{node}: $shapesGraph and $currentShape are not compiled")
    if path_sparql is not None:
        select = _BIND_PATH.sub(lambda m: m.group(1) + path_sparql, select)
    elif not target and _BIND_PATH.search(select):
        raise Unsupported(f"{node}: $PATH in a SPARQL constraint of a node shape")
    prologue = _prologue(prefixes)
    text = prologue + "\n" + select
    where = _structure(select)
    projects_this = where.projects_this
    # rdflib parses the query once (its parser is slow): the text as pyshacl runs it when it is a
    # target, else with ?this projected and the focus mark at the head of the WHERE group.
    added = select if projects_this else select[:where.modifier] + " ?this" + select[where.modifier:]
    at = where.where + (0 if projects_this else len(" ?this"))
    marked = added[:at] + f" ?this {_FOCUS_MARK} ?this . " + added[at:]
    analysed = text if target else prologue + "\n" + marked
    if analysed not in _ANALYSED:
        from rdflib.plugins.sparql.algebra import translateQuery
        from rdflib.plugins.sparql.parser import parseQuery

        try:
            algebra = translateQuery(parseQuery(analysed)).algebra
        except Exception as error:  # noqa: BLE001 - rdflib raises many kinds
            _ANALYSED[analysed] = f"the SPARQL query does not parse: {error}"
        else:
            if algebra.name != "SelectQuery":
                _ANALYSED[analysed] = "only SELECT queries are compiled"
            else:
                _ANALYSED[analysed] = _view_independent(algebra) if target else _join_equals_prebinding(algebra)
    analysis = _ANALYSED[analysed]
    if isinstance(analysis, str):
        raise Unsupported(f"{node}: {analysis}")
    if target:
        # A target is a sub-SELECT in queries of both views: it must not depend on how literals are read.
        if not analysis:
            raise Unsupported(f"{node}: a SPARQL target with expressions or literals is not compiled")
        return _SparqlQuery(node, text, None, None, projects_this, prefixes)
    joined = hashed = None
    if analysis:
        joined = prologue + "\n" + added[:at] + " {FOCUS} " + added[at:]
        try:
            rewritten = _lateral_exists(joined, len(prologue) + 1 + at, {"this"})
            ox.Store().query(rewritten.replace("{FOCUS}", "{ }"))
            hashed = _lateral_exists(joined, len(prologue) + 1 + at, {"this"}, hashed=True)
            ox.Store().query(hashed.replace("{FOCUS}", "{ }"))
        except (Unsupported, SyntaxError, KeyError, IndexError, StopIteration):
            hashed = None  # keep the query as written: right, maybe slow
        else:
            joined = rewritten
    focused = None
    if joined is not None:
        # Joined with a few focus nodes, the rest of the group is best evaluated once per focus node, with
        # ?this bound (a UNION of the group, say, would otherwise be evaluated over the whole data first).
        try:
            tokens = _Tokens(joined)
            mark = joined.index("{FOCUS}")
            opening = max(i for i, (a, _, t) in enumerate(tokens.items) if t == "{" and a < mark
                          and tokens.match[i] > i + 2)
            close = tokens.items[tokens.match[opening]][0]
            after = mark + len("{FOCUS}")
            focused = joined[:after] + " LATERAL { " + joined[after:close] + " } " + joined[close:]
            ox.Store().query(focused.replace("{FOCUS}", "{ }"))
        except (Unsupported, SyntaxError, KeyError, ValueError):
            focused = None
    # Over every focus node, EXISTS hashed where it can be; a few focus nodes test theirs one at a time
    plan = _SparqlQuery(node, text, prologue + "\n" + added, hashed or joined, projects_this, prefixes)
    plan.focused = focused
    return plan


class _Sparql(_Component):
    iri = SH + "SPARQLConstraintComponent"

    def __init__(self, queries: list[_SparqlQuery]):
        self.queries = queries

    def evaluate(self, ev, shape, focus):
        results = []
        for q in self.queries:
            if q.deactivated:
                continue
            if q.joined is not None:
                names = _Names("value")
                text = q.focused if ev.restricted and q.focused else q.joined
                rows = ev.select_dicts(text.replace("{FOCUS}", focus.pattern(names, "?this")))
                by_focus: dict = {}
                for row in rows:
                    by_focus.setdefault(row["this"], []).append(row)
            else:
                names = _Names("value")
                by_focus = {}
                for row in ev.select_dicts(f"SELECT DISTINCT ?this WHERE {{ {focus.pattern(names, '?this')} }}"):
                    f = row["this"]
                    by_focus[f] = ev.select_dicts(q.prebound, substitutions={ox.Variable("this"): f})
            for f, rows in by_focus.items():
                violations = []
                for row in rows:
                    row = {k: _rdflib(v) for k, v in row.items() if v is not None and not k.startswith("_kgexists")}
                    if not q.projects_this:
                        row.pop("this", None)
                    failure = row.pop("failure", None)
                    if failure is not None:
                        if not any(v[0] is True for v in violations):
                            violations.append((True, row))
                        continue
                    p, v, t = row.pop("path", None), row.pop("value", None), row.pop("this", None)
                    if p is not None or v is not None or t is not None:
                        key = (t, p, v, row)
                        if key not in violations:
                            violations.append(key)
                result_value = None if shape.is_property else _rdflib(f)
                for violation in violations:
                    if len(violation) == 2:
                        bound, value, path = violation[1], result_value, None
                    else:
                        t, p, v, extra = violation
                        value = v if v is not None else result_value
                        path = p
                        bound = (t, p, value, extra)
                    results.append(ev.result(
                        self, shape, f, value=_from_rdflib(value), path=_from_rdflib(path),
                        source_constraint=q.node, extra_messages=q.messages, bound=bound))
        return results


def _from_rdflib(term):
    if term is None:
        return None
    from kg.rdf import from_rdflib_term
    import rdflib

    if isinstance(term, rdflib.term.Node):
        return from_rdflib_term(term)
    return term


def _format_message(msg: str, bound) -> str:
    """pyshacl's ConstraintComponent._format_sparql_based_result_message."""
    fdict = {}
    if isinstance(bound, (tuple, list)):
        if len(bound) == 4:
            fdict.update(bound[3])
            bound = bound[:3]
        if len(bound) == 3:
            for name, val in zip(("this", "path", "value"), bound):
                if val is not None:
                    fdict[name] = val
    elif isinstance(bound, dict):
        fdict.update(bound)
    else:
        return msg
    for var, val in fdict.items():
        msg = re.sub("{{[?$]{}}}".format(var), str(val), msg)
    return msg


# ---------------------------------------------------------------------------------------------------------
# Compiling the shapes graph

_PARAMETERS = {  # constraint parameter -> component key (pyshacl's CONSTRAINT_PARAMETERS_MAP, compiled part)
    "class": "class", "datatype": "datatype", "nodeKind": "nodeKind", "minCount": "minCount",
    "maxCount": "maxCount", "in": "in", "hasValue": "hasValue", "minLength": "minLength",
    "maxLength": "maxLength", "languageIn": "languageIn", "lessThan": "lessThan", "node": "node", "or": "or",
    "property": "property", "qualifiedValueShape": "qualified", "qualifiedMinCount": "qualified",
    "qualifiedMaxCount": "qualified", "qualifiedValueShapesDisjoint": "qualified", "sparql": "sparql",
}
_NOT_COMPILED = {  # pyshacl constraint parameters (and advanced features) this compiler does not compile
    "and", "not", "xone", "pattern", "flags", "uniqueLang", "equals", "disjoint", "lessThanOrEquals",
    "minInclusive", "maxInclusive", "minExclusive", "maxExclusive", "closed", "ignoredProperties",
    "expression", "js", "rule",
}
_TARGETS = ("targetClass", "targetNode", "targetSubjectsOf", "targetObjectsOf", "target")


class Compiled:
    """The compiled shapes graph. `run` validates a store; compile once, run many times."""

    def __init__(self, g: _Graph, shapes: dict, top: list[Shape], prologue: str):
        self.graph, self.shapes, self.top, self.prologue = g, shapes, top, prologue

    def run(self, store: ox.Store, *, focus: Iterable[ox.NamedNode] | None = None) -> "Outcome":
        """Validate the data graph of a validation store (`new_store`, `add`). With `focus`, only results
        whose (top-level) focus node is one of those nodes are produced: pyshacl's results on the whole
        graph, restricted to them."""
        restrict = None
        if focus is not None:
            restrict = tuple(sorted(set(focus), key=str))
            for node in restrict:
                if not isinstance(node, ox.NamedNode):
                    raise TypeError(f"focus nodes must be IRIs, not {node!r}")
        ev = _Evaluator(self, store, self.prologue, restricted=restrict is not None)
        per_shape = []
        for shape in self.top:
            target: _Focus = _TargetFocus(shape.targets, restrict)
            if restrict is not None and not shape.deactivated:
                # Which of the few focus nodes the shape targets, in one query: a shape that targets none
                # of them (most, after an edit of one article) runs none of its components' queries.
                names = _Names()
                nodes = [row[0] for row in ev.select(f"SELECT ?f WHERE {{ {target.pattern(names, '?f')} }}")]
                if not nodes:
                    per_shape.append((shape, []))
                    continue
                target = _NodesFocus(sorted(nodes, key=str))
            per_shape.append((shape, ev.evaluate(shape, target)))
        if restrict is None:
            # pyshacl with allow_warnings/allow_infos: a shape fails when it is not itself a warning or
            # info shape and one of its results is neither
            conforms = not any(
                shape.severity not in _ALLOWED and any(r.severity not in _ALLOWED for r in results)
                for shape, results in per_shape)
        else:
            # a part of the graph has no pyshacl verdict; it conforms unless one of its results is a violation
            conforms = not any(r.severity not in _ALLOWED for _, results in per_shape for r in results)
        results = [r for _, rs in per_shape for r in rs]
        return Outcome(conforms, results, ev)


def compile_shapes(triples: Iterable[ox.Triple]) -> Compiled:
    """Compile a SHACL shapes graph. Raises Unsupported, naming the feature, if any shape uses one that is
    not compiled (the caller can then run pyshacl instead)."""
    g = _Graph(triples)
    nodes = _shape_nodes(g)
    for constraint_component in g.subjects(RDF_TYPE, ox.NamedNode(SH + "ConstraintComponent")):
        if not (isinstance(constraint_component, ox.NamedNode) and constraint_component.value.startswith(SH)):
            raise Unsupported(f"custom constraint component {constraint_component} is not compiled")
    for kind in ("SPARQLFunction", "SPARQLRule", "TripleRule", "SPARQLTargetType", "JSTarget", "JSConstraint"):
        if g.subjects(RDF_TYPE, ox.NamedNode(SH + kind)):
            raise Unsupported(f"sh:{kind} is not compiled")
    shapes = {node: _shape(g, node, path) for node, path in nodes.items()}
    for shape in shapes.values():
        _resolve(g, shape, shapes)
    _check_nesting(shapes)
    top = [s for s in shapes.values() if s.targets]
    top.sort(key=lambda s: str(s.node))
    # The PREFIX lines of SPARQL targets head every query (a target is a sub-SELECT in them); a SPARQL
    # constraint that binds one of those prefixes to another namespace would change the target's meaning.
    prefixes: dict[str, str] = {}
    for shape in top:
        for part in shape.targets:
            for prefix, namespace in getattr(part, "prefixes", {}).items():
                if prefixes.setdefault(prefix, namespace) != namespace:
                    raise Unsupported(f"SPARQL targets bind prefix {prefix!r} to different namespaces")
    for shape in shapes.values():
        for c in shape.components:
            for q in getattr(c, "queries", ()):
                for prefix, namespace in q.prefixes.items():
                    if prefixes.get(prefix, namespace) != namespace:
                        raise Unsupported(f"{q.node} binds prefix {prefix!r} unlike a SPARQL target")
    return Compiled(g, shapes, top, _prologue(prefixes))


def _shape_nodes(g: _Graph) -> dict:
    """Every shape pyshacl would load (ShapesGraph._build_node_shape_cache), with its sh:path or None."""
    node_shapes = set(g.subjects(RDF_TYPE, ox.NamedNode(SH + "NodeShape")))
    property_shapes = set(g.subjects(RDF_TYPE, ox.NamedNode(SH + "PropertyShape")))
    found: dict = {}
    for s in node_shapes:
        if g.objects(s, SH + "path"):
            raise Unsupported(f"node shape {s} has a sh:path")
        found[s] = None
    for s in property_shapes:
        if s in node_shapes:
            raise Unsupported(f"{s} is both a node shape and a property shape")
        paths = g.objects(s, SH + "path")
        if len(paths) != 1:
            raise Unsupported(f"property shape {s} needs exactly one sh:path")
        found[s] = paths[0]
    implied = {s for t in ("targetClass", "targetNode", "targetObjectsOf", "targetSubjectsOf", "property", "node")
               for s in g.subjects(SH + t)}
    values = {o for p in ("property", "node", "not", "qualifiedValueShape") for s in g.subjects(SH + p)
              for o in g.objects(s, SH + p)}
    for p in ("and", "or", "xone"):
        for s in g.subjects(SH + p):
            for lst in g.objects(s, SH + p):
                members = g.items(lst)
                if not members:
                    raise Unsupported(f"empty sh:{p} list")
                values.update(members)
    for s in list(implied) + list(values):
        if s in found:
            continue
        paths = g.objects(s, SH + "path")
        if len(paths) > 1:
            raise Unsupported(f"implicit property shape {s} has several sh:path")
        found[s] = paths[0] if paths else None
    return found


def _shape(g: _Graph, node, path) -> Shape:
    shape = Shape(node, path is not None, path)
    if path is not None:
        shape.path_sparql = _path_sparql(g, path)
    deactivated = g.objects(node, SH + "deactivated")
    if len(deactivated) > 1 or (deactivated and not isinstance(deactivated[0], ox.Literal)):
        raise Unsupported(f"{node}: malformed sh:deactivated")
    shape.deactivated = bool(deactivated and bool(_rdflib(deactivated[0]).value))
    severity = g.objects(node, SH + "severity")
    if severity:
        if not isinstance(severity[0], ox.NamedNode):
            raise Unsupported(f"{node}: sh:severity must be an IRI")
        shape.severity = severity[0].value
    shape.messages = list(g.objects(node, SH + "message"))
    shape.targets = _targets(g, node)
    return shape


def _targets(g: _Graph, node) -> list:
    parts = []
    for c in g.objects(node, SH + "targetClass"):
        parts.append(lambda names, var, c=c: _instances(names, var, c))
    types = set(g.objects(node, RDF_TYPE))
    classes = {ox.NamedNode(RDFS + "Class"), ox.NamedNode(OWL + "Class")} | set(g.subjects(SUBCLASS, ox.NamedNode(RDFS + "Class")))
    if types & classes:
        parts.append(lambda names, var: _instances(names, var, node))
    for n in g.objects(node, SH + "targetNode"):
        parts.append(lambda names, var, n=n: f"{{ VALUES {var} {{ {names.term(n)} }} }}")
    for p in g.objects(node, SH + "targetSubjectsOf"):
        parts.append(lambda names, var, p=p: f"{{ {var} {_sparql(p)} {names('o')} }}")
    for p in g.objects(node, SH + "targetObjectsOf"):
        parts.append(lambda names, var, p=p: f"{{ {names('s')} {_sparql(p)} {var} }}")
    for target in g.objects(node, SH + "target"):
        selects = g.objects(target, SH + "select")
        if not selects and ox.NamedNode(SH + "SPARQLTarget") not in g.objects(target, RDF_TYPE):
            raise Unsupported(f"{node}: sh:target {target} is not a SPARQL target")
        if not selects or not isinstance(selects[0], ox.Literal):
            raise Unsupported(f"{node}: SPARQL target without sh:select")
        q = _sparql_plan(g, node, target, selects[0].value, None, target=True)
        if not q.projects_this:
            raise Unsupported(f"{node}: SPARQL target does not select ?this")
        parts.append(_SparqlTargetPart(q.text))
    for t in (g.objects(node, SH + "targetClass") + g.objects(node, SH + "targetNode")):
        if isinstance(t, ox.BlankNode):
            raise Unsupported(f"{node}: blank node target")
    return parts


def _instances(names: _Names, var: str, c) -> str:
    """The instances of class c (rdf:type/rdfs:subClassOf*), the subclasses first: pyoxigraph walks
    rdf:type/rdfs:subClassOf* from every typed node otherwise."""
    k = names("c")
    return f"{{ {k} <{SUBCLASS}>* {_sparql(c)} . {var} <{RDF_TYPE}> {k} }}"


class _SparqlTargetPart:
    """A SPARQL target as a group: its query as a sub-SELECT; its PREFIX lines go to every query's prologue."""

    def __init__(self, text: str):
        select = _structure(text).select - len("SELECT")
        head, self.body = text[:select], text[select:]
        if re.search(r"\bBASE\b", head, flags=re.I):
            raise Unsupported("BASE in a SPARQL target")
        self.prefixes: dict[str, str] = {}
        for prefix, namespace in re.findall(r"PREFIX\s+([\w\-.]*):\s*<([^>]*)>", head, flags=re.I):
            self.prefixes[prefix] = namespace

    def __call__(self, names, var, nodes: str | None = None):
        body = self.body
        if nodes is not None:
            # VALUES at the head of the target's WHERE group: a join, the same whatever its place
            # (a target is graph patterns and (NOT) EXISTS only, see _view_independent)
            where = _structure(body).where
            body = body[:where] + f" VALUES ?this {{ {nodes} }} " + body[where:]
        if var == "?this":
            return f"{{ SELECT DISTINCT ?this WHERE {{ {{ {body} }} }} }}"
        return f"{{ SELECT DISTINCT {var} WHERE {{ {{ {body} }} BIND (?this AS {var}) }} }}"


def _resolve(g: _Graph, shape: Shape, shapes: dict) -> None:
    """Turn the shape's constraint parameters into components (one per component kind, as pyshacl)."""
    node = shape.node
    seen = []
    for p in g.predicates(node):
        if not p.startswith(SH):
            continue
        local = p[len(SH):]
        if local in _NOT_COMPILED:
            raise Unsupported(f"sh:{local} (on {node}) is not compiled")
        key = _PARAMETERS.get(local)
        if key and key not in seen:
            seen.append(key)
    for key in seen:
        component = _component(g, shape, key, shapes)
        if component is not None:
            shape.components.append(component)


def _one(g, node, local):
    values = g.objects(node, SH + local)
    if len(values) != 1:
        raise Unsupported(f"{node}: needs exactly one sh:{local}")
    return values[0]


def _whole(g, node, local, *, nonnegative=True):
    literal = _one(g, node, local)
    # read without rdflib: importing it costs a quarter of a second, most of a touched `kg validate`
    if not isinstance(literal, ox.Literal) or literal.datatype.value != XSD + "integer" or \
            not _INTEGER.fullmatch(literal.value) or (nonnegative and int(literal.value) < 0):
        raise Unsupported(f"{node}: sh:{local} must be a non-negative xsd:integer")
    return literal


_INTEGER = re.compile(r"[+-]?[0-9]+")  # the lexical space of xsd:integer


def _lookup(shapes, node):
    if node not in shapes:
        raise Unsupported(f"{node} is not a shape")
    return shapes[node]


def _component(g: _Graph, shape: Shape, key: str, shapes: dict):
    node = shape.node
    objects = lambda local: g.objects(node, SH + local)  # noqa: E731
    if key == "class":
        return _Class(objects("class"))
    if key == "datatype":
        datatype = _one(g, node, "datatype")
        if not isinstance(datatype, ox.NamedNode):
            raise Unsupported(f"{node}: sh:datatype must be an IRI")
        return _Datatype(datatype.value)
    if key == "nodeKind":
        return _NodeKind(_one(g, node, "nodeKind"))
    if key in ("minCount", "maxCount"):
        if not shape.is_property:
            raise Unsupported(f"{node}: sh:{key} on a node shape")
        literal = _whole(g, node, key)
        return _MinCount(literal) if key == "minCount" else _MaxCount(literal)
    if key == "in":
        members = g.items(_one(g, node, "in"))
        for m in members:
            _sparql(m)
        return _In(members)
    if key == "hasValue":
        values = objects("hasValue")
        for v in values:
            _sparql(v)
        return _HasValue(values)
    if key in ("minLength", "maxLength"):
        literal = _one(g, node, key)
        if isinstance(literal, ox.Literal) and literal.datatype.value == XSD + "integer" and \
                _INTEGER.fullmatch(literal.value) and int(literal.value) >= 0:
            return _Length(literal, key == "minLength")  # the usual case, read without importing rdflib
        import rdflib

        term = _rdflib(literal) if isinstance(literal, ox.Literal) else None
        whole = {rdflib.XSD[x] for x in ("integer", "int", "long", "short", "byte", "nonNegativeInteger",
                                          "positiveInteger", "unsignedInt", "unsignedLong", "unsignedShort",
                                          "unsignedByte")}
        if term is None or getattr(term, "ill_typed", False) or term.datatype not in whole or term.value < 0:
            raise Unsupported(f"{node}: sh:{key} must be a non-negative whole number")
        return _Length(literal, key == "minLength")
    if key == "languageIn":
        lst = _one(g, node, "languageIn")
        languages = []
        for item in g.items(lst):
            if not isinstance(item, ox.Literal) or item.datatype.value != XSD + "string":
                raise Unsupported(f"{node}: sh:languageIn members must be plain strings")
            languages.append(item.value.lower())
        return _LanguageIn(lst, languages)
    if key == "lessThan":
        if not shape.is_property:
            raise Unsupported(f"{node}: sh:lessThan on a node shape")
        properties = objects("lessThan")
        for p in properties:
            if not isinstance(p, ox.NamedNode):
                raise Unsupported(f"{node}: sh:lessThan must be an IRI")
        return _LessThan(properties)
    if key == "node":
        targets = [_lookup(shapes, n) for n in objects("node")]
        if any(t.is_property for t in targets):
            raise Unsupported(f"{node}: sh:node names a property shape")
        return _NodeComponent(targets)
    if key == "or":
        return _Or([(lst, [_lookup(shapes, m) for m in g.items(lst)]) for lst in objects("or")])
    if key == "property":
        targets = [_lookup(shapes, n) for n in objects("property")]
        if any(not t.is_property for t in targets):
            raise Unsupported(f"{node}: sh:property names a shape without sh:path")
        return _Property(targets)
    if key == "qualified":
        if not shape.is_property:
            return None  # pyshacl ignores sh:qualifiedValueShape on a node shape (with a warning)
        targets = [_lookup(shapes, n) for n in objects("qualifiedValueShape")]
        if not targets:
            raise Unsupported(f"{node}: sh:qualifiedValueShape missing")
        for d in objects("qualifiedValueShapesDisjoint"):
            if isinstance(d, ox.Literal) and _rdflib(d).value is True:
                raise Unsupported(f"{node}: sh:qualifiedValueShapesDisjoint is not compiled")
        minimum = _integer(_whole(g, node, "qualifiedMinCount", nonnegative=False)) if objects("qualifiedMinCount") else None
        maximum = _integer(_whole(g, node, "qualifiedMaxCount", nonnegative=False)) if objects("qualifiedMaxCount") else None
        if minimum is None and maximum is None:
            raise Unsupported(f"{node}: sh:qualifiedValueShape without qualifiedMinCount or qualifiedMaxCount")
        return _Qualified(targets, minimum, maximum)
    if key == "sparql":
        queries = []
        for s in objects("sparql"):
            selects = g.objects(s, SH + "select")
            if len(selects) != 1 or not isinstance(selects[0], ox.Literal):
                raise Unsupported(f"{s}: a SPARQL constraint needs exactly one sh:select (sh:ask is not compiled)")
            q = _sparql_plan(g, node, s, selects[0].value, shape.path_sparql, target=False)
            messages = g.objects(s, SH + "message")
            if messages and not isinstance(messages[0], ox.Literal):
                raise Unsupported(f"{s}: sh:message must be a literal")
            q.messages = messages
            deactivated = g.objects(s, SH + "deactivated")
            q.deactivated = bool(deactivated and _rdflib(deactivated[0]).value is True)
            queries.append(q)
        return _Sparql(queries)
    raise AssertionError(key)


def _check_nesting(shapes: dict) -> None:
    """Shapes reached through sh:node, sh:or or sh:qualifiedValueShape: no recursion, Violation severity."""
    def children(shape):
        for c in shape.components:
            if isinstance(c, (_NodeComponent, _Qualified, _Property)):
                yield from c.shapes
            elif isinstance(c, _Or):
                for _, members in c.lists:
                    yield from members

    def nested_roots(shape):
        for c in shape.components:
            if isinstance(c, (_NodeComponent, _Qualified)):
                yield from c.shapes
            elif isinstance(c, _Or):
                for _, members in c.lists:
                    yield from members

    def visit(shape, path):
        if shape in path:
            raise Unsupported(f"recursive shapes ({shape.node}) are not compiled")
        for child in children(shape):
            visit(child, path + [shape])

    for shape in shapes.values():
        visit(shape, [])
    seen = set()
    stack = [n for s in shapes.values() for n in nested_roots(s)]
    while stack:
        shape = stack.pop()
        if id(shape) in seen:
            continue
        seen.add(id(shape))
        if shape.severity != VIOLATION:
            raise Unsupported(f"sh:severity on {shape.node}, which is used nested (sh:node, sh:or, qualified)")
        stack.extend(children(shape))


# ---------------------------------------------------------------------------------------------------------
# Evaluation


class _Evaluator:
    def __init__(self, compiled: Compiled, store: ox.Store, prologue: str, restricted: bool = False):
        self.compiled, self.sg, self.store, self.prologue = compiled, compiled.graph, store, prologue
        # With a few focus nodes, a test per candidate beats a pass over the whole data (MINUS, a hash join)
        self.restricted = restricted
        self._conforms: dict = {}
        self._data_graph = None
        self._stringify = None
        self.queries = 0

    # -- queries

    def select(self, text: str, **kwargs) -> list[tuple]:
        """Run a query of the exact view (DATA + EXACT); escaped literals come back as written."""
        self.queries += 1
        solutions = self.store.query(self.prologue + text, default_graph=_VIEWS["exact"], **kwargs)
        width = len(solutions.variables)
        return [tuple(_unescape(s[i]) for i in range(width)) for s in solutions]

    def select_dicts(self, text: str, **kwargs) -> list[dict]:
        """Run a query of the value view (DATA + VALUE), as pyoxigraph reads the data."""
        self.queries += 1
        solutions = self.store.query(self.prologue + text, default_graph=_VIEWS["value"], **kwargs)
        names = [v.value for v in solutions.variables]
        return [{n: s[i] for i, n in enumerate(names)} for s in solutions]

    # -- shapes

    def evaluate(self, shape: Shape, focus: _Focus) -> list[Result]:
        if shape.deactivated:
            return []
        results = []
        for component in shape.components:
            results += component.evaluate(self, shape, focus)
        return results

    def conforms(self, shape: Shape, names: _Names, var: str) -> str | None:
        """A SPARQL expression for "the node in `var` conforms to `shape`" (nested use), or None."""
        if shape.deactivated:
            return "true"
        parts = []
        for component in shape.components:
            test = component.conforms(self, shape, names, var)
            if test is None:
                return None
            parts.append(f"({test})")
        return " && ".join(parts) or "true"

    def nonconforming(self, shape: Shape, values: _Focus) -> dict:
        """Among the nodes of `values`, those that do not conform to `shape` -> their results."""
        names = _Names()
        test = self.conforms(shape, names, "?this")
        if test is not None:
            rows = self.select(f"SELECT DISTINCT ?this WHERE {{ {values.pattern(names, '?this')} FILTER (!({test})) }}")
            nodes = [f for (f,) in rows]
            if not nodes:
                return {}
            found: dict = {n: [] for n in nodes}
            for r in self.evaluate(shape, self._nodes_focus(values, shape, nodes)):
                found.setdefault(r.focus, []).append(r)
            return found
        found = {}
        for r in self.evaluate(shape, values):
            found.setdefault(r.focus, []).append(r)
        return found

    def _nodes_focus(self, values: _Focus, shape: Shape, nodes: list) -> _Focus:
        if any(isinstance(n, ox.BlankNode) for n in nodes):
            def condition(names, var):
                test = self.conforms(shape, names, var)
                return f"!({test})"
            return _FilteredFocus(values, condition)
        return _NodesFocus(nodes)

    def pairs(self, shape: Shape, focus: _Focus, values) -> list[tuple]:
        """(focus node, value node) pairs of `shape` whose value is one of `values`."""
        values = set(values or ())
        if not values:
            return []
        names = _Names()
        rows = []
        named = [v for v in values if not isinstance(v, ox.BlankNode)]
        if named:
            rows += self.select(f"SELECT DISTINCT ?this ?value WHERE {{ {shape.focus_values(names, focus)} "
                                f"VALUES ?value {{ {' '.join(map(names.term, named))} }} }}")
        if len(named) < len(values):
            names = _Names()
            rows += [(f, v) for f, v in self.select(
                f"SELECT DISTINCT ?this ?value WHERE {{ {shape.focus_values(names, focus)} FILTER (isBlank(?value)) }}")
                if v in values]
        return rows

    def failing_values(self, shape: Shape, focus: _Focus, target: Shape) -> list[tuple]:
        """sh:node: (focus, value, details) for each value node that does not conform to `target`."""
        values = shape.value_focus(focus)
        found = self.nonconforming(target, values)
        if not found:
            return []
        return [(f, v, found[v]) for f, v in self.pairs(shape, focus, found)]

    # -- results

    def result(self, component: _Component, shape: Shape, focus, *, value=None, path=None, iri=None,
               source_constraint=None, extra_messages=None, bound=None) -> Result:
        iri = iri or component.iri
        if path is None and shape.is_property:
            path = shape.path
        make = lambda: self._messages(component, shape, focus, value, extra_messages, bound)  # noqa: E731
        return Result(focus, iri, shape, value=value, path=path, source_constraint=source_constraint,
                      make_messages=make)

    def _messages(self, component: _Component, shape: Shape, focus, value, extra_messages, bound) -> list:
        import rdflib

        messages = [_rdflib(m) for m in set(shape.messages)]
        final = []
        if extra_messages:
            for m in extra_messages:
                m = _rdflib(m)
                if m in messages:
                    continue
                if isinstance(m, rdflib.Literal) and bound is not None:
                    m = rdflib.Literal(_format_message(str(m.value), bound))
                final.append(m)
        elif not messages:
            messages = [rdflib.Literal(m) for m in component.generic(self, shape, focus, value)]
        for m in messages:
            if isinstance(m, rdflib.Literal) and bound is not None:
                m = rdflib.Literal(_format_message(str(m.value), bound))
            final.append(m)
        return final

    # -- pyshacl's stringify_node, for generic messages

    def stringify_rdflib(self, graph, node) -> str:
        if self._stringify is None:
            from pyshacl.rdfutil import stringify_node

            self._stringify = stringify_node
        return self._stringify(graph, node)

    def stringify(self, graph, node) -> str:
        if isinstance(graph, _Graph):
            graph = graph.rdflib
        return self.stringify_rdflib(graph, _rdflib(node))

    def data_graph(self, *nodes):
        """An rdflib graph standing in for pyshacl's data graph when stringifying `nodes`: the namespaces of
        a new rdflib Graph, and the descriptions of blank nodes."""
        import rdflib

        if self._data_graph is None:
            self._data_graph = rdflib.Graph()
        for node in nodes:
            if isinstance(node, ox.BlankNode):
                self.describe(node, self._data_graph)
        return self._data_graph

    def describe(self, node: ox.BlankNode, graph, depth: int = 0) -> None:
        """Copy the triples of a data blank node (and of blank nodes under it) into an rdflib graph."""
        from kg.rdf import to_rdflib_term

        if depth > 12 or (to_rdflib_term(node), None, None) in graph:
            return
        quads = [q for g in _VIEWS["exact"] for q in self.store.quads_for_pattern(node, None, None, g)]
        for q in quads:
            graph.add((to_rdflib_term(q.subject), to_rdflib_term(q.predicate), to_rdflib_term(_unescape(q.object))))
        for q in quads:
            if isinstance(q.object, ox.BlankNode):
                self.describe(q.object, graph, depth + 1)


# ---------------------------------------------------------------------------------------------------------
# The report


@dataclass
class Outcome:
    conforms: bool
    results: list[Result]
    _ev: _Evaluator

    @property
    def queries(self) -> int:
        return self._ev.queries

    def report(self):
        """The validation report as an rdflib Graph, built as pyshacl builds it (Validator.create_validation_report)."""
        import rdflib

        from kg.rdf import to_rdflib_term

        sh = rdflib.Namespace(SH)
        vg = rdflib.Graph(bind_namespaces="core")
        vr = rdflib.BNode()
        vg.add((vr, rdflib.RDF.type, sh.ValidationReport))
        vg.add((vr, sh.conforms, rdflib.Literal(self.conforms)))
        cloned: dict = {}
        sg = self._ev.sg.rdflib
        data = None

        def clone(source, term):
            nonlocal data
            node = to_rdflib_term(term)
            if isinstance(node, rdflib.Literal):
                return node
            key = (source, str(node))
            if key in cloned:
                return cloned[key]
            if isinstance(node, rdflib.BNode):
                if source == "data":
                    if data is None:
                        data = rdflib.Graph()
                    self._ev.describe(term, data)
                    graph = data
                else:
                    graph = sg
                cloned[key] = _clone_blank_node(graph, node, vg, keepid=True)
            else:
                cloned[key] = rdflib.URIRef(str(node))
            return cloned[key]

        def add(result: Result):
            r = rdflib.BNode()
            vg.add((r, rdflib.RDF.type, sh.ValidationResult))
            vg.add((r, sh.sourceConstraintComponent, clone("sg", ox.NamedNode(result.component))))
            vg.add((r, sh.sourceShape, clone("sg", result.shape.node)))
            vg.add((r, sh.resultSeverity, rdflib.URIRef(result.severity)))
            vg.add((r, sh.focusNode, clone("data", result.focus)))
            if result.value is not None:
                vg.add((r, sh.value, clone("data", result.value)))
            if result.path is not None:
                vg.add((r, sh.resultPath, clone("sg", result.path)))
            if result.source_constraint is not None:
                vg.add((r, sh.sourceConstraint, clone("sg", result.source_constraint)))
            for m in result.messages:
                vg.add((r, sh.resultMessage, m))
            for detail in result.details:
                vg.add((r, sh.detail, add(detail)))
            return r

        for result in self.results:
            vg.add((vr, sh.result, add(result)))
        return vg


def _clone_blank_node(graph, bnode, target, keepid=False, recursion=0):
    """pyshacl.rdfutil.clone.clone_blank_node (with clone_list and clone_node for what it reaches)."""
    import rdflib

    cloned = rdflib.BNode(str(bnode)) if keepid else rdflib.BNode()
    if recursion >= 10:
        return cloned
    predicates = set(graph.predicates(bnode))
    if not predicates:
        return cloned
    if rdflib.RDF.first in predicates:
        return _clone_list(graph, bnode, target, keepid, recursion)
    for p in predicates:
        for o in list(graph.objects(bnode, p)):
            target.add((cloned, rdflib.URIRef(str(p)), _clone_node(graph, o, target, recursion + 1)))
    return cloned


def _clone_list(graph, head, target, keepid, recursion):
    import rdflib
    from rdflib.collection import Collection

    cloned = rdflib.BNode(str(head)) if keepid else rdflib.BNode()
    new_list = Collection(target, cloned)
    for item in graph.items(head):
        new_list.append(_clone_node(graph, item, target, recursion + 1))
    return cloned


def _clone_node(graph, node, target, recursion=0):
    import rdflib

    if isinstance(node, rdflib.Literal):
        return rdflib.Literal(str(node), node.language, node.datatype)
    if isinstance(node, rdflib.BNode):
        return _clone_blank_node(graph, node, target, recursion=recursion + 1)
    return rdflib.URIRef(str(node))
