"""Output files assembled from per-unit pieces.

A `Piece` is what one unit of the dataset (an article's graphs, the registry's, the ontology) contributes
to each output format, rendered once and kept by the build's cache: N-Quads lines and a TriG block per
graph; per subject its N-Triples lines, its Turtle block and its JSON-LD node. `assemble` puts the pieces
of every unit together into exactly the bytes `kg.export.serialize` writes for all their quads, without
re-rendering what no other piece touches:

- graphs (N-Quads, TriG) are ordered by name; a graph found in several pieces is merged from its quads;
- subjects (N-Triples, Turtle, JSON-LD: the union of the graphs) are ordered as each format orders them;
  a subject found in several pieces — a registry entity that articles' inferred graphs say more about —
  is written again from its N-Triples lines in all of them;
- blank nodes: a piece with blank nodes labels them by RDFC-1.0 over its own quads, which is what the
  whole dataset's canonicalisation gives them as long as no other piece has blank nodes (the labels of a
  blank node depend only on the quads that mention blank nodes). When several pieces have some, they
  are rendered again as one piece from their quads as given (kept in `Piece.blank` for this).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field, replace
from itertools import groupby, repeat
from operator import itemgetter
from typing import IO, Callable, Iterable, Iterator, Sequence

import pyoxigraph as ox

from . import jsonld as _jsonld
from . import turtle as _turtle
from .terms import DEFAULT_GRAPH, expand_turtle, prefix_block, turtle_term

FORMAT_NAMES = ("nq", "trig", "nt", "ttl", "jsonld")
# The parts assembling a format reads: Turtle and JSON-LD write a subject found in several pieces again
# from its N-Triples lines. (TriG writes a graph found in several pieces again from its N-Quads lines:
# pieces that split a graph need their nq parts too; units never do.)
NEEDS = {"nq": ("nq",), "trig": ("trig",), "nt": ("nt",), "ttl": ("ttl", "nt"), "jsonld": ("jsonld", "nt")}


@dataclass(frozen=True, slots=True)
class Graphs:
    """N-Quads or TriG of a piece: a block per graph. A graph's key is pyoxigraph's str() of its name
    ("DEFAULT" for the default graph)."""

    keys: tuple[str, ...] = ()  # sorted
    blocks: tuple[bytes, ...] = ()
    masks: tuple[int, ...] = ()  # TriG: the prefixes each block uses (kg.export.terms.PREFIX_BITS)


@dataclass(frozen=True, slots=True)
class Subjects:
    """N-Triples, Turtle or JSON-LD of a piece: a block per subject (of the union of its graphs)."""

    keys: tuple[str, ...] = ()  # what the format sorts by: the subject (N-Triples), the subject as
    #                              written (Turtle; blank nodes written inline have no block), the @id (JSON-LD)
    blocks: tuple[bytes, ...] = ()
    subjects: tuple[str, ...] = ()  # JSON-LD: the subject of each node, in N-Triples form
    mask: int = 0  # Turtle: the prefixes the blocks use
    context: str = ""  # JSON-LD: fingerprint of the context the nodes were compacted with


@dataclass(frozen=True, slots=True)
class Piece:
    """One unit's share of every output, as UTF-8 text: picklable, compact, and a pure function of the
    unit's quads (and, for JSON-LD, of the context). Made by `piece`; a part is None when not rendered.
    `only` keeps what some formats need, e.g. to cache or load each format's parts apart."""

    nq: Graphs | None = None
    trig: Graphs | None = None
    nt: Subjects | None = None
    ttl: Subjects | None = None
    jsonld: Subjects | None = None
    blank: bytes = field(default=b"", repr=False)  # the unit's N-Quads as given, when it has blank nodes

    def only(self, *formats: str) -> "Piece":
        """The parts `formats` need (NEEDS), and the blank-node source; None for the others."""
        keep = {part for f in formats for part in NEEDS[f]}
        return Piece(**{f: getattr(self, f) if f in keep else None for f in FORMAT_NAMES}, blank=self.blank)


