"""Read the project's curated inputs: ontology, shapes, registry and articles.

Turtle is parsed with pyoxigraph: it keeps literals exactly as the curator wrote them (rdflib would
normalise "007" to "7") and reports syntax errors with line and column.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyoxigraph as ox

from kg.errors import KgError, Problem
from kg.namespaces import CURATION_PREFIXES, KGC, OWL, RDF, RDFS, prefixed

RDF_TYPE = ox.NamedNode(RDF + "type")
RDFS_LABEL = ox.NamedNode(RDFS + "label")
KGC_EVIDENCE = ox.NamedNode(KGC + "evidence")
KGC_EXACT = ox.NamedNode(KGC + "exact")
KGC_PREFIX = ox.NamedNode(KGC + "prefix")
CURATION_TERMS = {KGC_EVIDENCE.value, KGC_EXACT.value, KGC_PREFIX.value}

ONTOLOGY_DIR = "ontology"
SHAPES_DIR = "shapes"
REGISTRY_FILE = "registry/entities.ttl"
ARTICLES_DIR = "articles"
ARTICLE_FILES = ("article.txt", "facts.ttl", "meta.toml")


@dataclass(frozen=True)
class Source:
    """One parsed Turtle file, remembering where each subject is written."""

    path: str
    text: str
    triples: tuple[ox.Triple, ...]

    def line_of(self, term: ox.NamedNode | ox.BlankNode) -> int | None:
        """Line (1-based) where `term` is first written as a subject, else first mentioned."""
        return _locate(self.text, term, subject=True) or _locate(self.text, term, subject=False)

    def line_of_text(self, needle: str, *, near=None) -> int | None:
        """Line of `needle`, searching from where `near` is written as a subject (else from the top)."""
        start = 0
        if near is not None and (line := _locate(self.text, near, subject=True)):
            start = len("".join(self.text.splitlines(keepends=True)[: line - 1]))
        index = self.text.find(needle, start)
        if index < 0:
            index = self.text.find(needle)
        return self.text.count("\n", 0, index) + 1 if index >= 0 else None


@dataclass(frozen=True)
class Exclusion:
    sentence: str
    reason: str
    line: int | None


@dataclass(frozen=True)
class Article:
    slug: str
    folder: str
    text: str
    meta: dict
    facts: Source
    exclusions: tuple[Exclusion, ...] = ()

    @property
    def text_path(self) -> str:
        return f"{self.folder}/article.txt"


@dataclass(frozen=True)
class Project:
    root: Path
    ontology: tuple[Source, ...]
    shapes: tuple[Source, ...]
    registry: Source
    articles: tuple[Article, ...]
    vocabulary: "Vocabulary" = field(repr=False, default=None)
    problems: tuple[Problem, ...] = ()  # found in well-formed input; reported with grounding's

    def sources(self) -> list[Source]:
        return [self.registry, *(a.facts for a in self.articles)]


def read_text(root: Path, relative: str) -> str:
    """Read a UTF-8 file; a bad byte is an error at its line and column."""
    data = (root / relative).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise KgError(
            Problem(f"not valid UTF-8 (byte 0x{data[error.start]:02x})", relative, line, column)
        ) from None


def parse_turtle(root: Path, relative: str) -> Source:
    """Parse one Turtle file. Its prefixes must be the project's fixed ones (kg.namespaces)."""
    text = read_text(root, relative)
    try:
        quads = ox.parse(input=text.encode("utf-8"), format=ox.RdfFormat.TURTLE)
        triples = tuple(q.triple for q in quads)
    except SyntaxError as error:
        message = re.sub(r"^Parser error at line \d+ (between columns \d+ and \d+|column \d+): ", "", error.msg)
        raise KgError(Problem(f"Turtle syntax: {message}", relative, error.lineno, error.offset)) from None
    for match in re.finditer(r"(?im)^\s*@?prefix\s+([A-Za-z][\w.-]*)?:\s*<([^>]*)>", text):
        name, iri = match[1] or "", match[2]
        if name in CURATION_PREFIXES and CURATION_PREFIXES[name] != iri:
            raise KgError(
                Problem(
                    f"prefix {name}: must be <{CURATION_PREFIXES[name]}> (kg's fixed prefixes), not <{iri}>",
                    relative,
                    text.count("\n", 0, match.start(2)) + 1,
                )
            )
    return Source(relative, text, triples)


