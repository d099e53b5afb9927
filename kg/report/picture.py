"""The graph as a picture: people, states, meetings, visits and agreements and how they connect,
laid out by Graphviz's `dot` and returned as SVG ready to embed inline in HTML.

`dot` takes time that grows faster than the graph, and a picture of thousands of shapes shows nothing: the full
picture is drawn only when it has at most `LIMIT` shapes (the real project has 21; a synthetic corpus, whose
registry alone holds 220 people and states, up to about six articles). Above that, `figure` draws a summary whose
size does not grow with the corpus: the states, joined by the number of meetings, visits and agreements that
involve both of them (directly, or through the offices their people hold), the `STRONGEST` pairs only, laid out
by `neato` (at most 2 × STRONGEST shapes). Deciding which picture to draw costs one pass over the statements."""

from __future__ import annotations

import re
import textwrap

import graphviz

from kg.errors import KgError, Problem
from kg.namespaces import EX, KG
from kg.report.model import Model, value

# class -> (node shape, fill); the first class an entity has decides.
STYLES = (
    (KG + "Person", "ellipse", "#cfe8ff"),
    (KG + "State", "box", "#e6e6e6"),
    (KG + "Meeting", "octagon", "#cfe8ff"),
    (KG + "Visit", "house", "#d9f2d0"),
    (KG + "Forum", "hexagon", "#ffd6e0"),
    (KG + "AgreementSigning", "hexagon", "#ffd6e0"),
    (KG + "Agreement", "note", "#ffe2b8"),
)
HOLDER, OFFICE, OFFICE_OF = KG + "holder", KG + "office", KG + "officeOf"
STATE, PERSON = KG + "State", KG + "Person"
LIMIT = 300  # shapes the full picture may have; with more, `figure` draws the summary by state
STRONGEST = 60  # pairs of states the summary shows at most
EVENTS = ("meeting", "visit", "agreement")  # kinds of fact (kg.report.model.KINDS) the summary counts


def _style(model: Model, iri: str):
    for cls, shape, fill in STYLES:
        if model.has_type(iri, cls):
            return shape, fill
    return None


def _node_id(iri: str) -> str:
    return "g-" + re.sub(r"[^A-Za-z0-9_-]", "_", iri[len(EX):])


def _wrap(label: str) -> str:
    return "\n".join(textwrap.wrap(label, 26)) or label


def _nodes(model: Model) -> list[str]:
    return sorted(iri for iri in model.entities if _style(model, iri))


def figure(model: Model, *, limit: int = LIMIT) -> tuple[str, str | None]:
    """The index's picture and its caption (None: the default caption, kg.report.pages.CAPTION).

    Every person, state, meeting, visit, forum and agreement when there are at most `limit` of them;
    otherwise the summary by state."""
    count = len(_nodes(model))
    if count <= limit:
        return svg(model), None
    chart, pairs = states_source(model)
    caption = (f"{count} people, states, meetings, visits, forums and agreements are too many to draw one by one "
               f"(the picture shows at most {limit}). Instead: states, joined by the number of meetings, visits "
               f"and agreements that involve both of them, directly or through their people's offices")
    caption += (f" (the {STRONGEST} strongest pairs of {pairs})." if pairs > STRONGEST
                else "." if pairs else " (there are none).")
    return _render(chart), caption + "\nEach state links to its page."


