"""kg.shacl_sparql, the shapes compiled to SPARQL on pyoxigraph, against pyshacl, the reference.

Both engines run through kg.validate.validate (engine="pyshacl" / engine="sparql"); "the same" means the same
conformance, the same findings (focus, path, value, component, shape, message, severity, unit, file:line) and
isomorphic SHACL report graphs, nested sh:detail results included.
"""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from rdflib.compare import isomorphic

from kg import shacl_sparql, synth
from kg.build import ground_all
from kg.curation import read_project
from kg.rdf import from_rdflib
from kg.validate import validate

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "shapes"
VALID = CASES / "valid"
FIXTURES = sorted(p for p in CASES.iterdir() if p.is_dir())
SH = "http://www.w3.org/ns/shacl#"


def _turtle(*paths: Path) -> list[ox.Triple]:
    graph = rdflib.Graph()
    for path in paths:
        graph.parse(path, format="turtle")
    return from_rdflib(graph)


def _parse(text: str) -> list[ox.Triple]:
    return [ox.Triple(q.subject, q.predicate, q.object) for q in ox.parse(text.encode(), format=ox.RdfFormat.TURTLE)]


SHAPES = _turtle(ROOT / "shapes" / "kg.ttl")
ONTOLOGY = _turtle(ROOT / "ontology" / "kg.ttl", ROOT / "ontology" / "codes.ttl")


def _fixture(case: Path) -> list[ox.Triple]:
    paths = [ROOT / "ontology" / "codes.ttl", VALID / "data.ttl"] + ([case / "data.ttl"] if case != VALID else [])
    return _turtle(*paths)


def _both(data, shapes=SHAPES, ontology=ONTOLOGY, **kwargs):
    reference = validate(data, shapes=shapes, ontology=ontology, engine="pyshacl", **_defaults(kwargs))
    compiled = validate(data, shapes=shapes, ontology=ontology, engine="sparql", **_defaults(kwargs))
    return reference, compiled


def _defaults(kwargs):
    return {"sources": {}, "units": {}, **kwargs}


def assert_same(reference, compiled):
    assert compiled.conforms == reference.conforms
    assert compiled.findings == reference.findings
    ours = rdflib.Graph().parse(data=compiled.graph, format="turtle")
    theirs = rdflib.Graph().parse(data=reference.graph, format="turtle")
    assert isomorphic(ours, theirs), "the report graphs differ"


# ---------------------------------------------------------------------------------------------------------
# (a) the shape fixtures


