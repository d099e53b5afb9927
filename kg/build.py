"""The build: read → ground → reason → validate → serialise, and write out/ atomically.

Each article is a unit of work: its facts, the registry and the ontology are all it needs to be
grounded and reasoned over. Nothing is written unless every step succeeds.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pyoxigraph as ox

from kg.curation import Project, read_project
from kg.errors import CheckFailed, KgError, Problem
from kg.export import FORMATS, read_context, serialize
from kg.ground import Grounded, ground
from kg.namespaces import GRAPH, KG, REGISTRY_GRAPH, article_graph, inferred_graph
from kg.validate import Report, validate

OUT_DIR = "out"
OUTPUT_STEM = "kg"
CONTEXT_FILE = "ontology/context.jsonld"
ONTOLOGY_GRAPH = GRAPH + "ontology"


class NotConforming(CheckFailed):
    def __init__(self, report: Report):
        self.report = report
        super().__init__(Problem(f"the graph does not conform to the shapes ({len(report.findings)} results)"))


@dataclass(frozen=True)
class Build:
    project: Project
    grounded: tuple[Grounded, ...]
    quads: tuple[ox.Quad, ...]
    report: Report
    files: dict[str, bytes]  # file name in out/ -> content


def ground_all(project: Project) -> tuple[Grounded, ...]:
    statement_classes = project.vocabulary.descendants(KG + "Statement")
    grounded = tuple(ground(article, statement_classes=statement_classes) for article in project.articles)
    problems = list(project.problems) + [p for g in grounded for p in g.problems]
    if problems:
        raise KgError(problems)
    return grounded


def _triples(sources):
    return [t for s in sources for t in s.triples]


def check(project: Project, grounded: tuple[Grounded, ...]) -> Report:
    """SHACL-validate the registry and every grounded article against the shapes."""
    data = list(project.registry.triples) + [t for g in grounded for t in g.triples]
    units = {}
    for t in project.registry.triples:
        if isinstance(t.subject, ox.NamedNode):
            units.setdefault(t.subject.value, "registry")
    for article, g in zip(project.articles, grounded):
        for t in g.triples:
            if isinstance(t.subject, ox.NamedNode):
                units.setdefault(t.subject.value, article.slug)
    sources = {"registry": project.registry, **{a.slug: a.facts for a in project.articles}}
    return validate(
        data, shapes=_triples(project.shapes), ontology=_triples(project.ontology), sources=sources, units=units
    )


def infer(project: Project, grounded: tuple[Grounded, ...]) -> list[ox.Quad]:
    """Inferred triples, one graph per unit, never repeating what is asserted.

    The registry is reasoned over once; each article with the registry, keeping only what the
    article adds. Per-article reasoning is sound for kg's ontology (see kg.reason)."""
    from kg import reason
    from kg.rdf import from_rdflib, to_rdflib

    ontology = to_rdflib(_triples(project.ontology))

    def article_unit(g: Grounded):
        return reason.infer(to_rdflib(g.triples, to_rdflib(project.registry.triples)), ontology=ontology)

    def whole_graph():
        # Two articles may give one registry entity clashing facts; only the union shows it.
        union = to_rdflib(project.registry.triples)
        for g in grounded:
            to_rdflib(g.triples, union)
        reason.check_consistent(union, ontology=ontology)

    # Each HermiT run is its own JVM, so threads keep every core busy; results are taken in article
    # order, so the output (and which error is reported first) does not depend on scheduling.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        registry_run = pool.submit(reason.infer, to_rdflib(project.registry.triples), ontology=ontology)
        article_runs = [pool.submit(article_unit, g) for g in grounded]
        union_run = pool.submit(whole_graph) if len(grounded) > 1 else None
        registry_inferred = registry_run.result()
        results = [run.result() for run in article_runs]
        if union_run is not None:
            union_run.result()
    quads = [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(inferred_graph(REGISTRY_GRAPH)))
             for t in from_rdflib(registry_inferred)]
    known = set(registry_inferred)
    for g, inferred in zip(grounded, results):
        graph = ox.NamedNode(inferred_graph(article_graph(g.slug)))
        for triple in inferred:
            if triple not in known:
                t = from_rdflib_triple(triple)
                quads.append(ox.Quad(t.subject, t.predicate, t.object, graph))
    return quads


