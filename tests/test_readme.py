"""The README's Python snippets run as they stand, and the outputs they claim in comments hold."""

from __future__ import annotations

import re

from helpers import REPO, requires_data


def python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@requires_data
def test_readme_snippets_run(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("INTERP_DATA", str(data_dir))
    blocks = python_blocks()
    assert len(blocks) >= 3
    namespace: dict = {}  # the README reads top to bottom: later blocks use names from earlier ones
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "183 104" in out and "0.9047" in out and "tensor(0.7788)" in out
