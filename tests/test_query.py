"""`kg query` on the embedded store: canned queries, formats, errors, the store cache."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rdflib
import rdflib.compare
from click.testing import CliRunner

from kg.cli.query import query
from kg.errors import KgError
from kg.store import open_store, refresh, store_path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def built_out() -> Path:
    """The real build output when it exists, else the fixture with the same layout."""
    return ROOT / "out" if (ROOT / "out" / "kg.nq").is_file() else DATA / "out"


def canned_queries() -> list[Path]:
    return sorted((ROOT / "queries").glob("*.rq")) + sorted((DATA / "queries").glob("*.rq"))


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    shutil.copytree(DATA / "out", tmp_path / "out")
    shutil.copytree(DATA / "queries", tmp_path / "queries")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(query, list(args), input=input)


def test_list_shows_each_canned_query_with_its_question(project):
    result = run("--list")
    assert result.exit_code == 0
    assert result.output == (
        "graph-sizes\tHow many triples does each of our named graphs hold?\n"
        "has-visit\tDoes the graph record an official visit to China?\n"
        "literals\tWhich non-IRI values (numbers, booleans, strings with quotes, other scripts) does the graph hold?\n"
        "meetings\tWhich meetings took place, when, and who took part?\n"
        "visit-summary\tWhat is the visit, with its parts and their labels, as a graph?\n"
    )


def test_table_is_aligned_with_prefixed_names_and_a_row_count(project):
    result = run("meetings", "--format", "table")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "meeting                                   date        participant    name\n"
        "----------------------------------------  ----------  -------------  --------------------\n"
        "ex:mishustin-china-visit-2023-meeting-xi  2023-05-24  ex:mishustin   Mikhail Mishustin@en\n"
        "ex:mishustin-china-visit-2023-meeting-xi  2023-05-24  ex:xi-jinping  Xi Jinping@en\n"
        "ex:mishustin-china-visit-2023-talks       2023-05-24  ex:li-qiang    Li Qiang@en\n"
        "ex:mishustin-china-visit-2023-talks       2023-05-24  ex:mishustin   Mikhail Mishustin@en\n"
        "(4 rows)\n"
    )


def test_table_counts_wide_characters_as_two_columns(project):
    result = run("-", "--format", "table", input='SELECT ?l ?x { VALUES (?l ?x) { ("习近平" 1) ("Xi" 2) } }')
    assert result.output.splitlines()[2:4] == ["习近平  1", "Xi      2"]


def test_default_format_off_a_terminal_is_tsv(project):
    result = run("literals")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "?s\t?p\t?o"
    assert '<https://example.org/kg/id/xi-jinping>\t<http://www.w3.org/2000/01/rdf-schema#label>\t"习近平"@zh' in lines


def test_json_is_sparql_results_json(project):
    answer = json.loads(run("literals", "--format", "json").output)
    assert answer["head"]["vars"] == ["s", "p", "o"]
    values = {b["o"]["value"]: b["o"] for b in answer["results"]["bindings"]}
    assert values["512"]["datatype"] == "http://www.w3.org/2001/XMLSchema#integer"
    assert values["习近平"]["xml:lang"] == "zh"


def test_csv_quotes_what_needs_quoting(project):
    rows = list(csv.reader(io.StringIO(run("literals", "--format", "csv").output)))
    assert rows[0] == ["s", "p", "o"]
    assert "\"Wednesday\" resolved to 2023-05-24, the article's date." in [r[2] for r in rows]


def test_ask_answers_true_or_false(project):
    assert run("has-visit", "--format", "table").output == "true\n"
    assert json.loads(run("has-visit", "--format", "json").output) == {"head": {}, "boolean": True}
    assert run("-", "--format", "table", input="ASK { ?s a <urn:nothing> }").output == "false\n"


@pytest.mark.parametrize("fmt,rdflib_format", [("ttl", "turtle"), ("nt", "nt"), ("jsonld", "json-ld"), ("trig", "trig"), ("nq", "nquads")])
def test_construct_renders_rdf_in_each_format(project, fmt, rdflib_format):
    first = run("visit-summary", "--format", fmt)
    assert first.exit_code == 0, first.output
    assert run("visit-summary", "--format", fmt).output == first.output
    got = rdflib.Dataset()
    got.parse(data=first.output, format=rdflib_format)
    expected = rdflib.Graph().parse(
        data="""
        @prefix ex: <https://example.org/kg/id/> . @prefix kg: <https://example.org/kg/ontology#> .
        @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> . @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
        ex:mishustin-china-visit-2023-visit kg:hasPart ex:mishustin-china-visit-2023-talks ,
            ex:mishustin-china-visit-2023-meeting-xi ; kg:startDate "2023-05-23"^^xsd:date .
        ex:mishustin-china-visit-2023-talks rdfs:label "Talks between Mishustin and Li Qiang"@en .
        ex:mishustin-china-visit-2023-meeting-xi rdfs:label "Meeting of Mishustin and Xi Jinping"@en .
        """,
        format="turtle",
    )
    triples = rdflib.Graph()
    for s, p, o, _ in got.quads():
        triples.add((s, p, o))
    assert rdflib.compare.isomorphic(triples, expected)


def test_turtle_binds_only_the_fixed_prefixes_it_uses(project):
    output = run("visit-summary").output
    prefixes = [line.split()[1] for line in output.splitlines() if line.startswith("@prefix")]
    assert sorted(prefixes) == ["ex:", "kg:", "rdfs:", "xsd:"]


def test_default_graph_is_the_union_unless_graph_is_given(project):
    count = "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"
    assert run("-", "--format", "csv", input=count).output == "n\n53\n"
    registry = ["--graph", "https://example.org/kg/graph/registry"]
    assert run("-", "--format", "csv", *registry, input=count).output == "n\n13\n"
    both = registry + ["--graph", "https://example.org/kg/graph/registry/inferred"]
    assert run("-", "--format", "csv", *both, input=count).output == "n\n18\n"


def test_syntax_error_points_to_line_and_column_of_the_query_file(project):
    (project / "bad.rq").write_text("SELECT ?s\nWHERE { ?s ?p }")
    result = run("bad.rq")
    assert result.exit_code == 2
    assert result.output == "bad.rq:2:16: error: expected one of LATERAL, SERVICE, [_]\n"


def test_syntax_error_on_stdin_names_stdin(project):
    result = run("-", input="SELECT * WHERE {\n  ?s ?p ?o .\n  FILTER(?o = ) }")
    assert result.exit_code == 2
    assert result.output.startswith("<stdin>:3:")
    assert len(result.output.splitlines()) == 1


def test_unknown_query_lists_the_canned_ones(project):
    result = run("nope")
    assert result.exit_code == 2
    assert result.output == (
        "error: no query file or canned query named 'nope' "
        "(canned queries: graph-sizes, has-visit, literals, meetings, visit-summary)\n"
    )


def test_format_for_the_wrong_kind_of_query_is_a_usage_error(project):
    result = run("meetings", "--format", "ttl")
    assert (result.exit_code, result.output) == (
        2, "error: --format ttl is for CONSTRUCT/DESCRIBE; use one of table, csv, tsv, json\n"
    )
    result = run("visit-summary", "--format", "csv")
    assert (result.exit_code, result.output) == (
        2, "error: --format csv is for SELECT/ASK; use one of ttl, jsonld, nt, nq, trig\n"
    )


def test_missing_build_says_to_build_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("-", input="ASK {}")
    assert (result.exit_code, result.output) == (2, "out/kg.nq: error: not built yet; run `kg build` first\n")


def test_store_is_built_once_per_build_and_rebuilt_when_the_build_changes(project):
    out = project / "out"
    first = refresh(out)
    assert first == project / ".cache" / "store" / store_path(out).name
    marker = first / "CURRENT"
    stamp = marker.stat().st_mtime_ns
    assert refresh(out) == first and marker.stat().st_mtime_ns == stamp
    with (out / "kg.nq").open("a") as f:
        f.write("<urn:x> <urn:p> <urn:y> <https://example.org/kg/graph/registry> .\n")
    second = refresh(out)
    assert second != first and not first.exists()
    assert len(open_store(out)) == 54


def test_concurrent_queries_on_a_fresh_cache_all_answer(project):
    command = [sys.executable, "-m", "kg", "query", "graph-sizes", "--format", "csv"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(6)]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0] * 6, [e for _, e in outputs]
    assert len({o for o, _ in outputs}) == 1
    stores = [p.name for p in (project / ".cache" / "store").iterdir() if not p.name.startswith(".")]
    assert stores == [store_path(project / "out").name]


@pytest.mark.parametrize("path", canned_queries(), ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_every_canned_query_answers_with_no_server(path, tmp_path, monkeypatch):
    out = built_out()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(query, [str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert path.read_text().startswith("# Question: ")


def canonical_quads(quads) -> set[str]:
    """The quads as strings, blank nodes labelled by RDFC-1.0 (a store and a parse label them apart)."""
    import pyoxigraph as ox

    dataset = ox.Dataset(quads)
    dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    return {str(q) for q in dataset}


def _edit_note(corpus: Path, number: int, text: str) -> None:
    facts = sorted((corpus / "articles").iterdir())[number] / "facts.ttl"
    subject = next(line.split()[0] for line in facts.read_text(encoding="utf-8").splitlines() if line.startswith("ex:"))
    with facts.open("a", encoding="utf-8") as f:
        f.write(f'\n{subject} skos:editorialNote "{text}"@en .\n')


def _equals_kg_nq(corpus: Path) -> set[str]:
    """The quads of the store `kg query` answers from, checked equal to those of a load of out/kg.nq."""
    import pyoxigraph as ox

    reference = ox.Store()  # what loading the new kg.nq from scratch gives
    reference.bulk_load(path=str(corpus / "out" / "kg.nq"), format=ox.RdfFormat.N_QUADS)
    stored = canonical_quads(open_store(corpus / "out"))
    assert stored == canonical_quads(reference)
    return stored


def test_build_updates_the_store_graph_by_graph_and_it_equals_kg_nq(tmp_path, monkeypatch):
    """After an edit of one article the build reloads only that article's graph into its working store, from
    the article's piece while the data files are staged by another process (kg.store.prepare: kg.nq is not read
    for it); the store it then answers from holds exactly the quads of the new out/kg.nq."""
    from click.testing import CliRunner

    from conftest import ROOT, run as invoke
    from kg import store as kg_store

    corpus = tmp_path / "corpus"
    assert invoke(CliRunner(), "synth", corpus, "--articles", 12, "--seed", 3, "-C", ROOT).exit_code == 0
    assert invoke(CliRunner(), "build", "-C", corpus, "--no-reason").exit_code == 0
    work = corpus / ".cache" / "store" / kg_store.WORK_DIR
    created = work.stat().st_ino
    _edit_note(corpus, 4, "edited")
    prepared = []
    original = kg_store.prepare
    monkeypatch.setattr(kg_store, "prepare", lambda *a, **k: prepared.append(original(*a, **k)) or prepared[-1])
    monkeypatch.setattr(kg_store, "_graph_lines", lambda *a: pytest.fail("kg.nq read for the store's graphs"))
    assert invoke(CliRunner(), "build", "-C", corpus, "--no-reason").exit_code == 0
    monkeypatch.undo()
    assert len(prepared) == 1 and prepared[0] is not None and not prepared[0].folder.exists()
    assert work.stat().st_ino == created  # updated in place, not reloaded
    assert any('"edited"@en' in q for q in _equals_kg_nq(corpus))


def test_a_build_that_fails_after_preparing_the_store_leaves_the_last_one(tmp_path, monkeypatch):
    """A build that fails once the query store is prepared (kg.store.prepare: the staging process failed, say)
    leaves out/ and the store `kg query` answers from as they were, and nothing prepared behind;
    the working store, updated already, gives the next build's store, which equals the new kg.nq."""
    from click.testing import CliRunner

    from conftest import ROOT, run as invoke
    from kg import build as kg_build
    from kg import store as kg_store

    corpus = tmp_path / "corpus"
    assert invoke(CliRunner(), "synth", corpus, "--articles", 12, "--seed", 3, "-C", ROOT).exit_code == 0
    assert invoke(CliRunner(), "build", "-C", corpus, "--no-reason").exit_code == 0
    before = {p.name: p.read_bytes() for p in (corpus / "out").iterdir() if p.is_file()}
    answered = _equals_kg_nq(corpus)
    _edit_note(corpus, 4, "edited")

    def full(*args):  # in the staging process (forked: it has this patch)
        raise OSError("no space left on the device")

    monkeypatch.setattr(kg_build, "_stage_all", full)
    prepared = []
    original = kg_store.prepare
    monkeypatch.setattr(kg_store, "prepare", lambda *a, **k: prepared.append(original(*a, **k)) or prepared[-1])
    result = invoke(CliRunner(), "build", "-C", corpus, "--no-reason")
    assert result.exit_code != 0 and "no space left on the device" in result.output
    assert len(prepared) == 1 and prepared[0] is not None
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in (corpus / "out").iterdir() if p.is_file()} == before
    assert canonical_quads(open_store(corpus / "out")) == answered
    assert not [p for p in (corpus / ".cache" / "store").iterdir() if p.name.startswith(".building")]
    assert invoke(CliRunner(), "build", "-C", corpus, "--no-reason").exit_code == 0
    assert any('"edited"@en' in q for q in _equals_kg_nq(corpus))


