"""Output assembled from per-unit pieces (kg.export.pieces) is byte for byte what serialising the whole dataset
writes — on the real project, on a synthetic corpus, and on random datasets split at random — and kg's own
JSON-LD writer writes what rdflib's compaction did (kg.export.jsonld.by_rdflib), meaning the dataset."""

import gc
import io
import json
import pickle
import weakref
from collections import Counter
from dataclasses import replace
import shutil

import pyoxigraph as ox
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pyld import jsonld as pyld

from conftest import INPUTS, ROOT, run
from kg.export import (FORMATS, NEEDS, Piece, assemble, canonical, chunks, layout, load_all, piece, serialize,
                       stream_graphs, stream_nt, write)
from kg.export.splice import owner_masks
from kg.export.jsonld import Context, by_rdflib, dumps, node_text, sort_values
from kg.build import build
from kg.namespaces import GRAPH, PREFIXES, RDF, XSD
from test_export import _list_quads, blanks, graph_names, iris, literals

CONTEXT = json.loads((ROOT / "ontology" / "context.jsonld").read_text())
OUT = ROOT / "out"


def _unit(q: ox.Quad) -> str:
    name = str(q.graph_name)
    return name.removesuffix("/inferred>") + ">" if name.endswith("/inferred>") else name


def _split(quads, key) -> list[list[ox.Quad]]:
    groups: dict = {}
    for q in quads:
        groups.setdefault(key(q), []).append(q)
    return [groups[k] for k in sorted(groups)]


def _triples(quads) -> list[ox.Triple]:
    return sorted({ox.Triple(q.subject, q.predicate, q.object) for q in quads}, key=str)


def _assembled_is_whole(quads, groups) -> dict[str, bytes]:
    """Each format: pieces of `groups` assembled, the whole serialised, asserted equal; the bytes."""
    pieces = [piece(g, context=CONTEXT) for g in groups]
    result = {}
    for name in FORMATS:
        whole = serialize(quads, name, context=CONTEXT)
        assert assemble(pieces, name, context=CONTEXT) == whole, name
        result[name] = whole
    return result


# --- the real project ---

@pytest.fixture(scope="module")
def real(tmp_path_factory) -> tuple[ox.Quad, ...]:
    """kg build's quads for a copy of the project's inputs."""
    project = tmp_path_factory.mktemp("real")
    for name in INPUTS:
        shutil.copytree(ROOT / name, project / name)
    return build(project, site=False).quads


def test_real_project_assembled_from_unit_pieces_is_the_committed_out(real):
    written = _assembled_is_whole(real, _split(real, _unit))
    for name, f in FORMATS.items():
        assert written[name] == (OUT / f"kg{f.extension}").read_bytes(), name


def test_real_project_from_graph_pieces_and_from_subject_pieces(real):
    """Split by graph, an article's subjects are in two pieces; split by predicate, nearly every subject is
    in several: what assembling writes again, rather than takes from one piece, is still the same bytes."""
    _assembled_is_whole(real, _split(real, lambda q: str(q.graph_name)))
    _assembled_is_whole(real, _split(real, lambda q: (_unit(q), hash(q.predicate.value) % 3)))


def test_real_project_shares_registry_subjects_between_pieces(real):
    """The case pieces exist for: inferred graphs say more about registry entities."""
    pieces = {min(p.nq.keys, key=len): p for p in (piece(g, context=CONTEXT) for g in _split(real, _unit))}
    registry = pieces.pop(f"<{GRAPH}registry>")
    assert {s for p in pieces.values() for s in p.nt.keys} & set(registry.nt.keys)
    assert [name for name, p in pieces.items() if p.blank] == [f"<{GRAPH}ontology>"]


def test_real_project_jsonld_is_what_rdflib_wrote(real):
    assert serialize(real, "jsonld", context=CONTEXT).decode() == by_rdflib(_triples(canonical(real)), context=CONTEXT)


# --- a synthetic corpus ---

@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[ox.Quad, ...]:
    """A 30-article corpus from kg synth, built without reasoning (HermiT on 30 articles takes a minute;
    the real project's build has the inferred graphs)."""
    from click.testing import CliRunner

    folder = tmp_path_factory.mktemp("synth") / "corpus"
    assert run(CliRunner(), "synth", folder, "--articles", 30, "--seed", 7, "-C", ROOT).exit_code == 0
    return build(folder, reason=False, site=False).quads


