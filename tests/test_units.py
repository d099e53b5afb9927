"""The unit cache (kg.units): unchanged articles are reused, and a cached build is byte-identical to a
clean one — after no change, after editing one article, after changing the ontology, and after removing an
article."""

import contextlib
import shutil
import threading
import time
from pathlib import Path

import pyoxigraph as ox
import pytest

from conftest import ROOT, run
from kg.build import build
from kg.units import CACHE_DIR


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from click.testing import CliRunner

    folder = tmp_path_factory.mktemp("units") / "corpus"
    result = run(CliRunner(), "synth", folder, "--articles", 6, "--seed", 5, "-C", ROOT)
    assert result.exit_code == 0, result.output
    return folder


def _clean(folder: Path):
    return build(folder, cache=False, site=False)



def test_second_build_reuses_every_article_and_writes_the_same_bytes(corpus):
    first = build(corpus, site=False)
    second = build(corpus, site=False)
    assert second.reused == tuple(u.slug for u in first.units)
    assert second.files == first.files == _clean(corpus).files
    assert not any(name.startswith("report/") for name in first.files)  # site=False: no report


def test_editing_one_article_redoes_only_that_one(corpus, tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(corpus, folder)
    before = build(folder, site=False)
    slug = before.units[2].slug
    facts = folder / "articles" / slug / "facts.ttl"
    text = facts.read_text(encoding="utf-8")
    first_fact = text.index("\nex:")
    edited = text[:first_fact] + text[first_fact:].replace(" .\n", ' ;\n    skos:editorialNote "checked" .\n', 1)
    facts.write_text(edited, encoding="utf-8")
    after = build(folder, site=False)
    assert set(after.reused) == {u.slug for u in before.units} - {slug}
    assert after.files != before.files
    assert after.files == _clean(folder).files


def test_changing_the_ontology_invalidates_every_article(corpus, tmp_path):
    folder = tmp_path / "ontology"
    shutil.copytree(corpus, folder)
    build(folder, site=False)
    ontology = folder / "ontology" / "kg.ttl"
    ontology.write_text(ontology.read_text(encoding="utf-8").replace('"kg ontology"@en', '"kg ontology, changed"@en', 1),
                        encoding="utf-8")
    after = build(folder, site=False)
    assert after.reused == ()
    assert after.files == _clean(folder).files
    assert b"kg ontology, changed" in after.files["kg.ttl"].read()


def test_removed_article_leaves_the_output_and_the_cache(corpus, tmp_path):
    folder = tmp_path / "removed"
    shutil.copytree(corpus, folder)
    before = build(folder, site=False)
    gone = before.units[0].slug
    shutil.rmtree(folder / "articles" / gone)
    after = build(folder, site=False)
    assert gone not in {u.slug for u in after.units}
    assert not (folder / CACHE_DIR / f"{gone}.pickle").exists()
    assert after.files == _clean(folder).files
    assert gone.encode() not in after.files["kg.nq"].read()


def test_a_damaged_cache_entry_is_recomputed(corpus, tmp_path):
    folder = tmp_path / "damaged"
    shutil.copytree(corpus, folder)
    first = build(folder, site=False)
    entry = folder / CACHE_DIR / f"{first.units[1].slug}.pickle"
    entry.write_bytes(entry.read_bytes()[:20])
    second = build(folder, site=False)
    assert first.units[1].slug not in second.reused
    assert second.files == first.files


def test_a_lost_report_part_is_rendered_again(corpus, tmp_path):
    """An article's report page and its piece of the shared pages are kept apart from the unit (which every
    command reads), with its shares of the output formats, in one file; when that is gone, or spoilt, the build
    renders them again, to the same bytes."""
    folder = tmp_path / "lost"
    shutil.copytree(corpus, folder)
    first = build(folder)
    clean = build(folder, cache=False).files
    slug = first.units[2].slug
    lost = folder / CACHE_DIR / "parts" / f"{slug}.pickle"
    assert lost.is_file() and [p.name for p in lost.parent.iterdir() if p.is_dir()] == []
    lost.write_bytes(lost.read_bytes()[:-100])  # the last part cut short
    assert build(folder).files == clean
    lost.unlink()
    second = build(folder)
    assert slug in second.reused
    assert second.files == clean


def test_each_part_of_a_unit_is_read_on_its_own(tmp_path):
    """kg.units.Cache keeps a unit's parts in one file: each reads back under its key (or whatever its key, as
    the last version), not under another key, and a part never written, like a missing file, reads as None."""
    from kg.units import Cache

    cache = Cache(tmp_path)
    parts = {"nq": b"<s> <p> <o> <g> .\n" * 1000, "page": b"<html/>", "report": {"a": (1, 2)}, "empty": b""}
    cache.put_parts("unit", "k1", parts)
    assert {part: cache.get_part("unit", part, "k1") for part in parts} == parts
    assert cache.get_part("unit", "nq", "k2") is None
    assert cache.last_part("unit", "report") == ("k1", {"a": (1, 2)})
    assert cache.get_part("unit", "ttl", "k1") is None and cache.get_part("other", "nq", "k1") is None
    cache.put_parts("unit", "k2", {"nq": b"new"})
    assert cache.get_part("unit", "nq", "k2") == b"new" and cache.get_part("unit", "page", "k2") is None
    # pruned: the parts of a unit no longer there, and an older kg's folders of a file per part
    cache.put_parts("gone", "k1", parts)
    (cache.dir / "parts" / "nq").mkdir()
    (cache.dir / "parts" / "nq" / "unit.pickle").write_bytes(b"older")
    cache.prune({"unit"})
    assert sorted(p.name for p in (cache.dir / "parts").iterdir()) == ["unit.pickle"]


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_kg_build_leaves_unchanged_files_alone_and_rewrites_edited_ones(corpus, tmp_path):
    """`kg build` skips a file whose key and signature match what it last wrote (kg.build.write): after an
    edit, out/ still equals a clean build's, other articles' pages are not touched, and a file edited by
    hand in out/ (same key, new signature) is written again."""
    from click.testing import CliRunner

    folder = tmp_path / "out-manifest"
    shutil.copytree(corpus, folder)
    runner = CliRunner()
    assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
    assert (folder / ".cache" / "out.pickle").is_file()
    slugs = sorted(p.name for p in (folder / "articles").iterdir())
    other = folder / "out" / "report" / "articles" / f"{slugs[0]}.html"
    stamp = other.stat().st_mtime_ns

    facts = folder / "articles" / slugs[3] / "facts.ttl"
    text = facts.read_text(encoding="utf-8")
    first_fact = text.index("\nex:")
    facts.write_text(text[:first_fact] + text[first_fact:].replace(" .\n", ' ;\n    skos:editorialNote "seen" .\n', 1),
                     encoding="utf-8")
    result = run(runner, "build", "-C", folder, "--no-reason")
    assert result.exit_code == 0, result.output
    assert other.stat().st_mtime_ns == stamp

    clean = tmp_path / "clean"
    shutil.copytree(folder, clean, ignore=shutil.ignore_patterns("out", ".cache"))
    assert run(runner, "build", "-C", clean, "--no-reason", "--no-cache").exit_code == 0
    assert _tree(folder / "out") == _tree(clean / "out")

    page = folder / "out" / "report" / "articles" / f"{slugs[1]}.html"
    original = page.read_bytes()
    page.write_bytes(original + b"<!-- edited by hand -->")
    entity = next((folder / "out" / "report" / "entities").iterdir())
    entity_bytes = entity.read_bytes()
    entity.write_bytes(b"")
    result = run(runner, "build", "-C", folder, "--no-reason")
    assert result.exit_code == 0, result.output
    assert "2 file(s) changed" in result.output
    assert page.read_bytes() == original and entity.read_bytes() == entity_bytes


class _Log:
    """A list of strings that processes forked from this one append to as well (a file, a line each)."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, item: str) -> None:
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(item + "\n")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def items(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []

    def __iter__(self):
        return iter(self.items())

    def count(self, item: str) -> int:
        return self.items().count(item)

    def __len__(self) -> int:
        return len(self.items())

    def __eq__(self, other) -> bool:
        return self.items() == other


def test_after_an_edit_the_rdf_outputs_are_spliced_from_the_previous_ones(corpus, tmp_path, monkeypatch):
    """kg.export.splice: `kg build` after an edit loads only the edited article's pieces of the RDF outputs
    and copies the rest from the files it wrote last time; out/ equals a clean build's. An output changed by
    hand in out/ is assembled whole again."""
    from click.testing import CliRunner

    from kg.export import FORMAT_NAMES
    from kg.units import Cache

    folder = tmp_path / "spliced"
    shutil.copytree(corpus, folder)
    runner = CliRunner()
    assert run(runner, "build", "-C", folder).exit_code == 0
    slugs = sorted(p.name for p in (folder / "articles").iterdir())
    _append_facts(folder, slugs[2], f'\n{_first_subject(folder, slugs[2])} skos:editorialNote "spliced"@en .\n')
    loaded = _Log(tmp_path / "loaded.log")  # (after an edit, the data files are spliced in a second process)
    original = Cache.get_part
    monkeypatch.setattr(Cache, "get_part", lambda self, name, part, key:
                        (part in FORMAT_NAMES and loaded.append(name)) or original(self, name, part, key))
    result = run(runner, "build", "-C", folder)
    assert result.exit_code == 0, result.output
    assert set(loaded) == {slugs[2]}
    clean = tmp_path / "clean"
    shutil.copytree(folder, clean, ignore=shutil.ignore_patterns("out", ".cache"))
    assert run(runner, "build", "-C", clean, "--no-cache").exit_code == 0
    assert _tree(folder / "out") == _tree(clean / "out")

    nt = folder / "out" / "kg.nt"
    nt.write_bytes(nt.read_bytes().replace(b" .\n", b" .\n\n", 1))
    _append_facts(folder, slugs[2], f'\n{_first_subject(folder, slugs[2])} skos:editorialNote "again"@en .\n')
    loaded.clear()
    assert run(runner, "build", "-C", folder).exit_code == 0
    assert loaded.count(slugs[0]) == 2  # kg.nt only, assembled whole: streamed in two passes (stream_nt)
    shutil.copytree(folder / "articles", clean / "articles", dirs_exist_ok=True)
    assert run(runner, "build", "-C", clean, "--no-cache").exit_code == 0
    assert _tree(folder / "out") == _tree(clean / "out")

    for project in (folder, clean):  # an article removed: its blocks go, nothing is loaded
        shutil.rmtree(project / "articles" / slugs[4])
    loaded.clear()
    assert run(runner, "build", "-C", folder).exit_code == 0
    assert loaded == []
    assert run(runner, "build", "-C", clean, "--no-cache").exit_code == 0
    assert _tree(folder / "out") == _tree(clean / "out")


def test_a_map_s_large_parts_are_written_again_only_when_they_change(corpus, tmp_path):
    """The keys and merged subjects of each output's map (kg.build._Assembled) live in files of their own: an edit
    that adds no subject (an editorial note) reuses them, one that adds a subject writes new ones (and the old
    ones go); a part's file lost means the output is assembled whole. out/ equals a clean build's each time."""
    from click.testing import CliRunner

    folder = tmp_path / "parts"
    shutil.copytree(corpus, folder)
    runner = CliRunner()
    maps = folder / ".cache" / "out"

    def parts() -> dict[str, int]:  # part file's name -> its inode
        return {p.name: p.stat().st_ino for p in sorted(maps.glob("kg.*.pickle.*"))}

    def clean_equal() -> bool:
        clean = tmp_path / f"clean-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(folder, clean, ignore=shutil.ignore_patterns("out", ".cache"))
        assert run(runner, "build", "-C", clean, "--no-cache").exit_code == 0
        return _tree(folder / "out") == _tree(clean / "out")

    assert run(runner, "build", "-C", folder).exit_code == 0
    first = parts()
    assert {name.split(".pickle.")[1].split(".")[0] for name in first} == {"keys", "merged"}
    assert len(first) == 2 * 5  # two parts of each of the five outputs' maps
    slugs = sorted(p.name for p in (folder / "articles").iterdir())
    _append_facts(folder, slugs[2], f'\n{_first_subject(folder, slugs[2])} skos:editorialNote "same parts"@en .\n')
    assert run(runner, "build", "-C", folder).exit_code == 0
    assert parts() == first and clean_equal()  # the same files, not even rewritten

    _append_facts(folder, slugs[2], f'\nex:{slugs[2]}-new-node rdfs:label "A new subject"@en .\n')
    assert run(runner, "build", "-C", folder).exit_code == 0
    after = parts()
    assert len(after) == 10 and after != first
    def kept(format: str) -> bool:
        return any(name.startswith(f"kg.{format}.pickle.keys.") for name in set(after) & set(first))

    # new keys where blocks are subjects (the old files removed), the same where they are graphs
    assert [kept(f) for f in ("nt", "ttl", "jsonld", "nq", "trig")] == [False, False, False, True, True]
    assert clean_equal()

    lost = next(name for name in after if name.startswith("kg.nt.pickle.keys."))
    (maps / lost).unlink()
    _append_facts(folder, slugs[2], f'\n{_first_subject(folder, slugs[2])} skos:editorialNote "lost"@en .\n')
    assert run(runner, "build", "-C", folder).exit_code == 0
    assert clean_equal() and len(parts()) == 10


def test_a_few_pages_are_synced_one_by_one_and_many_with_one_sync(corpus, tmp_path, monkeypatch):
    """kg.build.write syncs every staged file before any rename. After an edit (a few pages, the data files
    synced by the process that staged them) it syncs each page as written and never the whole system, whose other dirty data
    (a query store just loaded) it would wait for; with more pages than _SYNC_EACH, one os.sync."""
    import os

    from click.testing import CliRunner

    import kg.build

    folder = tmp_path / "synced"
    shutil.copytree(corpus, folder)
    runner = CliRunner()
    syncs, fsyncs = [], _Log(tmp_path / "fsyncs.log")  # (the data files may be synced in a second process)
    original_fsync = os.fsync
    monkeypatch.setattr(kg.build.os, "sync", lambda: syncs.append(1))
    monkeypatch.setattr(kg.build.os, "fsync", lambda fd: fsyncs.append(str(fd)) or original_fsync(fd))
    monkeypatch.setattr(kg.build, "_SYNC_EACH", 2)
    assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
    assert syncs == [1] and len(fsyncs) >= 2  # a first build: many pages
    monkeypatch.setattr(kg.build, "_SYNC_EACH", 256)
    slug = sorted(p.name for p in (folder / "articles").iterdir())[2]
    _append_facts(folder, slug, f'\n{_first_subject(folder, slug)} skos:editorialNote "synced"@en .\n')
    syncs.clear()
    fsyncs.clear()
    result = run(runner, "build", "-C", folder, "--no-reason")
    assert result.exit_code == 0, result.output
    assert syncs == [] and len(fsyncs) >= 5  # the five data files (beside) and the pages the edit changed
    assert b'"synced"@en' in (folder / "out" / "kg.nq").read_bytes()


def _trash_after_an_edit(folder: Path, monkeypatch, note: str) -> list[set[int]]:
    """An editorial note added to the second article and `kg build`: the inodes in the trash each time the build
    frees it (kg.build._free_beside), once the processes that free them have ended."""
    import os

    from click.testing import CliRunner

    import kg.build

    seen = []
    original = kg.build._free_beside

    def inodes(trash: Path) -> set[int]:  # (one that an `rm` started by an earlier call removes meanwhile is gone)
        found = set()
        for path in trash.iterdir():
            with contextlib.suppress(FileNotFoundError):
                found.add(path.stat().st_ino)
        return found

    monkeypatch.setattr(kg.build, "_free_beside", lambda t: seen.append(inodes(t)) or original(t))
    slug = sorted(p.name for p in (folder / "articles").iterdir())[1]
    _append_facts(folder, slug, f'\n{_first_subject(folder, slug)} skos:editorialNote "{note}"@en .\n')
    result = run(CliRunner(), "build", "-C", folder)
    assert result.exit_code == 0, result.output
    for pid in kg.build._FREEING:
        os.waitpid(pid, 0)
    return seen


def test_replaced_data_files_are_freed_by_a_process_of_their_own(corpus, tmp_path, monkeypatch):
    """kg.build.write: a data file that an edit replaces keeps a second name in .cache/trash, so the rename
    does not free its blocks; an `rm` the build does not wait for removes it, and whatever a build that
    stopped midway left there."""
    from click.testing import CliRunner

    folder = tmp_path / "freed"
    shutil.copytree(corpus, folder)
    runner = CliRunner()
    assert run(runner, "build", "-C", folder).exit_code == 0
    trash = folder / ".cache" / "trash"
    trash.mkdir(exist_ok=True)
    (trash / "left-behind").write_bytes(b"x")
    before = {(folder / "out" / f"kg.{e}").stat().st_ino for e in ("nq", "nt", "ttl", "trig", "jsonld")}
    seen = _trash_after_an_edit(folder, monkeypatch, "freed")
    assert before < seen[0] and len(seen[0]) == len(before) + 1  # and the one left behind
    assert all(later == set() for later in seen[1:])  # (kg build frees the trash again as it ends)
    assert list(trash.iterdir()) == []
    assert b'"freed"@en' in (folder / "out" / "kg.nq").read_bytes()


def test_large_cache_entries_a_build_replaces_are_freed_by_a_process_of_their_own(corpus, tmp_path, monkeypatch):
    """kg build gives a large cache entry it replaces (kg.units.LARGE: the index page's state, 3 MB at 10,000
    articles, or the base of a Journal written anew) a second name in the trash, so that the rename does not free it in its time; the trash
    is emptied by a process of its own as the build ends. `kg validate` keeps no trash."""
    from click.testing import CliRunner

    import kg.units

    folder = tmp_path / "entries"
    shutil.copytree(corpus, folder)
    runner = CliRunner()
    assert run(runner, "build", "-C", folder).exit_code == 0
    monkeypatch.setattr(kg.units, "LARGE", 0)
    entry = folder / CACHE_DIR / "_index.pickle"
    old = entry.stat().st_ino
    seen = _trash_after_an_edit(folder, monkeypatch, "entries")
    slug = sorted(p.name for p in (folder / "articles").iterdir())[1]
    assert entry.stat().st_ino != old and old in set().union(*seen)
    assert kg.units.TRASH is None
    trash = folder / ".cache" / "trash"
    assert list(trash.iterdir()) == []
    _append_facts(folder, slug, f'\n{_first_subject(folder, slug)} skos:editorialNote "validated"@en .\n')
    assert run(runner, "validate", "-C", folder).exit_code == 0
    assert list(trash.iterdir()) == []


def _index_page(function) -> bool:
    """Whether kg.build.beside is given the index page's work (not kg.build.Ahead's)."""
    return getattr(function, "__name__", None) == "whole"


def test_the_index_page_made_in_a_second_process_is_the_one_made_here(corpus, monkeypatch):
    """Large corpora make report/index.html from every piece in a forked process (kg.forked.beside) when it
    cannot be put together from the parts the last build kept: the same page, made once, here only."""
    import kg.build
    from kg.build import Output

    here = build(corpus, cache=False).files["report/index.html"].read()
    forked = []
    original = kg.build.beside
    monkeypatch.setattr(kg.build, "_BESIDE_ABOVE", 0)
    monkeypatch.setattr(kg.build, "beside", lambda function: _index_page(function) and forked.append(function)
                        or original(function))
    whole = build(corpus, cache=False).files["report/index.html"]  # nothing kept: every piece read, beside
    assert len(forked) == 1 and isinstance(whole, Output) and whole.here
    assert b"<svg" in here and whole.read() == here and whole.read() == here  # read again: the answer, kept
    assert build(corpus).files["report/index.html"].read() == here  # made (here or beside), its parts kept
    started = len(forked)
    kept = build(corpus).files["report/index.html"]  # the parts of the build before
    assert kept.read() == here and len(forked) == started  # put together here: no second process


def test_pages_rendered_on_every_core_are_the_pages_rendered_here(corpus, tmp_path, monkeypatch):
    """A first build renders its many pages in forked workers (kg.build._read_small): the same out/."""
    from click.testing import CliRunner

    import kg.build
    import kg.forked

    runner = CliRunner()
    here, there = tmp_path / "here", tmp_path / "there"
    shutil.copytree(corpus, here)
    shutil.copytree(corpus, there)
    assert run(runner, "build", "-C", here, "--no-reason").exit_code == 0
    pools = []

    class Pool(kg.forked.ProcessPoolExecutor):
        def __init__(self, *args, **options):
            pools.append(self)
            super().__init__(*args, **options)

    monkeypatch.setattr(kg.build, "_READ_BESIDE", 0)
    monkeypatch.setattr(kg.forked, "ProcessPoolExecutor", Pool)
    assert run(runner, "build", "-C", there, "--no-reason").exit_code == 0
    assert len(pools) == 1  # six articles: rendered here; the pages: in the workers
    assert _tree(here / "out") == _tree(there / "out")


# --- the unit index: checks between articles after an edit read only the changed units ------------------


def _first_subject(folder: Path, slug: str) -> str:
    text = (folder / "articles" / slug / "facts.ttl").read_text(encoding="utf-8")
    return next(line.split()[0] for line in text.splitlines() if line.startswith("ex:"))


def _append_facts(folder: Path, slug: str, text: str) -> None:
    facts = folder / "articles" / slug / "facts.ttl"
    facts.write_text(facts.read_text(encoding="utf-8") + text, encoding="utf-8")


def _problems(folder: Path, *, cache: bool) -> list[str]:
    from kg.build import read_units
    from kg.errors import KgError

    with pytest.raises(KgError) as caught:
        read_units(folder, cache=cache)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("edit", ["restates another article's node", "restates a registry entity",
                                  "labels its own node twice"])
def test_an_edit_that_breaks_the_checks_between_articles_is_reported_as_a_clean_run_reports_it(corpus, tmp_path, edit):
    from kg.build import read_units

    folder = tmp_path / "broken"
    shutil.copytree(corpus, folder)
    read_units(folder)  # the index of a corpus that passed
    slugs = sorted(p.name for p in (folder / "articles").iterdir())
    if edit == "restates another article's node":
        _append_facts(folder, slugs[4], f'\n{_first_subject(folder, slugs[1])} skos:editorialNote "again"@en .\n')
    elif edit == "restates a registry entity":
        _append_facts(folder, slugs[4], '\nex:germany skos:editorialNote "again"@en .\n')
    else:
        _append_facts(folder, slugs[4], f'\n{_first_subject(folder, slugs[4])} rdfs:label "Another name"@en .\n')
    cached = _problems(folder, cache=True)
    assert cached == _problems(folder, cache=False)
    assert cached and all(f"articles/{slugs[4]}/facts.ttl:" in p for p in cached)
    assert _problems(folder, cache=True) == cached  # a failed run leaves the index as it was


def test_a_node_moved_from_one_article_to_another_passes_and_builds_as_a_clean_run(corpus, tmp_path):
    """Both articles change in one run: the index forgets the node's old owner before it records the new."""
    folder = tmp_path / "moved"
    shutil.copytree(corpus, folder)
    build(folder, site=False)
    slugs = sorted(p.name for p in (folder / "articles").iterdir())
    node = f"ex:moved-note-{slugs[0][:5]}"
    _append_facts(folder, slugs[0], f'\n{node} skos:editorialNote "here first"@en .\n')
    assert build(folder, site=False).files == _clean(folder).files
    for slug, text in ((slugs[0], None), (slugs[2], f'\n{node} skos:editorialNote "then here"@en .\n')):
        facts = folder / "articles" / slug / "facts.ttl"
        old = facts.read_text(encoding="utf-8")
        facts.write_text(old.split(f"\n{node} ")[0] if text is None else old + text, encoding="utf-8")
    after = build(folder, site=False)
    assert set(after.reused) == set(slugs) - {slugs[0], slugs[2]}
    assert after.files == _clean(folder).files


