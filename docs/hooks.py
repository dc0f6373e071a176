"""MkDocs hooks for the documentation site.

- The API reference reads the source statically (griffe), but `interp.adapters`, `interp.callbacks` and
  `interp.benchmarks` live in their own folders (`adapters/`, ...; pyproject's package-dir), so a tree
  laid out as installed is linked together under `build/docs-source/` before the build: real folders (griffe
  does not walk into linked ones) holding links to the source files, no copies.
- The benchmark results live in `docs/results/`, beside the pages that quote them: their figures are served
  as they are, and their JSON and Markdown tables are left out of the site (`exclude_docs` in mkdocs.yml).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "build" / "docs-source"  # mkdocs.yml's mkdocstrings `paths`
SUBPACKAGES = {"adapters": "adapters", "callbacks": "callbacks", "benchmarks": "benchmarks"}  # as in pyproject


def link_package(source: Path, target: Path) -> None:
    """Mirror the Python package `source` at `target`: folders made, `.py` files linked."""
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.is_dir() and (entry / "__init__.py").is_file():
            link_package(entry, target / entry.name)
        elif entry.suffix in {".py", ".pyi"}:
            (target / entry.name).symlink_to(entry)


def link_source_tree() -> None:
    """(Re)build `build/docs-source/interp` from the checkout's folders."""
    if SOURCE.exists():
        shutil.rmtree(SOURCE)
    link_package(ROOT / "interp", SOURCE / "interp")
    for name, folder in SUBPACKAGES.items():
        link_package(ROOT / folder, SOURCE / "interp" / name)


# At import, while MkDocs loads its configuration: mkdocstrings settles its search paths before any `on_config`
# of a hook runs, and leaves out a path that does not exist yet (a fresh clone has no build/ folder).
link_source_tree()


def on_config(config: Any) -> Any:
    link_source_tree()  # `mkdocs serve` reloads: pick up modules added since
    return config

