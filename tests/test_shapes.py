"""The SHACL shapes (shapes/kg.ttl) against the fixtures in tests/shapes/.

tests/shapes/valid/data.ttl is a small grounded graph that conforms. Every other case directory holds a data.ttl
that is added to the valid graph (so it only has to state its one defect) and an expected.txt listing every
result the validation must report, one per line, tab-separated:

    focus node    constraint    constraint component    message

where the constraint is the property shape, or the sh:sparql constraint, that failed (prefixed names).
"""

from __future__ import annotations

from pathlib import Path

import pyshacl
import pytest
import rdflib
from rdflib.collection import Collection
from rdflib.namespace import RDF, RDFS, SH, SKOS

from kg.namespaces import CURATION_PREFIXES

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ROOT / "shapes" / "kg.ttl"
ONTOLOGY = ROOT / "ontology" / "kg.ttl"
CODES = ROOT / "ontology" / "codes.ttl"
CASES = ROOT / "tests" / "shapes"
VALID = CASES / "valid"


def validate(data: rdflib.Graph) -> tuple[bool, rdflib.Graph]:
    """The one place the tests call the validator: kg's own, as `kg build` and `kg validate` run it."""
    from kg.rdf import from_rdflib
    from kg.validate import validate as kg_validate

    report = kg_validate(
        from_rdflib(data),
        shapes=from_rdflib(shapes_graph()),
        ontology=from_rdflib(_parse(ONTOLOGY, CODES)),
        sources={},
        units={},
    )
    return report.conforms, rdflib.Graph().parse(data=report.graph, format="turtle")


def _parse(*paths: Path) -> rdflib.Graph:
    graph = rdflib.Graph()
    for path in paths:
        graph.parse(path, format="turtle")
    return graph


def shapes_graph() -> rdflib.Graph:
    return _parse(SHAPES)


def ontology_graph() -> rdflib.Graph:
    return _parse(ONTOLOGY)


def case_data(case: Path) -> rdflib.Graph:
    # pyshacl's ont_graph only contributes class and property axioms, so the code-list concepts that
    # sh:class skos:Concept looks for have to be in the data graph, as they are in the built graph.
    paths = [CODES, VALID / "data.ttl"]
    if case != VALID:
        paths.append(case / "data.ttl")
    return _parse(*paths)


def _name(node: rdflib.term.Node) -> str:
    if isinstance(node, rdflib.URIRef):
        for prefix, namespace in sorted(CURATION_PREFIXES.items(), key=lambda item: -len(item[1])):
            if str(node).startswith(namespace):
                return f"{prefix}:{str(node)[len(namespace):]}"
        return f"<{node}>"
    return node.n3()


def results(report: rdflib.Graph) -> list[str]:
    """Top-level results as `focus, constraint, component, message` lines (nested sh:detail results excluded)."""
    lines = []
    for result in report.objects(None, SH.result):
        constraint = report.value(result, SH.sourceConstraint) or report.value(result, SH.sourceShape)
        messages = sorted(str(m) for m in report.objects(result, SH.resultMessage))
        lines.append(
            "\t".join(
                [
                    _name(report.value(result, SH.focusNode)),
                    _name(constraint),
                    _name(report.value(result, SH.sourceConstraintComponent)),
                    " | ".join(messages),
                ]
            )
        )
    return sorted(lines)


def expected(case: Path) -> list[str]:
    text = (case / "expected.txt").read_text(encoding="utf-8")
    return sorted(line for line in text.splitlines() if line.strip() and not line.startswith("#"))


FAILING = sorted(p for p in CASES.iterdir() if p.is_dir() and p != VALID)


def test_valid_fixture_conforms():
    conforms, report = validate(case_data(VALID))
    assert results(report) == []
    assert conforms


@pytest.mark.parametrize("case", FAILING, ids=[p.name for p in FAILING])
def test_failing_fixture_reports_exactly_its_violations(case):
    conforms, report = validate(case_data(case))
    assert not conforms
    assert results(report) == expected(case)


