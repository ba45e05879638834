"""The shipped WSGI deployment, run for real on 127.0.0.1: nginx with a configuration derived from
deploy/nginx.conf, and the systemd units' own commands (deploy/hitlnext-http@.service: gunicorn
with deploy/gunicorn.conf.py; hitlnext-daphne@ for the websockets; hitlnext-worker@). Used by
tests/test_deploy_wsgi.py (API and sockets) and e2e/test_deploy_wsgi.py (the browser).

The configuration is the shipped file with only what cannot be the same on a test machine
changed (the listener, TLS, the socket paths, the paths nginx writes to), each change asserted
to happen, so the routing, headers and upstream settings that run are the shipped ones.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.workers import Process, free_port, wait_for

BASE_DIR = Path(__file__).resolve().parent.parent
DEPLOY = BASE_DIR / "deploy"
BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


# --- nginx: the shipped file, made runnable here -----------------------------------------------


def _top_level_blocks(text: str) -> list[str]:
    """The file's top-level statements and blocks, comments dropped (enough of nginx's syntax
    for this file: no braces inside strings)."""
    text = re.sub(r"#[^\n]*", "", text)
    blocks, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                blocks.append(text[start : i + 1].strip())
                start = i + 1
        elif char == ";" and depth == 0:
            blocks.append(text[start : i + 1].strip())
            start = i + 1
    assert depth == 0 and not text[start:].strip(), "unbalanced braces in deploy/nginx.conf"
    return [b for b in blocks if b]


def _replace_once(pattern: str, replacement: str, text: str) -> str:
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert count == 1, f"deploy/nginx.conf changed shape: {pattern!r} matched {count} times"
    return new


def _upstream(block: str, sockets: list[Path]) -> str:
    """The shipped upstream with its servers swapped for ours (its other settings kept)."""
    assert re.search(r"^\s*server unix:", block, re.MULTILINE), block
    kept = re.sub(r"^\s*server unix:[^;]*;\s*$", "", block, flags=re.MULTILINE)
    servers = "".join(f"    server unix:{path};\n" for path in sockets)
    return kept.replace("{", "{\n" + servers, 1)


def nginx_conf(*, port: int, ws_sockets: list[Path], http_sockets: list[Path], prefix: Path) -> str:
    """A complete nginx.conf around deploy/nginx.conf: listening on 127.0.0.1:port in plain
    HTTP, its upstreams on our sockets, every path it writes under `prefix`."""
    shipped = _top_level_blocks((DEPLOY / "nginx.conf").read_text())
    kept = []
    for block in shipped:
        if block.startswith("upstream hitlnext_ws"):
            kept.append(_upstream(block, ws_sockets))
        elif block.startswith("upstream hitlnext_http"):
            kept.append(_upstream(block, http_sockets))
        elif block.startswith("server") and "return 301 https://" in block:
            continue  # the port-80 redirect to TLS
        elif block.startswith("server"):
            block = _replace_once(r"listen 443 ssl http2;", f"listen 127.0.0.1:{port};", block)
            block = _replace_once(r"^\s*ssl_certificate [^;]*;", "", block)
            block = _replace_once(r"^\s*ssl_certificate_key [^;]*;", "", block)
            kept.append(block)
        else:
            kept.append(block)
    names = [b.split(None, 2)[:2] for b in kept]
    assert ["upstream", "hitlnext_ws"] in names and ["upstream", "hitlnext_http"] in names, names
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    body = re.sub(r"\n\s*(?=\n)", "", "\n\n".join(kept)).replace("\n", "\n    ")
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers reach our private sockets
    return (
        f"{user}worker_processes 1;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log off;\n{temp}\n"
        f"    {body}\n"
        "}\n"
    )


# --- The processes: the systemd units' commands -----------------------------------------------


def unit_command(unit: str, *, instance: str, runtime_dir: Path) -> list[str]:
    """ExecStart of deploy/<unit> for one instance, run from this checkout: the unit's
    /srv/hitlnext/.venv/bin/<program> is this virtualenv's, /run/hitlnext/ is `runtime_dir`."""
    text = (DEPLOY / unit).read_text()
    match = re.search(r"^ExecStart=((?:[^\n]*\\\n)*[^\n]*)$", text, re.MULTILINE)
    assert match, f"no ExecStart in deploy/{unit}"
    argv = match.group(1).replace("\\\n", " ").split()
    venv = "/srv/hitlnext/.venv/bin/"
    assert argv[0].startswith(venv), argv
    argv[0] = str(BIN / argv[0].removeprefix(venv))
    return [
        arg.replace("%i", instance).replace("/run/hitlnext/", f"{runtime_dir}/") for arg in argv
    ]


