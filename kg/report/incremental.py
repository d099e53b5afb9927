"""Which articles each entity page depends on, kept from one build to the next and updated by the articles that
changed (`update`), with each entity page's key.

`Model.dependencies` finds them from every article's piece: after an edit of one article of 10,000 that was
loading ten thousand pieces (2 s) and going through them (3 s), to find the twenty pages the edit can change.
`Dependencies` keeps what each article contributes (`Piece.provides`, `Piece.touches` and the properties of its
statements), every page's dependencies and every page's key; `update` loads only the changed articles' pieces
and those of the articles that take part in the pages it looks at again. Why those pages are enough:

- E's page depends on article A when A has statements about E (A touches E), or provides E, or provides a node
  or property E's page shows (the other end of each of E's statements, and their properties).
- Let C be the articles whose pieces changed (or came, or went). If no article of C is in E's dependencies
  before nor after, those stay the same: no article of C touches E, so E's statements (from the context and the
  articles that touch E) and the nodes its page shows stay; the providers of each of those nodes change only by
  articles of C, which would then be in E's dependencies before or after.
- So the pages looked at again are those whose dependencies held an article of C (`pages`), and those whose
  dependencies come to hold one: entities that an article of C now touches or provides, and entities whose
  page shows what it provides — those linked to it by a statement, which sits in a piece that touches both
  of its ends (or in the context).
- One case is not followed: an article of C that provides (labels, say) an IRI that statements use as their
  property, which every page showing such a statement depends on. Then everything is computed again
  (`update` returns None), as it is when the shared key changed or more than a few articles did.

A page's key (`key`) is of the shared key and of the input keys of the articles its page depends on; a page not
looked at again depends on no changed article, so its key stays. `Model(context, pieces)` of a page's
dependencies alone (`model`) shows the page as the whole corpus's model does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from kg.namespaces import EX
from kg.report.model import Context, Model, Piece, depends_on, value

Load = Callable[[str], Piece]  # slug -> the article's piece


@dataclass(frozen=True)
class Dependencies:
    """Kept as few large strings and tuples rather than millions of small sets, which pickle and load several
    times quicker (this is read and written by every build): a set of names is one string, each name on a line
    of its own and the whole wrapped in newlines ("\\na\\nb\\n"), so that membership is a substring test."""

    shared_key: str
    versions: dict[str, str]  # slug -> a version that changes whenever the article's piece or input key can
    contributions: dict[str, tuple[str, str, str, str]]  # slug -> lines of (provides, touches, properties of
    # statements), and Piece.links
    providers: dict[str, tuple[str, ...]]  # IRI -> slugs of the articles that provide it
    touching: dict[str, tuple[str, ...]]  # IRI -> slugs of the articles that touch it
    properties: dict[str, int]  # property IRI -> how many articles' statements have it
    pages: dict[str, str]  # entity IRI (one with a page) -> lines of the slugs of the articles its page depends on
    keys: dict[str, str]  # entity IRI -> its page's key

    def depends(self, iri: str) -> list[str]:
        """Slugs of the articles the page of `iri` depends on."""
        return _split(self.pages[iri])

    def model(self, context: Context, iri: str, order: Mapping[str, int], load: Load) -> Model:
        """What the page of `iri` shows: the context and the pieces of the articles it depends on (in article
        order: `order` is slug -> position)."""
        return Model(context, [load(slug) for slug in sorted(self.depends(iri), key=order.__getitem__)])


def key(shared_key: str, slugs: Iterable[str], keys: Mapping[str, str]) -> str:
    """An entity page's key (SHA-256): of `shared_key` and of the `keys` (slug -> key of the article's inputs) of
    the articles it depends on."""
    digest = hashlib.sha256(shared_key.encode() + b"\0")
    for slug in sorted(slugs):
        digest.update(f"{slug}\0{keys[slug]}\0".encode())
    return digest.hexdigest()


def _lines(names: Iterable[str]) -> str:
    return "\n" + "".join(f"{n}\n" for n in sorted(names))


def _split(lines: str) -> list[str]:
    return lines[1:-1].split("\n") if len(lines) > 1 else []


def _contribution(piece: Piece) -> tuple[str, str, str, str]:
    return (_lines(piece.provides), _lines(piece.touches),
            _lines({st[1] for st in piece.layer.statements}), piece.links)


def _quiet(old: tuple, new: tuple, providers: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether an article's new contribution changes no page's dependencies: it provides and touches the same
    IRIs, its statements make the same links (Piece.links: only literal values differ), and no article provides
    a property it uses (a literal's property is all a page shows of it then, and a literal has no provider)."""
    return (old[:2] == new[:2] and old[3] == new[3]
            and not any(p in providers for p in {*_split(old[2]), *_split(new[2])}))


