#!/usr/bin/env python3
"""The two commands of hitlnext, needing nothing but python3 >= 3.11:

    python3 dev.py run    # install, migrate, demo users, server + worker on 127.0.0.1:8000
    python3 dev.py test   # install, then lint, import and type checks and the whole test suite

Both create ./.venv and install the project into it (again only when pyproject.toml changes).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
# The Rasa recipe's action server (examples/rasa): rasa-sdk pins websockets < 16 and
# pydantic < 2.14, older than ours, so it gets a virtualenv of its own.
RASA_VENV = ROOT / ".venv-rasa"
CHROMIUM = Path("/usr/bin/chromium")
# The WSGI deployment's test (tests/test_deploy_wsgi.py) runs the shipped deploy/nginx.conf.
NGINX = Path("/usr/sbin/nginx")


def say(text: str) -> None:
    print(f"[hitlnext] {text}", flush=True)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit("hitlnext needs Python 3.11 or newer.")
    if not PYTHON.exists():
        say("creating .venv")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    stamp = VENV / ".installed"
    client = ROOT / "clients" / "python"  # the typed client, which the examples use
    wanted = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (client / "pyproject.toml").read_bytes()
    ).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        say("installing dependencies into .venv (first run only)")
        pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "-e", f"{ROOT}[dev,integrations]", "-e", str(client)], check=True)
        stamp.write_text(wanted)


def ensure_rasa_venv() -> Path:
    """.venv-rasa from examples/rasa/requirements.txt and the client; returns its python.
    Made again when either changes. tests/test_recipe_rasa.py calls it too."""
    python = RASA_VENV / "bin" / "python"
    requirements = ROOT / "examples" / "rasa" / "requirements.txt"
    client = ROOT / "clients" / "python"
    stamp = RASA_VENV / ".installed"
    wanted = hashlib.sha256(
        requirements.read_bytes() + (client / "pyproject.toml").read_bytes()
    ).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    say("installing the Rasa recipe's action server into .venv-rasa")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(RASA_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-r", str(requirements), "-e", str(client)], check=True, timeout=900)
    stamp.write_text(wanted)
    return python


def manage(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(PYTHON), str(ROOT / "manage.py"), *args], cwd=ROOT, **kwargs)


def compile_translations() -> None:
    """locale/*.po -> .mo with our own compilemessages (pure Python: no GNU gettext)."""
    manage("compilemessages", "-v", "0", check=True)


def run() -> int:
    ensure_venv()
    compile_translations()
    manage("migrate", "--no-input", "-v", "0", check=True)
    manage("setup_demo", check=True)
    try:
        return manage("serve").returncode
    except KeyboardInterrupt:
        return 0


def ensure_chromium() -> bool:
    return ensure_debian_package("chromium", CHROMIUM, "the browser tests")


def ensure_nginx() -> bool:
    return ensure_debian_package("nginx", NGINX, "the WSGI deployment tests")


def ensure_debian_package(package: str, path: Path, why: str) -> bool:
    if path.exists():
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing Debian's {package} for {why}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env, check=False)
    return path.exists()


def check() -> int:
    """Lint, formatting, the one-way dependencies between apps, and types."""
    bin_dir = VENV / "bin"
    for name, command in (
        ("ruff (lint)", [str(bin_dir / "ruff"), "check", "."]),
        ("ruff (format)", [str(bin_dir / "ruff"), "format", "--check", "."]),
        ("import-linter (apps depend one way)", [str(bin_dir / "lint-imports")]),
        ("mypy", [str(bin_dir / "mypy")]),
    ):
        say(name)
        code = subprocess.run(command, cwd=ROOT).returncode
        if code:
            return code
    return 0


def test(extra: list[str]) -> int:
    ensure_venv()
    ensure_rasa_venv()
    compile_translations()
    if not extra:  # a chosen subset of tests skips the static checks
        code = check()
        if code:
            return code
    if not ensure_nginx():
        say("nginx is missing: the WSGI deployment tests will be skipped")
    pytest = [str(PYTHON), "-m", "pytest"]
    # Two runs: sync Playwright leaves an event loop behind that breaks pytest-asyncio tests
    # run after it in the same process ("Cannot run the event loop while another loop is
    # running").
    say("unit, API, worker and websocket tests")
    code = subprocess.run([*pytest, "tests", *extra], cwd=ROOT).returncode
    if code not in (0,):
        return code
    if not ensure_chromium():
        if os.environ.get("CI"):
            say("/usr/bin/chromium is missing: the browser tests cannot run")
            return 1
        say("skipping browser tests: install Debian's chromium (apt-get install chromium)")
        return 0
    say("browser tests (Playwright on /usr/bin/chromium)")
    # -W: pytest-asyncio's ini option is unknown once its plugin is off.
    e2e = [*pytest, "e2e", "-p", "no:asyncio", "-W", "ignore::pytest.PytestConfigWarning"]
    code = subprocess.run([*e2e, *extra], cwd=ROOT).returncode
    return 0 if code == 5 else code  # 5 = no browser tests collected


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test"}:
        print(__doc__)
        return 2
    if sys.argv[1] == "run":
        return run()
    return test(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