@dataclass
class Deployment:
    """nginx in front of gunicorn (HTTP) and Daphne (websockets), with a worker: the shipped
    WSGI variant. `url` is nginx's."""

    env: dict[str, str]
    dir: Path
    port: int = field(default_factory=free_port)
    processes: list[Process] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self, name: str, argv: list[str]) -> Process:
        process = Process.spawn(name, argv, env=self.env, log_dir=self.dir)
        self.processes.append(process)
        return process

    def start(self, *, gunicorn_instances: int = 1) -> None:
        """The units' own commands (deploy/hitlnext-http@.service, hitlnext-daphne@,
        hitlnext-worker@), their sockets in this deployment's directory."""
        http = [self.dir / f"http-{n}.sock" for n in range(1, gunicorn_instances + 1)]
        daphne = self.dir / "daphne-1.sock"
        for n in range(1, gunicorn_instances + 1):
            argv = unit_command("hitlnext-http@.service", instance=str(n), runtime_dir=self.dir)
            self.spawn(f"gunicorn-{n}", argv)
        argv = unit_command("hitlnext-daphne@.service", instance="1", runtime_dir=self.dir)
        self.spawn("daphne-1", argv)
        argv = unit_command("hitlnext-worker@.service", instance="1", runtime_dir=self.dir)
        self.spawn("worker-1", [*argv, "--interval", "0.05"])  # quick webhooks for the test
        prefix = self.dir / "nginx"
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        conf.write_text(
            nginx_conf(port=self.port, ws_sockets=[daphne], http_sockets=http, prefix=prefix)
        )
        self.spawn(
            "nginx",
            [
                NGINX,
                "-p",
                str(prefix),
                "-e",
                str(prefix / "error.log"),
                "-c",
                str(conf),
                "-g",
                f"daemon off; pid {prefix / 'nginx.pid'}; error_log {prefix / 'error.log'} warn;",
            ],
        )
        self.wait_ready([*http, daphne])

    def wait_ready(self, sockets: list[Path]) -> None:
        import httpx

        def up() -> bool:
            for process in self.processes:
                if process.popen.poll() is not None:
                    raise AssertionError(f"{process.name} exited:\n{process.output()}")
            if not all(sock.exists() for sock in sockets):
                return False
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, what="the deployment behind nginx", seconds=90)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()}" for p in self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):  # nginx first, the workers last
            process.stop()


def forget_redis_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@contextmanager
def wsgi_deployment(*, database_url: str, redis_url: str, secret_key: str) -> Iterator[Deployment]:
    """The deployment on the given database (pytest's test database) and Redis, with
    production settings (DEBUG off; plain HTTP on loopback) and nginx as the trusted proxy."""
    prefix = f"hxwsgitest-{uuid.uuid4().hex[:12]}"
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "hitlnext_project.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HITLNEXT_REDIS_PREFIX": prefix,
        "DEBUG": "false",
        "HTTPS": "false",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HITLNEXT_TRUSTED_PROXIES": "unix",  # as deploy/hitlnext.env.example
        "HITLNEXT_HTTP_WORKERS": "2",
        "HITLNEXT_HTTP_THREADS": "4",
        "LOG_LEVEL": "WARNING",
    }
    with tempfile.TemporaryDirectory(prefix="hx-wsgi-") as tmp:
        deployment = Deployment(env=env, dir=Path(tmp))
        try:
            deployment.start()
            yield deployment
        except BaseException:
            print(deployment.logs(), file=sys.stderr)
            raise
        finally:
            deployment.stop()
            forget_redis_keys(redis_url, prefix)
