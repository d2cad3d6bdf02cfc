"""The README's Python examples run as written."""

import pathlib
import re

README = pathlib.Path(__file__).parent.parent / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "README.md has no ```python example"
    monkeypatch.chdir(tmp_path)  # the example saves gpt.keras
    for block in blocks:
        namespace = {}
        exec(compile(block, "README.md", "exec"), namespace)
    model = namespace["gpt"]
    assert (tmp_path / "gpt.keras").exists()
    assert (tmp_path / "my_gpt" / "saved_model.pb").exists()
    assert [layer.name for layer in model.layers if "decoder_block" in layer.name] == [
        f"decoder_block_{i}" for i in range(4)
    ]
