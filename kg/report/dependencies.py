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

from kg.report.model import Context, Model, Piece, depends_on, value

Load = Callable[[str], Piece]  # slug -> the article's piece


@dataclass(frozen=True)
class Dependencies:
    shared_key: str
    versions: dict[str, str]  # slug -> a version that changes whenever the article's piece or input key can
    contributions: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]]  # (provides, touches, properties)
    pages: dict[str, frozenset[str]]  # entity IRI (one with a page) -> slugs of the articles its page depends on
    keys: dict[str, str]  # entity IRI -> its page's key

    def model(self, context: Context, iri: str, order: Mapping[str, int], load: Load) -> Model:
        """What the page of `iri` shows: the context and the pieces of the articles it depends on (in article
        order: `order` is slug -> position)."""
        return Model(context, [load(slug) for slug in sorted(self.pages[iri], key=order.__getitem__)])


def key(shared_key: str, slugs: Iterable[str], keys: Mapping[str, str]) -> str:
    """An entity page's key (SHA-256): of `shared_key` and of the `keys` (slug -> key of the article's inputs) of
    the articles it depends on."""
    digest = hashlib.sha256(shared_key.encode() + b"\0")
    for slug in sorted(slugs):
        digest.update(f"{slug}\0{keys[slug]}\0".encode())
    return digest.hexdigest()


def _contribution(piece: Piece) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    return piece.provides, piece.touches, frozenset(st[1] for st in piece.layer.statements)


def compute(context: Context, pieces: Sequence[Piece], versions: Mapping[str, str], keys: Mapping[str, str],
            shared_key: str, *, model: Model | None = None) -> Dependencies:
    """Every page's dependencies and key, from every piece (in article order); `model` is their Model if made."""
    pages = (model or Model(context, pieces)).dependencies()
    return Dependencies(shared_key, dict(versions), {p.slug: _contribution(p) for p in pieces}, pages,
                        {iri: key(shared_key, slugs, keys) for iri, slugs in pages.items()})


def update(previous: Dependencies | None, context: Context, slugs: Sequence[str], versions: Mapping[str, str],
           keys: Mapping[str, str], shared_key: str, load: Load, *, most: int | None = None) -> Dependencies | None:
    """`previous` brought up to date with the articles `slugs` (in article order) at `versions`, loading pieces
    with `load`; None when it cannot be (`compute` then): no `previous`, another shared key, more articles
    changed than `most` (default: 2 % of them, at least 16), or an article that provides a property's IRI."""
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

    contributions = {s: c for s, c in previous.contributions.items() if s not in changed}
    fresh = [s for s in slugs if s in changed]  # changed articles that are still there
    contributions.update((s, _contribution(piece(s))) for s in fresh)
    before = [previous.contributions[s] for s in changed if s in previous.contributions]
    properties = {st[1] for st in context.layer.statements}.union(
        *(c[2] for c in contributions.values()), *(c[2] for c in before))
    if any(not properties.isdisjoint(c[0]) for c in before + [contributions[s] for s in fresh]):
        return None
    providers: dict[str, list[str]] = {}
    touching: dict[str, list[str]] = {}
    for slug, (provides, touches, _) in contributions.items():
        for iri in provides:
            providers.setdefault(iri, []).append(slug)
        for iri in touches:
            touching.setdefault(iri, []).append(slug)

    look = {iri for iri, slugs_ in previous.pages.items() if not changed.isdisjoint(slugs_)}
    for slug in fresh:
        provides, touches, _ = contributions[slug]
        look |= provides | touches
        for node in provides:  # entities whose page shows `node`: linked to it by a statement
            layers = [context.layer] + [piece(s).layer for s in touching.get(node, ())]
            look.update(_linked(node, layers))

    order = {slug: i for i, slug in enumerate(slugs)}
    pages = {iri: s for iri, s in previous.pages.items() if iri not in look}
    page_keys = {iri: k for iri, k in previous.keys.items() if iri not in look}
    for iri in look:
        relevant = {*touching.get(iri, ()), *providers.get(iri, ())}
        model = Model(context, [piece(s) for s in sorted(relevant, key=order.__getitem__)])
        if model.page(iri) is None:
            continue
        asserted, inferred = model.about(iri)
        pages[iri] = depends_on(iri, asserted + inferred, touching, providers)
        page_keys[iri] = key(shared_key, pages[iri], keys)
    return Dependencies(shared_key, dict(versions), contributions, pages, page_keys)


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
