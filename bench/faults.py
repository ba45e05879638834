"""Services of the chaos run's own, to restart at will: a throwaway PostgreSQL cluster and a
Redis server, each on a port of its own on 127.0.0.1 (never the shared ones on 5432 / 6379).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port_from(first: int, *, tries: int = 200) -> int:
    """The first port from `first` on that nobody listens on (bound to test it)."""
    for port in range(first, first + tries):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}..{first + tries}")


def _answers(port: int, probe: bytes, expect: bytes) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            if probe:
                conn.sendall(probe)
                return conn.recv(16).startswith(expect)
            return True
    except OSError:
        return False


class PrivatePostgres:
    """A PostgreSQL 15 cluster in a temporary directory, trust auth on 127.0.0.1 only. As root,
    initdb and the server run as the `postgres` user (initdb refuses root)."""

    def __init__(self, *, first_port: int = 5440) -> None:
        self.port = free_port_from(first_port)
        self.dir = Path(tempfile.mkdtemp(prefix="hitlnext-chaos-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            owner = pwd.getpwnam(self.user)
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        command = [str(PG_BIN / argv[0]), *argv[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(
            command,
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def start(self) -> None:
        # fsync off: a throwaway cluster on a shared disk. A stop, even -m immediate, is a crash
        # of the server, not of the machine: what was written to the kernel survives, and a
        # commit is written before it is acknowledged (synchronous_commit stays on, as the
        # 201's promise needs: off, an immediate stop lost acknowledged messages).
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return _answers(self.port, b"", b"")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """redis-server without persistence (a restart empties it, as in production without AOF)."""

    def __init__(self, *, first_port: int = 6390) -> None:
        self.port = free_port_from(first_port)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, seconds: float = 20) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + seconds
        while not _answers(self.port, b"PING\r\n", b"+PONG"):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Killed (SIGKILL): whatever it held is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
