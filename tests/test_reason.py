"""kg.reason with the real HermiT on small fixtures of our own (tests/reason/), not ontology/kg.ttl."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import rdflib
from rdflib import Literal, URIRef
from rdflib.namespace import OWL, RDF

from kg import reason
from kg.errors import KgError

HERE = Path(__file__).resolve().parent / "reason"
KG = rdflib.Namespace("https://example.org/kg/ontology#")
EX = rdflib.Namespace("https://example.org/kg/id/")
ORG = rdflib.Namespace("http://www.w3.org/ns/org#")


def parse(name: str) -> rdflib.Graph:
    return rdflib.Graph().parse(HERE / name)


@pytest.fixture(scope="module")
def ontology() -> rdflib.Graph:
    return parse("ontology.ttl")


@pytest.fixture(scope="module")
def facts() -> rdflib.Graph:
    return parse("facts.ttl")


@pytest.fixture(scope="module")
def inferred(facts, ontology) -> rdflib.Graph:
    return reason.infer(facts, ontology=ontology)


def sorted_nt(graph: rdflib.Graph) -> str:
    return "".join(sorted(line + "\n" for line in graph.serialize(format="nt").splitlines() if line))


def test_types_from_class_hierarchy(inferred):
    assert (EX.mishustin, RDF.type, KG.Agent) in inferred
    assert (EX.russia, RDF.type, KG.Agent) in inferred


def test_types_from_domain_and_range(inferred):
    assert (EX.talks, RDF.type, KG.Event) in inferred  # domain of kg:participant, untyped otherwise
    assert (EX["pm-holding"], RDF.type, KG.OfficeHolding) in inferred  # domain of kg:holder
    assert (EX.beijing, RDF.type, KG.Place) in inferred  # asserted kg:City, subclass
    assert (EX["prime-minister-of-russia"], RDF.type, KG.Office) in inferred  # range of kg:office


def test_external_class_only_through_our_axioms(inferred):
    # kg:Office rdfs:subClassOf org:Post is our axiom, so org:Post follows; nothing else about org: does.
    assert (EX["prime-minister-of-russia"], RDF.type, ORG.Post) in inferred
    assert {o for o in inferred.objects(None, RDF.type) if str(o).startswith(str(ORG))} == {ORG.Post}


def test_inverse_properties(inferred):
    assert (EX.mishustin, KG.participatedIn, EX.talks) in inferred
    assert (EX["xi-jinping"], KG.participatedIn, EX.talks) in inferred
    assert (EX.visit, KG.hasPart, EX.talks) in inferred


def test_property_chain_and_its_super_property(inferred):
    assert (EX.mishustin, KG.holdsOffice, EX["prime-minister-of-russia"]) in inferred
    assert (EX.mishustin, ORG.holds, EX["prime-minister-of-russia"]) in inferred


def test_inferred_is_exactly_the_golden_file(inferred):
    assert sorted_nt(inferred) == (HERE / "facts-inferred.nt").read_text(encoding="utf-8")


def test_inferred_repeats_nothing_asserted_and_only_speaks_of_individuals(inferred, facts, ontology):
    assert len(inferred) > 0
    vocabulary = set(ontology.subjects(RDF.type, None)) - set(facts.subjects())
    for s, p, o in inferred:
        assert (s, p, o) not in facts and (s, p, o) not in ontology
        assert not isinstance(o, Literal)
        assert s not in vocabulary
        assert not str(o).startswith(str(OWL)) and not str(p).startswith(str(OWL))


def test_inferred_uses_the_fixed_prefixes(inferred):
    assert dict(inferred.namespaces())["kg"] == URIRef(str(KG))
    assert not any(prefix.startswith("ns") for prefix, _ in inferred.namespaces())


def test_deterministic_whatever_the_hash_seed(tmp_path):
    script = (
        "import rdflib, sys; from kg import reason; "
        f"o = rdflib.Graph().parse({str(HERE / 'ontology.ttl')!r}); "
        f"f = rdflib.Graph().parse({str(HERE / 'facts.ttl')!r}); "
        "sys.stdout.write(''.join(sorted(l + '\\n' for l in reason.infer(f, ontology=o)"
        ".serialize(format='nt').splitlines() if l)))"
    )
    outputs = set()
    for seed in ("1", "2"):
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        outputs.add(run.stdout)
    assert outputs == {(HERE / "facts-inferred.nt").read_text(encoding="utf-8")}


def test_consistent_graph_passes_the_whole_graph_check(facts, ontology):
    assert reason.check_consistent(facts, ontology=ontology) is None


INCONSISTENT = {
    "inconsistent-disjoint.ttl":
        "inconsistent: ex:xi-jinping is both kg:Person and kg:State (disjoint)",
    "inconsistent-domain.ttl":
        "inconsistent: ex:xi-jinping is both kg:Person and kg:Event (domain of kg:participant) "
        "(kg:Agent and kg:Event are disjoint)",
    "inconsistent-functional.ttl":
        "inconsistent: ex:russia and ex:sco must be the same individual (kg:officeOf of "
        "ex:prime-minister-of-russia is functional) but ex:russia is kg:State and ex:sco is kg:Organisation "
        "(disjoint)",
    "inconsistent-union-domain.ttl":
        "inconsistent: ex:xi-jinping is kg:Person but the domain of kg:startDate is kg:Event or kg:OfficeHolding "
        "(disjoint)",
    "inconsistent-functional-data.ttl":
        'inconsistent: ex:sentence-01 has 2 values of kg:sentenceIndex, which is functional '
        '("1"^^xsd:positiveInteger, "2"^^xsd:positiveInteger)',
    # Found by delta debugging with HermiT: no structural rule looks at data ranges.
    "inconsistent-range.ttl":
        "inconsistent: the assertions about ex:sentence-02 contradict the ontology (ex:sentence-02: kg:sentenceIndex)",
}


@pytest.mark.parametrize("name", sorted(INCONSISTENT))
@pytest.mark.parametrize("check", [reason.infer, reason.check_consistent], ids=["infer", "check_consistent"])
def test_inconsistency_is_explained_in_one_line(name, check, ontology):
    with pytest.raises(reason.Inconsistent) as caught:
        check(parse(name), ontology=ontology)
    assert str(caught.value) == "error: " + INCONSISTENT[name]
    assert caught.value.exit_code == 1
    assert "\n" not in str(caught.value)


def test_functional_data_values_compare_by_value_not_lexical_form(ontology, monkeypatch):
    monkeypatch.setattr(rdflib, "NORMALIZE_LITERALS", False)
    with pytest.raises(reason.Inconsistent, match=r'has 2 values .* \("02"\^\^xsd:positiveInteger, "1"\^\^'):
        reason.infer(parse("inconsistent-functional-data.ttl"), ontology=ontology)


def test_inconsistency_names_individuals_and_classes(ontology):
    with pytest.raises(reason.Inconsistent) as caught:
        reason.infer(parse("inconsistent-functional.ttl"), ontology=ontology)
    assert caught.value.individuals == (EX["prime-minister-of-russia"], EX.russia, EX.sco)
    assert caught.value.classes == (KG.State, KG.Organisation)


def test_dates_and_durations_reason_fine_and_stay_untouched(ontology, monkeypatch):
    monkeypatch.setattr(rdflib, "NORMALIZE_LITERALS", False)
    source = (HERE / "literals.ttl").read_text(encoding="utf-8")
    graph = parse("literals.ttl")
    before = {(s, p, o, str(o) if isinstance(o, Literal) else None) for s, p, o in graph}

    inferred = reason.infer(graph, ontology=ontology)

    assert {(s, p, o, str(o) if isinstance(o, Literal) else None) for s, p, o in graph} == before
    typed = {str(o): o.datatype for o in graph.objects() if isinstance(o, Literal) and o.datatype}
    for lexical, datatype in re.findall(r'"([^"\n]+)"\^\^xsd:(\w+)', source):
        assert typed[lexical] == rdflib.XSD[datatype]  # lexical forms exactly as written: "01", "+08:00"
    assert not any(isinstance(o, Literal) for o in inferred.objects())
    assert (EX.visit, RDF.type, KG.Event) in inferred
    assert (EX["pm-holding"], RDF.type, KG.OfficeHolding) in inferred  # only a date says so


def run_python(script: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, **env}, check=False)


def test_missing_java_is_an_input_error(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    script = (
        "import rdflib, sys; from kg import reason; from kg.errors import KgError\n"
        f"o = rdflib.Graph().parse({str(HERE / 'ontology.ttl')!r})\n"
        f"f = rdflib.Graph().parse({str(HERE / 'facts.ttl')!r})\n"
        "try:\n    reason.infer(f, ontology=o)\n"
        "except KgError as e:\n    print(e); sys.exit(e.exit_code)\n"
    )
    run = run_python(script, PATH=str(empty))
    assert (run.returncode, run.stdout, run.stderr) == (
        2, "error: java not found: kg's reasoner (HermiT) needs Java 11+ on PATH; install a JRE or use "
           "--no-reason\n", "")
    assert issubclass(reason.Inconsistent, KgError)


def test_no_files_left_behind_and_java_says_nothing(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    script = (
        "import rdflib; from kg import reason\n"
        f"o = rdflib.Graph().parse({str(HERE / 'ontology.ttl')!r})\n"
        f"reason.infer(rdflib.Graph().parse({str(HERE / 'facts.ttl')!r}), ontology=o)\n"
        "for name in ('inconsistent-disjoint.ttl', 'inconsistent-range.ttl'):\n"
        f"    try:\n        reason.infer(rdflib.Graph().parse({str(HERE)!r} + '/' + name), ontology=o)\n"
        "    except reason.Inconsistent:\n        pass\n"
        "    else:\n        raise SystemExit('not inconsistent: ' + name)\n"
    )
    run = run_python(script, TMPDIR=str(tmp))
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")
    assert list(tmp.iterdir()) == []
