"""Output files rewritten from the ones written last time.

After an edit of one article of 10,000, assembling an output from every piece (kg.export.pieces) loads,
sorts and writes again the blocks of 9,999 pieces that did not change. Instead, a `FileMap` kept beside
the cache records, for a file as it was written, where each block lies in it (offset, length), its sort
key, and which piece it came from (its owner, under a name the build gives: an article's slug, or a
shared piece), with the version (cache key) of each owner. `plan` compares that with the current owners'
versions and makes the new file as a list of segments: byte ranges of the old file (copied by the kernel,
os.copy_file_range) and the blocks of the pieces that changed, merged in by key.

Subjects found in several pieces (registry entities that articles' inferred graphs say more about) are
written from every piece's triples about them: the map keeps those (predicate, object) pairs per owner,
so a changed piece's share is replaced without reading the others. A subject that becomes shared, or
stops being shared, takes its one other owner's piece from the cache.

`plan` returns None — assemble the whole file — whenever it cannot be sure of the same bytes: no map, a
map of another file or format, many changed pieces, blank nodes in a changed piece, a merged subject with
a blank-node object, two subjects with one key. A test edits, adds and removes pieces at random and
compares every spliced file with the whole assembly.
"""

from __future__ import annotations

import mmap
import os
import pickle
import sys
from array import array
from bisect import bisect_left
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Callable, IO

from . import jsonld as _jsonld
from . import turtle as _turtle
from .pieces import (Layout, Piece, context_fingerprint, expand_turtle, jsonld_frame, subject_pairs, trig_head,
                     ttl_head)
from .terms import turtle_term

MERGED = -1  # owner of a block written from several pieces


@dataclass(frozen=True)
class Owner:
    """A piece under its name: its version (changes whenever its content can) and how to load its parts
    (those kg.export.NEEDS[format] names)."""

    version: str
    load: Callable[[], Piece]


class Keys(Sequence):
    """Sorted block keys as one UTF-8 text, joined by newlines (no key has one), and where each ends: a map
    of a million blocks pickles and loads at the speed of memory, not of a million strings."""

    __slots__ = ("text", "ends")

    def __init__(self, text: bytes = b"", ends: array | None = None):
        self.text, self.ends = text, ends if ends is not None else array("q")

    @classmethod
    def of(cls, keys: list[str]) -> "Keys | None":
        """None when a key has a newline."""
        text = "\n".join(keys).encode("utf-8")
        if text.count(b"\n") != max(len(keys) - 1, 0):
            return None
        ends, at = array("q"), -1
        for key in keys:
            at += len(key.encode("utf-8")) + 1
            ends.append(at)
        return cls(text, ends)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self.ends)
        return str(self.text[self.ends[i - 1] + 1 if i else 0:self.ends[i]], "utf-8")

    def __eq__(self, other) -> bool:
        return isinstance(other, Keys) and self.text == other.text and self.ends == other.ends

    def __reduce__(self):
        return Keys, (bytes(self.text), _array(self.ends))

    def dump(self) -> bytes:
        """The keys as `load` reads them: their count (8 bytes, little-endian), their ends (64-bit, in this
        machine's byte order: a file of the cache, never moved to another machine) and the text."""
        return len(self.ends).to_bytes(8, "little") + _array(self.ends).tobytes() + bytes(self.text)

    @classmethod
    def load(cls, path) -> "Keys":
        """The keys `dump` wrote to the file at `path`, memory-mapped: a splice looks up a few of a million keys
        (bisect), and copies them only when they change (an edit that adds or removes a subject)."""
        with open(path, "rb") as stream:
            view = memoryview(mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ))
        count = int.from_bytes(view[:8], "little")
        if len(view) < 8 + 8 * count:
            raise ValueError(f"{path}: truncated")
        return cls(view[8 + 8 * count:], view[8:8 + 8 * count].cast("q"))


def _array(values) -> array:
    """An array('q') of 64-bit values (an array already, or a memoryview of them)."""
    if isinstance(values, array):
        return values
    made = array("q")
    made.frombytes(values.tobytes())
    return made


