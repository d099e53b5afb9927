"""kg.units.Journal: a large cache value kept as a base and the changes since, read back as the value written,
and never as a base without its changes."""

import os
import pickle
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from kg.units import Journal


@dataclass(frozen=True)
class Value:
    key: str
    pages: dict
    keys: dict


def _journal(tmp_path):
    return Journal(tmp_path / "value.pickle", tmp_path / "changes" / "value.pickle")


def _identity(path):
    stat = os.stat(path)
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def test_a_small_change_writes_only_the_changes_and_reads_back_the_value(tmp_path):
    big = Value("k", {f"iri{i}": f"\na{i}\n" for i in range(5000)}, {f"iri{i}": f"{i:064x}" for i in range(5000)})
    journal = _journal(tmp_path)
    assert journal.read("k") is None  # nothing yet
    journal.write("k", big)
    base = _identity(tmp_path / "value.pickle")

    reader = _journal(tmp_path)
    value = reader.read("k")
    assert value == big
    edited = Value("k", {**{k: v for k, v in value.pages.items() if k != "iri7"}, "new": "\nb\n"},
                   {**value.keys, "iri3": "changed"})
    reader.write("k", edited)
    assert _identity(tmp_path / "value.pickle") == base  # the base is left alone
    assert os.path.getsize(tmp_path / "changes" / "value.pickle") < 1000

    third = _journal(tmp_path)
    assert third.read("k") == edited
    assert "iri7" not in third.read("k").pages
    assert third.read("other key") is None


def test_the_base_is_written_anew_once_the_changes_grow_large(tmp_path):
    journal = _journal(tmp_path)
    journal.write("k", {f"{i}": i for i in range(1000)})
    base = _identity(tmp_path / "value.pickle")
    journal = _journal(tmp_path)
    value = journal.read("k")
    journal.write("k", {**value, **{f"{i}": -i for i in range(400)}})  # changes beyond an eighth of the base
    assert _identity(tmp_path / "value.pickle") != base
    assert _journal(tmp_path).read("k") == {**value, **{f"{i}": -i for i in range(400)}}


def test_a_base_is_never_read_without_its_changes(tmp_path):
    """A lost or stale changes file makes `read` return None (the caller recomputes): the base alone is
    an older value."""
    journal = _journal(tmp_path)
    journal.write("k", {f"{i}": i for i in range(1000)})
    journal = _journal(tmp_path)
    journal.write("k", {**journal.read("k"), "0": "new"})
    changes = tmp_path / "changes" / "value.pickle"
    kept = changes.read_bytes()

    changes.unlink()
    assert _journal(tmp_path).read("k") is None

    changes.write_bytes(kept[:-3])  # truncated
    assert _journal(tmp_path).read("k") is None

    changes.write_bytes(pickle.dumps(("k", {"not": "changes"})))  # something else under the key
    assert _journal(tmp_path).read("k") is None

    # changes of another base (one written anew since): their token is not the base's
    other = tmp_path / "other"
    other.mkdir()
    Journal(other / "value.pickle", other / "changes.pickle").write("k", {"0": 0})
    changes.write_bytes(kept)
    (tmp_path / "value.pickle").write_bytes((other / "value.pickle").read_bytes())
    assert _journal(tmp_path).read("k") is None


def test_a_value_written_by_an_older_kg_reads_as_missing(tmp_path):
    with open(tmp_path / "value.pickle", "wb") as stream:
        pickle.dump(("k", {"a": 1}), stream)  # (key, value), as Cache.put writes
    assert _journal(tmp_path).read("k") is None


_dicts = st.dictionaries(st.text(max_size=3), st.one_of(st.integers(), st.text(max_size=3)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(_dicts, min_size=1, max_size=6))
def test_any_sequence_of_values_reads_back_as_the_last_one_written(tmp_path_factory, values):
    folder = tmp_path_factory.mktemp("journal")
    for value in values:
        journal = _journal(folder)
        journal.read("k")
        journal.write("k", value)
        assert _journal(folder).read("k") == value


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=2), _dicts, _dicts), min_size=1, max_size=5))
def test_any_sequence_of_dataclass_values_reads_back_as_the_last_one_written(tmp_path_factory, values):
    folder = tmp_path_factory.mktemp("journal")
    for key, pages, keys in values:
        journal = _journal(folder)
        journal.read("k")
        journal.write("k", Value(key, pages, keys))
        assert _journal(folder).read("k") == Value(key, pages, keys)
