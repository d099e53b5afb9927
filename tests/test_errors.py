"""Every kind of bad input: one line per problem naming file:line, exit 2, nothing written."""

import shutil

import pytest

from conftest import ROOT, SLUG, run

FACTS = f"articles/{SLUG}/facts.ttl"
# What pyoxigraph, the Turtle parser, says of `ex:broken a kg:Meeting , .` (column of the '.').
MALFORMED_COLUMN = 26
MALFORMED_MESSAGE = ". is not a valid RDF object"


def _append(path, text: str) -> int:
    """Append `text` to a file; return the line number its first line lands on."""
    before = path.read_bytes()
    if not before.endswith(b"\n"):
        before += b"\n"
    path.write_bytes(before + (text.encode("utf-8") if isinstance(text, str) else text))
    return before.count(b"\n") + 1


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _build_fails(runner, project, code=2):
    shutil.copytree(ROOT / "out", project / "out")
    before = _snapshot(project / "out")
    result = run(runner, "build", "-C", project)
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert _snapshot(project / "out") == before
    return result.stderr


def test_malformed_turtle_points_to_line_and_column(runner, project, facts):
    line = _append(facts, "ex:broken a kg:Meeting , .\n")
    assert _build_fails(runner, project) == (
        f"{FACTS}:{line}:{MALFORMED_COLUMN}: error: Turtle syntax: {MALFORMED_MESSAGE}\n"
    )


def test_undefined_class_gets_a_suggestion(runner, project, facts):
    line = _append(facts, 'ex:broken a kg:BilateralMeting .\n')
    assert _build_fails(runner, project) == (
        f"{FACTS}:{line}: error: kg:BilateralMeting is not a class the ontology defines (did you mean kg:BilateralMeeting?)\n"
    )


def test_undefined_property_gets_a_suggestion(runner, project, facts):
    line = _append(facts, "ex:meeting-xi-mishustin-2023-05-24 kg:particpatedIn ex:beijing .\n")
    assert _build_fails(runner, project) == (
        f"{FACTS}:{line}: error: kg:particpatedIn is not a property the ontology defines (did you mean kg:participatedIn?)\n"
    )


def test_quote_not_in_article(runner, project, facts):
    line = _append(facts, 'ex:broken kgc:evidence "Mishustin flew to the Moon" .\n')
    assert _build_fails(runner, project) == (
        f'{FACTS}:{line}: error: evidence quote not found in articles/{SLUG}/article.txt: "Mishustin flew to the Moon"\n'
    )


def test_a_near_miss_quote_gets_the_closest_sentence(runner, project, facts):
    line = _append(facts, 'ex:broken kgc:evidence "business forum in Beijing" .\n')
    assert _build_fails(runner, project) == (
        f'{FACTS}:{line}: error: evidence quote not found in articles/{SLUG}/article.txt: "business forum in Beijing" '
        '(closest match at line 12: "business forum in Shanghai")\n'
    )


def test_ambiguous_quote_needs_a_prefix(runner, project, facts):
    line = _append(facts, 'ex:broken kgc:evidence "the two nations" .\n')
    message = _build_fails(runner, project)
    assert message.startswith(f'{FACTS}:{line}: error: evidence quote occurs ')
    assert message.endswith('"the two nations"; use [ kgc:exact "…" ; kgc:prefix "words before it" ]\n')


def test_file_that_is_not_utf8(runner, project, facts):
    line = _append(facts, b"# caf\xe9\n")
    assert _build_fails(runner, project) == f"{FACTS}:{line}:6: error: not valid UTF-8 (byte 0xe9)\n"


def test_conflicting_labels_name_both_places(runner, project, facts):
    line = _append(facts, 'ex:xi-jinping rdfs:label "President Xi"@en .\n')
    registry = (project / "registry" / "entities.ttl").read_text().splitlines()
    subject = next(i for i, l in enumerate(registry, 1) if l.startswith("ex:xi-jinping"))
    registry_line = next(i for i, l in enumerate(registry, 1) if i > subject and '"Xi Jinping"@en' in l)
    assert _build_fails(runner, project) == (
        f'{FACTS}:{line}: error: conflicting labels for ex:xi-jinping: "President Xi" here, "Xi Jinping" at '
        f"registry/entities.ttl:{registry_line}\n"
        f"{FACTS}:{line}: error: ex:xi-jinping is described in registry/entities.ttl; an article states facts only "
        f"about its own nodes (refer to ex:xi-jinping, do not restate it)\n"
    )


def test_an_article_does_not_describe_another_articles_node(runner, project, facts):
    """Articles are independent units: each describes only its own nodes (docs/model.md)."""
    other = project / "articles" / "zz-second"
    shutil.copytree(facts.parent, other)
    second = "articles/zz-second/facts.ttl"
    (other / "facts.ttl").write_text(
        facts.read_text(encoding="utf-8").split("\nex:")[0] + '\nex:meeting-xi-mishustin-2023-05-24 skos:editorialNote "again"@en .\n',
        encoding="utf-8")
    line = (other / "facts.ttl").read_text(encoding="utf-8").count("\n")
    stderr = _build_fails(runner, project)
    assert stderr.endswith(
        f"{second}:{line}: error: ex:meeting-xi-mishustin-2023-05-24 is described in {FACTS}; an article states facts only "
        f"about its own nodes (refer to ex:meeting-xi-mishustin-2023-05-24, do not restate it)\n"
    ), stderr