def _index(contributions: Mapping[str, tuple], slugs: Sequence[str], part: int) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for slug in slugs:
        for iri in _split(contributions[slug][part]):
            found.setdefault(iri, []).append(slug)
    return {iri: tuple(s) for iri, s in found.items()}


def compute(context: Context, pieces: Sequence[Piece], versions: Mapping[str, str], keys: Mapping[str, str],
            shared_key: str, *, model: Model | None = None) -> Dependencies:
    """Every page's dependencies and key, from every piece (in article order); `model` is their Model if made."""
    pages = (model or Model(context, pieces)).dependencies()
    contributions = {p.slug: _contribution(p) for p in pieces}
    slugs = [p.slug for p in pieces]
    properties: dict[str, int] = {}
    for slug in slugs:
        for p in _split(contributions[slug][2]):
            properties[p] = properties.get(p, 0) + 1
    return Dependencies(shared_key, dict(versions), contributions, _index(contributions, slugs, 0),
                        _index(contributions, slugs, 1), properties,
                        {iri: _lines(s) for iri, s in pages.items()},
                        {iri: key(shared_key, s, keys) for iri, s in pages.items()})


def update(previous: Dependencies | None, context: Context, slugs: Sequence[str], versions: Mapping[str, str],
           keys: Mapping[str, str], shared_key: str, load: Load, *, most: int | None = None,
           last: Callable[[str, str], Piece | None] | None = None) -> Dependencies | None:
    """`previous` brought up to date with the articles `slugs` (in article order) at `versions`, loading pieces
    with `load`; None when it cannot be (`compute` then): no `previous`, another shared key, more articles
    changed than `most` (default: 2 % of them, at least 16), or an article that provides a property's IRI.

    `last(slug, version)` may give an article's piece at its previous version: then a page that depends on a
    quietly edited article (`_quiet`) whose content cannot have changed (`_affected`) keeps its key, so that
    a build need not make it again; every other key is the one `compute` gives."""
    if previous is None or previous.shared_key != shared_key:
        return None
    changed = {s for s in slugs if previous.versions.get(s) != versions[s]} | (previous.versions.keys() - set(slugs))
    if not changed:
        return previous
    if len(changed) > (max(16, len(slugs) // 50) if most is None else most):
        return None
    loaded: dict[str, Piece] = {}

    def piece(slug: str) -> Piece:
        found = loaded.get(slug)
        if found is None:
            found = loaded[slug] = load(slug)
        return found

    order = {slug: i for i, slug in enumerate(slugs)}
    fresh = [s for s in slugs if s in changed]  # changed articles that are still there
    gone = {s: [_split(part) for part in previous.contributions[s][:3]] for s in changed if s in previous.contributions}
    contributions = {s: c for s, c in previous.contributions.items() if s not in changed}
    contributions.update((s, _contribution(piece(s))) for s in fresh)
    came = {s: [_split(part) for part in contributions[s][:3]] for s in fresh}
    providers, touching, properties = dict(previous.providers), dict(previous.touching), dict(previous.properties)
    for index, part in ((providers, 0), (touching, 1)):
        touched = {iri for parts in (*gone.values(), *came.values()) for iri in parts[part]}
        for iri in touched:
            held = [s for s in index.get(iri, ()) if s not in changed]
            held += [s for s in fresh if iri in came[s][part]]
            if held:
                index[iri] = tuple(sorted(held, key=order.__getitem__))
            else:
                index.pop(iri, None)
    for count, parts in [(-1, p) for p in gone.values()] + [(1, p) for p in came.values()]:
        for p in parts[2]:
            properties[p] = properties.get(p, 0) + count
            if not properties[p]:
                del properties[p]
    used = properties.keys() | {st[1] for st in context.layer.statements}
    if any(not used.isdisjoint(parts[0]) or not previous.properties.keys().isdisjoint(parts[0])
           for parts in (*gone.values(), *came.values())):
        return None  # an article provides a property's IRI

    # Pages that depend on an article whose edit is quiet (`_quiet`: a note added, a date changed) keep their
    # dependencies: only their keys change. The others are looked at again.
    quiet = {s for s in fresh if s in previous.contributions and _quiet(previous.contributions[s], contributions[s],
                                                                        providers)}
    look = _having(previous.pages, [f"\n{s}\n" for s in changed if s not in quiet])
    rekey = _having(previous.pages, [f"\n{s}\n" for s in quiet]) - look
    for slug in fresh:
        if slug in quiet:
            continue
        provides, touches = came[slug][:2]
        look.update(provides, touches)
        for node in provides:  # entities whose page shows `node`: linked to it by a statement
            layers = [context.layer] + [piece(s).layer for s in touching.get(node, ())]
            look.update(_linked(node, layers))

    pages, page_keys = dict(previous.pages), dict(previous.keys)  # (copied whole, then a few taken out: quicker)
    for iri in look:
        pages.pop(iri, None)
        page_keys.pop(iri, None)
    affected = {}  # quiet article -> the pages its edit can change (None: any page that depends on it)
    for slug in quiet:
        before = last(slug, previous.versions[slug]) if last is not None else None
        affected[slug] = _affected(before, piece(slug)) if before is not None else None
    for iri in rekey - look:
        lines = previous.pages[iri]
        if all(affected[s] is not None and iri not in affected[s] for s in quiet if f"\n{s}\n" in lines):
            continue  # its content is the same: its key stays
        page_keys[iri] = key(shared_key, _split(lines), keys)
    for iri in look:
        if not isinstance(iri, str) or not iri.startswith(EX):
            continue  # no page (a code list's concept, say, which thousands of articles touch)
        # whether it has a page: from the articles that provide it (being a subject, types) and the context
        if Model(context, [piece(s) for s in providers.get(iri, ())]).page(iri) is None:
            continue
        relevant = {*touching.get(iri, ()), *providers.get(iri, ())}
        model = Model(context, [piece(s) for s in sorted(relevant, key=order.__getitem__)])
        asserted, inferred = model.about(iri)
        found = depends_on(iri, asserted + inferred, touching, providers)
        pages[iri] = _lines(found)
        page_keys[iri] = key(shared_key, found, keys)
    return Dependencies(shared_key, dict(versions), contributions, providers, touching, properties, pages, page_keys)


def _having(pages: Mapping[str, str], marks: list[str]) -> set[str]:
    """The pages whose lines hold one of `marks`: one pass over a hundred thousand pages for each of a few marks
    (a substring test each), or one pass testing them all."""
    if len(marks) <= 8:
        return {iri for mark in marks for iri, lines in pages.items() if mark in lines}
    return {iri for iri, lines in pages.items() if any(mark in lines for mark in marks)}


def _affected(before: Piece, after: Piece) -> set[str] | None:
    """The entities whose pages a quiet edit (`_quiet`) from piece `before` to `after` of one article can
    change: the ends of the statements it adds or removes (a page shows the statements about its entity); None
    (any page that depends on the article) when it changes a label, a type, what is a subject, or an
    evidence span, which show on other pages too."""
    old, new = before.layer, after.layer
    if (old.labels, old.types, old.subjects, old.spans) != (new.labels, new.types, new.subjects, new.spans):
        return None
    found = set()
    for s, _, o, _ in set(old.statements) ^ set(new.statements):
        found.add(value(s))
        if isinstance(o, str):
            found.add(o)
    return found


def _linked(node: str, layers) -> set[str]:
    """The IRIs that a statement of `layers` links to `node` (the other end of each statement about it)."""
    found = set()
    for layer in layers:
        for s, _, o, _ in layer.statements:
            if value(s) == node or o == node:
                other = o if s == node else s
                if isinstance(other, str):
                    found.add(other)
    return found


# ---------------------------------------------------------------- the index page


@dataclass(frozen=True)
class IndexState:
    """What `report/index.html` is made of, kept from one build to the next so that an edit that changes no
    article's Piece.index_digest (an editorial note, a new quote for a fact, another title) makes the index from
    the kept rows and parts (kg.report.pages.index_page) instead of a model of every piece: 3.5 s of CPU at
    10,000 articles. The entities' parts (kg.report.pages.IndexParts) are a function of the context and of the
    pieces' digests alone, so they are kept apart, under `parts_key` (of the shared key and every digest)."""

    shared_key: str
    versions: dict[str, str]  # slug -> the version of its piece (as Dependencies.versions)
    digests: dict[str, bytes]  # slug -> Piece.index_digest
    rows: dict[str, str]  # slug -> its row (kg.report.pages.index_row)
    parts_key: str

    def rows_in(self, slugs: Sequence[str]) -> list[str]:
        return [self.rows[s] for s in slugs]


def parts_key(shared_key: str, digests: Iterable[bytes], picture_limit: int) -> str:
    """Names the index's parts about entities: of what the context is made of (`shared_key`), each piece's
    index digest (in any order: the parts merge the pieces as sets) and the picture's limit."""
    digest = hashlib.sha256(f"{shared_key}\0{picture_limit}\0".encode())
    for d in sorted(digests):
        digest.update(d)
    return digest.hexdigest()


def index_state(shared_key: str, pieces: Sequence[Piece], versions: Mapping[str, str],
                picture_limit: int) -> IndexState:
    """The index's state from every piece (in article order)."""
    from kg.report.pages import index_row

    digests = {p.slug: p.index_digest for p in pieces}
    return IndexState(shared_key, dict(versions), digests, {p.slug: index_row(p.row) for p in pieces},
                      parts_key(shared_key, digests.values(), picture_limit))


def update_index(previous: IndexState | None, slugs: Sequence[str], versions: Mapping[str, str], shared_key: str,
                 load: Load, picture_limit: int) -> IndexState | None:
    """`previous` brought up to date with the articles `slugs` (in article order) at `versions`, loading the
    pieces of those that changed; None without `previous`, with another shared key, or when more changed than
    a few (2 %, at least 16: a model of every piece is then as quick). Its parts may be new (`parts_key`)."""
    if previous is None or previous.shared_key != shared_key:
        return None
    changed = [s for s in slugs if previous.versions.get(s) != versions[s]]
    if not changed and len(slugs) == len(previous.versions):
        return previous
    if len(changed) > max(16, len(slugs) // 50):
        return None
    from kg.report.pages import index_row

    digests, rows = {}, {}
    for slug in slugs:
        if previous.versions.get(slug) == versions[slug]:
            digests[slug], rows[slug] = previous.digests[slug], previous.rows[slug]
        else:
            piece = load(slug)
            digests[slug], rows[slug] = piece.index_digest, index_row(piece.row)
    return IndexState(shared_key, {s: versions[s] for s in slugs}, digests, rows,
                      parts_key(shared_key, digests.values(), picture_limit))
