"""The chat demo: a GPT served from its exported SavedModel, in a web page and a terminal.

    python -m chatgpt_demo serve            # what `make demo` runs: http://127.0.0.1:8000
    python -m chatgpt_demo chat             # the same chat in a terminal
    python -m chatgpt_demo.build_models     # what `make models` runs: retrain saved_models/

`engine` (the models, through their signatures) and `server` (FastAPI) use
TensorFlow only; `build_models` is the one module that imports keras_attn.
"""