def _reads_after_an_edit(corpus, folder: Path, monkeypatch, run) -> tuple[list[str], str, object]:
    """`run(folder)` on a copy of the corpus, an editorial note added to its fourth article, and `run` again:
    (the cache entries the second run read, the edited article's slug, what the second run returned)."""
    from kg.units import Cache

    shutil.copytree(corpus, folder)
    run(folder)
    slug = sorted(p.name for p in (folder / "articles").iterdir())[3]
    _append_facts(folder, slug, f'\n{_first_subject(folder, slug)} skos:editorialNote "read"@en .\n')
    read = []
    original = Cache.get
    monkeypatch.setattr(Cache, "get", lambda self, name, key: read.append(name) or original(self, name, key))
    result = run(folder)
    monkeypatch.undo()
    return read, slug, result


def test_after_an_edit_validate_reads_only_the_edited_articles_unit(corpus, tmp_path, monkeypatch):
    from kg.build import validate_project

    read, slug, report = _reads_after_an_edit(corpus, tmp_path / "touched", monkeypatch, validate_project)
    assert read == [slug, slug]  # its new key (a miss), then its last version (kg.build._inherit_reasoning)
    clean = validate_project(tmp_path / "touched", cache=False)
    assert (report.conforms, report.findings) == (clean.conforms, clean.findings)


