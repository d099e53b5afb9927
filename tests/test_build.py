"""`kg build` end to end on the real article: golden out/, determinism, atomic writes, independent parsers."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from rdflib.compare import isomorphic

from conftest import ROOT, SLUG, run

OUT = ROOT / "out"
FILES = ("kg.ttl", "kg.jsonld", "kg.nt", "kg.nq", "kg.trig")


def _snapshot(folder: Path) -> dict:
    """Every file below `folder`, by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_committed_out_is_what_build_writes(runner):
    result = run(runner, "build", "-C", ROOT, "--check")
    assert result.exit_code == 0, result.output
    assert result.output == f"out/ is up to date ({len(_snapshot(OUT))} files)\n"


def test_check_names_each_stale_file(runner, project):
    shutil.copytree(OUT, project / "out")
    (project / "out" / "kg.nt").write_text("stale\n")
    result = run(runner, "build", "-C", project, "--check")
    assert result.exit_code == 1
    assert result.stderr == "out/kg.nt: error: differs from a fresh build; run `kg build`\n"
    assert (project / "out" / "kg.nt").read_text() == "stale\n"


def _build_in_subprocess(project: Path, seed: str) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    subprocess.run([sys.executable, "-m", "kg", "build", "-C", str(project)], env=env, check=True, capture_output=True)
    return _snapshot(project / "out")


def test_same_bytes_whatever_the_hash_seed(tmp_path):
    outputs = []
    for seed in ("0", "4242"):
        copy = tmp_path / seed
        for name in ("ontology", "shapes", "registry", "articles"):
            shutil.copytree(ROOT / name, copy / name)
        outputs.append(_build_in_subprocess(copy, seed))
    assert outputs[0] == outputs[1]
    assert outputs[0] == _snapshot(OUT)


def test_failed_build_changes_nothing_in_out(runner, project, facts):
    shutil.copytree(OUT, project / "out")
    before = _snapshot(project / "out")
    facts.write_text(facts.read_text() + '\nex:m a kg:Meeting ; kgc:evidence "not in the article at all" .\n')
    result = run(runner, "build", "-C", project)
    assert result.exit_code == 2
    assert _snapshot(project / "out") == before


def test_non_conforming_build_changes_nothing_in_out(runner, project, facts):
    shutil.copytree(OUT, project / "out")
    before = _snapshot(project / "out")
    text = facts.read_text()
    assert "kg:startDate" in text
    facts.write_text("\n".join(l for l in text.splitlines() if "kg:startDate" not in l or ";" not in l) + "\n")
    result = run(runner, "build", "-C", project)
    assert result.exit_code == 1
    assert "does not conform" in result.stderr
    assert _snapshot(project / "out") == before


def test_build_writes_only_changed_files_and_leaves_no_temp_files(runner, project):
    first = run(runner, "build", "-C", project)
    assert first.exit_code == 0, first.output
    assert f"{len(_snapshot(OUT))} file(s) changed" in first.output
    second = run(runner, "build", "-C", project)
    assert "0 file(s) changed" in second.output
    assert _snapshot(project / "out") == _snapshot(OUT)
    assert not [p for p in (project / "out").rglob("*") if p.name.endswith(".tmp")]


def test_written_files_get_the_permissions_of_a_new_file(tmp_path):
    """kg.build.write stages each file itself (kg.build._stage): 0o666 less the umask, as `open` gives."""
    import os

    from kg.build import write

    mask = os.umask(0o027)
    try:
        write(tmp_path / "out", {"kg.ttl": b"x", "report/entities/a.html": b"y"})
    finally:
        os.umask(mask)
    for name in ("kg.ttl", "report/entities/a.html"):
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["a.html", "kg.ttl"]


def test_a_page_the_build_no_longer_writes_is_flagged_and_removed(runner, project):
    assert run(runner, "build", "-C", project).exit_code == 0
    orphan = project / "out" / "report" / "entities" / "renamed-entity.html"
    orphan.write_text("<!doctype html>")
    check = run(runner, "build", "-C", project, "--check")
    assert check.exit_code == 1
    assert check.stderr == "out/report/entities/renamed-entity.html: error: not written by a fresh build; run `kg build`\n"
    assert run(runner, "build", "-C", project).exit_code == 0
    assert not orphan.exists()


def _rdflib(name, format):
    graph = rdflib.Dataset() if format in ("nquads", "trig") else rdflib.Graph()
    graph.parse(OUT / name, format=format)
    return graph


def _oxigraph_graph(name, format) -> rdflib.Graph:
    from kg.rdf import to_rdflib

    quads = ox.parse(path=str(OUT / name), format=format)
    return to_rdflib(ox.Triple(q.subject, q.predicate, q.object) for q in quads)


@pytest.mark.parametrize(
    "name, rdflib_format, ox_format",
    [("kg.ttl", "turtle", ox.RdfFormat.TURTLE), ("kg.nt", "nt", ox.RdfFormat.N_TRIPLES)],
)
def test_two_parsers_read_the_same_graph(name, rdflib_format, ox_format):
    assert isomorphic(_rdflib(name, rdflib_format), _oxigraph_graph(name, ox_format))