def read_project(root: Path) -> Project:
    """Read and parse every input. Unparseable input raises KgError (all such problems at once);
    problems in well-formed input are kept in `Project.problems` to be reported with grounding's."""
    root = Path(root)
    shared, folders = read_shared(root)
    problems: list[Problem] = []
    articles = []
    for folder in folders:
        try:
            articles.append(read_article(root, folder))
        except KgError as error:
            problems.extend(error.problems)
    if problems:
        raise KgError(problems)
    project = replace(shared, articles=tuple(articles))
    problems = check_terms(project) + check_labels(project) + check_blank_nodes(project)
    return replace(project, problems=tuple(problems))


def read_shared(root: Path) -> tuple[Project, list[str]]:
    """What every article is read against — ontology, shapes, registry — and the article folders to read.

    The returned project has no articles yet and no checks run. Raises KgError for unparseable input or
    a missing articles/ folder (all such problems at once)."""
    root = Path(root)
    problems: list[Problem] = []

    def attempt(function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except KgError as error:
            problems.extend(error.problems)
            return None

    ontology = tuple(
        s for s in (attempt(parse_turtle, root, p) for p in _ttl_files(root, ONTOLOGY_DIR)) if s
    )
    shapes = tuple(
        s for s in (attempt(parse_turtle, root, p) for p in _ttl_files(root, SHAPES_DIR)) if s
    )
    if not (root / REGISTRY_FILE).is_file():
        problems.append(Problem("missing registry of shared entities", REGISTRY_FILE))
        registry = None
    else:
        registry = attempt(parse_turtle, root, REGISTRY_FILE)
    folders = _article_folders(root, problems)
    if problems:
        raise KgError(problems)
    vocabulary = Vocabulary.from_sources(ontology)
    return Project(root, ontology, shapes, registry, (), vocabulary), folders


def _ttl_files(root: Path, folder: str) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / folder).glob("*.ttl"))


def article_folder_names(root: Path) -> list[str] | None:
    """The names of the folders under articles/ (not hidden ones), sorted; None without articles/. os.scandir
    and strings, not pathlib: ten thousand folders are listed on every run."""
    base = os.path.join(str(root), ARTICLES_DIR)
    if not os.path.isdir(base):
        return None
    with os.scandir(base) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def _article_folders(root: Path, problems: list[Problem]) -> list[str]:
    base = os.path.join(str(root), ARTICLES_DIR)
    names = article_folder_names(root)
    if names is None:
        problems.append(Problem("no articles/ folder: nothing to build", ARTICLES_DIR))
        return []
    if not names:
        problems.append(Problem("articles/ holds no article folder: nothing to build", ARTICLES_DIR))
    result = []
    for name in names:
        relative = f"{ARTICLES_DIR}/{name}"
        missing = [file for file in ARTICLE_FILES if not os.path.isfile(os.path.join(base, name, file))]
        if missing:
            problems.append(Problem(f"article folder lacks {', '.join(missing)}", relative))
        elif not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name):
            problems.append(
                Problem("article folder name must be a slug: lowercase letters, digits, hyphens", relative)
            )
        else:
            result.append(relative)
    return result


def read_article(root: Path, folder: str) -> Article:
    """Read one articles/<slug>/ folder: text, metadata, facts and exclusions."""
    text = read_text(root, f"{folder}/article.txt")
    meta_path = f"{folder}/meta.toml"
    meta = _read_toml(root, meta_path)
    facts = parse_turtle(root, f"{folder}/facts.ttl")
    exclusions: tuple[Exclusion, ...] = ()
    exclusions_path = f"{folder}/exclusions.toml"
    if (root / exclusions_path).is_file():
        raw = _read_toml(root, exclusions_path)
        source_text = read_text(root, exclusions_path)
        items = []
        for entry in raw.get("exclude", []):
            sentence, reason = entry.get("sentence"), entry.get("reason")
            line = _line_containing(source_text, sentence) if sentence else None
            if not sentence or not reason:
                raise KgError(
                    Problem("each [[exclude]] needs both sentence and reason", exclusions_path, line)
                )
            items.append(Exclusion(sentence, reason, line))
        exclusions = tuple(items)
    return Article(folder.rsplit("/", 1)[-1], folder, text, meta, facts, exclusions)


