"""`make demo` stays runnable: a short run trains, lowers the loss and samples."""

import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_tiny_gpt_demo_trains_and_samples():
    result = subprocess.run(
        [sys.executable, "-m", "chatgpt_demo.tiny_gpt", "--steps", "60", "--log-every", "30",
         "--max-new-tokens", "20", "--prompt", "JULIET:"],
        capture_output=True, text=True, timeout=600, check=True,
    )
    before = float(re.search(r"validation loss before training: ([\d.]+)", result.stdout)[1])
    after = float(re.search(r"validation loss after training:\s+([\d.]+)", result.stdout)[1])
    assert after < before - 1.0, result.stdout
    sample = result.stdout.split("--- sample", 1)[1].split("---\n", 1)[1]
    assert sample.startswith("JULIET:") and len(sample.strip()) > len("JULIET:")
