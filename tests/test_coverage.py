"""Every sentence of every article backs a fact or is excluded with a reason."""

from conftest import ROOT, SLUG, run


def test_coverage_of_every_article_is_complete(runner):
    result = run(runner, "coverage", "-C", ROOT)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{SLUG}: ")
    assert "(100 %)" in result.stdout


def test_every_sentence_is_listed_with_a_status(runner):
    from kg.text import sentences

    text = (ROOT / "articles" / SLUG / "article.txt").read_text(encoding="utf-8")
    result = run(runner, "coverage", "-C", ROOT, "--all")
    rows = result.stdout.splitlines()[1:]
    assert len(rows) == len(sentences(text))
    assert all(" fact " in r or " excluded " in r for r in rows)


def test_a_sentence_that_backs_nothing_fails_coverage(runner, project):
    exclusions = project / "articles" / SLUG / "exclusions.toml"
    text = exclusions.read_text()
    first = text.index("[[exclude]]")
    second = text.find("[[exclude]]", first + 1)
    exclusions.write_text(text[:first] + (text[second:] if second > 0 else ""))
    result = run(runner, "coverage", "-C", project)
    assert result.exit_code == 1
    assert "MISSING" in result.stdout
    assert result.stderr.endswith("1 sentence(s) back no fact and are not excluded\n")


def test_a_stale_exclusion_is_an_error(runner, project):
    exclusions = project / "articles" / SLUG / "exclusions.toml"
    exclusions.write_text(exclusions.read_text() + '\n[[exclude]]\nsentence = "During a key meeting"\nreason = "test"\n')
    result = run(runner, "coverage", "-C", project)
    assert result.exit_code == 1
    assert "sentence 1 backs facts but is also excluded: remove the exclusion" in result.stderr
