"""`kg report`: parse options, build, render the evidence site, write it."""

from __future__ import annotations

from pathlib import Path

import click

from kg.cli.common import project_lock, project_option, reports_errors


@click.command()
@project_option
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Write the site into this folder instead of out/report/.")
@click.option("--no-reason", is_flag=True, help="Skip OWL reasoning (the site then shows no inferred facts).")
@reports_errors
def report(project: Path, output: Path | None, no_reason: bool):
    """Write the evidence report, a static site, to out/report/.

    An index (articles, counts per class, validation, coverage, a Graphviz picture of the graph), one
    page per article with every evidence span highlighted, one page per entity with its facts and
    the quotes that back them, and the ontology's documentation (pyLODE). No network, no scripts
    from elsewhere; the same graph gives the same bytes. `kg build` writes it too.
    """
    from kg.build import OUT_DIR, build as run, write
    from kg.progress import Progress
    from kg.report import REPORT_DIR

    with project_lock(project):  # it reads and writes the project's .cache/ as kg build does
        result = run(project, reason=not no_reason, progress=Progress())
        site = {name: data for name, data in result.files.items() if name.startswith(f"{REPORT_DIR}/")}
        target = output if output is not None else project / OUT_DIR / REPORT_DIR
        files = {name[len(REPORT_DIR) + 1:]: data for name, data in site.items()}
        changed = write(target, files)
    click.echo(f"wrote {len(files)} files to {target}/ ({len(changed)} changed)")
