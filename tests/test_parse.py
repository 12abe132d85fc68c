"""Stage 1, parse: every shipped model parses to the expected AST, and every malformed input is a
located ParseError (message, line, column, and a caret under the spot in `format()`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lwlc import syntax as S
from lwlc.errors import LwlcError, ParseError
from lwlc.parse import MAX_DEPTH, parse_file, parse_prelude, parse_text

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted((ROOT / "models").glob("*.lwl"))

TINY = """\
model tiny "a small classifier"
param omega = 2.0
nodes D[3]
nodes H1[4], C[2]
group H = H1
edges E = dense(D -> H1) + dense(H1 -> C)
batch k[8]
input d[k, D]
label c[k] in C
var x[k, E]
var y[k, H | C] metric outdeg on H, 1 on C
constraint inputs for k, i in D: agree x[k, out(i)] == d[k, i]
solve rrr(beta = 1.0)
"""


def at(src: str, snippet: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of `snippet` in `src`."""
    pos = -1
    for _ in range(nth + 1):
        pos = src.index(snippet, pos + 1)
    return src.count("\n", 0, pos) + 1, pos - (src.rfind("\n", 0, pos) + 1) + 1


def parse_error(src: str, file: str = "t.lwl") -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_text(src, file)
    return info.value


def check_located(err: LwlcError, line: int, col: int, message: str, file: str = "t.lwl",
                  width: int | None = None) -> list[str]:
    """The error says `message` at line:col, and format() puts the caret under that column."""
    assert message in err.message, err.format()
    assert err.span is not None
    assert (err.span.line, err.span.col) == (line, col), err.format()
    out = err.format().splitlines()
    assert out[0] == f"{file}:{line}:{col}: error: {err.message}"
    caret = out[2]
    assert caret.startswith("    ") and set(caret.strip()) == {"^"}
    assert caret.index("^") == 4 + col - 1, err.format()
    if width is not None:
        assert caret.count("^") == width, err.format()
    return out


# --- every shipped model ----------------------------------------------------------------------


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_shipped_model_parses(path):
    prog = parse_file(path)
    assert prog.file == str(path)
    kinds = [type(s).__name__ for s in prog.statements]
    assert kinds[0] == "ModelDecl"
    assert kinds.count("SolveDecl") == 1
    assert kinds.count("BatchDecl") == 1
    assert kinds.count("ConstraintDecl") >= 3
    assert prog.statements[0].name == path.stem
    # Every node has a real span inside the file.
    n_lines = prog.source.count("\n") + 1
    for st in prog.statements:
        assert 1 <= st.span.line <= n_lines
        assert st.span.line_text().strip()


def test_majority_ast():
    prog = parse_file(ROOT / "models" / "majority.lwl")
    st = {(type(s).__name__, getattr(s, "name", None)): s for s in prog.statements}
    assert prog.statements[0].title.startswith("Elser 2021, Sect. 5.5.1")
    assert [s.name for s in prog.statements if isinstance(s, S.ParamDecl)] == [
        "omega", "upsilon", "margin"]
    assert [(s.name, s.size.value) for s in prog.statements if isinstance(s, S.NodesDecl)] == [
        ("D", 13), ("H1", 26), ("C", 2)]
    edges = st[("EdgesDecl", "E")]
    assert [(t.func, t.tail.name, t.head.name) for t in edges.terms] == [
        ("dense", "D", "H1"), ("dense", "H1", "C")]
    batch = st[("BatchDecl", "k")]
    assert [(p.name, p.size.value) for p in batch.parts] == [("k", 128)]
    y = st[("VarDecl", "y")]
    assert isinstance(y.indices[1], S.GroupUnion)
    assert [(type(m.value).__name__, m.on.name) for m in y.metric] == [
        ("Name", "H"), ("Name", "C")]
    hidden = st[("ConstraintDecl", "hidden")]
    assert isinstance(hidden.relation, S.Activation)
    assert hidden.relation.set.name == "relu"
    assert [b.name for b in hidden.bindings] == ["k", "i"]
    assert hidden.bindings[0].domain is None and hidden.bindings[1].domain.name == "H"
    neuron = st[("ConstraintDecl", "neuron")]
    assert isinstance(neuron.relation, S.Bilinear)
    assert isinstance(neuron.relation.rhs, S.BinOp) and neuron.relation.rhs.op == "*"
    weights = st[("ConstraintDecl", "weights")]
    assert isinstance(weights.relation, S.Consensus)
    assert weights.relation.side.op == "in"
    assert [s.name for s in weights.relation.side.sets] == ["sphere"]
    assert isinstance(weights.relation.ref.indices[0], S.IndexStar)
    assert weights.relation.ref.indices[1] == S.IndexEdges("in", "j", None)
    solve = next(s for s in prog.statements if isinstance(s, S.SolveDecl))
    assert solve.method == "rrr"
    assert {k.name for k in solve.kwargs} == {"beta", "iterations", "tolerance", "epochs", "seed"}
    data = [s for s in prog.statements if isinstance(s, S.DataDecl)]
    assert [d.role for d in data] == ["train", "test"]


