"""kg.reason's pool of long-lived HermiT JVMs (kg/java/KgReasoner.java) and the union check, with the real
HermiT and Java: answers equal HermiT's command line (one JVM per unit, what `infer` ran before), on the
project's own article and on a synthetic corpus; errors come in unit order, exactly as `infer` raises them;
nothing is left running or on disk; a clash between articles is found without reasoning over their union."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import rdflib
from rdflib import Literal, URIRef
from rdflib.namespace import RDF

from conftest import ROOT
from kg import reason, synth
from kg.curation import read_project
from kg.errors import KgError
from kg.ground import ground
from kg.namespaces import KG as KG_IRI
from kg.rdf import from_rdflib, to_rdflib

KG = rdflib.Namespace("https://example.org/kg/ontology#")
EX = rdflib.Namespace("https://example.org/kg/id/")


def load(root: Path):
    """(ontology, registry, [asserted facts of each article]) as kg build grounds them."""
    project = read_project(root)
    statements = project.vocabulary.descendants(KG_IRI + "Statement")
    ontology = to_rdflib([t for source in project.ontology for t in source.triples])
    articles = [to_rdflib(ground(a, statement_classes=statements).triples) for a in project.articles]
    return ontology, to_rdflib(project.registry.triples), articles


def plus(*graphs: rdflib.Graph) -> rdflib.Graph:
    union = rdflib.Graph()
    for graph in graphs:
        for triple in graph:
            union.add(triple)
    return union


def triples(graph: rdflib.Graph) -> set:
    return set(graph.triples((None, None, None)))


def by_command_line(units, ontology):
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda u: reason._infer_by_command_line(u, ontology=ontology), units))


@pytest.fixture(scope="module")
def real():
    return load(ROOT)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth") / "corpus"
    synth.write_project(folder, ROOT, seed=7, articles=20)
    return load(folder)


@pytest.fixture(scope="module")
def corpus_shared(corpus):
    """infer_with_shared on the corpus, by two JVMs, and the units it said were done, in order."""
    ontology, registry, articles = corpus
    done = []
    base, answers = reason.infer_with_shared(registry, articles, ontology=ontology, workers=2, on_done=done.append)
    return base, answers, done


@pytest.fixture(scope="module")
def corpus_reference(corpus):
    """HermiT's command line on the registry and on each article with the registry."""
    ontology, registry, articles = corpus
    return by_command_line([registry] + [plus(a, registry) for a in articles], ontology)


# --- the same answers as HermiT's command line ----------------------------------------------------


def test_infer_many_is_the_command_line_on_the_real_article(real):
    ontology, registry, (article,) = real
    units = [registry, plus(article, registry)]
    many = reason.infer_many(units, ontology=ontology)
    reference = by_command_line(units, ontology)
    assert [triples(g) for g in many] == [triples(g) for g in reference]
    assert all(len(g) > 0 for g in many)
    assert dict(many[1].namespaces())["kg"] == URIRef(str(KG))
    assert triples(reason.infer(units[1], ontology=ontology)) == triples(reference[1])


def test_anonymous_individuals_are_reasoned_over_with_the_chains(real):
    # A blank-node office-holding: the unit is reasoned over alone and with HermiT's own chain realisation.
    ontology, registry, (article,) = real
    unit = plus(article, registry)
    holding = rdflib.BNode()
    unit.add((holding, KG.holder, EX["vladimir-putin"]))
    unit.add((holding, KG.office, EX["prime-minister-of-russia"]))
    many = reason.infer_many([plus(article, registry), unit], ontology=ontology)
    reference = by_command_line([unit], ontology)[0]
    assert triples(many[1]) == triples(reference)
    assert (EX["vladimir-putin"], KG.holdsOffice, EX["prime-minister-of-russia"]) in many[1]
    assert (EX["vladimir-putin"], KG.holdsOffice, EX["prime-minister-of-russia"]) not in many[0]


