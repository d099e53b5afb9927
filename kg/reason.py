"""OWL reasoning with HermiT: what the ontology adds to one unit of asserted facts.

`infer(asserted, ontology=...)` returns only new triples about individuals: their types (from the class
hierarchy and from property domains and ranges) and property values (inverses, sub-properties, property
chains such as kg:holdsOffice from kg:holder/kg:office). It raises `Inconsistent` with a one-line
explanation when the facts contradict the ontology, and `KgError` when Java is missing.

Why one article at a time is sound. kg's ontology uses class and property hierarchies, domains, ranges,
inverses, property chains, functional properties and disjointness; it has no nominals (owl:oneOf,
owl:hasValue on individuals), no cardinality restrictions other than functionality, no owl:hasKey and no
owl:sameAs between articles. With those axioms an inference about an individual needs only facts reachable
from it through asserted property links, and every article is reasoned together with the whole registry
(its only link to other articles), so an article's inferences are exactly those of the whole graph
restricted to it. The one exception is inconsistency: two articles may give one registry entity
disjoint types (or two values of a functional property). `check_consistent` on the union of everything,
once per build, covers that.

How HermiT is run. owlready2 0.51 bundles HermiT (with its `-Y` option, which does infer property values
including inverses and chains). We call that jar with the same command line as owlready2's
`sync_reasoner_hermit`, but not through it, because its result handling loses what we need:
it drops an inferred value whose inverse is asserted (reasoning.py, `_has_obj_triple_spo` on
`_inverse_storid`), so `kg:participatedIn` would never appear; HermiT prints each property value only
under the most specific property (InstanceManager keeps known instances at the lowest role element), so
values of super-properties such as org:holds need closing over the property hierarchy anyway; it leaks
its temporary file when the ontology is inconsistent (the unlink is not in a `finally`); and it writes
into an owlready2 World that we would only read back. Here the input goes to a private temporary
directory that is always removed, the JVM runs there with its output captured, and HermiT's taxonomy and
realisation are closed over the class and property hierarchies it reports.

Literals. HermiT accepts only the OWL 2 datatype map; xsd:date, xsd:gYearMonth, xsd:gYear, xsd:duration
and friends make it fail. Such literals are never sent to it: each is replaced by a plain string that
stands for it (distinct literals stay distinct), which keeps domain inferences (kg:attestedOn implies
kg:OfficeHolding) and functional data-property clashes; HermiT also gets --ignoreUnsupportedDatatypes so
that ranges naming those datatypes in the ontology are ignored instead of rejected. The result never
contains a literal, and the input graphs are never modified.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, XSD

from kg.errors import EXIT_INTERNAL, CheckFailed, KgError, Problem
from kg.namespaces import PREFIXES, prefixed

JAVA_MISSING = "java not found: kg's reasoner (HermiT) needs Java 11+ on PATH; install a JRE or use --no-reason"

# Short-lived JVM: C1 only, serial GC, no hsperfdata file in /tmp.
JVM_OPTIONS = ("-Xmx2000M", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData",
               "-Dfile.encoding=UTF-8", "-Dsun.stdout.encoding=UTF-8", "-Dsun.stderr.encoding=UTF-8")
HERMIT_MAIN = "org.semanticweb.HermiT.cli.CommandLine"

_RDF_PLAIN_LITERAL = URIRef(str(RDF) + "PlainLiteral")
_OWL_REAL = URIRef(str(OWL) + "real")
_OWL_RATIONAL = URIRef(str(OWL) + "rational")

# The OWL 2 datatype map (OWL 2 Structural Specification, section 4), which is all HermiT accepts.
SUPPORTED_DATATYPES = frozenset(
    [RDF.XMLLiteral, _RDF_PLAIN_LITERAL, RDF.langString, RDFS.Literal, _OWL_REAL, _OWL_RATIONAL]
    + [XSD[name] for name in (
        "decimal integer nonNegativeInteger nonPositiveInteger positiveInteger negativeInteger long int "
        "short byte unsignedLong unsignedInt unsignedShort unsignedByte double float string "
        "normalizedString token language Name NCName NMTOKEN boolean hexBinary base64Binary anyURI "
        "dateTime dateTimeStamp").split()]
)

# Terms whose subjects are vocabulary, not individuals: never reported on.
_TBOX_TYPES = frozenset([OWL.Class, RDFS.Class, OWL.ObjectProperty, OWL.DatatypeProperty,
                         OWL.AnnotationProperty, RDF.Property, OWL.Ontology, RDFS.Datatype, OWL.Restriction,
                         OWL.FunctionalProperty, OWL.InverseFunctionalProperty, OWL.TransitiveProperty,
                         OWL.SymmetricProperty, OWL.AsymmetricProperty, OWL.ReflexiveProperty,
                         OWL.IrreflexiveProperty, OWL.AllDisjointClasses, OWL.AllDifferent])
_BUILTIN = (str(OWL), str(RDF), str(RDFS), str(XSD))

Triple = tuple  # (subject, predicate, object) of rdflib terms


class Inconsistent(CheckFailed):
    """The facts contradict the ontology. The message is one line; the culprits are attributes too."""

    def __init__(self, message: str, *, individuals: tuple[URIRef | BNode, ...], classes: tuple[URIRef, ...]):
        super().__init__(Problem(message))
        self.message = message
        self.individuals = individuals
        self.classes = classes


class ReasonerFailed(KgError):
    """HermiT stopped with an error other than inconsistency: a bug or an input it cannot read."""

    exit_code = EXIT_INTERNAL


# --- public API -------------------------------------------------------------------------------------


def infer(asserted: Graph, *, ontology: Graph) -> Graph:
    """New triples about individuals entailed by `ontology` + `asserted`; nothing already asserted in either.

    Raises Inconsistent (exit 1) naming the individuals and classes at fault, KgError (exit 2) when Java is
    missing, ReasonerFailed (exit 3) when HermiT fails otherwise."""
    tbox_terms = _vocabulary(ontology) | _vocabulary(asserted)
    output = _hermit(_triples(asserted), ontology, actions=("-c", "-O", "-I", "-Y"))
    if output is None:
        raise _explain(asserted, ontology)
    result = _graph()
    for triple in _entailed(output):
        s = triple[0]
        if s in tbox_terms or triple in asserted or triple in ontology:
            continue
        result.add(triple)
    return result


def check_consistent(asserted: Graph, *, ontology: Graph) -> None:
    """Raise Inconsistent unless `ontology` + `asserted` is consistent. For the whole graph once per build
    (pass the union of the registry and every article, e.g. a Dataset with default_union=True)."""
    if _hermit(_triples(asserted), ontology, actions=("-k",)) is None:
        raise _explain(asserted, ontology)


def java_executable() -> str:
    """The `java` on PATH, or KgError."""
    java = shutil.which("java")
    if java is None:
        raise KgError(Problem(JAVA_MISSING))
    return java


def hermit_classpath() -> str:
    """HermiT as bundled with owlready2, found without importing owlready2 (slow, and global state)."""
    spec = importlib.util.find_spec("owlready2")
    if spec is None or not spec.submodule_search_locations:
        raise KgError(Problem("owlready2 is not installed: kg's reasoner uses the HermiT it bundles"))
    hermit = Path(next(iter(spec.submodule_search_locations))) / "hermit"
    return os.pathsep.join([str(hermit), str(hermit / "HermiT.jar")])


# --- running HermiT ---------------------------------------------------------------------------------


def _graph() -> Graph:
    g = Graph(bind_namespaces="none")
    for prefix, iri in PREFIXES.items():
        g.bind(prefix, iri)
    return g


def _triples(graph: Graph) -> list[Triple]:
    return list(graph.triples((None, None, None)))


def _hermit(asserted: Iterable[Triple], ontology: Graph, *, actions: tuple[str, ...]) -> str | None:
    """HermiT's standard output, or None when ontology + asserted is inconsistent."""
    java = java_executable()
    with tempfile.TemporaryDirectory(prefix="kg-reason-") as tmp:
        path = Path(tmp) / "input.nt"
        path.write_bytes(_ntriples(_reasonable(ontology.triples((None, None, None))), _reasonable(asserted)))
        command = [java, *JVM_OPTIONS, f"-Djava.io.tmpdir={tmp}", "-cp", hermit_classpath(), HERMIT_MAIN,
                   *actions, "--ignoreUnsupportedDatatypes", path.as_uri()]
        process = subprocess.run(command, cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    stderr = process.stderr.decode("utf-8", "replace")
    if process.returncode != 0:
        if "InconsistentOntologyException" in stderr:
            return None
        first = next((line.strip() for line in stderr.splitlines() if line.strip()), f"exit {process.returncode}")
        raise ReasonerFailed(Problem(f"HermiT failed: {first}"))
    return process.stdout.decode("utf-8")


def _reasonable(triples: Iterable[Triple]) -> Iterator[Triple]:
    """What HermiT may see: no owl:imports (never fetched), no literal outside the OWL 2 datatype map."""
    for s, p, o in triples:
        if p == OWL.imports:
            continue
        if isinstance(o, Literal) and o.datatype is not None and o.datatype not in SUPPORTED_DATATYPES:
            o = Literal(f"{o}^^{o.datatype}")
        yield s, p, o


def _ntriples(*parts: Iterable[Triple]) -> bytes:
    g = Graph(bind_namespaces="none")
    for part in parts:
        for triple in part:
            g.add(triple)
    return g.serialize(format="nt", encoding="utf-8")


# --- reading HermiT's output ------------------------------------------------------------------------

_IRI = r"<([^>]+)>"
_ROLE = re.compile(r"ObjectInverseOf\( <([^>]+)> \)|<([^>]+)>")
_CLASS_AXIOM = re.compile(r"^(SubClassOf|EquivalentClasses)\( ((?:<[^>]+>\s*)+)\)$", re.M)
_ROLE_AXIOM = re.compile(r"^(SubObjectPropertyOf|EquivalentObjectProperties)\( (.*) \)$", re.M)
_TYPE = re.compile(rf"^Type\( {_IRI} {_IRI} \)$", re.M)
_VALUES = re.compile(rf"^{_IRI} \(known instances: ?(.*?)\s*\| possible instances:", re.M)
_PAIR = re.compile(rf"\({_IRI}, {_IRI}\)")


def _entailed(output: str) -> Iterator[Triple]:
    """Every type and object-property value HermiT entails for named individuals.

    HermiT prints only direct types and, per property, only the values not already held by a
    sub-property, so both are closed here over the hierarchies HermiT itself reports. "Possible
    instances" (not decided without further tests) are left out: kg's axioms are deterministic, so HermiT
    reports everything as known."""
    supers: dict[str, set[str]] = defaultdict(set)
    for kind, iris in _CLASS_AXIOM.findall(output):
        names = re.findall(_IRI, iris)
        pairs = [(names[0], names[1])] if kind == "SubClassOf" else [(a, b) for a in names for b in names]
        for sub, sup in pairs:
            supers[sub].add(sup)
    for individual, cls in _TYPE.findall(output):
        for c in _reachable(cls, supers):
            if not c.startswith(_BUILTIN):
                yield URIRef(individual), RDF.type, URIRef(c)

    role_supers: dict[tuple[str, bool], set[tuple[str, bool]]] = defaultdict(set)
    for kind, text in _ROLE_AXIOM.findall(output):
        roles = [(b, False) if b else (a, True) for a, b in _ROLE.findall(text)]
        pairs = [(roles[0], roles[1])] if kind == "SubObjectPropertyOf" else [(a, b) for a in roles for b in roles]
        for (p, pi), (q, qi) in pairs:
            role_supers[(p, pi)].add((q, qi))
            role_supers[(p, not pi)].add((q, not qi))
    for prop, pairs in _VALUES.findall(output):
        for role, inverse in _reachable((prop, False), role_supers):
            if role.startswith(_BUILTIN):
                continue
            for a, b in _PAIR.findall(pairs):
                s, o = (b, a) if inverse else (a, b)
                yield URIRef(s), URIRef(role), URIRef(o)


def _reachable(start, edges: dict) -> set:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _vocabulary(graph: Graph) -> set:
    terms = set()
    for t in _TBOX_TYPES:
        terms.update(graph.subjects(RDF.type, t))
    return terms


# --- explaining an inconsistency --------------------------------------------------------------------


def _explain(asserted: Graph, ontology: Graph) -> Inconsistent:
    """One line naming the individuals and classes at fault.

    First a structural search with sound OWL rules (asserted types, domains and ranges including unions of
    classes, sub-properties, inverses, functional object and data properties, disjointness), which covers
    the usual curation mistakes without starting Java again. Otherwise delta debugging with HermiT (one JVM
    per test, a few seconds per article) down to a minimal set of individuals whose assertions clash."""
    tbox = _Tbox(ontology)
    found = tbox.conflict(asserted.triples((None, None, None)))
    if found is not None:
        return found
    if _hermit([], ontology, actions=("-k",)) is None:
        return Inconsistent("inconsistent: the ontology alone is inconsistent", individuals=(), classes=())
    by_subject: dict = defaultdict(list)
    for triple in asserted.triples((None, None, None)):
        by_subject[triple[0]].append(triple)
    units = sorted(by_subject, key=str)

    def clashes(subset: list) -> bool:
        return _hermit([t for u in subset for t in by_subject[u]], ontology, actions=("-k",)) is None

    culprits = _ddmin(units, clashes)
    described = []
    classes: list[URIRef] = []
    for u in culprits:
        types = sorted({o for o in asserted.objects(u, RDF.type) if isinstance(o, URIRef)}, key=str)
        predicates = sorted({p for p in asserted.predicates(u) if p != RDF.type}, key=str)
        classes += types
        said = [f"a {_name(t)}" for t in types] + [_name(p) for p in predicates]
        described.append(f"{_name(u)}: {', '.join(said)}")
    return Inconsistent(
        f"inconsistent: the assertions about {_and(_name(u) for u in culprits)} contradict the ontology "
        f"({'; '.join(described)})",
        individuals=tuple(culprits), classes=tuple(classes))


def _ddmin(units: list, fails: Callable[[list], bool]) -> list:
    """Zeller's ddmin: a 1-minimal sublist of `units` for which `fails` still holds."""
    n = 2
    while len(units) >= 2:
        size = -(-len(units) // n)
        chunks = [units[i:i + size] for i in range(0, len(units), size)]
        for chunk in chunks:
            if fails(chunk):
                units, n = chunk, 2
                break
        else:
            for chunk in chunks:
                rest = [u for u in units if u not in chunk]
                if len(chunks) > 2 and fails(rest):
                    units, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(units):
                    break
                n = min(len(units), 2 * n)
    return units


@dataclass(frozen=True)
class _Why:
    """An individual has class `cls` because of `via` (empty: asserted).

    Which triple said so is left out on purpose: one entry per (class, reason) keeps the pairwise
    disjointness test small for hubs such as a state that takes part in thousands of events."""

    cls: URIRef
    via: str


class _Tbox:
    """The named-class part of the ontology the structural explanation needs."""

    def __init__(self, ontology: Graph):
        self.supers: dict = defaultdict(set)
        self._ancestors: dict = {}
        for a, b in ontology.subject_objects(RDFS.subClassOf):
            self.supers[a].add(b)
        for a, b in ontology.subject_objects(OWL.equivalentClass):
            self.supers[a].add(b)
            self.supers[b].add(a)
        self.disjoint: set[frozenset] = {frozenset(p) for p in ontology.subject_objects(OWL.disjointWith)}
        for node in ontology.subjects(RDF.type, OWL.AllDisjointClasses):
            for members in ontology.objects(node, OWL.members):
                listed = list(ontology.items(members))
                self.disjoint |= {frozenset((a, b)) for a in listed for b in listed if a != b}
        for cls, members in ontology.subject_objects(OWL.disjointUnionOf):
            listed = list(ontology.items(members))
            self.disjoint |= {frozenset((a, b)) for a in listed for b in listed if a != b}
        self.roles: dict = defaultdict(set)
        for p, q in ontology.subject_objects(RDFS.subPropertyOf):
            self.roles[(p, False)].add((q, False))
            self.roles[(p, True)].add((q, True))
        for p, q in ontology.subject_objects(OWL.inverseOf):
            for i in (False, True):
                self.roles[(p, i)].add((q, not i))
                self.roles[(q, i)].add((p, not i))
        self.domains = _by_subject(ontology, RDFS.domain)
        self.ranges = _by_subject(ontology, RDFS.range)
        self.domain_unions = _unions(ontology, RDFS.domain)
        self.range_unions = _unions(ontology, RDFS.range)
        self.functional = set(ontology.subjects(RDF.type, OWL.FunctionalProperty))
        self.inverse_functional = set(ontology.subjects(RDF.type, OWL.InverseFunctionalProperty))

    def conflict(self, triples: Iterable[Triple]) -> Inconsistent | None:
        whys: dict = defaultdict(set)
        needs: dict = defaultdict(set)  # x -> {(union members, via)}: x must be in one of them
        values: dict = defaultdict(set)  # (x, functional object property) -> individuals
        data: dict = defaultdict(lambda: defaultdict(set))  # (x, functional data property) -> {value: literals}
        for s, p, o in triples:
            if p == RDF.type:
                if isinstance(o, URIRef) and not str(o).startswith(_BUILTIN):
                    whys[s].add(_Why(o, ""))
                continue
            for q, inverse in _reachable((p, False), self.roles):
                if isinstance(o, Literal):
                    if inverse:
                        continue
                    if q in self.functional:
                        data[(s, q)][_value_key(o)].add(o)
                x, y = (o, s) if inverse else (s, o)
                for c in self.domains.get(q, ()):
                    whys[x].add(_Why(c, f"domain of {_name(q)}"))
                for members in self.domain_unions.get(q, ()):
                    needs[x].add((members, f"the domain of {_name(q)}"))
                if isinstance(y, Literal):
                    continue
                for c in self.ranges.get(q, ()):
                    whys[y].add(_Why(c, f"range of {_name(q)}"))
                for members in self.range_unions.get(q, ()):
                    needs[y].add((members, f"the range of {_name(q)}"))
                if q in self.functional:
                    values[(x, q)].add(y)
                if q in self.inverse_functional:
                    values[(y, q)].add(x)
        for x in sorted(whys, key=str):
            mine = sorted(whys[x], key=_why_key)
            clash = self._clash(mine, mine)
            if clash:
                (w1, w2), pair = clash
                return Inconsistent(
                    f"inconsistent: {_name(x)} is both {_describe(w1)} and {_describe(w2)} {_disjoint(w1, w2, pair)}",
                    individuals=(x,), classes=(w1.cls, w2.cls))
        for x in sorted(needs, key=str):
            mine = sorted(whys[x], key=_why_key)
            for members, via in sorted(needs[x], key=str):
                clashes = [self._clash(mine, [_Why(m, "")]) for m in members]
                if mine and all(clashes):
                    w = clashes[0][0][0]
                    return Inconsistent(
                        f"inconsistent: {_name(x)} is {_describe(w)} but {via} is "
                        f"{' or '.join(_name(m) for m in members)} (disjoint)",
                        individuals=(x,), classes=(w.cls, *members))
        for (x, q), ys in sorted(values.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
            ordered = sorted(ys, key=str)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1:]:
                    clash = self._clash(sorted(whys[a], key=_why_key), sorted(whys[b], key=_why_key))
                    if clash:
                        (w1, w2), pair = clash
                        return Inconsistent(
                            f"inconsistent: {_name(a)} and {_name(b)} must be the same individual "
                            f"({_name(q)} of {_name(x)} is functional) but {_name(a)} is {_describe(w1)} and "
                            f"{_name(b)} is {_describe(w2)} {_disjoint(w1, w2, pair)}",
                            individuals=(x, a, b), classes=(w1.cls, w2.cls))
        for (x, q), literals in sorted(data.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
            if len(literals) > 1:
                shown = sorted(min(_literal(v) for v in same) for same in literals.values())
                return Inconsistent(
                    f"inconsistent: {_name(x)} has {len(shown)} values of {_name(q)}, which is functional "
                    f"({', '.join(shown)})", individuals=(x,), classes=())
        return None

    def _up(self, cls: URIRef) -> set:
        if cls not in self._ancestors:
            self._ancestors[cls] = _reachable(cls, self.supers)
        return self._ancestors[cls]

    def _clash(self, left: list[_Why], right: list[_Why]):
        for w1 in left:
            up1 = self._up(w1.cls)
            for w2 in right:
                up2 = self._up(w2.cls)
                for a in sorted(up1, key=str):
                    for b in sorted(up2, key=str):
                        if frozenset((a, b)) in self.disjoint:
                            return (w1, w2), (a, b)
                if OWL.Nothing in up1 | up2:
                    return (w1, w2), (OWL.Nothing, OWL.Nothing)
        return None


def _by_subject(graph: Graph, predicate: URIRef) -> dict:
    result: dict = defaultdict(set)
    for s, o in graph.subject_objects(predicate):
        if isinstance(o, URIRef):
            result[s].add(o)
    return result


def _unions(graph: Graph, predicate: URIRef) -> dict:
    """Property -> named-class unions given as its domain (or range), e.g. kg:Event or kg:OfficeHolding."""
    result: dict = defaultdict(set)
    for s, o in graph.subject_objects(predicate):
        for members in graph.objects(o, OWL.unionOf) if isinstance(o, BNode) else ():
            listed = tuple(graph.items(members))
            if listed and all(isinstance(m, URIRef) for m in listed) and not (o, RDF.type, RDFS.Datatype) in graph:
                result[s].add(tuple(sorted(listed, key=str)))
    return result


def _value_key(literal: Literal) -> tuple:
    """Equal data values compare equal ("1" and "01" as xsd:integer); anything rdflib cannot read by lexical form."""
    value = literal.value if literal.value is not None and not isinstance(literal.value, str) else str(literal)
    return (value, literal.language)


def _literal(literal: Literal) -> str:
    text = str(literal).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    if literal.language:
        return f'"{text}"@{literal.language}'
    if literal.datatype:
        return f'"{text}"^^{_name(literal.datatype)}'
    return f'"{text}"'


def _why_key(w: _Why) -> tuple:
    return (w.via != "", str(w.cls), w.via)


def _describe(w: _Why) -> str:
    return f"{_name(w.cls)} ({w.via})" if w.via else _name(w.cls)


def _disjoint(w1: _Why, w2: _Why, pair: tuple) -> str:
    if pair[0] == OWL.Nothing:
        return "(owl:Nothing)"
    if {w1.cls, w2.cls} == set(pair):
        return "(disjoint)"
    return f"({_name(pair[0])} and {_name(pair[1])} are disjoint)"


def _name(term) -> str:
    text = str(term)
    if isinstance(term, BNode):
        return f"_:{text}"
    return prefixed(text) or f"<{text}>"


def _and(names: Iterable[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
