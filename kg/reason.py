"""OWL reasoning with HermiT: what the ontology adds to units of asserted facts, and whether they agree.

`infer(asserted, ontology=...)` returns only new triples about individuals: their types (from the class
hierarchy and from property domains and ranges) and property values (inverses, sub-properties, property
chains such as kg:holdsOffice from kg:holder/kg:office). It raises `Inconsistent` with a one-line
explanation when the facts contradict the ontology, and `KgError` when Java is missing.
`infer_many(units, ontology=...)` is `[infer(u, ontology=...) for u in units]`, computed by a pool of
long-lived JVMs (`infer_with_shared` also reasons once over facts every unit shares, such as the registry).
`check_union(...)` says whether units that are each consistent are consistent together, without reasoning
over their union.

Why one article at a time is sound. kg's ontology uses class and property hierarchies, domains, ranges,
inverses, property chains, functional properties and disjointness; it has no nominals (owl:oneOf,
owl:hasValue on individuals), no cardinality restrictions other than functionality, no owl:hasKey and no
owl:sameAs between articles. With those axioms an inference about an individual needs only facts reachable
from it through asserted property links, and every article is reasoned together with the whole registry
(its only link to other articles), so an article's inferences are exactly those of the whole graph
restricted to it. The one exception is inconsistency: two articles may give one registry entity
disjoint types (or two values of a functional property). `check_union`, once per build, covers that.

How HermiT is run. owlready2 0.51 bundles HermiT (with its `-Y` option, which does infer property values
including inverses and chains) and the OWL API. kg/java/KgReasoner.java, compiled with javac against that
jar on first use (into ~/.cache/kg/java/<hash>/, or $XDG_CACHE_HOME), runs HermiT exactly as its command
line does (`-c -O -I -Y --ignoreUnsupportedDatatypes`), but in one JVM that reads the ontology once and then
answers unit after unit; `workers` such JVMs (one per core by default) are fed in parallel, a few units
per request. The JVMs run in private temporary directories that are always removed, with their output
captured. We do not go through owlready2's `sync_reasoner_hermit`, because its result handling loses what
we need: it drops an inferred value whose inverse is asserted (reasoning.py, `_has_obj_triple_spo` on
`_inverse_storid`), so `kg:participatedIn` would never appear; HermiT prints each property value only
under the most specific property (InstanceManager keeps known instances at the lowest role element), so
values of super-properties such as org:holds need closing over the property hierarchy anyway; and it
writes into an owlready2 World that we would only read back. HermiT's taxonomy and realisation are closed
over the class and property hierarchies it reports (`_entailed`, and the same code in Java).

Three things make the server fast, and none changes an answer (the tests compare with HermiT's command
line, one JVM per unit, which is still what runs when javac is missing):

1. Components. A unit is reasoned over with only those connected components of the ontology's and the
   shared facts' ABox (individuals linked by assertions) that it reaches, when the ontology has no nominal,
   key, rule or universal role. A consistent ABox made of parts that share no individual has as models
   the disjoint unions of models of its parts (every other OWL 2 axiom is kept by disjoint union), so a
   part's entailments are those of the part alone; what the other components entail is the answer of the
   ontology and shared facts alone (computed once per JVM, which also says they are consistent).
2. Several units per HermiT run, their individuals renamed apart (per unit, including their copies of the
   components they reach): the run is over the disjoint union of the units, so each unit's entailments are
   read back from it by undoing the renaming. A run that is inconsistent is redone unit by unit.
3. Chains to a fixpoint. HermiT realises a non-simple property (one with a chain below it) by adding two
   axioms per individual and property, which made every unit ten times slower. When the ontology is in
   the fragment F below and the unit has no anonymous individual, the chains are left out and their values
   are asserted instead: composed from the values HermiT reports, added, HermiT run again until nothing
   new is composed (usually the first run is final, since the chains are first applied to the asserted
   values). F: classes are named or Boolean combinations of named classes (no existential, universal,
   cardinality, nominal or self restriction), property axioms are hierarchies, inverses, domains, ranges,
   (inverse) functionality, symmetry, transitivity and chains of two, no key or rule. In F no axiom makes
   a property value or an equality out of a class, so the values and equalities of a consistent ABox are
   the closure of the assertions under sub-properties, inverses, chains and functional merges, and that
   closure is the same when the chains' values are asserted; the classes each individual must have (and
   so consistency) follow from that closure alike.

Whole-graph consistency at scale (`check_union`). Each unit is consistent with the ontology and the shared
facts (its reasoning said so). Their union could still be inconsistent, but only through individuals that
more than one of them mention. Let S be the individuals mentioned by the ontology, the shared facts or at
least two units, and I the smallest superset of S closed under: the other end of a functional or
inverse-functional property value or owl:sameAs of a member; the ends of a two-property chain whose middle
is a member; a subject (with all its values) that has two values of a functional property one of which is a
member. The check runs HermiT once on the ontology, the shared facts, and every asserted or inferred fact
about a member of I (its types, data values, values among members, and per property and direction one value
linking it to a non-member). For an ontology in F this is complete: in F, the values and equalities of the
union are the closure described above, and every step of that closure that involves a non-member is a step
within the one unit that mentions it (a step joining facts of two units needs an individual both mention,
and the closure rules put everything a functional merge or a chain through a member touches in I); so every
individual of the union that is not in I has exactly the constraints it had in its own, consistent, unit,
and every member of I has in the check all the constraints it has in the union: its asserted and inferred
types, the domains and ranges of its values (one value per property and direction gives them all), its data
values, and its merges with other members. Nothing else ties classes of different individuals together in
F, so the union is consistent if and only if the check is. For kg, I is the registry, the code lists and
the individuals of an article other articles also mention, a few thousand facts for 10,000 articles. When
the ontology is not in F (or a unit holds class or property axioms), the union itself is checked.

What the check reads of a unit is small: its facts about nodes it does not describe itself (registry entities,
other articles' nodes) and those the closure rules read (`Summary`, made by kg.summary.summarise as each
reasoning answer arrives, given `summary_reads`; `summariser` makes it of rdflib graphs). A build keeps each
unit's summary in its cache, so after an edit the check reads summaries, and a whole unit only when another
unit mentions one of its own nodes (then any of its facts may matter).

Literals. HermiT accepts only the OWL 2 datatype map; xsd:date, xsd:gYearMonth, xsd:gYear, xsd:duration
and friends make it fail. Such literals are never sent to it: each is replaced by a plain string that
stands for it (distinct literals stay distinct), which keeps domain inferences (kg:attestedOn implies
kg:OfficeHolding) and functional data-property clashes; HermiT also gets --ignoreUnsupportedDatatypes so
that ranges naming those datatypes in the ontology are ignored instead of rejected. The result never
contains a literal, and the input graphs are never modified.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, XSD

from kg.errors import EXIT_INTERNAL, CheckFailed, KgError, Problem
from kg.namespaces import PREFIXES, prefixed
from kg.summary import Summary, Terms, mentions
from kg.summary import summarise as _summarise

JAVA_MISSING = "java not found: kg's reasoner (HermiT) needs Java 11+ on PATH; install a JRE or use --no-reason"

# Short-lived JVM (HermiT's command line): C1 only, serial GC, no hsperfdata file in /tmp.
JVM_OPTIONS = ("-Xmx2000M", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-XX:-UsePerfData",
               "-Dfile.encoding=UTF-8", "-Dsun.stdout.encoding=UTF-8", "-Dsun.stderr.encoding=UTF-8")
HERMIT_MAIN = "org.semanticweb.HermiT.cli.CommandLine"

# The reasoning server (kg/java/KgReasoner.java). C1 only here too: with C2, 300 synthetic articles took
# 17 s of CPU instead of 9 (HermiT's code is too polymorphic for C2 to repay its compiling). VM messages go
# to standard error, since standard output carries the answers.
SERVER_SOURCE = Path(__file__).resolve().parent / "java" / "KgReasoner.java"
SERVER_MAIN = "KgReasoner"
SERVER_JVM_OPTIONS = ("-Xmx1500M", "-Xss8M", "-XX:+UseSerialGC", "-XX:-UsePerfData",
                      "-XX:+DisplayVMOutputToStderr", "-Dfile.encoding=UTF-8", "-Dsun.stdout.encoding=UTF-8",
                      "-Dsun.stderr.encoding=UTF-8")
# Only the quick (C1) compiler, for a JVM that answers fewer than LONG_RUN units: the optimising one (C2) costs
# more than it saves on a short run (1,000 articles on two JVMs: 12.3 -> 17.5 s) and saves more than it costs
# on a long one (10,000 articles: 108 -> 97 s, and 12 s less CPU).
QUICK_START = ("-XX:TieredStopAtLevel=1",)
LONG_RUN = 2000
BATCH = 16  # units per request (and per HermiT run): amortises classifying the ontology

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
_INTERNAL = "internal:"  # HermiT's own names (anonymous individuals)

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
    return infer_many([asserted], ontology=ontology, workers=1)[0]


def infer_many(units: Sequence[Graph], *, ontology: Graph, shared: Graph | None = None,
               workers: int | None = None, on_done: Callable[[int], None] | None = None,
               keep: Callable[[int, Graph], object] | None = None) -> list:
    """`[infer(u, ontology=ontology) for u in units]`, by `workers` JVMs (default: one per core) at once.

    With `shared` (facts every unit goes with, such as the registry), unit i's answer is what
    `infer(units[i] + shared)` adds to `infer(shared)`; see `infer_with_shared` for the latter too.
    Errors are those of the first unit in order that fails, exactly as `infer` would raise them.
    `on_done(i)` is called (in this thread) as unit i is finished.

    For a large corpus: `units` may be a sequence that makes each graph when indexed (it is read by
    index, never copied whole), and `keep(i, answer)` turns each answer into what the list holds (say,
    its N-Quads), so that no more than a few units' graphs are in memory at once."""
    return _infer_units(units, ontology=ontology, shared=shared, workers=workers, on_done=on_done, keep=keep)[1]


