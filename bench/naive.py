"""The naive pipeline, the baseline of bench/run.py: everything RDF in rdflib and stock pyshacl.

    .venv/bin/python bench/naive.py PROJECT [--out DIR]

1. parse: rdflib parses every Turtle input (ontology/*.ttl, shapes/*.ttl, registry/entities.ttl and each
   articles/*/facts.ttl);
2. ground: each article's kgc:evidence quotes are resolved with kg's own grounding (kg.ground, plain string
   search, the same code `kg build` runs), fed with the triples rdflib parsed;
3. validate: pyshacl on the whole merged graph (data + ontology, as kg.validate does: inference none,
   advanced=True), without kg's cache of parsed SPARQL constraints;
4. serialize: rdflib writes the union graph as Turtle and as JSON-LD (compacted with ontology/context.jsonld).

No reasoning: the baseline is what a person would write first, and it is already the slow part. Prints one
JSON object: the seconds each phase took, triples, and whether the graph conforms.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import pyshacl
import rdflib

from kg.curation import Article, Source
from kg.ground import ground
from kg.namespaces import KG
from kg.rdf import from_rdflib, to_rdflib


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--out", type=Path, help="Folder for kg.ttl and kg.jsonld (default: a temporary folder).")
    args = parser.parse_args()
    root: Path = args.project
    phases: dict[str, float] = {}

    started = time.perf_counter()
    ontology = rdflib.Graph()
    for path in sorted((root / "ontology").glob("*.ttl")):
        ontology.parse(path, format="turtle")
    shapes = rdflib.Graph()
    for path in sorted((root / "shapes").glob("*.ttl")):
        shapes.parse(path, format="turtle")
    data = rdflib.Graph()
    data.parse(root / "registry" / "entities.ttl", format="turtle")
    articles = []
    for folder in sorted(p for p in (root / "articles").iterdir() if p.is_dir()):
        facts = rdflib.Graph().parse(folder / "facts.ttl", format="turtle")
        articles.append((folder, facts))
    phases["parse"] = time.perf_counter() - started

    started = time.perf_counter()
    statements = frozenset({KG + "Statement"})
    for folder, facts in articles:
        relative = f"articles/{folder.name}"
        article = Article(
            folder.name, relative, (folder / "article.txt").read_text(encoding="utf-8"),
            tomllib.loads((folder / "meta.toml").read_text(encoding="utf-8")),
            Source(f"{relative}/facts.ttl", "", tuple(from_rdflib(facts))),
        )
        grounded = ground(article, statement_classes=statements)
        if grounded.problems:
            print("\n".join(str(p) for p in grounded.problems), file=sys.stderr)
            return 2
        to_rdflib(grounded.triples, data)
    phases["ground"] = time.perf_counter() - started

    started = time.perf_counter()
    conforms, _, _ = pyshacl.validate(data + ontology, shacl_graph=shapes, inference="none", advanced=True,
                                      allow_warnings=True)
    phases["validate"] = time.perf_counter() - started

    started = time.perf_counter()
    union = data + ontology
    context = json.loads((root / "ontology" / "context.jsonld").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        union.serialize(out / "kg.ttl", format="turtle")
        union.serialize(out / "kg.jsonld", format="json-ld", context=context["@context"])
    phases["serialize"] = time.perf_counter() - started

    print(json.dumps({"phases": phases, "triples": len(union), "conforms": bool(conforms)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