def test_autoencoder_ast_batch_parts_and_sample():
    prog = parse_file(ROOT / "models" / "mnist_autoencoder.lwl")
    batch = next(s for s in prog.statements if isinstance(s, S.BatchDecl))
    assert batch.name == "k"
    assert [(p.name, p.size.value) for p in batch.parts] == [("data", 200), ("code", 20)]
    sample = next(s for s in prog.statements if isinstance(s, S.SampleDecl))
    assert (sample.name, sample.batch, sample.group.name) == ("s", "code", "Z")
    assert sample.source.name == "x"
    assert sample.source.indices[1] == S.IndexEdges("out", "Z", None)
    # `data` is a keyword, but also a fine name for a batch part (contextual lexing).
    rest = next(s for s in prog.statements
                if isinstance(s, S.ConstraintDecl) and s.name == "data_rest")
    assert rest.bindings[0].domain.name == "data"
    assert isinstance(rest.bindings[1].domain, S.GroupDiff)


def test_modifiers_and_percentages():
    prog = parse_file(ROOT / "models" / "fpa_classifier.lwl")
    classes = next(s for s in prog.statements
                   if isinstance(s, S.ConstraintDecl) and s.name == "classes")
    (mod,) = classes.modifiers
    assert mod.kind == "allow"
    assert mod.count.percent and mod.count.value == 25
    assert mod.label.value == 1
    prog = parse_file(ROOT / "models" / "mnist_exempt.lwl")
    classes = next(s for s in prog.statements
                   if isinstance(s, S.ConstraintDecl) and s.name == "classes")
    assert classes.modifiers[0].kind == "exempt"
    assert classes.modifiers[0].count == S.Num(0.5, None, True)


def test_prelude_parses_and_lists_the_builtin_sets():
    prog = parse_prelude()
    sets = {s.name: s for s in prog.statements if isinstance(s, S.SetDecl)}
    assert set(sets) == {"relu", "step", "zigmoid", "hardtanh", "softthreshold", "ternary",
                         "linear", "sigmoid", "tanh_act"}
    assert sets["zigmoid"].params == ("delta",)
    assert len(sets["zigmoid"].pieces) == 3
    assert isinstance(sets["linear"].pieces[0].condition, S.CondAll)
    cond = sets["zigmoid"].pieces[1].condition
    assert isinstance(cond, S.CondCompare) and cond.parts[1] == "<=" and cond.parts[3] == "<="


# --- syntax details -----------------------------------------------------------------------------


def test_expression_precedence():
    prog = parse_text("param a = -2 ^ 2 * 3 + 4 / 2 - 1\nparam b = 2 ** 3 ^ 2\n")
    a = prog.statements[0].value
    # ((-(2^2)) * 3 + 4 / 2) - 1
    assert a.op == "-" and a.left.op == "+"
    assert a.left.left.op == "*" and isinstance(a.left.left.left, S.Neg)
    assert a.left.left.left.operand.op == "^"
    b = prog.statements[1].value
    assert b.op == "^" and b.right.op == "^"  # right associative


def test_numbers():
    prog = parse_text("param a = 1e-4\nparam b = .5\nparam c = 3.\nparam d = 2.5%\n")
    vals = [(s.value.value, s.value.percent) for s in prog.statements]
    assert vals == [(1e-4, False), (0.5, False), (3.0, False), (2.5, True)]


