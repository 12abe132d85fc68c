"""One error family for everything a user can get wrong, each carrying a source span.

Every error prints as ``FILE:LINE:COL: error: MESSAGE``, then the source line, a caret under the
spot, and a hint where one helps (MiniZinc and Lark style).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A region of a source file: 1-based line and column, end inclusive-exclusive."""

    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None
    source: str | None = field(default=None, repr=False, compare=False)  # for caret context

    def line_text(self) -> str | None:
        if self.source is None:
            return None
        lines = self.source.splitlines()
        if 1 <= self.line <= len(lines):
            return lines[self.line - 1]
        return ""

    def lines_text(self) -> str | None:
        """The source lines the span covers, each without its comment, joined by single
        spaces (a statement written over several lines reads as one)."""
        if self.source is None:
            return None
        lines = self.source.splitlines()[self.line - 1:(self.end_line or self.line)]
        return " ".join(" ".join(ln.split("#")[0].split()) for ln in lines).strip()

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class LwlcError(Exception):
    """An error the user can act on. Never shown as a traceback."""

    kind = "error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def format(self) -> str:
        return format_diagnostic(self.kind, self.message, self.span, self.hint)

    def __str__(self) -> str:
        return self.format()


_SHOWN = 160  # at most this much of a long source line is echoed under a diagnostic


def format_diagnostic(kind: str, message: str, span: Span | None, hint: str | None) -> str:
    """``FILE:LINE:COL: KIND: MESSAGE``, the source line, a caret under the span, the hint."""
    where = f"{span}: " if span else "lwlc: "
    out = [f"{where}{kind}: {message}"]
    if span is not None:
        text = span.line_text()
        if text is not None:
            text = "".join(ch if ch.isprintable() else "?" for ch in text.expandtabs(1))
            width = 1
            if span.end_line == span.line and span.end_col:
                width = max(1, span.end_col - span.col)
            width = max(1, min(width, len(text) - span.col + 1))
            col = span.col
            if len(text) > _SHOWN:  # a window of a long line around the caret
                start = max(0, min(col - 1 - _SHOWN // 2, len(text) - _SHOWN))
                end = start + _SHOWN
                text = ("..." if start else "") + text[start:end] + (
                    "..." if end < len(text) else "")
                col = col - start + (3 if start else 0)
                width = max(1, min(width, len(text) - col + 1))
            out.append(f"    {text}")
            # a wide character (CJK) takes two columns of a terminal: pad and mark as many
            out.append("    " + " " * _columns(text[:col - 1])
                       + "^" * max(1, _columns(text[col - 1:col - 1 + width])))
    if hint:
        out.append(f"  hint: {hint}")
    return "\n".join(out)


def _columns(text: str) -> int:
    """The terminal columns `text` takes: two for a wide (East Asian) character."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_warning(warning) -> str:
    """A model warning (``ir.ModelWarning``: message, span, hint) printed like an error."""
    return format_diagnostic("warning", warning.message, warning.span,
                             getattr(warning, "hint", None))


class ParseError(LwlcError):
    """The text is not a well-formed .lwl file."""


class ModelError(LwlcError):
    """The model is well-formed but means something lwlc cannot accept (names, sizes, forms)."""


class SplitError(LwlcError):
    """The constraints cannot be split into two sets of disjoint projections.

    Where the family graph was built, the error carries it for `lwlc graph`: ``graph`` (a
    networkx graph, or None), ``families`` (the constraints at fault), ``cycle`` (an odd cycle
    or the path between contradicting pins, in order) and ``variables`` (the shared variable).
    """

    graph = None
    families: tuple[str, ...] = ()
    cycle: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()


class DataError(LwlcError):
    """A data file or data generator spec is unusable."""


class SolverError(LwlcError):
    """A compiled solver was given unusable state, parameters or settings."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or listing them when none is close."""
    candidates = sorted(set(candidates))
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if not candidates:
        return None
    if len(candidates) <= 12:
        return "known names: " + ", ".join(candidates)
    return None
