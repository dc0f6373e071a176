"""The documentation's Python examples run as they stand, and the outputs they claim in comments hold.

Every ```python block of the README and of each page under docs/ runs, page by page, top to bottom in one
namespace per page (later blocks use names from earlier ones), from a temporary working folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import DATA, REPO

PAGES = ["README.md", *sorted(str(path.relative_to(REPO)) for path in (REPO / "docs").glob("**/*.md"))]
NEEDS_DATA = {"README.md", "docs/structures.md"}  # pages whose examples read ../shared/data
CLAIMS = {  # printed text the pages promise in their comments
    "README.md": ["torch.Size([30, 30])", "torch.Size([2, 30, 30]) M1A"],
    "docs/index.md": ["torch.Size([30, 30])"],
    "docs/structures.md": ["183 104", "\n38\n", "0.9047", "tensor(0.7788)"],
    "docs/explainers.md": ["torch.Size([53, 53]) torch.float32"],
    "docs/families.md": ["torch.Size([8, 8])"],
    "docs/lightning.md": ["['sp|P1|one', 'sp|P2|two']", "contacts/long_P@L", "4 True", "2 True", "\n2 True\n"],
    "docs/training.md": ["torch.Size([10, 10])", "200 30 6"],
    "docs/readouts.md": ["torch.Size([33, 33]) torch.Size([2, 33, 33])", "(33, 20)", "L23G"],
}


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (REPO / page).read_text(), flags=re.S)


def test_every_page_with_examples_is_checked():
    with_examples = {page for page in PAGES if python_blocks(page)}
    assert set(CLAIMS) <= with_examples, "a page whose claims are checked has no examples left"
    assert {"README.md", "docs/index.md", "docs/explainers.md", "docs/lightning.md"} <= with_examples


@pytest.mark.parametrize("page", [page for page in PAGES if python_blocks(page)])
def test_page_examples_run(page, tmp_path, monkeypatch, capsys):
    if page in NEEDS_DATA:
        if DATA is None:
            pytest.skip(f"{page}'s examples read the real data: set INTERP_DATA or put shared/data beside the repository")
        monkeypatch.setenv("INTERP_DATA", str(DATA))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_example_{Path(page).stem}"}
    for block in python_blocks(page):
        exec(compile(block, page, "exec"), namespace)
    out = capsys.readouterr().out
    for claim in CLAIMS.get(page, []):
        assert claim in out, f"{page} claims {claim!r}; its examples printed:\n{out}"


def test_the_design_page_lists_every_module():
    """docs/design.md's "Modules, one job each" names every source module of the package, and only those."""
    text = (REPO / "docs" / "design.md").read_text()
    listed = set(re.findall(r"^((?:interp|adapters|callbacks|benchmarks)/\S+\.py)\s", text, flags=re.M))
    modules = {
        str(path.relative_to(REPO))
        for folder in ("interp", "adapters", "callbacks", "benchmarks")
        for path in (REPO / folder).rglob("*.py")
        if path.name != "__init__.py" or (path.parent.name == "interp" and path.parent.parent == REPO)
    }
    assert listed == modules, {"not listed": sorted(modules - listed), "gone": sorted(listed - modules)}