def test_statement_may_span_lines_and_comments_anywhere():
    prog = parse_text("solve rrr(beta = 0.3,  # a comment\n          error = \"element\")\n")
    (solve,) = prog.statements
    assert [(k.name, k.value) for k in solve.kwargs][1] == ("error", "element")
    assert (solve.span.line, solve.span.end_line) == (1, 2)


def test_edge_forms():
    src = ('edges E = dense(A -> B) + random(A -> B | C, fanin = 3, seed = 7)'
           ' + [A[0] -> C[1], A[1] -> C[0],] + file("e.txt")\n')
    (edges,) = parse_text(src).statements
    dense, rnd, lst, fil = edges.terms
    assert isinstance(dense, S.EdgeCall) and dense.kwargs == ()
    assert [(k.name, k.value.value) for k in rnd.kwargs] == [("fanin", 3), ("seed", 7)]
    assert isinstance(rnd.head, S.GroupUnion)
    assert [(a.group, a.index.value, b.group, b.index.value) for a, b in lst.pairs] == [
        ("A", 0, "C", 1), ("A", 1, "C", 0)]
    assert fil == S.EdgeFile("e.txt", None)


def test_many_edge_terms_are_flat():
    terms = " + ".join(f"dense(L{i} -> L{i + 1})" for i in range(2 * MAX_DEPTH))
    (edges,) = parse_text(f"edges E = {terms}\n").statements
    assert len(edges.terms) == 2 * MAX_DEPTH


def test_set_declaration_forms():
    src = """set s(a, b) {
        x = 0 for z <= -a;
        x = z / a for z in [-a, a];
        x = exp(z) - b for a < z;
    }
    set t { x = z for all }
    """
    s, t = parse_text(src).statements
    assert s.params == ("a", "b") and len(s.pieces) == 3
    assert isinstance(s.pieces[1].condition, S.CondInterval)
    assert s.pieces[2].condition.parts[1] == "<"
    assert t.params == () and isinstance(t.pieces[0].condition, S.CondAll)


def test_a_parameter_named_all_can_open_a_condition():
    """`all` is no keyword: `for all <= z` compares z with a parameter named `all` (it was an
    error at the `<=`), and `for all` alone is still every z."""
    src = """param all = 0.5
    set clip { x = 1 for all <= z; x = z for -all < z < all; x = -1 for z <= -all }
    set same { x = z for all }
    """
    _, clip, same = parse_text(src).statements
    first = clip.pieces[0].condition
    assert isinstance(first, S.CondCompare) and first.parts[0].id == "all"
    assert first.parts[1:] == ("<=", first.parts[2]) and first.parts[2].id == "z"
    assert isinstance(same.pieces[0].condition, S.CondAll)


def test_a_condition_that_is_a_lone_name_is_located():
    src = TINY + "set foo { x = 1 for z }\n"
    err = parse_error(src)
    out = check_located(err, *at(src, "z }"), "condition is the name 'z' alone")
    assert "'for z >= 0'" in out[-1] and "'for all'" in out[-1]


def test_relation_forms_and_pin():
    src = """constraint a [A] for k, i in C: agree x[k, out(i)] >= 0
constraint b [B] for i in C: agree w[*, out(i)] in nonneg & sphere(0.6)
constraint c for k, i in H: (y[k, i], agree x[k, out(i)] == d[k, i]) in step(0.4)
constraint e for k, j in D: dot(x[k, in(j)], w[k, in(j)]) == Y[k, j]
constraint f for k: y[k, C] - b[k, C] in margin(c[k], 0.1) relabel 5%
"""
    a, b, c, e, f = parse_text(src).statements
    assert (a.pin, a.relation.side.op, a.relation.side.value.value) == ("A", ">=", 0)
    assert b.pin == "B" and [s.name for s in b.relation.side.sets] == ["nonneg", "sphere"]
    assert isinstance(c.relation.z, S.Ref) and c.relation.fixed.name == "d"
    assert c.relation.set == S.SetRef("step", (S.Num(0.4, None),), None)
    assert isinstance(e.relation.rhs, S.Ref) and e.relation.rhs.name == "Y"
    assert isinstance(f.relation, S.Membership) and f.modifiers[0].kind == "relabel"