def test_a_graph_of_sorted_nquads_is_found_by_binary_search():
    """kg.store._graph_lines reads one graph's lines out of kg.nq (sorted by graph) by seeking: every
    graph of a file, including the first and the last, and a graph that is absent."""
    import random

    from kg.store import _graph_lines

    chance = random.Random(1)
    graphs = sorted({f"https://e.org/g/{chance.randint(0, 50)}" + chance.choice(["", "/inferred"]) for _ in range(80)},
                    key=lambda g: f"<{g}>")
    lines = [f'<https://e.org/s{i}> <https://e.org/p> "x {i} <y> ." <{g}> .\n'.encode()
             for g in graphs for i in range(chance.randint(1, 5))]
    data = b"".join(lines)
    for graph in [*graphs, "https://e.org/g/none", "https://e.org/a", "https://e.org/zzz"]:
        expected = b"".join(line for line in lines if line.endswith(f" <{graph}> .\n".encode()))
        assert _graph_lines(io.BytesIO(data), graph) == expected, graph
    assert len(graphs) > 40


def test_a_large_first_load_runs_in_a_process_of_its_own_and_equals_kg_nq(tmp_path, monkeypatch):
    """From kg.store.LOAD_APART_FROM bytes of kg.nq (0 here) the build loads its new store in a spawned
    process: loading in this one fails here, and the store still holds exactly kg.nq."""
    import pyoxigraph as ox
    from click.testing import CliRunner

    from conftest import ROOT, run as invoke
    from kg import store as kg_store

    corpus = tmp_path / "corpus"
    assert invoke(CliRunner(), "synth", corpus, "--articles", 6, "--seed", 5, "-C", ROOT).exit_code == 0
    monkeypatch.setattr(kg_store, "LOAD_APART_FROM", 0)

    def not_here(*args, **kwargs):
        raise AssertionError("loaded in the build's own process")

    monkeypatch.setattr(kg_store, "_load", not_here)
    begun = []
    original = kg_store.begin
    # it begins as soon as kg.nq is staged, which is written first: no other file is staged yet
    monkeypatch.setattr(kg_store, "begin", lambda out, staged, *a, **k: begun.append(
        (staged, sorted(p.name for p in out.iterdir()), original(out, staged, *a, **k))) or begun[-1][2])
    result = invoke(CliRunner(), "build", "-C", corpus, "--no-reason")
    assert result.exit_code == 0, result.output
    monkeypatch.undo()
    ((staged, there, loading),) = begun
    assert staged.parent == corpus / "out" and staged.name != "kg.nq" and there == [staged.name]
    assert loading is not None and loading.wait() == []  # what the build waited for
    # out/ as it is, the cache gone: kg.nq is left alone, and the store is loaded from it while writing
    shutil.rmtree(corpus / ".cache")
    begun.clear()
    monkeypatch.setattr(kg_store, "LOAD_APART_FROM", 0)
    monkeypatch.setattr(kg_store, "begin", lambda out, staged, *a, **k: begun.append(
        (staged, None, original(out, staged, *a, **k))) or begun[-1][2])
    result = invoke(CliRunner(), "build", "-C", corpus, "--no-reason")
    assert result.exit_code == 0 and "0 file(s) changed" in result.output, result.output
    monkeypatch.undo()
    ((staged, _, loading),) = begun
    assert staged == corpus / "out" / "kg.nq" and loading is not None and loading.wait() == []
    reference = ox.Store()
    reference.bulk_load(path=str(corpus / "out" / "kg.nq"), format=ox.RdfFormat.N_QUADS)

    stored = canonical_quads(open_store(corpus / "out"))
    assert stored == canonical_quads(reference) and len(stored) > 500