def context_fingerprint(context: dict | None) -> str:
    return _jsonld.context_of(context).fingerprint


def piece(quads: Iterable[ox.Quad], *, context: dict | None = None,
          formats: Iterable[str] = FORMAT_NAMES) -> Piece:
    """The piece of output of `quads` (one unit). `context` is the JSON-LD context (for jsonld);
    `formats` limits the work to what those formats need."""
    quads = quads if isinstance(quads, (list, tuple)) else list(quads)
    rows = {(str(q.graph_name), str(q.subject), str(q.predicate), str(q.object)) for q in quads}
    blank = b""
    if any(g[0] == "_" or s[0] == "_" or o[0] == "_" for g, s, _, o in rows):
        blank = "".join(sorted(_nquads_line(*row) for row in rows)).encode("utf-8")
        dataset = ox.Dataset(quads)
        dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
        rows = {(str(q.graph_name), str(q.subject), str(q.predicate), str(q.object)) for q in dataset}
    return _render(sorted(rows), blank, context, frozenset(formats))


def piece_from_nquads(data: bytes, *, context: dict | None = None, formats: Iterable[str] = FORMAT_NAMES) -> Piece:
    """`piece` of N-Quads text (one document: a blank-node label names one node throughout)."""
    return piece(ox.parse(data, format=ox.RdfFormat.N_QUADS), context=context, formats=formats)


def _nquads_line(g: str, s: str, p: str, o: str) -> str:
    return f"{s} {p} {o} .\n" if g == DEFAULT_GRAPH else f"{s} {p} {o} {g} .\n"


def _render(rows: list[tuple[str, str, str, str]], blank: bytes, context: dict | None, formats) -> Piece:
    unknown = formats - set(FORMAT_NAMES)
    if unknown:
        raise ValueError(f"unknown format {sorted(unknown)[0]!r}; choose one of {', '.join(FORMAT_NAMES)}")
    needs = {part for f in formats for part in NEEDS[f]}
    parts: dict = {"blank": blank}
    if needs & {"nq", "trig"}:
        keys, nq, trig, masks = [], [], [], []
        for g, group in groupby(rows, key=itemgetter(0)):
            group = list(group)
            keys.append(g)
            if "nq" in needs:
                nq.append("".join([_nquads_line(*row) for row in group]).encode("utf-8"))
            if "trig" in needs:
                text, mask = _trig_graph(g, [(s, p, o) for _, s, p, o in group])
                trig.append(text.encode("utf-8"))
                masks.append(mask)
        keys = tuple(keys)  # one tuple for both parts: pickled once
        if "nq" in needs:
            parts["nq"] = Graphs(keys, tuple(nq))
        if "trig" in needs:
            parts["trig"] = Graphs(keys, tuple(trig), tuple(masks))
    if needs & {"nt", "ttl", "jsonld"}:
        triples = sorted({(s, p, o) for _, s, p, o in rows})
        if "nt" in needs:
            subjects, nt = [], []
            for s, group in groupby(triples, key=itemgetter(0)):
                subjects.append(s)
                nt.append("".join([f"{s} {p} {o} .\n" for _, p, o in group]).encode("utf-8"))
            parts["nt"] = Subjects(tuple(subjects), tuple(nt))
        by_subject, uses = _turtle.index(triples)
        if "ttl" in needs:
            blocks, mask = _turtle.blocks(by_subject, uses, _turtle.inline_nodes(by_subject, uses), "")
            parts["ttl"] = Subjects(tuple(k for k, _ in blocks), tuple(b.encode("utf-8") for _, b in blocks),
                                    mask=mask)
        if "jsonld" in needs:
            nodes = _jsonld.Nodes(_jsonld.context_of(context), by_subject, uses).all()
            parts["jsonld"] = Subjects(tuple(n["@id"] for _, n in nodes),
                                       tuple(_jsonld.node_text(n).encode("utf-8") for _, n in nodes),
                                       subjects=tuple(s for s, _ in nodes), context=context_fingerprint(context))
    return Piece(**parts)


