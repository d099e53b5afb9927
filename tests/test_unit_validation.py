"""Incremental validation (kg.unit_validation): after any sequence of edits, `kg validate` with its cache
gives exactly the findings of a validation from scratch — including edits that change the results of
another article's nodes through a reference between articles."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT, run
from kg.build import validate_project
from kg.unit_validation import STATE_FILE, VALIDATION_DIR


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    base = tmp_path_factory.mktemp("incremental")
    clean, broken = base / "clean", base / "broken"
    assert run(CliRunner(), "synth", clean, "--articles", 24, "--seed", 9, "-C", ROOT).exit_code == 0
    assert run(CliRunner(), "synth", broken, "--articles", 24, "--seed", 9, "--violations", 19, "-C", ROOT).exit_code == 0
    return clean, broken


def _canonical(turtle: bytes) -> set:
    """A report graph's triples with its blank nodes named alike (each run names them anew)."""
    import pyoxigraph as ox

    dataset = ox.Dataset(ox.Quad(t.subject, t.predicate, t.object) for t in ox.parse(turtle, format=ox.RdfFormat.TURTLE))
    dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
    return set(dataset)


def _same_as_from_scratch(folder: Path):
    cached = validate_project(folder)
    fresh = validate_project(folder, cache=False)
    assert cached.findings == fresh.findings
    assert cached.conforms == fresh.conforms
    assert cached.text() == fresh.text()
    return cached


def test_injecting_and_removing_violations_article_by_article(corpora, tmp_path):
    clean, broken = corpora
    folder = tmp_path / "corpus"
    shutil.copytree(clean, folder)
    assert _same_as_from_scratch(folder).conforms
    assert (folder / VALIDATION_DIR / STATE_FILE).is_file()
    edited = sorted(p.parent.name for p in (broken / "articles").glob("*/facts.ttl")
                    if p.read_bytes() != (clean / "articles" / p.parent.name / "facts.ttl").read_bytes())
    assert len(edited) >= 10
    counts = []
    for batch in (edited[:1], edited[1:2], edited[2:]):  # break one, another, then the rest ...
        for slug in batch:
            shutil.copy(broken / "articles" / slug / "facts.ttl", folder / "articles" / slug / "facts.ttl")
        counts.append(len(_same_as_from_scratch(folder).findings))
    assert counts[-1] > counts[0] > 0
    for slug in edited[::3]:  # ... and mend a third of them
        shutil.copy(clean / "articles" / slug / "facts.ttl", folder / "articles" / slug / "facts.ttl")
    _same_as_from_scratch(folder)
    shutil.rmtree(folder / "articles" / edited[1])  # a removed article takes its findings with it
    report = _same_as_from_scratch(folder)
    assert edited[1] not in {f.unit for f in report.findings}


def test_an_edit_changes_the_findings_of_an_article_that_refers_to_it(corpora, tmp_path):
    clean, _ = corpora
    folder = tmp_path / "corpus"
    shutil.copytree(clean, folder)
    part = folder / "articles" / "00002-summit-in-ankara" / "facts.ttl"
    whole = folder / "articles" / "00005-summit-in-bogota" / "facts.ttl"
    assert _same_as_from_scratch(folder).conforms
    # A meeting of one article becomes part of another article's summit, which lies years earlier.
    part.write_text(part.read_text(encoding="utf-8").replace(
        "kg:partOf ex:a00002-summit-union-of-coastal-states-ankara", "kg:partOf ex:a00005-summit-northern-cooperation-forum-bogota"),
        encoding="utf-8")
    before = _same_as_from_scratch(folder)
    assert "00002-summit-in-ankara" in {f.unit for f in before.findings}
    # Only the other article changes: its summit moves to the meeting's dates.
    whole.write_text(whole.read_text(encoding="utf-8").replace(
        'kg:startDate "2016-02-29"^^xsd:date ;\n    kg:endDate "2016-03-01"^^xsd:date',
        'kg:startDate "2019-12-07"^^xsd:date ;\n    kg:endDate "2019-12-08"^^xsd:date', 1), encoding="utf-8")
    after = _same_as_from_scratch(folder)
    mine = lambda report: {f for f in report.findings if f.unit == "00002-summit-in-ankara"}  # noqa: E731
    assert mine(after) != mine(before)