def test_shared_registry_on_the_real_article(real):
    ontology, registry, (article,) = real
    base, (answer,) = reason.infer_with_shared(registry, [article], ontology=ontology)
    registry_alone, with_registry = by_command_line([registry, plus(article, registry)], ontology)
    assert triples(base) == triples(registry_alone)
    assert triples(answer) == triples(with_registry) - triples(registry_alone)
    assert len(answer) > 0


def test_infer_many_is_the_command_line_on_a_synthetic_corpus(corpus, corpus_reference):
    ontology, registry, articles = corpus
    units = [registry] + [plus(a, registry) for a in articles]
    done = []
    many = reason.infer_many(units, ontology=ontology, workers=2, on_done=done.append)
    assert [triples(g) for g in many] == [triples(g) for g in corpus_reference]
    assert sorted(done) == list(range(len(units)))
    assert sum(len(g) for g in many[1:]) > 20 * len(many[0])  # each article also gets the registry's


def test_shared_registry_on_a_synthetic_corpus(corpus, corpus_shared, corpus_reference):
    ontology, registry, articles = corpus
    base, answers, done = corpus_shared
    registry_alone, *with_registry = corpus_reference
    assert triples(base) == triples(registry_alone)
    assert [triples(a) for a in answers] == [triples(w) - triples(registry_alone) for w in with_registry]
    assert all(len(a) > 0 for a in answers)
    assert sorted(done) == list(range(len(articles)))
    assert [triples(a) for a in reason.infer_many(articles[:3], ontology=ontology, shared=registry, workers=1)] == \
        [triples(a) for a in answers[:3]]


def test_units_given_as_triple_sets_get_the_answers_graphs_get(corpus, corpus_shared):
    """What `kg build` passes (kg.reason.TripleSet, not rdflib Graphs) is answered alike."""
    ontology, registry, articles = corpus
    _, answers, _ = corpus_shared
    sets = [reason.TripleSet(a) for a in articles[:4]]
    assert [triples(a) for a in reason.infer_many(sets, ontology=ontology, shared=registry, workers=2)] == \
        [triples(a) for a in answers[:4]]


def test_units_given_in_pyoxigraph_terms_get_the_answers_graphs_get(corpus, corpus_shared):
    """kg build's units (kg.reason.Asserted: pyoxigraph terms; no rdflib term is made to reason over them)."""
    ontology, registry, articles = corpus
    _, answers, _ = corpus_shared
    units = [reason.Asserted(from_rdflib(a)) for a in articles[:4]]
    assert [triples(a) for a in reason.infer_many(units, ontology=ontology, shared=registry, workers=2)] == \
        [triples(a) for a in answers[:4]]
    assert all("_triples" not in vars(u) for u in units)  # no rdflib terms were made


def test_asserted_is_read_as_its_graph_and_sent_as_rdflib_would(corpus):
    """Asserted's N-Triples for HermiT are `_nt` of its rdflib graph (an xsd:date turned into a plain literal,
    owl:imports left out, escapes, languages, blank nodes); its IRI triples and vocabulary are those `_answer`
    computes from a graph."""
    _, _, articles = corpus
    graph = plus(articles[0])
    odd = rdflib.BNode("b1")
    graph.add((EX.x, KG.date, Literal("2023-05-24", datatype=rdflib.XSD.date)))
    graph.add((EX.x, KG.note, Literal('a "quoted"\nline \\ back\rslash', lang="en")))
    graph.add((EX.x, KG.amount, Literal("007", datatype=rdflib.XSD.integer)))
    graph.add((EX.x, KG.label, Literal("plain")))
    graph.add((odd, KG.about, EX.x))
    graph.add((EX.onto, rdflib.OWL.imports, URIRef("https://example.org/elsewhere")))
    graph.add((KG.Thing, RDF.type, rdflib.OWL.Class))
    facts = reason.Asserted(from_rdflib(graph))
    sent = facts.ntriples().decode().splitlines()
    assert sorted(sent) == sorted(reason._nt(graph.triples((None, None, None))).decode().splitlines())
    assert len(sent) == len(graph) - 1 and not any("imports" in line for line in sent)
    assert '"2023-05-24^^http://www.w3.org/2001/XMLSchema#date"' in facts.ntriples().decode()
    assert facts.iri_triples == reason._iri_triples(graph) and len(facts.iri_triples) > 10
    assert facts.iri_vocabulary == reason._iris(reason._vocabulary(graph)) == {str(KG.Thing)}
    assert set(facts) == triples(graph) and len(facts) == len(graph)
    assert set(facts.triples((None, RDF.type, None))) == set(graph.triples((None, RDF.type, None)))


