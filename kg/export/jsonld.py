"""JSON-LD, compacted with the project's own context (ontology/context.jsonld), written without rdflib.

The output is what kg wrote with rdflib's compacting serializer (`auto_compact`, then every node and value
sorted; see `by_rdflib`, kept as the reference for the tests), at a fraction of the cost: one node per
subject, never embedded; a key is the context's term for the property when one fits the value (its
`@type` coercion — `@id`, `@vocab` or a datatype — or its `@language`), else the property as a vocabulary
term or compact IRI; `@id`s and `@type`s compacted as rdflib does; a blank node heading a well-formed RDF
list is written as `{"@list": [...]}`.

Where rdflib's output did not mean the dataset, this writer differs (none of these occur in kg's data):
a value equal to "", 0 or false is not dropped when its property has another value; a blank node that is
the object of an `@id`-coerced term, or only reachable through a cycle of blank nodes, is written, not
lost; a list node is a `@list` only when it is used once and has exactly rdf:first and rdf:rest (rdflib
also took nodes with rdf:type rdf:List, losing that type, or used twice, duplicating the list); numbers
and booleans are native JSON only when the lexical form is the one a JSON-LD processor gives back
("7", "true"; rdflib wrote "007"^^xsd:integer as 7 and every xsd:double as a float); a key or `@type`
value that is the context's term for another IRI is not used for this one; `@type` holds only IRIs and
blank nodes (an rdf:type literal is written under "rdf:type").

Supported contexts: inline, with `@vocab`, prefixes and terms whose definition is an IRI or has `@id`,
`@type`, `@language` or `@prefix`. Anything else (`@base`, `@language` or `@container`, keyword aliases,
scoped contexts, reverse properties) is refused with ValueError rather than written differently.
"""

from __future__ import annotations

import hashlib
import json
import re
from json.encoder import encode_basestring, encode_basestring_ascii

from .terms import RDF_FIRST, RDF_NIL, RDF_REST, RDF_TYPE, literal

XSD = "http://www.w3.org/2001/XMLSchema#"
_UNDEF = object()  # rdflib's UNDEF: a definition without the key, unlike an explicit null
_NODE_KEYS = {"@graph", "@id", "@included", "@json", "@list", "@nest", "@none", "@reverse", "@set", "@type",
              "@value", "@language"}
_GEN_DELIMS = (":", "/", "?", "#", "[", "]", "@")
_TERM_KEYS = {"@id", "@type", "@language", "@prefix", "@protected"}
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")


class Term:
    """A term of the context: `type` its @type coercion (falsy: none), `language` its @language
    (_UNDEF when the definition has none, None when it is null)."""

    __slots__ = ("name", "id", "type", "language")

    def __init__(self, name, id, type, language):
        self.name, self.id, self.type, self.language = name, id, type, language


def _split_iri(iri: str) -> tuple[str, str | None]:
    for delim in ("#", "/", ":"):
        at = iri.rfind(delim)
        if at > -1:
            return iri[: at + 1], iri[at + 1:]
    return iri, None


