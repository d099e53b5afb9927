"""kg synth: the synthetic corpus is deterministic, builds clean, and its injected violations are exactly what
kg validate reports."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, run
from kg import synth


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_whatever_the_hash_seed(runner, tmp_path):
    first, second, other = tmp_path / "first", tmp_path / "second", tmp_path / "other"
    assert run(runner, "synth", first, "--articles", 5, "--seed", 11, "--violations", 3, "-C", ROOT).exit_code == 0
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    subprocess.run([sys.executable, "-m", "kg", "synth", str(second), "--articles", "5", "--seed", "11",
                    "--violations", "3", "-C", str(ROOT)], env=env, check=True, capture_output=True)
    assert run(runner, "synth", other, "--articles", 5, "--seed", 12, "-C", ROOT).exit_code == 0
    assert _tree(first) == _tree(second)
    assert _tree(first)["registry/entities.ttl"] != _tree(other)["registry/entities.ttl"]
    assert len([p for p in _tree(first) if p.startswith("articles/")]) == 5 * 4


def test_article_depends_only_on_seed_and_number():
    world = synth.registry("7")
    small = [a.files() for a in synth.corpus(world, 2)]
    large = [a.files() for a in synth.corpus(synth.registry("7"), 4)]
    assert large[:2] == small


def test_copies_the_project_and_refuses_to_overwrite(runner, tmp_path):
    out = tmp_path / "corpus"
    result = run(runner, "synth", out, "--articles", 1, "-C", ROOT)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote 1 article(s), 5 generated file(s) to {out}\n"
    for copied in ("ontology/kg.ttl", "ontology/codes.ttl", "ontology/context.jsonld", "shapes/kg.ttl"):
        assert (out / copied).read_bytes() == (ROOT / copied).read_bytes()
    assert {p.name for p in (out / "queries").iterdir()} == {p.name for p in (ROOT / "queries").iterdir()}
    again = run(runner, "synth", out, "--articles", 1, "-C", ROOT)
    assert again.exit_code == 2
    assert again.stderr == f"{out}: error: exists and is not an empty folder; kg synth never overwrites\n"


def test_generated_corpus_builds_conforms_and_is_fully_covered(runner, tmp_path):
    out = tmp_path / "corpus"
    assert run(runner, "synth", out, "--articles", 3, "--seed", 1, "-C", ROOT).exit_code == 0
    built = run(runner, "build", "-C", out)  # grounds, reasons with HermiT (consistency), validates
    assert built.exit_code == 0, built.output
    assert "from 3 article(s)" in built.stdout
    assert (out / "out" / "kg.nq").stat().st_size > 0
    covered = run(runner, "coverage", "-C", out)
    assert covered.exit_code == 0, covered.output
    lines = covered.stdout.splitlines()
    assert len(lines) == 3 and all(line.endswith("(100 %)") for line in lines), covered.stdout


def test_validate_reports_exactly_the_injected_violations(runner, tmp_path):
    out = tmp_path / "broken"
    made = run(runner, "synth", out, "--articles", 4, "--seed", 3, "--violations", len(synth.KINDS), "-C", ROOT)
    assert made.exit_code == 0, made.output
    manifest = json.loads((out / "violations.json").read_text())["violations"]
    assert len(manifest) == len(synth.KINDS)
    assert len({v["constraint"] for v in manifest}) == len(synth.KINDS)
    assert len({v["focus"] for v in manifest}) == len(synth.KINDS)
    result = run(runner, "validate", "-C", out, "--format", "json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["results"]
    assert sorted((f["focus"], f["shape"], f["component"], f["unit"]) for f in findings) == sorted(
        (v["focus"], v["shape"], v["component"], v["article"]) for v in manifest
    )


def test_more_violations_than_the_articles_hold_is_an_input_error(runner, tmp_path):
    result = run(runner, "synth", tmp_path / "x", "--articles", 1, "--violations", 40, "-C", ROOT)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot place violation ")
    assert result.stderr.endswith("article(s): generate more articles\n")
    assert not (tmp_path / "x").exists()
