"""Tests for lwlc.data: the text format, zip files, generators, specs, errors, round trips."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lwlc import data as D
from lwlc.data import DataError, Dataset

GOLDEN_LEDM5 = Path("/work/shared/golden/g_nmf_ledm5_r4.json")
TMP_OK = HealthCheck.function_scoped_fixture  # tmp_path is only a folder to write into


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


def error_of(spec, **kw) -> DataError:
    with pytest.raises(DataError) as info:
        D.load(str(spec), **kw)
    return info.value


# ---------------------------------------------------------------------------------------------
# The text format
# ---------------------------------------------------------------------------------------------


def test_load_text_free_form(tmp_path):
    # Items may be split over lines and mixed with tabs; header on its own line.
    p = write(tmp_path, "d.txt", "3 2\n\n0.5\t1 -2\n1\n4e-1 .25 3.\n0\n")
    ds = D.load(str(p))
    assert ds.inputs.dtype == np.float64 and ds.labels.dtype == np.int64
    np.testing.assert_array_equal(ds.inputs, [[0.5, 1, -2], [0.4, 0.25, 3.0]])
    np.testing.assert_array_equal(ds.labels, [1, 0])
    assert ds.n_classes == 2 and ds.n_items == 2 and ds.n_inputs == 3
    assert ds.name == "d.txt" and ds.source == str(p.resolve())


def test_load_reference_style_file(tmp_path):
    # The layout of the paper's maj13 files: tab-separated "0." inputs, integer class.
    lines = ["13\t2", ""] + ["\t".join(["1."] * 6 + ["0."] * 7 + ["1"])] * 4
    p = write(tmp_path, "maj", "\n".join(lines) + "\n")
    ds = D.load(str(p))
    assert ds.inputs.shape == (4, 13) and set(np.unique(ds.inputs)) == {0.0, 1.0}
    np.testing.assert_array_equal(ds.labels, [1, 1, 1, 1])


BOOLEARN = Path("/work/shared/data/boolearn")


def test_boolearn_files_read_as_their_readme_says(tmp_path):
    # Boolean outputs follow the inputs as columns; `N 1` outputs are a class index
    p = write(tmp_path, "mul.dat", "2\n2 2\n2 3\n\n1 0\n0 1 1\n\n0 1\n1 0 0\n")
    ds = D.load(str(p))
    np.testing.assert_array_equal(ds.inputs, [[1, 0, 0, 1, 1], [0, 1, 1, 0, 0]])
    assert ds.labels is None and ds.n_classes is None
    # a width mismatch says what the numbers are ("8 inputs" for 4 inputs + 4 outputs)
    with pytest.raises(DataError, match=r"has 5 values per item \(2 inputs \+ 3 outputs, as "
                       r"its boolearn header says\) but the model's data layer has 4"):
        D.validate_for(ds, 4, None)
    with pytest.raises(DataError, match="has 5 values per item") as info:
        D.validate_for(ds.head(1), 4, None)
    assert "outputs as inputs too (input d[k, In | Out], 5 nodes in all)" in info.value.hint
    p = write(tmp_path, "cls.dat", "3\n0 2\n10 1\n\n0.5 1\n9\n\n0 0\n0\n\n1 .25\n3\n")
    ds = D.load(str(p))
    np.testing.assert_array_equal(ds.inputs, [[0.5, 1], [0, 0], [1, 0.25]])
    np.testing.assert_array_equal(ds.labels, [9, 0, 3])
    assert ds.n_classes == 10
    # the paper's header of unlabeled pairs stays the paper's format
    ds = D.load(str(write(tmp_path, "pairs.txt", "2\n1 3\n0 5\n2 2\n")))
    np.testing.assert_array_equal(ds.inputs, [[1, 3], [0, 5], [2, 2]])


def test_a_boolearn_width_file_given_as_data_says_what_it_is(tmp_path):
    """2x2.wth as --data gave only a line-4 error about whole items (a user test)."""
    e = error_of(write(tmp_path, "2x2.wth", "3\n4 4 4 4\n"))
    assert e.hint.startswith("2x2.wth holds a boolearn network's layer widths, not data")
    assert "(2x2.dat)" in e.hint


@pytest.mark.skipif(not BOOLEARN.is_dir(), reason="shared boolearn data not present")
def test_the_shared_boolearn_tasks_load():
    mul = D.load(str(BOOLEARN / "2x2.dat"))
    assert mul.inputs.shape == (16, 8) and mul.labels is None
    a, b = mul.inputs[:, :2] @ [2, 1], mul.inputs[:, 2:4] @ [2, 1]  # a 2-bit multiplier
    np.testing.assert_array_equal(mul.inputs[:, 4:] @ [8, 4, 2, 1], a * b)
    digits = D.load(str(BOOLEARN / "mnistjr.dat"))
    assert digits.inputs.shape == (3823, 64) and digits.n_classes == 10
    assert set(np.unique(digits.labels)) == set(range(10))


@pytest.mark.parametrize("content, line, col, fragment", [
    ("3\n2 2\n2 1\n0 1 1\n1 1 0\n0 0\n", 6, 1,
     "item 3: expected 3 numbers on its line (2 inputs + the class index"),
    ("3\n2 2\n5 1\n0 1 1\n1 1 7\n0 0 1\n", 5, 5,
     "item 2: class index 7 is not an integer in [0, 5)"),
    ("16\n1 0\n2 4\n", 2, 3, "a generative boolearn task (input count 0)"),
    ("4\n2 2\n2 2\n0 1\n1 0\n\n1 1\n0 1\n", 1, 1,
     "the header (line 1) announces 4 items of 4 numbers"),
    ("2\n2 2\n2 1\n0 1 1\n1 x 0\n", 5, 3, "not a number: 'x'"),
    # an analog value in a Boolean column was read as it stood (a user test)
    ("2\n2 2\n2 1\n0 1 1\n1 nan 0\n", 5, 3, "item 2: input 2 is not finite"),
    ("2\n2 2\n2 1\n0 1 1\n1 0.5 0\n", 5, 3,
     "item 2: input 2 is 0.5, not 0 or 1: line 2 declares Boolean inputs (type 2)"),
    ("2\n2 2\n2 2\n0 1\n1 0\n\n1 1\n0 0.25\n", 8, 3,
     "item 2: output 2 is 0.25, not 0 or 1: line 3 declares Boolean outputs (type 2)"),
    # an analog value beyond [0, 1] was read as it stood (a user test)
    ("2\n0 2\n2 1\n0 0.5 1\n1 1.5 0\n", 5, 3,
     "item 2: input 2 is 1.5, outside [0, 1]: line 2 declares analog inputs (type 0)"),
    ("2\n2 2\n0 1\n0 1 0.25\n1 0 -1\n", 5, 5,
     "item 2: output 1 is -1, outside [0, 1]: line 3 declares analog outputs (type 0)"),
    # no items: an error without a file or line (a user test)
    ("0\n2 5\n2 1\n", 1, 1, "the header announces 0 items"),
    # 3 items where the header says 2: read as 14 unlabeled items of 2 numbers (a user test)
    ("2\n2 4\n2 4\n1 0 1 0 1 1 0 0\n0 0 0 0 0 0 1 1\n1 1 1 1 1 1 0 1\n", 6, 1,
     "the header (line 1) announces 2 items of 8 numbers"),
])
def test_boolearn_errors_are_located(tmp_path, content, line, col, fragment):
    err = error_of(write(tmp_path, "bad.dat", content))
    assert (err.line, err.col) == (line, col), str(err)
    assert fragment in str(err)


@pytest.mark.parametrize("content, problem", [
    ("3\n7 2\n2 1\n0 1 1\n1 1 0\n0 0 1\n",
     "line 2's input type 7 is not one of boolearn's types (0 analog, 2 Boolean; 1 for "
     "generators)"),
    # type 1 is for generators only, and a class index over 1 class is none (a user test)
    ("3\n1 2\n2 1\n0 1 1\n1 1 0\n0 0 1\n",
     "line 2's input type 1 is boolearn's 1-hot generators, for a generative task"),
    ("3\n2 2\n1 1\n0 1 1\n1 1 0\n0 0 1\n",
     "line 3's output type 1 is not one of boolearn's types"),
    ("3\n2 2\n5 2\n0 1 1 0\n1 1 0 0\n0 0 1 1\n",
     "line 3's output type 5 is not one of boolearn's types"),
])
def test_a_boolearn_file_with_a_wrong_type_says_so(tmp_path, content, problem):
    """A wrong type made the file read as the paper's format, and its error told of a short
    item only (a user test)."""
    err = error_of(write(tmp_path, "bad.dat", content))
    assert "the file starts as a boolearn task's header does" in err.hint
    assert problem in err.hint


def test_a_paper_file_that_fails_names_no_boolearn_type(tmp_path):
    """Its first lines looked like a boolearn header, and the hint named a wrong boolearn type
    in a plain paper-format file (a user test)."""
    err = error_of(write(tmp_path, "s.txt", "1\n1 2\n3 4\n"))
    assert "boolearn" not in (err.hint or "")


def test_load_unlabeled_header(tmp_path):
    # RRRnmf.c format: header NDATA only, no class column.
    p = write(tmp_path, "nmf", "2\n1 2\n3 4\n5 6\n")
    ds = D.load(p)  # a Path works too
    assert ds.labels is None and ds.n_classes is None
    np.testing.assert_array_equal(ds.inputs, [[1, 2], [3, 4], [5, 6]])


def test_bom_crlf_leading_blank_lines(tmp_path):
    p = write(tmp_path, "w.txt", b"\xef\xbb\xbf\r\n\r\n2 3\r\n1 2 2\r\n3 4 0\r\n")
    ds = D.load(str(p))
    np.testing.assert_array_equal(ds.labels, [2, 0])


def test_integral_float_class_index_accepted(tmp_path):
    ds = D.load(str(write(tmp_path, "f", "1 3\n0.5 2.0\n0.25 1e0\n")))
    np.testing.assert_array_equal(ds.labels, [2, 1])


def test_zip_single_member_and_directory_entries(tmp_path):
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as f:
        f.writestr("sub/", "")
        f.writestr("sub/data", "2 2\n1 2 1\n3 4 0\n")
    ds = D.load(str(z))
    np.testing.assert_array_equal(ds.inputs, [[1, 2], [3, 4]])
    assert ds.name == "d.zip"


def test_a_zip_made_by_macos_finder_reads_its_one_data_file(tmp_path):
    """Finder's "Compress" adds __MACOSX/._name resource forks (and .DS_Store): such a zip
    was refused as holding 2 data files (a user test)."""
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("data/train.txt", "2 2\n1 2 1\n3 4 0\n")
        f.writestr("__MACOSX/data/._train.txt", b"\x00\x05\x16\x07")
        f.writestr("data/.DS_Store", b"Bud1")
    ds = D.load(str(z))
    np.testing.assert_array_equal(ds.inputs, [[1, 2], [3, 4]])


def test_zip_error_location_names_member(tmp_path):
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("m.txt", "2 2\n1 x 1\n")
    e = error_of(z)
    assert e.path == f"{z}!m.txt" and (e.line, e.col) == (2, 3)


def test_zip_two_members_is_error(tmp_path):
    z = tmp_path / "two.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("a", "1 1\n0 0\n")
        f.writestr("b", "1 1\n0 0\n")
    e = error_of(z)
    assert "exactly one data file, found 2" in e.message and "a, b" in e.message
    assert e.path == str(z)
    # a NumPy archive is one too, but not data: said so (it said "unzip it": a user test)
    np.savez(tmp_path / "d.npz", inputs=np.zeros((3, 2)), labels=np.zeros(3))
    e = error_of(tmp_path / "d.npz")
    assert e.message == "a NumPy archive (.npz) is not a data format lwlc reads"
    assert "numpy.savetxt" in e.hint
    np.save(tmp_path / "d.npy", np.zeros((3, 2)))  # "binary file" and its raw header
    e = error_of(tmp_path / "d.npy")
    assert e.message == "a NumPy array file (.npy) is not a data format lwlc reads"


def test_zip_named_but_not_zip_and_damaged_zip(tmp_path):
    e = error_of(write(tmp_path, "x.zip", "1 1\n0 0\n"))
    assert "not a zip archive" in e.message
    z = tmp_path / "bad.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as f:
        f.writestr("m", "1 1\n" + "0.5 0\n" * 1000)
    raw = bytearray(z.read_bytes())
    raw[60:80] = b"\x00" * 20  # damage the compressed stream
    z.write_bytes(bytes(raw))
    e = error_of(z)
    assert "zip" in e.message


def test_file_limit_and_base_dir(tmp_path):
    write(tmp_path, "d", "1 2\n" + "".join(f"{i} {i % 2}\n" for i in range(10)))
    ds = D.load("d?limit=3", base_dir=tmp_path)
    np.testing.assert_array_equal(ds.inputs[:, 0], [0, 1, 2])
    assert ds.source.endswith("?limit=3")
    assert D.load("d?limit=99", base_dir=tmp_path).n_items == 10
    e = error_of("d?limt=3", base_dir=tmp_path)
    assert "unknown key 'limt'" in e.message and "did you mean 'limit'" in e.hint
    e = error_of("d?limit=0", base_dir=tmp_path)
    assert "limit" in e.message


# ---------------------------------------------------------------------------------------------
# File errors: message and location
# ---------------------------------------------------------------------------------------------


def test_missing_file_hint_lists_generators(tmp_path):
    e = error_of(tmp_path / "nope.txt")
    assert e.message == "data file not found" and e.path == str(tmp_path / "nope.txt")
    for name in D.GENERATORS:
        assert name in e.hint


def test_directory_is_error(tmp_path):
    e = error_of(tmp_path)
    assert "directory" in e.message


@pytest.mark.parametrize("content", ["", "  \n\n\t\n"])
def test_empty_file(tmp_path, content):
    e = error_of(write(tmp_path, "e", content))
    assert e.message == "empty data file" and "NDATA NCLASS" in e.hint


@pytest.mark.parametrize(
    ("content", "col", "fragment"),
    [
        ("2 3 4\n1 2 0\n", 5, "found 3 fields on the first line"),
        ("x1 x2 c\n1 2 0\n", 1, "NDATA must be a positive integer, found 'x1'"),
        ("2 3 # a comment\n1 2 0\n", 5, "found 5 fields on the first line"),
        ("a 3\n1 2 0\n", 1, "NDATA must be a positive integer, found 'a'"),
        ("2 0\n1 2 0\n", 3, "NCLASS must be a positive integer, found '0'"),
        ("2.5 2\n1 2 0\n", 1, "NDATA must be a positive integer"),
        ("\n\n2 -1\n", 3, "NCLASS must be a positive integer, found '-1'"),
        ("99999999999999999999 2\n1 2 0\n", 1, "NDATA = 99999999999999999999 is larger"),
        ("2 9223372036854775807\n1 2 0\n", 3, "NCLASS = 9223372036854775807 is larger"),
    ],
)
def test_bad_header(tmp_path, content, col, fragment):
    e = error_of(write(tmp_path, "h", content))
    assert "bad header" in e.message and fragment in e.message
    assert ("no comments" in e.hint) == ("#" in content)
    assert e.line == content.count("\n", 0, content.index(content.strip()[0])) + 1
    assert e.col == col and "NDATA NCLASS" in e.hint


def test_a_huge_boolearn_header_number_is_located(tmp_path):
    """It was an internal error (OverflowError)."""
    e = error_of(write(tmp_path, "b.dat", "4\n2 2\n2 99999999999999999999\n1 0 0\n"))
    assert "header number 99999999999999999999 is larger" in e.message
    assert (e.line, e.col) == (3, 3)


def test_non_numeric_token_located(tmp_path):
    p = write(tmp_path, "t", "2 3\n\n0.5 1 2\n0.25  1,5 1\n")
    e = error_of(p)
    assert e.message == "not a number: '1,5'"
    assert (e.path, e.line, e.col) == (str(p), 4, 7)
    assert str(e).startswith(f"{p}:4:7: error: not a number")
    # a control character (an editor's Ctrl-Z end mark) is shown escaped: it was ''
    e = error_of(write(tmp_path, "z", "2 3\n0.5 1 2\n0.25 1 1\n\x1a\n"))
    assert e.message == "not a number: '\\x1a'" and (e.line, e.col) == (4, 1)


def test_chunked_parse_and_error_far_into_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "_CHUNK", 64)  # many parser chunks, cut at whitespace
    rows = "".join(f"{i}.5 -{i}e-3 {i % 2}\n" for i in range(2000))
    ds = D.load(str(write(tmp_path, "ok", "2 2\n" + rows)))
    np.testing.assert_array_equal(ds.inputs[:, 0], np.arange(2000) + 0.5)
    np.testing.assert_array_equal(ds.inputs[:, 1], -np.arange(2000) / 1000)
    np.testing.assert_array_equal(ds.labels, np.arange(2000) % 2)
    e = error_of(write(tmp_path, "bad", "2 2\n" + rows + "0.5 zz 0\n"))
    assert e.message == "not a number: 'zz'" and (e.line, e.col) == (2002, 5)


def test_short_last_item(tmp_path):
    # one item per line: the short line is reported as such, at its line
    p = write(tmp_path, "s", "3 2\n1 2 3 0\n4 5\n")
    e = error_of(p)
    assert e.message == ("item 2: expected 4 numbers on its line (3 inputs + the class index), "
                         "found 2: a value is missing")
    assert (e.line, e.col) == (3, 1)
    # items spanning lines: an incomplete last item is still a short last item
    e = error_of(write(tmp_path, "t", "3 2\n1 2\n3 0\n4 5\n6\n"))
    assert ("short last item: expected 4 numbers per item (3 inputs + the class index), found 1 "
            "complete item(s) and 3 number(s) left over") in e.message
    assert (e.line, e.col) == (4, 1)


def test_short_item_unlabeled(tmp_path):
    e = error_of(write(tmp_path, "s", "3\n1 2 3\n4\n"))
    assert "expected 3 numbers on its line (3 inputs), found 1" in e.message
    assert (e.line, e.col) == (3, 1)


def test_header_without_items(tmp_path):
    e = error_of(write(tmp_path, "h", "4 2\n\n"))
    assert "no items" in e.message and e.line == 1


@pytest.mark.parametrize(
    ("label", "col"), [("2", 5), ("-1", 5), ("0.5", 5), ("7", 5)]
)
def test_class_index_out_of_range(tmp_path, label, col):
    p = write(tmp_path, "c", f"1 2\n0.5 1\n0.5 {label}\n")
    e = error_of(p)
    assert e.message.startswith("item 2: class index") and "[0, 2)" in e.message
    assert (e.line, e.col) == (3, col) and "2 classes" in e.hint


@pytest.mark.parametrize("token", ["nan", "inf", "-Infinity", "1e999"])
def test_non_finite_rejected(tmp_path, token):
    p = write(tmp_path, "n", f"2 2\n1 1 0\n1 {token} 1\n")
    e = error_of(p)
    assert f"item 2, input 2: '{token}' is not finite" in e.message
    assert (e.line, e.col) == (3, 3)


def test_binary_garbage(tmp_path):
    """Named a binary file at its first NUL (it was read as numbers: 'found 8 numbers on
    the first line', or 'not a number')."""
    e = error_of(write(tmp_path, "g", b"2 2\n1 \x00\xff 0\n"))
    assert e.message.startswith("this is a binary file") and (e.line, e.col) == (2, 3)
    e = error_of(write(tmp_path, "h", b"2 2\n1 \xff 0\n"))  # no NUL: a bad number
    assert e.message.startswith("not a number") and (e.line, e.col) == (2, 3)


def test_error_format_and_attributes():
    e = DataError("boom", path="f.txt", line=3, col=4, hint="try this")
    assert (e.message, e.path, e.line, e.col, e.hint) == ("boom", "f.txt", 3, 4, "try this")
    assert str(e) == "f.txt:3:4: error: boom\n  hint: try this"
    assert str(DataError("x")) == "lwlc: error: x"
    assert DataError("x", path="p", line=2).location == "p:2"


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------


def test_save_text_round_trip_labeled_and_unlabeled(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 5)) * 10.0 ** rng.integers(-300, 300, size=(7, 5))
    x[0, 0], x[0, 1], x[0, 2] = -0.0, 5e-324, 1.7976931348623157e308
    for labels, k in ((rng.integers(0, 3, size=7), 3), (None, None)):
        ds = Dataset(x, labels, k, "r", "test")
        p = tmp_path / "out.txt"
        D.save_text(ds, p)
        back = D.load(str(p))
        assert np.array_equal(back.inputs, ds.inputs)
        assert np.array_equal(np.signbit(back.inputs), np.signbit(ds.inputs))
        if labels is None:
            assert back.labels is None and back.n_classes is None
        else:
            assert np.array_equal(back.labels, labels) and back.n_classes == 3
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]  # no temporary files left behind