def _constraints(shapes: rdflib.Graph) -> set[rdflib.term.Node]:
    """Every property shape and every SPARQL constraint, the things a report names as the constraint."""
    found = set(shapes.objects(None, SH.property)) | set(shapes.objects(None, SH.sparql))
    found |= set(shapes.subjects(RDF.type, SH.PropertyShape))
    return found


_TARGETS = (SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf, SH.target)


def test_every_constraint_has_a_failing_fixture():
    """Every constraint of a targeted shape must fail in some fixture. (Constraints of value shapes, used
    through sh:node or sh:qualifiedValueShape, only appear nested in sh:detail; their parent is exercised.)"""
    shapes = shapes_graph()
    targeted = {s for t in _TARGETS for s in shapes.subjects(t, None)}
    top_level = {c for s in targeted for p in (SH.property, SH.sparql) for c in shapes.objects(s, p)}
    exercised = {line.split("\t")[1] for case in FAILING for line in expected(case)}
    missing = sorted(_name(c) for c in top_level if _name(c) not in exercised)
    assert missing == []


def test_every_case_has_data_and_expected_results():
    for case in FAILING:
        assert (case / "data.ttl").is_file(), case
        assert expected(case), f"{case.name}/expected.txt lists no result"


def test_constraints_are_named_and_explained():
    shapes = shapes_graph()
    for constraint in _constraints(shapes):
        assert isinstance(constraint, rdflib.URIRef), f"anonymous constraint {constraint.n3()}: reports can't name it"
        assert shapes.value(constraint, SH.message), f"{_name(constraint)} has no sh:message"
        assert shapes.value(constraint, RDFS.label), f"{_name(constraint)} has no rdfs:label"
    for shape in set(shapes.subjects(RDF.type, SH.NodeShape)):
        assert isinstance(shape, rdflib.URIRef)
        assert shapes.value(shape, RDFS.label), f"{_name(shape)} has no rdfs:label"


def test_sparql_constraints_share_one_prefix_declaration():
    shapes = shapes_graph()
    declarations = {shapes.value(c, SH.prefixes) for c in shapes.objects(None, SH.sparql)}
    assert len(declarations) == 1 and None not in declarations


def test_shapes_use_only_ontology_terms():
    """A misspelt class or property in a shape silently checks nothing; every kg: term must be in the ontology."""
    shapes, ontology = shapes_graph(), ontology_graph()
    kg = CURATION_PREFIXES["kg"]
    declared = set(ontology.subjects(RDF.type, None))
    used = set(shapes.objects(None, SH.targetClass)) | set(shapes.objects(None, SH["class"]))
    used |= {p for p in shapes.objects(None, SH.path) if isinstance(p, rdflib.URIRef)}
    used |= set(shapes.objects(None, SH.inversePath))
    undeclared = sorted(_name(t) for t in used if str(t).startswith(kg) and t not in declared)
    assert undeclared == []


# The property whose values come from each code list of ontology/codes.ttl.
CODE_LISTS = {"kg:cameo": "cameo:scheme", "kg:plover": "plover:scheme", "kg:domain": "dom:scheme"}


def test_code_list_shapes_allow_exactly_the_concepts_of_their_scheme():
    """A code added to ontology/codes.ttl but not to the shape's sh:in (or the other way round) fails here."""
    shapes, codes = shapes_graph(), _parse(CODES)
    assert sorted(_name(s) for s in codes.subjects(RDF.type, SKOS.ConceptScheme)) == sorted(CODE_LISTS.values())
    for path, scheme in CODE_LISTS.items():
        constrained = [s for s in shapes.subjects(SH.path, None) if _name(shapes.value(s, SH.path)) == path]
        lists = [set(Collection(shapes, shapes.value(s, SH["in"]))) for s in constrained if shapes.value(s, SH["in"])]
        assert lists, f"no shape gives {path} an sh:in list"
        in_scheme = {c for c in codes.subjects(SKOS.inScheme, None) if _name(codes.value(c, SKOS.inScheme)) == scheme}
        for allowed in lists:
            assert sorted(map(_name, allowed)) == sorted(map(_name, in_scheme)), f"{path} vs {scheme}"


def test_shapes_graph_is_valid_shacl():
    conforms, _, text = pyshacl.validate(shapes_graph(), meta_shacl=True, advanced=True)
    assert conforms, text