def test_the_turtle_report_is_complete_after_an_incremental_run(corpora, tmp_path):
    _, broken = corpora
    folder = tmp_path / "corpus"
    shutil.copytree(broken, folder)
    validate_project(folder)
    full = validate_project(folder, full=True)
    assert full.graph and full.findings == validate_project(folder, cache=False).findings


def test_an_edit_changes_the_findings_of_an_article_through_a_registry_entity(corpora, tmp_path):
    """Two hops between articles: a bilateral meeting of one article is valid only thanks to an office-holding
    that another article states about a registry person (kg:BilateralMeetingShape reads every holding of each
    participant). Removing that holding changes the meeting's findings, though neither article refers to
    the other."""
    clean, _ = corpora
    folder = tmp_path / "corpus"
    shutil.copytree(clean, folder)
    meeting = folder / "articles" / "00001-rafael-kader-visits-tanzania" / "facts.ttl"
    other = folder / "articles" / "00003-sara-eriksen-visits-australia" / "facts.ttl"
    # The meeting's Tanzanian participant holds, in this article, a Canadian office like the other one ...
    text = meeting.read_text(encoding="utf-8")
    holding = "kg:holder ex:adrian-sato ;\n    kg:office ex:foreign-minister-of-tanzania ;"
    assert holding in text
    meeting.write_text(text.replace(holding, "kg:holder ex:adrian-sato ;\n    kg:office ex:foreign-minister-of-canada ;"),
                       encoding="utf-8")
    # ... and holds the Tanzanian office in another article, which says nothing else about the meeting.
    original = other.read_text(encoding="utf-8")
    assert "Hungarian Prime Minister Sara Eriksen" in original
    other.write_text(original + (
        "\nex:a00003-holding-adrian-sato a kg:OfficeHolding ;\n"
        '    rdfs:label "Adrian Sato, Foreign Minister of Tanzania"@en ;\n'
        "    kg:holder ex:adrian-sato ;\n"
        "    kg:office ex:foreign-minister-of-tanzania ;\n"
        '    kg:attestedOn "2020-07-11"^^xsd:date ;\n'
        '    kgc:evidence "Hungarian Prime Minister Sara Eriksen" .\n'), encoding="utf-8")
    meeting_findings = lambda report: {f for f in report.findings  # noqa: E731
                                       if f.focus.endswith("a00001-meeting-rafael-kader-adrian-sato")}
    assert not meeting_findings(_same_as_from_scratch(folder))
    other.write_text(original, encoding="utf-8")  # only the other article changes
    assert meeting_findings(_same_as_from_scratch(folder))


def _focus_of_next_run(monkeypatch, folder: Path) -> set[str]:
    """The focus nodes the next cached validation of `folder` validates again (it must equal a fresh run)."""
    import kg.unit_validation as unit_validation

    seen: list = []
    real = unit_validation.validate

    def spy(store, **kwargs):
        seen.append(kwargs["focus"])
        return real(store, **kwargs)

    monkeypatch.setattr(unit_validation, "validate", spy)
    _same_as_from_scratch(folder)
    monkeypatch.undo()
    assert len(seen) == 2 and seen[1] is None  # the cached run, then the run from scratch
    return {n.value for n in seen[0]}


def _nodes(folder: Path, slug: str) -> set[str]:
    from kg.build import read_units

    return set(next(u for u in read_units(folder).units if u.slug == slug).nodes)


def test_an_edit_no_shape_reads_revalidates_only_its_own_article(corpora, tmp_path, monkeypatch):
    """An editorial note is read by no shape: the edited article's nodes are validated again (their line
    numbers can move), nothing else — not the nodes it refers to, nor the registry."""
    _, broken = corpora
    folder = tmp_path / "corpus"
    shutil.copytree(broken, folder)
    findings = _same_as_from_scratch(folder).findings
    slug = next(f.unit for f in findings if f.unit != "registry" and f.line)
    facts = folder / "articles" / slug / "facts.ttl"
    text = facts.read_text(encoding="utf-8")
    subject = next(line.split()[0] for line in text.splitlines() if line.startswith("ex:"))
    # lines added at the top, and a triple no shape reads: every finding of the article moves down
    facts.write_text("# an added comment\n\n" + text + f'\n{subject} skos:editorialNote "Checked."@en .\n',
                     encoding="utf-8")
    assert _focus_of_next_run(monkeypatch, folder) == _nodes(folder, slug)
    moved = {(f.focus, f.message): f.line for f in validate_project(folder).findings if f.unit == slug}
    assert moved == {(f.focus, f.message): f.line + 2 for f in findings if f.unit == slug}