def test_a_kg_nq_that_does_not_parse_in_the_loading_process_is_an_error_at_its_line(tmp_path, monkeypatch):
    from kg import store as kg_store

    monkeypatch.setattr(kg_store, "LOAD_APART_FROM", 0)
    nq = tmp_path / "kg.nq"
    nq.write_text('<https://e.org/s> <https://e.org/p> "x" <https://e.org/g> .\n<https://e.org/s> oops .\n')
    with pytest.raises(KgError) as caught:
        kg_store._sync_work(tmp_path / "work", nq, {"https://e.org/g": "1"})
    (problem,) = caught.value.problems
    assert problem.path == str(nq) and problem.line == 2, problem


def test_kg_nq_is_loaded_in_chunks_of_whole_lines_and_errors_keep_the_files_line(tmp_path, monkeypatch):
    """A first load gives the bulk loader kg.store.LOAD_CHUNK bytes at a time (its memory grows with what it
    is given): the store is kg.nq's, and a syntax error past the first chunk names the line of the file."""
    import pyoxigraph as ox

    from kg import store as kg_store

    lines = [f'<https://e.org/s{i}> <https://e.org/p> "{i} é"@en <https://e.org/g{i % 3}> .\n' for i in range(40)]
    nq = tmp_path / "kg.nq"
    nq.write_text("".join(lines), encoding="utf-8")
    monkeypatch.setattr(kg_store, "LOAD_CHUNK", 100)  # one line and a bit: the rest of a line goes with it
    chunked = ox.Store()
    kg_store._load(chunked, nq)
    whole = ox.Store()
    whole.bulk_load(path=str(nq), format=ox.RdfFormat.N_QUADS)
    assert canonical_quads(chunked) == canonical_quads(whole) and len(chunked) == 40
    lines[30] = "<https://e.org/s> oops .\n"
    nq.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(KgError) as caught:
        kg_store._load(ox.Store(), nq)
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == (str(nq), 31) and "line 31 " in problem.message, problem


