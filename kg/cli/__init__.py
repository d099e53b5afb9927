"""The `kg` command. Subcommands live in sibling modules and are imported only when run,
so `kg --help` stays fast (no rdflib, pyshacl or owlready2 at start-up)."""

import importlib

import click

from kg import __version__

# name -> (module, attribute, one-line help shown by `kg --help` without importing the module)
COMMANDS = {
    "build": ("kg.cli.build", "build", "Ground, reason, validate and write every output file to out/."),
    "validate": ("kg.cli.build", "validate", "Validate the curated graph against the SHACL shapes."),
    "export": ("kg.cli.build", "export", "Write the built graph in one RDF format."),
    "coverage": ("kg.cli.build", "coverage", "Show which sentences of each article back a fact."),
    "query": ("kg.cli.query", "query", "Run a SPARQL query on the built graph (embedded store)."),
    "load": ("kg.cli.query", "load", "Upload the built graph to a SPARQL 1.1 Graph Store."),
    "serve": ("kg.cli.query", "serve", "Serve the built graph as a read-only SPARQL endpoint."),
    "report": ("kg.cli.report", "report", "Write the evidence report (a static HTML site) to out/report/."),
    "synth": ("kg.cli.synth", "synth", "Write a synthetic project of N generated articles (for benchmarks)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kg")
def main():
    """kg builds an evidence-grounded knowledge graph from curated news articles.

    Exit codes: 0 success (or conforms), 1 the graph does not conform / is
    inconsistent / a check failed, 2 usage or input error, 3 internal error.
    """