def test_an_edit_shapes_read_revalidates_what_it_can_reach(corpora, tmp_path, monkeypatch):
    """A registry entity keeps its findings until an article links to it along a predicate a shape follows
    backwards (a city as an event's participant: kg:CityShape-participant), and loses them when it no longer
    does."""
    clean, _ = corpora
    folder = tmp_path / "corpus"
    shutil.copytree(clean, folder)
    assert _same_as_from_scratch(folder).conforms
    slug = "00001-rafael-kader-visits-tanzania"
    facts = folder / "articles" / slug / "facts.ttl"
    original = facts.read_text(encoding="utf-8")
    assert "    kg:participant ex:canada , ex:tanzania ;" in original
    facts.write_text(original.replace("    kg:participant ex:canada , ex:tanzania ;",
                                      "    kg:participant ex:canada , ex:tanzania , ex:canberra ;"), encoding="utf-8")
    focus = _focus_of_next_run(monkeypatch, folder)
    assert "https://example.org/kg/id/canberra" in focus and _nodes(folder, slug) <= focus
    assert not {"https://example.org/kg/id/cordoba", "https://example.org/kg/id/buenos-aires"} & focus
    city = [f for f in validate_project(folder).findings if f.focus == "https://example.org/kg/id/canberra"]
    assert [f.unit for f in city] == ["registry"] and "a city is a place" in city[0].message
    facts.write_text(original, encoding="utf-8")
    assert "https://example.org/kg/id/canberra" in _focus_of_next_run(monkeypatch, folder)
    assert _same_as_from_scratch(folder).conforms


def test_a_first_validation_apart_is_the_one_run_here(corpora, tmp_path, monkeypatch):
    """A first validation of a large corpus validates in memory in a process of its own and loads its on-disk
    store in a third (kg.forked.spawned): the same findings, the same report graph and the same store as a
    validation run here, and later runs read the store alike."""
    import pyoxigraph as ox

    import kg.unit_validation

    clean, broken = corpora
    here, there = tmp_path / "here", tmp_path / "there"
    for folder in (here, there):
        shutil.copytree(broken, folder)
    report = validate_project(here, full=True)
    started = []
    original = kg.unit_validation.spawned
    monkeypatch.setattr(kg.unit_validation, "_APART_FROM", 0)
    monkeypatch.setattr(kg.unit_validation, "spawned", lambda *a: started.append(a[0].__name__) or original(*a))
    apart = validate_project(there, full=True)
    assert sorted(started) == ["_validate_whole", "_write_store"]
    assert report.findings and apart.findings == report.findings and apart.conforms == report.conforms
    assert _canonical(apart.graph) == _canonical(report.graph)
    assert validate_project(there).findings == validate_project(here).findings

    def quads(folder: Path) -> set:  # blank nodes (the ontology's) named alike: each parse names them anew
        dataset = ox.Dataset(ox.Store.read_only(str(folder / VALIDATION_DIR / "store")))
        dataset.canonicalize(ox.CanonicalizationAlgorithm.UNSTABLE)
        return set(dataset)

    assert quads(here) == quads(there) and len(quads(here)) > 1000
    slug = sorted(p.name for p in (clean / "articles").iterdir())[3]
    for folder in (here, there):
        shutil.copy(clean / "articles" / slug / "facts.ttl", folder / "articles" / slug / "facts.ttl")
    started.clear()
    assert validate_project(there).findings == validate_project(here).findings
    assert started == []  # the later run used the store
    assert _same_as_from_scratch(there).findings == _same_as_from_scratch(here).findings
