"""The user's own files: a text file for GPT, tab-separated pairs to translate.

Both loaders read UTF-8 (a leading byte-order mark is dropped) and turn
"\\r\\n" and "\\r" line endings into "\\n". Every problem with a file raises a
ValueError that names the file, and the line for a bad line, so that a
command-line tool can print it as it is.
"""

import codecs
import os
import pathlib


def _read_utf8(path):
    """Returns the text of `path`, or raises a ValueError naming the file."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(
            "`path` must be a file path (str or pathlib.Path). "
            f"Received: path={path!r}"
        )
    file = pathlib.Path(path)
    name = os.fspath(path)
    if not file.is_file():
        problem = "is a directory, not a file" if file.is_dir() else "does not exist"
        raise ValueError(f"File {name!r} {problem}.")
    data = file.read_bytes()
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValueError(
            f"File {name!r} is not UTF-8 text: undecodable byte "
            f"{data[error.start:error.start + 1]!r} on line {line}. Save it as "
            f"UTF-8 and try again."
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ValueError(
            f"File {name!r} is empty"
            + (" (only whitespace)" if text else "")
            + ": there is no text to read."
        )
    return text


def load_text_file(path):
    r"""Reads a UTF-8 text file to train a language model on.

    Args:
        path: a `str` or `pathlib.Path` to a UTF-8 text file.

    Returns:
        The file's text as a `str`, with "\n" line endings and without a
        byte-order mark; nothing else is changed.

    Raises:
        ValueError: if the file is missing, is a directory, is not UTF-8,
            or holds nothing but whitespace. The message names the file.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "poem.txt"
    >>> _ = path.write_bytes("Ô rage !\r\nÔ désespoir !\r\n".encode("utf-8"))
    >>> load_text_file(path)
    'Ô rage !\nÔ désespoir !\n'
    """
    return _read_utf8(path)


def load_tsv_pairs(path):
    r"""Reads "source<TAB>target" lines, e.g. sentence pairs to translate.

    Each non-blank line holds exactly one tab. Whitespace around each side
    is stripped, and neither side may be empty. Blank lines are skipped.
    Tabs inside a sentence are not supported (there is no quoting).

    Args:
        path: a `str` or `pathlib.Path` to a UTF-8 file.

    Returns:
        A list of `(source, target)` string tuples, in file order.

    Raises:
        ValueError: if the file is missing, is a directory, is not UTF-8 or
            has no pairs, or if a line has no tab, more than one tab or an
            empty side. The message names the file and the line number.

    Example:

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pairs.tsv"
    >>> _ = path.write_text("seventy-one\tsoixante et onze\n\nzero\tzéro\n",
    ...                     encoding="utf-8")
    >>> load_tsv_pairs(path)
    [('seventy-one', 'soixante et onze'), ('zero', 'zéro')]

    A line without a tab:

    >>> _ = path.write_text("one\tun\ntwo deux\n", encoding="utf-8")
    >>> load_tsv_pairs(path)
    Traceback (most recent call last):
    ...
    ValueError: File '.../pairs.tsv', line 2: expected one tab ..., found no tab: 'two deux'
    """
    text = _read_utf8(path)
    pairs = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            problem = "found no tab" if len(fields) == 1 else f"found {len(fields) - 1} tabs"
        elif not fields[0].strip() or not fields[1].strip():
            problem = f"found an empty {'source' if not fields[0].strip() else 'target'}"
        else:
            pairs.append((fields[0].strip(), fields[1].strip()))
            continue
        raise ValueError(
            f"File {os.fspath(path)!r}, line {number}: expected one tab between "
            f"a source and a target, {problem}: {line[:80]!r}"
        )
    return pairs