def _trig_graph(g: str, triples: list[tuple[str, str, str]]) -> tuple[str, int]:
    by_subject, uses = _turtle.index(triples)
    blocks, mask = _turtle.blocks(by_subject, uses, _turtle.inline_nodes(by_subject, uses), "    ")
    if g == DEFAULT_GRAPH:
        name = ""
    else:
        text, bit = turtle_term(g)
        name, mask = f"{text} ", mask | bit
    return f"{name}{{\n" + "\n\n".join(b for _, b in blocks) + "\n}\n", mask


# --- assembly ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Layout:
    """An output file as head + separator.join(blocks) + tail.

    What kg.export.splice needs to rewrite the file later from this one: each block's sort `key` and the
    index of the piece it is from (`owners`; -1 for a block merged from several pieces), and, for the subject
    formats, the (predicate, object) pairs each piece gives a merged subject (`merged`). `owners` is None when
    the pieces could not be told apart (several with blank nodes, rendered again as one)."""

    head: bytes
    blocks: list[bytes]
    separator: bytes
    tail: bytes
    keys: list[str] = field(default_factory=list)
    owners: list[int] | None = None
    merged: dict[str, dict[int, tuple[tuple[str, str], ...]]] = field(default_factory=dict)
    lengths: list[int] | None = None  # of each block, when they were written as they came (`stream_graphs`)

    def parts(self) -> list[bytes]:
        """Everything in order, separators included: b"".join of it is the file."""
        blocks, separator = self.blocks, self.separator
        if separator and len(blocks) > 1:
            interleaved = [separator] * (2 * len(blocks) - 1)
            interleaved[::2] = blocks
            blocks = interleaved
        return [self.head, *blocks, self.tail]


def assemble(pieces: Iterable[Piece], format: str, *, context: dict | None = None) -> bytes:
    """The `format` output of all the pieces' quads: the bytes `serialize` writes for them."""
    return b"".join(layout(pieces, format, context=context).parts())


def write(pieces: Iterable[Piece], format: str, stream: IO[bytes], *, context: dict | None = None) -> None:
    """`assemble` into a binary stream, never holding the whole file in one string."""
    stream.writelines(layout(pieces, format, context=context).parts())


def chunks(pieces: Iterable[Piece], format: str, *, context: dict | None = None,
           size: int = 1 << 20) -> Iterator[bytes]:
    """The bytes of `assemble`, about `size` bytes at a time."""
    batch, length = [], 0
    for part in layout(pieces, format, context=context).parts():
        batch.append(part)
        length += len(part)
        if length >= size:
            yield b"".join(batch)
            batch, length = [], 0
    if batch:
        yield b"".join(batch)


def layout(pieces: Iterable[Piece], format: str, *, context: dict | None = None) -> Layout:
    """The `format` output of the pieces, as blocks in order. The pieces need the parts NEEDS[format]
    (and, for TriG, the nq parts of pieces that share a graph)."""
    if format not in FORMAT_NAMES:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMAT_NAMES)}")
    pieces = list(pieces)
    merged_blank = sum(1 for p in pieces if p.blank) > 1
    pieces = _one_blank(pieces, format, context)
    needs = NEEDS[format]
    if any(getattr(p, part) is None for p in pieces for part in needs):
        raise ValueError(f"assembling {format} needs the {' and '.join(needs)} parts of every piece")
    if format == "jsonld":
        fingerprint = context_fingerprint(context)
        if any(p.jsonld.context != fingerprint for p in pieces):
            raise ValueError("a piece's JSON-LD was compacted with another context")
    if format == "nq":
        result = _nquads_layout(pieces)
    elif format == "trig":
        result = _trig_layout(pieces)
    elif format == "nt":
        result = _nt_layout(pieces)
    elif format == "ttl":
        result = _ttl_layout(pieces)
    else:
        result = _jsonld_layout(pieces, context)
    return replace(result, owners=None, merged={}) if merged_blank else result


