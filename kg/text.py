"""Article text: sentence splitting and quote matching that tolerates typography and whitespace.

All offsets are Python string indices, i.e. Unicode code points, 0-based, end exclusive.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# Typographic characters curators type in ASCII. Each maps one code point to one code point,
# so offsets in the folded text equal offsets in the article except where whitespace collapses.
_FOLD = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
        "\u2212": "-", "\u00a0": " ", "\u202f": " ",
    }
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class Sentence:
    index: int  # 1-based
    start: int
    end: int
    text: str


class Folded:
    """The article folded for matching, with a map from folded offsets back to the article's."""

    def __init__(self, text: str):
        self.text = text
        chars, origin = [], []
        previous_space = False
        for position, char in enumerate(text.translate(_FOLD)):
            if char.isspace():
                if previous_space:
                    continue
                char, previous_space = " ", True
            else:
                previous_space = False
            chars.append(char)
            origin.append(position)
        self.folded = "".join(chars)
        self.origin = origin

    def find_all(self, quote: str) -> list[Span]:
        needle = fold(quote)
        if not needle:
            return []
        spans, start = [], self.folded.find(needle)
        while start >= 0:
            end = start + len(needle)
            spans.append(Span(self.origin[start], self.origin[end - 1] + 1))
            start = self.folded.find(needle, start + 1)
        return spans

    def preceded_by(self, span: Span, prefix: str) -> bool:
        before = fold(self.text[: span.start]).rstrip()
        return before.endswith(fold(prefix).strip())


def fold(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_FOLD)).strip()


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)]*\s+(?=[\"'\u201c\u2018(]*[A-Z0-9])")


def sentences(text: str) -> list[Sentence]:
    """Split into sentences: every line is a paragraph; inside it, split after . ! ? before a capital."""
    result: list[Sentence] = []
    for line in re.finditer(r"[^\n]+", text):
        body = line.group(0)
        cursor = 0
        for boundary in _SENTENCE_END.finditer(body):
            _add(result, text, line.start() + cursor, line.start() + boundary.start())
            cursor = boundary.end()
        _add(result, text, line.start() + cursor, line.start() + len(body))
    return result


def _add(result: list[Sentence], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        result.append(Sentence(len(result) + 1, start, end, text[start:end]))


def closest(text: str, quote: str) -> tuple[int, str] | None:
    """The line (1-based) and words of the article closest to `quote`, for a did-you-mean hint."""
    needle = fold(quote)
    best, best_ratio = None, 0.0
    for sentence in sentences(text):
        matcher = difflib.SequenceMatcher(None, needle, fold(sentence.text), autojunk=False)
        block = max(matcher.get_matching_blocks(), key=lambda b: b.size)
        ratio = block.size / max(len(needle), 1)
        if ratio > best_ratio:
            folded = fold(sentence.text)
            lo = max(block.b - block.a, 0)
            hi = lo + len(needle)
            while lo > 0 and folded[lo - 1] != " ":
                lo -= 1
            while hi < len(folded) and folded[hi] not in " ,;:":
                hi += 1
            words = folded[lo:hi]
            best, best_ratio = (text.count("\n", 0, sentence.start) + 1, words), ratio
    return best if best_ratio >= 0.4 else None
