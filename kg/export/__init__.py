"""Serialise the built dataset. Every writer sorts, so the same graph gives the same bytes.

Turtle and TriG are written here rather than by a library so that the layout is ours and stable:
one block per subject, `a` first, then rdfs:label, then the other predicates by prefixed name,
objects sorted; literals exactly as the curator wrote them. JSON-LD is compacted with the project's
context by our own writer (kg.export.jsonld). Output is assembled from per-unit pieces
(kg.export.pieces), which the build can keep from one run to the next:

    pieces = [piece(unit_quads, context=context) for unit_quads in units]   # or piece_from_nquads(bytes)
    assemble(pieces, "ttl", context=context) == serialize(all_quads, "ttl", context=context)
    write(pieces, "nq", stream)            # the same bytes, streamed
    [p.only("ttl") for p in pieces]        # just the parts assembling Turtle reads (NEEDS)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox

from .pieces import (FORMAT_NAMES, NEEDS, Graphs, Piece, Subjects, assemble, chunks, layout, load_all, piece,
                     piece_from_nquads, stream_graphs, stream_nt, write)

__all__ = ["FORMATS", "Format", "Graphs", "NEEDS", "Piece", "Subjects", "assemble", "canonical", "chunks", "layout",
           "load_all", "piece", "piece_from_nquads", "read_context", "serialize", "stream_graphs",
           "stream_nt", "write"]


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    extension: str
    graphs: bool  # keeps named graphs
    rdf_format: ox.RdfFormat | None


FORMATS: dict[str, Format] = {
    "ttl": Format("ttl", "text/turtle", ".ttl", False, ox.RdfFormat.TURTLE),
    "jsonld": Format("jsonld", "application/ld+json", ".jsonld", False, ox.RdfFormat.JSON_LD),
    "nt": Format("nt", "application/n-triples", ".nt", False, ox.RdfFormat.N_TRIPLES),
    "nq": Format("nq", "application/n-quads", ".nq", True, ox.RdfFormat.N_QUADS),
    "trig": Format("trig", "application/trig", ".trig", True, ox.RdfFormat.TRIG),
}
assert set(FORMATS) == set(FORMAT_NAMES)

_INFERRED = "/inferred>"


def serialize(quads: Iterable[ox.Quad], format: str, *, context: dict | None = None) -> bytes:
    """One format of the dataset. `context` (a JSON-LD @context) is needed for jsonld only.

    The quads are rendered as one piece per unit (a graph together with its "…/inferred" graph) and
    assembled, which is quicker and leaner than one big piece; the bytes do not depend on the split."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    units: dict[str, list[ox.Quad]] = {}
    for q in quads:
        graph = str(q.graph_name)
        unit = graph[: -len(_INFERRED)] + ">" if graph.endswith(_INFERRED) else graph
        units.setdefault(unit, []).append(q)
    pieces = [piece(units.pop(unit), context=context, formats=(format,)) for unit in sorted(units)]
    return assemble(pieces, format, context=context)


def canonical(quads: Iterable[ox.Quad]) -> list[ox.Quad]:
    """The quads with blank nodes renamed by RDFC-1.0, so their labels do not depend on parsing."""
    dataset = ox.Dataset(quads)
    if any(isinstance(q.subject, ox.BlankNode) or isinstance(q.object, ox.BlankNode) for q in dataset):
        dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    return list(dataset)


def read_context(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
