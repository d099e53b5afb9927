"""Coverage: which sentences of an article back at least one fact, and which are excluded and why."""

from __future__ import annotations

from dataclasses import dataclass

from kg.curation import Article
from kg.errors import Problem
from kg.ground import Grounded
from kg.text import fold, sentences


@dataclass(frozen=True)
class Line:
    index: int
    start: int
    end: int
    text: str
    facts: int  # facts this sentence backs
    excluded: str | None  # the reason, when excluded

    @property
    def status(self) -> str:
        if self.facts:
            return "fact"
        return "excluded" if self.excluded else "MISSING"


@dataclass(frozen=True)
class Coverage:
    slug: str
    lines: tuple[Line, ...]
    problems: tuple[Problem, ...]  # stale or ambiguous exclusions

    @property
    def covered(self) -> int:
        return sum(1 for line in self.lines if line.status != "MISSING")

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / len(self.lines) if self.lines else 100.0

    @property
    def complete(self) -> bool:
        return self.covered == len(self.lines) and not self.problems


def coverage(article: Article, grounded: Grounded) -> Coverage:
    article_sentences = sentences(article.text)
    facts_per_sentence = {s.index: set() for s in article_sentences}
    for fact, span in grounded.evidence:
        for s in article_sentences:
            if s.start <= span.start < s.end:
                facts_per_sentence[s.index].add(fact)
    reasons: dict[int, str] = {}
    problems = []
    path = f"{article.folder}/exclusions.toml"
    for exclusion in article.exclusions:
        matches = [s for s in article_sentences if fold(s.text).startswith(fold(exclusion.sentence))]
        if len(matches) != 1:
            problems.append(
                Problem(
                    f'exclusion matches {len(matches)} sentences (needs exactly one): "{exclusion.sentence}"',
                    path,
                    exclusion.line,
                )
            )
            continue
        sentence = matches[0]
        if facts_per_sentence[sentence.index]:
            problems.append(
                Problem(f"sentence {sentence.index} backs facts but is also excluded: remove the exclusion", path, exclusion.line)
            )
        reasons[sentence.index] = exclusion.reason
    lines = tuple(
        Line(s.index, s.start, s.end, s.text, len(facts_per_sentence[s.index]), reasons.get(s.index))
        for s in article_sentences
    )
    return Coverage(article.slug, lines, tuple(problems))