def test_synthetic_corpus_assembled_from_pieces_is_the_whole(synthetic):
    _assembled_is_whole(synthetic, _split(synthetic, _unit))
    _assembled_is_whole(synthetic, _split(synthetic, lambda q: (_unit(q), hash(q.object.value) % 2)))


def test_synthetic_corpus_jsonld_is_what_rdflib_wrote(synthetic):
    assert serialize(synthetic, "jsonld", context=CONTEXT).decode() == by_rdflib(_triples(canonical(synthetic)), context=CONTEXT)


def test_pieces_pickle_and_each_format_assembles_from_its_own_parts(synthetic):
    pieces = pickle.loads(pickle.dumps([piece(g, context=CONTEXT) for g in _split(synthetic, _unit)]))
    for name in FORMATS:
        own = [p.only(name) for p in pieces]
        assert all(getattr(p, part) is None for p in own for part in FORMATS if part not in NEEDS[name])
        assert assemble(own, name, context=CONTEXT) == assemble(pieces, name, context=CONTEXT)


def test_load_all_keeps_the_n_triples_only_of_subjects_in_several_pieces(real):
    """What a first build holds while it assembles Turtle or JSON-LD: every piece's own part, and of their
    N-Triples only the registry entities that inferred graphs say more about."""
    pieces = [piece(g, context=CONTEXT) for g in _split(real, _unit)]
    for name in ("ttl", "jsonld"):
        loads = []
        loaded = load_all([lambda p=p: loads.append(p) or p.only(name) for p in pieces], name)
        assert layout(loaded, name, context=CONTEXT) == layout(pieces, name, context=CONTEXT)
        counts = Counter(s for p in pieces for s in p.nt.keys)
        for whole, lean in zip(pieces, loaded):
            if whole.blank:  # its blank nodes' blocks may be written inline in a shared subject's
                assert lean.nt == whole.nt
            else:
                assert set(lean.nt.keys) == {s for s in whole.nt.keys if counts[s] > 1}
        kept = sum(len(lean.nt.keys) for whole, lean in zip(pieces, loaded) if not whole.blank)
        assert 0 < kept < sum(len(p.nt.keys) for p in pieces if not p.blank) / 3
        assert len(loads) == len(pieces) + 1  # the registry again, for the subjects found in it first


def _streamed_is_whole(loads, name: str, whole, pieces) -> None:
    """stream_graphs (stream_nt) writes what `layout` lays out, and returns its keys, owners, merged subjects
    and block lengths; or writes nothing, when a graph is in several pieces or several pieces have blank nodes."""
    buffer = io.BytesIO()
    streamed = stream_nt(loads, buffer) if name == "nt" else stream_graphs(loads, name, buffer)
    if streamed is None:
        assert buffer.getvalue() == b""
        graphs = [g for p in pieces for g in getattr(p, name).keys]
        assert sum(1 for p in pieces if p.blank) > 1 or name != "nt" and len(set(graphs)) < len(graphs)
        return
    made, masks = streamed
    assert buffer.getvalue() == b"".join(whole.parts())
    assert (made.head, made.keys, made.owners, made.merged, made.lengths) == (
        whole.head, whole.keys, whole.owners, whole.merged, [len(b) for b in whole.blocks])
    assert masks == owner_masks(pieces, name)


def test_stream_graphs_holds_two_pieces_at_most(synthetic):
    """An article's graphs (asserted, inferred) are neighbours in the order: N-Quads and TriG are written
    holding one piece at a time (two where graphs of neighbours interleave), each loaded once per pass."""
    pieces = [piece(g, context=CONTEXT) for g in _split(synthetic, _unit)]
    for name in ("nq", "trig"):
        alive, most, loaded = set(), 0, Counter()

        def load(n):
            nonlocal most
            loaded[n] += 1
            part = getattr(pieces[n], name)
            blocks = Blocks(part.blocks)  # a list, which a weak reference can follow
            alive.add(n)
            weakref.finalize(blocks, alive.discard, n)
            most = max(most, len(alive))
            return Piece(**{name: replace(part, blocks=blocks)})

        loads = [lambda n=n: load(n) for n in range(len(pieces))]
        gc.collect()
        _streamed_is_whole(loads, name, layout(pieces, name, context=CONTEXT), pieces)
        assert most <= 2 and set(loaded.values()) == {2}


class Blocks(list):
    pass


