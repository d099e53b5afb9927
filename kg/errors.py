"""One error type for everything a user can fix, carrying file:line:col like a compiler."""

from __future__ import annotations

from dataclasses import dataclass

# Exit codes (pySHACL's contract): 0 ok / conforms, 1 does not conform or a check failed,
# 2 usage or input error, 3 internal error.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3


@dataclass(frozen=True)
class Problem:
    """One problem in one place; renders as `file:line:col: error: message`."""

    message: str
    path: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path
            if self.line:
                where += f":{self.line}"
                if self.column:
                    where += f":{self.column}"
            where += ": "
        return f"{where}error: {self.message}"


class KgError(Exception):
    """Input the user must fix. Holds every problem found, not just the first."""

    exit_code = EXIT_INPUT

    def __init__(self, problems: Problem | list[Problem]):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CheckFailed(KgError):
    """The input is well-formed but a check failed (not conforming, inconsistent, out/ stale)."""

    exit_code = EXIT_FAILED