def test_save_text_header_and_overwrite(tmp_path):
    p = tmp_path / "o"
    p.write_text("old")
    D.save_text(D.load("blobs:items=3,inputs=2"), p)
    assert p.read_text().splitlines()[:2] == ["2 2", ""]


def test_save_text_error(tmp_path):
    with pytest.raises(DataError) as info:
        D.save_text(D.load("onehot:n=1"), tmp_path / "no" / "such" / "dir.txt")
    assert "cannot write" in info.value.message


@settings(max_examples=25, deadline=None, suppress_health_check=[TMP_OK])
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
                    elements=st.floats(allow_nan=False, allow_infinity=False)))
def test_save_text_round_trip_property(tmp_path, x):
    labels = np.arange(x.shape[0]) % 3
    ds = Dataset(x, labels, 3, "h", "h")
    p = tmp_path / "h.txt"
    D.save_text(ds, p)
    back = D.load(str(p))
    assert np.array_equal(back.inputs, x) and np.array_equal(back.labels, labels)


# ---------------------------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------------------------


def test_ledm_formula():
    ds = D.load("ledm:m=6")
    assert ds.inputs.shape == (6, 6) and ds.labels is None and ds.n_classes is None
    i = np.arange(6)
    # Correctly rounded (i-k)^2/(m-1)^2: 16/25 = 0.64, where ((i-k)/(m-1))^2 gives 0.64 + 1 ulp.
    assert np.array_equal(ds.inputs, (i[:, None] - i[None, :]) ** 2 / 25.0)
    np.testing.assert_allclose(ds.inputs, ((i[:, None] - i[None, :]) / 5.0) ** 2, atol=1e-15)
    assert ds.inputs[0, 4] == 0.64
    np.testing.assert_array_equal(D.load("ledm:m=5").inputs[0], [0, 0.0625, 0.25, 0.5625, 1])
    assert D.load("ledm").n_items == 6  # bare name, default m=6
    assert D.load("ledm:m=6", role="test").inputs.tolist() == ds.inputs.tolist()


