"""Writing files so that a crash, a kill, a full disk or a second process never leaves a wrong one.

The one home of how this project writes a file (layer 0: it imports nothing of the package but its
errors):

* :func:`atomic_write`: a temporary file beside the target, flushed and fsynced, then renamed over
  it, so a reader sees the old file or the new one, never half of one; ``exclusive=True`` links
  it in place instead and never replaces an existing file. A kill leaves at most a temporary file
  named ``.NAME-PID-XXXXXXXX.tmp``, which :func:`remove_stale_temps` removes once that process is
  gone.
* :func:`append_line`: one whole line appended with one write; on a failure (a full disk) the
  file is cut back to what it was, so no torn line is left behind.
* :func:`write_checked_npz` / :func:`read_checked_npz`: an ``.npz`` archive that carries a SHA-256
  of its own bytes in the zip comment: any flipped bit or truncation is refused when it is read,
  and every error of the zip layer is one :class:`CorruptFile` line, not a traceback.
* :class:`FileWriteError`: a failed write in words (the disk is full, the quota, the file-size
  limit, permission), naming the file; both a :class:`~indrnn_np.errors.UserError` (one line on
  the command line) and an :class:`OSError`.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import secrets
import stat
import sys
import time
from pathlib import Path

from .errors import UserError

#: What a failed write means, by errno.
_REASONS = {
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file-size limit is reached (ulimit -f)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
}


#: The errors of a disk that has no room for a write (full, over quota, over the file-size limit).
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class FileWriteError(UserError, OSError):
    """A file that could not be written; the message names it and says why in words.

    Attributes
    ----------
    path : str
        The file.
    errno : int or None
        The operating system's error number (``errno.ENOSPC``, ...).
    """

    def __init__(self, message: str, path=None, err: int | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.errno = err

    def __str__(self) -> str:
        return self.args[0]


def reason(exc: OSError) -> str:
    """An OSError's cause in words: ``the disk is full (no space left on device)``, ..."""
    return _REASONS.get(exc.errno, exc.strerror or str(exc))


def write_error(path, exc: OSError, context: str = "") -> FileWriteError:
    """A :class:`FileWriteError` for ``exc`` raised while writing ``path`` (``context`` appended)."""
    if isinstance(exc, FileWriteError):
        return exc
    text = f"cannot write {path}: {reason(exc)}" + (f"; {context}" if context else "")
    return FileWriteError(text, path, exc.errno)


# --------------------------------------------------------------------------
# Temporary files
# --------------------------------------------------------------------------

#: ``.NAME-PID-XXXXXXXX.tmp`` (this version) and ``.NAME-XXXXXXXX.tmp`` (earlier versions, no pid).
_TEMP = re.compile(r"^\.(?P<name>.+?)-(?:(?P<pid>\d+)-)?[0-9a-f]{8}\.tmp$")


def _temp_path(path: Path) -> Path:
    return path.parent / f".{path.name}-{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or a pid we cannot ask about: leave its file
    return True


def remove_stale_temps(folder) -> list[Path]:
    """Remove the temporary files that writers killed mid-write left in ``folder``; return them.

    A temporary file of a process still running (another reader's ``evaluation.json``, say) is
    left alone; one of an earlier version (no pid in its name) is removed.
    """
    folder = Path(folder)
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _TEMP.match(name)
        if m is None or (m["pid"] is not None and _alive(int(m["pid"]))):
            continue
        try:
            os.unlink(folder / name)
            removed.append(folder / name)
        except FileNotFoundError:
            pass
    return removed


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def atomic_write(path, write, *, exclusive: bool = False) -> None:
    """Call ``write(binary file)`` on a temporary file beside ``path``, fsync it, then put it at ``path``.

    Parameters
    ----------
    path : path
    write : callable
        Writes the whole content to the open binary file it is given.
    exclusive : bool
        False: rename over ``path`` (a reader sees the old or the new file). True: ``path`` must
        not exist; the file is linked in place, so an existing file is never replaced, even by a
        second writer racing this one (FileExistsError).

    Raises
    ------
    FileWriteError
        The folder or the disk refused the write (full, quota, file-size limit, permission);
        ``path`` is as it was and no temporary file is left.
    FileExistsError
        ``exclusive`` and ``path`` exists.

    Notes
    -----
    The temporary file is created as ``open()`` creates a file, mode 0o666 less the umask (not
    :func:`tempfile.mkstemp`'s 0o600), so the files get the user's usual permissions; a file that
    is replaced keeps its own mode, as ``open(path, "w")`` would leave it.
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = _temp_path(path)
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)  # FileExistsError when another file got there first
            os.unlink(tmp)
            return
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    except FileExistsError:
        _discard(tmp)
        raise
    except OSError as exc:
        _discard(tmp)
        raise write_error(path, exc) from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def append_line(path, line: str) -> None:
    """Append ``line`` (a newline added) to ``path`` in one write; on failure cut the file back.

    A reader sees the line whole or not at all (one ``write`` of a short line to a local file), and
    a write that fails part way (a full disk) leaves the file as it was, not with a torn line.

    Raises
    ------
    FileWriteError
        As :func:`atomic_write`.
    """
    data = (line.rstrip("\n") + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except OSError as exc:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise write_error(path, exc) from None
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# Checksummed .npz archives
# --------------------------------------------------------------------------

_SUM_TAG = b"indrnn-np sha256 "
_SUM_LEN = len(_SUM_TAG) + 64


class CorruptFile(UserError, ValueError):
    """A file that is damaged (a flipped bit, a truncation) or is not the kind expected; one line."""


def npz_bytes(arrays: dict) -> bytes:
    """``arrays`` as an ``.npz`` archive (no pickles) whose zip comment holds the SHA-256 of the rest."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    # the end-of-central-directory record closes the file with the comment's length (2 bytes, 0 here)
    if data[-2:] != b"\x00\x00":
        raise RuntimeError("numpy wrote a zip comment: cannot add the checksum")
    body = data[:-2]
    digest = hashlib.sha256(body).hexdigest().encode()
    return body + _SUM_LEN.to_bytes(2, "little") + _SUM_TAG + digest


