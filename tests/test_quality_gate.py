"""Quality floors on the labelled texts (trafilatura-style eval gate). Lowering one is a conscious act.

Runs ../shared/tools/claimeval exactly as the issue states; skipped, and said so, when ../shared is absent.
"""
import os
import shutil
import subprocess
import sys

import pytest

# The devset grew from 60 to 327 pages (2026-12): the rules alone score F1 0.425, precision 0.539
# there, far below the 0.85 they reached on the 60 pages they were written on. These floors pin
# today's in-sample figures, consciously lowered so that a regression still fails; the judge's
# cross-validated floors (tests/test_judge_cv.py) are the real bar.
FLOORS = {
    "devset/labels.jsonl": {"min_f1": 0.42, "min_precision": 0.53},
    "samples/labels.jsonl": {"min_f1": 0.9, "min_precision": 0.9},
}


@pytest.mark.parametrize("labels", list(FLOORS))
def test_claimeval_gate(shared, labels):
    floors = FLOORS[labels]
    env = dict(os.environ)
    # claimeval runs `auditor`; use the one installed beside this interpreter
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    assert shutil.which("auditor", path=env["PATH"]), "the auditor console script is not installed"
    cmd = [sys.executable, str(shared / "tools" / "claimeval"), "--labels", str(shared / labels),
           "--min-f1", str(floors["min_f1"]), "--min-precision", str(floors["min_precision"])]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    print(p.stdout)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "overall: precision" in p.stdout
