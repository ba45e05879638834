"""The chaos run's short form (bench/chaos.py --quick): load on two Daphne processes and two
workers while a worker, a Daphne process, Redis and PostgreSQL are each killed and restarted;
then nothing may be lost. It starts its own PostgreSQL cluster and Redis server (never the
shared ones), so it runs only in the PostgreSQL + Redis run of CI, where those binaries are.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.faults import PG_BIN

BASE_DIR = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="the chaos run belongs to the PostgreSQL + Redis run (DATABASE_URL=postgres://...): "
        "it restarts a PostgreSQL cluster and a Redis server of its own",
    ),
    pytest.mark.skipif(
        not (PG_BIN / "initdb").exists() or shutil.which("redis-server") is None,
        reason=f"needs {PG_BIN}/initdb and redis-server for its own cluster and Redis",
    ),
]


@pytest.mark.timeout(420)
def test_the_quick_chaos_run_injects_every_fault_and_loses_nothing():
    run = subprocess.run(
        [sys.executable, "bench/chaos.py", "--quick", "--seed", "17"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=400,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    faults = re.search(r"^faults: (.*)$", run.stdout, re.M)
    assert faults, output[-3000:]
    for kind in ("worker", "daphne", "redis", "postgres"):
        assert re.search(rf"\b{kind} [1-9]", faults.group(1)), faults.group(0)
    assert re.search(r"^losses: 0$", run.stdout, re.M), output[-3000:]
    assert run.stdout.rstrip().endswith("violations: 0\nresult: PASS")