def write_checked_npz(path, arrays: dict, *, exclusive: bool = False) -> None:
    """Write :func:`npz_bytes` of ``arrays`` to ``path`` with :func:`atomic_write`."""
    data = npz_bytes(arrays)
    atomic_write(path, lambda fh: fh.write(data), exclusive=exclusive)


def checksum_state(data: bytes) -> str:
    """``"ok"``, ``"none"`` (a file written without a checksum: by an earlier version, or by hand) or
    ``"bad"`` (it has the checksum's tag but the bytes do not match it)."""
    tail = data[-(_SUM_LEN + 2) :]
    if (
        len(tail) == _SUM_LEN + 2
        and tail[:2] == _SUM_LEN.to_bytes(2, "little")
        and tail[2:].startswith(_SUM_TAG)
    ):
        body, digest = data[: -(_SUM_LEN + 2)], tail[2 + len(_SUM_TAG) :]
        return "ok" if hashlib.sha256(body).hexdigest().encode() == digest else "bad"
    return "bad" if _SUM_TAG in data[-(_SUM_LEN + 64) :] else "none"


def read_checked_npz(path, *, what: str, require_checksum: bool = False, keys=None) -> dict:
    """Every array of an ``.npz`` file, read whole and checked; :class:`CorruptFile` for anything else.

    Parameters
    ----------
    path : path
    what : str
        What the file should be, for the message ("an indrnn-np checkpoint").
    require_checksum : bool
        Refuse a file without the checksum :func:`npz_bytes` adds (else such a file, of an earlier
        version, is read with the zip format's own CRC checks only).
    keys : iterable of str, optional
        Read only these members (those present).

    Returns
    -------
    dict
        ``{name: ndarray}``, plus ``"__checksum__"``: ``"ok"`` or ``"none"``.

    Raises
    ------
    FileNotFoundError
        No file there.
    CorruptFile
        A checksum that does not match, a truncated or damaged archive (every error of the zip and
        NumPy layers: bad CRC, bad headers, unknown compression, pickled data, ...), a single
        ``.npy`` array; the message names the file and says it is not ``what``.
    """
    import numpy as np

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise CorruptFile(f"{path}: a folder, not {what}") from None
    except OSError as exc:
        raise CorruptFile(f"{path}: cannot be read ({reason(exc)})") from None
    state = checksum_state(data)
    if state == "bad":
        raise CorruptFile(f"{path}: damaged (its checksum does not match its bytes): not {what}")
    if state == "none" and require_checksum:
        raise CorruptFile(f"{path}: damaged or not {what} (no checksum)")
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single array (.npy), not an archive of named arrays")
        with npz:
            names = npz.files if keys is None else [k for k in keys if k in npz.files]
            out = {k: npz[k] for k in names}
    except Exception as exc:  # noqa: BLE001 - every zip/NumPy-level failure of a damaged file is one line
        detail = "it holds Python objects, which it never should" if "pickle" in str(exc) else _short(exc)
        raise CorruptFile(f"{path}: damaged or not {what} ({detail})") from None
    out["__checksum__"] = state
    return out


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:80]}" if text else type(exc).__name__


def png_complete(path) -> bool:
    """True when ``path`` is a whole, undamaged PNG file: its signature, then chunks whose CRC-32s all
    match, the last one IEND (a kill mid-write or a flipped bit fails it)."""
    import struct
    import zlib

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        if end + 4 > len(data):
            return False
        (crc,) = struct.unpack(">I", data[end : end + 4])
        if zlib.crc32(data[pos + 4 : end]) & 0xFFFFFFFF != crc:
            return False
        if kind == b"IEND":
            return end + 4 == len(data)
        pos = end + 4
    return False