def test_line_endings_bom_and_unicode_line_separators():
    crlf = TINY.replace("\n", "\r\n")
    assert [type(s) for s in parse_text(crlf).statements] == [
        type(s) for s in parse_text(TINY).statements]
    assert len(parse_text("\ufeff" + TINY).statements) == len(parse_text(TINY).statements)
    # An old-Mac file (CR only) is not one long comment.
    assert len(parse_text(TINY.replace("\n", "\r")).statements) == len(parse_text(TINY).statements)
    # A U+2028 in a comment does not shift the line numbers of errors below it.
    src = "# a\u2028comment\nnodes D[3]]\n"
    err = parse_error(src)
    check_located(err, 2, 11, "unexpected ']'")
    assert err.format().splitlines()[1] == "    nodes D[3]]"
    # CRLF: the column does not count the CR.
    err = parse_error("nodes D[3]\r\nnodes E[4]]\r\n")
    check_located(err, 2, 11, "unexpected ']'")


def test_spans_of_nodes():
    src = "param omega = 2.0\nconstraint inputs for k, i in D: agree x[k, out(i)] == d[k, i]\n"
    _, c = parse_text(src).statements
    assert (c.span.line, c.span.col) == (2, 1)
    ref = c.relation.ref
    assert (ref.span.line, ref.span.col) == at(src, "x[k, out(i)]")
    assert ref.span.end_col - ref.span.col == len("x[k, out(i)]")
    assert (c.relation.side.value.span.line, c.relation.side.value.span.col) == at(src, "d[k, i]")


# --- parse errors -----------------------------------------------------------------------------


def test_unexpected_token():
    src = TINY.replace("nodes D[3]", "nodes D[3]]")
    err = parse_error(src)
    line, col = at(src, "]]")
    out = check_located(err, line, col + 1, "unexpected ']'", width=1)
    assert out[1] == "    nodes D[3]]"
    assert "expected" in err.hint and "a new statement" in err.hint


def test_unexpected_keyword():
    src = TINY.replace("nodes D[3]", "nodes D[3] for k")
    err = parse_error(src)
    check_located(err, *at(src, "for k"), "unexpected keyword 'for'", width=3)
    assert err.hint == "expected ',', a new statement"


@pytest.mark.parametrize("typo, keyword", [("constrant", "constraint"), ("vra", "var"),
                                            ("Nodes", "nodes"), ("slove", "solve")])
def test_a_misspelt_statement_keyword_gets_a_did_you_mean(typo, keyword):
    src = TINY.replace("\nnodes ", f"\n{typo} ", 1) if keyword == "nodes" else TINY + f"{typo} x\n"
    err = parse_error(src)
    check_located(err, *at(src, typo), f"unexpected '{typo}'", width=len(typo))
    assert err.hint.startswith(f"did you mean '{keyword}'? A statement starts with one of")
    # an unrelated name at the start of a line keeps the plain hint
    assert parse_error(TINY + "zzz x\n").hint.startswith("expected")


@pytest.mark.parametrize("glued, keyword", [("inputs d[k, D]", "input"),
                                             ("params leak = 2", "param"),
                                             ("nodesD[13]", "nodes"),
                                             ("var2 z[k, E]", "var")])
def test_a_keyword_glued_to_more_letters_is_named_whole(glued, keyword):
    # `nodesD[13]` used to parse as `nodes D[13]`: a statement's start admits only keywords
    src = TINY + glued + "\n"
    word = glued.split("[")[0].split()[0]
    err = parse_error(src)
    check_located(err, *at(src, glued), f"unknown keyword '{word}'", width=len(word))
    assert err.hint.startswith(f"did you mean '{keyword}'?")


def test_a_keyword_glued_to_a_name_inside_a_statement_is_refused():
    src = TINY.replace("for k, i in D:", "for k, i inD:")
    err = parse_error(src)
    check_located(err, *at(src, "inD:"), "unknown keyword 'inD'", width=3)
    # names that merely start with a keyword stay names
    ok = TINY.replace("input d[k, D]", "input in_data[k, D]").replace("d[k, i]",
                                                                       "in_data[k, i]")
    parse_text(ok)


@pytest.mark.parametrize("body, snippet, message", [
    ("{ }", "{ }", "a set needs at least one piece"),
    ("{ x = z for all; ; }", "; ;", "an empty piece"),
    ("{ ; x = z for all }", "{ ;", "an empty piece"),
])
def test_a_set_without_a_piece_is_named_so_not_a_missing_brace(body, snippet, message):
    src = TINY + f"set foo {body}\n"
    err = parse_error(src)
    check_located(err, *at(src, snippet), message, width=len(snippet))


