"""Shared fixtures; tests run offline against the installed package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import DATA

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def data_dir() -> Path:
    if DATA is None:
        pytest.skip("real data not found: set INTERP_DATA or put shared/data beside the repository")
    return DATA