@pytest.mark.parametrize("case", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_gives_pyshacl_results(case):
    reference, compiled = _both(_fixture(case))
    assert_same(reference, compiled)
    assert reference.conforms == (case == VALID)


def test_every_fixture_at_once_without_messages_gives_pyshacl_generic_messages():
    """All defects in one graph, and shapes without sh:message: pyshacl's own messages for every component
    the fixtures exercise (nested sh:or results under sh:node included)."""
    data = _turtle(ROOT / "ontology" / "codes.ttl", *[case / "data.ttl" for case in FIXTURES])
    shapes = [t for t in SHAPES if t.predicate.value != SH + "message"]
    reference, compiled = _both(data, shapes=shapes)
    assert_same(reference, compiled)
    messages = {f.message for f in reference.findings}
    assert any(m.startswith("Node Literal(") and "must conform to one or more shapes" in m for m in messages)
    assert any(m.startswith("Less than 1 values on ") for m in messages)
    assert len(reference.findings) > len(FIXTURES)


# ---------------------------------------------------------------------------------------------------------
# (b) a synthetic corpus with a violation of every kind


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "broken"
    written = synth.write_project(out, ROOT, seed=7, articles=40, violations=len(synth.KINDS))
    project = read_project(out)
    grounded = ground_all(project)
    data = list(project.registry.triples) + [t for g in grounded for t in g.triples]
    units = {t.subject.value: "registry" for t in project.registry.triples if isinstance(t.subject, ox.NamedNode)}
    for g in grounded:
        for t in g.triples:
            if isinstance(t.subject, ox.NamedNode):
                units.setdefault(t.subject.value, g.slug)
    sources = {"registry": project.registry, **{a.slug: a.facts for a in project.articles}}
    shapes = [t for s in project.shapes for t in s.triples]
    ontology = [t for s in project.ontology for t in s.triples]
    return written, data, dict(shapes=shapes, ontology=ontology, sources=sources, units=units)


def test_synthetic_corpus_with_every_violation_gives_pyshacl_results(broken):
    written, data, kwargs = broken
    reference, compiled = _both(data, **kwargs)
    assert_same(reference, compiled)
    assert not reference.conforms
    found = {(f.focus, f.shape, f.component, f.unit) for f in compiled.findings}
    expected = {(v.focus, v.shape, v.component, v.article) for v in written.violations}
    assert expected <= found and len(expected) == len(synth.KINDS)
    assert all(f.line for f in compiled.findings if f.unit != "graph")


def test_focus_gives_the_whole_graph_results_of_those_nodes(broken):
    """An incremental check of one article: its nodes (and a registry node) as focus, the results pyshacl
    gives for them on the whole graph."""
    written, data, kwargs = broken
    slug = written.violations[0].article
    units = kwargs["units"]
    focus = {ox.NamedNode(iri) for iri, unit in units.items() if unit == slug}
    focus.add(ox.NamedNode(next(iri for iri, unit in sorted(units.items()) if unit == "registry")))
    reference, compiled = _both(data, focus=focus, **kwargs)
    assert_same(reference, compiled)
    assert not compiled.conforms and compiled.findings
    assert {f.unit for f in compiled.findings} == {slug}
    whole = validate(data, engine="sparql", **kwargs)
    assert set(compiled.findings) == {f for f in whole.findings if f.unit == slug}


def test_a_focus_without_results_gives_an_empty_report_as_pyshacl_does(broken):
    """A focused run that finds nothing (the usual check of an edit) writes its report without rdflib."""
    written, data, kwargs = broken
    found = {f.focus for f in validate(data, engine="sparql", **kwargs).findings}
    clean = sorted(iri for iri in kwargs["units"] if iri not in found)[:5]
    reference, compiled = _both(data, focus={ox.NamedNode(iri) for iri in clean}, **kwargs)
    assert_same(reference, compiled)
    assert compiled.conforms and not compiled.findings
    report = rdflib.Graph().parse(data=compiled.graph, format="turtle")
    assert isomorphic(report, rdflib.Graph().parse(data=reference.graph, format="turtle"))
    assert len(report) == 2  # a sh:ValidationReport that conforms


def test_a_store_gives_the_results_of_its_triples(broken):
    written, data, kwargs = broken
    store = shacl_sparql.new_store(data + kwargs["ontology"])
    from_store = validate(store, engine="sparql", **kwargs)
    from_triples = validate(data, engine="sparql", **kwargs)
    assert_same(from_triples, from_store)
    assert_same(validate(store, engine="pyshacl", **kwargs), from_store)


# ---------------------------------------------------------------------------------------------------------
# (c) the real project


def test_the_project_conforms_with_both_engines():
    project = read_project(ROOT)
    data = list(project.registry.triples) + [t for g in ground_all(project) for t in g.triples]
    shapes = [t for s in project.shapes for t in s.triples]
    ontology = [t for s in project.ontology for t in s.triples]
    reference, compiled = _both(data, shapes=shapes, ontology=ontology)
    assert_same(reference, compiled)
    assert compiled.conforms and not compiled.findings


# ---------------------------------------------------------------------------------------------------------
# SHACL beyond kg's shapes: every compiled feature, its corners, against pyshacl

PREFIXES = """
@prefix ex: <http://example.org/t#> .
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
"""

CORNER_SHAPES = PREFIXES + '''
ex:Pfx sh:declare [ sh:prefix "ex" ; sh:namespace "http://example.org/t#"^^xsd:anyURI ] .

ex:NodeTargetShape a sh:NodeShape ; sh:targetNode ex:n1 , ex:n2 , "lit" ; sh:nodeKind sh:IRI ; sh:hasValue ex:n1 .

ex:ObjectsShape a sh:NodeShape ; sh:targetObjectsOf ex:knows ; sh:class ex:Person .

ex:SubjectsShape a sh:NodeShape ; sh:targetSubjectsOf ex:count ;
    sh:property [ sh:path ex:count ; sh:datatype xsd:integer ; sh:maxCount 1 ; sh:message "count: one integer"@en ] .

ex:Person a rdfs:Class , sh:NodeShape ;
    sh:property ex:PersonName , ex:PersonNick , ex:PersonHome , ex:PersonParts , ex:PersonDates , ex:PersonFriends .
ex:PersonName a sh:PropertyShape ; sh:path ex:name ; sh:minCount 1 ; sh:maxCount 2 ; sh:minLength 2 ;
    sh:maxLength 10 ; sh:languageIn ( "en" "de-AT" ) ; sh:severity sh:Warning .
ex:PersonNick a sh:PropertyShape ; sh:path ( ex:alias ex:label ) ; sh:in ( "Bob" "Bobby" 7 ) ; sh:severity sh:Info ;
    sh:message "nick {$this} {?value}" .
ex:PersonHome a sh:PropertyShape ; sh:path [ sh:alternativePath ( ex:home ex:house ) ] ;
    sh:or ( [ sh:class ex:Place ] [ sh:datatype xsd:string ] ) .
ex:PersonParts a sh:PropertyShape ; sh:path [ sh:inversePath ex:member ] ;
    sh:qualifiedValueShape [ sh:class ex:Club ; sh:property [ sh:path ex:size ; sh:datatype xsd:integer ] ] ;
    sh:qualifiedMinCount 1 ; sh:qualifiedMaxCount 1 .
ex:PersonDates a sh:PropertyShape ; sh:path ex:born ; sh:node ex:DateShape .
ex:DateShape a sh:NodeShape ; sh:or ( [ sh:datatype xsd:date ] [ sh:datatype xsd:gYear ] ) ;
    sh:property [ sh:path ex:note ; sh:maxCount 0 ] .
ex:PersonFriends a sh:PropertyShape ; sh:path ex:knows ; sh:node ex:FriendShape ; sh:deactivated false .
ex:FriendShape a sh:NodeShape ; sh:nodeKind sh:BlankNodeOrIRI ; sh:property [ sh:path ex:name ; sh:minCount 1 ] .

ex:Deactivated a sh:NodeShape ; sh:targetClass ex:Person ; sh:deactivated true ; sh:class ex:Nothing .

ex:SparqlShape a sh:NodeShape ; sh:targetClass ex:Person ;
    sh:sparql [ sh:prefixes ex:Pfx ; sh:message "{$this} has friend {?value} ({?n})"@en ;
        sh:select """SELECT $this ?value ?n WHERE { $this ex:knows ?value . OPTIONAL { ?value ex:name ?n }
                     FILTER NOT EXISTS { ?value ex:knows $this } }""" ] ,
      [ sh:prefixes ex:Pfx ;
        sh:select """SELECT ?value WHERE { { ?x ex:knows ?value . FILTER (?x = $this) }
                     UNION { ?value ex:age ?a . FILTER (?value = $this && ?a > 60) } }""" ] ,
      [ sh:prefixes ex:Pfx ; sh:message "old, or knows someone who knows someone old" ;
        sh:select """SELECT $this WHERE { $this ex:age ?a .
                     FILTER (?a > 100 || EXISTS { $this ex:knows ?k . ?k ex:knows ?kk . ?kk ex:age ?b FILTER (?b > 100) }) }""" ] ,
      [ sh:prefixes ex:Pfx ; sh:message "name that no alias label spells" ;
        sh:select """SELECT $this ?value WHERE { $this ex:name ?value .
                     FILTER NOT EXISTS { $this ex:alias ?al2 . ?al2 ex:label ?l FILTER (STR(?l) = STR(?value)) } }""" ] ,
      [ sh:prefixes ex:Pfx ; sh:message "alias without a Bob label" ;
        sh:select """SELECT $this WHERE { $this ex:name ?nm . OPTIONAL { $this ex:alias ?al }
                     FILTER NOT EXISTS { ?al ex:label "Bob" } }""" ] .

ex:PathSparql a sh:PropertyShape ; sh:targetClass ex:Person ; sh:path ex:age ;
    sh:sparql [ sh:message "{?value} too old on {?path}" ; sh:prefixes ex:Pfx ;
        sh:select """SELECT $this ?value WHERE { $this $PATH ?value . FILTER (?value > 90) }""" ] .

ex:OpenClubs a sh:NodeShape ;
    sh:target [ a sh:SPARQLTarget ; sh:prefixes ex:Pfx ;
        sh:select """SELECT ?this WHERE { ?this a ex:Club . FILTER NOT EXISTS { ?this ex:closed ex:yes } }""" ] ;
    sh:property [ sh:path ex:size ; sh:minCount 2 ] .

ex:ClubShape a sh:NodeShape ; sh:targetClass ex:Club ;
    sh:property [ sh:path ex:secret ; sh:maxCount 0 ] , [ sh:path ex:size ; sh:maxCount 2 ; sh:hasValue 5 ] .

ex:RangeShape a sh:NodeShape ; sh:targetClass ex:Range ; sh:property [ sh:path ex:lo ; sh:lessThan ex:hi ] .
'''

CORNER_DATA = PREFIXES + '''
ex:n1 a ex:Thing . ex:n2 a ex:Thing .
ex:alice a ex:Person ; ex:name "Alice"@en , "Al"@de-at , "A"@fr , "AliceAliceAlice"@en-gb ; ex:alias ex:ali ;
    ex:home ex:paris , "flat" , 42 ; ex:born "2020-02-30"^^xsd:date , "1990"^^xsd:gYear , "1990-01-01"^^xsd:date , "May" ;
    ex:knows ex:bob , _:b1 , "notaperson" ; ex:age 95 .
ex:ali ex:label "Bob" , "Robert" , 7 , "7"^^xsd:long .
ex:bob a ex:Person ; ex:knows ex:alice ; ex:age "01"^^xsd:integer ; ex:count "01"^^xsd:integer , "x"^^xsd:integer ;
    ex:name ex:iri .
ex:carol a ex:Person ; ex:name "Carol"@en ; ex:alias ex:cal .
ex:cal ex:label "Cally" .
_:b1 ex:name "b"@en ; ex:knows _:b2 .
_:b2 ex:age 101 .
ex:paris a ex:Place .
ex:club1 a ex:Club ; ex:member ex:alice ; ex:size 3 , 4 , 5 ; ex:secret 1 .
ex:club2 a ex:Club ; ex:member ex:alice ; ex:size "zz"^^xsd:integer ; ex:closed ex:yes .
ex:club3 a ex:Club ; ex:member ex:alice ; ex:size 1 .
ex:r1 a ex:Range ; ex:lo 3 ; ex:hi 5 , "7" , 2 .
ex:r2 a ex:Range ; ex:lo "a" ; ex:hi "b" , "A" .
ex:r3 a ex:Range ; ex:lo "01"^^xsd:integer ; ex:hi "1"^^xsd:integer , "02"^^xsd:nonNegativeInteger .
ex:r4 a ex:Range ; ex:lo "3"^^xsd:nonNegativeInteger ; ex:hi "4"^^xsd:nonNegativeInteger .
'''


FEW = [ox.NamedNode(f"http://example.org/t#{name}") for name in ("alice", "carol", "club3", "r1", "r3", "n2")]


@pytest.mark.parametrize("messages", [True, False], ids=["messages", "generic messages"])
def test_compiled_features_and_their_corners_give_pyshacl_results(messages):
    shapes = _parse(CORNER_SHAPES)
    if not messages:
        shapes = [t for t in shapes if t.predicate.value != SH + "message"]
    compiled = shacl_sparql.compile_shapes(shapes)
    plans = [q for s in compiled.shapes.values() for c in s.components for q in getattr(c, "queries", ())]
    assert any(q.joined is None for q in plans), "a constraint that must run once per focus node"
    assert any(q.joined and "OPTIONAL { SELECT DISTINCT" in q.joined for q in plans), "an EXISTS hashed"
    assert any(q.joined and "LATERAL { OPTIONAL" in q.joined for q in plans), "an EXISTS tested per solution"
    assert all("OPTIONAL { SELECT DISTINCT" not in (q.focused or "") for q in plans), "few focus nodes: per solution"
    reference, ours = _both(_parse(CORNER_DATA), shapes=shapes, ontology=[])
    assert_same(reference, ours)
    # the same with a few focus nodes, where other query forms serve (tests per node, LATERAL groups)
    few_reference, few = _both(_parse(CORNER_DATA), shapes=shapes, ontology=[], focus=FEW)
    assert_same(few_reference, few)
    assert {f.focus for f in few.findings} & {n.value for n in FEW} == {n.value for n in FEW}
    assert set(few.findings) < set(ours.findings)
    components = {f.component.removeprefix(SH) for f in ours.findings}
    assert components >= {
        "NodeKindConstraintComponent", "HasValueConstraintComponent", "ClassConstraintComponent",
        "DatatypeConstraintComponent", "MaxCountConstraintComponent", "MinLengthConstraintComponent",
        "MaxLengthConstraintComponent", "LanguageInConstraintComponent", "InConstraintComponent",
        "OrConstraintComponent", "QualifiedMaxCountConstraintComponent", "NodeConstraintComponent",
        "MinCountConstraintComponent", "SPARQLConstraintComponent", "LessThanConstraintComponent",
    }
    assert {f.severity for f in ours.findings} == {"violation", "warning", "info"}
    assert any(f.focus.startswith("_:") or f.value and f.value.startswith("_:") for f in ours.findings)


def test_literals_are_compared_as_written_not_as_the_store_keeps_them():
    """pyoxigraph stores "84"^^xsd:nonNegativeInteger as "84"^^xsd:integer and "PT24H" as "P1D"; pyshacl
    sees them as written, so must the compiled engine."""
    shapes = _parse(PREFIXES + '''
        ex:S a sh:NodeShape ; sh:targetSubjectsOf ex:p ;
            sh:property [ sh:path ex:p ; sh:datatype xsd:nonNegativeInteger ] ,
                        [ sh:path ex:q ; sh:in ( "PT24H"^^xsd:duration "07"^^xsd:integer ) ; sh:maxCount 1 ] .''')
    data = _parse(PREFIXES + '''
        ex:a ex:p "84"^^xsd:nonNegativeInteger , "84"^^xsd:integer , "-1"^^xsd:nonNegativeInteger ;
             ex:q "P1D"^^xsd:duration , "PT24H"^^xsd:duration , "7"^^xsd:integer .''')
    reference, compiled = _both(data, shapes=shapes, ontology=[])
    assert_same(reference, compiled)
    assert {(f.component.removeprefix(SH), f.value) for f in compiled.findings} == {
        ("DatatypeConstraintComponent", '"84"^^<http://www.w3.org/2001/XMLSchema#integer>'),
        ("DatatypeConstraintComponent", '"-1"^^<http://www.w3.org/2001/XMLSchema#nonNegativeInteger>'),
        ("InConstraintComponent", '"P1D"^^<http://www.w3.org/2001/XMLSchema#duration>'),
        ("InConstraintComponent", '"7"^^<http://www.w3.org/2001/XMLSchema#integer>'),
        ("MaxCountConstraintComponent", None),
    }


# ---------------------------------------------------------------------------------------------------------
# What is not compiled, and the store


def test_literals_taken_as_well_typed_without_rdflib_are_well_typed_for_rdflib(monkeypatch, caplog):
    """`_surely_well_typed` spares `kg validate` importing rdflib for the usual dates and numbers: every
    literal it passes must be one rdflib (pyshacl's reading) passes too."""
    forms = ["0", "1", "-1", "+1", "007", "+0", "-0", "00", "10", "2023", "0000", "0001", "0999", "02023", "10000", "99999",
             "2023-05", "2023-13", "2023-00", "0000-05", "0001-01", "2023-05-24", "2023-02-29", "2024-02-29",
             "2023-04-31", "0000-01-01", "0001-01-01", "99999-01-01", "2023-05-24Z", "2023-05-24+03:00",
             "2023-5-24", "-2023", "12345-01", "", " 1", "1 ", "1.0", "abc", "١٢", "2023-05-24T10:00:00"]
    passed = 0
    for datatype in shacl_sparql._WELL_FORMED:
        for form in forms:
            literal = ox.Literal(form, datatype=ox.NamedNode(datatype))
            if shacl_sparql._surely_well_typed(literal, datatype):
                passed += 1
                with monkeypatch.context() as patch:
                    patch.setattr(shacl_sparql, "_surely_well_typed", lambda *_: False)
                    assert shacl_sparql._datatype_ok(literal, datatype), (form, datatype)
            assert not shacl_sparql._surely_well_typed(ox.Literal(form), datatype)  # an xsd:string
    assert passed >= 15  # the usual forms do take the quick path


@pytest.mark.parametrize("feature", [
    "sh:pattern \"^a\"", "sh:not [ sh:class ex:C ]", "sh:equals ex:q", "sh:closed true",
    "sh:path [ sh:zeroOrMorePath ex:p ]", "sh:sparql [ sh:ask \"ASK {}\" ]",
])
def test_a_feature_not_compiled_is_named_at_compile_time(feature):
    path = "" if feature.startswith("sh:path") else "sh:path ex:p ;"
    shapes = _parse(PREFIXES + f"ex:S a sh:PropertyShape ; sh:targetClass ex:C ; {path} {feature} .")
    with pytest.raises(shacl_sparql.Unsupported) as raised:
        shacl_sparql.compile_shapes(shapes)
    assert str(raised.value)
    data = _parse(PREFIXES + "ex:a a ex:C ; ex:p ex:b .")
    with pytest.raises(shacl_sparql.Unsupported):
        validate(data, shapes=shapes, ontology=[], sources={}, units={}, engine="sparql")


def test_auto_falls_back_to_pyshacl_for_what_is_not_compiled():
    shapes = _parse(PREFIXES + 'ex:S a sh:NodeShape ; sh:targetClass ex:C ; '
                               'sh:property [ sh:path ex:p ; sh:pattern "^a" ] .')
    data = _parse(PREFIXES + 'ex:a a ex:C ; ex:p "b" .')
    auto = validate(data, shapes=shapes, ontology=[], sources={}, units={})
    assert_same(validate(data, shapes=shapes, ontology=[], sources={}, units={}, engine="pyshacl"), auto)
    assert [f.component for f in auto.findings] == [SH + "PatternConstraintComponent"]


def test_the_store_keeps_a_set_of_triples_as_written():
    triples = _parse(PREFIXES + 'ex:a ex:p "84"^^xsd:nonNegativeInteger , "x" , ex:b ; ex:q "PT24H"^^xsd:duration .')
    store = shacl_sparql.new_store(triples)
    assert sorted(map(str, shacl_sparql.triples(store))) == sorted(map(str, triples))
    shacl_sparql.add(store, triples[:2])
    assert len(shacl_sparql.triples(store)) == len(triples)
    shacl_sparql.remove(store, [t for t in triples if isinstance(t.object, ox.Literal)])
    assert [str(t) for t in shacl_sparql.triples(store)] == [str(t) for t in triples if not isinstance(t.object, ox.Literal)]


def test_graphs_split_as_text_make_the_store_that_their_triples_make():
    """new_store(graphs=...) splits N-Quads lines as text; the store is the one made from their triples,
    literals a store would change (kept twice) included; a graph it cannot split as text goes as triples."""
    text = PREFIXES + '''ex:a ex:p "84"^^xsd:nonNegativeInteger , "007"^^xsd:integer , "x" , "y"@en , ex:b , _:n ;
        ex:q "PT24H"^^xsd:duration , "2023-05-24Z"^^xsd:date , "2023-05-24"^^xsd:date , "1.50"^^xsd:decimal ;
        ex:r "quote \\"^^<urn:x> inside" , "tab\\t"^^xsd:string , "007"^^xsd:integer .
    _:n ex:p "+5"^^xsd:integer .
    ex:c ex:p "007"^^xsd:integer .'''
    triples = _parse(text)
    graph = "https://example.org/kg/graph/a"
    nquads = ox.serialize([ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(graph)) for t in triples],
                          format=ox.RdfFormat.N_QUADS)
    def quads(store: ox.Store) -> set:
        dataset = ox.Dataset(store)
        dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
        return {str(q) for q in dataset}

    plain = ox.serialize([ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(graph)) for t in triples
                          if not isinstance(t.subject, ox.BlankNode) and not isinstance(t.object, ox.BlankNode)],
                         format=ox.RdfFormat.N_QUADS)
    data, exact, value = shacl_sparql._split_nquads(plain, graph)
    assert exact.count(b"\n") == value.count(b"\n") == 6  # the literals a store changes, kept twice
    assert data.count(b"\n") + exact.count(b"\n") == plain.count(b"\n")
    assert shacl_sparql._split_nquads(plain, graph + "/other") is None  # another graph's lines are not split
    assert shacl_sparql._split_nquads(nquads, graph) is None  # nor blank nodes, which a parse names anew
    assert quads(shacl_sparql.new_store(graphs=[(plain, graph)])) == quads(shacl_sparql.new_store(
        [t for t in triples if not isinstance(t.subject, ox.BlankNode) and not isinstance(t.object, ox.BlankNode)]))

    expected = quads(shacl_sparql.new_store(triples))
    assert quads(shacl_sparql.new_store(graphs=[(nquads, graph)])) == expected
    assert quads(shacl_sparql.new_store(graphs=[(nquads, graph + "/other")])) == expected
    half = len(triples) // 2
    assert quads(shacl_sparql.new_store(triples[:half], graphs=[(nquads, graph)])) == expected


