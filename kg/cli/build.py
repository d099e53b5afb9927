"""`kg build`, `kg validate`, `kg export`, `kg coverage`: each parses options, calls kg.build, renders."""

from __future__ import annotations

import contextlib
import hashlib
import sys
from pathlib import Path

import click

from kg.cli.common import project_lock, project_option, reports_errors
from kg.export import FORMATS

timings_option = click.option("--timings", is_flag=True,
                              help="Print each step's wall time and peak memory on stderr when done.")


@click.command()
@project_option
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if out/ differs from a fresh build.")
@click.option("--no-reason", is_flag=True, help="Skip OWL reasoning (no inferred graphs; no Java needed).")
@click.option("--no-cache", is_flag=True,
              help="Redo every article instead of reusing unchanged ones from .cache/units/ (and leave the cache as it is).")
@timings_option
@reports_errors
def build(project: Path, check: bool, no_reason: bool, no_cache: bool, timings: bool):
    """Ground, reason, validate and write every output file to out/.

    Reads ontology/, shapes/, registry/ and every articles/<slug>/; resolves each evidence quote to
    its character offsets; checks consistency with HermiT; validates with SHACL; writes out/kg.ttl,
    kg.jsonld, kg.nt, kg.nq and kg.trig atomically. On any error nothing in out/ changes.

    Articles are units: one whose files (and the ontology, shapes, registry and kg itself) did not change
    since the last build is reused from .cache/units/. Work runs on every core; a progress bar shows on a
    terminal.
    """
    from kg.progress import Progress

    from kg.survey import Survey
    from kg.units import OUT_DIR

    progress = Progress(timings=timings)
    try:
        with project_lock(project), _freeing_beside(project, enabled=not no_cache and not check):
            # the articles' files hashed, and out/'s files listed, by a second process while this one goes on
            survey = Survey(project / OUT_DIR, project) if not no_cache and not check else None
            try:
                _build(project, check=check, reason=not no_reason, cache=not no_cache, progress=progress,
                       survey=survey)
            finally:
                if survey is not None:
                    survey.close()
    finally:
        _print_timings(progress)


@contextlib.contextmanager
def _freeing_beside(project: Path, *, enabled: bool):
    """While kg build runs, large cache files it replaces keep a name in the trash beside the out/ manifest
    (kg.units.TRASH) instead of being freed in its time; a process of their own frees them at the end."""
    from kg import units
    from kg.build import OUT_MANIFEST, _TRASH, _free_beside

    trash = (project / OUT_MANIFEST).parent / _TRASH
    units.TRASH = trash if enabled else None
    try:
        yield
    finally:
        units.TRASH = None
        if enabled:
            _free_beside(trash)


def _build(project: Path, *, check: bool, reason: bool, cache: bool, progress, survey=None) -> None:
    from kg import store
    from kg.build import OUT_MANIFEST, NotConforming, OUT_DIR, Ahead, build as run, stage, write

    out = project / OUT_DIR
    manifest = project / OUT_MANIFEST if cache else None
    loading = []  # a new query store, loaded from kg.nq as soon as it is staged, while the rest is made and written
    early = {}  # kg.nq, staged before the report's index is made when the query store is to be loaded anew
    ahead = []  # after an edit: the data files, staged in a second process while the report is made (kg.build.Ahead)
    prepared = []  # then: the query store, made while that process finishes (kg.store.prepare)

    def store_key(result) -> str:  # the build's key of kg.nq names its store: hashed, apart from the files' hashes
        return hashlib.sha256(f"kg build\0{result.file_keys[store.DATASET_FILE]}".encode()).hexdigest()

    def data_known(partial) -> None:
        key = store_key(partial)
        if check:
            return
        if not store.loads_anew(out, partial.keys, key):
            # After an edit (some articles made anew, and few), every data file's key is new: they are spliced from
            # the files in out/, quick and small enough to run beside the report (one that `write` finds it
            # need not write after all, its article's cache entry having been lost, say, is removed).
            if partial.edited and len(partial.units) > len(partial.reused):
                ahead.append(Ahead(out, dict(sorted(partial.files.items())), manifest=manifest))
            return
        with progress.step("kg.nq staged", 1):
            staged = early[store.DATASET_FILE] = stage(out, store.DATASET_FILE, partial.files[store.DATASET_FILE],
                                                       manifest=manifest)
        nq = out / store.DATASET_FILE if staged.same else Path(staged.temp)
        loading.append(store.begin(out, nq, partial.keys, key))

    try:
        try:
            result = run(project, reason=reason, cache=cache, progress=progress, on_data=data_known, survey=survey)
        except NotConforming as error:
            click.echo(error.report.text(), err=True, nl=False)
            raise
        if check:
            _check(out, result, progress)
            return
        key = store_key(result)

        def staged(name: str, temp: str) -> None:
            if name == store.DATASET_FILE:
                loading.append(store.begin(out, Path(temp), result.keys, key))

        def waiting() -> None:  # for the Ahead's files, once every other file is staged
            prepared.append(store.prepare(out, result.keys, key, result.graph_lines))

        with progress.step("writing", 1):
            changed = write(out, result.files, keys=result.file_keys, manifest=manifest, on_staged=staged,
                            first=(store.DATASET_FILE,), early=ahead[0] if ahead else early, waiting=waiting,
                            survey=survey)
    except BaseException:
        for made in filter(None, prepared):
            made.discard()
        for started in filter(None, loading):
            started.cancel()
        for started in ahead:
            started.discard()
        for item in early.values():
            item.discard()
        raise
    with progress.step("query store", 1):
        store.refresh(out, graphs=result.keys, key=key, loading=next(filter(None, loading), None),
                      prepared=next(filter(None, prepared), None))
    click.echo(
        f"built {result.quad_count} quads in {result.graph_count} graphs from {len(result.units)} article(s); "
        f"{len(changed)} file(s) changed in {OUT_DIR}/"
    )


