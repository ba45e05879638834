"""The processes a benchmark runs: Daphne and gunicorn servers on loopback, and py-spy on one of
them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

APP = "hitlnext_project.asgi:application"
FLOOR = "bench.floor_asgi:application"
WSGI_APP = "hitlnext_project.wsgi:application"
WSGI_FLOOR = "bench.floor_wsgi:application"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Server:
    """One Daphne process on 127.0.0.1, output to a log file (never a pipe that could fill)."""

    name: str
    port: int
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


def start_daphne(name: str, app: str, *, env: dict[str, str], logs: Path, **extra) -> Server:
    port = free_port()
    log = logs / f"{name}.log"
    server_env = env | {k: str(v) for k, v in extra.items()}
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), app],
            cwd=BASE_DIR,
            env=server_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(name=name, port=port, popen=popen, log=log)


def start_gunicorn(
    name: str, app: str, *, env: dict[str, str], logs: Path, workers: int, threads: int, **extra
) -> Server:
    """gunicorn with the shipped settings (deploy/gunicorn.conf.py: gthread workers, the
    database pool sized to the threads), on a loopback port instead of the unix socket."""
    port = free_port()
    log = logs / f"{name}.log"
    server_env = env | {
        "HITLNEXT_HTTP_WORKERS": str(workers),
        "HITLNEXT_HTTP_THREADS": str(threads),
    }
    server_env |= {k: str(v) for k, v in extra.items()}
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(BASE_DIR / "deploy" / "gunicorn.conf.py")]
            + ["--bind", f"127.0.0.1:{port}", app],
            cwd=BASE_DIR,
            env=server_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(name=name, port=port, popen=popen, log=log)


def start_worker(name: str, *, env: dict[str, str], logs: Path, seconds: float = 60) -> Server:
    """`manage.py run_worker` (webhooks, timers, the routing sweep), once it has started.
    A Server without a port: only its process, log and stop() are used."""
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = Server(name=name, port=0, popen=popen, log=log)
    deadline = time.monotonic() + seconds
    while b"worker started" not in log.read_bytes():
        if popen.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"{name} did not start:\n{worker.tail()}")
        time.sleep(0.05)
    return worker


def wait_ready(servers: list[Server], *, path: str = "/healthz", seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    for server in servers:
        while True:
            if server.popen.poll() is not None:
                raise RuntimeError(f"{server.name} exited:\n{server.tail()}")
            try:
                with urllib.request.urlopen(server.url + path, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} not ready:\n{server.tail()}")
            time.sleep(0.1)


class Profiler:
    """py-spy sampling one process while a measurement runs; writes collapsed stacks."""

    def __init__(self, pid: int, out: Path, *, subprocesses: bool = False) -> None:
        self.out = out
        self.popen = subprocess.Popen(
            [
                str(BIN / "py-spy"),
                "record",
                "--pid",
                str(pid),
                *(["--subprocesses"] if subprocesses else []),  # a gunicorn master's workers
                "--format",
                "raw",
                "--rate",
                "200",
                "--threads",
                "--nonblocking",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()


PROJECT = (
    "conversations/",
    "handoffs/",
    "agents/",
    "routing/",
    "webhooks/",
    "api/",
    "hitlnext_project/",
)


def summarize_profile(path: Path, *, top: int = 15) -> str:
    """From py-spy's raw output: where samples were spent (leaf functions, by file) and the
    share of hitlnext's own functions (inclusive)."""
    if not path.exists():
        return f"(no profile at {path})"
    leaves: dict[str, int] = {}
    ours: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf = frames[-1]
        # "func (path/file.py:line)" -> "func (path/file.py)": lines of one function together
        leaf = leaf.rsplit(":", 1)[0] + ")" if leaf.endswith(")") else leaf
        leaves[leaf] = leaves.get(leaf, 0) + n
        for frame in {f.rsplit(":", 1)[0] for f in frames if any(p in f for p in PROJECT)}:
            ours[frame + ")"] = ours.get(frame + ")", 0) + n
    if not total:
        return "(empty profile)"

    def rows(counts: dict[str, int]) -> list[str]:
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:top]
        return [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in ranked]

    return "\n".join(
        [f"{total} samples (all threads). Leaf functions (self time):"]
        + rows(leaves)
        + ["hitlnext functions (inclusive):"]
        + rows(ours)
    )


def raise_fd_limit(wanted: int = 8192) -> None:
    """1,000 sockets at both ends need more than a default 1,024 descriptors."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard) if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def cpu_count() -> int:
    return os.cpu_count() or 1


def restart_daphne(server: Server, app: str, *, env: dict[str, str]) -> Server:
    """`server` started again on its port (as its service manager would after a crash), its
    log appended to."""
    with server.log.open("ab") as out:
        popen = subprocess.Popen(
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(server.port), app],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(name=server.name, port=server.port, popen=popen, log=server.log)
