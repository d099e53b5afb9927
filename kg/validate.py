"""SHACL validation of the grounded graph, with results a person can act on."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterable

import pyoxigraph as ox

from kg.curation import Source, prefixed
from kg.namespaces import PROV, RDF, RDFS, SH, XSD

_SEVERITY = {SH + "Violation": "violation", SH + "Warning": "warning", SH + "Info": "info"}


@dataclass(frozen=True)
class Finding:
    unit: str  # "registry" or the article slug
    focus: str
    kind: str | None  # label of the focus node's class, e.g. "bilateral meeting"
    path: str | None
    value: str | None
    message: str
    shape: str | None
    component: str
    severity: str
    file: str | None
    line: int | None

    def where(self) -> str:
        if not self.file:
            return ""
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Report:
    conforms: bool
    findings: tuple[Finding, ...]
    graph: bytes  # the SHACL validation report, Turtle

    def text(self) -> str:
        if self.conforms and not self.findings:
            return "conforms: no SHACL violations\n"
        lines = []
        units: dict[str, dict[str, list[Finding]]] = {}
        for finding in self.findings:
            units.setdefault(finding.unit, {}).setdefault(finding.focus, []).append(finding)
        for unit in sorted(units):
            count = sum(len(v) for v in units[unit].values())
            lines.append(f"{unit}: {count} problem{'s' if count != 1 else ''}")
            for focus in sorted(units[unit]):
                findings = units[unit][focus]
                first = findings[0]
                name = _short(focus)
                kind = f"{first.kind} " if first.kind else ""
                lines.append(f"  {first.where() + ': ' if first.where() else ''}{kind}{name}")
                for f in findings:
                    detail = ", ".join(x for x in (_short(f.shape) if f.shape else None, _short(f.path) if f.path else None) if x)
                    severity = "" if f.severity == "violation" else f"{f.severity}: "
                    lines.append(f"    - {severity}{f.message} [{detail}]")
        verdict = "conforms" if self.conforms else "does not conform"
        lines.append(f"{verdict}: {len(self.findings)} result{'s' if len(self.findings) != 1 else ''}")
        return "\n".join(lines) + "\n"

    def json(self) -> str:
        data = {"conforms": self.conforms, "results": [asdict(f) for f in self.findings]}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _short(iri: str) -> str:
    return prefixed(iri) or (f"<{iri}>" if "://" in iri else iri)


ENGINES = ("auto", "sparql", "pyshacl")


def validate(
    data: Iterable[ox.Triple] | ox.Store,
    *,
    shapes: Iterable[ox.Triple],
    ontology: Iterable[ox.Triple],
    sources: dict[str, Source],
    units: dict[str, str],
    engine: str = "auto",
    focus: Iterable[ox.NamedNode] | None = None,
) -> Report:
    """Validate `data` against `shapes`. `sources` maps unit name -> curated file, to point findings at
    file:line; `units` maps a node IRI -> the unit that asserts it.

    `data` is the triples to validate (the ontology is added to them), or a validation store made with
    kg.shacl_sparql.new_store/add that already holds data and ontology (a build that keeps one need not
    load 3.5M triples again). `engine`: "sparql" runs the shapes compiled to SPARQL on pyoxigraph
    (kg.shacl_sparql); "pyshacl" runs pyshacl, the reference the compiled engine is tested against;
    "auto" (the default) is "sparql", or "pyshacl" when the shapes use a feature the compiler does not
    compile. `focus`: only results (with their sh:detail results) whose top-level focus node is one of
    these IRIs, e.g. the nodes of the one article that changed plus the registry nodes it touches; the
    same results as a whole-graph run, restricted to them."""
    from kg import shacl_sparql

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    shapes = list(shapes)
    ontology = list(ontology)
    compiled = None
    if engine != "pyshacl":
        try:
            compiled = _compiled(shapes)
        except shacl_sparql.Unsupported:
            if engine == "sparql":
                raise
    focus = None if focus is None else frozenset(focus)
    if compiled is not None:
        store = data if isinstance(data, ox.Store) else shacl_sparql.new_store(_chain(data, ontology))
        outcome = compiled.run(store, focus=focus)
        if focus is not None and not outcome.results:
            # The usual check of an edit: nothing found. The report is written without rdflib, whose
            # import would be a sixth of such a run.
            return Report(outcome.conforms, (), _empty_report_turtle(outcome.conforms))
        conforms, results = outcome.conforms, outcome.report()
        lookup = _StoreLookup(store, ontology)
    else:
        if isinstance(data, ox.Store):
            data_graph = shacl_sparql.triples(data)
            in_ontology = set(ontology)
            data = [t for t in data_graph if t not in in_ontology]
        else:
            data = list(data)
            data_graph = data + ontology
        conforms, results = _pyshacl(data_graph, shapes)
        if focus is not None:
            conforms, results = _restrict(results, focus)
        lookup = _TripleLookup(data)
    return _report(conforms, results, shapes_graph=_shapes_graph(shapes), labels=_labels(ontology), lookup=lookup,
                   sources=sources, units=units)


def _chain(data, ontology):
    yield from data
    yield from ontology


_COMPILED: dict = {}


def _compiled(shapes: list[ox.Triple]):
    """The shapes compiled once per process and shapes graph (kg.shacl_sparql.compile_shapes)."""
    from kg import shacl_sparql

    key = tuple(shapes)
    if key not in _COMPILED:
        _COMPILED.clear()
        _COMPILED[key] = shacl_sparql.compile_shapes(shapes)
    return _COMPILED[key]


def _shapes_graph(shapes: list[ox.Triple]):
    from kg.rdf import to_rdflib

    return to_rdflib(shapes)


def _pyshacl(data_graph: list[ox.Triple], shapes: list[ox.Triple]):
    import pyshacl

    from kg.rdf import to_rdflib

    # The ontology goes into the data graph itself, not only as pyshacl's ont_graph: pyshacl copies
    # just class and property axioms from ont_graph, so code-list concepts (cameo:040 a skos:Concept)
    # would be missing and every sh:class skos:Concept would fail. With the rdfs:subClassOf triples
    # in the data graph, an instance of a subclass satisfies sh:class of its superclass.
    with _prepared_queries():
        conforms, results, _ = pyshacl.validate(
            to_rdflib(data_graph),
            shacl_graph=to_rdflib(shapes),
            inference="none",
            advanced=True,
            allow_warnings=True,
            allow_infos=True,
        )
    return bool(conforms), results


def _restrict(results, focus: frozenset):
    """A pyshacl report keeping only the top-level results whose focus node is in `focus` (with what they
    reach: sh:detail results, cloned paths and shapes). Conforms unless a kept result is a violation."""
    import rdflib

    from kg.rdf import from_rdflib_term

    sh = rdflib.Namespace(SH)
    report = next(results.subjects(rdflib.RDF.type, sh.ValidationReport))
    dropped = [r for r in results.objects(report, sh.result)
               if from_rdflib_term(results.value(r, sh.focusNode)) not in focus]
    kept = rdflib.Graph(bind_namespaces="core")
    for r in dropped:
        results.remove((report, sh.result, r))
    reached, stack = set(), [report]
    while stack:
        node = stack.pop()
        if node in reached:
            continue
        reached.add(node)
        for p, o in results.predicate_objects(node):
            kept.add((node, p, o))
            if isinstance(o, rdflib.BNode):
                stack.append(o)
    violations = [r for r in kept.objects(report, sh.result) if kept.value(r, sh.resultSeverity) not in (sh.Warning, sh.Info)]
    conforms = not violations
    kept.set((report, sh.conforms, rdflib.Literal(conforms)))
    return conforms, kept


class _TripleLookup:
    """Types and citing facts of nodes, from the data triples (pyshacl engine)."""

    def __init__(self, data: list[ox.Triple]):
        self.types: dict[str, list[str]] = {}
        self.citing: dict[str, str] = {}
        for t in data:
            if t.predicate.value == RDF + "type" and isinstance(t.object, ox.NamedNode):
                self.types.setdefault(str(t.subject.value), []).append(t.object.value)
            elif t.predicate.value == PROV + "wasDerivedFrom":
                known = self.citing.get(t.object.value)
                if known is None or t.subject.value < known:
                    self.citing[t.object.value] = t.subject.value

    def types_of(self, node) -> list[str]:
        return self.types.get(node.value, []) if not isinstance(node, ox.Literal) else []

    def cited_by(self, node) -> str | None:
        return self.citing.get(node.value) if not isinstance(node, ox.Literal) else None


class _StoreLookup:
    """Types and citing facts of nodes, from a validation store (compiled engine); a type stated only by
    the ontology does not count, as it does not in the data triples."""

    def __init__(self, store: ox.Store, ontology: list[ox.Triple]):
        from kg import shacl_sparql

        self.store, self.graphs = store, (shacl_sparql.DATA, shacl_sparql.EXACT)
        self.ontology_types = {(t.subject, t.object) for t in ontology if t.predicate.value == RDF + "type"}

    def _quads(self, s, p, o):
        return [q for g in self.graphs for q in self.store.quads_for_pattern(s, p, o, g)]

    def types_of(self, node) -> list[str]:
        if isinstance(node, ox.Literal):
            return []
        return [q.object.value for q in self._quads(node, ox.NamedNode(RDF + "type"), None)
                if isinstance(q.object, ox.NamedNode) and (node, q.object) not in self.ontology_types]

    def cited_by(self, node) -> str | None:
        if isinstance(node, ox.Literal):
            return None
        subjects = [q.subject.value for q in self._quads(None, ox.NamedNode(PROV + "wasDerivedFrom"), node)]
        return min(subjects) if subjects else None


def _report(conforms: bool, results, *, shapes_graph, labels, lookup, sources, units) -> Report:
    """Findings from a SHACL validation report graph (rdflib), whichever engine made it."""
    import rdflib

    from kg.rdf import from_rdflib_term

    sh = rdflib.Namespace(SH)
    findings = []
    for result in results.subjects(rdflib.RDF.type, sh.ValidationResult):
        focus = results.value(result, sh.focusNode)
        path = results.value(result, sh.resultPath)
        value = results.value(result, sh.value)
        message = results.value(result, sh.resultMessage)
        shape = results.value(result, sh.sourceShape)
        if isinstance(shape, rdflib.BNode):  # a property shape: name the node shape that holds it
            shape = shapes_graph.value(None, sh.property, shape) or shape
        component = results.value(result, sh.sourceConstraintComponent)
        severity = results.value(result, sh.resultSeverity)
        focus_iri = str(focus)
        node = from_rdflib_term(focus)
        # A generated node (a span, a selector) is reported at the fact that cites it.
        anchor = lookup.cited_by(node) or focus_iri
        unit = units.get(anchor, units.get(focus_iri, "graph"))
        source = sources.get(unit)
        line = None
        if source is not None and isinstance(focus, rdflib.URIRef):
            line = source.line_of(ox.NamedNode(anchor))
        kinds = sorted(labels[c] for c in lookup.types_of(node) if c in labels)
        findings.append(
            Finding(
                unit=unit,
                focus=focus_iri,
                kind=kinds[0] if kinds else None,
                path=_path_text(results, path),
                value=value.n3() if value is not None else None,
                message=str(message) if message is not None else _short(str(component)),
                shape=str(shape) if isinstance(shape, rdflib.URIRef) else None,
                component=str(component),
                severity=_SEVERITY.get(str(severity), str(severity)),
                file=source.path if source else None,
                line=line,
            )
        )
    # a total order (the last keys only break ties), so that the report does not depend on graph order
    findings.sort(key=lambda f: (f.unit, f.focus, f.path or "", f.component, f.message, f.value or "",
                                 f.shape or "", f.severity, f.kind or "", f.file or "", f.line or 0))
    findings = tuple(dict.fromkeys(findings))
    return Report(conforms, findings, _report_turtle(results))


def _path_text(graph, path) -> str | None:
    """A result path as text: the IRI of a predicate path, else SHACL's path in SPARQL property-path syntax
    (`^kg:signedDuring`, `(a/b)`, `(a|b)`, `a*`…). Never a blank node's label, which differs from run to run."""
    import rdflib

    if path is None:
        return None
    if isinstance(path, rdflib.URIRef):
        return str(path)
    sh = rdflib.Namespace(SH)

    def text(node) -> str:
        if isinstance(node, rdflib.URIRef):
            return prefixed(str(node)) or f"<{node}>"
        items = list(rdflib.collection.Collection(graph, node)) if graph.value(node, rdflib.RDF.first) is not None else None
        if items is not None:
            return "(" + "/".join(text(i) for i in items) + ")"
        for predicate, template in ((sh.inversePath, "^{}"), (sh.zeroOrMorePath, "{}*"), (sh.oneOrMorePath, "{}+"),
                                    (sh.zeroOrOnePath, "{}?")):
            inner = graph.value(node, predicate)
            if inner is not None:
                return template.format(text(inner))
        alternatives = graph.value(node, sh.alternativePath)
        if alternatives is not None:
            return "(" + "|".join(text(i) for i in rdflib.collection.Collection(graph, alternatives)) + ")"
        return "?"

    return text(path)


