"""The installed distribution: import names, no top-level adapters/callbacks, the console script."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import interp


def test_subpackages_import_under_interp():
    import interp.adapters
    import interp.callbacks

    assert interp.adapters.__name__ == "interp.adapters"
    assert interp.callbacks.__name__ == "interp.callbacks"


def test_distribution_installs_no_top_level_adapters_or_callbacks():
    files = importlib.metadata.files("interp") or []
    top_levels = {str(f).split("/")[0] for f in files if str(f).endswith(".py")}
    assert "adapters" not in top_levels and "callbacks" not in top_levels
    top_level_txt = importlib.metadata.distribution("interp").read_text("top_level.txt") or ""
    assert top_level_txt.split() in ([], ["interp"])


def test_public_api_names_exist():
    for name in interp.__all__:
        assert hasattr(interp, name), name


def test_console_script_prints_help():
    result = subprocess.run([sys.executable, "-m", "interp.cli", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "score" in result.stdout and "contact-map" in result.stdout


def test_tests_run_against_the_installed_package():
    """A regular install puts interp in site-packages; an editable one points back at this checkout."""
    import json

    direct = importlib.metadata.distribution("interp").read_text("direct_url.json")
    editable = bool(direct) and json.loads(direct).get("dir_info", {}).get("editable", False)
    if not editable:
        assert "site-packages" in interp.__file__, interp.__file__