class Context:
    """A JSON-LD context read as rdflib reads it, and the compaction choices rdflib makes with it."""

    def __init__(self, context: dict | None):
        context = context or {}
        inner = context.get("@context", context) if isinstance(context, dict) else context
        if not isinstance(inner, dict):
            raise ValueError("only an inline JSON-LD context (a JSON object) is supported")
        self.document = inner
        self.fingerprint = ""  # set by context_of
        self.active = bool(inner)
        self.vocab = inner.get("@vocab")
        self.terms: dict[str, Term] = {}
        self.lookup: dict[tuple, Term] = {}
        self.prefixes: dict[str, str] = {}
        self._memo: dict = {}
        self._shrunk: dict[str, str] = {}
        for key, value in inner.items():
            if key in ("@vocab", "@version", "@protected"):
                continue
            if key.startswith("@"):
                raise ValueError(f"JSON-LD context key {key} is not supported by kg's JSON-LD writer")
            self._read_term(inner, key, value)

    def _read_term(self, source: dict, name: str, definition) -> None:
        prefix = None
        coercion, language = None, _UNDEF
        if isinstance(definition, dict):
            unsupported = set(definition) - _TERM_KEYS
            if unsupported:
                raise ValueError(f"JSON-LD term {name}: {', '.join(sorted(unsupported))} is not supported")
            coercion = definition.get("@type")
            if coercion and coercion not in ("@id", "@vocab"):
                if coercion.startswith("@"):
                    raise ValueError(f"JSON-LD term {name}: @type {coercion} is not supported")
                coercion = self._expand(source, coercion)
            iri = definition.get("@id", _UNDEF)
            if iri == "@type":
                raise ValueError(f"JSON-LD term {name}: aliasing @type is not supported")
            if iri is not _UNDEF:
                iri = self._expand(source, iri)
            elif ":" in name:
                iri = self._expand(source, name)
            elif self.vocab:
                iri = self.vocab + name
            else:
                raise ValueError(f"JSON-LD term {name} has no IRI")
            language = definition.get("@language", _UNDEF)
            prefix = definition.get("@prefix")
        elif isinstance(definition, str):
            if definition.startswith("@"):
                raise ValueError(f"JSON-LD term {name}: keyword aliases are not supported")
            iri = self._expand(source, definition)
        elif definition is None:
            iri = None
        else:
            raise ValueError(f"JSON-LD term {name}: unsupported definition")
        if iri in _NODE_KEYS:
            raise ValueError(f"JSON-LD term {name}: keyword aliases are not supported")
        if prefix is None:
            prefix = isinstance(iri, str) and iri.endswith(_GEN_DELIMS)
        term = Term(name, iri, coercion, language)
        self.terms[name] = term
        self.lookup[(iri, coercion or language)] = term
        if prefix:
            self.prefixes[iri] = name

    def _expand(self, source: dict, expr: str, previous: str | None = None) -> str:
        """rdflib's recursive expansion of a compact IRI or term inside the context being read."""
        if expr == previous or expr in _NODE_KEYS:
            return expr
        if ":" in expr and not expr.split(":", 1)[1].startswith("//"):
            prefix, local = expr.split(":", 1)
            iri = self._source_id(source, prefix)
            if iri is None:
                if prefix + ":" == self.vocab:
                    return expr
                term = self.terms.get(prefix)
                iri = term.id if term else None
            following = expr if iri is None else iri + local
        else:
            following = self._source_id(source, expr) or expr
            if ":" not in following and self.vocab:
                return self.vocab + following
        return self._expand(source, following, expr)

    def _source_id(self, source: dict, key: str):
        value = source.get(key)
        if value is None:
            term = self.terms.get(key)
            return term.id if term else None
        if isinstance(value, dict):
            return value.get("@id")
        return value

    # --- compaction (rdflib's Context.shrink_iri, to_symbol and find_term) ---

    def shrink(self, iri: str) -> str:
        """An IRI as an @id value: compact IRI with a prefix of the context, else the IRI."""
        hit = self._shrunk.get(iri)
        if hit is None:
            if len(self._shrunk) > 200_000:
                self._shrunk.clear()
            hit = self._shrunk[iri] = self._shrink(iri)
        return hit

    def _shrink(self, iri: str) -> str:
        ns, name = _split_iri(iri)
        prefix = self.prefixes.get(ns)
        if prefix and not name.startswith("//"):
            return f"{prefix}:{name}"
        return iri

    def symbol(self, iri: str) -> str:
        """An IRI as a key or @type value: the context's term, vocabulary-relative, compact, or the IRI."""
        term = self.lookup.get((iri, None)) or self.lookup.get((iri, _UNDEF))
        if term:
            return term.name
        ns, name = _split_iri(iri)
        if ns == self.vocab and self.vocab and name and ":" not in name and name[0] != "@":
            symbol = name  # (a name with ":" would read as an IRI, one with "@" as a keyword)
        else:
            prefix = self.prefixes.get(ns)
            symbol = f"{prefix}:{name}" if prefix and not name.startswith("//") else iri
        other = self.terms.get(symbol)
        if other is not None and other.id != iri:  # a term for something else: it would expand wrongly
            return self.shrink(iri)
        return symbol

    def type_symbol(self, iri: str) -> str:
        hit = self._memo.get(("type", iri))
        if hit is None:
            hit = self._memo[("type", iri)] = self.symbol(iri)
        return hit

    def key(self, predicate: str, kind: str, datatype: str | None = None, language: str | None = None):
        """How a value of `predicate` is written: (key, mode), mode one of "id" (compact IRI string),
        "vocab" (term or compact IRI string), "type" (the @type key), "datatype" (bare lexical form of the
        term's datatype), "language" (bare string of the term's language), "raw" (a value object).
        `kind` is "ref" (IRI or blank node) or "literal"."""
        memo_key = (predicate, kind, datatype, language)
        hit = self._memo.get(memo_key)
        if hit is None:
            hit = self._memo[memo_key] = self._key(predicate, kind, datatype, language)
        return hit

    def _key(self, predicate, kind, datatype, language):
        lookup = self.lookup
        if kind == "literal":
            coercion = datatype if datatype is not None else language
            term = lookup.get((predicate, coercion)) or lookup.get((predicate, _UNDEF))
        else:
            term = (lookup.get((predicate, "@id")) or lookup.get((predicate, _UNDEF))
                    or lookup.get((predicate, "@vocab")))
        if term:
            if term.type:
                if term.type == "@id":
                    mode = "id" if kind == "ref" else "raw"
                elif term.type == "@vocab":
                    mode = "vocab" if kind == "ref" else "raw"
                else:
                    mode = "datatype" if kind == "literal" and datatype == term.type else "raw"
            elif term.language is not _UNDEF and term.language and kind == "literal" and language == term.language:
                mode = "language"
            else:
                mode = "raw"
            return term.name, mode
        key = self.symbol(predicate)
        other = self.terms.get(key)
        if other is not None and (other.type or other.id != predicate):
            key = predicate
        if predicate == RDF_TYPE[1:-1] and kind == "ref":
            return "@type", "type"
        return key, "raw"