def _check(out: Path, result, progress) -> None:
    """`kg build --check`: out/ must be what this build would write."""
    from kg.build import OUT_DIR, orphans, stale
    from kg.errors import CheckFailed, Problem

    with progress.step("comparing", 1):
        problems = [Problem("differs from a fresh build; run `kg build`", f"{OUT_DIR}/{n}") for n in stale(out, result.files)]
        problems += [Problem("not written by a fresh build; run `kg build`", f"{OUT_DIR}/{n}") for n in orphans(out, result.files)]
    if problems:
        raise CheckFailed(problems)
    click.echo(f"{OUT_DIR}/ is up to date ({len(result.files)} files)")


def _print_timings(progress) -> None:
    """With --timings: each step's time and memory on stderr (also after an error: where did it stop?)."""
    if progress.timings is not None:
        click.echo("step           units     time  memory\n" + progress.summary(), err=True, nl=False)


@click.command()
@project_option
@click.option(
    "--format", "format_", type=click.Choice(["text", "json", "turtle"]), default="text", show_default=True,
    help="text: grouped by article and node, with file:line; json: machine-readable; turtle: the SHACL report graph.",
)
@timings_option
@reports_errors
def validate(project: Path, format_: str, timings: bool):
    """Validate the curated graph against the SHACL shapes.

    Exit codes: 0 conforms, 1 does not conform, 2 usage or input error, 3 internal error.
    """
    from kg.build import validate_project
    from kg.progress import Progress

    progress = Progress(timings=timings)
    try:
        with project_lock(project):
            report = validate_project(project, full=format_ == "turtle", progress=progress)
    finally:
        _print_timings(progress)
    output = {"text": report.text, "json": report.json}.get(format_)
    if output:
        click.echo(output(), nl=False)
    else:
        sys.stdout.buffer.write(report.graph)
    sys.exit(0 if report.conforms else 1)


@click.command()
@project_option
@click.option("--format", "format_", type=click.Choice(sorted(FORMATS)), default="ttl", show_default=True,
              help="ttl (text/turtle), jsonld (application/ld+json), nt (application/n-triples), "
                   "nq (application/n-quads), trig (application/trig).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (atomically) instead of stdout.")
@click.option("--no-reason", is_flag=True, help="Leave out inferred triples.")
@reports_errors
def export(project: Path, format_: str, output: Path | None, no_reason: bool):
    """Write the built graph in one RDF format, to stdout by default.

    nq and trig keep the named graphs (one per article, the registry, the ontology, inferred
    triples); ttl, nt and jsonld hold their union.
    """
    from kg.build import build as run, write

    with project_lock(project):
        result = run(project, reason=not no_reason, site=False)
        data = result.files[f"kg{FORMATS[format_].extension}"]
        if output is None:
            data.write_to(sys.stdout.buffer)
        else:
            write(output.parent, {output.name: data})


@click.command()
@project_option
@click.option("--all", "show_all", is_flag=True, help="List every sentence, not only those that back no fact.")
@reports_errors
def coverage(project: Path, show_all: bool):
    """Show which sentences of each article back a fact.

    Every sentence must back at least one fact or be excluded, with a reason, in the article's
    exclusions.toml. Exit 1 when a sentence is neither (or an exclusion is stale).
    """
    from kg.build import ground_all
    from kg.coverage import coverage as measure
    from kg.curation import read_project
    from kg.errors import CheckFailed, Problem

    loaded = read_project(project)
    problems = []
    for article, grounded in zip(loaded.articles, ground_all(loaded)):
        result = measure(article, grounded)
        click.echo(f"{article.slug}: {result.covered}/{len(result.lines)} sentences covered ({result.percent:.0f} %)")
        for line in result.lines:
            if show_all or line.status == "MISSING":
                detail = f"{line.facts} fact(s)" if line.facts else (line.excluded or "backs no fact and is not excluded")
                words = line.text if len(line.text) <= 70 else line.text[:69] + "…"
                click.echo(f"  {line.index:>3} {line.status:<8} {words}  — {detail}")
        problems += list(result.problems)
        if result.covered < len(result.lines):
            problems.append(Problem(f"{len(result.lines) - result.covered} sentence(s) back no fact and are not excluded", f"{article.folder}/article.txt"))
    if problems:
        raise CheckFailed(problems)