def test_after_an_edit_build_reads_only_the_edited_articles_unit(corpus, tmp_path, monkeypatch):
    """The other units are known from their headers (kg.units.Headers): no entry of theirs is unpickled."""
    folder = tmp_path / "touched-build"
    read, slug, after = _reads_after_an_edit(corpus, folder, monkeypatch, build)
    assert [name for name in read if not name.startswith("_")] == [slug, slug]  # new key, last version
    assert set(after.reused) == {u.slug for u in after.units} - {slug}
    assert after.files == build(folder, cache=False).files


IMPORTED = """
import sys
from kg.cli import main
try:
    main(["build", "-C", sys.argv[1]], standalone_mode=False)
finally:
    print(" ".join(name for name in ("rdflib", "kg.reason") if name in sys.modules))
"""


def test_a_build_after_an_edit_of_a_note_imports_neither_rdflib_nor_the_reasoner(corpus, tmp_path):
    """An editorial note on a node of an article's own: its reasoning is inherited (no JVM), its summary is made on
    pyoxigraph terms (kg.summary) and the last consistency check's answer stands, so kg build loads neither
    kg.reason nor rdflib (a quarter of a second of a build after an edit at 10,000 articles); out/ is a clean
    build's."""
    import subprocess
    import sys

    from click.testing import CliRunner

    folder = tmp_path / "no-rdflib"
    shutil.copytree(corpus, folder, ignore=shutil.ignore_patterns(".cache", "out"))

    def imported() -> str:
        done = subprocess.run([sys.executable, "-c", IMPORTED, str(folder)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[-1]

    assert imported() == "rdflib kg.reason"  # a first build reasons
    slug = sorted(p.name for p in (folder / "articles").iterdir())[3]
    _append_facts(folder, slug, f'\n{_first_subject(folder, slug)} skos:editorialNote "no rdflib"@en .\n')
    assert imported() == ""
    fresh = tmp_path / "fresh"
    shutil.copytree(folder, fresh, ignore=shutil.ignore_patterns(".cache", "out"))
    assert run(CliRunner(), "build", "-C", fresh).exit_code == 0
    assert _tree(folder / "out") == _tree(fresh / "out")


def test_a_header_is_not_trusted_once_its_entry_was_rewritten(corpus, tmp_path):
    """An entry rewritten under the same key (by `kg validate` grounding an article again, say: not reasoned over)
    no longer matches its header's signature: the build reads it, reasons over it again and keeps it."""
    from dataclasses import replace

    from kg.units import Cache, atomic_pickle

    folder = tmp_path / "rewritten"
    shutil.copytree(corpus, folder)
    first = build(folder)
    slug = first.units[1].slug
    entry = folder / CACHE_DIR / f"{slug}.pickle"
    key, unit = __import__("pickle").loads(entry.read_bytes())
    assert unit.reasoned
    atomic_pickle(entry, (key, replace(unit, packed_inferred=None, piece_key=None, summary=None)))
    second = build(folder)
    assert Cache(folder).get(slug, key).reasoned
    assert second.files == first.files


def test_an_entry_is_not_read_while_its_header_describes_it(corpus, tmp_path):
    """The converse: an entry whose bytes are spoilt in place (same size, inode and modification time, which no
    build does) is not read at all while its header matches, so the unit is reused as it was."""
    import os

    folder = tmp_path / "in-place"
    shutil.copytree(corpus, folder)
    first = build(folder)
    slug = first.units[4].slug
    entry = folder / CACHE_DIR / f"{slug}.pickle"
    stat = entry.stat()
    with entry.open("r+b") as stream:
        stream.write(b"\0" * stat.st_size)
    os.utime(entry, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    slugs = sorted(p.name for p in (folder / "articles").iterdir())
    other = next(s for s in slugs if s != slug)
    _append_facts(folder, other, f'\n{_first_subject(folder, other)} skos:editorialNote "in place"@en .\n')
    second = build(folder)
    assert slug in second.reused
    assert second.files == build(folder, cache=False).files


def test_a_damaged_index_is_rebuilt(corpus, tmp_path):
    from kg.units import Index

    folder = tmp_path / "index"
    shutil.copytree(corpus, folder)
    first = build(folder, site=False)
    index = folder / CACHE_DIR / Index.FILE
    index.write_bytes(b"not a database" * 100)
    assert build(folder, site=False).files == first.files
    assert Index(folder).keys("other shared inputs") == {}
    assert len(Index(folder).keys(_shared(folder))) == len(first.units)


def _shared(folder: Path) -> str:
    from kg.build import read_units

    return read_units(folder).shared_key


# --- the consistency check after an edit -----------------------------------------------------------------


def test_an_edit_that_changes_nothing_the_consistency_check_reads_skips_it(corpus, tmp_path, monkeypatch):
    """kg.build._consistency_unchanged: an editorial note on a node outside I (the individuals the check
    gives HermiT facts about) leaves every unit's summary as it was, so the last answer stands; the same note
    on a member of I, or a new fact, runs the check again. Every build equals a clean one."""
    from kg import reason
    from kg.build import _CONSISTENCY, read_units
    from kg.units import Cache

    folder = tmp_path / "consistency"
    shutil.copytree(corpus, folder)
    build(folder, site=False)
    state = Cache(folder).get(_CONSISTENCY, read_units(folder).shared_key)
    assert state is not None and state["members"]
    slugs = sorted(p.name for p in (folder / "articles").iterdir())
    subjects = {}  # slug -> its subjects as written (ex:...)
    for slug in slugs:
        text = (folder / "articles" / slug / "facts.ttl").read_text(encoding="utf-8")
        subjects[slug] = [line.split()[0] for line in text.splitlines() if line.startswith("ex:")]

    def member(name: str) -> bool:
        return f"<https://example.org/kg/id/{name[3:]}>" in state["members"]

    outside = next((slug, s) for slug in slugs for s in subjects[slug] if not member(s))
    other = next(slug for slug in slugs if slug != outside[0])
    checks = []
    original = reason.check_union
    monkeypatch.setattr(reason, "check_union", lambda *a, **k: checks.append(1) or original(*a, **k))

    def edit(slug: str, text: str, runs: int) -> None:
        checks.clear()
        _append_facts(folder, slug, text)
        built = build(folder, site=False)
        assert len(checks) == runs, (text, runs)
        assert built.files == _clean(folder).files

    edit(outside[0], f'\n{outside[1]} skos:editorialNote "seen"@en .\n', 0)
    # another article refers to that node: a summary changed, and the node is shared from now on (in I)
    edit(other, f'\n{subjects[other][0]} rdfs:seeAlso {outside[1]} .\n', 1)
    state = Cache(folder).get(_CONSISTENCY, read_units(folder).shared_key)
    assert member(outside[1])
    edit(outside[0], f'\n{outside[1]} skos:editorialNote "seen again"@en .\n', 1)


def test_kg_build_names_the_query_store_without_reading_kg_nq_again(corpus, tmp_path, monkeypatch):
    """`kg build` gives the query store its key of out/kg.nq (kg.store.refresh `key=`): out/kg.nq is not hashed,
    the store answers for the new file, and a kg.nq changed by hand afterwards is hashed and gets a new store."""
    import hashlib

    from click.testing import CliRunner

    from kg.store import open_store, store_path

    folder = tmp_path / "keyed"
    shutil.copytree(corpus, folder, ignore=shutil.ignore_patterns("out", ".cache"))
    original = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda *a, **k: pytest.fail("kg.nq was hashed"))
    runner = CliRunner()
    slugs = sorted(p.name for p in (folder / "articles").iterdir())
    stores = []
    for note in ("", "one", "two"):  # a first build, then builds after edits
        if note:
            _append_facts(folder, slugs[1], f'\n{_first_subject(folder, slugs[1])} skos:editorialNote "{note}"@en .\n')
        result = run(runner, "build", "-C", folder)
        assert result.exit_code == 0, result.output
        out = folder / "out"
        stores.append(store_path(out))
        quads = len(ox.Dataset(ox.parse(path=out / "kg.nq", format=ox.RdfFormat.N_QUADS)))
        assert len(open_store(out)) == quads and stores[-1].is_dir()
    assert len(set(stores)) == 3 and [p for p in stores if p.exists()] == [stores[-1]]
    monkeypatch.setattr(hashlib, "file_digest", original)
    with (out / "kg.nq").open("a") as f:
        f.write("<urn:x> <urn:p> <urn:y> .\n")
    assert store_path(out) not in stores and len(open_store(out)) == quads + 1


def test_the_index_page_is_made_from_every_piece_only_when_an_edit_changes_what_it_shows_of_entities(
        corpus, tmp_path, monkeypatch):
    """The index page has a key (every article's piece version, the dataset's size, the validation's
    outcome): a build with nothing to do leaves it alone. After an editorial note, which changes no article's
    Piece.index_digest, it is put together from the rows and parts the last build kept (no second process);
    after a new label, it is made from every piece in a second process, started at once. Each time it is the
    page of a clean build."""
    from click.testing import CliRunner

    import kg.build

    runner = CliRunner()
    folder = tmp_path / "corpus"
    shutil.copytree(corpus, folder)
    monkeypatch.setattr(kg.build, "_BESIDE_ABOVE", 0)
    assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
    forked = []
    original = kg.build.beside
    monkeypatch.setattr(kg.build, "beside", lambda function: _index_page(function) and forked.append(function)
                        or original(function))
    index = folder / "out" / "report" / "index.html"
    before = index.stat()
    assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
    assert forked == [] and index.stat().st_mtime_ns == before.st_mtime_ns
    slug = sorted(p.name for p in (folder / "articles").iterdir())[1]
    facts = folder / "articles" / slug / "facts.ttl"
    noted = f'{facts.read_text(encoding="utf-8")}\n{_first_subject(folder, slug)} skos:editorialNote "an edit"@en .\n'
    for text, forks in ((noted, 0), (noted.replace('rdfs:label "', 'rdfs:label "(renamed) ', 1), 1)):
        facts.write_text(text, encoding="utf-8")
        forked.clear()
        result = run(runner, "build", "-C", folder, "--no-reason")
        assert result.exit_code == 0, result.output
        assert len(forked) == forks
        fresh = tmp_path / f"fresh-{forks}"
        shutil.copytree(folder, fresh, ignore=shutil.ignore_patterns(".cache", "out"))
        assert run(runner, "build", "-C", fresh, "--no-reason").exit_code == 0
        assert index.read_bytes() == (fresh / "out" / "report" / "index.html").read_bytes() != b""
    assert b"(renamed)" in index.read_bytes()


def test_out_removed_is_written_again_with_the_index_page_made_beside(corpus, tmp_path, monkeypatch):
    """out/ removed, the cache kept but for the index's parts: the index page is an Output waiting for a second
    process (its dependencies are kept) while every page is rendered by forked workers. A worker must not make it: the
    answer comes to this process only (at 10,000 articles such a build waited for ever)."""
    from click.testing import CliRunner

    import kg.build

    runner = CliRunner()
    here, there = tmp_path / "here", tmp_path / "there"
    shutil.copytree(corpus, here)
    shutil.copytree(corpus, there)
    assert run(runner, "build", "-C", here, "--no-reason").exit_code == 0
    monkeypatch.setattr(kg.build, "_BESIDE_ABOVE", 0)
    monkeypatch.setattr(kg.build, "_READ_BESIDE", 0)
    assert run(runner, "build", "-C", there, "--no-reason").exit_code == 0
    shutil.rmtree(there / "out")
    (there / CACHE_DIR / "_index_parts.pickle").unlink()  # so that the index is made from every piece
    forked = []
    original = kg.build.beside
    monkeypatch.setattr(kg.build, "beside", lambda function: _index_page(function) and forked.append(function)
                        or original(function))
    result = run(runner, "build", "-C", there, "--no-reason")
    assert result.exit_code == 0, result.output
    assert len(forked) == 1
    assert _tree(here / "out") == _tree(there / "out")


def test_a_large_first_validation_runs_while_reasoning_and_ends_when_reasoning_fails(corpus, tmp_path, monkeypatch):
    """kg.build starts a large corpus's first validation (in processes of its own) before it reasons: the same
    build as one that validates after reasoning; when reasoning fails, those processes are ended."""
    import os

    import kg.build
    import kg.unit_validation
    from kg.errors import KgError, Problem

    folder = tmp_path / "apart"
    shutil.copytree(corpus, folder)
    shutil.rmtree(folder / ".cache", ignore_errors=True)
    clean = _clean(corpus).files
    started = []
    original_spawned, original_reason = kg.unit_validation.spawned, kg.build._reason
    monkeypatch.setattr(kg.unit_validation, "_APART_FROM", 0)
    monkeypatch.setattr(kg.unit_validation, "spawned", lambda *a: started.append(original_spawned(*a)) or started[-1])

    def reason(*args, **kwargs):
        assert sorted(s.name for s in started) == ["_validate_whole", "_write_store"]
        assert all(s.outcome is None for s in started)  # not waited for yet
        return original_reason(*args, **kwargs)

    monkeypatch.setattr(kg.build, "_reason", reason)
    assert build(folder, site=False).files == clean

    def fails(*args, **kwargs):
        raise KgError(Problem("reasoning failed"))

    shutil.rmtree(folder / ".cache")
    started.clear()
    monkeypatch.setattr(kg.build, "_reason", fails)
    with pytest.raises(KgError, match="reasoning failed"):
        build(folder, site=False)
    assert len(started) == 2
    for spawned in started:
        with pytest.raises(RuntimeError, match="cancelled"):
            spawned()


def test_after_an_edit_validation_runs_in_a_thread_while_reasoning(corpus, tmp_path, monkeypatch):
    """A later build validates incrementally in a thread started before reasoning; the build is a clean one."""
    import kg.build
    import kg.unit_validation

    folder = tmp_path / "threaded"
    shutil.copytree(corpus, folder)
    build(folder, site=False)
    facts = sorted((folder / "articles").glob("*/facts.ttl"))[1]
    text = facts.read_text(encoding="utf-8")
    first_fact = text.index("\nex:")
    facts.write_text(text[:first_fact] + text[first_fact:].replace(" .\n", ' ;\n    skos:editorialNote "checked" .\n', 1),
                     encoding="utf-8")
    events = []

    class Recorded(kg.unit_validation.ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            events.append("validation started")
            return super().submit(*args, **kwargs)

    original = kg.build._reason
    monkeypatch.setattr(kg.unit_validation, "ThreadPoolExecutor", Recorded)
    monkeypatch.setattr(kg.build, "_reason", lambda *a, **k: events.append("reasoning") or original(*a, **k))
    after = build(folder, site=False)
    assert events == ["validation started", "reasoning"]
    assert after.files == _clean(folder).files and after.report.conforms


# --- edits that HermiT does not read ---------------------------------------------------------------------


def test_the_reasoning_digest_leaves_out_annotation_assertions_and_nothing_else():
    """kg.build.reasoning_digest: what HermiT reads of a unit. Assertions of the ontology's annotation properties
    are left out (a note, a label); any other triple counts, and so do annotations in a unit that names the
    property itself (it may declare it another kind of property)."""
    from kg.build import annotation_properties, reasoning_digest

    kg, skos, rdfs = "https://example.org/kg/ontology#", "http://www.w3.org/2004/02/skos/core#", "http://www.w3.org/2000/01/rdf-schema#"
    owl, rdf = "http://www.w3.org/2002/07/owl#", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    ontology = ox.parse(input=f"""<{skos}editorialNote> a <{owl}AnnotationProperty> .
<{rdfs}label> a <{owl}AnnotationProperty> .
<{kg}both> a <{owl}AnnotationProperty> , <{owl}ObjectProperty> .""", format=ox.RdfFormat.TURTLE)
    annotations = annotation_properties(list(ontology))
    assert annotations == {skos + "editorialNote", rdfs + "label"}

    def digest(*lines: str) -> str:
        return reasoning_digest("".join(f"{line} <urn:g> .\n" for line in lines).encode(), annotations)

    base = (f"<urn:a> <{kg}participant> <urn:b>", f"<urn:a> <{rdf}type> <{kg}Meeting>")
    note, label = f'<urn:a> <{skos}editorialNote> "checked"@en', f'<urn:a> <{rdfs}label> "A meeting"@en'
    assert digest(*base) == digest(*base, note) == digest(*reversed(base), label, note)
    assert digest(*base) != digest(*base, f"<urn:a> <{kg}both> <urn:c>")
    assert digest(*base) != digest(base[0]) != digest(base[1])
    declared = (*base, f"<{skos}editorialNote> <{rdf}type> <{owl}ObjectProperty>")
    assert digest(*declared) != digest(*declared, note)


def test_an_edit_hermit_does_not_read_is_not_reasoned_over_again(corpus, tmp_path, monkeypatch):
    """An editorial note or another label changes nothing HermiT reads (kg.build.reasoning_digest): the edited
    unit gets its last version's inferred graph, and no JVM starts; an edit of a fact is reasoned over, that
    unit alone. Each time out/ is what a clean build writes."""
    from click.testing import CliRunner

    import kg.reason

    runner = CliRunner()
    folder = tmp_path / "corpus"
    shutil.copytree(corpus, folder, ignore=shutil.ignore_patterns(".cache", "out"))
    assert run(runner, "build", "-C", folder).exit_code == 0
    reasoned = []
    original = kg.reason.infer_many
    monkeypatch.setattr(kg.reason, "infer_many", lambda units, **k: reasoned.append(len(units)) or original(units, **k))
    slug = sorted(p.name for p in (folder / "articles").iterdir())[1]
    facts = folder / "articles" / slug / "facts.ttl"
    subject = _first_subject(folder, slug)
    text = facts.read_text(encoding="utf-8") + f'\n{subject} skos:editorialNote "checked"@en .\n'
    edits = [(text, []), (text.replace('rdfs:label "', 'rdfs:label "(renamed) ', 1), []),
             (text + f"\n{subject} a kg:Event .\n", [1])]
    for number, (edited, expected) in enumerate(edits):
        facts.write_text(edited, encoding="utf-8")
        reasoned.clear()
        result = run(runner, "build", "-C", folder)
        assert result.exit_code == 0, result.output
        assert reasoned == expected, edited[-60:]
        fresh = tmp_path / f"fresh-{number}"
        shutil.copytree(folder, fresh, ignore=shutil.ignore_patterns(".cache", "out"))
        monkeypatch.setattr(kg.reason, "infer_many", original)
        assert run(runner, "build", "-C", fresh).exit_code == 0
        monkeypatch.setattr(kg.reason, "infer_many", lambda units, **k: reasoned.append(len(units)) or original(units, **k))
        assert _tree(folder / "out") == _tree(fresh / "out")


def test_after_an_edit_the_data_files_are_staged_in_a_second_process_while_the_report_is_made(corpus, tmp_path,
                                                                                           monkeypatch):
    """After an edit kg build stages (splices) the five data files in a process of its own (kg.build.Ahead) as
    soon as they are known, while this one brings the report up to date; out/ is a clean build's, and so is it
    after the next edit (what the splices keep for the next one came back from that process). When the report
    fails after staging, nothing in out/ changes and nothing staged is left; the next build is whole. The five
    files are staged side by side, a thread each: when one fails, those staged beside it are removed too."""
    import os

    from click.testing import CliRunner

    import kg.build

    runner = CliRunner()
    folder = tmp_path / "corpus"
    shutil.copytree(corpus, folder, ignore=shutil.ignore_patterns(".cache", "out"))
    assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
    log = _Log(tmp_path / "staged.log")
    original_stage = kg.build.stage

    together, here = threading.Barrier(5, timeout=30), os.getpid()  # (copied into the staging process)

    def logged(out, name, *args, **kwargs):
        log.append(f"{name} {os.getpid()}")
        if os.getpid() != here:  # in the staging process (a clean build stages kg.nq here, alone)
            together.wait()  # all five begun, side by side: staged one after another, this would time out
        return original_stage(out, name, *args, **kwargs)

    def staged() -> list[tuple[str, int]]:
        return sorted((name, int(pid)) for name, pid in (line.split() for line in log))

    def clean() -> dict[str, bytes]:
        fresh = tmp_path / "fresh"
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.copytree(folder, fresh, ignore=shutil.ignore_patterns(".cache", "out"))
        assert run(runner, "build", "-C", fresh, "--no-reason").exit_code == 0
        return _tree(fresh / "out")

    monkeypatch.setattr(kg.build, "stage", logged)
    slugs = sorted(p.name for p in (folder / "articles").iterdir())
    for note in ("ahead", "again"):
        log.clear()
        _append_facts(folder, slugs[2], f'\n{_first_subject(folder, slugs[2])} skos:editorialNote "{note}"@en .\n')
        assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
        names = [name for name, _ in staged()]
        assert names == ["kg.jsonld", "kg.nq", "kg.nt", "kg.trig", "kg.ttl"]
        assert os.getpid() not in {pid for _, pid in staged()} and len({pid for _, pid in staged()}) == 1
        assert _tree(folder / "out") == clean()

    def fails_leaving_out_as_it_was(attribute: str, replacement, slug: str) -> None:
        """With kg.build's `attribute` replaced, a build after an edit fails and leaves out/ as it was (no staged
        file either); with it restored, the next build is a clean build's."""
        before, original = _tree(folder / "out"), getattr(kg.build, attribute)
        log.clear()
        monkeypatch.setattr(kg.build, attribute, replacement)
        _append_facts(folder, slug, f'\n{_first_subject(folder, slug)} skos:editorialNote "{attribute} fails"@en .\n')
        result = run(runner, "build", "-C", folder, "--no-reason")
        assert result.exit_code != 0 and "No space left on device" in result.output
        assert _tree(folder / "out") == before
        monkeypatch.setattr(kg.build, attribute, original)
        assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
        assert _tree(folder / "out") == clean()

    def broken(*args, **kwargs):  # the report, once the staging process has begun every file
        while len(staged()) < 5:
            time.sleep(0.01)
        raise OSError(28, "No space left on device")

    def one_fails(out, name, *args, **kwargs):  # one file, while the other four are staged beside it
        if name != "kg.nt":
            log.append(f"{name} {os.getpid()}")
            return original_stage(out, name, *args, **kwargs)
        while len(staged()) < 4:
            time.sleep(0.01)
        raise OSError(28, "No space left on device")

    fails_leaving_out_as_it_was("_site", broken, slugs[3])
    fails_leaving_out_as_it_was("stage", one_fails, slugs[4])

    # After an edit the validation runs in a thread and the staging begins without waiting for it (here the
    # validation's report is given only once every file is being staged: waiting for the validation first, the
    # staging would never begin). A build that does not conform then leaves out/ as it was, no staged file.
    original_validation = kg.build.start_validation
    waited = []

    def late_validation(corpus, **kwargs):
        started = original_validation(corpus, **kwargs)
        finish = started.finish

        def after_staging():
            report = finish()
            deadline = time.monotonic() + 30
            while len(staged()) < 5 and time.monotonic() < deadline:
                time.sleep(0.01)
            waited.append(len(staged()))
            return report

        started.finish = after_staging
        return started

    monkeypatch.setattr(kg.build, "start_validation", late_validation)
    before = _tree(folder / "out")
    log.clear()
    _append_facts(folder, slugs[3], f'\n{_first_subject(folder, slugs[3])} kg:endDate "1900-01-01"^^xsd:date .\n')
    result = run(runner, "build", "-C", folder, "--no-reason")
    assert result.exit_code == 1 and "does not conform" in result.output
    assert waited == [5] and _tree(folder / "out") == before


@pytest.mark.parametrize("failing", [(), ("survey",), ("folder_digests",), ("folder_digests", "survey")])
def test_the_survey_is_what_the_build_would_find_and_a_failed_one_changes_nothing(corpus, tmp_path, monkeypatch,
                                                                                   failing):
    """kg.build.Survey hashes the article folders and lists out/ (every file and its signature) in a forked
    process as the build begins: the keys read_units makes of its digests are those Fingerprints gives, and
    `write` compares its manifest with the listing and finds orphans in it. When that process fails (at
    either step), the build looks for itself: out/ is the same, a page edited by hand is written again, a
    stray page removed."""
    from click.testing import CliRunner

    from kg import build as build_module
    from kg import survey as survey_module
    from kg.units import Fingerprints, salted, signature

    folder = tmp_path / "survey"
    shutil.copytree(corpus, folder)
    runner = CliRunner()
    assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
    out = folder / "out"
    started = survey_module.Survey(out, folder)
    digests, forgotten, loaded, edited = started.folders()
    listed = started.result()
    started.close()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert listed == {p.relative_to(out).as_posix(): signature(p) for p in files} and len(listed) > 20
    folders = sorted(f"articles/{p.name}" for p in (folder / "articles").iterdir())
    assert sorted(digests) == folders and loaded and not forgotten and edited == 0
    fingerprints = Fingerprints(folder)
    assert all(salted(digests[f], "salt") == fingerprints.folder(f, salt="salt") for f in folders)

    def fails(*args):
        raise OSError("no survey")

    for name in failing:
        monkeypatch.setattr(survey_module, name, fails)
    if "folder_digests" not in failing:  # the build hashes no article folder itself
        monkeypatch.setattr(build_module, "Fingerprints", fails)
    started = survey_module.Survey(out, folder)
    assert (started.folders() is None) == ("folder_digests" in failing)
    assert (started.result() is None) == ("survey" in failing)
    started.close()
    slugs = sorted(p.name for p in (folder / "articles").iterdir())
    facts = folder / "articles" / slugs[2] / "facts.ttl"
    text = facts.read_text(encoding="utf-8")
    first_fact = text.index("\nex:")
    facts.write_text(text[:first_fact] + text[first_fact:].replace(" .\n", ' ;\n    skos:editorialNote "seen" .\n', 1),
                     encoding="utf-8")
    page = out / "report" / "articles" / f"{slugs[1]}.html"
    page.write_bytes(page.read_bytes() + b"<!-- edited by hand -->")
    stray = out / "report" / "entities" / "stray.html"
    stray.write_text("<!doctype html>")
    result = run(runner, "build", "-C", folder, "--no-reason")
    assert result.exit_code == 0, result.output
    assert not stray.exists()
    assert "skos:editorialNote" in facts.read_text(encoding="utf-8")
    monkeypatch.undo()

    clean = tmp_path / "clean"
    shutil.copytree(folder, clean, ignore=shutil.ignore_patterns("out", ".cache"))
    assert run(runner, "build", "-C", clean, "--no-reason", "--no-cache").exit_code == 0
    assert _tree(out) == _tree(clean / "out")


def test_after_an_edit_the_survey_reads_ahead_what_the_data_files_are_spliced_from(corpus, tmp_path, monkeypatch):
    """When a few articles were edited, the survey's process reads the last data files and their maps (which
    the staging process splices the new ones from) while the build reads and reasons: on a machine that pages
    out what was not read for a minute, they were read from disk in the staging's time. Not after no edit,
    nor on a first run. What every build reads of the last one's (the unit cache's shared entries, the
    validation's state) it reads ahead on every run that finds them."""
    from click.testing import CliRunner

    from kg import survey as survey_module

    folder = tmp_path / "ahead"
    shutil.copytree(corpus, folder, ignore=shutil.ignore_patterns(".cache", "out"))  # (a copy hashes files anew)
    runner = CliRunner()
    log = _Log(tmp_path / "read-ahead.log")
    monkeypatch.setattr(survey_module, "read_ahead", lambda paths: [log.append(p) for p in paths])
    def read() -> tuple[list[str], list[str]]:  # (the files kept by the last build, the others), then forgotten
        paths = [Path(p).relative_to(folder).as_posix() for p in log.items()]
        log.clear()
        kept = [p for p in paths if p.startswith(".cache/units/_") or p == ".cache/validation/state.pickle"]
        return kept, [p for p in paths if p not in kept]

    assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
    assert read() == ([".cache/validation/state.pickle"], [])  # a first run: nothing there yet
    assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
    kept, others = read()
    assert others == [] and ".cache/units/_dependencies.pickle" in kept  # no edit
    assert kept[-1] == ".cache/validation/state.pickle" and (folder / kept[-1]).is_file()

    slug = sorted(p.name for p in (folder / "articles").iterdir())[2]
    _append_facts(folder, slug, f'\n{_first_subject(folder, slug)} skos:editorialNote "ahead"@en .\n')
    assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
    kept, read = read()
    assert ".cache/units/_dependencies.pickle" in kept
    assert read[0] == ".cache/out.pickle" and {f"out/kg.{x}" for x in ("nq", "nt", "ttl", "trig", "jsonld")} <= set(read)
    assert any(p.startswith(".cache/out/") for p in read)
    assert survey_module._an_edit(({"a": "", "b": ""}, False, True, 1))
    assert not survey_module._an_edit(({"a": "", "b": ""}, False, False, 1))  # no earlier fingerprints
    assert not survey_module._an_edit(({str(i): "" for i in range(100)}, False, True, 17))


def test_files_make_each_output_when_first_asked_for():
    """kg.build.Files: a Mapping of out/'s files whose lazy ones are made on first access, once; names in sorted
    order (or with `after`'s first); a name it lacks is a KeyError."""
    from kg.build import Files, Output

    made = []

    def make(text: str) -> Output:
        made.append(text)
        return Output(lambda stream: stream.write(text.encode()), small=True)

    files = Files({"b": b"bee"}, ({"c/2": "two", "a/1": "one"}, make))
    assert list(files) == ["a/1", "b", "c/2"] and len(files) == 3
    assert "c/2" in files and "b" in files and "z" not in files and made == []
    assert files["c/2"] is files["c/2"] and files["c/2"].read() == b"two" and made == ["two"]
    with pytest.raises(KeyError):
        files["z"]
    joined = files.after({"kg.nq": b"quads"})
    assert list(joined) == ["kg.nq", "a/1", "b", "c/2"] and joined["kg.nq"] == b"quads"
    assert dict(joined.items()) == {"kg.nq": b"quads", "a/1": make("one"), "b": b"bee", "c/2": make("two")}


def test_after_an_edit_only_the_pages_written_are_made(corpus, tmp_path, monkeypatch):
    """After an edit kg build makes an Output (kg.build.Files) only for the report's pages it writes or compares,
    not one for each of out/'s pages; out/ is a clean build's."""
    from click.testing import CliRunner

    import kg.build

    runner = CliRunner()
    folder = tmp_path / "corpus"
    shutil.copytree(corpus, folder, ignore=shutil.ignore_patterns(".cache", "out"))
    assert run(runner, "build", "-C", folder, "--no-reason").exit_code == 0
    pages = [p for p in (folder / "out" / "report").rglob("*.html")]
    made = []
    original = kg.build.Output.__init__

    def counted(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(kg.build.Output, "__init__", counted)
    slug = sorted(p.name for p in (folder / "articles").iterdir())[1]
    _append_facts(folder, slug, f'\n{_first_subject(folder, slug)} skos:editorialNote "made"@en .\n')
    result = run(runner, "build", "-C", folder, "--no-reason")
    assert result.exit_code == 0
    assert len(pages) > 60 and 0 < len([m for m in made if m.small]) < 10
    fresh = tmp_path / "fresh"
    shutil.copytree(folder, fresh, ignore=shutil.ignore_patterns(".cache", "out"))
    assert run(runner, "build", "-C", fresh, "--no-reason").exit_code == 0
    assert _tree(folder / "out") == _tree(fresh / "out")