def infer_with_shared(shared: Graph, units: Sequence[Graph], *, ontology: Graph, workers: int | None = None,
                      on_done: Callable[[int], None] | None = None) -> tuple[Graph, list[Graph]]:
    """`(infer(shared), [infer(u + shared) - infer(shared) for u in units])`, shared facts read once per JVM.

    Raises as `infer(shared)` would when `shared` is inconsistent, else as `infer_many`."""
    return _infer_units(units, ontology=ontology, shared=shared, workers=workers, on_done=on_done,
                        explain_shared=True)


def check_consistent(asserted: Graph, *, ontology: Graph) -> None:
    """Raise Inconsistent unless `ontology` + `asserted` is consistent (HermiT on the whole graph; for the
    union of many units, `check_union` scales)."""
    with _consistency(ontology) as consistent:
        if consistent(asserted.triples((None, None, None))):
            return
    raise _explain(asserted, ontology)


def java_executable() -> str:
    """The `java` on PATH, or KgError."""
    java = shutil.which("java")
    if java is None:
        raise KgError(Problem(JAVA_MISSING))
    return java


def hermit_classpath() -> str:
    """HermiT as bundled with owlready2, found without importing owlready2 (slow, and global state).
    owlready2's folder comes first: it holds its patched CommandLine, Reasoner and InstanceManager."""
    spec = importlib.util.find_spec("owlready2")
    if spec is None or not spec.submodule_search_locations:
        raise KgError(Problem("owlready2 is not installed: kg's reasoner uses the HermiT it bundles"))
    hermit = Path(next(iter(spec.submodule_search_locations))) / "hermit"
    return os.pathsep.join([str(hermit), str(hermit / "HermiT.jar")])


def server_classpath() -> str | None:
    """The reasoning server compiled against HermiT, plus HermiT; None when there is no javac (then each
    unit is one run of HermiT's command line, as before the server). Compiled once per version of the
    source and of HermiT.jar, into a cache folder shared by all kg projects."""
    hermit = hermit_classpath()
    jar = Path(hermit.split(os.pathsep)[-1])
    stat = jar.stat()
    key = hashlib.sha256(SERVER_SOURCE.read_bytes() + f"\0{jar}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    folder = _cache_folder() / "java" / key.hexdigest()[:20]
    if not (folder / f"{SERVER_MAIN}.class").is_file():
        javac = shutil.which("javac")
        if javac is None:
            return None
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent)
        try:
            run = subprocess.run([javac, "--release", "11", "-nowarn", "-encoding", "UTF-8", "-implicit:none",
                                  "-sourcepath", "", "-cp", hermit, "-d", staging, str(SERVER_SOURCE)],
                                 stdin=subprocess.DEVNULL, capture_output=True, check=False)
            if run.returncode != 0:
                text = run.stderr.decode("utf-8", "replace")
                first = next((line.strip() for line in text.splitlines() if line.strip()), f"exit {run.returncode}")
                raise ReasonerFailed(Problem(f"javac failed on {SERVER_SOURCE.name}: {first}"))
            try:
                os.rename(staging, folder)
            except OSError:
                if not (folder / f"{SERVER_MAIN}.class").is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return os.pathsep.join([str(folder), hermit])


