"""`kg synth`: write a synthetic kg project (for tests and benchmarks at scale)."""

from __future__ import annotations

from pathlib import Path

import click

from kg.cli.common import project_option, reports_errors


@click.command()
@click.argument("out_dir", metavar="OUT_DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option("--articles", "-n", type=click.IntRange(min=1), required=True, help="How many articles to write.")
@click.option("--seed", "-s", default="0", show_default=True, help="Same seed, same bytes.")
@click.option("--violations", "-k", type=click.IntRange(min=0), default=0, show_default=True,
              help="Inject this many known SHACL violations (each of a different constraint, up to "
                   "the number of kinds) and list them in OUT_DIR/violations.json.")
@project_option
@reports_errors
def synth(out_dir: Path, articles: int, seed: str, violations: int, project: Path):
    """Write a synthetic kg project to OUT_DIR (new or empty).

    Copies ontology/, shapes/ and queries/ from the project; generates registry/entities.ttl
    (states, their offices and office-holders, cities, organisations) and ARTICLES article folders
    whose evidence quotes ground in their texts and whose sentences are all covered. Article i
    depends only on the seed and i.

    \b
    Examples:
      kg synth /tmp/corpus --articles 1000 --seed 7
      kg synth /tmp/broken --articles 20 --violations 19
    """
    from kg.synth import write_project

    written = write_project(out_dir, project, seed=seed, articles=articles, violations=violations)
    message = f"wrote {written.articles} article(s), {written.files} generated file(s) to {written.root}"
    if written.violations:
        message += f"; {len(written.violations)} violation(s) listed in {written.root}/violations.json"
    click.echo(message)