@pytest.mark.parametrize("where, hashed", [
    # the pattern binds the shared variables: evaluated once, joined by them
    ("{ ?v ex:p ?w . FILTER (?w = ex:b2 || EXISTS { ?w ex:r ?c . ?c ex:q ex:d2 }) }",
     "{ ?v ex:p ?w . FILTER (?w = ex:b2 || BOUND(?_kgexists1)) "
     "OPTIONAL { SELECT DISTINCT ?w (1 AS ?_kgexists1) WHERE { ?w ex:r ?c . ?c ex:q ex:d2 } } }"),
    ("{ ?v ex:p ?w . FILTER NOT EXISTS { ?w ex:r ?c FILTER (?c != ex:c1) } }",
     "{ ?v ex:p ?w . FILTER (!BOUND(?_kgexists1)) "
     "OPTIONAL { SELECT DISTINCT ?w (1 AS ?_kgexists1) WHERE { ?w ex:r ?c FILTER (?c != ex:c1) } } }"),
    # tested per solution: a shared variable only in a filter; a nested EXISTS; what may leave one unbound
    ("{ ?v ex:p ?w . FILTER EXISTS { ?x ex:r ?c FILTER (?x = ?w) } }",
     "{ ?v ex:p ?w . FILTER BOUND(?_kgexists1) "
     "LATERAL { OPTIONAL { SELECT ?w (1 AS ?_kgexists1) WHERE { ?x ex:r ?c FILTER (?x = ?w) } LIMIT 1 } } }"),
    ("{ ?v ex:p ?w . FILTER EXISTS { ?w ex:r ?c FILTER EXISTS { ?c ex:q ex:d3 } } }",
     "{ ?v ex:p ?w . FILTER BOUND(?_kgexists1) LATERAL { OPTIONAL { SELECT ?w (1 AS ?_kgexists1) "
     "WHERE { ?w ex:r ?c FILTER EXISTS { ?c ex:q ex:d3 } } LIMIT 1 } } }"),
    ("{ ?v ex:p ?w . FILTER EXISTS { ?w ex:r ?c OPTIONAL { ?c ex:q ?d } } }",
     "{ ?v ex:p ?w . FILTER BOUND(?_kgexists1) LATERAL { OPTIONAL { SELECT ?w (1 AS ?_kgexists1) "
     "WHERE { ?w ex:r ?c OPTIONAL { ?c ex:q ?d } } LIMIT 1 } } }"),
])
def test_an_exists_over_every_solution_is_hashed_where_its_pattern_binds_what_it_shares(where, hashed):
    """kg.shacl_sparql._lateral_exists with `hashed` (a query over every focus node): an EXISTS whose triple
    patterns bind every variable it shares becomes one sub-SELECT joined by those variables; any other is
    tested per solution. Either way the query finds what the EXISTS as written finds."""
    head = "PREFIX ex: <http://example.org/t#> SELECT ?v ?w WHERE "
    made = shacl_sparql._lateral_exists(head + where, len(head), set(), hashed=True)
    assert " ".join(made.split()) == " ".join((head + hashed).split())
    store = ox.Store()
    store.extend(ox.Quad(t.subject, t.predicate, t.object) for t in _parse(CHAIN_DATA))

    def solutions(query: str) -> list:
        return sorted(tuple(str(s[v]) for v in ("v", "w")) for s in store.query(query))

    written = solutions(head + where)
    assert written and len(written) < 5  # the filter keeps some of the 5 (?v, ?w) pairs, not all
    assert solutions(made) == written


