"""Quality floors on the labelled texts (trafilatura-style eval gate). Lowering one is a conscious act.

Runs ../shared/tools/claimeval exactly as the issue states; skipped, and said so, when ../shared is absent.
"""
import os
import shutil
import subprocess
import sys

import pytest

# In-sample regression floors, not a measure of quality. The bundled judge is trained on the devset
# and the seed samples (`auditor train ../shared/devset ../shared/samples`), so both are figures on
# pages it learned from (2026-12-03: devset F1 0.858, precision 0.791; seeds 1.0). They catch a
# broken model or pipeline; the judge's cross-validated floors (tests/test_judge_cv.py) are the bar.
# History: the rules alone scored 0.87 on the first 60 pages, 0.425 on the 327 (floor then 0.42).
FLOORS = {
    "devset/labels.jsonl": {"min_f1": 0.83, "min_precision": 0.76},
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
