"""One server per data folder: an exclusive lock on ``DATA_DIR/parlor.lock``.

``parlor serve`` holds the lock for the life of the process, and writes its PID and
port into the file so that a second server can say which one is running.  The lock is
the operating system's (``flock`` on Linux and macOS, ``msvcrt.locking`` on Windows),
so it goes away with the process however it ends, even on ``kill -9``: a lock file
left behind by a dead process never blocks a new start.

The one-shot commands (``import``, ``export``, ``list``, ``prompt``) do not take the
lock: they may run beside a server, since every stored item is one SQLite transaction
in WAL mode.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.errors import InputError, ParlorError

LOCK_FILE_NAME = "parlor.lock"

if sys.platform == "win32":
    import msvcrt

    #: Windows locks byte ranges; lock one far past the PID and port, so both stay readable.
    _WINDOWS_LOCK_OFFSET = 1 << 30

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@dataclass(frozen=True)
class LockHolder:
    """The server that holds a data folder's lock (None where the file does not say)."""

    pid: int | None
    port: int | None

    def describe(self) -> str:
        """``PID 1234, port 7860`` (or ``?`` for what is unknown)."""
        pid = self.pid if self.pid is not None else "?"
        port = self.port if self.port is not None else "?"
        return f"PID {pid}, port {port}"


class DataFolderInUse(ParlorError):
    """Another Parlor server holds the data folder."""

    code = "data_folder_in_use"

    def __init__(self, data_dir: Path, holder: LockHolder) -> None:
        self.data_dir = data_dir
        self.holder = holder
        super().__init__(
            f"{data_dir}: in use by another Parlor server ({holder.describe()}); "
            "stop it first, or serve another --data-dir"
        )


class DataFolderLock:
    """The exclusive lock on one data folder (see the module docstring)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self, *, port: int) -> None:
        """Take the lock or raise :class:`DataFolderInUse` at once (never waits)."""
        if self._fd is not None:
            return
        fd = _open(self.path)
        if not _try_lock(fd):
            os.close(fd)
            raise DataFolderInUse(self.data_dir, read_holder(self.path))
        self._fd = fd
        self._write({"pid": os.getpid(), "port": port})

    def release(self) -> None:
        """Give the lock up (closing the file also does, as does the process ending)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            _unlock(fd)
        finally:
            os.close(fd)

    @contextmanager
    def holding(self, *, port: int) -> Iterator[DataFolderLock]:
        """Hold the lock for the ``with`` block."""
        self.acquire(port=port)
        try:
            yield self
        finally:
            self.release()

    def _write(self, facts: dict[str, int]) -> None:
        assert self._fd is not None
        data = (json.dumps(facts) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, data)


def running_server(data_dir: Path) -> LockHolder | None:
    """The server holding ``data_dir`` now, or None where none does.

    Tries the lock for an instant (and lets it go at once), so a server starting in
    that same instant would be refused; use it for notes, not for decisions.
    """
    path = data_dir / LOCK_FILE_NAME
    if not path.is_file():
        return None
    fd = _open(path)
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
    finally:
        os.close(fd)
    return read_holder(path)


def _open(path: Path) -> int:
    """The lock file, created (with its folder) if need be; an OSError is one line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(str(exc.filename or path), exc.strerror or str(exc)) from exc


def read_holder(path: Path) -> LockHolder:
    """The PID and port written in a lock file (unknown parts as None)."""
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return LockHolder(None, None)
    if not isinstance(facts, dict):
        return LockHolder(None, None)
    return LockHolder(_int_or_none(facts.get("pid")), _int_or_none(facts.get("port")))


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