def test_a_build_that_fails_after_staging_kg_nq_ends_the_store_s_load_and_the_next_build_loads_it(tmp_path, monkeypatch):
    import pyoxigraph as ox
    from click.testing import CliRunner

    import kg.build
    from conftest import ROOT, run as invoke
    from kg import store as kg_store

    corpus = tmp_path / "corpus"
    assert invoke(CliRunner(), "synth", corpus, "--articles", 4, "--seed", 3, "-C", ROOT).exit_code == 0
    monkeypatch.setattr(kg_store, "LOAD_APART_FROM", 0)
    begun = []
    original_begin, original_sync = kg_store.begin, kg.build._sync_beside
    monkeypatch.setattr(kg_store, "begin", lambda *a, **k: begun.append(original_begin(*a, **k)) or begun[-1])

    def sync(fileno):
        if begun:  # kg.nq is staged and its store loading: the next file fails
            raise OSError(28, "No space left on device")
        return original_sync(fileno)

    monkeypatch.setattr(kg.build, "_sync_beside", sync)
    result = invoke(CliRunner(), "build", "-C", corpus, "--no-reason")
    assert result.exit_code != 0 and "No space left on device" in result.output
    assert not (corpus / "out" / "kg.nq").exists()
    (loading,) = begun
    with pytest.raises(RuntimeError, match="cancelled"):
        loading.wait()
    monkeypatch.setattr(kg.build, "_sync_beside", original_sync)
    result = invoke(CliRunner(), "build", "-C", corpus, "--no-reason")
    assert result.exit_code == 0, result.output
    reference = ox.Store()
    reference.bulk_load(path=str(corpus / "out" / "kg.nq"), format=ox.RdfFormat.N_QUADS)
    assert canonical_quads(open_store(corpus / "out")) == canonical_quads(reference)


