"""Backups of a whole installation: the database (SQLite or PostgreSQL) and the uploaded files.

A backup is one tar file (gzip-compressed when its name ends in .gz or .tgz), or the same
files in a directory when it has been unpacked:

    manifest.json      format version, created_at, database vendor, applied migrations
    database.sqlite3   SQLite: an online copy through sqlite3's backup API, or
    database.pgdump    PostgreSQL: `pg_dump --format=custom`
    media/...          MEDIA_ROOT (agent avatars, attachments), when it holds files

It holds the webhook secrets as stored, encrypted with HITLNEXT_ENCRYPTION_KEY (or SECRET_KEY),
and never the key: a restore under other keys still works, but those secrets cannot be read
(restore_backup reports the bots concerned). The commands are `manage.py backup` and
`manage.py restore` (README "Backups and restore").
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Model
from django.utils import timezone

from conversations.crypto import UnreadableSecret
from conversations.models import Bot

FORMAT = 1  # of the archive; a restore refuses a later one
MANIFEST = "manifest.json"
MEDIA = "media"
DATABASE_FILES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass
class Manifest:
    format: int
    created_at: str
    vendor: str  # "sqlite" or "postgresql"
    database: str  # the database file's name in the backup
    migrations: dict[str, list[str]]  # applied migrations per app, as the database recorded
    media_files: int
    pg_dump_version: int | None = None  # major version that wrote database.pgdump

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
            version = data["format"]
        except (ValueError, TypeError, KeyError):
            raise BackupError("manifest.json is not a hitlnext backup manifest") from None
        if not isinstance(version, int) or version > FORMAT:
            raise BackupError(
                f"This backup's format ({version}) is newer than this hitlnext reads "
                f"({FORMAT}): restore it with the version that made it, or a later one."
            )
        try:
            manifest = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError as error:
            raise BackupError(f"manifest.json is incomplete: {error}") from None
        if manifest.database != DATABASE_FILES.get(manifest.vendor):
            raise BackupError(f"manifest.json names an unknown database: {manifest.vendor!r}")
        return manifest

    def applied(self) -> set[tuple[str, str]]:
        return {(app, name) for app, names in self.migrations.items() for name in names}


@dataclass
class RestoreReport:
    manifest: Manifest
    migrated: list[str] = field(default_factory=list)  # migrations run after loading
    unreadable_secrets: list[str] = field(default_factory=list)  # bot names


# --- Backup ---------------------------------------------------------------------------------


def create_backup(*, path: Path, using: str = DEFAULT_DB_ALIAS) -> Manifest:
    """Write a backup of the database `using` and MEDIA_ROOT to `path` (a new file, owner-only).

    Safe while the server and workers run: SQLite is copied in one read transaction, PostgreSQL
    dumped from one snapshot. Media is copied after the database, so a file deleted in between
    may be missing; one uploaded in between is there without its row (harmless)."""
    if path.exists():
        raise BackupError(f"{path} already exists: choose a new name")
    connection = connections[using]
    vendor = connection.vendor
    if vendor not in DATABASE_FILES:
        raise BackupError(f"cannot back up a {vendor} database (SQLite and PostgreSQL only)")
    with tempfile.TemporaryDirectory(prefix="hitlnext-backup-") as scratch:
        database = Path(scratch) / DATABASE_FILES[vendor]
        if vendor == "sqlite":
            migrations, pg_dump_version = _copy_sqlite(connection, database), None
        else:
            migrations, pg_dump_version = _dump_postgresql(connection, database)
        manifest = Manifest(
            format=FORMAT,
            created_at=timezone.now().isoformat(),
            vendor=vendor,
            database=database.name,
            migrations=migrations,
            media_files=0,
            pg_dump_version=pg_dump_version,
        )
        partial = path.with_name(path.name + ".partial")
        try:
            fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            raise BackupError(f"{partial} exists: another backup is being written?") from None
        try:
            with (
                os.fdopen(fd, "wb") as file,
                tarfile.open(
                    fileobj=file, mode="w:gz" if path.name.endswith((".gz", ".tgz")) else "w"
                ) as archive,
            ):
                media = list(_media_files())
                manifest.media_files = len(media)
                _add_bytes(archive, MANIFEST, json.dumps(asdict(manifest), indent=2).encode())
                archive.add(database, arcname=database.name)
                for file_path, name in media:
                    archive.add(file_path, arcname=f"{MEDIA}/{name}", recursive=False)
            partial.rename(path)  # a backup is only ever seen complete under its name
        finally:
            partial.unlink(missing_ok=True)
    return manifest


def _applied(connection: BaseDatabaseWrapper) -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in sorted(MigrationRecorder(connection).applied_migrations()):
        applied.setdefault(app, []).append(name)
    return applied


def _copy_sqlite(connection: BaseDatabaseWrapper, target: Path) -> dict[str, list[str]]:
    connection.ensure_connection()
    copy = sqlite3.connect(target)
    try:
        # One step (pages=-1) reads the whole file in one read transaction: a consistent
        # copy while the server writes (WAL lets it go on writing meanwhile).
        connection.connection.backup(copy)
        # A self-contained file: no -wal beside it, whatever mode the source was in.
        copy.execute("PRAGMA journal_mode=DELETE")
        rows = copy.execute("SELECT app, name FROM django_migrations").fetchall()
    except sqlite3.Error as error:
        raise BackupError(f"copying the SQLite database failed: {error}") from None
    finally:
        copy.close()
    applied: dict[str, list[str]] = {}
    for app, name in sorted(rows):
        applied.setdefault(app, []).append(name)
    return applied


def _media_files() -> Iterator[tuple[Path, str]]:
    root = Path(settings.MEDIA_ROOT)
    if not root.is_dir():
        return
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            file_path = Path(directory) / name
            if file_path.is_file() and not file_path.is_symlink():
                yield file_path, file_path.relative_to(root).as_posix()


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(timezone.now().timestamp())
    archive.addfile(info, io.BytesIO(data))


# --- PostgreSQL client tools ----------------------------------------------------------------


def _pg_tool(name: str) -> tuple[str, int]:
    """The tool's path and major version; a clear error when it is missing."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} was not found on PATH. Install PostgreSQL's client tools, of the "
            "server's major version or newer (Debian and Ubuntu: apt install "
            "postgresql-client), and put their directory first on PATH."
        )
    output = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"\)\s*(\d+)", output) or re.search(r"(\d+)\.\d+", output)
    if match is None:
        raise BackupError(f"{path} --version printed {output.strip()!r}: not a PostgreSQL tool")
    return path, int(match.group(1))


