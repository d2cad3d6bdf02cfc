"""`python -m chatgpt_demo chat` in a fresh interpreter, which must not import keras_attn."""

import json
import subprocess
import sys

import pytest

from tests.demo.conftest import MODELS

# Runs the terminal chat on piped input (which loads the chat model with tf.saved_model.load),
# builds the server's app on the translator, then lists the keras_attn modules imported.
SCRIPT = """
import io, json, sys
from chatgpt_demo import __main__ as cli, engine, server
sys.stdin = io.StringIO("Who's there?\\n/reset\\nWhat news?\\n/quit\\n")
status = cli.main(["--models", sys.argv[1], "chat", "--max-new-tokens", "30", "--seed", "1",
                   "--candidates"])
server.create_app(engine.ModelRegistry.load(sys.argv[1], names=["numbers_en_fr"]))
print(json.dumps({"status": status,
                  "keras_attn": sorted(m for m in sys.modules if m.split(".")[0] == "keras_attn"),
                  "tensorflow_text": "tensorflow_text" in sys.modules}))
"""


@pytest.mark.slow
def test_terminal_chat_streams_replies_without_keras_attn():
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(MODELS)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    *chat, summary = result.stdout.strip().split("\n")
    summary = json.loads(summary)
    assert summary["status"] == 0
    assert summary["keras_attn"] == []  # the serving path uses TensorFlow alone
    assert summary["tensorflow_text"]  # for the translator's WordPiece ops
    chat = "\n".join(chat)
    assert "Chatting with HAMLET" in chat
    assert "HORATIO: Who's there?" in chat and "HORATIO: What news?" in chat
    assert "(a new conversation)" in chat
    replies = [line[len("HAMLET: "):] for line in chat.split("\n") if line.startswith("HAMLET: ")]
    assert len(replies) == 2 and all(reply.strip() for reply in replies)
    assert " <- " in chat  # --candidates: each step with its likeliest candidates