@pytest.mark.skipif(not GOLDEN_LEDM5.exists(), reason="/work/shared golden files not present")
def test_ledm5_equals_golden_file():
    golden = np.array(json.loads(GOLDEN_LEDM5.read_text())["data"], dtype=np.float64)
    assert np.array_equal(D.load("ledm:m=5").inputs, golden)


def test_majority_shapes_halves_and_values():
    tr = D.load("majority")
    te = D.load("majority", role="test")
    assert tr.inputs.shape == te.inputs.shape == (4096, 13)
    assert tr.n_classes == te.n_classes == 2
    assert set(np.unique(tr.inputs)) == {0.0, 1.0}
    codes = lambda d: set((d.inputs.astype(np.int64) << np.arange(13)).sum(1).tolist())  # noqa: E731
    ctr, cte = codes(tr), codes(te)
    assert len(ctr) == len(cte) == 4096 and not ctr & cte  # disjoint halves of all 2^13
    assert ctr | cte == set(range(8192))
    for d in (tr, te):
        assert abs(int(d.labels.sum()) - 2048) < 150  # about balanced
    # Over the whole cube the classes are exactly equal (majority/NOT circuits are self-dual).
    assert int(tr.labels.sum() + te.labels.sum()) == 4096


def test_majority_labels_are_the_circuit():
    ds = D.load("majority:inputs=9,depth=4,seed=7,items=300")
    c = D.majority_circuit(inputs=9, depth=4, seed=7)
    assert c.depth == 4 and len(c.hidden) == 3
    for sel in c.hidden:
        assert sel.shape == (9, 3) and all(len(set(r)) == 3 for r in sel.tolist())
    np.testing.assert_array_equal(c.evaluate(ds.inputs), ds.labels)
    np.testing.assert_array_equal(c.evaluate(1 - ds.inputs), 1 - ds.labels)  # self-dual