@contextmanager
def _prepared_queries():
    """Parse each SPARQL text once while pyshacl runs, and join from the focus node.

    pyshacl 0.40 hands rdflib the text of a SPARQL constraint for every focus node, and rdflib parses
    it again each time. A parsed and translated query does not depend on the bindings it is evaluated
    with, so it can be reused. Restored on exit: no global change leaks."""
    from rdflib import URIRef, Variable
    from rdflib.plugins.sparql import algebra, processor

    original_query = processor.SPARQLProcessor.query
    original_reorder = algebra.reorderTriples
    cache: dict = {}
    this, bound = Variable("this"), URIRef("urn:kg:bound-this")

    def reorder(triples):
        # rdflib orders a pattern's triples when it translates the query, before it knows that pyshacl
        # binds $this, so it may start with a scan of the whole graph (`?x oa:start ?s`) instead of
        # the focus node's few triples. Ordering as if $this were a constant fixes the join order;
        # the order of a join never changes its answers.
        swapped = [tuple(bound if term == this else term for term in triple) for triple in triples]
        return [tuple(this if term == bound else term for term in triple) for triple in original_reorder(swapped)]

    def query(self, strOrQuery, initBindings=None, initNs=None, base=None, DEBUG=False):  # noqa: N803 - rdflib's names
        if isinstance(strOrQuery, str):
            key = (strOrQuery, base, tuple(sorted((k, str(v)) for k, v in (initNs or {}).items())))
            if key not in cache:
                cache[key] = processor.translateQuery(processor.parseQuery(strOrQuery), base, initNs)
            strOrQuery = cache[key]
        return original_query(self, strOrQuery, initBindings, initNs, base, DEBUG)

    processor.SPARQLProcessor.query = query
    algebra.reorderTriples = reorder
    try:
        yield
    finally:
        processor.SPARQLProcessor.query = original_query
        algebra.reorderTriples = original_reorder


def _labels(ontology: list[ox.Triple]) -> dict[str, str]:
    labels = {}
    for t in ontology:
        if t.predicate.value == RDFS + "label" and isinstance(t.object, ox.Literal) and t.object.language in (None, "en"):
            label = t.object.value
            labels[t.subject.value] = label if label[1:2].isupper() else label[:1].lower() + label[1:]
    return labels


def _empty_report_turtle(conforms: bool) -> bytes:
    """`_report_turtle` of a report without results."""
    from kg.export import serialize

    report = ox.BlankNode()
    return serialize([ox.Quad(report, ox.NamedNode(RDF + "type"), ox.NamedNode(SH + "ValidationReport")),
                      ox.Quad(report, ox.NamedNode(SH + "conforms"), ox.Literal(str(conforms).lower(),
                                                                               datatype=ox.NamedNode(XSD + "boolean")))], "ttl")


def _report_turtle(results) -> bytes:
    from kg.rdf import from_rdflib
    from kg.export import serialize

    return serialize((ox.Quad(t.subject, t.predicate, t.object) for t in from_rdflib(results)), "ttl")