def test_prefix_bound_to_another_iri(runner, project, facts):
    line = _append(facts, "@prefix kg: <http://example.com/other#> .\n")
    assert _build_fails(runner, project) == (
        f"{FACTS}:{line}: error: prefix kg: must be <https://example.org/kg/ontology#> (kg's fixed prefixes), "
        "not <http://example.com/other#>\n"
    )


def test_blank_node_for_a_fact_is_refused(runner, project, facts):
    line = _append(facts, "ex:an-extra-node kg:partOf [ a kg:Meeting ] .\n")
    assert _build_fails(runner, project) == (
        f"{FACTS}:{line}: error: blank node used with kg:partOf: mint an IRI (ex:…) for anything a person would refer to\n"
    )


def test_all_problems_are_reported_in_one_run(runner, project, facts):
    first = _append(facts, 'ex:broken a kg:BilateralMeting .\n')
    second = _append(facts, 'ex:broken2 kgc:evidence "not in the article" .\n')
    lines = _build_fails(runner, project).splitlines()
    assert [l.split(": error:")[0] for l in lines] == [f"{FACTS}:{first}", f"{FACTS}:{second}"]


def test_empty_articles_folder(runner, project):
    shutil.rmtree(project / "articles")
    (project / "articles").mkdir()
    assert _build_fails(runner, project) == "articles: error: articles/ holds no article folder: nothing to build\n"


def test_missing_articles_folder(runner, project):
    shutil.rmtree(project / "articles")
    assert _build_fails(runner, project) == "articles: error: no articles/ folder: nothing to build\n"


def test_article_folder_missing_its_text(runner, project):
    (project / "articles" / SLUG / "article.txt").unlink()
    assert _build_fails(runner, project) == f"articles/{SLUG}: error: article folder lacks article.txt\n"


def test_validate_exits_1_on_a_broken_copy_and_names_the_node(runner, project, facts):
    text = facts.read_text()
    target = "ex:meeting-xi-mishustin-2023-05-24"
    assert target in text
    kept = []
    inside = False
    for line in text.splitlines():
        if line.startswith(target):
            inside = True
        if inside and "kg:startDate" in line:
            continue
        if inside and line.rstrip().endswith("."):
            inside = False
        kept.append(line)
    facts.write_text("\n".join(kept) + "\n")
    result = run(runner, "validate", "-C", project)
    assert result.exit_code == 1
    assert f"{FACTS}:" in result.stdout and target in result.stdout
    assert "does not conform" in result.stdout


def test_validate_exits_0_on_main(runner):
    result = run(runner, "validate", "-C", ROOT)
    assert result.exit_code == 0, result.output
    assert result.stdout == "conforms: no SHACL violations\n"


@pytest.mark.parametrize("format_", ["json", "turtle"])
def test_validate_other_formats(runner, format_):
    result = run(runner, "validate", "-C", ROOT, "--format", format_)
    assert result.exit_code == 0
    if format_ == "json":
        assert result.stdout.startswith('{\n  "conforms": true,')
    else:
        assert "sh:conforms true" in result.stdout or "http://www.w3.org/ns/shacl#conforms" in result.stdout


def test_inconsistent_facts_name_the_individual_and_classes(runner, project, facts):
    _append(facts, "ex:holding-xi-jinping-president-of-china kg:holder ex:china .\n")
    assert _build_fails(runner, project, code=1) == (
        "error: inconsistent: ex:china is both kg:State and kg:Person (range of kg:holder) (disjoint)\n"
    )


def test_no_java_is_an_input_error_with_a_way_out(project, tmp_path):
    import os
    import subprocess
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dot").symlink_to(shutil.which("dot"))  # the report's picture needs Graphviz, not Java
    env = {**os.environ, "PATH": str(bin_dir)}
    env.pop("JAVA_HOME", None)
    result = subprocess.run([sys.executable, "-m", "kg", "build", "-C", str(project)], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == (
        "error: java not found: kg's reasoner (HermiT) needs Java 11+ on PATH; install a JRE or use --no-reason\n"
    )
    assert not (project / "out").exists()
    no_reason = subprocess.run([sys.executable, "-m", "kg", "build", "-C", str(project), "--no-reason"], env=env, capture_output=True, text=True)
    assert no_reason.returncode == 0, no_reason.stderr


def test_with_several_inconsistent_articles_the_first_article_is_reported(runner, project, facts):
    """Articles are reasoned over in parallel; which error is reported must not depend on scheduling."""
    import re

    second = project / "articles" / "zz-second-article"
    shutil.copytree(facts.parent, second)
    text = facts.read_text(encoding="utf-8")
    own = set(re.findall(r"(?m)^ex:([\w-]+)", text))  # the second article gets nodes of its own
    renamed = re.sub(r"\bex:([\w-]+)", lambda m: f"ex:zz-{m[1]}" if m[1] in own else m[0], text)
    (second / "facts.ttl").write_text(renamed, encoding="utf-8")
    _append(second / "facts.ttl", "ex:zz-holding-xi-jinping-president-of-china kg:holder ex:china .\n")
    _append(facts, "ex:holding-xi-jinping-president-of-china kg:holder ex:russia .\n")
    for _ in range(3):
        assert _build_fails(runner, project, code=1) == (
            "error: inconsistent: ex:russia is both kg:State and kg:Person (range of kg:holder) (disjoint)\n"
        )
        shutil.rmtree(project / "out")
