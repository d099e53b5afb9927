"""The graph as a picture: people, states, meetings, visits and agreements and how they connect,
laid out by Graphviz's `dot` and returned as SVG ready to embed inline in HTML."""

from __future__ import annotations

import re
import textwrap

import graphviz

from kg.errors import KgError, Problem
from kg.namespaces import EX, KG
from kg.report.model import Model

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


def _style(model: Model, iri: str):
    for cls, shape, fill in STYLES:
        if model.has_type(iri, cls):
            return shape, fill
    return None


def _node_id(iri: str) -> str:
    return "g-" + re.sub(r"[^A-Za-z0-9_-]", "_", iri[len(EX):])


def _wrap(label: str) -> str:
    return "\n".join(textwrap.wrap(label, 26)) or label


def dot_source(model: Model, *, link_prefix: str = "") -> graphviz.Digraph:
    nodes = sorted(iri for iri in model.entities if _style(model, iri))
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
    for st in model.asserted:
        s, o = st.subject.value, getattr(st.object, "value", None)
        if s in included and o in included and st.predicate.value.startswith(KG):
            edges.add((s, o, model.label(st.predicate)))
    # A person holds an office of a state: draw it as one edge, named after the office.
    holdings: dict[str, dict[str, str]] = {}
    for st in model.asserted:
        if st.predicate.value in (HOLDER, OFFICE):
            holdings.setdefault(st.subject.value, {})[st.predicate.value] = st.object.value
    office_of = {st.subject.value: st.object.value for st in model.asserted if st.predicate.value == OFFICE_OF}
    for holding in holdings.values():
        person, office = holding.get(HOLDER), holding.get(OFFICE)
        state = office_of.get(office)
        if person in included and state in included:
            edges.add((person, state, model.label(office)))
    for number, (s, o, label) in enumerate(sorted(edges), 1):
        chart.edge(_node_id(s), _node_id(o), _wrap(label), id=f"e-{number}")
    return chart


def svg(model: Model, *, link_prefix: str = "") -> str:
    """Inline SVG (no XML declaration, doctype or comments; those carry Graphviz's version)."""
    chart = dot_source(model, link_prefix=link_prefix)
    try:
        data = chart.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound as error:
        raise KgError(Problem("Graphviz's `dot` is not on PATH (Debian: apt-get install graphviz)")) from error
    data = re.sub(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->", "", data, flags=re.S)
    # The first <title> names the graph ("kg"); a figure caption says more.
    data = re.sub(r"<title>kg</title>\s*", "", data, count=1)
    return data.strip() + "\n"