def _cache_folder() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "kg"


# --- the reasoning server ---------------------------------------------------------------------------


class _Server:
    """One KgReasoner JVM, with the ontology (and shared facts) loaded, in a private temporary folder."""

    def __init__(self, classpath: str, ontology: bytes, shared: bytes | None = None, *, units: int = 0):
        """`units`: about how many units it will answer (its JIT compiler is chosen for that: LONG_RUN)."""
        self.folder = tempfile.mkdtemp(prefix="kg-reason-")
        self.process = None
        try:
            self.stderr = open(os.path.join(self.folder, "stderr"), "wb")
            self.process = subprocess.Popen(
                [java_executable(), *SERVER_JVM_OPTIONS, *(QUICK_START if units < LONG_RUN else ()),
                 f"-Djava.io.tmpdir={self.folder}", "-cp", classpath,
                 SERVER_MAIN], cwd=self.folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
            self.ask("O", ontology)
            if shared is not None:
                self.ask("S", shared)
        except BaseException:
            self.close()
            raise

    def ask(self, kind: str, body: bytes = b"") -> tuple[str, bytes]:
        """(status, answer); ReasonerFailed if the server reports an error or dies."""
        try:
            self.process.stdin.write(b"%s %d\n" % (kind.encode("ascii"), len(body)))
            self.process.stdin.write(body)
            self.process.stdin.flush()
            header = self.process.stdout.readline()
        except OSError:
            header = b""
        parts = header.split()
        if len(parts) != 2:
            raise self._failed()
        status, size = parts[0].decode("ascii"), int(parts[1])
        answer = self.process.stdout.read(size)
        if len(answer) != size:
            raise self._failed()
        if status == "error":
            raise ReasonerFailed(Problem(f"HermiT failed: {answer.decode('utf-8', 'replace')}"))
        return status, answer

    def many(self, bodies: list[bytes]) -> list[tuple[str, bytes]]:
        """Several units in one request: [(status, answer)] in order."""
        status, answer = self.ask("M", b"".join(b"%d\n%s" % (len(body), body) for body in bodies))
        results, at = [], 0
        while at < len(answer):
            end = answer.index(b"\n", at)
            status, size = answer[at:end].split()
            results.append((status.decode("ascii"), answer[end + 1:end + 1 + int(size)]))
            at = end + 1 + int(size)
        if len(results) != len(bodies):
            raise ReasonerFailed(Problem(f"HermiT failed: {len(results)} answers to {len(bodies)} units"))
        return results

    def _failed(self) -> ReasonerFailed:
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stderr.flush()
        with open(os.path.join(self.folder, "stderr"), "rb") as stream:
            text = stream.read().decode("utf-8", "replace")
        first = next((line.strip() for line in text.splitlines() if line.strip()), f"exit {self.process.returncode}")
        return ReasonerFailed(Problem(f"HermiT failed: {first}"))

    def close(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            try:
                process.stdin.write(b"Q\n")
                process.stdin.close()
            except OSError:
                pass
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()
        if getattr(self, "stderr", None) is not None:
            self.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _infer_units(units: Sequence[Graph], *, ontology: Graph, shared: Graph | None, workers: int | None,
                 on_done: Callable[[int], None] | None, explain_shared: bool = False,
                 keep: Callable[[int, Graph], object] | None = None) -> tuple[Graph | None, list]:
    units = units if isinstance(units, Sequence) else list(units)
    java_executable()
    classpath = server_classpath()
    if classpath is None:
        return _infer_units_by_command_line(units, ontology=ontology, shared=shared, workers=workers,
                                            on_done=on_done, explain_shared=explain_shared, keep=keep)
    ontology_nt = _nt(ontology.triples((None, None, None)))
    shared_nt = None if shared is None else _nt(shared.triples((None, None, None)))
    vocabulary = _iris(_vocabulary(ontology) | (set() if shared is None else _vocabulary(shared)))
    # As sets of strings: `_answer` tests each entailed triple (three IRIs) against them before making its terms.
    ontology_facts = _iri_triples(ontology.triples((None, None, None)))
    shared_facts = frozenset() if shared is None else _iri_triples(shared.triples((None, None, None)))
    count = len(units)
    workers = max(1, min(workers or os.cpu_count() or 1, count or 1))
    size = max(1, min(BATCH, -(-count // workers)))
    batches = [range(start, min(start + size, count)) for start in range(0, count, size)]

    results: list = [None] * count
    failed: dict[int, BaseException | str] = {}  # unit -> error, or "inconsistent"
    lock = threading.Lock()
    claimed = iter(batches)
    first_failure = [count]  # no batch starting after the first failed unit is begun
    base: dict = {}  # "inferred": infer(shared) or None when inconsistent; "facts": its IRI triples as strings
    base_ready = threading.Event()
    finished: queue.Queue = queue.Queue()
    stop = threading.Event()

    def worker(number: int) -> None:
        server = None
        current = None
        known = None
        try:
            if count or shared is not None:
                server = _Server(classpath, ontology_nt, shared_nt, units=count // workers)
            if shared is not None and number == 0:
                status, answer = server.ask("B")
                found = None if status == "inconsistent" else _answer(answer, shared, ontology_facts, vocabulary)
                base["inferred"] = None if found is None else _graph_of(found)
                base["facts"] = None if found is None else _iri_triples(found)
                base_ready.set()
            while not stop.is_set():
                with lock:
                    current = next(claimed, None)
                    if current is None or current.start > first_failure[0]:
                        break
                graphs = {i: units[i] for i in current}  # each made once: `units` may make it when indexed
                answers = server.many([_unit_nt(graphs[i]) for i in current])
                if shared is not None:
                    base_ready.wait()
                if known is None:  # what no answer reports: the ontology's, the shared facts' and theirs alone
                    known = ontology_facts | shared_facts | (base.get("facts") or frozenset())
                for i, (status, answer) in zip(current, answers):
                    if status == "ok":
                        found = _answer(answer, graphs.pop(i), known, vocabulary)
                        results[i] = keep(i, TripleSet(found)) if keep is not None else _graph_of(found)
                    else:
                        with lock:
                            failed[i] = "inconsistent" if status == "inconsistent" else ReasonerFailed(
                                Problem(f"HermiT failed: {answer.decode('utf-8', 'replace')}"))
                            first_failure[0] = min(first_failure[0], i)
                    finished.put(i)
                current = None
        except BaseException as error:  # reported for the first unit this worker had not answered
            with lock:
                at = current.start if current is not None else count
                failed.setdefault(at, error)
                first_failure[0] = min(first_failure[0], at)
                base_ready.set()
        finally:
            if server is not None:
                server.close()
            finished.put(None)

    threads = [threading.Thread(target=worker, args=(n,), name=f"kg-reason-{n}", daemon=True) for n in range(workers)]
    with _no_gc():
        _run(threads, finished, on_done, stop)
    if shared is not None and explain_shared and "inferred" in base and base["inferred"] is None:
        raise _explain(shared, ontology)
    for i in range(count + 1):
        error = failed.get(i)
        if error == "inconsistent":
            raise _explain(_with(units[i], shared), ontology)
        if error is not None:
            raise error
        if i < count and results[i] is None:
            raise next((e for e in failed.values() if isinstance(e, BaseException)),
                       ReasonerFailed(Problem("HermiT failed: no answer")))
    if shared is not None and "inferred" not in base:
        raise next((e for e in failed.values() if isinstance(e, BaseException)),
                   ReasonerFailed(Problem("HermiT failed: no answer")))
    return base.get("inferred"), results


GC_EVERY = 64  # units answered between two collections of the young generations


def _run(threads: list[threading.Thread], finished: queue.Queue, on_done, stop: threading.Event) -> None:
    """Start the workers, call on_done for each unit they report finished, and wait for them all (they stop
    taking work when `stop` is set, as on an exception here)."""
    try:
        for thread in threads:
            thread.start()
        running, answered = len(threads), 0
        while running:
            item = finished.get()
            if item is None:
                running -= 1
                continue
            answered += 1
            if answered % GC_EVERY == 0:
                # The cycle collector is paused (_no_gc), but each unit's rdflib graphs hold reference
                # cycles: without this, 10,000 articles' graphs stay in memory (over 6 GiB).
                gc.collect(1)
            if on_done is not None:
                on_done(item)
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def _with(unit: Graph, shared: Graph | None) -> Graph:
    if shared is None:
        return unit
    union = Graph()
    for graph in (shared, unit):
        for triple in graph.triples((None, None, None)):
            union.add(triple)
    return union


def _answer(answer: bytes, asserted: Graph | TripleSet, known: frozenset, vocabulary: frozenset) -> list[Triple]:
    """The server's entailed triples minus what infer() never reports: about the `vocabulary` (IRIs) or the
    unit's own, asserted, and `known` (the ontology's, and the shared facts' and what they alone entail;
    triples of IRIs, as strings: `_iri_triples`). Each once, in the server's order."""
    if isinstance(asserted, Asserted):
        own, own_vocabulary = asserted.iri_triples, asserted.iri_vocabulary
    else:
        own, own_vocabulary = _iri_triples(asserted.triples((None, None, None))), _iris(_vocabulary(asserted))
    found = []
    for line in answer.decode("utf-8").splitlines():
        triple = tuple(line[1:-3].split("> <"))
        if triple[0] in vocabulary or triple[0] in own_vocabulary or triple in own or triple in known:
            continue
        found.append(triple)
    return [(URIRef(s), URIRef(p), URIRef(o)) for s, p, o in dict.fromkeys(found)]


def _graph_of(triples: Iterable[Triple]) -> Graph:
    graph = _graph()
    for triple in triples:
        graph.add(triple)
    return graph


def _iris(terms: Iterable) -> frozenset:
    return frozenset(str(t) for t in terms if isinstance(t, URIRef))


class TripleSet:
    """Triples of rdflib terms, read as `infer_many` and the reasoning around it read an rdflib Graph
    (`triples`, `subjects`, `objects`, `predicates`, `in`, iteration) and made for a fraction of its cost: a
    build makes one for each article it reasons over, and adding an article's 335 triples to a Graph took
    2.7 ms, more than parsing them and making their terms (2.1 ms)."""

    def __init__(self, triples: Iterable[Triple]):
        self._triples = frozenset(triples)
        self._by_subject: dict | None = None
        self._by_predicate_object: dict | None = None

    def __iter__(self) -> Iterator[Triple]:
        return iter(self._triples)

    def __len__(self) -> int:
        return len(self._triples)

    def __contains__(self, triple) -> bool:
        return triple in self._triples

    def triples(self, pattern) -> Iterator[Triple]:
        s, p, o = pattern
        if s is None and p is None and o is None:
            return iter(self._triples)
        if s is not None:
            if self._by_subject is None:
                self._by_subject = defaultdict(list)
                for triple in self._triples:
                    self._by_subject[triple[0]].append(triple)
            found = self._by_subject.get(s, ())
        else:
            found = self._triples
        return (t for t in found if (p is None or t[1] == p) and (o is None or t[2] == o))

    def subjects(self, predicate=None, object=None) -> Iterator:
        if predicate is None or object is None:
            return (s for s, _, _ in self.triples((None, predicate, object)))
        if self._by_predicate_object is None:  # `_vocabulary` asks for the subjects of 18 types
            self._by_predicate_object = defaultdict(list)
            for s, p, o in self._triples:
                self._by_predicate_object[p, o].append(s)
        return iter(self._by_predicate_object.get((predicate, object), ()))

    def objects(self, subject=None, predicate=None) -> Iterator:
        return (o for _, _, o in self.triples((subject, predicate, None)))

    def predicates(self, subject=None, object=None) -> Iterator:
        return (p for _, p, _ in self.triples((subject, None, object)))


class Asserted(TripleSet):
    """A unit's asserted triples, given as pyoxigraph terms, read as a TripleSet; made for what `infer_many`
    reads of every unit without making rdflib terms (the N-Triples HermiT sees, the IRI triples and
    vocabulary `_answer` leaves out), which took over 3 ms of Python per article. Its rdflib terms are made
    only when asked for (explaining an inconsistency, or HermiT's command line when there is no javac).

    Or given as the N-Quads kg writes (`nquads`: each line one quad in `graph`, each term as pyoxigraph writes
    it), as kg build keeps its units: then what HermiT is sent, the IRI triples and the vocabulary are cut
    from the lines, the same bytes and strings as from the terms without a Python object per term (half
    the time: 0.8 ms instead of 1.6 ms per synthetic article), and the terms are parsed only when asked for. A line that is not such a quad, or a literal
    with an escape that `_escaped` would not write, makes it read the terms instead."""

    def __init__(self, triples: Iterable = (), *, nquads: bytes | None = None, graph: str | None = None):
        if nquads is None:
            self.terms = tuple(dict.fromkeys(triples))  # pyoxigraph Triples, each once
            self._text = None
        else:
            self._text = (nquads, graph)
        self._by_subject = None
        self._by_predicate_object = None

    @cached_property
    def terms(self) -> tuple:
        """The pyoxigraph Triples, each once (parsed from the N-Quads when given those)."""
        nquads = self._text[0]
        return tuple(dict.fromkeys(q.triple for q in _ox.parse(nquads, format=_ox.RdfFormat.N_QUADS))) \
            if nquads else ()

    @cached_property
    def _lines(self) -> list[bytes] | None:
        """The N-Quads' lines as N-Triples (the graph cut from each, and the newline), each once; None when
        they were not given, or a line is not one quad in the graph (or may hold a quoted triple: RDF 1.2)."""
        if self._text is None:
            return None
        nquads, graph = self._text
        suffix = f" <{graph}> .\n".encode("utf-8")  # (a literal holds no newline: only a line can end so)
        if nquads.count(b"\n") != nquads.count(suffix) or (nquads and not nquads.endswith(b"\n")) or b"<<" in nquads:
            return None
        lines = nquads.replace(suffix, b" .\n").split(b"\n")
        lines.pop()
        if any(line.count(b" ") < 3 for line in lines):  # a triple of the default graph whose object is `graph`
            return None
        return lines if len(set(lines)) == len(lines) else list(dict.fromkeys(lines))

    @cached_property
    def _cut(self) -> bytes:
        """`_lines` as one text, a line a triple (without the last newline)."""
        return b"\n".join(self._lines)

    @cached_property
    def _triples(self) -> frozenset:
        from kg.rdf import to_rdflib_term

        return frozenset((to_rdflib_term(t.subject), to_rdflib_term(t.predicate), to_rdflib_term(t.object))
                         for t in self.terms)

    def ntriples(self) -> bytes:
        """The lines of `_nt(self.triples((None, None, None)))`, made from the pyoxigraph terms (or their text)."""
        lines = self._lines
        if lines is not None and not _DIRECTION.search(self._cut) and not (
                b"\\" in self._cut and not set(_ESCAPE.findall(self._cut)) <= _ESCAPED):
            if _IMPORTS_TEXT in self._cut:
                lines = [line for line in lines if line.split(b" ", 2)[1] != _IMPORTS_TEXT]
            sent = [line if b'"^^<' not in line else _typed_for_hermit(line) for line in lines]
            if None not in sent:
                return b"\n".join(sent) + b"\n" if sent else b""
        lines = []
        for t in self.terms:
            if t.predicate.value == _IMPORTS:
                continue
            lines.append(f"{_ox_nt_term(t.subject)} <{t.predicate.value}> {_ox_nt_term(t.object)} .\n")
        return "".join(lines).encode("utf-8")

    @cached_property
    def iri_triples(self) -> frozenset:
        """Its triples of three IRIs, as strings (what HermiT's answers are made of)."""
        if self._lines is not None:  # (an IRI holds neither "<", ">" nor '"'; a literal may hold all three)
            found = [line[1:-3].split("> <") for line in self._cut.decode("utf-8").split("\n")
                     if line[:1] == "<" and line[-3:] == "> ."]
            return frozenset(tuple(parts) for parts in found if len(parts) == 3 and '"' not in parts[2])
        return frozenset((t.subject.value, t.predicate.value, t.object.value) for t in self.terms
                         if isinstance(t.subject, _ox.NamedNode) and isinstance(t.object, _ox.NamedNode))

    @cached_property
    def iri_vocabulary(self) -> frozenset:
        """`_vocabulary(self)`'s IRIs, as strings."""
        if self._lines is not None:
            return frozenset(s for s, p, o in self.iri_triples if p == _TYPE_IRI and o in _TBOX_IRIS)
        return frozenset(t.subject.value for t in self.terms if isinstance(t.subject, _ox.NamedNode)
                         and t.predicate.value == _TYPE_IRI and isinstance(t.object, _ox.NamedNode)
                         and t.object.value in _TBOX_IRIS)


_IMPORTS = str(OWL.imports)
_TYPE_IRI = str(RDF.type)
_TBOX_IRIS = frozenset(str(t) for t in _TBOX_TYPES)
_XSD_STRING = str(XSD.string)
_SUPPORTED_IRIS = frozenset(str(d) for d in SUPPORTED_DATATYPES)
_IMPORTS_TEXT = f"<{_IMPORTS}>".encode("utf-8")
# What Asserted reads of N-Triples as pyoxigraph writes them (one triple a line, terms written one way each).
# The escapes `_escaped` writes too (pyoxigraph also escapes tabs and control characters, which it does not):
_ESCAPED = frozenset([b"\\", b"n", b'"', b"r"])
_DIRECTION = re.compile(rb'"@[A-Za-z0-9-]*--')  # a language tag with a base direction (RDF 1.2)
_XSD_STRING_TEXT = _XSD_STRING.encode("utf-8")
_SUPPORTED_TEXT = frozenset(iri.encode("utf-8") for iri in _SUPPORTED_IRIS)
_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)


def _typed_for_hermit(line: bytes) -> bytes | None:
    """An N-Triples line (pyoxigraph's, no escape `_escaped` would not write) whose object is a typed literal,
    with that object as `_ox_nt_term` writes it; None for an xsd:string (pyoxigraph writes those without it)."""
    if not line.endswith(b"> ."):
        return line  # ("^^<" in a literal of another kind)
    end = line.rindex(b'"^^<')  # the lexical form's end: its datatype IRI holds no quote
    datatype = line[end + 4:-3]
    if datatype in _SUPPORTED_TEXT:
        return line
    if datatype == _XSD_STRING_TEXT:
        return None
    start = line.index(b'"')  # the lexical form's start: the subject and predicate hold no quote
    return b'%s"%s^^%s" .' % (line[:start], line[start + 1:end], datatype)


def _ox_nt_term(term) -> str:
    """`_nt_term` of the rdflib term kg.rdf.to_rdflib_term makes of a pyoxigraph term, after `_reasonable`."""
    if isinstance(term, _ox.NamedNode):
        return f"<{term.value}>"
    if isinstance(term, _ox.BlankNode):
        return f"_:{term.value}"
    value, datatype = term.value, term.datatype.value
    if term.language:
        return f"{_escaped(value)}@{term.language}"
    if datatype == _XSD_STRING:
        return _escaped(value)
    if datatype not in _SUPPORTED_IRIS:
        return _escaped(f"{value}^^{datatype}")
    return f"{_escaped(value)}^^<{datatype}>"


def _escaped(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"').replace("\r", "\\r") + '"'


def _iri_triples(triples: Iterable[Triple]) -> frozenset:
    """Triples of three IRIs (rdflib terms), as strings."""
    return frozenset((str(s), str(p), str(o)) for s, p, o in triples
                     if isinstance(s, URIRef) and isinstance(p, URIRef) and isinstance(o, URIRef))


def _unit_nt(unit) -> bytes:
    return unit.ntriples() if isinstance(unit, Asserted) else _nt(unit.triples((None, None, None)))


def _nt_term(term) -> str:
    if isinstance(term, URIRef):
        return f"<{term}>"
    if isinstance(term, BNode):
        return f"_:{term}"
    text = _escaped(str(term))
    if term.language:
        return f"{text}@{term.language}"
    if term.datatype is not None:
        return f"{text}^^<{term.datatype}>"
    return text


def _nt(triples: Iterable[Triple]) -> bytes:
    """N-Triples of what HermiT may see (`_reasonable`), as rdflib writes them."""
    return "".join(f"{_nt_term(s)} {_nt_term(p)} {_nt_term(o)} .\n" for s, p, o in _reasonable(triples)).encode("utf-8")


@contextmanager
def _no_gc():
    """Python's cycle collector paused: these loops make millions of small objects that are all still in
    use, and a build holds thousands of graphs, so its passes (a third of check_union's time) find nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _consistency(ontology: Graph):
    """A function telling whether ontology + some triples is consistent, by one server for all its calls
    (HermiT's command line per call when there is no javac)."""
    java_executable()
    classpath = server_classpath()
    if classpath is None:
        yield lambda triples: _hermit(triples, ontology, actions=("-k",)) is not None
        return
    server = None

    def consistent(triples: Iterable[Triple]) -> bool:
        nonlocal server
        if server is None:
            server = _Server(classpath, _nt(ontology.triples((None, None, None))))
        return server.ask("K", _nt(triples))[0] == "ok"

    try:
        yield consistent
    finally:
        if server is not None:
            server.close()


# --- HermiT's command line, one JVM per unit (without javac; and the reference the tests compare with) ----


def _infer_by_command_line(asserted: Graph, *, ontology: Graph) -> Graph:
    """What `infer` answered before the server: HermiT's command line on ontology + asserted."""
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


def _infer_units_by_command_line(units: Sequence[Graph], *, ontology: Graph, shared: Graph | None,
                                 workers: int | None, on_done: Callable[[int], None] | None, explain_shared: bool,
                                 keep: Callable[[int, Graph], object] | None = None):
    from concurrent.futures import ThreadPoolExecutor

    base = None
    with ThreadPoolExecutor(max_workers=max(1, workers or os.cpu_count() or 1)) as pool:
        base_run = pool.submit(_infer_by_command_line, shared, ontology=ontology) if shared is not None else None
        runs = [pool.submit(_infer_by_command_line, _with(u, shared), ontology=ontology) for u in units]
        if base_run is not None:
            try:
                base = base_run.result()
            except Inconsistent:
                if explain_shared:
                    raise
        results = []
        for i, run in enumerate(runs):
            graph = run.result()
            if base is not None:
                for triple in list(graph):
                    if triple in base:
                        graph.remove(triple)
            results.append(graph if keep is None else keep(i, graph))
            if on_done is not None:
                on_done(i)
    return base, results


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
    reports everything as known. HermiT names an anonymous individual (a blank node) with an IRI of its
    own, internal:anonymous#..., which holds the parser's name for the node (for the command line, the
    temporary file's); triples naming one are left out."""
    supers: dict[str, set[str]] = defaultdict(set)
    for kind, iris in _CLASS_AXIOM.findall(output):
        names = re.findall(_IRI, iris)
        pairs = [(names[0], names[1])] if kind == "SubClassOf" else [(a, b) for a in names for b in names]
        for sub, sup in pairs:
            supers[sub].add(sup)
    for individual, cls in _TYPE.findall(output):
        for c in _reachable(cls, supers):
            if not c.startswith(_BUILTIN) and not individual.startswith(_INTERNAL):
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
                if not s.startswith(_INTERNAL) and not o.startswith(_INTERNAL):
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
    the usual curation mistakes without starting Java again. Otherwise delta debugging with HermiT (one
    reasoning server for all the tests) down to a minimal set of individuals whose assertions clash."""
    tbox = _Tbox(ontology)
    found = tbox.conflict(asserted.triples((None, None, None)))
    if found is not None:
        return found
    by_subject: dict = defaultdict(list)
    for triple in asserted.triples((None, None, None)):
        by_subject[triple[0]].append(triple)
    units = sorted(by_subject, key=str)
    with _consistency(ontology) as consistent:
        if not consistent([]):
            return Inconsistent("inconsistent: the ontology alone is inconsistent", individuals=(), classes=())
        culprits = _ddmin(units, lambda subset: not consistent([t for u in subset for t in by_subject[u]]))
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


# --- consistency of many units together ------------------------------------------------------------


def check_union(units: Sequence, inferred: Sequence, *, ontology: Graph, shared: Graph | None = None,
                shared_inferred: Graph | None = None, summaries: Sequence[Summary] | None = None,
                members: set | None = None) -> None:
    """Raise Inconsistent unless ontology + shared + all units together are consistent.

    Each ontology + shared + unit must already be known consistent: `inferred[i]` is what `infer_many`
    (with the same `shared`) answered for `units[i]`, and `shared_inferred` is `infer(shared)` (computed
    here when not given). Units and inferred graphs may be rdflib Graphs or sequences of triples, of
    rdflib or of pyoxigraph terms (not mixed), since a build may hold thousands of them; each is read
    twice. HermiT runs once, on the facts about individuals several of them mention (the module docstring
    says which and why that is complete); when the ontology or a unit is outside the fragment where that
    is complete, on the union of everything instead.

    `members`, a set, receives I (the individuals whose facts HermiT was given, module docstring) when the
    check passed that way; it stays empty when the union was checked instead. A build keeps it: while no
    unit's summary changes and no changed unit describes a member, HermiT would be given the same facts."""
    units, inferred = list(units), list(inferred)
    if len(units) != len(inferred):
        raise ValueError(f"{len(units)} units but {len(inferred)} inferred graphs")
    if shared is not None and shared_inferred is None:
        shared_inferred = infer(shared, ontology=ontology)
    with _no_gc():
        found: set = set()
        check = _facts_about_shared(units, inferred, ontology=ontology, shared=shared, shared_inferred=shared_inferred,
                                    summaries=summaries, members=found)
    if check is None:
        return
    check_graph, asserted_graph = check
    with _consistency(ontology) as consistent:
        if consistent(check_graph.triples((None, None, None))):
            if members is not None:
                members.update(found)
            return
    found = _Tbox(ontology).conflict(asserted_graph.triples((None, None, None)))
    raise found if found is not None else _explain(check_graph, ontology)


def _facts_about_shared(units: list, inferred: list, *, ontology: Graph, shared: Graph | None,
                        shared_inferred: Graph | None, summaries: Sequence[Summary] | None = None,
                        members: set | None = None) -> tuple[Graph, Graph] | None:
    """(the facts check_union gives HermiT, the asserted ones among them); None once the union itself was
    checked, when the ontology or a unit is outside the fragment."""
    rules = _Rules.of(ontology)
    sources = ([] if shared is None else [(shared, shared_inferred)]) + list(zip(units, inferred))
    first = 0 if shared is None else 1  # index of the first unit in sources

    def summary(index: int) -> Summary | None:
        return None if summaries is None or rules is None or index < first else summaries[index - first]

    canon = _canon(sources[1 if shared is not None else 0:])
    if shared is not None:
        sources[0] = tuple([tuple(canon(t) for t in triple) for triple in part.triples((None, None, None))]
                           for part in sources[0])

    def parts(index: int) -> Iterator[tuple[Iterable[Triple], bool]]:
        for position, part in enumerate(sources[index]):
            yield (part.triples((None, None, None)) if isinstance(part, Graph) else part), position == 0

    def each(index: int) -> Iterator[tuple[Triple, bool]]:
        for part, asserted in parts(index):
            for triple in part:
                yield triple, asserted

    # Who mentions what: -1 for the ontology, the shared facts or more than one unit.
    owner: dict = {}
    for s, p, o in ontology.triples((None, None, None)):
        for node in (s, o):
            if isinstance(node, URIRef):
                owner[canon(node)] = -1
    plain = rules is not None
    for index in range(len(sources)):
        known = summary(index)
        if known is not None:
            nodes, plain = known.mentioned, plain and known.plain
        else:
            nodes, unit_plain = mentions(parts(index), _TERMS)
            plain = plain and unit_plain
        common = shared is not None and index == 0
        for node in nodes:
            if common or owner.setdefault(node, index) != index:
                owner[node] = -1
    if not plain:
        union = Graph()
        for index in range(len(sources)):
            for triple in _rdflib(t for t, asserted in each(index) if asserted):
                union.add(triple)
        check_consistent(union, ontology=ontology)
        return None
    shared_nodes = {node for node, who in owner.items() if who == -1}

    # Each unit's facts about shared individuals, and all its facts the closure rules read.
    facts = [_Facts() for _ in sources]
    where: dict = defaultdict(list)
    read = rules.predicates
    for index, bucket in enumerate(facts):
        nodes = set()
        known = summary(index)
        # A summary holds every fact the test below keeps, unless a node the unit describes is shared.
        pairs = known.facts if known is not None and known.own.isdisjoint(shared_nodes) else each(index)
        for triple, asserted in pairs:
            if triple[0] in shared_nodes or triple[1] in read or triple[2] in shared_nodes and triple[1] not in _RDF_TYPES:
                bucket.add(triple, asserted)
                nodes.add(triple[0])
                nodes.add(triple[2])
        for node in nodes & shared_nodes:
            where[node].append(index)

    # I: the shared individuals, closed under what can carry a constraint from one unit to another.
    members = set(shared_nodes) if members is None else members
    members.update(shared_nodes)
    todo = list(members)
    grown: dict = defaultdict(set)  # unit -> its own individuals that joined I (their facts are read again)
    while todo:
        x = todo.pop()
        for index in where.get(x, ()) if owner.get(x, -1) == -1 else [owner[x]]:
            for node in rules.reached(facts[index], x):
                if node not in members:
                    members.add(node)
                    todo.append(node)
                    if owner.get(node, -1) != -1:
                        grown[owner[node]].add(node)
    for index, nodes in grown.items():
        for triple, asserted in each(index):
            if triple[0] in nodes or triple[2] in nodes and triple[1] not in _RDF_TYPES:
                facts[index].add(triple, asserted)

    # The facts about members (one value per property and direction towards non-members).
    check, asserted_part = set(), set()
    towards: dict = {}
    for bucket in facts:
        for triple, asserted in bucket.items():
            s, p, o = triple
            if p in _RDF_TYPES or isinstance(o, _LITERALS) or (s in members and o in members):
                if s in members:
                    check.add(triple)
                    if asserted:
                        asserted_part.add(triple)
                continue
            for x, other, key in ((s, o, (s, p, True)), (o, s, (o, p, False))):
                if x in members and other not in members and (key not in towards or str(other) < towards[key][2]):
                    towards[key] = (triple, asserted, str(other))
    for triple, asserted, _ in towards.values():
        check.add(triple)
        if asserted:
            asserted_part.add(triple)
    check_graph, asserted_graph = Graph(), Graph()
    for graph, triples in ((check_graph, check), (asserted_graph, asserted_part)):
        for triple in _rdflib(triples):
            graph.add(triple)
    return check_graph, asserted_graph


def summariser(ontology: Graph) -> Callable[[object, object], Summary]:
    """summarise(unit, inferred): a unit's Summary for `check_union` (unit and inferred as it takes them)."""
    rules = _Rules.of(ontology)
    read = frozenset() if rules is None else rules.predicates

    def summarise(unit, inferred) -> Summary:
        return _summarise(_each(unit), _each(inferred), read, _TERMS)

    return summarise


def summary_reads(ontology: Graph) -> frozenset[str]:
    """The IRIs of the properties whose values the check's closure rules read (none when the ontology is not in
    the fragment F): what kg.summary.summarise needs of the ontology, kept by kg build so that an edit that
    inherits its reasoning makes its summary without rdflib."""
    rules = _Rules.of(ontology)
    return frozenset() if rules is None else frozenset(str(p) for p in rules.predicates if isinstance(p, URIRef))


def _each(part) -> Iterable[Triple]:
    return part.triples((None, None, None)) if isinstance(part, Graph) else part


def _canon(sources: list) -> Callable:
    """rdflib terms as the units' terms are: unchanged, or as pyoxigraph terms when units are in those."""
    for pair in sources:
        for part in pair:
            for triple in part.triples((None, None, None)) if isinstance(part, Graph) else part:
                if isinstance(triple[0], (URIRef, BNode)):
                    return lambda term: term
                from kg.rdf import from_rdflib_term

                return from_rdflib_term
    return lambda term: term


try:
    import pyoxigraph as _ox
except ImportError:  # pragma: no cover - kg depends on pyoxigraph
    _ox = None

_LITERALS = (Literal,) if _ox is None else (_ox.Literal, Literal)


def _both(*terms: URIRef) -> frozenset:
    """Each IRI as an rdflib and as a pyoxigraph term, for membership tests on either."""
    return frozenset(list(terms) + ([] if _ox is None else [_ox.NamedNode(str(t)) for t in terms]))


_RDF_TYPES = _both(RDF.type)


def _iri(term) -> str | None:
    if isinstance(term, URIRef):
        return str(term)
    return term.value if _ox is not None and isinstance(term, _ox.NamedNode) else None


_TERMS = Terms(_RDF_TYPES, _LITERALS, _iri)  # rdflib's and pyoxigraph's terms alike (kg.summary)


def _rdflib(triples: Iterable[Triple]) -> Iterator[Triple]:
    from kg.rdf import to_rdflib_term

    for triple in triples:
        yield tuple(t if isinstance(t, (URIRef, BNode, Literal)) else to_rdflib_term(t) for t in triple)


class _Facts:
    """Some facts of one unit, indexed by subject and object; each remembers whether it was asserted."""

    def __init__(self):
        self.asserted: dict = {}  # triple -> asserted? (True wins)
        self.out: dict = defaultdict(set)  # s -> {(p, o)}
        self.into: dict = defaultdict(set)  # o -> {(s, p)}

    def add(self, triple: Triple, asserted: bool = True) -> None:
        s, p, o = triple
        self.asserted[triple] = self.asserted.get(triple, False) or asserted
        if p not in _RDF_TYPES and not isinstance(o, _LITERALS):
            self.out[s].add((p, o))
            self.into[o].add((s, p))

    def items(self):
        return self.asserted.items()

    def objects(self, s, p) -> set:
        return {o for q, o in self.out.get(s, ()) if q == p}

    def subjects(self, p, o) -> set:
        return {s for s, q in self.into.get(o, ()) if q == p}


_FRAGMENT_PREDICATES = frozenset([
    RDF.type, RDF.first, RDF.rest, RDFS.subClassOf, RDFS.subPropertyOf, RDFS.domain, RDFS.range, RDFS.label,
    RDFS.comment, RDFS.seeAlso, RDFS.isDefinedBy, OWL.equivalentClass, OWL.disjointWith, OWL.members,
    OWL.unionOf, OWL.intersectionOf, OWL.complementOf, OWL.disjointUnionOf, OWL.equivalentProperty,
    OWL.inverseOf, OWL.propertyChainAxiom, OWL.imports, OWL.versionIRI, OWL.versionInfo, OWL.priorVersion,
    OWL.backwardCompatibleWith, OWL.incompatibleWith, OWL.deprecated, OWL.onDatatype, OWL.withRestrictions])
_FRAGMENT_TYPES = frozenset([
    OWL.Class, RDFS.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty, RDF.Property,
    OWL.FunctionalProperty, OWL.InverseFunctionalProperty, OWL.SymmetricProperty, OWL.TransitiveProperty,
    OWL.Ontology, OWL.AllDisjointClasses, RDFS.Datatype, OWL.NamedIndividual, OWL.Thing, RDF.List,
    OWL.DeprecatedClass, OWL.DeprecatedProperty, OWL.OntologyProperty])
@dataclass(frozen=True)
class _Rules:
    """The ontology's functional and inverse-functional properties and two-property chains, when it is in
    the fragment F of the module docstring (else `of` answers None); each property as an rdflib and as a
    pyoxigraph term."""

    functional: frozenset
    inverse_functional: frozenset
    same: frozenset
    chains: tuple  # ((p, inverse?), (q, inverse?)): a value of p (or of its inverse), then of q; p, q as _both

    @property
    def predicates(self) -> frozenset:
        """Every property whose values the closure reads."""
        return self.functional | self.inverse_functional | self.same | {p for chain in self.chains
                                                                         for terms, _ in chain for p in terms}

    @staticmethod
    def of(ontology: Graph) -> _Rules | None:
        for s, p, o in ontology.triples((None, None, None)):
            if str(p).startswith(_BUILTIN) and p not in _FRAGMENT_PREDICATES:
                return None
            if p == RDF.type and str(o).startswith(_BUILTIN) and o not in _FRAGMENT_TYPES:
                return None
        chains = []
        for members in ontology.objects(None, OWL.propertyChainAxiom):
            steps = []
            for step in ontology.items(members):
                if isinstance(step, URIRef):
                    steps.append((_both(step), False))
                else:
                    inverse = ontology.value(step, OWL.inverseOf)
                    if not isinstance(inverse, URIRef):
                        return None
                    steps.append((_both(inverse), True))
            if len(steps) != 2:
                return None
            chains.append(tuple(steps))
        for p in ontology.subjects(RDF.type, OWL.TransitiveProperty):
            chains.append(((_both(p), False), (_both(p), False)))
        return _Rules(_both(*ontology.subjects(RDF.type, OWL.FunctionalProperty)),
                      _both(*ontology.subjects(RDF.type, OWL.InverseFunctionalProperty)), _both(OWL.sameAs),
                      tuple(chains))

    def reached(self, facts: _Facts, x) -> Iterator:
        """Individuals that a unit's facts about x tie to x's constraints: values of functional properties
        and owl:sameAs, subjects of inverse-functional ones, the ends of chains through x, and whatever
        shares a functional value with x (with its other values)."""
        for p, y in list(facts.out.get(x, ())):
            if p in self.functional or p in self.same:
                yield y
            if p in self.inverse_functional and facts.subjects(p, y) - {x}:
                yield y
                yield from facts.subjects(p, y)
            for (first, first_inverse), (second, second_inverse) in self.chains:
                if (p in second and not second_inverse) or (p in first and first_inverse):
                    yield y
        for s, p in list(facts.into.get(x, ())):
            if p in self.inverse_functional or p in self.same:
                yield s
            if p in self.functional and facts.objects(s, p) - {x}:
                yield s
                yield from facts.objects(s, p)
            for (first, first_inverse), (second, second_inverse) in self.chains:
                if (p in first and not first_inverse) or (p in second and second_inverse):
                    yield s
