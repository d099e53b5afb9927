"""HTML pages of the report: index, one per article, one per entity. Plain strings, escaped here."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Iterable

import pyoxigraph as ox

from kg.namespaces import KG, XSD
from kg.report.model import DERIVED, KIND_NAMES, LABEL, NOTE, TYPE, ArticleView, Lit, Model, Row, Span, ntriples, value

# The picture's caption when it shows every entity (kg.report.picture says when it does not).
CAPTION = """People, states, meetings, visits, forums and agreements, and how they connect.
Each shape links to its page."""

DATA_FILES = ("kg.ttl", "kg.jsonld", "kg.nt", "kg.nq", "kg.trig")
_HIDDEN = {TYPE, LABEL, DERIVED, NOTE}


def asset(name: str) -> str:
    return resources.files("kg.report").joinpath(name).read_text(encoding="utf-8")


def page(title: str, body: str, *, depth: int, script: bool = False) -> bytes:
    up = "../" * depth
    js = f"<script>\n{asset('report.js')}</script>\n" if script else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · kg report</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{up}style.css">
</head>
<body>
<header>
<a class="home" href="{up}index.html">kg report</a>
<nav aria-label="Report">
<ul>
<li><a href="{up}index.html#articles">Articles</a></li>
<li><a href="{up}index.html#entities">Entities</a></li>
<li><a href="{up}index.html#picture">Graph</a></li>
<li><a href="{up}ontology.html">Ontology</a></li>
</ul>
</nav>
</header>
<main>
{body}</main>
{js}</body>
</html>
""".encode("utf-8")


def a(href: str, text: str, **data: str) -> str:
    attributes = "".join(f' data-{k}="{escape(v)}"' for k, v in data.items())
    return f'<a href="{escape(href)}"{attributes}>{escape(text)}</a>'


def term(model: Model, node, up: str) -> str:
    """A node or value (an IRI, ox.BlankNode or Lit) as HTML: a link to its page, a label, or a literal."""
    if isinstance(node, Lit):
        text = escape(node.value)
        if node.datatype in (XSD + "date", XSD + "gYearMonth", XSD + "gYear", XSD + "duration"):
            return f"<time>{text}</time>" if node.datatype != XSD + "duration" else f"<code>{text}</code>"
        return text
    if isinstance(node, ox.BlankNode):
        return "<i>(blank node)</i>"
    page_path = model.page(node)
    if page_path:
        return a(up + page_path, model.label(node), iri=node)
    return f'<span data-iri="{escape(node)}">{escape(model.label(node))}</span>'


def span_href(span: Span, up: str) -> str:
    return f"{up}articles/{span.slug}.html#at-{span.key}"


def quotes(model: Model, spans, up: str) -> str:
    if not spans:
        return '<span class="muted">registry</span>'
    items = "".join(f"<li>{a(span_href(s, up), '“' + s.exact + '”')}</li>" for s in spans)
    return f'<ul class="quotes">{items}</ul>'


def class_names(model: Model, iri: str) -> str:
    names = sorted({model.label(t) for t in model.classes(iri)})
    return ", ".join(names)


# ---------------------------------------------------------------- index


@dataclass(frozen=True)
class IndexParts:
    """What the index shows of the entities: a function of the context and of what the index reads of each
    piece besides its row (kg.report.model.Piece.index_digest), not of the articles' rows, their order or the
    dataset's size. A build keeps it while those digests stay (kg.report.incremental.IndexState)."""

    entities: int  # how many have a page
    classes: str  # rows of the table of entities per class
    figure: str  # the picture and its caption
    lists: str  # the lists of entities by class


def index(model: Model, picture: str, caption: str = CAPTION) -> bytes:
    """`report/index.html` of a model of every piece, with its picture (inline SVG) and caption."""
    return index_page([index_row(row) for row in model.articles], index_parts(model, picture, caption),
                      quads=model.quads, conforms=model.conforms, findings=model.findings)


def index_row(row: Row) -> str:
    """An article's row in the index's table of articles."""
    return (f"<tr><td>{a(f'articles/{row.slug}.html', row.title)}</td><td>{row.spans}</td><td>{row.facts}</td>"
            f"<td>{row.covered}/{row.sentences} ({row.percent:.0f} %)</td>"
            f"<td>{row.excluded}</td></tr>")


def index_parts(model: Model, picture: str, caption: str = CAPTION) -> IndexParts:
    """The index's parts about entities. What they read of the pieces (labels, types, subjects, statements
    other than literal values of properties outside kg:) is what Piece.index_digest hashes: keep the two
    together."""
    counts: dict[str, int] = {}
    for iri in model.entities:
        for t in model.types.get(iri, ()):
            if t.startswith(KG):
                counts[t] = counts.get(t, 0) + 1
    class_rows = "".join(
        f'<tr><td><a href="ontology.html#{escape(t[len(KG):])}">{escape(model.label(t))}</a></td><td>{n}</td></tr>'
        for t, n in sorted(counts.items(), key=lambda item: (model.label(item[0]), item[0]))
    )
    groups: dict[str, list[str]] = {}
    for iri in model.entities:
        groups.setdefault(class_names(model, iri) or "other", []).append(iri)
    entity_lists = "".join(
        f"<h3>{escape(name)}</h3><ul class=\"columns\">"
        + "".join(f"<li>{a(model.page(i), model.label(i))}</li>" for i in sorted(iris, key=lambda i: (model.label(i), i)))
        + "</ul>"
        for name, iris in sorted(groups.items())
    )
    figure = f"{picture}<figcaption>{escape(caption, quote=False)}</figcaption>"
    return IndexParts(len(model.entities), class_rows, figure, entity_lists)


