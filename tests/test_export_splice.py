"""An output file rewritten from the previous one (kg.export.splice) is byte for byte the file assembled from
every piece, and so is the map it leaves for the next edit — over random edits, additions and removals of
articles whose subjects are shared, stop being shared and use new prefixes."""

import hashlib
import json

import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from kg.export import FORMATS, assemble, layout, piece
from kg.export.splice import MERGED, Owner, file_map, owner_masks, plan
from test_export import _list_quads, iris, literals

CONTEXT = json.loads((ROOT / "ontology" / "context.jsonld").read_text())
ID = "https://example.org/kg/id/"
REGISTRY = [ox.NamedNode(f"{ID}r{i}") for i in range(3)]
P = [ox.NamedNode(f"https://example.org/kg/ontology#{n}") for n in ("participant", "about", "label")]
GRAPH = "https://example.org/kg/graph/"


def _shared_pieces():
    """An ontology with blank nodes (as OWL restrictions are) and a registry."""
    g = ox.NamedNode(GRAPH + "ontology")
    head, listed = _list_quads([ox.NamedNode(ID + "x"), ox.Literal("y")], g)
    ontology = listed + [ox.Quad(ox.NamedNode(ID + "Class"), P[0], head, g)]
    registry = [ox.Quad(r, P[2], ox.Literal(f"R{i}"), ox.NamedNode(GRAPH + "registry")) for i, r in enumerate(REGISTRY)]
    return {"_ontology": ontology, "_registry": registry}


@st.composite
def units(draw, name: str):
    """One article's quads: its own nodes, a node another article may state too, registry entities."""
    graphs = [ox.NamedNode(GRAPH + name), ox.NamedNode(GRAPH + name + "/inferred")]
    subjects = st.one_of(st.sampled_from(REGISTRY), st.builds(lambda i: ox.NamedNode(f"{ID}{name}-{i}"), st.integers(0, 2)),
                         st.builds(lambda i: ox.NamedNode(f"{ID}common{i}"), st.integers(0, 1)))
    objects = st.one_of(iris, literals, st.sampled_from(REGISTRY),
                        st.builds(ox.BlankNode, st.just("b")).filter(lambda _: draw(st.integers(0, 19)) == 0))
    return draw(st.lists(st.builds(ox.Quad, subjects, st.one_of(st.sampled_from(P), iris), objects,
                                   st.sampled_from(graphs)), min_size=1, max_size=6))


def _version(quads) -> str:
    return hashlib.sha256("".join(sorted(map(str, quads))).encode()).hexdigest()


class Loads:
    def __init__(self):
        self.names: list[str] = []


def _owners(dataset: dict, loads: Loads) -> tuple[dict, dict]:
    pieces = {n: piece(q, context=CONTEXT) for n, q in dataset.items()}

    def loader(n):
        def load():
            loads.names.append(n)
            return pieces[n]
        return load

    return pieces, {n: Owner(_version(q), loader(n)) for n, q in dataset.items()}


def _whole(pieces: dict, format: str):
    names = list(pieces)
    made = layout(list(pieces.values()), format, context=CONTEXT)
    return b"".join(made.parts()), file_map(made, owner_masks(list(pieces.values()), format), names, [""] * len(names), format, CONTEXT)


def _spliced(made, old: bytes) -> bytes:
    return b"".join(s if isinstance(s, bytes) else old[s[0]:s[1]] for s in made.segments)


def _same_map(got, expected) -> None:
    for field in ("head", "keys", "offsets", "lengths", "owners", "names", "masks", "merged", "merged_masks"):
        assert getattr(got, field) == getattr(expected, field), field


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_spliced_files_are_the_whole_assembly(data):
    dataset = {**_shared_pieces(), **{f"u{i}": data.draw(units(f"u{i}")) for i in range(4)}}
    for format in FORMATS:
        loads = Loads()
        pieces, owners = _owners(dataset, loads)
        old, old_map = _whole(pieces, format)
        if old_map is None:  # several pieces with blank nodes: never spliced
            continue
        old_map.versions = [owners[n].version for n in old_map.names]
        edited = dict(dataset)
        for _ in range(3):  # edits one after the other, each from the last file and map
            for n in data.draw(st.sets(st.sampled_from([f"u{i}" for i in range(6)]), min_size=1, max_size=2)):
                if n in edited and data.draw(st.booleans()):
                    del edited[n]
                else:
                    edited[n] = data.draw(units(n))
            loads = Loads()
            pieces, owners = _owners(edited, loads)
            expected, expected_map = _whole(pieces, format)
            made = plan(old_map, owners, format, CONTEXT, read_old=lambda at, n: old[at:at + n])
            blank = any(isinstance(t, ox.BlankNode) for n, qs in edited.items() if n != "_ontology"
                        for q in qs for t in (q.subject, q.object))
            assert made is not None or blank  # only an article's blank nodes make it assemble the whole
            if made is None:
                old, old_map = expected, expected_map
                if old_map is None:
                    break
                old_map.versions = [owners[n].version for n in old_map.names]
                continue
            assert _spliced(made, old) == expected, format
            assert made.same == (expected == old)
            _same_map(made.map, expected_map)
            assert set(loads.names) <= set(edited) - {"_ontology"}  # the blank-node piece never needed
            old, old_map = expected, made.map