def load_all(loads: Sequence[Callable[[], Piece]], format: str) -> list[Piece]:
    """The pieces `loads` return (each with the parts NEEDS[format]), loaded one at a time, as `layout` needs
    them. Turtle and JSON-LD read a piece's N-Triples only for its subjects found in other pieces too (and
    the whole of them in a piece with blank nodes): the rest is dropped as each piece is loaded, so the
    N-Triples of every article (0.7 GB at 10,000 articles) are never in memory at once. The first piece in
    which such a subject was found is loaded a second time, for its N-Triples of it."""
    if format not in ("ttl", "jsonld"):
        return [load() for load in loads]
    first: dict[str, int] = {}  # subject (as the format's part names it) -> the first piece it is in
    again: set[str] = set()  # in several pieces
    pieces = []
    for n, load in enumerate(loads):
        piece = load()
        names = _names(piece, format)
        seen = [name for name in names if first.setdefault(name, n) != n]
        again.update(seen)
        pieces.append(piece if piece.blank else _keep_nt(piece, seen, format))
    firsts: dict[int, list[str]] = {}
    for name in again:
        firsts.setdefault(first[name], []).append(name)
    del first
    for n, names in firsts.items():
        if not pieces[n].blank:
            pieces[n] = _keep_nt(loads[n](), [k for k in _names(pieces[n], format) if k in again], format)
    return pieces


def _names(piece: Piece, format: str) -> tuple[str, ...]:
    """The subjects of a piece's Turtle (as written) or JSON-LD (N-Triples form) part."""
    return piece.ttl.keys if format == "ttl" else piece.jsonld.subjects


def _keep_nt(piece: Piece, names: list[str], format: str) -> Piece:
    """`piece` with the N-Triples of only the subjects `names` (of its `format` part)."""
    nt = piece.nt
    subjects = sorted(expand_turtle(k) for k in names) if format == "ttl" else sorted(names)
    at = [bisect_left(nt.keys, s) for s in subjects]
    kept = [i for s, i in zip(subjects, at) if i < len(nt.keys) and nt.keys[i] == s]
    return replace(piece, nt=Subjects(tuple(nt.keys[i] for i in kept), tuple(nt.blocks[i] for i in kept)))


def stream_graphs(loads: Sequence[Callable[[], Piece]], format: str,
                  stream: IO[bytes]) -> tuple[Layout, list[int]] | None:
    """Write the N-Quads or TriG output of the pieces `loads` return (their `format` parts) to `stream`
    without holding them all: a first pass reads each piece's graph names, a second loads each piece when its
    first graph is due and drops it after its last (an article's graphs are neighbours in the order: at
    10,000 articles the 1 GB of N-Quads never are in memory at once). Returns the layout written, with the
    blocks' `lengths` and no blocks, and the prefixes each piece uses (kg.export.splice.owner_masks); None,
    having written nothing, when `layout` must do it (a graph in several pieces, several pieces with blank
    nodes)."""
    places: list[tuple[str, int, int]] = []
    masks: list[int] = []
    union = blank = 0
    for n, load in enumerate(loads):
        piece = load()
        part = getattr(piece, format)
        places.extend((key, n, i) for i, key in enumerate(part.keys))
        mask = 0
        for m in part.masks:
            mask |= m
        masks.append(mask)
        union |= mask
        blank += bool(piece.blank)
    places.sort()
    if blank > 1 or any(places[i][0] == places[i + 1][0] for i in range(len(places) - 1)):
        return None
    head, separator = (b"", b"") if format == "nq" else (trig_head(union), b"\n")
    left = Counter(n for _, n, _ in places)
    loaded: dict[int, Graphs] = {}
    lengths = []
    stream.write(head)
    for key, n, i in places:
        part = loaded.get(n)
        if part is None:
            part = loaded[n] = getattr(loads[n](), format)
        if lengths:
            stream.write(separator)
        stream.write(part.blocks[i])
        lengths.append(len(part.blocks[i]))
        left[n] -= 1
        if not left[n]:
            del loaded[n]
    return Layout(head, [], separator, b"", [key for key, _, _ in places], [n for _, n, _ in places],
                  lengths=lengths), masks