def test_the_query_store_begins_loading_before_the_report_s_index_is_made(tmp_path, monkeypatch):
    """kg build stages kg.nq as soon as the data files are known (kg.build.stage), before the report's index
    is made, and begins loading the query store from it then: the store's load overlaps the report, which
    leaves a core idle on a large corpus. The store is still exactly kg.nq, and out/ what a build writes."""
    import pyoxigraph as ox
    from click.testing import CliRunner

    import kg.build
    from conftest import ROOT, run as invoke
    from kg import store as kg_store

    corpus = tmp_path / "corpus"
    assert invoke(CliRunner(), "synth", corpus, "--articles", 4, "--seed", 3, "-C", ROOT).exit_code == 0
    monkeypatch.setattr(kg_store, "LOAD_APART_FROM", 0)
    events, loads = [], []
    original_begin, original_site = kg_store.begin, kg.build._site

    def begin(out, staged, *a, **k):
        events.append(("begin", sorted(p.name for p in out.iterdir())))
        loads.append(original_begin(out, staged, *a, **k))
        return loads[-1]

    monkeypatch.setattr(kg_store, "begin", begin)
    monkeypatch.setattr(kg.build, "_site", lambda *a, **k: events.append(("site", None)) or original_site(*a, **k))
    result = invoke(CliRunner(), "build", "-C", corpus, "--timings")
    assert result.exit_code == 0, result.output
    monkeypatch.undo()
    ((_, there), (site, _)) = events
    assert site == "site" and len(there) == 1 and there[0].startswith(".kg.nq.")  # only kg.nq, staged
    assert loads[0] is not None and "kg.nq staged" in result.output
    reference = ox.Store()
    reference.bulk_load(path=str(corpus / "out" / "kg.nq"), format=ox.RdfFormat.N_QUADS)
    assert canonical_quads(open_store(corpus / "out")) == canonical_quads(reference)
    assert invoke(CliRunner(), "build", "-C", corpus, "--check").exit_code == 0