def test_majority_depth1_is_signed_majority():
    ds = D.load("majority:inputs=5,depth=1,seed=3,items=32")
    c = D.majority_circuit(5, 1, 3)
    lit = np.where(c.top_not, 1 - ds.inputs, ds.inputs)
    np.testing.assert_array_equal(ds.labels, (lit.sum(1) >= 3).astype(int))


def test_majority_determinism_and_seed():
    a, b = D.load("majority:seed=4"), D.load("majority:depth=3,seed=4,inputs=13")
    assert np.array_equal(a.inputs, b.inputs) and np.array_equal(a.labels, b.labels)
    c = D.load("majority:seed=5")
    assert not np.array_equal(a.labels, c.labels) or not np.array_equal(a.inputs, c.inputs)
    assert a.source == "majority:inputs=13,depth=3,seed=4,items=8192,flip=0.0"
    assert a.name == "majority (train)"


def test_majority_items_and_odd_items():
    tr, te = D.load("majority:items=101"), D.load("majority:items=101", role="test")
    assert (tr.n_items, te.n_items) == (51, 50)
    assert D.load("majority:inputs=5").n_items == 16  # all 2^5 vectors, halved
    assert D.load("majority:inputs=15").n_items == 4096


def test_onehot_binary_encoding():
    ds = D.load("onehot:n=3")
    np.testing.assert_array_equal(ds.inputs, np.eye(8))
    np.testing.assert_array_equal(ds.labels, np.arange(8))
    assert ds.n_classes == 8
    codes = D.binary_codes(3)
    assert codes.shape == (8, 3)
    np.testing.assert_array_equal(codes[6], [0, 1, 1])  # 6 = 0b110, least significant first
    assert len({tuple(r) for r in codes.tolist()}) == 8