def index_page(rows: Iterable[str], parts: IndexParts, *, quads: int, conforms: bool, findings: int) -> bytes:
    """`report/index.html` from its parts: the articles' rows (`index_row`, in article order), the entities'
    parts, the dataset's size and the validation's result."""
    rows = list(rows)
    status = (
        '<p class="ok">The graph conforms to the SHACL shapes.</p>' if conforms
        else f'<p class="bad">The graph does not conform: {findings} result(s).</p>'
    )
    downloads = " ".join(a(f"../{name}", name) for name in DATA_FILES)
    body = f"""<h1>Evidence report</h1>
<p>{len(rows)} article(s), {parts.entities} entities, {quads} quads
(asserted and inferred). Every fact points at the words of the article that back it.</p>
<section id="validation" aria-labelledby="validation-h">
<h2 id="validation-h">Validation</h2>
{status}
<p>Data: {downloads}. Ontology: <a href="ontology.html">documentation</a>.</p>
</section>
<section id="articles" aria-labelledby="articles-h">
<h2 id="articles-h">Articles</h2>
<table>
<thead><tr><th scope="col">Article</th><th scope="col">Evidence spans</th><th scope="col">Facts</th>
<th scope="col">Sentences covered</th><th scope="col">Excluded</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
</table>
</section>
<section id="classes" aria-labelledby="classes-h">
<h2 id="classes-h">Entities per class</h2>
<table>
<thead><tr><th scope="col">Class</th><th scope="col">Entities</th></tr></thead>
<tbody>{parts.classes}</tbody>
</table>
</section>
<section id="picture" aria-labelledby="picture-h">
<h2 id="picture-h">Who met whom, what was signed</h2>
<figure>
{parts.figure}
</figure>
</section>
<section id="entities" aria-labelledby="entities-h">
<h2 id="entities-h">Entities</h2>
{parts.lists}
</section>
"""
    return page("Evidence report", body, depth=0)


# ---------------------------------------------------------------- article


def _segments(view: ArticleView):
    """Cut the text where a paragraph, sentence or span starts or ends; yield (start, end, spans covering)."""
    cuts = {0, len(view.text)}
    for line in view.coverage.lines:
        cuts |= {line.start, line.end}
    offset = 0
    for paragraph in view.text.split("\n"):
        cuts |= {offset, offset + len(paragraph)}
        offset += len(paragraph) + 1
    for span in view.spans:
        cuts |= {span.start, span.end}
    points = sorted(c for c in cuts if 0 <= c <= len(view.text))
    for start, end in zip(points, points[1:]):
        yield start, end, [s for s in view.spans if s.start <= start and end <= s.end]