def stream_nt(loads: Sequence[Callable[[], Piece]], stream: IO[bytes]) -> tuple[Layout, list[int]] | None:
    """Write the N-Triples output of the pieces `loads` return (their nt parts) to `stream`, as
    `stream_graphs` does N-Quads, block by block: a first pass reads each piece's subjects (and the triples
    of those found in several pieces), a second loads a piece when its first block is due and lets go of each
    block once written. An article's subjects fall in a few runs of the order, so what waits at once is a
    part of the file (0.4 of it in a synthetic corpus), not all of it. Returns what `stream_graphs` does;
    None, having written nothing, with several pieces with blank nodes."""
    places: list[tuple[str, int, int]] = []
    first: dict[str, int] = {}
    merged: dict[str, dict[int, tuple[tuple[str, str], ...]]] = {}  # subject in several pieces -> each one's pairs
    blank = 0
    for n, load in enumerate(loads):
        piece = load()
        part = piece.nt
        blank += bool(piece.blank)
        for i, subject in enumerate(part.keys):
            if first.setdefault(subject, n) == n:
                places.append((subject, n, i))
            else:
                merged.setdefault(subject, {})[n] = pairs(part.blocks[i], subject)
    if blank > 1:
        return None
    firsts: dict[int, list[str]] = {}
    for subject in merged:
        firsts.setdefault(first[subject], []).append(subject)
    del first
    for n, subjects in firsts.items():
        part = loads[n]().nt
        for subject in subjects:
            merged[subject][n] = subject_pairs(part, subject)
    merged = {subject: dict(sorted(found.items())) for subject, found in merged.items()}
    blocks = {subject: "".join(f"{subject} {p} {o} .\n" for p, o in sorted({pair for lines in found.values()
                                                                           for pair in lines})).encode("utf-8")
              for subject, found in merged.items()}
    places = [place for place in places if place[0] not in merged] + [(subject, -1, 0) for subject in blocks]
    places.sort()
    left = Counter(n for _, n, _ in places)
    loaded: dict[int, list] = {}
    lengths = []
    for subject, n, i in places:
        if n < 0:
            block = blocks.pop(subject)
        else:
            part = loaded.get(n)
            if part is None:
                part = loaded[n] = list(loads[n]().nt.blocks)
            block, part[i] = part[i], None
            left[n] -= 1
            if not left[n]:
                del loaded[n]
        stream.write(block)
        lengths.append(len(block))
    return Layout(b"", [], b"", b"", [s for s, _, _ in places], [n for _, n, _ in places], merged,
                  lengths=lengths), [0] * len(loads)


def _one_blank(pieces: list[Piece], format: str, context) -> list[Piece]:
    """At most one piece with blank nodes: several are rendered again as one (see the module's doc)."""
    blanks = [p for p in pieces if p.blank]
    if len(blanks) < 2:
        return pieces
    formats = (format, "nq") if format == "trig" else (format,)  # nq: their graphs may be in other pieces
    merged = piece_from_nquads(b"".join(p.blank for p in blanks), context=context, formats=formats)
    return [p for p in pieces if not p.blank] + [merged]


def _places(pieces: list[Piece], part: str) -> dict[str, list[tuple[int, int]]]:
    """Graph key -> (index of the piece, index of the graph in the piece's `part`) for each piece that has it."""
    where: dict[str, list[tuple[int, int]]] = {}
    for n, p in enumerate(pieces):
        for i, g in enumerate(getattr(p, part).keys):
            where.setdefault(g, []).append((n, i))
    return where


