"""SHACL validation of the grounded graph, with results a person can act on."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterable

import pyoxigraph as ox

from kg.curation import Source, prefixed
from kg.namespaces import PROV, RDF, RDFS, SH

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


def validate(
    data: Iterable[ox.Triple],
    *,
    shapes: Iterable[ox.Triple],
    ontology: Iterable[ox.Triple],
    sources: dict[str, Source],
    units: dict[str, str],
) -> Report:
    """Validate `data` against `shapes`. `sources` maps unit name -> curated file, to point findings at
    file:line; `units` maps a node IRI -> the unit that asserts it."""
    import pyshacl
    import rdflib

    from kg.rdf import to_rdflib

    data = list(data)
    ontology = list(ontology)
    # The ontology goes into the data graph itself, not only as pyshacl's ont_graph: pyshacl copies
    # just class and property axioms from ont_graph, so code-list concepts (cameo:040 a skos:Concept)
    # would be missing and every sh:class skos:Concept would fail. With the rdfs:subClassOf triples
    # in the data graph, an instance of a subclass satisfies sh:class of its superclass.
    data_graph = to_rdflib(data + ontology)
    shapes_graph = to_rdflib(shapes)
    with _prepared_queries():
        conforms, results, _ = pyshacl.validate(
            data_graph,
            shacl_graph=shapes_graph,
            inference="none",
            advanced=True,
            allow_warnings=True,
            allow_infos=True,
        )
    labels = _labels(ontology)
    types: dict[str, list[str]] = {}
    derived_from: dict[str, str] = {}
    for t in data:
        if t.predicate.value == RDF + "type" and isinstance(t.object, ox.NamedNode):
            types.setdefault(str(t.subject.value), []).append(t.object.value)
        elif t.predicate.value == PROV + "wasDerivedFrom":
            derived_from.setdefault(t.object.value, t.subject.value)

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
        # A generated node (a span, a selector) is reported at the fact that cites it.
        anchor = derived_from.get(focus_iri, focus_iri)
        unit = units.get(anchor, units.get(focus_iri, "graph"))
        source = sources.get(unit)
        line = None
        if source is not None and isinstance(focus, rdflib.URIRef):
            line = source.line_of(ox.NamedNode(anchor))
        kinds = sorted(labels[c] for c in types.get(focus_iri, []) if c in labels)
        findings.append(
            Finding(
                unit=unit,
                focus=focus_iri,
                kind=kinds[0] if kinds else None,
                path=str(path) if isinstance(path, rdflib.URIRef) else (path.n3() if path is not None else None),
                value=value.n3() if value is not None else None,
                message=str(message) if message is not None else _short(str(component)),
                shape=str(shape) if isinstance(shape, rdflib.URIRef) else None,
                component=str(component),
                severity=_SEVERITY.get(str(severity), str(severity)),
                file=source.path if source else None,
                line=line,
            )
        )
    findings.sort(key=lambda f: (f.unit, f.focus, f.path or "", f.component, f.message, f.value or ""))
    findings = tuple(dict.fromkeys(findings))
    report_graph = _report_turtle(results)
    return Report(bool(conforms), findings, report_graph)


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


def _report_turtle(results) -> bytes:
    from kg.rdf import from_rdflib
    from kg.export import serialize

    return serialize((ox.Quad(t.subject, t.predicate, t.object) for t in from_rdflib(results)), "ttl")