@pytest.mark.parametrize("body, snippet, message", [
    ("{ x = 0 for z <= -0.1 x = 1 for z >= 0.1 }", "x = 1", "';' missing between two pieces"),
    ("{ x = 0 for z <= -0.1, x = 1 for z >= 0.1 }", ", x", "separated by ';', not ','"),
])
def test_a_missing_semicolon_between_pieces_is_named_so(body, snippet, message):
    """It was reported as a '}' missing before the set's own line (a user test)."""
    src = TINY + f"set foo {body}\n"
    err = parse_error(src)
    check_located(err, *at(src, snippet), message)
    assert "separated by ';'" in err.hint


@pytest.mark.parametrize("last", ["x = 1 for z >= 1", "x = 1 for z >= 1;"])
def test_a_set_without_its_closing_brace_is_reported_where_the_brace_is_missing(last):
    block = "set clip {\n    x = -1 for z <= -1;\n    x = z for -1 <= z <= 1;\n    " + last
    src = TINY.replace("var x[k, E]", block + "\n\nvar x[k, E]")
    err = parse_error(src)
    check_located(err, *at(src, "var x[k, E]"), "'}' missing before this statement",
                  width=3)
    assert f"t.lwl:{at(src, '{')[0]}:{at(src, '{')[1]}" in err.hint
    assert parse_text(src.replace(last, last + " }"))  # closed: it parses


def test_a_misspelt_keyword_inside_a_statement_is_named_in_the_hint():
    src = TINY.replace("agree x[k, out(i)] == d[k, i]", "agre x[k, out(i)] == d[k, i]")
    err = parse_error(src)
    check_located(err, *at(src, "x[k, out(i)] =="), "unexpected 'x'")
    assert err.hint.startswith("'agre' is not a keyword: did you mean 'agree'?")


@pytest.mark.parametrize("line, where, message, hint", [
    ("constraint neuron for k, j in H | C: omega * y[k, j] == dot(x[k, in(j)], w[k, in(j)])",
     "== dot", "unexpected '=='", "write the dot product on the left: dot("),
    ("constraint classes for k: y[k, C] - b[k, C] in margin(c[k], 0.1) relabel frac%",
     "%", "unexpected character '%'", "a percentage is a number with '%'"),
    ("edges R = random(D -> H, 3, seed = 1)", "3, seed", "unexpected '3'",
     "write each option of an edge term as name = value, as in random(D -> H, fanin = 3"),
    ("constraint q for k: y[k, out] - b[k, out] in margin(c[k], 0.1)", "] - b[k, out]",
     "unexpected ']'", "inside [...], 'out' starts out(NODE), the edges of a node; a node "
     "group named 'out' cannot be written there"),
], ids=["dot-on-the-right", "percentage-of-a-parameter", "unnamed-edge-option",
        "group-named-out"])
def test_a_misplaced_dot_product_or_percentage_gets_a_hint_on_how_to_write_it(
        line, where, message, hint):
    """`omega * y[k, j] == dot(...)`, `relabel frac%`, `random(D -> H, 3)` and `y[k, out]`
    (a node group named out) said only what tokens could follow (user tests)."""
    src = TINY.replace("solve rrr", f"{line}\nsolve rrr")
    err = parse_error(src)
    check_located(err, *at(src, where), message)
    assert err.hint.startswith(hint), err.hint


def test_keywords_are_names_where_a_name_is_expected():
    # Contextual lexing: `data` is a statement keyword and also a batch part's name.
    prog = parse_text("param for = 2.0\nbatch k = data[3] + code[2]\n")
    assert prog.statements[0].name == "for"
    assert [p.name for p in prog.statements[1].parts] == ["data", "code"]


def test_unexpected_character():
    src = TINY.replace("group H = H1", "group H = H1 $ C")
    err = parse_error(src)
    check_located(err, *at(src, "$"), "unexpected character '$'", width=1)


def test_unterminated_string():
    src = TINY.replace('"a small classifier"', '"a small classifier')
    err = parse_error(src)
    check_located(err, *at(src, '"a small'), "string is not closed")


