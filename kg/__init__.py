"""kg: an evidence-grounded knowledge graph of diplomacy news."""

__version__ = "0.1.0"
