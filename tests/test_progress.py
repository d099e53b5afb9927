"""Progress: a bar on a terminal, silence otherwise."""

import io

from kg.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_ends_with_a_newline():
    stream = Terminal()
    with Progress(stream).step("reasoning", 4) as advance:
        for _ in range(4):
            advance()
    text = stream.getvalue()
    assert text.startswith("\rreasoning   [------------------------] 0/4")
    assert "[########################] 4/4" in text
    assert text.endswith(" s\n") and text.count("\n") == 1


def test_elsewhere_nothing_is_written():
    stream = io.StringIO()
    with Progress(stream).step("reasoning", 4) as advance:
        advance(4)
    assert stream.getvalue() == ""