def states_source(model: Model) -> tuple[graphviz.Graph, int]:
    """States joined by how many meetings, visits and agreements involve both; and how many pairs there are."""
    holders: dict[str, set[str]] = {}  # office holding -> people
    offices: dict[str, set[str]] = {}  # office holding -> offices
    office_of: dict[str, set[str]] = {}
    links: dict[str, set[str]] = {}  # event -> what it points at (kg: properties)
    event: dict[str, bool] = {}  # subject -> whether it is a meeting, visit or agreement
    for s, p, o, _ in model.statements():
        if not isinstance(o, str) or not isinstance(s, str) or not p.startswith(KG):
            continue
        if p == HOLDER:
            holders.setdefault(s, set()).add(o)
        elif p == OFFICE:
            offices.setdefault(s, set()).add(o)
        elif p == OFFICE_OF:
            office_of.setdefault(s, set()).add(o)
        known = event.get(s)
        if known is None:
            known = event[s] = model.kind(s) in EVENTS
        if known:
            links.setdefault(s, set()).add(o)
    states_of: dict[str, set[str]] = {}  # person -> the states whose offices they hold
    for holding, people in holders.items():
        states = {state for office in offices.get(holding, ()) for state in office_of.get(office, ())}
        for person in people:
            states_of.setdefault(person, set()).update(states)
    pairs: dict[tuple[str, str], int] = {}
    for event, targets in links.items():
        states = set()
        for target in targets:
            if model.has_type(target, STATE):
                states.add(target)
            elif model.has_type(target, PERSON):
                states |= states_of.get(target, set())
        states = sorted(s for s in states if model.has_type(s, STATE))
        for i, first in enumerate(states):
            for second in states[i + 1:]:
                pairs[first, second] = pairs.get((first, second), 0) + 1
    strongest = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:STRONGEST]
    chart = graphviz.Graph("kg", graph_attr={
        "layout": "neato", "overlap": "false", "splines": "true", "fontname": "Helvetica",
        "bgcolor": "transparent", "id": "kg-graph", "start": "1",
    }, node_attr={"fontname": "Helvetica", "fontsize": "10", "style": "filled", "color": "#333333",
                  "shape": "box", "fillcolor": "#e6e6e6"},
        edge_attr={"fontname": "Helvetica", "fontsize": "8", "color": "#555555", "fontcolor": "#222222"})
    heaviest = strongest[0][1] if strongest else 1
    for iri in sorted({state for pair, _ in strongest for state in pair}):
        page = model.page(iri)
        chart.node(_node_id(iri), _wrap(model.label(iri)), id=_node_id(iri), URL=page or "",
                   tooltip=model.label(iri))
    for number, ((first, second), n) in enumerate(strongest, 1):
        chart.edge(_node_id(first), _node_id(second), str(n), id=f"e-{number}",
                   penwidth=f"{1 + 3 * n / heaviest:.2f}",
                   tooltip=f"{model.label(first)} and {model.label(second)}: {n}")
    return chart, len(pairs)


def dot_source(model: Model, *, link_prefix: str = "") -> graphviz.Digraph:
    nodes = _nodes(model)
    included = set(nodes)
    chart = graphviz.Digraph("kg", graph_attr={
        "rankdir": "LR", "fontname": "Helvetica", "bgcolor": "transparent", "id": "kg-graph",
        "nodesep": "0.25", "ranksep": "0.6",
    }, node_attr={"fontname": "Helvetica", "fontsize": "10", "style": "filled", "color": "#333333"},
        edge_attr={"fontname": "Helvetica", "fontsize": "8", "color": "#555555", "fontcolor": "#222222"})
    for iri in nodes:
        shape, fill = _style(model, iri)
        page = model.page(iri)
        chart.node(_node_id(iri), _wrap(model.label(iri)), shape=shape, fillcolor=fill, id=_node_id(iri),
                   URL=link_prefix + page if page else "", tooltip=model.label(iri))
    edges = set()
    for s, p, o, _ in model.asserted:
        s, o = value(s), value(o)
        if s in included and o in included and p.startswith(KG):
            edges.add((s, o, model.label(p)))
    # A person holds an office of a state: draw it as one edge, named after the office.
    holdings: dict[str, dict[str, str]] = {}
    for s, p, o, _ in model.asserted:
        if p in (HOLDER, OFFICE):
            holdings.setdefault(value(s), {})[p] = value(o)
    office_of = {value(s): value(o) for s, p, o, _ in model.asserted if p == OFFICE_OF}
    for holding in holdings.values():
        person, office = holding.get(HOLDER), holding.get(OFFICE)
        state = office_of.get(office)
        if person in included and state in included:
            edges.add((person, state, model.label(office)))
    for number, (s, o, label) in enumerate(sorted(edges), 1):
        chart.edge(_node_id(s), _node_id(o), _wrap(label), id=f"e-{number}")
    return chart


def svg(model: Model, *, link_prefix: str = "") -> str:
    """The full picture as inline SVG."""
    return _render(dot_source(model, link_prefix=link_prefix))


def _render(chart) -> str:
    """Inline SVG (no XML declaration, doctype or comments; those carry Graphviz's version)."""
    try:
        data = chart.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound as error:
        raise KgError(Problem("Graphviz's `dot` is not on PATH (Debian: apt-get install graphviz)")) from error
    data = re.sub(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->", "", data, flags=re.S)
    # The first <title> names the graph ("kg"); a figure caption says more.
    data = re.sub(r"<title>kg</title>\s*", "", data, count=1)
    return data.strip() + "\n"
