"""Shared fixtures: one Auditor per test session (spaCy loads once), paths to shared data."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("AUDITOR_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def auditor():
    from auditor.pipeline import Auditor
    return Auditor()


@pytest.fixture(scope="session")
def shared():
    if not (SHARED / "tools" / "claimeval").exists():
        pytest.skip(f"SKIPPED: ../shared not found at {SHARED}; the quality gates need it (CI has it)")
    return SHARED


def run_cli(*args, stdin=None, cwd=None):
    """Run the installed console script as a user would."""
    return subprocess.run([sys.executable, "-m", "auditor.cli", *map(str, args)], input=stdin,
                          capture_output=True, cwd=cwd or ROOT, timeout=300)
