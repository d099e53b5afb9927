import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ("ontology", "shapes", "registry", "articles")
SLUG = "mishustin-china-visit-2023"


@pytest.fixture
def project(tmp_path) -> Path:
    """A private copy of the project's inputs (not out/), to build or break."""
    for name in INPUTS:
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def facts(project) -> Path:
    return project / "articles" / SLUG / "facts.ttl"


def run(runner, *args):
    """Invoke the kg command in-process, keeping stdout and stderr apart."""
    from kg.cli import main

    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