def _server_major(connection: BaseDatabaseWrapper) -> int:
    connection.ensure_connection()
    return int(connection.pg_version) // 10000  # type: ignore[attr-defined]


def _pg_env(connection: BaseDatabaseWrapper) -> dict[str, str]:
    """libpq's environment for the database Django uses: the password stays out of the
    process list."""
    settings_dict = connection.settings_dict
    _, extra = connection.client.settings_to_cmd_args_env(settings_dict, [])
    env = dict(os.environ) | (extra or {})
    for variable, key in [
        ("PGHOST", "HOST"),
        ("PGPORT", "PORT"),
        ("PGUSER", "USER"),
        ("PGDATABASE", "NAME"),
    ]:
        if settings_dict.get(key):
            env[variable] = str(settings_dict[key])
    timeout = settings_dict.get("OPTIONS", {}).get("connect_timeout")
    if timeout:
        env["PGCONNECT_TIMEOUT"] = str(timeout)
    return env


def _run(args: list[str], *, env: dict[str, str]) -> str:
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tool = Path(args[0]).name
        raise BackupError(f"{tool} failed (exit {result.returncode}): {result.stderr.strip()}")
    return result.stdout


def _dump_postgresql(
    connection: BaseDatabaseWrapper, target: Path
) -> tuple[dict[str, list[str]], int]:
    pg_dump, client = _pg_tool("pg_dump")
    server = _server_major(connection)
    if client < server:
        raise BackupError(
            f"pg_dump {client} cannot dump a PostgreSQL {server} server: install the "
            f"PostgreSQL {server} client tools (or newer) and put them first on PATH."
        )
    if connection.in_atomic_block:
        raise BackupError("a backup cannot run inside a transaction")
    # The manifest's migrations and the dump come from one snapshot: a migration committing
    # meanwhile is in both or in neither.
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        applied = _applied(connection)
        _run(
            [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={target}"],
            env=_pg_env(connection),
        )
    return applied, client


# --- Restore --------------------------------------------------------------------------------


class _Source:
    """A backup to read: its tar file, or the directory it was unpacked into."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.archive: tarfile.TarFile | None = None
        if path.is_dir():
            return
        try:
            self.archive = tarfile.open(path, mode="r:*")
        except (OSError, tarfile.TarError) as error:
            raise BackupError(
                f"{path} is not a backup (a tar file or its directory): {error}"
            ) from None

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()

    def manifest(self) -> Manifest:
        if self.archive is None:
            try:
                return Manifest.parse((self.path / MANIFEST).read_bytes())
            except FileNotFoundError:
                raise BackupError(f"{self.path} has no manifest.json: not a backup") from None
        try:
            member = self.archive.extractfile(MANIFEST)
        except KeyError:
            member = None
        if member is None:
            raise BackupError(f"{self.path} has no manifest.json: not a backup")
        return Manifest.parse(member.read())

    def database(self, manifest: Manifest, scratch: Path) -> Path:
        if self.archive is None:
            found = self.path / manifest.database
        else:
            try:
                self.archive.extract(manifest.database, scratch, filter="data")
            except KeyError:
                raise BackupError(f"{self.path} has no {manifest.database}") from None
            found = scratch / manifest.database
        if not found.is_file():
            raise BackupError(f"{self.path} has no {manifest.database}")
        return found

    def media(self, target: Path) -> int:
        """Unpack the media files into `target` (new); returns how many."""
        target.mkdir(mode=0o700, parents=True)
        if self.archive is None:
            source = self.path / MEDIA
            if not source.is_dir():
                return 0
            shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
            return sum(1 for entry in target.rglob("*") if entry.is_file())
        count = 0
        for member in self.archive.getmembers():
            if not member.name.startswith(MEDIA + "/") or not member.isfile():
                continue
            # The "data" filter refuses absolute names, ".." and links leaving the target.
            member = member.replace(name=member.name.removeprefix(MEDIA + "/"), deep=False)
            self.archive.extract(member, target, filter="data")
            count += 1
        return count


def restore_backup(
    *, path: Path, using: str = DEFAULT_DB_ALIAS, force: bool = False
) -> RestoreReport:
    """Replace the database `using` and MEDIA_ROOT with the backup at `path`, then migrate it
    if it was made by an older version. The server and workers must be stopped.

    Refused, before anything is changed: a backup of another kind of database, one from a
    newer schema than this code knows, and (without `force`) a target that holds data."""
    connection = connections[using]
    source = _Source(path)
    try:
        manifest = source.manifest()
        _check_compatible(manifest, connection)
        if not force:
            held = _data_held(connection)
            if held:
                raise BackupError(
                    f"The database already holds {held}: restoring replaces all of it. "
                    "Run again with --force to go ahead."
                )
        if connection.in_atomic_block:
            raise BackupError("a restore cannot run inside a transaction")
        # The files are unpacked beside MEDIA_ROOT first and put in its place once the
        # database is loaded: a restore that fails leaves both as they were.
        media_root = Path(settings.MEDIA_ROOT)
        incoming = media_root.with_name(f".{media_root.name}.restoring-{os.getpid()}")
        shutil.rmtree(incoming, ignore_errors=True)
        try:
            source.media(incoming)
            with tempfile.TemporaryDirectory(prefix="hitlnext-restore-") as scratch:
                database = source.database(manifest, Path(scratch))
                if manifest.vendor == "sqlite":
                    _load_sqlite(connection, database)
                else:
                    _load_postgresql(connection, database, manifest)
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        _swap_directory(incoming, media_root)
    finally:
        source.close()
    ContentType.objects.clear_cache()  # ids may differ in the restored database
    report = RestoreReport(manifest=manifest)
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        report.migrated = [f"{m.app_label}.{m.name}" for m, _ in plan]
        call_command("migrate", database=using, interactive=False, verbosity=0)
    report.unreadable_secrets = [
        bot.name
        for bot in Bot.objects.using(using).only("name", "webhook_secret").order_by("name")
        if isinstance(bot.webhook_secret, UnreadableSecret)
    ]
    return report


def _check_compatible(manifest: Manifest, connection: BaseDatabaseWrapper) -> None:
    if manifest.vendor != connection.vendor:
        raise BackupError(
            f"This is a backup of a {manifest.vendor} database and the configured database is "
            f"{connection.vendor}: restore it into a {manifest.vendor} database (DATABASE_URL)."
        )
    loader = MigrationLoader(None, ignore_no_migrations=True)
    known = set(loader.disk_migrations)
    known.update(key for migration in loader.disk_migrations.values() for key in migration.replaces)
    unknown = sorted(manifest.applied() - known)
    if unknown:
        names = ", ".join(f"{app}.{name}" for app, name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise BackupError(
            f"This backup comes from a newer hitlnext: its database has migrations this code "
            f"does not know ({names}{more}). Install that version (or a later one), then "
            "restore; a database cannot be migrated back by older code."
        )


def _data_held(connection: BaseDatabaseWrapper) -> str:
    """What the target holds that a restore would replace: users, bots, media files."""
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    kinds: list[tuple[type[Model], str]] = [(get_user_model(), "user"), (Bot, "bot")]
    counts = {
        noun: model._base_manager.using(connection.alias).count()
        for model, noun in kinds
        if model._meta.db_table in tables
    }
    counts["media file"] = sum(1 for _ in _media_files())
    return ", ".join(f"{n} {noun}{'s' if n > 1 else ''}" for noun, n in counts.items() if n)


def _load_sqlite(connection: BaseDatabaseWrapper, database: Path) -> None:
    backup = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        check = backup.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"the backup's database is damaged ({check}): nothing was changed")
        connection.close()
        connection.ensure_connection()
        # The backup API replaces every page of the live file under its write lock, through
        # SQLite's own journal: no window where the file is half old, half new, and the
        # -wal and -shm files stay consistent (the database keeps its WAL mode).
        backup.backup(connection.connection)
    except sqlite3.DatabaseError as error:
        # The copy is one write transaction on the live file: it failed as a whole.
        raise BackupError(
            f"restoring the SQLite database failed, nothing was changed: {error}"
        ) from None
    finally:
        backup.close()
        connection.close()


# Run first, in the same transaction as the backup's SQL: the restored database has exactly
# the backup's tables. (pg_restore --clean alone drops only what the dump holds, and cannot:
# a later version's foreign keys into those tables are in the way.)
_DROP_TABLES = """
DO $$
DECLARE t record;
BEGIN
  FOR t IN
    SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false))
  LOOP
    EXECUTE 'DROP TABLE IF EXISTS ' || t.name || ' CASCADE';
  END LOOP;
