"""Turtle and TriG statements, one block per subject: `a` first, then rdfs:label, then the other predicates
by prefixed name, objects sorted; a blank node used once as an object is written inline where it is used,
as `[ … ]`, or as `( … )` when it heads a well-formed RDF list. Terms are N-Triples text (kg.export.terms).
"""

from __future__ import annotations

from typing import Iterable

from .terms import RDF_FIRST, RDF_NIL, RDF_REST, RDF_TYPE, RDFS_LABEL, turtle_term


def index(triples: Iterable[tuple[str, str, str]]) -> tuple[dict, dict]:
    """subject -> predicate -> objects, and how many triples use each blank node as object."""
    by_subject: dict[str, dict[str, list[str]]] = {}
    uses: dict[str, int] = {}
    for s, p, o in triples:
        predicates = by_subject.get(s)
        if predicates is None:
            predicates = by_subject[s] = {}
        objects = predicates.get(p)
        if objects is None:
            predicates[p] = [o]
        else:
            objects.append(o)
        if o[0] == "_":
            uses[o] = uses.get(o, 0) + 1
    return by_subject, uses


def inline_nodes(by_subject: dict, uses: dict) -> set[str]:
    """Blank nodes written inside the block that uses them: used once, described, and not only
    reachable through a cycle of such nodes (one of a cycle stays top-level, so nothing is lost)."""
    inline = {b for b, n in uses.items() if n == 1 and b in by_subject}
    if not inline:
        return inline
    reached: set[str] = set()

    def reach(start):
        stack = [start]
        while stack:
            for objects in by_subject.get(stack.pop(), {}).values():
                for o in objects:
                    if o in inline and o not in reached:
                        reached.add(o)
                        stack.append(o)

    for subject in by_subject:
        if subject not in inline:
            reach(subject)
    while inline - reached:
        loose = min(inline - reached)
        inline.discard(loose)
        reach(loose)
    return inline


def blocks(by_subject: dict, uses: dict, inline: set[str], indent: str,
           subjects: Iterable[str] | None = None) -> tuple[list[tuple[str, str]], int]:
    """(subject as written, block) for each top-level subject (of `subjects`, default all) in the
    order of the first, and the mask of the prefixes the blocks use."""
    mask = 0
    written: dict[str, tuple[str, int]] = {}  # term -> (as written, prefix bit), for this call

    def text(term):
        hit = written.get(term)
        if hit is None:
            hit = written[term] = turtle_term(term)
        return hit

    def items_of(node):
        items = []
        while node[0] == "_" and node in inline:
            predicates = by_subject[node]
            if len(predicates) != 2 or RDF_FIRST not in predicates or RDF_REST not in predicates:
                return None
            first, rest = predicates[RDF_FIRST], predicates[RDF_REST]
            if len(first) != 1 or len(rest) != 1:
                return None
            items.append(first[0])
            node = rest[0]
        return items if node == RDF_NIL else None

    def write(node, depth):
        nonlocal mask
        if node[0] == "_" and node in inline:
            items = items_of(node)
            if items is not None:
                return "( " + " ".join([write(i, depth) for i in items]) + " )"
            pad = indent + "    " * (depth + 1)
            return "[\n" + " ;\n".join([pad + line for line in properties(node, depth + 1)]) + "\n" + indent + "    " * depth + "]"
        hit = written.get(node)
        if hit is None:
            hit = written[node] = turtle_term(node)
        mask |= hit[1]
        return hit[0]

    def order(predicate):
        if predicate == RDF_TYPE:
            return (0, "")
        if predicate == RDFS_LABEL:
            return (1, "")
        return (2, text(predicate)[0])

    def object_order(o):
        return (o[0] == "_", text(o)[0])

    def properties(subject, depth):
        nonlocal mask
        predicates = by_subject[subject]
        lines = []
        for predicate in sorted(predicates, key=order) if len(predicates) > 1 else predicates:
            if predicate == RDF_TYPE:
                name = "a"
            else:
                name, bit = text(predicate)
                mask |= bit
            objects = predicates[predicate]
            if len(objects) > 1:
                objects = sorted(objects, key=object_order)
                lines.append(f"{name} {' , '.join([write(o, depth) for o in objects])}")
            else:
                lines.append(f"{name} {write(objects[0], depth)}")
        return lines

    keyed = sorted((text(s)[0], s) for s in (by_subject if subjects is None else subjects) if s not in inline)
    result = []
    for key, subject in keyed:
        body = " ;\n".join([f"{indent}    {line}" for line in properties(subject, 1)])
        if subject[0] == "_" and subject not in uses:
            result.append((key, f"{indent}[\n{body}\n{indent}] ."))
        else:
            mask |= written[subject][1]
            result.append((key, f"{indent}{key}\n{body} ."))
    return result, mask