def save_figure(fig, path, **kw) -> None:
    """``fig.savefig`` through :func:`atomic_write`: a kill mid-save leaves the previous image whole.

    The format is the file name's (``png`` when it has none).
    """
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, **kw)
    data = buf.getvalue()
    atomic_write(path, lambda fh: fh.write(data))


def write_text(path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` (UTF-8) atomically (:func:`atomic_write`)."""
    data = text.encode()
    atomic_write(path, lambda fh: fh.write(data), exclusive=exclusive)


__all__ = [
    "CorruptFile",
    "FileWriteError",
    "append_line",
    "atomic_write",
    "npz_bytes",
    "png_complete",
    "read_checked_npz",
    "reason",
    "remove_stale_temps",
    "save_figure",
    "write_checked_npz",
    "write_error",
    "write_text",
    "FolderBusy",
    "FolderLock",
]


# --------------------------------------------------------------------------
# One writer per folder
# --------------------------------------------------------------------------


class FolderBusy(UserError):
    """Another live process holds the folder's lock.

    Attributes
    ----------
    holder : dict
        What the holder wrote in the lock file (``pid``, ``command``, ``started``); empty when it
        had not written it yet.
    """

    def __init__(self, message: str, holder: dict):
        super().__init__(message)
        self.holder = holder


def _describe_holder(holder: dict) -> str:
    if not holder.get("pid"):
        return "another process"
    text = f"process {holder['pid']}"
    extra = [v for v in (holder.get("command"), holder.get("started") and f"since {holder['started']}") if v]
    return text + (f" ({', '.join(extra)})" if extra else "")


class FolderLock:
    """An operating-system lock on a folder (``fcntl.flock`` of its file ``.lock``): one writer at a time.

    The lock dies with its process, so a killed writer never blocks the folder: the next writer
    takes it over and :meth:`acquire` says so. The file names the holder (pid, command line, start
    time) for the message a second writer gets, and is removed on :meth:`release`.

    Parameters
    ----------
    folder : path
        An existing folder.
    """

    NAME = ".lock"

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / self.NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> str | None:
        """Take the lock; return a one-line notice when it was left by a process that died holding it.

        Raises
        ------
        FolderBusy
            A live process holds it (its description in the message).
        FileWriteError
            The lock file cannot be created (a read-only folder).
        """
        if self._fd is not None:
            raise RuntimeError(f"{self.path}: already held by this object")
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
            except OSError as exc:
                raise write_error(self.path, exc) from None
            if not _try_lock(fd):
                holder = _read_holder(fd)
                for _ in range(40):  # the holder writes who it is just after it locks: give it 2 s
                    if holder.get("pid"):
                        break
                    time.sleep(0.05)
                    holder = _read_holder(fd)
                os.close(fd)
                raise FolderBusy(_describe_holder(holder), holder)
            try:  # the file we locked is still the folder's (a releasing holder unlinks it)
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        previous = _read_holder(fd)
        me = {"pid": os.getpid(), "command": _command_line(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(me).encode())
        except OSError:
            pass  # the lock holds without its description
        self._fd = fd
        if previous.get("pid") and previous.get("pid") != os.getpid():
            return (
                f"{self.folder}: took over the lock of {_describe_holder(previous)}, which ended without "
                "releasing it (killed?)"
            )
        return None

    @classmethod
    def live_holder(cls, folder) -> str | None:
        """The description of a live process holding ``folder``'s lock, or None; reads only (a lock
        file whose process is gone, or none, is None)."""
        try:
            with open(Path(folder) / cls.NAME, "rb") as fh:
                holder = json.loads(fh.read(4096) or b"{}")
        except (OSError, ValueError):
            return None
        pid = holder.get("pid") if isinstance(holder, dict) else None
        if not isinstance(pid, int) or pid == os.getpid() or not _alive(pid):
            return None
        return _describe_holder(holder)

    def release(self) -> None:
        """Remove the lock file and drop the lock (nothing when not held)."""
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


def _command_line() -> str:
    """This process' command as its user typed it: ``python -m indrnn_np train ...`` for the command
    line (whose ``sys.argv[0]`` is the package's ``__main__.py``), else the script and its arguments."""
    argv = list(sys.argv) or ["python"]
    first = Path(argv[0])
    if first.name == "__main__.py":
        argv[0] = f"python -m {first.parent.name}"
    elif argv[0] in ("-c", ""):
        argv[0] = "python -c ..."
    else:
        argv[0] = first.name
    return " ".join(argv)[:200]


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096)
        holder = json.loads(text) if text else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}
