"""`kg report`: a static, self-contained site that shows the evidence behind every fact.

`render(build)` is a pure function of a build: it returns the site's files (path under out/ -> bytes),
with no network access, no timestamps and the same bytes for the same graph. Layout of the package:
`model` reads the build's quads, `pages` writes the HTML, `picture` lays the graph out with Graphviz,
`ontology` documents the ontology with pyLODE; `style.css` and `report.js` are the only assets.
"""

from __future__ import annotations

from kg.build import Build

REPORT_DIR = "report"


def render(build: Build) -> dict[str, bytes]:
    from kg.report import model as report_model
    from kg.report import ontology, pages, picture

    model = report_model.read(build)
    site = {
        "index.html": pages.index(model, picture.svg(model)),
        "style.css": pages.asset("style.css").encode("utf-8"),
        "ontology.html": ontology.document(build),
    }
    for view in model.articles:
        site[f"articles/{view.slug}.html"] = pages.article(model, view)
    for iri in model.entities:
        site[model.page(iri)] = pages.entity(model, iri)
    return {f"{REPORT_DIR}/{path}": data for path, data in sorted(site.items())}