_CONTEXTS: dict[str, Context] = {}
_LAST: list = [object(), None]  # the last context document asked for (a copy) and its Context


def context_of(context: dict | None) -> Context:
    """The Context of a context document, read once per process (the context is kg's, and fixed)."""
    if _LAST[0] == context:
        return _LAST[1]
    key = json.dumps(context, sort_keys=True)
    hit = _CONTEXTS.get(key)
    if hit is None:
        if len(_CONTEXTS) > 16:
            _CONTEXTS.clear()
        hit = _CONTEXTS[key] = Context(context)
        hit.fingerprint = hashlib.sha256(json.dumps(hit.document, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    _LAST[:] = [json.loads(key), hit]
    return hit


class Nodes:
    """JSON-LD nodes of a graph given as N-Triples text: subject -> predicate -> objects, and blank-node uses."""

    def __init__(self, context: Context, by_subject: dict, uses: dict):
        self.context, self.by_subject, self.uses = context, by_subject, uses
        self.done: set[str] = set()  # subjects whose node is made (or being made)
        self.pending: list[str] = []  # blank nodes reached from a value, their nodes still to make
        self.consumed: set[str] = set()  # list nodes written as @list

    def all(self) -> list[tuple[str, dict]]:
        """(subject, node) for every node of the graph (rdflib's from_graph, and what it lost)."""
        result = []
        blanks = []
        for subject in self.by_subject:
            if subject[0] != "_":
                result.append((subject, self.node(subject)))
            elif subject not in self.uses:
                blanks.append(subject)
            result += self._drain()
        for subject in sorted(blanks):
            if subject not in self.done:
                result.append((subject, self.node(subject)))
                result += self._drain()
        # Blank nodes only reachable through a cycle: lists' nodes last, so that a list is written as one.
        while True:
            left = [b for b in self.by_subject if b[0] == "_" and b not in self.done and b not in self.consumed]
            if not left:
                break
            plain = [b for b in left if self._list_node(b) is None]
            start = min(plain or left)
            result.append((start, self.node(start)))
            result += self._drain()
        return result

    def _drain(self) -> list[tuple[str, dict]]:
        result = []
        while self.pending:
            blank = self.pending.pop()
            if blank not in self.done:
                result.append((blank, self.node(blank)))
        return result

    def node(self, subject: str) -> dict:
        context = self.context
        self.done.add(subject)
        node = {"@id": context.shrink(subject[1:-1]) if subject[0] == "<" else subject}
        use_set = not context.active
        for predicate, objects in self.by_subject.get(subject, {}).items():
            p = predicate[1:-1]
            for o in objects:
                first = o[0]
                if first == '"':
                    value, language, datatype = literal(o)
                    key, mode = context.key(p, "literal", datatype, language)
                    if mode == "datatype" or mode == "language":
                        item = value
                    else:
                        item = self._literal(value, language, datatype)
                else:
                    key, mode = context.key(p, "ref")
                    if mode == "raw":
                        item = self.raw(o)
                    elif first == "_":  # a blank node where an IRI is expected: a reference, and its node
                        item = o
                        self._reach(o)
                    elif mode == "id":
                        item = context.shrink(o[1:-1])
                    else:  # "vocab" or "type"
                        item = context.type_symbol(o[1:-1])
                values = node.get(key)
                if values is None:
                    node[key] = [item] if use_set else item
                elif type(values) is list:
                    values.append(item)
                else:
                    node[key] = [values, item]
        return node

    def _reach(self, blank: str) -> None:
        if blank not in self.done:
            self.pending.append(blank)

    def _list_node(self, node: str):
        """(item, rest) of a blank node that is a well-formed list node used once, else None."""
        predicates = self.by_subject.get(node)
        if (predicates is None or len(predicates) != 2 or self.uses.get(node) != 1
                or RDF_FIRST not in predicates or RDF_REST not in predicates):
            return None
        first, rest = predicates[RDF_FIRST], predicates[RDF_REST]
        if len(first) != 1 or len(rest) != 1:
            return None
        return first[0], rest[0]

    def _items(self, head: str):
        items, chain, node = [], [], head
        while node != RDF_NIL:
            if node[0] != "_" or node in chain:
                return None
            entry = self._list_node(node)
            if entry is None:
                return None
            chain.append(node)
            items.append(entry[0])
            node = entry[1]
        self.consumed.update(chain)
        return items

    def raw(self, o: str):
        """rdflib's to_raw_value: a value object, node reference or list."""
        first = o[0]
        if first == "_" or o == RDF_NIL:
            items = self._items(o)
            if items is not None:
                return {"@list": [self.raw(i) for i in items]}
        if first == "_":
            self._reach(o)
            return {"@id": o}
        if first == "<":
            return {"@id": self.context.shrink(o[1:-1])}
        value, language, datatype = literal(o)
        return self._literal(value, language, datatype)

    def _literal(self, value: str, language: str | None, datatype: str | None):
        context = self.context
        if datatype is not None:
            native = _native(value, datatype)
            if native is not None and context.active:
                return native
            return {"@type": context.type_symbol(datatype), "@value": value if native is None else native}
        if language is not None:
            return {"@language": language, "@value": value}
        if not context.active:
            return {"@value": value}
        return value


def _native(value: str, datatype: str):
    """The JSON number or boolean that a JSON-LD processor turns back into this very literal, or None."""
    if datatype == XSD + "integer":
        if _INTEGER.fullmatch(value) and value != "-0" and len(value) < 21:
            return int(value)
    elif datatype == XSD + "boolean":
        if value == "true":
            return True
        if value == "false":
            return False
    return None


# --- text: exactly json.dumps(..., indent=2, sort_keys=True, ensure_ascii=False), values sorted as before ---

def sort_values(node, ordered: bool = False):
    """Sort JSON-LD arrays (sets of values) recursively; an @list keeps its order."""
    if isinstance(node, dict):
        return {k: sort_values(v, ordered=k == "@list") for k, v in node.items()}
    if isinstance(node, list):
        if ordered:
            return [sort_values(v) for v in node]
        values = [sort_values(v) for v in node]
        if len(values) > 1:
            values.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return values
    return node


def dumps(value, level: int) -> str:
    """`value` as json.dumps(indent=2, sort_keys=True, ensure_ascii=False) writes it `level` deep."""
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = "\n" + "  " * (level + 1)
        return "{" + inner + ("," + inner).join(
            encode_basestring(k) + ": " + dumps(value[k], level + 1) for k in sorted(value)) + "\n" + "  " * level + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        inner = "\n" + "  " * (level + 1)
        return "[" + inner + ("," + inner).join(dumps(v, level + 1) for v in value) + "\n" + "  " * level + "]"
    return json.dumps(value)


def node_text(node: dict) -> str:
    """A node as it is written in the document's @graph (two levels deep), with its first indent:
    "    " + dumps(sort_values(node), 2), quicker for the usual values (strings, node references)."""
    if not node:
        return "    {}"
    fields = []
    for key in sorted(node):
        value = node[key]
        if type(value) is list:
            values = [v if _simple(v) else sort_values(v) for v in value]
            if len(values) > 1 and key != "@list":  # (an @list keeps its order, as in sort_values)
                values.sort(key=_sort_key)
            text = "[\n        " + ",\n        ".join([_text(v, 4) for v in values]) + "\n      ]" if values else "[]"
        else:
            text = _text(value if _simple(value) else sort_values(value), 3)
        fields.append(f"      {encode_basestring(key)}: {text}")
    return "    {\n" + ",\n".join(fields) + "\n    }"


def _simple(value) -> bool:
    return type(value) is str or (type(value) is dict and len(value) == 1 and type(value.get("@id")) is str)


def _text(value, level: int) -> str:
    if type(value) is str:
        return encode_basestring(value)
    if type(value) is dict and len(value) == 1 and type(value.get("@id")) is str:
        pad = "  " * level
        return f'{{\n{pad}  "@id": {encode_basestring(value["@id"])}\n{pad}}}'
    return dumps(value, level)


def _sort_key(value) -> str:
    """json.dumps(value, sort_keys=True): the order of a node's values."""
    if type(value) is str:
        return encode_basestring_ascii(value)
    if type(value) is dict and len(value) == 1 and type(value.get("@id")) is str:
        return f'{{"@id": {encode_basestring_ascii(value["@id"])}}}'
    return json.dumps(value, sort_keys=True)


def document(context: Context, nodes: list[str]) -> str:
    """The document around node texts already in order."""
    graph = "[\n" + ",\n".join(nodes) + "\n  ]" if nodes else "[]"
    return "{\n  \"@context\": " + dumps(context.document, 1) + ",\n  \"@graph\": " + graph + "\n}\n"


def by_rdflib(triples, *, context: dict) -> str:
    """kg's former JSON-LD writer (rdflib compacts; nodes and values then sorted): the tests' reference."""
    import rdflib

    from kg.rdf import to_rdflib

    inner = context.get("@context", context)
    graph = to_rdflib(triples, rdflib.Graph(bind_namespaces="none"))
    data = json.loads(graph.serialize(format="json-ld", context=inner, auto_compact=True))
    if isinstance(data, list):  # no context: rdflib writes expanded form
        nodes = data
    elif "@graph" in data:
        nodes = data["@graph"]
    else:  # a single node, compacted
        nodes = [{k: v for k, v in data.items() if k != "@context"}]
    nodes = sorted((sort_values(n) for n in nodes), key=lambda n: n.get("@id", ""))
    document = {"@context": inner, "@graph": nodes}
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