def test_a_build_that_fails_after_staging_kg_nq_early_leaves_out_as_it_was_and_ends_the_load(tmp_path, monkeypatch):
    """kg.nq staged before the report's index (the store to be loaded anew), then the report fails: nothing in
    out/ changes, no staged file is left, the store's load is cancelled, and the next build is whole."""
    import pyoxigraph as ox
    from click.testing import CliRunner

    import kg.build
    from conftest import ROOT, run as invoke
    from kg import store as kg_store

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    corpus = tmp_path / "corpus"
    assert invoke(CliRunner(), "synth", corpus, "--articles", 4, "--seed", 3, "-C", ROOT).exit_code == 0
    out = corpus / "out"
    with monkeypatch.context() as first:  # a first build that fails: not even out/ is left
        first.setattr(kg.build, "_site", broken)
        result = invoke(CliRunner(), "build", "-C", corpus, "--no-reason")
        assert result.exit_code != 0 and "No space left on device" in result.output and not out.exists()
    assert invoke(CliRunner(), "build", "-C", corpus, "--no-reason").exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    facts = sorted((corpus / "articles").iterdir())[1] / "facts.ttl"
    text = facts.read_text(encoding="utf-8")
    subject = next(line.split()[0] for line in text.splitlines() if line.startswith("ex:"))
    facts.write_text(text + f'\n{subject} skos:editorialNote "An edit."@en .\n', encoding="utf-8")
    shutil.rmtree(corpus / ".cache" / "store")  # so that the store is loaded anew, from the staged kg.nq
    monkeypatch.setattr(kg_store, "LOAD_APART_FROM", 0)
    loads = []
    original_begin = kg_store.begin
    monkeypatch.setattr(kg_store, "begin", lambda *a, **k: loads.append(original_begin(*a, **k)) or loads[-1])
    monkeypatch.setattr(kg.build, "_site", broken)
    result = invoke(CliRunner(), "build", "-C", corpus, "--no-reason")
    assert result.exit_code != 0 and "No space left on device" in result.output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # no staged file left either
    (loading,) = loads
    with pytest.raises(RuntimeError, match="cancelled"):
        loading.wait()
    monkeypatch.undo()
    result = invoke(CliRunner(), "build", "-C", corpus, "--no-reason")
    assert result.exit_code == 0, result.output
    assert b"An edit." in (out / "kg.nq").read_bytes()
    reference = ox.Store()
    reference.bulk_load(path=str(out / "kg.nq"), format=ox.RdfFormat.N_QUADS)
    assert canonical_quads(open_store(out)) == canonical_quads(reference)