def test_truncated_file_points_after_the_last_token():
    src = TINY[: TINY.index("label c[k] in") + len("label c[k] in")] + "   # the rest is lost\n\n"
    err = parse_error(src)
    line, col = at(src, "label c[k] in")
    out = check_located(err, line, col + len("label c[k] in"),
                        "the file ends in the middle of a statement")
    assert out[1] == "    label c[k] in   # the rest is lost"
    assert "a name" in err.hint


def test_truncated_inside_expression():
    err = parse_error("param a = 1 +")
    check_located(err, 1, 14, "ends in the middle of a statement")


@pytest.mark.parametrize("src", ["", "\n\n   \n", "\t"])
def test_empty_file(src):
    err = parse_error(src)
    check_located(err, 1, 1, "the model file is empty")
    assert "see models/" in err.hint


def test_comment_only_file():
    err = parse_error("# just a comment\n\n   # and another\n")
    out = check_located(err, 1, 1, "the model file holds only comments")
    assert out[1] == "    # just a comment"


def test_binary_file(tmp_path):
    path = tmp_path / "model.lwl"
    path.write_bytes(b"model m\nnodes D[\x00\x01\x02]\n")
    with pytest.raises(ParseError) as info:
        parse_file(path)
    err = info.value
    assert "binary file" in err.message
    assert (err.span.line, err.span.col) == (2, 9)
    assert err.format().startswith(f"{path}:2:9: error: this is a binary file")


def test_invalid_utf8(tmp_path):
    path = tmp_path / "model.lwl"
    path.write_bytes("model m \"\u00e9t\u00e9\"\nparam a = 1 # caf\xe9\n".encode("latin-1"))
    with pytest.raises(ParseError) as info:
        parse_file(path)
    err = info.value
    check_located(err, 1, 10, "not valid UTF-8", file=str(path))
    assert "0xe9" in err.message
    assert err.hint == "save the model file as UTF-8"


def test_invalid_utf8_column_counts_characters(tmp_path):
    path = tmp_path / "model.lwl"
    path.write_bytes("param \u03c9 = 1 \u00e9".encode() + b"\xff\n")
    with pytest.raises(ParseError) as info:
        parse_file(path)
    assert (info.value.span.line, info.value.span.col) == (1, 14)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ParseError, match="no such model file"):
        parse_file(tmp_path / "nope.lwl")
    with pytest.raises(ParseError, match="is a directory"):
        parse_file(tmp_path)
    err = ParseError("x", None)
    assert err.format() == "lwlc: error: x"


def test_too_deep_nesting_is_refused_not_a_recursion_error():
    src = "param a = " + "+".join(["1"] * (MAX_DEPTH + 50)) + "\n"
    err = parse_error(src)
    assert f"nested more than {MAX_DEPTH} levels" in err.message
    assert err.span.line == 1 and 1 <= err.span.col <= len(src)
    src = "param a = " + "-" * (3 * MAX_DEPTH) + "1\n"
    assert "nested" in parse_error(src).message
    # Parentheses alone do not nest the tree.
    (p,) = parse_text("param a = " + "(" * 1000 + "1" + ")" * 1000).statements
    assert p.value.value == 1


def test_error_is_the_first_problem_only():
    src = TINY.replace("nodes D[3]", "nodes D[3]]").replace("batch k[8]", "batch k[8")
    err = parse_error(src)
    assert err.span.line == at(src, "nodes D[3]]")[0]


def test_tabs_keep_the_caret_aligned():
    err = parse_error("\tnodes\tD[3]]\n")
    out = err.format().splitlines()
    assert (err.span.line, err.span.col) == (1, 12)  # a tab is one column
    assert out[1] == "     nodes D[3]]"  # and is shown as one space
    assert out[2].index("^") == 4 + 11


# --- the documentation's examples ---------------------------------------------------------------


def lwl_blocks(doc: str) -> list[str]:
    """The ```lwl code blocks of a file in docs/."""
    text = (ROOT / "docs" / doc).read_text()
    return [b[len("lwl\n"):] for b in text.split("```")[1::2] if b.startswith("lwl\n")]


@pytest.mark.parametrize("doc", ["language.md", "tutorial.md"])
def test_documented_examples_parse(doc):
    blocks = lwl_blocks(doc)
    assert len(blocks) >= 8
    for block in blocks:
        assert parse_text(block, doc).statements