class _KeysBuilder:
    """Keys made of runs of old keys and single new ones, in order."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.ends = array("q")
        self.at = 0  # length of the text so far

    def __len__(self) -> int:
        return len(self.ends)

    def _separate(self) -> None:
        if self.ends:
            self.parts.append(b"\n")
            self.at += 1

    def add(self, key: str) -> None:
        self._separate()
        data = key.encode("utf-8")
        self.parts.append(data)
        self.at += len(data)
        self.ends.append(self.at)

    def add_run(self, old: Keys, first: int, last: int) -> None:
        self._separate()
        start = old.ends[first - 1] + 1 if first else 0
        shift = self.at - start
        self.parts.append(old.text[start:old.ends[last]])
        self.ends.extend(shifted(old.ends[first:last + 1], shift))
        self.at = self.ends[-1]

    def keys(self) -> Keys:
        return Keys(b"".join(self.parts), self.ends)


class _SameKeys:
    """What `_assemble` builds the new keys with when they are the old ones: it only counts them."""

    def __init__(self, old: Keys):
        self.old, self.count = old, 0

    def __len__(self) -> int:
        return self.count

    def add(self, key: str) -> None:
        self.count += 1

    def add_run(self, old: Keys, first: int, last: int) -> None:
        self.count += last - first + 1

    def keys(self) -> Keys:
        assert self.count == len(self.old)
        return self.old


Pairs = tuple[tuple[str, str], ...]  # (predicate, object) pairs, in N-Triples form


class Merged(MutableMapping):
    """The subjects merged from several pieces: subject -> {owner: its (predicate, object) pairs}, and which
    owners each subject has (`having`) without reading their pairs. Pickled, each subject's pairs stay one bytes
    object until they are asked for: at 10,000 articles 320 subjects have 80,000 owners' pairs, which unpickled
    as objects in 0.15-0.3 s for each of N-Triples, Turtle and JSON-LD, on the path of every build after an
    edit, which looks at the pairs of the few subjects the changed articles share (0.02 s as bytes)."""

    __slots__ = ("_found", "_packed", "_owners")

    def __init__(self, found: dict[str, dict[str, Pairs]] | None = None):
        self._found: dict[str, dict[str, Pairs]] = dict(found or {})  # read (or set) here
        self._packed: dict[str, bytes] = {}  # pickled, not read yet
        self._owners: dict[str, tuple[str, ...]] = {s: tuple(f) for s, f in self._found.items()}

    def __getitem__(self, subject: str) -> dict[str, Pairs]:
        found = self._found.get(subject)
        if found is None:
            found = self._found[subject] = pickle.loads(self._packed.pop(subject))
        return found

    def __setitem__(self, subject: str, found: dict[str, Pairs]) -> None:
        self._packed.pop(subject, None)
        self._found[subject] = found
        self._owners[subject] = tuple(found)

    def __delitem__(self, subject: str) -> None:
        del self._owners[subject]
        self._found.pop(subject, None)
        self._packed.pop(subject, None)

    def __iter__(self):
        return iter(self._owners)

    def __len__(self) -> int:
        return len(self._owners)

    def __contains__(self, subject: object) -> bool:
        return subject in self._owners

    def having(self, owners: set[str]) -> list[str]:
        """The subjects that one of `owners` gives pairs to."""
        return [s for s, names in self._owners.items() if not owners.isdisjoint(names)]

    def copy(self) -> "Merged":
        """Another Merged, sharing what is not read yet."""
        other = Merged()
        other._found, other._packed, other._owners = dict(self._found), dict(self._packed), dict(self._owners)
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Merged):
            return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())
        if self._owners.keys() != other._owners.keys():
            return False
        # (the same pickled pairs are the same pairs; other pickles may differ only in their order)
        return all((mine := self._packed.get(s)) is not None and mine == other._packed.get(s) or self[s] == other[s]
                   for s in self._owners)

    def __reduce__(self):
        packed = {s: self._packed[s] if s in self._packed else pickle.dumps(self._found[s], protocol=pickle.HIGHEST_PROTOCOL)
                  for s in self._owners}
        return _unpacked, (packed, self._owners)

    def __repr__(self) -> str:
        return f"Merged({len(self)} subjects)"


def _unpacked(packed: dict[str, bytes], owners: dict[str, tuple[str, ...]]) -> Merged:
    merged = Merged()
    merged._packed, merged._owners = packed, owners
    return merged


@dataclass
class FileMap:
    """Where each block of an output file lies, and whose it is (see the module's doc)."""

    VERSION = 5  # of this layout (and of how kg.build keeps it): a map another kg wrote is never misread

    format: str
    salt: str  # JSON-LD: the context's fingerprint
    head: bytes
    separator: bytes
    tail: bytes
    keys: Keys
    offsets: array  # 'q': each block's offset in the file
    lengths: array  # 'q'
    owners: array  # 'i': index in `names`, or MERGED
    names: list[str]
    versions: list[str]  # of each name
    masks: list[int]  # of each name: the prefixes its blocks use (Turtle, TriG)
    merged: Merged  # subject -> {owner: (predicate, object) pairs}
    merged_masks: dict[str, int] = field(default_factory=dict)  # Turtle: prefixes of each merged block

    @property
    def size(self) -> int:
        if not self.keys:
            return len(self.head) + len(self.tail)
        return self.offsets[-1] + self.lengths[-1] + len(self.tail)


def _salt(format: str, context: dict | None) -> str:
    return context_fingerprint(context) if format == "jsonld" else ""


def _owner_mask(piece: Piece, format: str) -> int:
    if format == "ttl":
        return piece.ttl.mask
    if format == "trig":
        mask = 0
        for m in piece.trig.masks:
            mask |= m
        return mask
    return 0


def owner_masks(pieces: list[Piece], format: str) -> list[int]:
    """The prefixes each piece's blocks use (Turtle, TriG; 0 for the other formats): what `file_map` keeps."""
    return [_owner_mask(p, format) for p in pieces]


def file_map(layout: Layout, masks: list[int], names: list[str], versions: list[str], format: str,
             context: dict | None) -> FileMap | None:
    """The map of the file `layout` writes, its blocks from pieces named `names`, at `versions`, using the
    prefixes `masks` (`owner_masks`); None when it could not be spliced later (see the module's doc)."""
    if layout.owners is None or not layout.keys:
        return None
    keys = layout.keys
    if any(keys[i] == keys[i + 1] for i in range(len(keys) - 1)):
        return None
    packed = Keys.of(keys)
    if packed is None:
        return None
    if any(o[0] == "_" for found in layout.merged.values() for lines in found.values() for _, o in lines):
        return None
    offsets = array("q")
    lengths = array("q", layout.lengths if layout.lengths is not None else map(len, layout.blocks))
    at, step = len(layout.head), len(layout.separator)
    for length in lengths:
        offsets.append(at)
        at += length + step
    merged = {s: {names[i]: lines for i, lines in found.items()} for s, found in layout.merged.items()}
    merged_masks = {s: _render_merged(s, found, format, context)[2] for s, found in merged.items()} \
        if format == "ttl" else {}
    return FileMap(format, _salt(format, context), layout.head, layout.separator, layout.tail, packed,
                   offsets, lengths, array("i", layout.owners), list(names), list(versions),
                   list(masks), Merged(merged), merged_masks)


def _identities(part, format: str) -> list[str]:
    """The subject (N-Triples form) or graph of each block of a part."""
    if format == "ttl":
        return [expand_turtle(k) for k in part.keys]
    if format == "jsonld":
        return list(part.subjects)
    return list(part.keys)


def _key_of(subject: str, format: str, ctx) -> str:
    if format == "ttl":
        return turtle_term(subject)[0]
    if format == "jsonld":
        return ctx.shrink(subject[1:-1]) if subject[0] == "<" else subject
    return subject


def _render_merged(subject: str, found: dict, format: str, context) -> tuple[str, bytes, int]:
    """(key, block, prefix mask) of a subject written from every owner's pairs (no blank-node object)."""
    pairs = sorted({pair for lines in found.values() for pair in lines})
    if format == "nt":
        return subject, "".join(f"{subject} {p} {o} .\n" for p, o in pairs).encode("utf-8"), 0
    by_subject, uses = _turtle.index((subject, p, o) for p, o in pairs)
    if format == "ttl":
        ((key, block),), mask = _turtle.blocks(by_subject, uses, set(), "", subjects=[subject])
        return key, block.encode("utf-8"), mask
    node = _jsonld.Nodes(_jsonld.context_of(context), by_subject, uses).node(subject)
    return node["@id"], _jsonld.node_text(node).encode("utf-8"), 0


@dataclass
class Plan:
    """The new file: segments, each bytes to write or (start, end) of the old file to copy; and its map."""

    segments: list
    map: FileMap
    same: bool  # the new file is the old one, byte for byte


def plan(old: FileMap, owners: dict[str, Owner], format: str, context: dict | None, *,
         read_old: Callable[[int, int], bytes], most: int | None = None) -> Plan | None:
    """The file of `owners`' pieces, made from the old file (`read_old(offset, length)` reads its bytes) by
    replacing what changed; None when the whole file must be assembled (see the module's doc). `most`:
    the most changed pieces worth splicing (default: 2% of them, at least 16)."""
    if old.format != format or old.salt != _salt(format, context) or not old.keys:
        return None
    index = {n: i for i, n in enumerate(old.names)}
    changed = [n for n, o in owners.items() if n not in index or old.versions[index[n]] != o.version]
    gone = [n for n in old.names if n not in owners]
    if len(changed) + len(gone) > (most if most is not None else max(16, len(owners) // 50)):
        return None
    loaded: dict[str, Piece] = {}

    def load(name: str) -> Piece:
        if name not in loaded:
            loaded[name] = owners[name].load()
        return loaded[name]

    if any(load(n).blank for n in changed):
        return None
    out = {index[n] for n in changed + gone if n in index}
    drop = positions(old.owners, out) if out else set()
    keys = old.keys
    ctx = _jsonld.context_of(context) if format == "jsonld" else None

    def find(key: str) -> int | None:
        at = bisect_left(keys, key)
        return at if at < len(keys) and keys[at] == key else None

    new: list[tuple[str, bytes, str]] = []  # (key, block, owner name or "")
    merged = old.merged.copy()
    merged_masks = dict(old.merged_masks)
    if format in ("nq", "trig"):
        if MERGED in old.owners:
            return None
        for n in changed:
            part = getattr(load(n), format)
            new += [(k, b, n) for k, b in zip(part.keys, part.blocks)]
    else:
        touched: set[str] = set()
        leaving = set(changed) | set(gone)
        for s in old.merged.having(leaving):
            merged[s] = {n: lines for n, lines in old.merged[s].items() if n not in leaving}
            touched.add(s)
        own: dict[str, tuple[str, bytes, str]] = {}  # subject -> its block, in one changed piece so far
        for n in changed:
            p = load(n)
            part = getattr(p, format)
            for s, k, b in zip(_identities(part, format), part.keys, part.blocks):
                if s in merged:
                    merged[s] = {**merged[s], n: subject_pairs(p.nt, s)}
                elif s in own:  # in two changed pieces
                    _, _, other = own.pop(s)
                    merged[s] = {other: subject_pairs(load(other).nt, s), n: subject_pairs(p.nt, s)}
                else:
                    at = find(k)
                    if at is None or at in drop:
                        own[s] = (k, b, n)
                        continue
                    other = old.names[old.owners[at]] if old.owners[at] != MERGED else None
                    lines = subject_pairs(load(other).nt, s) if other is not None else ()
                    if not lines:  # another subject with this key
                        return None
                    merged[s] = {other: lines, n: subject_pairs(p.nt, s)}
                    drop.add(at)
                touched.add(s)
        for s in sorted(touched):
            at = find(_key_of(s, format, ctx))
            if at is not None and old.owners[at] == MERGED:
                drop.add(at)
            found = merged[s]
            if len(found) > 1:
                if any(o[0] == "_" for lines in found.values() for _, o in lines):
                    return None
                k, b, mask = _render_merged(s, found, format, context)
                new.append((k, b, ""))
                if format == "ttl":
                    merged_masks[s] = mask
                continue
            del merged[s]
            merged_masks.pop(s, None)
            if found:
                (other,) = found
                part = getattr(load(other), format)
                i = _identities(part, format).index(s)
                new.append((part.keys[i], part.blocks[i], other))
        new += own.values()
    new.sort(key=itemgetter(0, 1) if format == "jsonld" else itemgetter(0))
    if any(new[i][0] == new[i + 1][0] for i in range(len(new) - 1)):
        return None
    reused: dict[int, str] = {}  # a dropped old block the same as a new one: copied, under its new owner
    for k, b, n in new:
        at = find(k)
        if at is not None:
            if at not in drop:
                return None  # two blocks with one key
            if old.lengths[at] == len(b) and read_old(old.offsets[at], len(b)) == b:
                reused[at] = n
    for at in reused:
        drop.discard(at)
    new = [entry for entry in new if find(entry[0]) not in reused]
    return _assemble(old, owners, loaded, format, context, new, drop, reused, merged, merged_masks)


def _assemble(old: FileMap, owners: dict[str, Owner], loaded: dict[str, Piece], format: str, context,
              new: list, drop: set[int], reused: dict[int, str], merged: dict, merged_masks: dict) -> Plan | None:
    names = list(owners)
    number = {n: i for i, n in enumerate(names)}
    remap = array("i", [number.get(n, MERGED) for n in old.names])
    identity = all(remap[i] == i for i in range(len(remap)))
    masks = [0] * len(names)
    for i, n in enumerate(old.names):
        if n in number:
            masks[number[n]] = old.masks[i]
    for n, p in loaded.items():
        masks[number[n]] = _owner_mask(p, format)
    head = old.head
    if format in ("ttl", "trig"):
        mask = 0
        for m in masks:
            mask |= m
        for m in merged_masks.values():
            mask |= m
        head = ttl_head(mask) if format == "ttl" else trig_head(mask)
    if format == "jsonld":
        head, _ = jsonld_frame(_jsonld.context_of(context))
    separator, step = old.separator, len(old.separator)
    # The blocks that come in under the keys of those that go (an edit that adds or removes no subject): the
    # keys stay as they were, and are not copied into new ones (tens of megabytes per file).
    same = sorted(k for k, _, _ in new) == sorted(old.keys[i] for i in drop)
    keys = _SameKeys(old.keys) if same else _KeysBuilder()
    offsets, lengths, owner_ids = array("q"), array("q"), array("i")
    segments: list = [head]
    at = len(head)
    count = len(old.keys)
    places = [bisect_left(old.keys, k) for k, _, _ in new]  # where each new block goes among the old
    j = 0
    for first, last in _runs(count, drop, places) + [(count, count)]:
        while j < len(new) and places[j] <= first:
            k, b, n = new[j]
            if keys:
                segments.append(separator)
                at += step
            keys.add(k)
            offsets.append(at)
            lengths.append(len(b))
            owner_ids.append(number[n] if n else MERGED)
            segments.append(b)
            at += len(b)
            j += 1
        if first >= count:
            break
        if keys:
            segments.append(separator)
            at += step
        # old blocks first..last, with the separators between them
        start, end = old.offsets[first], old.offsets[last] + old.lengths[last]
        shift = at - start
        segments.append((start, end))
        keys.add_run(old.keys, first, last)
        offsets.extend(shifted(old.offsets[first:last + 1], shift))
        lengths.extend(old.lengths[first:last + 1])
        ids = old.owners[first:last + 1]
        owner_ids.extend(ids if identity else array("i", [remap[o] if o != MERGED else MERGED for o in ids]))
        for i in reused:
            if first <= i <= last:
                owner_ids[len(keys) - 1 - (last - i)] = number[reused[i]] if reused[i] else MERGED
        at = end + shift
    if not keys:
        return None
    tail = old.tail
    segments.append(tail)
    # a part the same as the old map's is that object (kg.build then keeps its file instead of writing it again)
    new_keys = keys.keys()
    if new_keys is not old.keys and new_keys == old.keys:
        new_keys = old.keys
    if merged == old.merged:
        merged = old.merged
    new_map = replace(old, head=head, keys=new_keys, offsets=offsets, lengths=lengths, owners=owner_ids, names=names,
                      versions=[owners[n].version for n in names], masks=masks, merged=merged,
                      merged_masks=merged_masks)
    same = head == old.head and len(segments) == 3 and segments[1] == (old.offsets[0], old.size - len(tail))
    return Plan(segments, new_map, same)


def shifted(values: array, shift: int) -> array:
    """`array("q", (v + shift for v in values))` for ascending non-negative 64-bit integers (the offsets and
    key ends of a run of blocks) whose sums stay non-negative and below 2**63, at the speed of memory: the
    array's bytes read as one integer whose 64-bit lanes are the values, plus `shift` in every lane (no lane
    carries into the next, none borrows from it). A splice shifts a million offsets by the length an edit
    added (0.1 s per file in Python's loop)."""
    values = _array(values)
    if not shift or not values:
        return array(values.typecode, values)
    if values[0] + shift < 0 or values[-1] + shift >= 1 << 63:
        raise ValueError("shifted: 64-bit values that stay non-negative and below 2**63 only")
    lanes = len(values)
    ones = int.from_bytes(b"\x01\x00\x00\x00\x00\x00\x00\x00" * lanes, "little")
    whole = int.from_bytes(_little(values), "little") + shift * ones
    result = array(values.typecode)
    result.frombytes(_native(whole.to_bytes(8 * lanes, "little"), values.typecode))
    return result


def _little(values: array) -> bytes:
    if sys.byteorder == "little":
        return values.tobytes()
    swapped = array(values.typecode, values)
    swapped.byteswap()
    return swapped.tobytes()


def _native(data: bytes, typecode: str) -> bytes:
    if sys.byteorder == "little":
        return data
    swapped = array(typecode)
    swapped.frombytes(data)
    swapped.byteswap()
    return swapped.tobytes()


def positions(values: array, wanted: set[int]) -> set[int]:
    """`{i for i, v in enumerate(values) if v in wanted}` for a few wanted values, found by searching the
    array's bytes (a splice finds the blocks of the changed pieces among a million: 0.05 s per file in
    Python's loop)."""
    data, size = values.tobytes(), values.itemsize
    found = set()
    for value in wanted:
        pattern = array(values.typecode, [value]).tobytes()
        at = data.find(pattern)
        while at >= 0:
            if at % size == 0:
                found.add(at // size)
                at = data.find(pattern, at + size)
            else:
                at = data.find(pattern, at + 1)
    return found


def _runs(count: int, drop: set[int], places: list[int]) -> list[tuple[int, int]]:
    """(first, last) of each run of old blocks kept in a row, none with a new block inside it (one goes
    before old block `place`)."""
    runs, first = [], 0
    for i, gap in sorted({*((i, True) for i in drop), *((i, False) for i in places)}):
        if i > first:
            runs.append((first, i - 1))
        first = i + 1 if gap else i
    if first < count:
        runs.append((first, count - 1))
    return runs


def write_plan(plan: Plan, old: IO[bytes], stream: IO[bytes]) -> None:
    """Write the plan's file to `stream` (a file), copying the old file's ranges in the kernel."""
    stream.flush()
    source, target = old.fileno(), stream.fileno()
    batch: list[bytes] = []
    for segment in plan.segments:
        if isinstance(segment, bytes):
            batch.append(segment)
            continue
        if batch:
            _write_all(target, b"".join(batch))
            batch = []
        start, end = segment
        _copy(source, target, start, end)
    if batch:
        _write_all(target, b"".join(batch))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _copy(source: int, target: int, start: int, end: int) -> None:
    while start < end:
        try:
            done = os.copy_file_range(source, target, end - start, start)
        except OSError:  # not on this file system: through user space
            done = os.write(target, os.pread(source, min(end - start, 1 << 24), start))
        if done == 0:
            raise OSError(f"the previous output ended early (at byte {start} of {end})")
        start += done
