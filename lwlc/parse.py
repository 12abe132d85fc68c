"""Stage 1, parse: .lwl text → AST (lwlc.syntax), with a located error for any malformed input.

The grammar is `grammar/lwl.lark` (LALR). Parsing never evaluates anything: expressions stay
trees until elaboration folds them with plain arithmetic.
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import os
import re
from importlib import resources
from pathlib import Path

import lark
from lark import Token, Transformer, v_args

from . import syntax as S
from .errors import ParseError, Span
from .files import own_cache_folder

# grammar/ at the repository's top level, installed as the package lwlc.grammar
GRAMMAR_PATH = Path(str(resources.files("lwlc.grammar").joinpath("lwl.lark")))
PRELUDE_PATH = Path(__file__).resolve().parent / "prelude.lwl"

# How Lark's terminal names read to a person.
_TOKEN_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a "string"',
    "COMPARE": "a comparison (<=, >=, <, >)",
    "$END": "end of file",
}
_KEYWORDS = {
    "model", "param", "nodes", "group", "edges", "batch", "input", "label", "sample", "var",
    "set", "constraint", "solve", "data", "for", "in", "out", "agree", "dot", "metric", "on",
    "exempt", "relabel", "allow", "as", "from", "file",
}
_STATEMENT_KEYWORDS = (
    "model", "param", "nodes", "group", "edges", "batch", "input", "label", "sample", "var",
    "set", "constraint", "solve", "data",
)


def _tables_file() -> str | bool:
    """Where lark keeps the parser's tables between processes (building them takes 0.2 s):
    in lwlc's cache folder of the user's own (files.own_cache_folder); lark rebuilds them
    when the grammar changes. False (build them in each process) where there is none."""
    folder = own_cache_folder()
    return False if folder is None else os.path.join(folder, "parser-tables.lark")


_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_SOURCE = contextvars.ContextVar("lwlc_parse_source", default="")  # the text being lexed


class _GluedKeyword(Exception):
    """A keyword token followed by more letters (`nodesD[13]`)."""

    def __init__(self, token: Token):
        super().__init__(str(token))
        self.token = token


def _keyword_token(token: Token) -> Token:
    """Refuse a keyword that a name goes on from: where the parser expects only keywords
    (a statement's start), the contextual lexer would read `nodesD[13]` as `nodes D[13]`."""
    text = _SOURCE.get()
    if token.end_pos is not None and token.end_pos < len(text) \
            and text[token.end_pos] in _NAME_CHARS:
        raise _GluedKeyword(token)
    return token


@functools.cache
def _parser() -> lark.Lark:
    return lark.Lark(
        GRAMMAR_PATH.read_text(), parser="lalr", propagate_positions=True,
        maybe_placeholders=True, cache=_tables_file(),
        lexer_callbacks={word.upper(): _keyword_token for word in _KEYWORDS},
    )


def _describe_terminal(name: str) -> str:
    if name in _TOKEN_WORDS:
        return _TOKEN_WORDS[name]
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if isinstance(pattern, lark.lexer.PatternStr):
        return f"'{pattern.value}'"
    return name.lower()


def _expected_words(expected: set[str] | frozenset[str]) -> str:
    words = sorted({_describe_terminal(t) for t in expected})
    # Keywords that begin statements crowd the list; fold them into one phrase.
    statement_words = {f"'{k}'" for k in _STATEMENT_KEYWORDS}
    if len(statement_words & set(words)) >= 6:
        words = [w for w in words if w not in statement_words] + ["a new statement"]
    if len(words) > 8:
        words = words[:8] + ["..."]
    return ", ".join(words)


class _ToAst(Transformer):
    """Lark tree → syntax dataclasses. Every node gets the span of the text it came from."""

    def __init__(self, file: str, source: str):
        super().__init__()
        self.file = file
        self.source = source

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, source=self.source)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column, self.source)

    def _tok(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column, self.source)

    # --- expressions ---
    @v_args(meta=True)
    def number(self, meta, children):
        (tok,) = children
        text = str(tok)
        percent = text.endswith("%")
        return S.Num(float(text.rstrip("%")), self._tok(tok), percent)

    @v_args(meta=True)
    def name(self, meta, children):
        (tok,) = children
        return S.Name(str(tok), self._tok(tok))

    @v_args(meta=True)
    def call(self, meta, children):
        func, *args = children
        return S.Call(str(func), tuple(a for a in args if a is not None), self._span(meta))

    def _binop(op):  # noqa: N805 - a small factory used in the class body
        @v_args(meta=True)
        def build(self, meta, children):
            left, right = children
            return S.BinOp(op, left, right, self._span(meta))

        return build

    add = _binop("+")
    sub = _binop("-")
    mul = _binop("*")
    div = _binop("/")
    pow = _binop("^")

    @v_args(meta=True)
    def neg(self, meta, children):
        return S.Neg(children[0], self._span(meta))

    @v_args(meta=True)
    def ref(self, meta, children):
        name, *indices = children
        return S.Ref(str(name), tuple(indices), self._span(meta))

    @v_args(meta=True)
    def index_star(self, meta, children):
        return S.IndexStar(self._span(meta))

    @v_args(meta=True)
    def index_in(self, meta, children):
        return S.IndexEdges("in", str(children[0]), self._span(meta))

    @v_args(meta=True)
    def index_out(self, meta, children):
        return S.IndexEdges("out", str(children[0]), self._span(meta))

    @v_args(meta=True)
    def index_group(self, meta, children):
        return S.IndexGroup(children[0], self._span(meta))

    # --- groups ---
    @v_args(meta=True)
    def group_ref(self, meta, children):
        (tok,) = children
        return S.GroupRef(str(tok), self._tok(tok))

    @v_args(meta=True)
    def group_union(self, meta, children):
        return S.GroupUnion(children[0], children[1], self._span(meta))

    @v_args(meta=True)
    def group_diff(self, meta, children):
        return S.GroupDiff(children[0], children[1], self._span(meta))

    # --- statements ---
    @v_args(meta=True)
    def model_decl(self, meta, children):
        name, title = children
        return S.ModelDecl(str(name), str(title)[1:-1] if title else None, self._span(meta))

    @v_args(meta=True)
    def param_decl(self, meta, children):
        name, value = children
        return S.ParamDecl(str(name), value, self._span(meta))

    @v_args(meta=True)
    def nodes_decl(self, meta, children):
        return list(children)

    @v_args(meta=True)
    def node_def(self, meta, children):
        name, size = children
        return S.NodesDecl(str(name), size, self._span(meta))

    @v_args(meta=True)
    def group_decl(self, meta, children):
        name, group = children
        return S.GroupDecl(str(name), group, self._span(meta))

    @v_args(meta=True)
    def kwarg(self, meta, children):
        name, value = children
        if isinstance(value, Token):
            value = str(value)[1:-1]
        return S.KwArg(str(name), value, self._span(meta))

    @v_args(meta=True)
    def edge_call(self, meta, children):
        func, tail, head, *kwargs = children
        return S.EdgeCall(str(func), tail, head, tuple(kwargs), self._span(meta))

    @v_args(meta=True)
    def node_at(self, meta, children):
        group, index = children
        return S.NodeAt(str(group), index, self._span(meta))

    @v_args(meta=True)
    def edge_pair(self, meta, children):
        return (children[0], children[1])

    @v_args(meta=True)
    def edge_list(self, meta, children):
        return S.EdgeList(tuple(children), self._span(meta))

    @v_args(meta=True)
    def edge_file(self, meta, children):
        return S.EdgeFile(str(children[0])[1:-1], self._span(meta))

    @v_args(meta=True)
    def edges_decl(self, meta, children):
        name, *terms = children
        return S.EdgesDecl(str(name), tuple(terms), self._span(meta))

    @v_args(meta=True)
    def sub_batch(self, meta, children):
        name, size = children
        return S.SubBatch(str(name), size, self._span(meta))

    @v_args(meta=True)
    def batch_single(self, meta, children):
        name, size = children
        return S.BatchDecl(str(name), (S.SubBatch(str(name), size, self._span(meta)),),
                           self._span(meta))

    @v_args(meta=True)
    def batch_parts(self, meta, children):
        name, *parts = children
        return S.BatchDecl(str(name), tuple(parts), self._span(meta))

    @v_args(meta=True)
    def input_decl(self, meta, children):
        name, batch, group = children
        return S.InputDecl(str(name), str(batch), group, self._span(meta))

    @v_args(meta=True)
    def label_decl(self, meta, children):
        name, batch, group = children
        return S.LabelDecl(str(name), str(batch), group, self._span(meta))

    @v_args(meta=True)
    def sample_decl(self, meta, children):
        name, batch, group, source = children
        return S.SampleDecl(str(name), str(batch), group, source, self._span(meta))

    @v_args(meta=True)
    def var_index(self, meta, children):
        return children[0]

    @v_args(meta=True)
    def metric_item(self, meta, children):
        value, on = children
        return S.MetricItem(value, on, self._span(meta))

    @v_args(meta=True)
    def metric(self, meta, children):
        return tuple(children)

    @v_args(meta=True)
    def var_decl(self, meta, children):
        name, *rest = children
        metric: tuple = ()
        if rest and isinstance(rest[-1], tuple):
            metric = rest.pop()
        indices = tuple(r for r in rest if r is not None)
        return S.VarDecl(str(name), indices, metric, self._span(meta))

    @v_args(meta=True)
    def set_params(self, meta, children):
        return tuple(str(c) for c in children)

    @v_args(meta=True)
    def cond_compare(self, meta, children):
        parts = tuple(str(c) if isinstance(c, Token) else c for c in children if c is not None)
        return S.CondCompare(parts, self._span(meta))

    @v_args(meta=True)
    def cond_interval(self, meta, children):
        var, lo, hi = children
        return S.CondInterval(str(var), lo, hi, self._span(meta))

    @v_args(meta=True)
    def cond_name(self, meta, children):
        # `all` is a name, not a keyword, so that a parameter named `all` can still open a
        # comparison (`x = 1 for all <= z`): the grammar reads a lone name here
        (name,) = children
        if str(name) == "all":
            return S.CondAll(self._span(meta))
        raise ParseError(
            f"a piece's condition is the name '{name}' alone",
            self._span(meta),
            hint="a condition compares z: 'for z >= 0', 'for z in [-1, 1]', "
                 "'for -1 < z < 1', or 'for all' for every z",
        )

    @v_args(meta=True)
    def piece(self, meta, children):
        target, expr, cond = children
        return S.Piece(str(target), expr, cond, self._span(meta))

    @v_args(meta=True)
    def set_decl(self, meta, children):
        name, *rest = children
        params: tuple[str, ...] = ()
        if rest and (isinstance(rest[0], tuple) or rest[0] is None):
            params = rest.pop(0) or ()
        return S.SetDecl(str(name), params, tuple(rest), self._span(meta))

    @v_args(meta=True)
    def set_ref(self, meta, children):
        name, *args = children
        return S.SetRef(str(name), tuple(a for a in args if a is not None), self._span(meta))

    @v_args(meta=True)
    def side_eq(self, meta, children):
        return S.Side("==", children[0], (), self._span(meta))

    @v_args(meta=True)
    def side_ge(self, meta, children):
        return S.Side(">=", children[0], (), self._span(meta))

    @v_args(meta=True)
    def side_le(self, meta, children):
        return S.Side("<=", children[0], (), self._span(meta))

    @v_args(meta=True)
    def side_in(self, meta, children):
        return S.Side("in", None, tuple(children), self._span(meta))

    @v_args(meta=True)
    def fixed(self, meta, children):
        return children[0]

    @v_args(meta=True)
    def consensus(self, meta, children):
        ref, side = children
        return S.Consensus(ref, side, self._span(meta))

    @v_args(meta=True)
    def activation(self, meta, children):
        z, x, fixed, set_ref = children
        return S.Activation(z, x, fixed, set_ref, self._span(meta))

    @v_args(meta=True)
    def bilinear(self, meta, children):
        left, right, rhs = children
        return S.Bilinear(left, right, rhs, self._span(meta))

    @v_args(meta=True)
    def membership(self, meta, children):
        expr, set_ref = children
        return S.Membership(expr, set_ref, self._span(meta))

    @v_args(meta=True)
    def exempt(self, meta, children):
        return S.Modifier("exempt", children[0], None, self._span(meta))

    @v_args(meta=True)
    def relabel(self, meta, children):
        return S.Modifier("relabel", children[0], None, self._span(meta))

    @v_args(meta=True)
    def allow(self, meta, children):
        return S.Modifier("allow", children[0], children[1], self._span(meta))

    @v_args(meta=True)
    def pin(self, meta, children):
        return S.GroupRef(str(children[0]), self._tok(children[0]))

    @v_args(meta=True)
    def binding(self, meta, children):
        name, domain = children
        return S.Binding(str(name), domain, self._span(meta))

    @v_args(meta=True)
    def for_clause(self, meta, children):
        return tuple(children)

    @v_args(meta=True)
    def constraint_decl(self, meta, children):
        name, pin, bindings, relation, *mods = children
        return S.ConstraintDecl(
            str(name),
            pin.name if pin is not None else None,
            bindings or (),
            relation,
            tuple(mods),
            self._span(meta),
        )

    @v_args(meta=True)
    def solve_decl(self, meta, children):
        method, *kwargs = children
        return S.SolveDecl(str(method), tuple(k for k in kwargs if k is not None),
                           self._span(meta))

    @v_args(meta=True)
    def data_decl(self, meta, children):
        role, spec = children
        return S.DataDecl(str(role), str(spec)[1:-1], self._span(meta))

    @v_args(meta=True)
    def start(self, meta, children):
        out: list = []
        for c in children:
            out.extend(c if isinstance(c, list) else [c])
        return out