def _read_toml(root: Path, relative: str) -> dict:
    text = read_text(root, relative)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
        line, column = (int(match[1]), int(match[2])) if match else (None, None)
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error))
        raise KgError(Problem(f"TOML syntax: {message}", relative, line, column)) from None


def _line_containing(text: str, needle: str) -> int | None:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else None


# --- where a term is written -------------------------------------------------------------


def _spellings(term: ox.NamedNode) -> list[str]:
    spellings = [f"<{term.value}>"]
    short = prefixed(term.value)
    if short:
        spellings.insert(0, short)
    return spellings


def _locate(text: str, term, *, subject: bool) -> int | None:
    if not isinstance(term, ox.NamedNode):
        return None
    for spelling in _spellings(term):
        boundary = r"(?![A-Za-z0-9_:.-]*[A-Za-z0-9_:-])" if not spelling.startswith("<") else ""
        pattern = (r"(?m)^[ \t]*" if subject else r"(?<![A-Za-z0-9_:<-])") + re.escape(spelling) + boundary
        match = re.search(pattern, text)
        if match:
            return text.count("\n", 0, match.start()) + 1
    return None


# --- checks on the curated graph -----------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """The terms the ontology defines (classes, properties, individuals such as code-list concepts)."""

    classes: frozenset[str]
    properties: frozenset[str]
    individuals: frozenset[str]
    subclass_of: tuple[tuple[str, str], ...] = ()

    def descendants(self, iri: str) -> frozenset[str]:
        """`iri` and every named class below it (rdfs:subClassOf, transitively)."""
        found, frontier = {iri}, [iri]
        while frontier:
            parent = frontier.pop()
            for child, super_class in self.subclass_of:
                if super_class == parent and child not in found:
                    found.add(child)
                    frontier.append(child)
        return frozenset(found)

    @classmethod
    def from_sources(cls, sources) -> "Vocabulary":
        class_types = {OWL + "Class", RDFS + "Class"}
        property_types = {
            OWL + "ObjectProperty",
            OWL + "DatatypeProperty",
            OWL + "AnnotationProperty",
            RDF + "Property",
        }
        classes, properties, individuals, edges = set(), set(), set(), set()
        for source in sources:
            for triple in source.triples:
                if triple.predicate.value == RDFS + "subClassOf" and isinstance(triple.object, ox.NamedNode):
                    edges.add((triple.subject.value, triple.object.value))
                if triple.predicate == RDF_TYPE and isinstance(triple.subject, ox.NamedNode):
                    kind = triple.object.value
                    if kind in class_types:
                        classes.add(triple.subject.value)
                    elif kind in property_types:
                        properties.add(triple.subject.value)
                    else:
                        individuals.add(triple.subject.value)
        return cls(frozenset(classes), frozenset(properties), frozenset(individuals), tuple(sorted(edges)))

    def defines(self, iri: str) -> bool:
        return iri in self.classes or iri in self.properties or iri in self.individuals


def _own(iri: str) -> bool:
    return iri.startswith("https://example.org/kg/") and not iri.startswith(
        ("https://example.org/kg/id/", "https://example.org/kg/graph/")
    )


def check_terms(project: Project) -> list[Problem]:
    """Every class, property and code used from our own namespaces must be defined."""
    return [p for source in project.sources() for p in terms_problems(source, project.vocabulary)]