def test_digits_split():
    tr, te = D.load("digits"), D.load("digits", role="test")
    assert tr.inputs.shape == (1438, 64) and te.inputs.shape == (359, 64)
    assert tr.n_classes == te.n_classes == 10
    assert tr.inputs.min() == 0.0 and tr.inputs.max() == 1.0
    assert np.all(np.bincount(te.labels) >= 35)  # stratified
    both = np.concatenate([tr.inputs, te.inputs])
    full = D._digits_arrays()[0]
    assert np.array_equal(np.sort(both, axis=0), np.sort(full, axis=0))
    again = D.load("digits:seed=0")
    assert np.array_equal(again.inputs, tr.inputs)
    assert not np.array_equal(D.load("digits:seed=1").labels, tr.labels)



def test_digits_are_scikit_learns_and_load_without_importing_it():
    """The generator reads the file scikit-learn ships, as load_digits does; importing
    sklearn.datasets (and SciPy) took 2-3 s of every digits run."""
    import subprocess
    import sys

    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    got_x, got_y = D._digits_arrays()
    assert np.array_equal(got_x, x / 16.0) and np.array_equal(got_y, y)
    code = ("import sys; from lwlc import data; data.load('digits'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", done.stdout[-500:]

def test_blobs():
    ds = D.load("blobs:inputs=3,classes=4,items=41,seed=2")
    assert ds.inputs.shape == (41, 3) and ds.n_classes == 4
    counts = np.bincount(ds.labels, minlength=4)
    assert counts.max() - counts.min() <= 1
    assert np.array_equal(D.load("blobs:inputs=3,classes=4,items=41,seed=2").inputs, ds.inputs)
    te = D.load("blobs:inputs=3,classes=4,items=41,seed=2", role="test")
    assert not np.array_equal(te.inputs, ds.inputs)
    # Train and test share the blob centers: nearest-class-mean from train classifies test.
    means = np.array([ds.inputs[ds.labels == k].mean(0) for k in range(4)])
    pred = np.argmin(((te.inputs[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(pred == te.labels) > 0.9


def test_limit_on_generators_and_source_reloads():
    ds = D.load("majority:depth=2,limit=10")
    assert ds.n_items == 10 and ds.source.endswith(",limit=10")
    assert np.array_equal(D.load(ds.source).inputs, ds.inputs)
    full = D.load("majority:depth=2")
    assert np.array_equal(full.inputs[:10], ds.inputs)
    assert D.load("onehot:n=2,limit=100").n_items == 4


# ---------------------------------------------------------------------------------------------
# Spec errors
# ---------------------------------------------------------------------------------------------


def test_unknown_generator_did_you_mean():
    e = error_of("majorty:depth=2")
    assert "unknown data generator 'majorty'" in e.message
    assert "did you mean 'majority'?" in e.hint and "ledm" in e.hint
    e = error_of("ldem")
    assert "did you mean 'ledm'?" in e.hint


def test_unknown_key_lists_keys():
    e = error_of("majority:dpeth=2")
    assert e.message == "majority: unknown key 'dpeth'"
    assert "did you mean 'depth'?" in e.hint
    assert "inputs, depth, seed, items, flip, limit" in e.hint


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("ledm:m=x", "bad value m=x: expected an integer"),
        ("ledm:m=1", "bad value m=1: m must be at least 2"),
        ("ledm:m=3,m=4", "key 'm' given twice"),
        ("ledm:m=3,", "empty entry"),
        ("ledm:m", "expected key=value"),
        ("majority:inputs=12", "inputs must be odd"),
        ("majority:inputs=5,items=33", "items must be between 2 and 32"),
        ("majority:depth=0", "depth must be between 1 and 64"),
        ("majority:seed=-1", "seed must be >= 0"),
        ("onehot:n=11", "n must be between 1 and 10"),
        ("blobs:spread=-1", "spread must be >= 0"),
        ("blobs:spread=1e308", "spread must be at most 1e100"),  # overflowed: a warning
        ("blobs:spread=inf", "expected a finite number"),
        ("blobs:items=1.5", "expected an integer"),
        ("digits:limit=0", "limit must be at least 1"),
    ],
)
def test_bad_values(spec, fragment):
    assert fragment in error_of(spec).message


def test_bad_role_and_empty_spec():
    assert "role" in error_of("ledm", role="validation").message
    assert "empty data spec" in error_of("  ").message


# ---------------------------------------------------------------------------------------------
# Dataset, describe, validate_for
# ---------------------------------------------------------------------------------------------


def test_dataset_is_read_only_and_checked():
    ds = D.load("onehot:n=2")
    with pytest.raises(ValueError):
        ds.inputs[0, 0] = 5.0
    with pytest.raises(DataError):
        Dataset(np.zeros((2, 2)), np.array([0, 2]), 2, "x", "x")
    with pytest.raises(DataError):
        Dataset(np.zeros((2, 2)), np.array([0, 1]), None, "x", "x")
    with pytest.raises(DataError):
        Dataset(np.array([[np.nan]]), None, None, "x", "x")
    assert ds.head(2).n_items == 2


def test_describe_one_line():
    text = D.describe(D.load("majority:depth=2"))
    assert "\n" not in text
    assert text.startswith("majority (train): 4096 items x 13 inputs, values in [0, 1], 2 classes")
    assert text.endswith("<- majority:inputs=13,depth=2,seed=1,items=8192,flip=0.0")
    assert "unlabeled" in D.describe(D.load("ledm"))


def test_validate_for():
    ds = D.load("majority:depth=2")
    D.validate_for(ds, 13, 2)
    D.validate_for(ds, 13, None)
    e = pytest.raises(DataError, D.validate_for, ds, 784, 2).value
    assert "13 inputs per item but the model's data layer has 784 nodes" in e.message
    assert e.hint and "784" in e.hint
    e = pytest.raises(DataError, D.validate_for, ds, 13, 10).value
    assert "2 classes but the model has 10 class nodes" in e.message and e.hint
    one = Dataset(np.zeros((3, 2)), np.zeros(3), 1, "one", "one")  # "1 classes" (a user test)
    e = pytest.raises(DataError, D.validate_for, one, 2, 2).value
    assert "has 1 class but the model has 2 class nodes" in e.message
    # not "give the model 1 class node", which lwlc refuses (a label needs two classes)
    assert e.hint.startswith("a classifier needs data of at least two classes")
    e = pytest.raises(DataError, D.validate_for, D.load("ledm"), 6, 2).value
    assert "no labels" in e.message and e.hint


# ---------------------------------------------------------------------------------------------
# Garbage never escapes as anything but DataError
# ---------------------------------------------------------------------------------------------

_TEXTISH = st.text(alphabet="0123456789 \t\n.-+eEnaif,x", max_size=80)


@settings(max_examples=150, deadline=None, suppress_health_check=[TMP_OK])
@given(content=st.one_of(st.binary(max_size=120), _TEXTISH.map(str.encode),
                         _TEXTISH.map(lambda s: ("2 3\n" + s).encode()),
                         st.binary(max_size=100).map(lambda b: b"PK\x03\x04" + b)))
def test_garbage_files_raise_only_data_error(tmp_path, content):
    p = tmp_path / "g.dat"
    p.write_bytes(content)
    try:
        ds = D.load(str(p))
    except DataError as e:
        assert e.message and e.path is not None
        if e.line is not None:
            assert e.line >= 1 and (e.col is None or e.col >= 1)
        return
    assert np.isfinite(ds.inputs).all() and ds.n_items >= 1


@settings(max_examples=150, deadline=None)
@given(spec=st.one_of(st.text(max_size=40),
                      st.sampled_from(list(D.GENERATORS)).flatmap(
                          lambda g: st.text(alphabet="abcdefghijklmnopqrstuvwxyz=,0123456789-",
                                            max_size=25).map(lambda s: f"{g}:{s}"))))
def test_garbage_specs_raise_only_data_error(spec):
    try:
        D.load(spec + ",limit=3" if ":" in spec else spec)
    except DataError:
        pass


@settings(max_examples=200, deadline=None)
@given(body=st.lists(st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.text(alphabet="0123456789.-+eE", min_size=1, max_size=6)), max_size=20).map(" ".join))
def test_fast_parser_agrees_with_strict_parser(body):
    raw = body.encode()
    try:
        expect = D._parse_body_slow(raw)
    except D._BadToken:
        expect = None
    try:
        got = D._parse_body(raw)
    except D._BadToken:
        got = None
    if expect is None:
        assert got is None
    else:
        assert got is not None and np.array_equal(got, expect, equal_nan=True)



def test_a_pipe_is_read_once_whole_and_a_device_up_to_a_cap(tmp_path, monkeypatch):
    """/dev/zero as --data was read until memory ran out; a FIFO lost its first 4 bytes to
    the zip test (it was opened twice)."""
    import os
    import threading

    from lwlc import data as datamod

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    text = b"2 1 1\n0.5\n1\n1.5\n0\n"
    writer = threading.Thread(target=lambda: fifo.write_bytes(text))
    writer.start()
    got, shown = datamod._read_file(fifo, "fifo")
    writer.join()
    assert got == text and shown == "fifo"
    monkeypatch.setattr(datamod, "STREAM_BYTES", 1 << 20)
    with pytest.raises(datamod.DataError, match="reads on past"):
        datamod._read_file(Path("/dev/zero"), "/dev/zero")


def test_every_line_holding_the_same_several_items_is_a_wrong_header(tmp_path):
    """A header `3` over lines of 6 numbers was read as two items per line, and unlabeled
    data trained on the misread items (a user test)."""
    e = error_of(write(tmp_path, "h", "3\n1 2 3 4 5 6\n7 8 9 10 11 12\n"))
    assert e.message == ("every line holds 6 numbers, 2 items of 3 (3 inputs): the header's "
                         "NDATA is probably wrong")
    assert (e.line, e.col) == (2, 1) and "correct the header" in e.hint
    ds = D.load(str(write(tmp_path, "ok", "3\n1 2 3 4 5 6\n7 8 9\n1 2 3 4 5 6\n")))
    assert ds.inputs.shape == (5, 3)  # lines of one and of two items: free-form


def test_a_data_file_with_old_mac_line_ends_reads(tmp_path):
    """CR-only line ends: "found 14 fields on the first line" (a user test)."""
    lf = write(tmp_path, "lf.txt", "2 2\n0 1 1\n1 0 0\n")
    a = D.load(lf)
    for ends in ("2 2\r0 1 1\r1 0 0\r", "2 2\r0 1 1\r1 0 0\n", "2 2\r\n0 1 1\r\n1 0 0\r\n"):
        b = D.load(write(tmp_path, "cr.txt", ends))  # CR only, CR and a last LF, CRLF
        np.testing.assert_array_equal(a.inputs, b.inputs)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_a_zip_member_that_unpacks_past_the_cap_is_refused(tmp_path, monkeypatch):
    """A 1.5 MB archive of a 1.5 GB member ran `evaluate` out of memory (a user test)."""
    import zipfile

    from lwlc import data as datamod

    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("d.txt", "4 2\n" + "0 " * (1 << 20))
    monkeypatch.setattr(datamod, "STREAM_BYTES", 1 << 20)
    with pytest.raises(datamod.DataError, match="its member d.txt unpacks to more than"):
        datamod._read_file(path, "bomb.zip")
    monkeypatch.setattr(datamod, "STREAM_BYTES", 1 << 22)
    assert len(datamod._read_file(path, "bomb.zip")[0]) == 4 + 2 * (1 << 20)


def test_a_huge_class_index_is_shown_as_a_number_not_300_digits(tmp_path):
    """A class index of 1e300 was echoed as a 301-digit integer (a user test)."""
    e = error_of(write(tmp_path, "h", "2 3\n0.5 0.5 1\n0.5 0.5 1e300\n"))
    assert "item 2: class index 1e+300 is not an integer in [0, 3)" in e.message, e.message


def test_a_data_error_shows_its_line_and_a_caret(tmp_path):
    """Data errors gave file:line:col and a hint but not the line, as model errors do."""
    path = write(tmp_path, "d", "2 3\r\n0.5 0.5 1\r\n0.5 x 1\r\n")
    out = error_of(path).format().splitlines()
    assert out[0] == f"{path}:3:5: error: not a number: 'x'"
    assert out[1:3] == ["    0.5 x 1", "        ^"], out