def _graph_lines(g: str, pieces: list[Piece], places: list[tuple[int, int]]) -> list[bytes]:
    """The N-Quads lines of graph `g`, found in several pieces, sorted (the order of its quads)."""
    lines = set()
    for n, _ in places:
        p = pieces[n]
        if p.nq is None:
            raise ValueError(f"graph {g} is in several pieces: assembling TriG needs their nq parts")
        lines.update(line + b"\n" for line in p.nq.blocks[bisect_left(p.nq.keys, g)].split(b"\n")[:-1])
    return sorted(lines)


def _nquads_layout(pieces: list[Piece]) -> Layout:
    where = _places(pieces, "nq")
    keys, blocks, owners = sorted(where), [], []
    for g in keys:
        places = where[g]
        if len(places) == 1:
            n, i = places[0]
            blocks.append(pieces[n].nq.blocks[i])
            owners.append(n)
        else:
            blocks.append(b"".join(_graph_lines(g, pieces, places)))
            owners.append(-1)
    return Layout(b"", blocks, b"", b"", keys, owners)


def _trig_layout(pieces: list[Piece]) -> Layout:
    where = _places(pieces, "trig")
    keys, blocks, owners, mask = sorted(where), [], [], 0
    for g in keys:
        places = where[g]
        if len(places) == 1:
            n, i = places[0]
            blocks.append(pieces[n].trig.blocks[i])
            owners.append(n)
            mask |= pieces[n].trig.masks[i]
        else:
            lines = [line.decode("utf-8")[:-1] for line in _graph_lines(g, pieces, places)]
            text, graph_mask = _trig_graph(g, [_split_nquads(line, g) for line in lines])
            blocks.append(text.encode("utf-8"))
            owners.append(-1)
            mask |= graph_mask
    return Layout(trig_head(mask), blocks, b"\n", b"", keys, owners)


def trig_head(mask: int) -> bytes:
    return (prefix_block(mask) + "\n").encode("utf-8")


def _split_nquads(line: str, g: str) -> tuple[str, str, str]:
    """(s, p, o) of an N-Quads line of graph `g` as pyoxigraph writes it (no trailing newline)."""
    s, p, rest = line.split(" ", 2)
    return s, p, rest[: -2 if g == DEFAULT_GRAPH else -(len(g) + 3)]


def pairs(block: bytes, subject: str) -> tuple[tuple[str, str], ...]:
    """(predicate, object) of each of a subject's N-Triples lines."""
    start = len(subject) + 1
    return tuple(tuple(line[start:-2].split(" ", 1)) for line in block.decode("utf-8").split("\n")[:-1])


def subject_pairs(part: Subjects, subject: str) -> tuple[tuple[str, str], ...]:
    """`pairs` of `subject` in an nt part; () when it has none."""
    at = bisect_left(part.keys, subject)
    return pairs(part.blocks[at], subject) if at < len(part.keys) and part.keys[at] == subject else ()


def _shared(parts: list[Subjects], keys_of=lambda part: part.keys) -> tuple[dict, list[tuple]]:
    """Subjects found in more than one part, with the indexes of those parts; and (key, block, index of
    the part) of every other block."""
    counts: Counter = Counter()
    for part in parts:
        counts.update(keys_of(part))
    shared: dict = {k: [] for k, n in counts.items() if n > 1}
    entries: list[tuple] = []
    for i, part in enumerate(parts):
        keys = keys_of(part)
        if shared.keys().isdisjoint(keys):
            entries.extend(zip(part.keys, part.blocks, repeat(i)))
            continue
        for s, k, b in zip(keys, part.keys, part.blocks):
            places = shared.get(s)
            if places is None:
                entries.append((k, b, i))
            else:
                places.append(i)
    return shared, entries