CHAIN_DATA = PREFIXES + '''
ex:a1 ex:p ex:b1 , ex:b2 . ex:a2 ex:p ex:b2 . ex:a3 ex:p ex:b3 .
ex:b1 ex:r ex:c1 . ex:b2 ex:r ex:c1 , ex:c2 .
ex:c1 ex:q ex:d1 . ex:c2 ex:q ex:d2 , ex:d3 .
ex:e1 ex:s ex:f1 . ex:e2 ex:s ex:f2 .
'''


@pytest.mark.parametrize("body, chained", [
    # blocks in the order they connect to what is bound (?a): (a, b), then (b, c), then (c, d)
    ("{ ?a ex:p ?b . ?c ex:q ?d . ?b ex:r ?c FILTER (?d != ex:d3) }",
     "{ ?a ex:p ?b LATERAL { ?b ex:r ?c } LATERAL { ?c ex:q ?d } FILTER (?d != ex:d3) }"),
    # a block that shares nothing with the rest is still joined, after the connected ones
    ("{ ?e ex:s ?f . ?a ex:p ?b ; ex:p ?b2 . }", "{ ?a ex:p ?b ; ex:p ?b2 LATERAL { ?e ex:s ?f } }"),
    ("{ ?a ex:p ?b . FILTER NOT EXISTS { ?b ex:r ex:c2 } ?b ex:r ?c }",
     "{ ?a ex:p ?b LATERAL { ?b ex:r ?c } FILTER NOT EXISTS { ?b ex:r ex:c2 } }"),
    # left as written: one block; what may leave a variable unbound; a blank node label; a decimal point
    ("{ ?a ex:p ?b ; ex:p ?c }", None),
    ("{ ?a ex:p ?b . OPTIONAL { ?b ex:r ?c } }", None),
    ("{ ?a ex:p _:x . _:x ex:r ?c }", None),
    ("{ ?a ex:p ?b . ?b ex:r 1.5 }", None),
])
def test_an_exists_body_chained_by_lateral_finds_what_the_join_finds(body, chained):
    """kg.shacl_sparql._chained (the patterns of an EXISTS body chained by LATERAL, which pyoxigraph then
    evaluates with the bindings so far, not as hash joins over all the data): the same solutions as the
    body joined as written, for every binding of the variable bound outside."""
    tokens = shacl_sparql._Tokens(body)
    made = shacl_sparql._chained(tokens, 0, {"a"})
    assert made == chained
    if made is None:
        return
    store = ox.Store()
    store.extend(ox.Quad(t.subject, t.predicate, t.object) for t in _parse(CHAIN_DATA))
    head = "PREFIX ex: <http://example.org/t#> SELECT * WHERE { VALUES ?a { ex:a1 ex:a2 ex:a3 ex:b1 } "

    def solutions(query: str) -> set:
        result = store.query(query)
        names = result.variables
        return {tuple(s[v] for v in names) for s in result}

    written = solutions(head + body + " }")
    assert written and solutions(head + "LATERAL { SELECT * WHERE " + made + " } }") == written