def article(model: Model, view: ArticleView) -> bytes:
    text = view.text
    lines = {line.index: line for line in view.coverage.lines}
    starts = {}
    for span in view.spans:
        starts.setdefault(span.start, []).append(span)

    def sentence_at(offset: int):
        for line in view.coverage.lines:
            if line.start <= offset < line.end:
                return line
        return None

    paragraphs, current, open_sentence = [], [], None

    def close_sentence():
        nonlocal open_sentence
        if open_sentence is not None:
            line = lines[open_sentence]
            current.append("</span>")
            if line.status == "excluded":
                current.append(f' <small class="reason">Excluded: {escape(line.excluded)}</small>')
            elif line.status == "MISSING":
                current.append(' <small class="reason missing">Backs no fact and is not excluded.</small>')
            open_sentence = None

    for start, end, covering in _segments(view):
        chunk = text[start:end]
        if chunk == "\n":
            close_sentence()
            paragraphs.append("".join(current))
            current = []
            continue
        line = sentence_at(start)
        if (line.index if line else None) != open_sentence:
            close_sentence()
            if line is not None:
                status = {"fact": "backs", "excluded": "excluded", "MISSING": "missing"}[line.status]
                current.append(f'<span class="sentence {status}" id="sentence-{line.index}" data-start="{line.start}">')
                open_sentence = line.index
        for span in starts.pop(start, []):
            current.append(f'<span class="anchor" id="at-{span.key}"></span>')
        if covering:
            inner = min(covering, key=lambda s: (s.end - s.start, s.start))
            kinds = sorted({model.kind(f) for s in covering for f in s.facts}, key=KIND_NAMES.index)
            main = sorted({model.kind(f) for f in inner.facts}, key=KIND_NAMES.index)[0]
            depth = " nested" if len(covering) > 1 else ""
            current.append(
                f'<a class="ev k-{main}{depth}" href="#span-{inner.key}" data-start="{start}" data-end="{end}"'
                f' data-spans="{" ".join(s.key for s in covering)}" data-kinds="{" ".join(kinds)}">{escape(chunk)}</a>'
            )
        else:
            current.append(escape(chunk))
    close_sentence()
    paragraphs.append("".join(current))
    body_text = "\n".join(f"<p>{p}</p>" for p in paragraphs if p.strip())

    evidence = []
    for span in view.spans:
        facts = "".join(
            f'<li data-fact="{escape(f)}">{term(model, f, "../")} '
            f'<span class="tag k-{model.kind(f)}">{escape(model.kind(f))}</span></li>'
            for f in span.facts
        )
        sentence = sentence_at(span.start)
        where = f'sentence <a href="#sentence-{sentence.index}">{sentence.index}</a>, ' if sentence else ""
        evidence.append(
            f'<li id="span-{span.key}" data-span="{escape(span.iri)}"><p><q>{escape(span.exact)}</q> '
            f'<small>({where}characters <a href="#at-{span.key}">{span.start}–{span.end}</a>)</small></p>'
            f'<ul>{facts}</ul></li>'
        )
    legend = "".join(f'<li><span class="tag k-{k}">{k}</span></li>' for k in KIND_NAMES)
    c = view.coverage
    body = f"""<h1>{escape(view.title)}</h1>
<p>{len(view.spans)} evidence spans; {c.covered} of {len(c.lines)} sentences back a fact or are excluded with a
reason ({c.percent:.0f} %). Select highlighted words to see the facts they back.</p>
<ul class="legend" aria-label="Kinds of fact">{legend}</ul>
<div class="reader">
<article id="text" aria-label="Article text">
{body_text}
</article>
<aside id="selection" aria-live="polite" aria-labelledby="selection-h">
<h2 id="selection-h">Selected evidence</h2>
<p class="muted">Nothing selected.</p>
</aside>
</div>
<section id="evidence" aria-labelledby="evidence-h">
<h2 id="evidence-h">Evidence spans and the facts they back</h2>
<ol class="evidence">
{"".join(evidence)}
</ol>
</section>
"""
    return page(view.title, body, depth=1, script=True)


# ---------------------------------------------------------------- entity


def _rows(model: Model, statements, iri: str, up: str) -> str:
    rows = []
    for st in statements:
        subject, predicate, object_, inferred = st
        outgoing = subject == iri
        other = object_ if outgoing else subject
        fact = value(subject) if value(subject) in model.evidence else value(object_)
        spans = model.evidence.get(fact, ()) if not inferred else ()
        prop = model.label(predicate)
        phrase = prop if outgoing else f"is {prop} of"
        backing = '<span class="muted">inferred</span>' if inferred else quotes(model, spans, up)
        direction = "out" if outgoing else "in"
        rows.append(
            f'<tr data-p="{escape(predicate)}" data-dir="{direction}">'
            f'<th scope="row">{escape(phrase)}</th><td>{term(model, other, up)}</td><td>{backing}</td></tr>'
        )
    return "".join(rows)


def entity(model: Model, iri: str) -> bytes:
    up = "../"
    label = model.label(iri)

    def ordered(statements):
        chosen = [st for st in statements if st[1] not in _HIDDEN]
        return sorted(chosen, key=lambda st: (st[0] != iri, model.label(st[1]), st[1], model.label(st[2]),
                                             ntriples(st[2]), value(st[0])))

    all_asserted, all_inferred = model.about(iri)
    asserted = ordered(all_asserted)
    known = {st[:3] for st in all_asserted}
    inferred = [st for st in ordered(all_inferred)
                if st[1].startswith(KG) and st[:3] not in known]
    notes = sorted(value(o) for s, p, o, _ in all_asserted if s == iri and p == NOTE)
    spans = model.evidence.get(iri, ())
    head = '<tr><th scope="col">Relation</th><th scope="col">Value</th><th scope="col">Evidence</th></tr>'
    sections = [f"""<h1>{escape(label)}</h1>
<p class="types">{escape(class_names(model, iri))} · <code>{escape(iri)}</code></p>
"""]
    if spans:
        sections.append(f'<section aria-labelledby="evidence-h"><h2 id="evidence-h">Evidence</h2>'
                        f"{quotes(model, spans, up)}</section>\n")
    sections.append(f"""<section aria-labelledby="facts-h">
<h2 id="facts-h">Facts</h2>
<table class="facts" id="facts">
<thead>{head}</thead>
<tbody>{_rows(model, asserted, iri, up)}</tbody>
</table>
</section>
""")
    if inferred:
        sections.append(f"""<section aria-labelledby="inferred-h">
<h2 id="inferred-h">Inferred by the reasoner</h2>
<table class="facts" id="inferred">
<thead>{head}</thead>
<tbody>{_rows(model, inferred, iri, up)}</tbody>
</table>
</section>
""")
    if notes:
        items = "".join(f"<li>{escape(n)}</li>" for n in notes)
        sections.append(f'<section aria-labelledby="notes-h"><h2 id="notes-h">Curator\'s notes</h2><ul>{items}</ul></section>\n')
    return page(label, "".join(sections), depth=1)