def test_the_store_loads_from_kg_nq_staged_even_when_it_is_renamed_before_the_loader_opens_it(tmp_path, monkeypatch):
    """kg.store.begin loads a hard link of its own: `write` renames the staged kg.nq into place as soon as it is
    done, which can be before the spawned loader has started; the link is gone after the load."""
    import pyoxigraph as ox

    from kg import store as kg_store

    monkeypatch.setattr(kg_store, "LOAD_APART_FROM", 0)
    out = tmp_path / "out"
    out.mkdir()
    graphs = {f"https://e.org/g{i}": str(i) for i in range(3)}
    lines = [f'<https://e.org/s{i}> <https://e.org/p> "{i}" <https://e.org/g{i % 3}> .\n' for i in range(30)]
    staged = out / ".kg.nq.staged"
    staged.write_text("".join(sorted(lines, key=lambda line: line.split()[-2])), encoding="utf-8")
    key = "a" * 64
    loading = kg_store.begin(out, staged, graphs, key)
    assert loading is not None
    os.replace(staged, out / "kg.nq")  # at once: the loader (a new Python) cannot have opened it yet
    store = ox.Store.read_only(str(kg_store.refresh(out, graphs=graphs, key=key, loading=loading)))
    reference = ox.Store()
    reference.bulk_load(path=str(out / "kg.nq"), format=ox.RdfFormat.N_QUADS)
    assert canonical_quads(store) == canonical_quads(reference) and len(reference) == 30
    assert not (tmp_path / ".cache" / "store" / kg_store.WORK_DIR / "kg.nq").exists()
