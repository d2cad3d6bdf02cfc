"""Demo scripts; run each with `python -m chatgpt_demo.<name>`."""