def test_asserted_from_nquads_text_sends_what_its_terms_send(corpus):
    """kg build gives Asserted each unit's N-Quads: what it sends HermiT, its IRI triples and vocabulary, cut
    from the lines, are byte for byte those made from the terms, on every synthetic article and on literals of
    every kind (escapes pyoxigraph and `_escaped` write alike, and a tab, control characters and a base
    direction, which they do not: read from the terms); no term is parsed unless asked for."""
    import pyoxigraph as ox

    from kg.build import _nquads
    from kg.namespaces import article_graph

    _, _, articles = corpus
    graph = article_graph("a")

    def both(triples: list) -> tuple[reason.Asserted, reason.Asserted]:
        text = _nquads(ox.Quad(*t, ox.NamedNode(graph)) for t in triples)
        return reason.Asserted(triples), reason.Asserted(nquads=text, graph=graph)

    def same(triples: list, *, cut: bool = True) -> None:
        terms, text = both(triples)
        assert text.ntriples() == terms.ntriples()
        assert text.iri_triples == terms.iri_triples and text.iri_vocabulary == terms.iri_vocabulary
        assert ("terms" not in vars(text)) == cut  # (cut from the lines: no term parsed)
        assert set(text) == set(terms) and len(text) == len(terms)

    for article in articles:
        same(list(from_rdflib(article)))
    same(list(from_rdflib(articles[0])) + list(from_rdflib(articles[0]))[:3])  # a line twice: sent once
    node, kg = ox.NamedNode(str(EX.x)), str(KG)
    odd = [ox.Triple(ox.BlankNode("b1"), ox.NamedNode(kg + "about"), node),
           ox.Triple(node, ox.NamedNode(str(RDF.type)), ox.NamedNode("http://www.w3.org/2002/07/owl#Class")),
           ox.Triple(ox.NamedNode(str(EX.onto)), ox.NamedNode("http://www.w3.org/2002/07/owl#imports"), node)]
    literals = [ox.Literal('a "quoted"\nline \\ back\rslash é 日本', language="en"), ox.Literal("plain"),
                ox.Literal("2023-05-24", datatype=ox.NamedNode(XSD_DATE)), ox.Literal("2023-05"),
                ox.Literal("007", datatype=ox.NamedNode(XSD_INTEGER)),
                ox.Literal("x", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#string")),
                ox.Literal("a\\tb", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#gYearMonth")),
                ox.Literal("x> <y> <z", datatype=ox.NamedNode("https://example.org/kg/datatype#odd")),
                ox.Literal("x> <y", datatype=ox.NamedNode("https://example.org/kg/datatype#odd")),
                ox.Literal('"^^<x> <y> .', language="en")]
    same(odd + [ox.Triple(node, ox.NamedNode(kg + f"p{n}"), o) for n, o in enumerate(literals)])
    for kept_apart in [ox.Literal("tab\there"), ox.Literal("bell\x07"), ox.Literal("del\x7f", language="ru"),
                       ox.Literal("\x08\x0c", datatype=ox.NamedNode(XSD_DATE))]:
        same(odd + [ox.Triple(node, ox.NamedNode(kg + "note"), kept_apart)], cut=False)
    # A type given as a literal holding a class's IRI is no vocabulary (as `_vocabulary` of the rdflib graph).
    same([ox.Triple(node, ox.NamedNode(str(RDF.type)), ox.Literal("http://www.w3.org/2002/07/owl#Class"))])
    assert not reason.Asserted([ox.Triple(node, ox.NamedNode(str(RDF.type)),
                                          ox.Literal("http://www.w3.org/2002/07/owl#Class"))]).iri_vocabulary
    # A line of another graph, or of the default graph with the unit's graph as its object: read from terms.
    for quad in [ox.Quad(node, ox.NamedNode(kg + "p"), node, ox.NamedNode(graph + "x")),
                 ox.Quad(node, ox.NamedNode(kg + "p"), ox.NamedNode(graph), ox.DefaultGraph())]:
        stray = reason.Asserted(nquads=_nquads([quad]), graph=graph)
        assert stray.ntriples() == f"<{EX.x}> <{kg}p> <{quad.object.value}> .\n".encode() and "terms" in vars(stray)
        assert stray.iri_triples == {(str(EX.x), kg + "p", quad.object.value)}


def test_a_triple_set_reads_as_the_graph_of_its_triples(corpus):
    _, _, articles = corpus
    graph = articles[0]
    facts = reason.TripleSet(graph)
    assert len(facts) == len(graph) and set(facts) == triples(graph)
    subject, predicate, obj = sorted(graph)[len(graph) // 2]
    for pattern in [(None, None, None), (subject, None, None), (None, predicate, None), (None, None, obj),
                    (subject, predicate, None), (None, predicate, obj), (subject, predicate, obj),
                    (None, RDF.type, None), (EX.nobody, None, None)]:
        assert set(facts.triples(pattern)) == set(graph.triples(pattern)), pattern
    kind = next(o for o in graph.objects(None, RDF.type))
    typed = sorted(set(graph.subjects(RDF.type, kind)))
    assert typed and sorted(facts.subjects(RDF.type, kind)) == typed
    assert sorted(facts.subjects(predicate, obj)) == sorted(set(graph.subjects(predicate, obj)))
    assert set(facts.objects(subject, None)) == set(graph.objects(subject, None))
    assert set(facts.predicates(subject, None)) == set(graph.predicates(subject, None))
    assert (subject, predicate, obj) in facts and (subject, predicate, EX.nobody) not in facts


def test_a_jvm_for_a_long_run_compiles_with_c2_and_answers_alike(real):
    """A JVM that will answer LONG_RUN units or more runs without -XX:TieredStopAtLevel=1 (its command line, read
    from /proc); both kinds answer a unit with the same lines."""
    ontology, registry, articles = real
    classpath = reason.server_classpath()
    assert classpath is not None  # javac is part of what the tests install
    answers = []
    for units, quick in ((10, True), (reason.LONG_RUN, False)):
        server = reason._Server(classpath, reason._nt(ontology.triples((None, None, None))), units=units)
        try:
            command = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")
            assert (b"-XX:TieredStopAtLevel=1" in command) == quick
            ((status, answer),) = server.many([reason._nt(plus(articles[0], registry).triples((None, None, None)))])
            assert status == "ok"
            answers.append(sorted(answer.splitlines()))
        finally:
            server.close()
    assert answers[0] == answers[1] and len(answers[0]) > 50


def test_no_units_no_answers(real):
    ontology, registry, _ = real
    assert reason.infer_many([], ontology=ontology) == []
    base, answers = reason.infer_with_shared(registry, [], ontology=ontology)
    assert answers == [] and len(base) > 0


# --- errors, in unit order, as infer raises them ----------------------------------------------------


def clash(article: rdflib.Graph, individual: URIRef) -> rdflib.Graph:
    """The article, plus: `individual` is a person and a state (disjoint)."""
    broken = plus(article)
    broken.add((individual, RDF.type, KG.Person))
    broken.add((individual, RDF.type, KG.State))
    return broken


def test_first_inconsistent_unit_is_reported_as_infer_reports_it(corpus):
    ontology, registry, articles = corpus
    units = list(articles[:5])
    units[2] = clash(units[2], EX["first-culprit"])
    units[4] = clash(units[4], EX["second-culprit"])
    expected = "error: inconsistent: ex:first-culprit is both kg:Person and kg:State (disjoint)"
    with pytest.raises(reason.Inconsistent) as alone:
        reason.infer(plus(units[2], registry), ontology=ontology)
    assert str(alone.value) == expected
    for shared in (None, registry):
        with pytest.raises(reason.Inconsistent) as caught:
            reason.infer_many([u if shared is not None else plus(u, registry) for u in units], ontology=ontology,
                              shared=shared, workers=2)
        assert str(caught.value) == expected
        assert caught.value.individuals == (EX["first-culprit"],)


def test_a_later_unit_fails_only_if_the_earlier_ones_do_not(corpus):
    ontology, registry, articles = corpus
    units = [plus(articles[0]), clash(articles[1], EX["culprit"])]
    units[0].add((EX["bad iri"], RDF.type, KG.Person))  # HermiT's parser rejects it
    with pytest.raises(reason.ReasonerFailed, match="HermiT failed: .*Turtle"):
        reason.infer_many(units, ontology=ontology, shared=registry)
    with pytest.raises(reason.Inconsistent, match="ex:culprit is both"):
        reason.infer_many(units[::-1], ontology=ontology, shared=registry)


def test_an_inconsistent_registry_is_reported_for_the_first_unit(corpus):
    ontology, registry, articles = corpus
    broken = clash(registry, EX["registry-culprit"])
    with pytest.raises(reason.Inconsistent, match="ex:registry-culprit is both"):
        reason.infer_with_shared(broken, articles[:2], ontology=ontology)
    with pytest.raises(reason.Inconsistent, match="ex:registry-culprit is both"):
        reason.infer_many(articles[:2], ontology=ontology, shared=broken)


def test_ranges_outside_the_structural_rules_are_explained_by_the_servers_hermit():
    here = Path(__file__).resolve().parent / "reason"
    ontology = rdflib.Graph().parse(here / "ontology.ttl")
    facts = rdflib.Graph().parse(here / "facts.ttl")
    bad = rdflib.Graph().parse(here / "inconsistent-range.ttl")
    with pytest.raises(reason.Inconsistent) as caught:
        reason.infer_many([facts, bad, facts], ontology=ontology)
    assert str(caught.value) == ("error: inconsistent: the assertions about ex:sentence-02 contradict the ontology "
                                 "(ex:sentence-02: kg:sentenceIndex)")


# --- nothing left behind ----------------------------------------------------------------------------


def children() -> list[str]:
    """Processes (zombies too) whose parent is this one."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        if int(rest[1]) == os.getpid():
            found.append(f"{stat.parent.name} {name} {rest[0]}")
    return found


def test_the_pool_shuts_down_on_success_and_on_error(corpus, tmp_path, monkeypatch):
    ontology, registry, articles = corpus
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp))
    before = children()
    reason.infer_many(articles[:3], ontology=ontology, shared=registry, workers=2)
    assert children() == before and list(tmp.iterdir()) == []
    with pytest.raises(reason.Inconsistent):
        reason.infer_many([articles[0], clash(articles[1], EX["culprit"]), articles[2]], ontology=ontology,
                          shared=registry, workers=2)
    assert children() == before and list(tmp.iterdir()) == []
    broken = plus(articles[2])
    broken.add((EX["bad iri"], RDF.type, KG.Person))
    with pytest.raises(reason.ReasonerFailed):
        reason.infer_many([articles[0], articles[1], broken], ontology=ontology, shared=registry, workers=2)
    assert children() == before and list(tmp.iterdir()) == []

    def interrupt(index):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reason.infer_many(articles[:3], ontology=ontology, shared=registry, workers=2, on_done=interrupt)
    assert children() == before and list(tmp.iterdir()) == []


def test_missing_java_is_the_same_input_error(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    here = Path(__file__).resolve().parent / "reason"
    script = (
        "import rdflib, sys; from kg import reason; from kg.errors import KgError\n"
        f"o = rdflib.Graph().parse({str(here / 'ontology.ttl')!r})\n"
        f"f = rdflib.Graph().parse({str(here / 'facts.ttl')!r})\n"
        "try:\n    reason.infer_many([f, f], ontology=o, shared=f)\n"
        "except KgError as e:\n    print(e); sys.exit(e.exit_code)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "PATH": str(empty)}, check=False)
    assert (run.returncode, run.stdout, run.stderr) == (2, f"error: {reason.JAVA_MISSING}\n", "")
    assert issubclass(reason.ReasonerFailed, KgError)


def test_the_server_is_compiled_once_per_source_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = reason.server_classpath()
    folder = Path(first.split(os.pathsep)[0])
    assert folder.parent == tmp_path / "cache" / "kg" / "java" and (folder / "KgReasoner.class").is_file()
    stamp = (folder / "KgReasoner.class").stat().st_mtime_ns
    assert reason.server_classpath() == first
    assert (folder / "KgReasoner.class").stat().st_mtime_ns == stamp
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no staging folder left


# --- the union of units that are each consistent ----------------------------------------------------


@pytest.fixture(scope="module")
def small(corpus):
    """Ontology, a registry with three entities of our own, and three synthetic articles."""
    ontology, registry, articles = corpus
    registry = plus(registry)
    registry.add((EX.acme, RDF.type, KG.Organisation))
    registry.add((EX["acme-chair"], RDF.type, KG.Office))
    registry.add((EX.mystery, rdflib.RDFS.label, Literal("a registry entity of no known class", lang="en")))
    return ontology, registry, articles[:3]


def union_check(small, changes: list[list[tuple]], *, pyoxigraph: bool = False):
    """infer each changed article with the registry (which must succeed), then check their union (given as
    rdflib graphs, or as lists of pyoxigraph triples as a build holds them)."""
    ontology, registry, articles = small
    units = [plus(a) for a in articles]
    for unit, extra in zip(units, changes):
        for triple in extra:
            unit.add(triple)
    base, inferred = reason.infer_with_shared(registry, units, ontology=ontology, workers=1)
    if pyoxigraph:
        units, inferred = [from_rdflib(u) for u in units], [from_rdflib(g) for g in inferred]
    # With the units' summaries (as a build keeps them), HermiT is given exactly the same facts.
    summaries = [reason.summariser(ontology)(u, i) for u, i in zip(units, inferred)]
    if pyoxigraph:  # as the unit cache keeps them: packed, and unpacked to the same summaries
        from kg.build import _pack_summary, _Summary

        def parts(s):
            return s.own, s.mentioned, s.plain, set(s.facts), len(s.facts)

        assert [parts(_Summary(_pack_summary(s))) for s in summaries] == [parts(s) for s in summaries]
    given = [reason._facts_about_shared(units, inferred, ontology=ontology, shared=registry, shared_inferred=base,
                                        summaries=known) for known in (None, summaries)]
    assert given[0] is not None and given[1] is not None
    assert [set(g) for g in given[0]] == [set(g) for g in given[1]]
    assert sum(len(s.facts) for s in summaries) < sum(len(list(u)) for u in units)  # and far fewer of them
    reason.check_union(units, inferred, ontology=ontology, shared=registry, shared_inferred=base, summaries=summaries)


def test_a_summary_made_from_nquads_text_is_the_one_made_from_terms(corpus, corpus_shared):
    """kg build summarises each unit from its N-Quads text (kg.summary.summary_documents); packed, that is
    byte for byte what `summarise` on pyoxigraph terms packs to: on the synthetic corpus, and on a unit with
    a blank node, literals of every kind, a property the rules read, a built-in class (not plain) and the
    same fact asserted and inferred. A line that is not one quad of the unit's graph is summarised from terms."""
    import pyoxigraph as ox

    from kg.build import _nquads, _pack_summary, _unit_summary
    from kg.namespaces import article_graph, inferred_graph
    from kg.summary import summarise, summary_documents

    ontology, _, articles = corpus
    _, answers, _ = corpus_shared
    reads = reason.summary_reads(ontology)
    assert reads  # kg's ontology is in the fragment F: the rules read some properties

    def nquads(triples, graph: str) -> bytes:  # as kg build writes a unit's graphs
        return _nquads(ox.Quad(*t, ox.NamedNode(graph)) for t in sorted(triples, key=str))

    def both(slug: str, asserted: list, inferred: list) -> tuple[bytes, bytes]:
        graph = article_graph(slug)
        a, i = nquads(asserted, graph), nquads(inferred, inferred_graph(graph))
        terms = _pack_summary(summarise(asserted, inferred, frozenset(ox.NamedNode(r) for r in reads)))
        return _unit_summary(slug, a, i, reads), terms

    units = [(f"a{n}", list(from_rdflib(a)), list(from_rdflib(i)))
             for n, (a, i) in enumerate(zip(articles, answers))]
    for slug, asserted, inferred in units:
        text, terms = both(slug, asserted, inferred)
        assert text == terms and _unpacked(text)[4]  # (plain: facts about individuals only)
        graph = article_graph(slug)
        assert summary_documents(nquads(asserted, graph), graph, nquads(inferred, inferred_graph(graph)),
                                 inferred_graph(graph), reads) is not None  # (from the text, not from terms)

    ex, kg = "https://example.org/kg/id/", "https://example.org/kg/ontology#"
    node, other, blank = ox.NamedNode(ex + "n"), ox.NamedNode(ex + "registry-entity"), ox.BlankNode("b1")
    read = ox.NamedNode(sorted(reads)[0])
    odd = [
        ox.Triple(node, ox.NamedNode(kg + "quote"), ox.Literal('a "quoted"\nline\twith \\ and é', language="en")),
        ox.Triple(node, ox.NamedNode(kg + "startDate"), ox.Literal("2023-05-24Z", datatype=ox.NamedNode(XSD_DATE))),
        ox.Triple(node, ox.NamedNode(kg + "count"), ox.Literal("007", datatype=ox.NamedNode(XSD_INTEGER))),
        ox.Triple(node, ox.NamedNode(kg + "note"), ox.Literal("plain")),
        ox.Triple(node, ox.NamedNode(kg + "part"), blank),
        ox.Triple(blank, ox.NamedNode(kg + "of"), other),
        ox.Triple(node, read, other),
        ox.Triple(node, ox.NamedNode(str(RDF.type)), ox.NamedNode("http://www.w3.org/2002/07/owl#Class")),
    ]
    inferred = [ox.Triple(node, ox.NamedNode(kg + "participatedIn"), other), odd[-2]]
    text, terms = both("odd", odd, inferred)
    assert text == terms
    assert not _unpacked(text)[4]  # not plain: it types a node as owl:Class
    for kind in (blank, ox.Literal("a class?")):  # a type that is not a named class: not plain either
        text, terms = both("typed", [ox.Triple(node, ox.NamedNode(str(RDF.type)), kind)], [])
        assert text == terms and not _unpacked(text)[4]
    # A line of another graph: summarised from terms, to the same summary.
    graph = article_graph("odd")
    stray = nquads(odd, graph) + nquads(odd[:1], article_graph("elsewhere"))
    assert summary_documents(stray, graph, b"", inferred_graph(graph), reads) is None
    assert _unit_summary("odd", stray, b"", reads) == _pack_summary(
        summarise(odd, [], frozenset(ox.NamedNode(r) for r in reads)))


XSD_DATE = "http://www.w3.org/2001/XMLSchema#date"
XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"


def _unpacked(packed: bytes) -> tuple:
    import pickle
    import zlib

    return pickle.loads(zlib.decompress(packed))


def test_union_of_a_consistent_corpus_passes(corpus, corpus_shared):
    ontology, registry, articles = corpus
    base, inferred, _ = corpus_shared
    assert reason.check_union(articles, inferred, ontology=ontology, shared=registry, shared_inferred=base) is None
    assert reason.check_union(articles[:3], inferred[:3], ontology=ontology, shared=registry) is None


def test_union_finds_a_registry_entity_given_disjoint_types_by_two_articles(small):
    union_check(small, [])
    for pyoxigraph in (False, True):
        with pytest.raises(reason.Inconsistent) as caught:
            union_check(small, [[(EX.acme, RDF.type, KG.University)], [], [(EX.acme, RDF.type, KG.ResearchInstitute)]],
                        pyoxigraph=pyoxigraph)
        assert str(caught.value) == \
            "error: inconsistent: ex:acme is both kg:ResearchInstitute and kg:University (disjoint)"


def test_union_finds_two_values_of_a_functional_property_known_to_differ(small):
    with pytest.raises(reason.Inconsistent) as caught:
        union_check(small, [[(EX["acme-chair"], KG.officeOf, EX.germany)],
                            [(EX["acme-chair"], KG.officeOf, EX["union-of-coastal-states"])]])
    assert str(caught.value) == (
        "error: inconsistent: ex:germany and ex:union-of-coastal-states must be the same individual (kg:officeOf "
        "of ex:acme-chair is functional) but ex:germany is kg:State and ex:union-of-coastal-states is "
        "kg:IntergovernmentalOrganisation (kg:State and kg:Organisation are disjoint)")


def test_union_follows_functional_values_past_the_shared_individuals(small):
    # Only ex:joint-holding is mentioned by both articles; its offices, and their states, are each one
    # article's own. Together the holding has one office, so one state, which cannot be both.
    one = [(EX["joint-holding"], KG.office, EX["office-one"]), (EX["office-one"], KG.officeOf, EX["state-one"]),
           (EX["state-one"], RDF.type, KG.State)]
    two = [(EX["joint-holding"], KG.office, EX["office-two"]), (EX["office-two"], KG.officeOf, EX["org-two"]),
           (EX["org-two"], RDF.type, KG.Organisation)]
    union_check(small, [one])
    union_check(small, [one], pyoxigraph=True)
    with pytest.raises(reason.Inconsistent):
        union_check(small, [one, [], two], pyoxigraph=True)
    with pytest.raises(reason.Inconsistent) as caught:
        union_check(small, [one, [], two])
    assert str(caught.value).startswith(
        "error: inconsistent: the assertions about ex:joint-holding, ex:office-one, ex:office-two, ex:org-two and "
        "ex:state-one contradict the ontology (ex:joint-holding: ")


def test_union_finds_a_clash_of_inferred_classes(small):
    # One article makes ex:mystery a participant (an agent: range), another dates it (an event or an
    # office-holding: domain); neither says so in a type.
    dated = [(EX.mystery, KG.startDate, Literal("2020-01-01", datatype=URIRef("http://www.w3.org/2001/XMLSchema#date")))]
    union_check(small, [[(EX["some-talks"], KG.participant, EX.mystery)]])
    union_check(small, [[], [], dated])
    with pytest.raises(reason.Inconsistent, match="inconsistent: .*ex:mystery"):
        union_check(small, [[(EX["some-talks"], KG.participant, EX.mystery)], [], dated])


def test_union_outside_the_fragment_is_checked_whole(small):
    ontology, registry, articles = small
    ontology = plus(ontology)
    restriction = rdflib.BNode()
    ontology.add((restriction, RDF.type, rdflib.OWL.Restriction))
    ontology.add((restriction, rdflib.OWL.onProperty, KG.participant))
    ontology.add((restriction, rdflib.OWL.allValuesFrom, KG.Agent))
    ontology.add((KG.Meeting, rdflib.RDFS.subClassOf, restriction))
    assert reason._Rules.of(ontology) is None and reason._Rules.of(small[0]) is not None
    units = [plus(articles[0]), plus(articles[1])]
    units[0].add((EX.acme, RDF.type, KG.University))
    units[1].add((EX.acme, RDF.type, KG.ResearchInstitute))
    base, inferred = reason.infer_with_shared(registry, units, ontology=ontology)
    with pytest.raises(reason.Inconsistent, match="ex:acme is both"):
        reason.check_union(units, inferred, ontology=ontology, shared=registry, shared_inferred=base)
