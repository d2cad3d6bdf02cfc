"""The chat page in headless Chromium against the real server (a uvicorn subprocess).

Uses Debian's Chromium (`apt-get install chromium`) through Playwright, without
`playwright install`. The screenshot goes to the test's tmp dir; with
`CHATGPT_DEMO_SCREENSHOT=1` it also replaces chatgpt_demo/screenshot.png.
"""

import os
import pathlib
import shutil

import pytest

from benchmarks.serving_load import free_port
from benchmarks.serving_load import start_server
from benchmarks.serving_load import stop_server
from tests.demo.conftest import MODELS

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = pathlib.Path(__file__).resolve().parents[2] / "chatgpt_demo" / "screenshot.png"

# Records the reply bubble's text each time the page changes it while the reply streams.
WATCH_REPLY = """() => {
  window.partialReplies = [];
  new MutationObserver(() => {
    const reply = document.querySelector(".msg.bot.streaming .bubble");
    if (reply && reply.textContent) window.partialReplies.push(reply.textContent);
  }).observe(document.getElementById("messages"),
             {subtree: true, childList: true, characterData: true});
}"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium package")
def test_chat_page_streams_a_reply(tmp_path):
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = start_server(port, MODELS, only=["shakespeare_gpt"])
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#model-line:has-text('SavedModel')")  # /api/models answered
            page.evaluate(WATCH_REPLY)
            page.fill("#input", "My lord, how is it with you?")
            page.press("#input", "Enter")
            page.wait_for_selector(".msg.bot .meta", timeout=120_000)  # the reply has ended

            reply = page.inner_text(".msg.bot .bubble")
            assert reply.strip() and not reply.startswith("Error"), reply
            # Streamed: the bubble showed the reply growing while it was generated.
            partial = page.evaluate("window.partialReplies")
            assert len(set(partial)) >= 2, partial
            assert all(reply.startswith(p.strip()) for p in partial), (partial, reply)
            # A second turn (the page sends the first one as history).
            page.fill("#input", "What do you read, my lord?")
            page.press("#input", "Enter")
            page.locator(".msg.bot .meta").nth(1).wait_for(timeout=120_000)
            assert page.locator(".msg.user").count() == 2
            assert page.locator(".msg.bot .bubble").nth(1).inner_text().strip()
            tokens = page.locator("#strip .tok")
            assert tokens.count() >= 3
            assert page.locator("#bars li").count() == 10
            assert page.locator("#bars li.chosen").count() == 1
            tokens.nth(2).click()  # inspect one step
            assert page.inner_text("#step-title").startswith("Step 3: drew")
            page.screenshot(path=tmp_path / "chat.png")
            # 5,000 characters with no space wrap inside their bubble: no sideways scroll.
            page.fill("#input", "x" * 5000)
            page.press("#input", "Enter")
            page.locator(".msg.bot .meta").nth(2).wait_for(timeout=120_000)
            long_bubble = page.locator(".msg.user .bubble").nth(2)
            assert long_bubble.inner_text().strip() == "x" * 5000
            assert long_bubble.evaluate("b => b.scrollWidth <= b.clientWidth + 1")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert page.locator(".msg.bot .bubble").nth(2).inner_text().strip()
            assert errors == []
            page.screenshot(path=tmp_path / "long_message.png")
            browser.close()
    finally:
        stop_server(server)
    if os.environ.get("CHATGPT_DEMO_SCREENSHOT"):
        shutil.copy(tmp_path / "chat.png", SCREENSHOT)
