"""`kg report`: a static, self-contained site that shows the evidence behind every fact.

`render(build)` is a pure function of a build: it returns the site's files (path under out/ -> bytes),
with no network access, no timestamps and the same bytes for the same graph. Layout of the package:
`model` reads the graphs, `pages` writes the HTML, `picture` lays the graph out with Graphviz,
`ontology` documents the ontology with pyLODE; `style.css` and `report.js` are the only assets.

A build that keeps work between runs renders in parts; each page depends on (and only on):

- `report/articles/<slug>.html` (`render_article`): the article (its text, meta.toml title and exclusions),
  its asserted and inferred graphs, and the context — the ontology, the registry and the registry's inferred
  graph. Labels, types and pages of what the article mentions come from the article and the context only.
- a `Piece` per article (`article_report` returns it with the page, `piece` alone): what the article adds to the
  shared pages; a function of the article and its graphs only (not of the context).
- `report/ontology.html` (`ontology_page`): the ontology's triples only; `ontology_key` names them.
- `report/style.css`: nothing (a file of this package).
- `report/index.html`: the context, every piece (in article order), the quad count and the validation result.
- `report/entities/<name>.html`: the context and the pieces of the articles that have statements about the entity,
  or that give a label, a type, a page or evidence (`Piece.provides`) to it or to a node or property its page
  shows; `dependencies` lists those articles for each entity page.

`Shared(context, pieces, …)` indexes the pieces once and makes the index, the entity pages (all, or those asked
for, one at a time) and each entity page's dependencies and key (`entity_keys`: equal keys, equal pages);
`render_shared` is its files at once. `render(build)` is the whole site at once, as `kg report` writes it.
`incremental` keeps the entity pages' dependencies and keys from one build to the next and updates them from
the changed articles' pieces alone (what `kg build` does after an edit).
"""

from __future__ import annotations

from functools import partial
from typing import Iterable, Iterator, Mapping, Sequence

from kg.namespaces import EX
from kg.report.model import Context, Piece, context  # noqa: F401  (the API)

REPORT_DIR = "report"


def article_path(slug: str) -> str:
    """Where an article's page goes, under out/."""
    return f"{REPORT_DIR}/articles/{slug}.html"


def entity_path(iri: str) -> str:
    """Where an entity's page goes, under out/ (for an IRI that has one: kg.report.model.Model.page)."""
    return f"{REPORT_DIR}/entities/{iri[len(EX):]}.html"


def article_report(article, asserted, inferred, context: Context) -> tuple[bytes, Piece]:
    """An article's page and its piece of the shared pages.

    `article` is a kg.curation.Article; `asserted` and `inferred` its two graphs, as N-Quads bytes (what the
    build's units keep) or as quads/triples; `context` comes from `context(project, registry_inferred)`."""
    from kg.report import model as report_model
    from kg.report import pages

    piece, view = report_model.read_article(article, asserted, inferred)
    return pages.article(report_model.Model(context, [piece]), view), piece


def render_article(article, asserted, inferred, context: Context) -> bytes:
    """An article's page (`article_path(article.slug)`): see `article_report`."""
    return article_report(article, asserted, inferred, context)[0]


def piece(article, asserted, inferred=b"") -> Piece:
    """An article's piece of the shared pages (no context needed)."""
    from kg.report.model import read_article

    return read_article(article, asserted, inferred)[0]


def _triples(ontology) -> list:
    return [t for item in ontology for t in (item.triples if hasattr(item, "triples") else (item,))]


def ontology_page(ontology) -> bytes:
    """`report/ontology.html`, from the ontology: kg.curation.Sources (project.ontology) or triples."""
    from kg.report.ontology import document

    return document(_triples(ontology))


def ontology_key(ontology) -> str:
    """A name for the ontology's triples (SHA-256): the ontology page is the same while it is."""
    from kg.report.ontology import key

    return key(_triples(ontology))


