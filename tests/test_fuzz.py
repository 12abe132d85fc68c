"""Fuzzing the front end: random text, random bytes and random mutations of the shipped models
never raise anything but an LwlcError (ParseError, ModelError, ...), and every error's span lies
inside the file: 1 ≤ line ≤ number of lines, 1 ≤ column ≤ length of that line + 1."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lwlc.elaborate import elaborate
from lwlc.errors import LwlcError
from lwlc.parse import parse_file, parse_text

ROOT = Path(__file__).resolve().parents[1]
MODELS = {p.stem: p.read_text() for p in sorted((ROOT / "models").glob("*.lwl"))}
FILE = "fuzz.lwl"
# LWLC_FUZZ_EXAMPLES=5000 for a long run; the default keeps the file under ~10 s.
FUZZ = settings(max_examples=int(os.environ.get("LWLC_FUZZ_EXAMPLES", 200)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TOKEN = re.compile(r'"[^"\n]*"|[A-Za-z_]\w*|\d+\.?\d*(?:[eE][+-]?\d+)?%?|->|==|<=|>=|\*\*|\S')
VOCAB = sorted({t for src in MODELS.values() for t in TOKEN.findall(src)}
               | {"[", "]", "(", ")", "{", "}", ";", "&", "|", "-", "<", ">", "^", "%", "all",
                  "exempt", "relabel", "allow", "as", "from", "file", "random", "sample", "set",
                  "group", "metric", "on", "*", "1e999", "0", "-1", "2.5", "1e9", '"x"'})
# Characters that stress the lexer and the line accounting.
ODD = st.sampled_from(list("\x00\t\r\n\v\f\x1c\x85\u2028\u2029\ufeff\"#%$@`\\é→") + [" "])


OTHER_BREAKS = str.maketrans({c: " " for c in "\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def lines_of(text: str) -> list[str]:
    """The file's lines as lwlc counts them: a BOM dropped, CRLF and lone CR are LF."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def check_error(err: LwlcError, text: str, file: str = FILE) -> None:
    out = err.format()
    assert isinstance(out, str) and "Traceback" not in out
    span = err.span
    if span is None:
        return
    assert span.file == file, out  # errors point into the user's file, never the prelude
    lines = lines_of(text)
    assert 1 <= span.line <= len(lines), out
    assert 1 <= span.col <= len(lines[span.line - 1]) + 1, out
    assert out.startswith(f"{file}:{span.line}:{span.col}: error: "), out
    if span.source is not None:  # the line shown is the line of the file (other breaks: ' ',
        # what is not printable: '?'), or a window of it around the caret where it is long
        shown = out.split("\n")[1]  # messages hold no "\n" (strings and names cannot)
        line = lines[span.line - 1].translate(OTHER_BREAKS).expandtabs(1)
        line = "".join(ch if ch.isprintable() else "?" for ch in line)
        if len(line) <= 160:
            assert shown == "    " + line, out
        else:
            window = shown[4:].removeprefix("...").removesuffix("...")
            assert len(window) == 160 and window in line, out


def front_end(text: str) -> None:
    """Parse and elaborate (never split); only LwlcErrors may escape, and they are checked."""
    try:
        elaborate(parse_text(text, FILE))
    except LwlcError as err:
        check_error(err, text)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text):
    front_end(text)


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(VOCAB), ODD, st.just("\n"), st.just(" ")),
                max_size=60))
def test_random_token_soup(tokens):
    front_end(" ".join(tokens))


@pytest.fixture(scope="module")
def byte_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / FILE


@FUZZ
@given(data=st.one_of(
    st.binary(max_size=300),
    st.sampled_from(sorted(MODELS)).flatmap(
        lambda name: st.tuples(st.integers(0, len(MODELS[name])), st.binary(max_size=4)).map(
            lambda t, name=name: MODELS[name].encode()[: t[0]] + t[1]
            + MODELS[name].encode()[t[0]:])),
))
def test_random_bytes(byte_file, data):
    byte_file.write_bytes(data)
    try:
        elaborate(parse_file(byte_file))
    except LwlcError as err:
        check_error(err, data.decode("utf-8", errors="replace"), str(byte_file))


# --- mutations of the shipped models --------------------------------------------------------


def _tokens(src: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in TOKEN.finditer(src)]


@st.composite
def mutated_model(draw) -> str:
    src = MODELS[draw(st.sampled_from(sorted(MODELS)))]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["del_tok", "dup_tok", "swap_tok", "sub_tok", "copy_run",
                                   "del_line", "dup_line", "swap_line", "truncate",
                                   "insert_char"]))
        toks = _tokens(src)
        lines = src.split("\n")
        if op == "copy_run" and toks:  # a run of 1-5 tokens copied in front of another token
            i = draw(st.integers(0, len(toks) - 1))
            j = min(len(toks) - 1, i + draw(st.integers(0, 4)))
            at = toks[draw(st.integers(0, len(toks) - 1))][0]
            src = src[:at] + src[toks[i][0]:toks[j][1]] + " " + src[at:]
        elif op.endswith("_tok") and toks:
            a, b = toks[draw(st.integers(0, len(toks) - 1))]
            if op == "del_tok":
                src = src[:a] + src[b:]
            elif op == "dup_tok":
                src = src[:b] + " " + src[a:b] + src[b:]
            elif op == "sub_tok":
                src = src[:a] + draw(st.sampled_from(VOCAB)) + src[b:]
            else:
                c, d = toks[draw(st.integers(0, len(toks) - 1))]
                if (a, b) > (c, d):
                    (a, b), (c, d) = (c, d), (a, b)
                if b <= c:
                    src = src[:a] + src[c:d] + src[b:c] + src[a:b] + src[d:]
        elif op == "del_line":
            del lines[draw(st.integers(0, len(lines) - 1))]
            src = "\n".join(lines)
        elif op == "dup_line":
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines)))
            lines.insert(j, lines[i])
            src = "\n".join(lines)
        elif op == "swap_line":
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            src = "\n".join(lines)
        elif op == "truncate":
            src = src[: draw(st.integers(0, len(src)))]
        else:
            i = draw(st.integers(0, len(src)))
            src = src[:i] + draw(st.one_of(ODD, st.characters())) + src[i:]
    return src


@FUZZ
@given(mutated_model())
def test_mutated_models(src):
    front_end(src)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_line_truncation_of_a_model(name):
    """Cutting a model after any of its lines is either a model or a located error."""
    lines = MODELS[name].split("\n")
    for n in range(len(lines)):
        front_end("\n".join(lines[:n]))