def test_the_parser_tables_are_kept_only_in_a_cache_folder_of_the_users_own(tmp_path,
                                                                          monkeypatch):
    """lark's tables (a pickle) are read back only from a folder nobody else may write to."""
    import os
    import stat

    from lwlc import parse

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = parse._tables_file()
    assert path == str(tmp_path / "cache" / "lwlc" / "parser-tables.lark")
    assert stat.S_IMODE(os.stat(tmp_path / "cache" / "lwlc").st_mode) & 0o077 == 0
    (tmp_path / "cache" / "lwlc").chmod(0o777)
    assert parse._tables_file() is False
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-such-place")
    assert parse._tables_file() is False


def test_a_long_line_is_echoed_as_a_window_around_the_caret():
    """A 100k-term expression's error echoed its whole line (200 KB); control characters
    went to the terminal raw."""
    from lwlc.errors import Span, format_diagnostic

    line = "param a = " + " + ".join(f"x{i}" for i in range(2000))
    col = line.index("x1500") + 1
    source = "model m\n" + line + "\n"
    out = format_diagnostic("error", "boom", Span("t.lwl", 2, col, 2, col + 5, source), None)
    echoed, caret = out.splitlines()[1:3]
    assert len(echoed) < 200 and echoed.strip().startswith("...")
    assert echoed[caret.index("^"):].startswith("x1500") and caret.count("^") == 5
    out = format_diagnostic("error", "x", Span("t.lwl", 2, 5, 2, 6, "model m\nab\x01\x1bcd\n"),
                            None)
    assert out.splitlines()[1] == "    ab??cd"


def test_a_model_file_that_never_ends_is_refused(tmp_path, monkeypatch):
    """`lwlc check /dev/zero` read without end (a user test); the read is bounded."""
    from lwlc import parse
    from lwlc.errors import ParseError

    monkeypatch.setattr(parse, "MAX_MODEL_BYTES", 1000)
    big = tmp_path / "big.lwl"
    big.write_text("# " + "x" * 2000 + "\n")
    with pytest.raises(ParseError, match="holds more than 1,000 bytes: not a model file"):
        parse.parse_file(big)


@pytest.mark.parametrize("number", ["\u0662.\u0665", "\uff16"])  # Arabic 2.5, fullwidth 6
def test_a_number_is_written_in_ascii_digits(number):
    """`param omega = ٢.٥` read as 2.5 and `nodes H1[６]` as 6 (a user test)."""
    with pytest.raises(ParseError, match="unexpected character"):
        parse_text(f"model m\nparam omega = {number}\n", "t.lwl")


def test_the_caret_stands_under_its_text_after_wide_characters():
    """A CJK title shifted the caret left by one column per character (a user test)."""
    with pytest.raises(ParseError) as info:
        parse_text('model m "\u6570\u636e" x\n', "t.lwl")
    line, caret = info.value.format().splitlines()[1:3]
    assert caret.index("^") == line.index("x") + 2  # two wide characters, two more columns


@pytest.mark.parametrize("old, new, end", [
    ("param omega = 2.0", "param omega = 2.0 *", "*"),  # the next `nodes` read as a name
    ("nodes H1[4], C[2]", "nodes H1[4], C[2],", ","),   # and `group`
    ("label c[k] in C", "label c[k] in", "in"),
    ("agree x[k, out(i)] == d[k, i]", "agree x[k, out(i)] ==", "=="),
    ("solve rrr(beta = 1.0)", "solve rrr(beta = 1.0)", None),
])
def test_a_statement_left_unfinished_is_named_not_the_next_line(old, new, end):
    """`param margin = 0.1 +` before `nodes D[4]` was "unexpected 'D'" on the next line,
    whose keyword had been read as a name (a user test)."""
    src = TINY.replace(old, new, 1)
    if end is None:
        parse_text(src, "t.lwl")
        return
    line, col = at(src, new)
    err = parse_error(src)
    check_located(err, line, col + len(new) - len(end),
                  f"the statement on line {line} is unfinished: it ends in '{end}'",
                  width=len(end))
    assert "was read as a name" in err.message
    assert (f"remove the '{end}'" in err.hint) == (end in ",*"), err.hint