class Shared:
    """The shared pages of a site, from the context and every article's piece (in article order), indexed once.

    `quads` is the size of the dataset; `conforms` and `findings` the validation's result. Above `picture_limit`
    drawable entities (default kg.report.picture.LIMIT) the index's picture is a summary by state."""

    def __init__(self, context: Context, pieces: Sequence[Piece], *, quads: int, conforms: bool = True,
                 findings: int = 0, picture_limit: int | None = None):
        from kg.report.model import Model
        from kg.report.picture import LIMIT

        self.model = Model(context, pieces, quads=quads, conforms=conforms, findings=findings)
        self.picture_limit = LIMIT if picture_limit is None else picture_limit

    def index(self) -> bytes:
        """`report/index.html`: depends on everything."""
        from kg.report import pages

        model = self.model
        return pages.index_page([pages.index_row(row) for row in model.articles], self.index_parts(),
                                quads=model.quads, conforms=model.conforms, findings=model.findings)

    def index_parts(self):
        """The index's parts about entities (kg.report.pages.IndexParts), its picture drawn."""
        from kg.report import pages, picture

        svg, caption = picture.figure(self.model, limit=self.picture_limit)
        return pages.index_parts(self.model, svg, caption or pages.CAPTION)

    def entities(self) -> tuple[str, ...]:
        """IRIs of the entities that have a page, sorted."""
        return self.model.entities

    def entity_pages(self, entities: Iterable[str] | None = None, *, workers: int = 1) -> Iterator[tuple[str, bytes]]:
        """(path under out/, page) of every entity, or of those of `entities` (IRIs without a page are skipped),
        in path order, as they come: a build can write them and hold none. `workers` > 1 renders on that many
        forked processes (same bytes, same order)."""
        model = self.model
        wanted = model.entities if entities is None else sorted(set(entities) & set(model.entities))
        chunks = [wanted[i:i + _CHUNK] for i in range(0, len(wanted), _CHUNK)]
        for chunk in _parallel(_entity_chunk, chunks, workers=workers, shared=self):
            yield from chunk

    def dependencies(self) -> dict[str, frozenset[str]]:
        """Entity page path -> slugs of the articles whose pieces it depends on (besides the context)."""
        model = self.model
        return {f"{REPORT_DIR}/{model.page(iri)}": slugs for iri, slugs in model.dependencies().items()}

    def entity_keys(self, keys: Mapping[str, str], shared_key: str) -> dict[str, str]:
        """Entity page path -> a key (SHA-256) that changes whenever the page can: of `shared_key` (whatever the
        context is made of: ontology, registry, kg's code) and of the `keys` (slug -> key of the article's inputs)
        of the articles the page depends on. Sound without remembering the previous build: an article that stops
        mentioning an entity leaves the page's list, and that changes the key."""
        from kg.report.incremental import key

        return {path: key(shared_key, slugs, keys) for path, slugs in self.dependencies().items()}

    def files(self, *, ontology: bytes, entities: Iterable[str] | None = None, workers: int = 1) -> dict[str, bytes]:
        """Every page but the articles': index, ontology (`ontology` is `ontology_page`'s bytes), style.css and the
        entity pages (all, or those of `entities`)."""
        from kg.report import pages

        site = {
            f"{REPORT_DIR}/index.html": self.index(),
            f"{REPORT_DIR}/style.css": pages.asset("style.css").encode("utf-8"),
            f"{REPORT_DIR}/ontology.html": ontology,
        }
        site.update(self.entity_pages(entities, workers=workers))
        return dict(sorted(site.items()))


_CHUNK = 200  # entity pages per task of a worker process
_FORKED = None  # what forked workers read: set just before the pool forks


def _parallel(function, items: list, *, workers: int, shared) -> Iterator:
    """`function(shared, item)` for each item, in order; on `workers` forked processes when that pays."""
    global _FORKED
    if workers <= 1 or len(items) < 2:
        for item in items:
            yield function(shared, item)
        return
    import multiprocessing

    _FORKED = shared
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            yield from pool.imap(partial(_in_worker, function), items)
    finally:
        _FORKED = None


def _in_worker(function, item):
    return function(_FORKED, item)


def _entity_chunk(shared: "Shared", iris: list[str]) -> list[tuple[str, bytes]]:
    from kg.report import pages

    model = shared.model
    return [(f"{REPORT_DIR}/{model.page(iri)}", pages.entity(model, iri)) for iri in iris]


def _article_chunk(shared, indices: list[int]) -> list[tuple[bytes, Piece]]:
    context, articles, units = shared
    return [article_report(articles[i], units[i].asserted, units[i].inferred, context) for i in indices]


def render_shared(context: Context, pieces: Sequence[Piece], *, ontology: bytes, quads: int, conforms: bool = True,
                  findings: int = 0, entities: Iterable[str] | None = None, picture_limit: int | None = None,
                  workers: int = 1) -> dict[str, bytes]:
    """Every page but the articles' (see `Shared`): index, ontology, style.css and the entity pages — all of them,
    or only those of `entities` (IRIs; index.html lists every page)."""
    shared = Shared(context, pieces, quads=quads, conforms=conforms, findings=findings, picture_limit=picture_limit)
    return shared.files(ontology=ontology, entities=entities, workers=workers)


def dependencies(context: Context, pieces: Sequence[Piece]) -> dict[str, frozenset[str]]:
    """Entity page path (under out/) -> slugs of the articles whose pieces it depends on, besides the context."""
    return Shared(context, pieces, quads=0).dependencies()


def entity_keys(context: Context, pieces: Sequence[Piece], keys: Mapping[str, str], shared_key: str) -> dict[str, str]:
    """Entity page path -> key; see `Shared.entity_keys`."""
    return Shared(context, pieces, quads=0).entity_keys(keys, shared_key)


def render(build, *, picture_limit: int | None = None, workers: int = 1) -> dict[str, bytes]:
    """The whole site of a kg.build.Build; `workers` > 1 renders articles and entities on that many forked
    processes (same bytes)."""
    project = build.project
    articles = project.articles if len(project.articles) == len(build.units) else build.articles
    shared = context(project, build.registry_inferred)
    site, pieces = {}, []
    items = list(range(len(articles)))
    chunk = max(1, len(items) // (8 * workers))
    done = _parallel(_article_chunk, [items[i:i + chunk] for i in range(0, len(items), chunk)],
                     workers=workers, shared=(shared, articles, build.units))
    for results in done:
        for page, part in results:
            site[article_path(part.slug)] = page
            pieces.append(part)
    quads = build.quad_count if "kg.nq" in build.files else len(build.quads)
    site.update(render_shared(shared, pieces, ontology=ontology_page(project.ontology), quads=quads,
                              conforms=build.report.conforms, findings=len(build.report.findings),
                              picture_limit=picture_limit, workers=workers))
    return dict(sorted(site.items()))