def test_an_edit_loads_only_the_edited_piece_and_copies_the_rest():
    """The usual case: an article gains a fact about itself and a registry entity it shares."""
    g = lambda n: ox.NamedNode(GRAPH + n)  # noqa: E731
    dataset = {**_shared_pieces()}
    for i in range(20):
        me = ox.NamedNode(f"{ID}u{i}-meeting")
        dataset[f"u{i}"] = [ox.Quad(me, P[2], ox.Literal(f"meeting {i}"), g(f"u{i}")),
                            ox.Quad(REGISTRY[i % 3], P[0], me, g(f"u{i}/inferred"))]
    for format in FORMATS:
        pieces, owners = _owners(dataset, Loads())
        old, old_map = _whole(pieces, format)
        old_map.versions = [owners[n].version for n in old_map.names]
        edited = {**dataset, "u7": dataset["u7"] + [ox.Quad(REGISTRY[0], P[1], ox.Literal("new"), g("u7/inferred"))]}
        loads = Loads()
        pieces, owners = _owners(edited, loads)
        made = plan(old_map, owners, format, CONTEXT, read_old=lambda at, n: old[at:at + n])
        assert loads.names == ["u7"], format
        assert _spliced(made, old) == assemble(list(pieces.values()), format, context=CONTEXT), format
        copied = sum(s[1] - s[0] for s in made.segments if not isinstance(s, bytes))
        assert copied > (len(old) - len(old_map.head)) * 0.6, format
        if format in ("nt", "ttl", "jsonld"):
            assert MERGED in made.map.owners  # registry entities stated by several articles
        unchanged = plan(made.map, owners, format, CONTEXT, read_old=lambda at, n: old[at:at + n])
        assert unchanged.same


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**40), max_size=300), st.integers(-2**20, 2**20))
def test_shifted_adds_to_every_value_as_a_loop_does(values, shift):
    """kg.export.splice.shifted: a constant added to every one of ascending 64-bit values at once (one big
    integer); refused when the smallest would become negative."""
    from array import array

    from kg.export.splice import shifted

    values = sorted(values)
    given_values = array("q", values)
    if values and values[0] + shift < 0:
        with pytest.raises(ValueError):
            shifted(given_values, shift)
        return
    assert shifted(given_values, shift).tolist() == [v + shift for v in values]
    assert given_values.tolist() == values  # not changed in place


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-2**31, 2**31 - 1), max_size=300), st.sets(st.integers(-2**31, 2**31 - 1), max_size=3),
       st.data())
def test_positions_finds_every_index_of_the_values_wanted(values, wanted, data):
    """kg.export.splice.positions: where some values sit in an 'i' array, found in its bytes (a pattern that
    straddles two values is not a match)."""
    from array import array

    from kg.export.splice import positions

    if values:
        wanted = wanted | {data.draw(st.sampled_from(values))}
    assert positions(array("i", values), wanted) == {i for i, v in enumerate(values) if v in wanted}
    assert positions(array("i", [0x01000000, 0x00000001]), {0x00000100}) == set()  # straddling bytes


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",))),
                unique=True, max_size=50))
def test_keys_dumped_and_memory_mapped_are_the_keys(tmp_path_factory, keys):
    """kg.export.splice.Keys.dump / Keys.load (memory-mapped): the same keys, equal to the ones dumped, and
    they pickle back to plain bytes and arrays."""
    import pickle

    from kg.export.splice import Keys

    made = Keys.of(sorted(keys))
    path = tmp_path_factory.mktemp("keys") / "keys"
    path.write_bytes(made.dump())
    loaded = Keys.load(path)
    assert list(loaded) == sorted(keys) and len(loaded) == len(keys)
    assert loaded == made and made == loaded
    again = pickle.loads(pickle.dumps(loaded))
    assert again == made and isinstance(again.text, bytes)
    path.write_bytes(made.dump()[:7])  # truncated: not read as keys
    with pytest.raises(ValueError):
        Keys.load(path)


def test_merged_subjects_pickle_with_their_pairs_unread_until_asked_for():
    """kg.export.splice.Merged: pickled and loaded back it equals what it held, tells which subjects an owner
    gives pairs to without reading any pairs, and reads only the subjects asked for; a copy is changed apart
    from the original, and the same pairs in another order are equal."""
    import pickle

    from kg.export.splice import Merged

    found = {f"<s{i}>": {f"a{j}": ((f"<p{j}>", f'"{i}-{j}"'),) for j in range(i % 4 + 2)} for i in range(30)}
    merged = pickle.loads(pickle.dumps(Merged(found)))
    assert len(merged._packed) == 30 and not merged._found  # nothing read yet
    assert sorted(merged.having({"a4"})) == sorted(s for s, f in found.items() if "a4" in f)
    assert not merged._found  # `having` read no pairs
    assert merged["<s7>"] == found["<s7>"] and list(merged._found) == ["<s7>"]
    assert dict(merged.items()) == found and merged == Merged(found) and merged == found
    copy = merged.copy()
    copy["<s1>"] = {"a9": (("<p>", "<o>"),)}
    del copy["<s2>"]
    assert merged == Merged(found) and copy != merged
    assert sorted(copy.having({"a9"})) == ["<s1>"] and "<s2>" not in copy and len(copy) == 29
    reordered = Merged({s: dict(reversed(list(f.items()))) for s, f in found.items()})
    assert pickle.loads(pickle.dumps(reordered)) == merged
    assert pickle.loads(pickle.dumps(copy)) == copy