def test_stream_nt_loads_each_piece_twice_or_three_times(real, synthetic):
    """Once for its subjects, once to write its blocks, and once more for a piece where a subject found in
    several pieces was found first (the registry, for the entities inferred graphs say more about)."""
    for quads in (real, synthetic):
        pieces = [piece(g, context=CONTEXT) for g in _split(quads, _unit)]
        loaded = Counter()
        loads = [lambda n=n: loaded.update([n]) or pieces[n].only("nt") for n in range(len(pieces))]
        _streamed_is_whole(loads, "nt", layout(pieces, "nt", context=CONTEXT), pieces)
        shared = {s for s, n in Counter(s for p in pieces for s in p.nt.keys).items() if n > 1}
        firsts = {min(n for n, p in enumerate(pieces) if s in p.nt.keys) for s in shared}
        assert loaded == Counter({n: 3 if n in firsts else 2 for n in range(len(pieces))})
        assert shared or quads is synthetic  # built without reasoning: no inferred graphs


def test_write_streams_the_assembled_bytes(synthetic, tmp_path):
    pieces = [piece(g, context=CONTEXT) for g in _split(synthetic, _unit)]
    with open(tmp_path / "kg.ttl", "wb") as stream:
        write(pieces, "ttl", stream, context=CONTEXT)
    assert (tmp_path / "kg.ttl").read_bytes() == assemble(pieces, "ttl", context=CONTEXT)
    assert len(list(chunks(pieces, "nt"))) > 1  # not one big string


# --- random datasets, split at random ---

context_predicates = st.sampled_from([
    ox.NamedNode(iri) for iri in (
        "https://example.org/kg/ontology#about",  # @type @id
        "https://example.org/kg/ontology#cameo",  # @type @id, and not a prefix
        "http://www.w3.org/2000/01/rdf-schema#label",  # @language en
        "http://www.w3.org/2004/02/skos/core#notation",  # no coercion
        "http://www.w3.org/ns/oa#start",  # @type xsd:nonNegativeInteger
        "http://purl.org/dc/terms/title",
        RDF + "type",
    )])
typed = st.builds(lambda v, dt: ox.Literal(v, datatype=ox.NamedNode(XSD + dt)),
                  st.sampled_from(["0", "7", "007", "-0", "true", "false", "1", "1e3", "x"]),
                  st.sampled_from(["integer", "boolean", "nonNegativeInteger", "double", "date"]))
objects = st.one_of(iris, blanks, literals, typed)
random_quads = st.lists(st.builds(ox.Quad, st.one_of(iris, blanks), st.one_of(iris, context_predicates),
                                  objects, graph_names), max_size=30)


@st.composite
def datasets(draw):
    items = draw(random_quads)
    graph = draw(graph_names)
    head, listed = _list_quads(draw(st.lists(st.one_of(iris, literals, blanks), max_size=3)), graph)
    owner = draw(st.one_of(iris, blanks))
    return items + listed + [ox.Quad(owner, draw(st.one_of(iris, context_predicates)), head, graph)]


@settings(max_examples=300, deadline=None)
@given(datasets(), st.data())
def test_random_pieces_assemble_to_the_whole(items, data):
    """Any split — a graph over several pieces, a quad in two, blank nodes in several, empty pieces."""
    count = data.draw(st.integers(1, 4))
    groups = [[] for _ in range(count + 1)]
    for q in items:
        for i in data.draw(st.sets(st.integers(0, count - 1), min_size=1, max_size=2)):
            groups[i].append(q)
    pieces = [piece(g, context=CONTEXT) for g in groups]
    pieces = pickle.loads(pickle.dumps(pieces))
    for name in FORMATS:
        assert assemble(pieces, name, context=CONTEXT) == serialize(items, name, context=CONTEXT), name
        whole = layout(pieces, name, context=CONTEXT)
        loaded = load_all([lambda p=p: p for p in pieces], name)
        assert layout(loaded, name, context=CONTEXT) == whole, name
        if name in ("nq", "trig", "nt"):
            _streamed_is_whole([lambda p=p: p for p in pieces], name, whole, pieces)


# JSON-LD against rdflib: data where rdflib's compaction means the dataset (module doc of kg.export.jsonld).
safe_locals = st.text(alphabet="abcXYZ019_-.é", min_size=1, max_size=6)
safe_iris = st.builds(lambda ns, local: ox.NamedNode(ns + local), st.sampled_from(list(PREFIXES.values())
                                                                                  + ["urn:isbn:"]), safe_locals)