def terms_problems(source: Source, vocabulary: "Vocabulary") -> list[Problem]:
    """check_terms for one file: each undefined term once, at its first mention, with a suggestion."""
    problems = []
    seen = set()
    for triple in source.triples:
        uses = [(triple.predicate, "property", vocabulary.properties | CURATION_TERMS)]
        if triple.predicate == RDF_TYPE:
            uses.append((triple.object, "class", vocabulary.classes))
        elif isinstance(triple.object, ox.NamedNode) and _own(triple.object.value):
            uses.append(
                (triple.object, "term", vocabulary.classes | vocabulary.individuals | vocabulary.properties)
            )
        for term, kind, known in uses:
            if not isinstance(term, ox.NamedNode) or not _own(term.value) or term.value in known:
                continue
            if (source.path, term.value) in seen:
                continue
            seen.add((source.path, term.value))
            name = prefixed(term.value) or f"<{term.value}>"
            message = f"{name} is not a {kind} the ontology defines"
            candidates = sorted(prefixed(i) or f"<{i}>" for i in known)
            close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
            if close:
                message += f" (did you mean {close[0]}?)"
            problems.append(Problem(message, source.path, _locate(source.text, term, subject=False)))
    return problems


def check_labels(project: Project) -> list[Problem]:
    """One entity, one label per language, across all files."""
    return label_conflicts((entry for source in project.sources() for entry in labels_of(source)), project.root)


@dataclass(frozen=True)
class Label:
    """One rdfs:label as written in one file: all check_labels needs of it, small enough to cache."""

    subject: str  # N-Triples form of the subject
    name: str  # how a message names the subject
    language: str | None
    label: str
    path: str

    def line(self, root: Path) -> int | None:
        """Where the label is written (searching from its subject): looked up only for a message."""
        try:
            text = (Path(root) / self.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        subject = ox.NamedNode(self.subject[1:-1]) if self.subject.startswith("<") else None
        return Source(self.path, text, ()).line_of_text(str(ox.Literal(self.label, language=self.language)), near=subject)


def labels_of(source: Source) -> list[Label]:
    labels = []
    for triple in source.triples:
        if triple.predicate != RDFS_LABEL or not isinstance(triple.object, ox.Literal):
            continue
        name = prefixed(triple.subject.value) if isinstance(triple.subject, ox.NamedNode) else str(triple.subject)
        labels.append(Label(str(triple.subject), name, triple.object.language, triple.object.value, source.path))
    return labels


def label_conflicts(labels, root: Path) -> list[Problem]:
    """A problem for each label that differs from the first one seen for its subject and language."""
    first: dict[tuple[str, str | None], Label] = {}
    problems = []
    for entry in labels:
        key = (entry.subject, entry.language)
        if key not in first:
            first[key] = entry
        elif first[key].label != entry.label:
            other = first[key]
            problems.append(
                Problem(
                    f'conflicting labels for {entry.name}: "{entry.label}" here, "{other.label}" at '
                    f"{other.path}:{other.line(root)}",
                    entry.path,
                    entry.line(root),
                )
            )
    return problems


def check_blank_nodes(project: Project) -> list[Problem]:
    """Blank nodes only inside kgc:evidence; anything a person refers to gets an IRI."""
    return [p for source in project.sources() for p in blank_node_problems(source)]


def blank_node_problems(source: Source) -> list[Problem]:
    problems = []
    allowed = {t.object for t in source.triples if t.predicate == KGC_EVIDENCE}
    reported = set()
    for triple in source.triples:
        node = triple.object
        if isinstance(node, ox.BlankNode) and node not in allowed and node not in reported:
            reported.add(node)
            name = prefixed(triple.predicate.value) or f"<{triple.predicate.value}>"
            problems.append(
                Problem(
                    f"blank node used with {name}: mint an IRI (ex:…) for anything a person would refer to",
                    source.path,
                    source.line_of(triple.subject),
                )
            )
    referenced = {t.object for t in source.triples}
    for triple in source.triples:
        node = triple.subject
        if isinstance(node, ox.BlankNode) and node not in referenced and node not in reported:
            reported.add(node)
            problems.append(
                Problem("blank node as a subject: mint an IRI (ex:…) for anything a person would refer to", source.path)
            )
    return problems
