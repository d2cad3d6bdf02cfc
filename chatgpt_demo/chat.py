"""The chat template: how a conversation becomes the text a GPT continues.

Training (`build_models`, tutorial 11) and serving (`engine`) both import
this module, so the model is served in the format it was fine-tuned on. It
imports nothing (no TensorFlow, no keras_attn).

A conversation is a play: each turn is a speech, the speaker's name in
capitals with a colon on a line, the words below, and a blank line after:

    HORATIO:
    Hail to your lordship!

    HAMLET:
    I am glad to see you well.

The prompt ends with the persona's name line; the reply is what the model
writes until the blank line that ends its speech (`STOP`).

>>> chat_prompt("HAMLET", "Hail to your lordship!", speaker="HORATIO")
'HORATIO:\\nHail to your lordship!\\n\\nHAMLET:\\n'
>>> reply_from("I am glad to see you well.\\n\\nHORATIO:\\nThe same")
'I am glad to see you well.'
"""

import re

STOP = "\n\n"  # a speech ends with a blank line
DEFAULT_SPEAKER = "HORATIO"  # Hamlet's friend: who the user is, unless they say
# What an empty message becomes: a speech needs words.
EMPTY_MESSAGE = "..."
# A line that opens a speech: a name in capitals (and spaces), then a colon.
SPEAKER_LINE = re.compile(r"^[A-Z][A-Z' .-]*:\s*$", re.MULTILINE)


def clean_message(message):
    """A user's message made into one speech of the plays' layout.

    Blank lines would end the speech early, and a line such as "KING:" would
    start another speaker's: both are folded into the text. Spaces are
    squeezed, the ends stripped, and an empty message becomes `EMPTY_MESSAGE`.

    >>> clean_message("  Who's there?\\n\\n\\nKING:\\nStand!  ")
    "Who's there?\\nKING\\nStand!"
    >>> clean_message(" \\n ")
    '...'
    """
    message = re.sub(r"[ \t]+", " ", message)
    message = re.sub(r"\s*\n\s*", "\n", message.strip())  # no blank lines
    message = SPEAKER_LINE.sub(lambda m: m.group(0).rstrip().rstrip(":"), message)
    return message or EMPTY_MESSAGE


def turn(speaker, text):
    """One speech: `"SPEAKER:\\n<text>\\n\\n"`."""
    return f"{speaker}:\n{text}{STOP}"


def chat_prompt(persona, message, speaker=DEFAULT_SPEAKER, history=(), max_characters=None):
    """The text the model continues: earlier turns, the message, then `"PERSONA:\\n"`.

    Args:
        persona: the model's speaker name, e.g. "HAMLET".
        message: what the user says now (cleaned by `clean_message`).
        speaker: the user's speaker name.
        history: earlier `(role, text)` turns, role "user" or "assistant",
            oldest first.
        max_characters: None, or the most characters of prompt: the oldest
            turns are dropped first, then the message keeps its end.

    Returns:
        The prompt string.
    """
    names = {"user": speaker, "assistant": persona}
    ending = turn(speaker, clean_message(message)) + f"{persona}:\n"
    if max_characters is not None and len(ending) > max_characters:
        # Keep the end of the message: the name lines stay whole.
        head, tail = f"{speaker}:\n", STOP + f"{persona}:\n"
        room = max(1, max_characters - len(head) - len(tail))
        return head + clean_message(message)[-room:].lstrip() + tail
    text = ending
    for role, said in reversed(list(history)):
        candidate = turn(names[role], clean_message(said)) + text
        if max_characters is not None and len(candidate) > max_characters:
            break
        text = candidate
    return text


def reply_from(generated):
    """The reply in the model's continuation: up to the blank line that ends it.

    >>> reply_from("To be.\\n\\n")
    'To be.'
    """
    return generated.split(STOP, 1)[0].strip("\n")


def headers_in(reply):
    """The speaker lines ("NAME:") inside a reply: a reply that holds one has
    spoken for someone else.

    >>> headers_in("I will.\\nKING:\\nGo.")
    ['KING:']
    """
    return [m.group(0).strip() for m in SPEAKER_LINE.finditer(reply)]
