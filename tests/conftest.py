"""Shared fixtures: unique store names, and running code in a child interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest


@pytest.fixture
def unique_name() -> str:
    """A store name no other test (or concurrent run) uses."""
    return f"t{os.getpid()}_{uuid.uuid4().hex[:10]}"


def run_python(code: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter, so that a crash is a failed exit, not ours."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
    )
