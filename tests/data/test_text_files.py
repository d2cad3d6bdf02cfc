"""Tests for `keras_attn.data.text_files`: the user's own files."""

import pathlib
import re

import pytest

from keras_attn.data import text_files

SAMPLE_PAIRS = pathlib.Path(__file__).parents[2] / "datasets/numbers_en_fr/sample_train.tsv"


def write(tmp_path, data, name="file.txt"):
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_load_text_file(tmp_path):
    text = "FIRST CITIZEN:\nBefore we proceed any further, hear me speak.\n\nÉtienne — ok\n"
    path = write(tmp_path, text)
    assert text_files.load_text_file(path) == text
    assert text_files.load_text_file(str(path)) == text


def test_load_text_file_normalises_line_endings_and_bom(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfone\r\ntwo\rthree\n")
    assert text_files.load_text_file(path) == "one\ntwo\nthree\n"


@pytest.mark.parametrize("loader", [text_files.load_text_file, text_files.load_tsv_pairs])
def test_missing_empty_and_directory(tmp_path, loader):
    missing = tmp_path / "nope.txt"
    with pytest.raises(ValueError, match=re.escape(f"File '{missing}' does not exist.")):
        loader(missing)
    message = f"File '{tmp_path}' is a directory, not a file."
    with pytest.raises(ValueError, match=re.escape(message)):
        loader(tmp_path)
    empty = write(tmp_path, "")
    message = f"File '{empty}' is empty: there is no text to read."
    with pytest.raises(ValueError, match=re.escape(message)):
        loader(empty)
    blank = write(tmp_path, " \n\n\t\n", "blank.txt")
    message = f"File '{blank}' is empty (only whitespace): there is no text to read."
    with pytest.raises(ValueError, match=re.escape(message)):
        loader(str(blank))


@pytest.mark.parametrize("loader", [text_files.load_text_file, text_files.load_tsv_pairs])
def test_not_utf8(tmp_path, loader):
    path = write(tmp_path, "caf\n".encode() + "café\n".encode("latin-1"))
    message = f"File '{path}' is not UTF-8 text: undecodable byte b'\\xe9' on line 2."
    with pytest.raises(ValueError, match=re.escape(message)):
        loader(path)
    # The line number is right when a byte-order mark comes first.
    with_bom = write(tmp_path, b"\xef\xbb\xbfa\nb\nc\xff\n", "bom.txt")
    with pytest.raises(ValueError, match="on line 3"):
        loader(with_bom)


@pytest.mark.parametrize("loader", [text_files.load_text_file, text_files.load_tsv_pairs])
def test_bad_path_argument(loader):
    with pytest.raises(ValueError, match=re.escape("Received: path=3")):
        loader(3)


def test_load_tsv_pairs(tmp_path):
    path = write(tmp_path, "seventy-one\tsoixante et onze\r\n\n  zero \t zéro\n\n", "p.tsv")
    assert text_files.load_tsv_pairs(path) == [
        ("seventy-one", "soixante et onze"),
        ("zero", "zéro"),
    ]


def test_load_tsv_pairs_reads_the_numbers_sample():
    pairs = text_files.load_tsv_pairs(SAMPLE_PAIRS)
    assert len(pairs) == 200
    assert all(isinstance(p, tuple) and len(p) == 2 for p in pairs)


@pytest.mark.parametrize(
    "line, problem",
    [
        ("two deux", "found no tab"),
        ("two\tdeux\tzwei", "found 2 tabs"),
        ("two\t ", "found an empty target"),
        ("\tdeux", "found an empty source"),
    ],
)
def test_load_tsv_pairs_bad_line(tmp_path, line, problem):
    path = write(tmp_path, f"one\tun\n\n{line}\nthree\ttrois\n", "p.tsv")
    message = (
        f"File '{path}', line 3: expected one tab between a source and a "
        f"target, {problem}: {line!r}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        text_files.load_tsv_pairs(path)