END $$;
"""


def _load_postgresql(connection: BaseDatabaseWrapper, dump: Path, manifest: Manifest) -> None:
    """Replace the database with the dump in one transaction: on any error nothing changes.

    pg_restore turns the dump into SQL, which psql runs after _DROP_TABLES, all in one
    transaction (`--single-transaction`)."""
    pg_restore, client = _pg_tool("pg_restore")
    if manifest.pg_dump_version and client < manifest.pg_dump_version:
        raise BackupError(
            f"This backup was written by pg_dump {manifest.pg_dump_version}, which "
            f"pg_restore {client} cannot read: install the PostgreSQL "
            f"{manifest.pg_dump_version} client tools (or newer) and put them first on PATH."
        )
    psql, _ = _pg_tool("psql")
    env = _pg_env(connection) | {"PGOPTIONS": "-c client_min_messages=warning"}
    if not env.get("PGDATABASE"):
        raise BackupError("DATABASE_URL names no database to restore into")
    try:
        _run([pg_restore, "--list", str(dump)], env=env)  # a readable dump, before anything
    except BackupError as error:
        raise BackupError(f"{error}; nothing was changed") from None
    _close(connection)
    sql = [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--file=-"]
    load = [psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction"]
    with tempfile.TemporaryFile() as restore_errors, tempfile.TemporaryFile() as psql_output:
        loader = subprocess.Popen(
            [*load, f"--command={_DROP_TABLES}", "--file=-"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=psql_output,
            stderr=subprocess.STDOUT,
        )
        reader = subprocess.Popen(
            [*sql, str(dump)], env=env, stdout=subprocess.PIPE, stderr=restore_errors
        )
        assert reader.stdout is not None and loader.stdin is not None
        try:
            shutil.copyfileobj(reader.stdout, loader.stdin, 1 << 20)
        except BrokenPipeError:
            pass  # psql stopped at an error (ON_ERROR_STOP): its output says which
        reader.stdout.close()
        if reader.wait() != 0 and loader.poll() is None:
            # pg_restore failed mid-way: psql must not reach the end of its input, where it
            # would commit what it has; killed, its transaction is rolled back.
            loader.kill()
            loader.wait()
            raise BackupError(f"pg_restore failed, nothing was changed: {_read(restore_errors)}")
        try:
            loader.stdin.close()
        except BrokenPipeError:
            pass
        if loader.wait() != 0:
            raise BackupError(
                f"loading the backup failed, nothing was changed: {_read(psql_output)}"
            )
    _close(connection)


def _read(file: Any) -> str:
    file.seek(0)
    return file.read().decode(errors="replace").strip()


def _close(connection: BaseDatabaseWrapper) -> None:
    """Drop this process's connections, pooled ones included: the tables were replaced."""
    connection.close()
    close_pool = getattr(connection, "close_pool", None)
    if close_pool is not None and getattr(connection, "pool", None) is not None:
        close_pool()


def _swap_directory(incoming: Path, target: Path) -> None:
    """Put `incoming` where `target` is, replacing it (renames: never half of each)."""
    if not any(incoming.iterdir()) and not target.exists():
        incoming.rmdir()
        return
    replaced = target.with_name(f".{target.name}.replaced-{os.getpid()}")
    if target.exists():
        target.rename(replaced)
    incoming.rename(target)
    shutil.rmtree(replaced, ignore_errors=True)