# str.splitlines() (used to show a span's line) breaks lines at these characters too, but the
# grammar (and Lark's line count) knows only "\n". Spans carry a copy of the text with each of
# them replaced by a space, so that line N of an error is line N of the file.
_OTHER_LINE_BREAKS = str.maketrans({c: " " for c in "\v\f\x1c\x1d\x1e\x85\u2028\u2029"})
MAX_DEPTH = 200  # nesting of expressions / group unions; deeper trees are refused, not recursed


def _normalize(source: str) -> str:
    """One line break, "\n": CRLF and lone CR become LF; a leading byte-order mark is dropped."""
    if source.startswith("\ufeff"):
        source = source[1:]
    return source.replace("\r\n", "\n").replace("\r", "\n")


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset, lines broken at "\n" only."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _decode(data: bytes, file: str) -> str:
    if b"\x00" in data:
        shown = _normalize(data.decode("utf-8", errors="replace"))
        line, col = _position(shown, shown.index("\x00"))
        raise ParseError(
            "this is a binary file (it contains NUL bytes), not a .lwl model",
            Span(file, line, col),
            hint="a model file is plain UTF-8 text; see docs/language.md",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        good = _normalize(data[: e.start].decode("utf-8"))
        line, col = _position(good, len(good))
        shown = _normalize(data.decode("utf-8", errors="replace")).translate(_OTHER_LINE_BREAKS)
        raise ParseError(
            f"the file is not valid UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})",
            Span(file, line, col, line, col + 1, shown),
            hint="save the model file as UTF-8",
        ) from None


def _check_depth(tree: lark.Tree, file: str, source: str) -> None:
    """Refuse absurdly deep trees (e.g. 1+1+...+1 a thousand times) before any recursion."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            line, col = (meta.line, meta.column) if not meta.empty else (1, 1)
            raise ParseError(
                f"this is nested more than {MAX_DEPTH} levels deep",
                Span(file, line, col, source=source),
                hint="split it: an expression into parameters, a union of many groups "
                     "into groups of groups (group G1 = A | B, then group G = G1 | C)",
            )
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, lark.Tree))


def _ends_early(file: str, source: str, tok: Token | None, expected) -> ParseError:
    """The file stops inside a statement: point just after its last token."""
    if tok is not None and getattr(tok, "end_line", None):
        line, col = tok.end_line, tok.end_column  # Lark's $END borrows the last token's place
    else:
        lines = source.split("\n")
        line, col = len(lines), len(lines[-1]) + 1
    return ParseError(
        "the file ends in the middle of a statement",
        Span(file, line, col, source=source),
        hint=f"expected {_expected_words(expected)}",
    )


def _unclosed_brace(text: str, stop: int) -> tuple[int, int] | None:
    """(line, column) of the innermost '{' before offset ``stop`` that no '}' closes,
    outside strings and comments; None if every block before ``stop`` is closed."""
    opened: list[int] = []
    i = 0
    while i < min(stop, len(text)):
        ch = text[i]
        if ch == "#":
            i = text.find("\n", i)
            if i < 0:
                break
        elif ch == '"':
            end = text.find('"', i + 1)
            i = end if end >= 0 else len(text)
        elif ch == "{":
            opened.append(i)
        elif ch == "}" and opened:
            opened.pop()
        i += 1
    if not opened:
        return None
    at = opened[-1]
    return text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1


def parse_text(source: str, file: str = "<string>") -> S.Program:
    """Parse model text to a Program; raise ParseError with a span on any malformed input."""
    text = _normalize(source)
    source = text.translate(_OTHER_LINE_BREAKS)  # what spans show: same length, same lines
    if not text.strip():
        raise ParseError(
            "the model file is empty",
            Span(file, 1, 1, source=source),
            hint="a model declares nodes, variables and constraints; see models/ for examples",
        )
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.split("\n")):
        raise ParseError(
            "the model file holds only comments",
            Span(file, 1, 1, source=source),
            hint="a model declares nodes, variables and constraints; see models/ for examples",
        )
    reset = _SOURCE.set(text)
    try:
        tree = _parser().parse(text)
    except _GluedKeyword as e:
        raise _glued_word(file, source, text, e.token.start_pos, e.token.line,
                          e.token.column) from None
    except lark.exceptions.UnexpectedCharacters as e:
        char = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        if char == '"':
            raise ParseError(
                "this string is not closed on its line",
                Span(file, e.line, e.column, e.line, e.column + 1, source),
                hint='a string is written "..." on one line',
            ) from None
        hint = f"expected {_expected_words(e.allowed)}" if e.allowed else None
        if char == "%" and re.search(r"[A-Za-z_)\]][ \t]*$", text[:e.pos_in_stream]):
            # `relabel frac%`: a percentage is a number written with %
            hint = ("a percentage is a number with '%' (exempt 5%); from a parameter, "
                    "write the count itself (exempt round(frac / 100 * K))")
        raise ParseError(
            f"unexpected character {char!r}",
            Span(file, e.line, e.column, e.line, e.column + 1, source),
            hint=hint,
        ) from None
    except lark.exceptions.UnexpectedEOF as e:
        raise _ends_early(file, source, None, e.expected) from None
    except lark.exceptions.UnexpectedToken as e:
        tok = e.token
        if tok.type == "$END":
            raise _ends_early(file, source, tok, e.expected) from None
        previous = (e.token_history or [None])[-1]
        # '{' and ';' appear only in a set's body: `{ }` or `; ;` leave out a piece
        if previous is not None and (previous.type, tok.type) in (
                ("LBRACE", "RBRACE"), ("LBRACE", "SEMICOLON"), ("SEMICOLON", "SEMICOLON")):
            empty = tok.type == "RBRACE"
            raise ParseError(
                "a set needs at least one piece" if empty else "an empty piece",
                Span(file, previous.line, previous.column, tok.end_line, tok.end_column,
                     source),
                hint="write pieces as `x = EXPRESSION for CONDITION ON z`, separated by ';'"
                + ("" if empty else " (two ';' in a row)")) from None
        text = str(tok)
        if not text.isprintable():  # control characters inside a string token
            text = repr(text)[1:-1]
        if len(text) > 40:
            text = text[:37] + "..."
        at = Span(file, tok.line, tok.column, tok.end_line, tok.end_column, source)
        line = at.line_text() or ""
        first = line.split(maxsplit=1)[0] if line.strip() else ""
        starts_line = line[: tok.column - 1].strip() == ""
        in_set = _unclosed_brace(source, tok.start_pos)
        piece_next = re.match(r"\s*x\s*=", source[tok.end_pos:]) is not None
        if in_set is not None and not starts_line and (
                (text == "," and piece_next)
                or (text == "x" and re.match(r"\s*=", source[tok.end_pos:]) is not None
                    and previous is not None and previous.type not in ("LBRACE", "SEMICOLON"))):
            # `{ x = 0 for z <= 0 x = 1 for z >= 0 }`: a piece starts where ';' is missing
            raise ParseError(
                "';' missing between two pieces of the set" if text == "x" else
                "the pieces of a set are separated by ';', not ','", at,
                hint="write pieces as `x = EXPRESSION for CONDITION ON z`, separated by ';'",
            ) from None
        # a statement's keyword starts this line, after a '{' on an earlier line
        opened = in_set if first in _STATEMENT_KEYWORDS and in_set is not None \
            and in_set[0] < tok.line else None
        if opened is not None:
            col = len(line) - len(line.lstrip()) + 1
            raise ParseError(
                f"'}}' missing before this statement: the block opened at line {opened[0]} "
                "is not closed",
                Span(file, tok.line, col, tok.line, col + len(first), source),
                hint=f"end the set's pieces with '}}' (the '{{' is at {file}:{opened[0]}:"
                f"{opened[1]})",
            ) from None
        if previous is not None and str(previous) in _STATEMENT_KEYWORDS \
                and previous.type == "NAME" \
                and (dangling := _dangling_end(source, previous.start_pos)) is not None:
            # `param margin = 0.1 +` then `nodes D[4]`: the keyword was read as a name
            line_no, col, end = dangling
            raise ParseError(
                f"the statement on line {line_no} is unfinished: it ends in '{end}', so "
                f"'{previous}' on line {previous.line} was read as a name",
                Span(file, line_no, col, line_no, col + len(end), source),
                hint="finish the statement" + ("" if end in ("==", ">=", "<=", "in", ":")
                                               else f", or remove the '{end}'")) from None
        what = f"keyword '{text}'" if text in _KEYWORDS else f"'{text}'"
        hint = f"expected {_expected_words(e.expected)}"
        close = difflib.get_close_matches(text, _STATEMENT_KEYWORDS, n=1, cutoff=0.6)
        if tok.type == "NAME" and starts_line and close:
            hint = (f"did you mean '{close[0]}'? A statement starts with one of "
                    + ", ".join(_STATEMENT_KEYWORDS))
        previous = (e.token_history or [None])[-1]
        if previous is not None and previous.type == "NAME" and not starts_line:
            # `agre x[...]`: a misspelt keyword, read as a name, before the unexpected token
            near = difflib.get_close_matches(str(previous), sorted(_KEYWORDS), n=1,
                                             cutoff=0.75)
            if near and near[0] != str(previous):
                hint = f"'{previous}' is not a keyword: did you mean '{near[0]}'? ({hint})"
        if previous is not None and previous.type in ("IN", "OUT") \
                and e.expected == {"LPAR"}:
            # `y[k, out]` with a node group named out: inside [...] it starts out(NODE)
            hint = (f"inside [...], '{previous}' starts {previous}(NODE), the edges of a "
                    f"node; a node group named '{previous}' cannot be written there: "
                    "rename the group")
        if tok.type != "NAME" and "NAME" in e.expected and re.search(
                r"\b\w+\s*\([^()]*->[^()]*,\s*$", source[:tok.start_pos]):
            # `random(D -> H, 3)`: an edge term's options are named
            hint = ("write each option of an edge term as name = value, as in "
                    "random(D -> H, fanin = 3, seed = 1)")
        if text == "==" and re.match(r"[ \t]*dot\s*\(", source[tok.end_pos:]):
            # `omega * y[k, j] == dot(...)`: a bilinear constraint writes dot(...) first
            hint = ("write the dot product on the left: dot(x[k, in(j)], w[k, in(j)]) == "
                    "c * y[k, j]")
        raise ParseError(f"unexpected {what}", at, hint=hint) from None
    except lark.exceptions.LarkError as e:  # any other parser failure is still located
        raise ParseError(f"cannot parse the model: {e}", Span(file, 1, 1, source=source)) from None
    finally:
        _SOURCE.reset(reset)
    _check_depth(tree, file, source)
    try:
        statements = _ToAst(file, source).transform(tree)
    except lark.exceptions.VisitError as e:
        if isinstance(e.orig_exc, ParseError):
            raise e.orig_exc from None
        raise
    return S.Program(file, source, tuple(statements))


def _dangling_end(source: str, start: int) -> tuple[int, int, str] | None:
    """Where the code before offset `start` (a statement keyword that begins its line)
    ends in an operator or a comma that needs more after it: (line, column, the symbol);
    None where `start` does not begin its line or the code before ends otherwise."""
    head = source[:start]
    if head[head.rfind("\n") + 1:].strip():
        return None
    lines = head.split("\n")[:-1]
    for i in range(len(lines) - 1, -1, -1):
        code = lines[i].split("#", 1)[0].rstrip()
        if not code:
            continue
        for end in ("->", "**", "==", ">=", "<=", "+", "-", "*", "/", "^", "|", ",", "=",
                    "(", "[", ":", " in"):
            if code.endswith(end):
                end = end.strip()
                return i + 1, len(code) - len(end) + 1, end
        return None
    return None


def _glued_word(file: str, source: str, parsed: str, start: int, line: int,
                col: int) -> ParseError:
    """`inputs d[k, D]`, `nodesD[13]`: the lexer would read a keyword that starts a longer
    word as the keyword and a name (`input` `s`). Name the whole word instead."""
    end = start
    while end < len(parsed) and parsed[end] in _NAME_CHARS:
        end += 1
    word = parsed[start:end]
    close = difflib.get_close_matches(word, sorted(_KEYWORDS), n=1, cutoff=0.6)
    return ParseError(
        f"unknown keyword '{word}'",
        Span(file, line, col, line, col + len(word), source),
        hint=(f"did you mean '{close[0]}'? " if close else "")
        + "a keyword is followed by a space",
    )


MAX_MODEL_BYTES = 64 * 2**20


def parse_file(path: str | Path) -> S.Program:
    """Read and parse a model file; every failure is a located ParseError."""
    path = Path(path)
    shown = str(path)
    try:
        with open(path, "rb") as fh:  # bounded: /dev/zero or a runaway pipe never ends
            data = fh.read(MAX_MODEL_BYTES + 1)
        if len(data) > MAX_MODEL_BYTES:
            raise ParseError(f"{shown} holds more than {MAX_MODEL_BYTES:,} bytes: not a "
                             "model file", None, hint="a .lwl model is a short text; large "
                             "tables go in data or edge files that it names")
    except FileNotFoundError:
        raise ParseError(f"no such model file: {shown}", None,
                         hint="models/ holds the shipped models") from None
    except IsADirectoryError:
        raise ParseError(f"{shown} is a directory, not a model file", None) from None
    except OSError as e:
        raise ParseError(f"cannot read {shown}: {e.strerror}", None) from None
    return parse_text(_decode(data, shown), shown)


def parse_prelude() -> S.Program:
    """The built-in activation sets, written in .lwl (lwlc/prelude.lwl)."""
    return parse_file(PRELUDE_PATH)