safe_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
safe_literals = st.one_of(
    st.builds(ox.Literal, safe_texts),
    st.builds(lambda t, lang: ox.Literal(t, language=lang), safe_texts, st.sampled_from(["en", "ru", "zh-hans"])),
    st.builds(lambda v, dt: ox.Literal(v, datatype=ox.NamedNode(XSD + dt)), st.sampled_from(["007", "2023-05-24", "x"]),
              st.sampled_from(["date", "nonNegativeInteger", "string", "decimal"])),
)
ID_COERCED = {"https://example.org/kg/ontology#about", "https://example.org/kg/ontology#cameo", RDF + "type"}


def _rdflib_means_it(triples) -> bool:
    """No blank node (or literal) where rdflib writes a bare IRI string, and every blank node reachable
    from a node rdflib starts from."""
    for t in triples:
        if t.predicate.value in ID_COERCED and not isinstance(t.object, ox.NamedNode):
            return False
    objects = {t.object for t in triples}
    start = [t.subject for t in triples if isinstance(t.subject, ox.NamedNode) or t.subject not in objects]
    reached, stack = set(start), list(start)
    while stack:
        node = stack.pop()
        for t in triples:
            if t.subject == node and isinstance(t.object, ox.BlankNode) and t.object not in reached:
                reached.add(t.object)
                stack.append(t.object)
    return {t.subject for t in triples} <= reached


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds(ox.Triple, st.one_of(safe_iris, blanks), st.one_of(safe_iris, context_predicates),
                          st.one_of(safe_iris, blanks, safe_literals)), max_size=20),
       st.lists(st.one_of(safe_iris, safe_literals), max_size=3), safe_iris, st.booleans())
def test_jsonld_writer_is_rdflibs_compaction(items, list_items, owner, with_context):
    head, listed = _list_quads(list_items, ox.DefaultGraph())
    triples = items + [ox.Triple(q.subject, q.predicate, q.object) for q in listed]
    triples.append(ox.Triple(owner, ox.NamedNode("https://example.org/kg/ontology#members"), head))
    assume(_rdflib_means_it(triples))
    context = CONTEXT if with_context else None
    quads = [ox.Quad(t.subject, t.predicate, t.object) for t in triples]
    expected = by_rdflib(_triples(canonical(quads)), context=context or {})
    assert serialize(quads, "jsonld", context=context).decode() == expected


def _expanded(document: bytes) -> set[str]:
    """The graph a JSON-LD processor reads from `document`, canonical (like `_graph`)."""
    nquads = pyld.to_rdf(json.loads(document), {"format": "application/n-quads"})
    return _graph(ox.parse(nquads.encode("utf-8"), format=ox.RdfFormat.N_QUADS))


def _graph(quads) -> set[str]:
    """The triples, blank nodes labelled by RDFC-1.0: equal for isomorphic graphs, literals as written."""
    return {str(ox.Triple(q.subject, q.predicate, q.object)) for q in canonical(
        ox.Quad(q.subject, q.predicate, q.object) for q in quads)}


@settings(max_examples=200, deadline=None)
@given(datasets())
def test_jsonld_expands_to_the_dataset(items):
    """What a JSON-LD processor reads back is the graph, even where rdflib's output was not (xsd:double
    aside: JSON-LD processors rewrite doubles in their canonical form)."""
    items = [q for q in items if not (isinstance(q.object, ox.Literal) and q.object.datatype.value == XSD + "double")]
    document = serialize(items, "jsonld", context=CONTEXT)
    assert _expanded(document) == _graph(items), document.decode()