def from_rdflib_triple(triple) -> ox.Triple:
    from kg.rdf import from_rdflib_term

    s, p, o = triple
    return ox.Triple(from_rdflib_term(s), from_rdflib_term(p), from_rdflib_term(o))


def assemble(project: Project, grounded: tuple[Grounded, ...], inferred: list[ox.Quad]) -> tuple[ox.Quad, ...]:
    quads = [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(ONTOLOGY_GRAPH)) for t in _triples(project.ontology)]
    quads += [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(REGISTRY_GRAPH)) for t in project.registry.triples]
    for g in grounded:
        name = ox.NamedNode(article_graph(g.slug))
        quads += [ox.Quad(t.subject, t.predicate, t.object, name) for t in g.triples]
    quads += inferred
    return tuple(sorted(set(quads), key=str))


def build(root: Path, *, reason: bool = True, site: bool = True) -> Build:
    """Everything `kg build` does except writing. Raises KgError (input) or CheckFailed (not conforming).

    `site` adds the evidence report (kg.report) under report/ in `files`."""
    root = Path(root)
    project = read_project(root)
    if not (root / CONTEXT_FILE).is_file():
        raise KgError(Problem("missing JSON-LD context for kg.jsonld", CONTEXT_FILE))
    context = read_context(root / CONTEXT_FILE)
    if not isinstance(context.get("@context"), dict):
        raise KgError(Problem("remote JSON-LD contexts are never fetched; inline the @context", CONTEXT_FILE))
    grounded = ground_all(project)
    # Consistency first: SHACL results on an inconsistent graph would only distract.
    inferred = infer(project, grounded) if reason else []
    report = check(project, grounded)
    if not report.conforms:
        raise NotConforming(report)
    quads = assemble(project, grounded, inferred)
    files = {f"{OUTPUT_STEM}{f.extension}": serialize(quads, name, context=context) for name, f in FORMATS.items()}
    result = Build(project, grounded, quads, report, files)
    if not site:
        return result
    from kg.report import render

    return replace(result, files={**files, **render(result)})


def write(out_dir: Path, files: dict[str, bytes]) -> list[str]:
    """Write each file atomically (temp file in the same folder, then rename); return changed names.

    Names may hold sub-folders ("report/index.html"); every file is staged before any is renamed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = stale(out_dir, files)
    staged = []
    try:
        for name in changed:
            target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            staged.append((temp, target))
            os.fchmod(handle, 0o666 & ~_umask())
            with os.fdopen(handle, "wb") as stream:
                stream.write(files[name])
                stream.flush()
                os.fsync(stream.fileno())
        for temp, target in staged:
            os.replace(temp, target)
        for name in orphans(out_dir, files):
            (out_dir / name).unlink()
            changed.append(name)
    finally:
        for temp, _ in staged:
            if os.path.exists(temp):
                os.unlink(temp)
    return changed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def stale(out_dir: Path, files: dict[str, bytes]) -> list[str]:
    """Names of files in out/ that differ from (or are missing compared to) a fresh build."""
    out_dir = Path(out_dir)
    return sorted(n for n, data in files.items() if not (out_dir / n).is_file() or (out_dir / n).read_bytes() != data)


def orphans(out_dir: Path, files: dict[str, bytes]) -> list[str]:
    """Files in the build's own sub-folders of out/ (report/) that a fresh build no longer writes,
    e.g. the page of a renamed entity. Other files in out/ are not the build's to judge."""
    out_dir = Path(out_dir)
    folders = sorted({name.split("/", 1)[0] for name in files if "/" in name})
    found = (p for folder in folders if (out_dir / folder).is_dir() for p in (out_dir / folder).rglob("*"))
    return sorted(n for n in (p.relative_to(out_dir).as_posix() for p in found if p.is_file()) if n not in files)
