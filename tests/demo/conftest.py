"""The committed SavedModels, loaded once per test session, and the app serving them.

`CHATGPT_DEMO_MODELS` points the tests at another models folder (default
saved_models/).
"""

import os
import pathlib

import pytest

from chatgpt_demo import engine
from chatgpt_demo import server

MODELS = pathlib.Path(os.environ.get("CHATGPT_DEMO_MODELS", engine.DEFAULT_MODELS_DIR))


@pytest.fixture(scope="session")
def registry():
    return engine.ModelRegistry.load(MODELS)


@pytest.fixture(scope="session")
def client(registry):
    from fastapi.testclient import TestClient

    return TestClient(server.create_app(registry))