def test_jsonld_means_the_dataset_where_rdflib_did_not():
    """The cases kg.export.jsonld's doc lists, where rdflib's output lost or changed statements."""
    kg, ex = "https://example.org/kg/ontology#", "https://example.org/kg/id/"
    a, b, c, d, t, head = (ox.BlankNode(n) for n in "abcdth")
    items = [
        (ox.NamedNode(ex + "s"), ox.NamedNode(kg + "note"), ox.Literal("")),  # a falsy value beside another
        (ox.NamedNode(ex + "s"), ox.NamedNode(kg + "note"), ox.Literal("x")),
        (ox.NamedNode(ex + "s"), ox.NamedNode(kg + "count"), ox.Literal("0", datatype=ox.NamedNode(XSD + "integer"))),
        (ox.NamedNode(ex + "s"), ox.NamedNode(kg + "count"), ox.Literal("007", datatype=ox.NamedNode(XSD + "integer"))),
        (ox.NamedNode(ex + "s"), ox.NamedNode(kg + "about"), a),  # a blank node under an @id-coerced term
        (a, ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label"), ox.Literal("a", language="en")),
        (b, ox.NamedNode(kg + "next"), c), (c, ox.NamedNode(kg + "next"), b),  # only reachable in a cycle
        (ox.NamedNode(ex + "s"), ox.NamedNode(kg + "members"), head),  # a list node typed rdf:List
        (head, ox.NamedNode(RDF + "type"), ox.NamedNode(RDF + "List")),
        (head, ox.NamedNode(RDF + "first"), ox.NamedNode(ex + "x")),
        (head, ox.NamedNode(RDF + "rest"), ox.NamedNode(RDF + "nil")),
        (ox.NamedNode(ex + "s"), ox.NamedNode(kg + "label"), ox.Literal("y")),  # "label" is rdfs:label's term
        (ox.NamedNode(ex + "s"), ox.NamedNode(RDF + "type"), ox.Literal("z")),  # @type takes IRIs only
        (ox.NamedNode(ex + "s"), ox.NamedNode(RDF + "type"), t),
        (ox.NamedNode(ex + "s"), ox.NamedNode(kg + "x:y"), d),  # a vocabulary name that reads as an IRI
    ]
    quads = [ox.Quad(*item) for item in items]
    assert _expanded(serialize(quads, "jsonld", context=CONTEXT)) == _graph(quads)


def test_synthetic_jsonld_expands_to_the_dataset(synthetic):
    document = serialize(synthetic, "jsonld", context=CONTEXT)
    assert _expanded(document) == _graph(synthetic)


json_values = st.recursive(
    st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5))
@example(node={"@list": ["0", ""]})  # an @list keeps its order (found by hypothesis)
def test_node_text_is_what_json_dumps_wrote(node):
    expected = json.dumps({"@graph": [sort_values(node)]}, indent=2, sort_keys=True, ensure_ascii=False)
    assert f'{{\n  "@graph": [\n{node_text(node)}\n  ]\n}}' == expected
    assert dumps(node, 0) == json.dumps(node, indent=2, sort_keys=True, ensure_ascii=False)


# --- blank nodes, refusals ---

def test_blank_nodes_in_several_pieces_are_labelled_as_in_the_whole():
    """Two pieces whose quads share blank node _:x: its canonical label is the whole dataset's."""
    x, y = ox.BlankNode("x"), ox.BlankNode("y")
    p = ox.NamedNode("https://example.org/kg/ontology#p")
    a = [ox.Quad(ox.NamedNode("https://example.org/kg/id/a"), p, x, ox.NamedNode(GRAPH + "a")),
         ox.Quad(x, p, y, ox.NamedNode(GRAPH + "a"))]
    b = [ox.Quad(ox.NamedNode("https://example.org/kg/id/b"), p, x, ox.NamedNode(GRAPH + "b"))]
    pieces = [piece(a), piece(b)]
    for name in FORMATS:
        assert assemble(pieces, name, context=CONTEXT) == serialize(a + b, name, context=CONTEXT), name
    assert b"_:c14n" in assemble(pieces, "nt")


def test_assembling_refuses_missing_parts_and_another_context():
    quads = [ox.Quad(ox.NamedNode("https://example.org/kg/id/a"), ox.NamedNode(RDF + "type"),
                     ox.NamedNode("https://example.org/kg/ontology#State"))]
    only_ttl = Piece(ttl=piece(quads).ttl)
    with pytest.raises(ValueError, match="nt"):
        assemble([only_ttl], "ttl")
    with pytest.raises(ValueError, match="context"):
        assemble([piece(quads, context=CONTEXT)], "jsonld", context={"@context": {"ex": "https://example.org/kg/id/"}})
    with pytest.raises(ValueError, match="unknown format"):
        assemble([piece(quads)], "rdfxml")


@pytest.mark.parametrize("context, message", [
    ({"@context": {"@base": "https://example.org/"}}, "@base"),
    ({"@context": {"@language": "en"}}, "@language"),
    ({"@context": {"list": {"@id": "https://example.org/p", "@container": "@list"}}}, "@container"),
    ({"@context": {"id": "@id"}}, "keyword"),
    ({"@context": "https://schema.org/"}, "inline"),
])
def test_unsupported_contexts_are_refused_not_misread(context, message):
    with pytest.raises(ValueError, match=message):
        Context(context)