def _merged(pieces: list[Piece], places: dict[str, list[int]]) -> dict[str, dict[int, tuple[tuple[str, str], ...]]]:
    """Subject -> {index of a piece it is found in: its (predicate, object) pairs there}."""
    return {s: {i: subject_pairs(pieces[i].nt, s) for i in indexes} for s, indexes in places.items()}


def _raw(pieces: list[Piece], merged: dict, *, blank: bool = True) -> list[tuple[str, str, str]]:
    """Every triple of the merged subjects (`_merged`) and, with `blank`, every triple of the piece with
    blank nodes (whose blank nodes the subjects' blocks may write inline): what writing the subjects
    again takes."""
    triples = {(s, p, o) for s, found in merged.items() for lines in found.values() for p, o in lines}
    for p in pieces:
        if blank and p.blank:
            triples.update(t for s, block in zip(p.nt.keys, p.nt.blocks) for t in _lines(block, s))
    return sorted(triples)


def _lines(block: bytes, subject: str) -> Iterator[tuple[str, str, str]]:
    """(s, p, o) of a subject's N-Triples lines."""
    for p, o in pairs(block, subject):
        yield subject, p, o


def _sorted_layout(head: bytes, entries: list[tuple], separator: bytes, tail: bytes, merged: dict,
                   by=itemgetter(0)) -> Layout:
    entries.sort(key=by)
    return Layout(head, [b for _, b, _ in entries], separator, tail, [k for k, _, _ in entries],
                  [n for _, _, n in entries], merged)


def _nt_layout(pieces: list[Piece]) -> Layout:
    shared, entries = _shared([p.nt for p in pieces])
    merged = _merged(pieces, shared)
    for s, group in groupby(_raw(pieces, merged, blank=False), key=itemgetter(0)):
        entries.append((s, "".join(f"{s} {p} {o} .\n" for _, p, o in group).encode("utf-8"), -1))
    return _sorted_layout(b"", entries, b"", b"", merged)


def _ttl_layout(pieces: list[Piece]) -> Layout:
    shared, entries = _shared([p.ttl for p in pieces])
    mask = 0
    for p in pieces:
        mask |= p.ttl.mask
    merged = _merged(pieces, {expand_turtle(k): indexes for k, indexes in shared.items()})
    if merged:
        by_subject, uses = _turtle.index(_raw(pieces, merged))
        inline = _turtle.inline_nodes(by_subject, uses)
        blocks, shared_mask = _turtle.blocks(by_subject, uses, inline, "", subjects=merged)
        entries += [(k, b.encode("utf-8"), -1) for k, b in blocks]
        mask |= shared_mask
    return _sorted_layout(ttl_head(mask), entries, b"\n\n", b"\n", merged)


def ttl_head(mask: int) -> bytes:
    return (prefix_block(mask) + "\n").encode("utf-8")


def _jsonld_layout(pieces: list[Piece], context) -> Layout:
    ctx = _jsonld.context_of(context)
    shared, entries = _shared([p.jsonld for p in pieces], lambda part: part.subjects)
    merged = _merged(pieces, shared)
    if merged:
        by_subject, uses = _turtle.index(_raw(pieces, merged))
        nodes = _jsonld.Nodes(ctx, by_subject, uses)
        for s in sorted(merged):
            node = nodes.node(s)
            entries.append((node["@id"], _jsonld.node_text(node).encode("utf-8"), -1))
    if not entries:
        return Layout(_jsonld.document(ctx, []).encode("utf-8"), [], b"", b"", [], [], merged)
    head, tail = jsonld_frame(ctx)
    return _sorted_layout(head, entries, b",\n", tail, merged, by=itemgetter(0, 1))


def jsonld_frame(ctx: "_jsonld.Context") -> tuple[bytes, bytes]:
    """The JSON-LD document's head and tail around its nodes (when it has some)."""
    head, tail = _jsonld.document(ctx, ["\0"]).split("\0")
    return head.encode("utf-8"), tail.encode("utf-8")