def test_turtle_ntriples_and_union_of_trig_agree():
    ttl = _rdflib("kg.ttl", "turtle")
    assert isomorphic(ttl, _rdflib("kg.nt", "nt"))
    assert isomorphic(ttl, _oxigraph_graph("kg.trig", ox.RdfFormat.TRIG))
    assert isomorphic(ttl, _oxigraph_graph("kg.nq", ox.RdfFormat.N_QUADS))


def test_trig_and_nquads_hold_the_same_named_graphs():
    from kg.rdf import to_rdflib

    def graphs(name, format):
        result = {}
        for q in ox.parse(path=str(OUT / name), format=format):
            result.setdefault(str(q.graph_name), []).append(ox.Triple(q.subject, q.predicate, q.object))
        return {name: to_rdflib(triples) for name, triples in result.items()}

    trig, nq = graphs("kg.trig", ox.RdfFormat.TRIG), graphs("kg.nq", ox.RdfFormat.N_QUADS)
    assert set(trig) == set(nq)
    assert all(isomorphic(trig[name], nq[name]) for name in trig)
    base = "<https://example.org/kg/graph/"
    assert {base + "registry>", base + f"{SLUG}>", base + "ontology>"} <= set(trig)
    assert "<https://example.org/kg/graph/registry/inferred>" in trig
    assert f"<https://example.org/kg/graph/{SLUG}/inferred>" in trig


def test_jsonld_expanded_by_pyld_is_the_turtle_graph():
    from pyld import jsonld

    document = json.loads((OUT / "kg.jsonld").read_text())
    nquads = jsonld.to_rdf(document, {"format": "application/n-quads"})
    graph = rdflib.Graph().parse(data=nquads, format="nt")
    assert isomorphic(graph, _rdflib("kg.ttl", "turtle"))


def test_jsonld_uses_short_keys_and_only_its_own_context():
    document = json.loads((OUT / "kg.jsonld").read_text())
    context = json.loads((ROOT / "ontology" / "context.jsonld").read_text())["@context"]
    assert document["@context"] == context
    keys = {k for node in document["@graph"] for k in node}
    assert not [k for k in keys if "://" in k], "a property has no short key in ontology/context.jsonld"


def test_every_quote_is_the_article_at_its_offsets():
    text = (ROOT / "articles" / SLUG / "article.txt").read_text(encoding="utf-8")
    store = ox.Store()
    store.load(path=str(OUT / "kg.nq"), format=ox.RdfFormat.N_QUADS)
    rows = list(store.query(
        """PREFIX oa: <http://www.w3.org/ns/oa#>
        SELECT ?exact ?start ?end WHERE {
          ?span oa:hasSelector ?q, ?p . ?q oa:exact ?exact . ?p oa:start ?start ; oa:end ?end }""",
        use_default_graph_as_union=True,
    ))
    assert len(rows) > 50
    for row in rows:
        assert text[int(row["start"].value): int(row["end"].value)] == row["exact"].value


def test_dates_reach_the_output_as_written():
    """HermiT cannot take xsd:date / xsd:gYearMonth; they bypass it and reach out/ untouched."""
    facts = (ROOT / "articles" / SLUG / "facts.ttl").read_text(encoding="utf-8")
    written = {q.object for q in ox.parse(input=facts.encode(), format=ox.RdfFormat.TURTLE)
               if isinstance(q.object, ox.Literal) and q.object.datatype.value.endswith(("#date", "#gYearMonth"))}
    assert any(d.datatype.value.endswith("#date") for d in written)
    assert any(d.datatype.value.endswith("#gYearMonth") for d in written)
    nt = (OUT / "kg.nt").read_text(encoding="utf-8")
    for literal in written:
        assert str(literal) in nt


def test_build_never_touches_the_network(runner, project, monkeypatch):
    ontology = project / "ontology" / "kg.ttl"
    ontology.write_text(ontology.read_text() + "\n<https://example.org/kg/ontology> <http://www.w3.org/2002/07/owl#imports> <http://www.w3.org/ns/prov-o> .\n")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    result = run(runner, "build", "-C", project)
    assert result.exit_code == 0, result.output


def test_remote_jsonld_context_is_refused(runner, project):
    (project / "ontology" / "context.jsonld").write_text('{"@context": "https://schema.org/"}\n')
    result = run(runner, "build", "-C", project)
    assert result.exit_code == 2
    assert result.stderr == "ontology/context.jsonld: error: remote JSON-LD contexts are never fetched; inline the @context\n"


@pytest.mark.parametrize("format_, name", [("ttl", "kg.ttl"), ("jsonld", "kg.jsonld"), ("nt", "kg.nt"), ("nq", "kg.nq"), ("trig", "kg.trig")])
def test_export_writes_one_format_to_stdout(runner, format_, name):
    result = run(runner, "export", "-C", ROOT, "--format", format_)
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == (OUT / name).read_bytes()


def test_export_to_a_file(runner, tmp_path):
    target = tmp_path / "graph.trig"
    result = run(runner, "export", "-C", ROOT, "--format", "trig", "-o", target)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert target.read_bytes() == (OUT / "kg.trig").read_bytes()


def test_export_of_an_unknown_format_is_a_usage_error(runner):
    result = run(runner, "export", "-C", ROOT, "--format", "rdfxml")
    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.stderr
