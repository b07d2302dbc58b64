"""Plain-text output shared by the commands: Markdown tables and JSON files checked before the work."""

from __future__ import annotations

import errno
import json
import os
import tempfile

from .errors import UserError
from .files import FileWriteError, write_text


class OutputError(UserError):
    """An output path that cannot be written (a one-line error on the command line)."""


def format_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """``rows`` as a Markdown table; ``columns`` are (key, header, format). A missing value prints as —."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, rule]
    for r in rows:
        cells = ["—" if r.get(key) is None else format(r[key], fmt) for key, _, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_writable_file(path) -> None:
    """Raise OutputError unless ``path`` can be created or overwritten (checked before a long job).

    Nothing is left behind: the folder is tried with a temporary file that is removed at once, an
    existing file is opened for appending and closed unchanged.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"cannot write {path}: a folder is in the way")
    if not os.path.isdir(folder):
        what = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise OutputError(f"cannot write {path}: the folder {folder} {what}")
    try:
        if os.path.exists(path):
            with open(path, "ab"):
                pass
        else:
            _try_folder(folder)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def check_writable_dir(path) -> None:
    """Raise OutputError unless the folder ``path`` exists and is writable, or can be created.

    Checked before any work and without leaving anything behind. A missing folder is not created
    here (:func:`make_dir` creates it when the output is written): the check writes a temporary
    file into the nearest folder that exists, so a second process checking or creating the same
    folder at the same moment sees nothing of this one. A name too long for the file system is
    refused here too, since creating it would fail the same way.
    """
    if not os.fspath(path):
        raise OutputError("cannot write into '': the output folder's path is empty")
    path = os.path.abspath(os.fspath(path))
    for _ in range(50):  # another process may create or remove a folder on the path meanwhile
        missing, existing = [], path
        while not os.path.lexists(existing):
            missing.append(existing)
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            if not os.path.lexists(existing):
                continue  # removed between the two looks: look again
            raise OutputError(
                f"cannot create the folder {path}: {existing} is a file, not a folder"
                if missing
                else f"cannot write into {path}: it is a file, not a folder"
            )
        try:
            max_name = os.pathconf(existing, "PC_NAME_MAX")
        except (OSError, ValueError):
            max_name = 255
        for folder in missing:
            name = os.path.basename(folder)
            if len(os.fsencode(name)) > max_name:
                raise OutputError(f"cannot create the folder {path}: the name {name!r} is too long")
        try:
            _try_folder(existing)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not os.path.isdir(existing):
                continue  # the folder went away between looking and writing: look again
            what = "create the folder" if missing else "write into the folder"
            raise OutputError(f"cannot {what} {path}: {exc.strerror or exc}") from None
        return
    raise OutputError(f"cannot write into {path}: another process keeps creating and removing it")


def make_dir(path) -> None:
    """Create the folder ``path`` (and its parents) when output is about to be written; OutputError if it cannot be."""
    try:
        path = os.path.abspath(os.fspath(path))
        missing, folder = [], path
        while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
            missing.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(missing):
            _mkdir_raced(folder)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {path}: {exc.strerror or exc}") from None


def _mkdir_raced(folder, tries: int = 50) -> bool:
    """Create ``folder`` unless it is there; True when this call created it.

    Safe against a second process or thread doing the same at once, including one whose
    :func:`check_writable_dir` creates the folder for a moment and removes it again: a folder that
    exists when ``mkdir`` looks and is gone when ``isdir`` looks is tried again, where
    ``os.makedirs(exist_ok=True)`` would raise "File exists".
    """
    for _ in range(tries):
        try:
            os.mkdir(folder)
            return True
        except FileExistsError:
            if os.path.isdir(folder):
                return False
            if os.path.lexists(folder):  # a file, a link to nothing: a real refusal
                raise
    raise FileExistsError(errno.EEXIST, "another process keeps creating and removing it", folder)


def _try_folder(folder) -> None:
    """Create and remove a file in ``folder``: the one test of writing that also holds for root and
    read-only file systems (``os.access`` says yes to root on /proc)."""
    with tempfile.TemporaryFile(dir=folder):
        pass


def write_json(obj, path) -> None:
    """Write ``obj`` as indented JSON; OutputError (one line) when the file cannot be written."""
    try:
        write_text(path, json.dumps(obj, indent=2))
    except FileWriteError as exc:
        raise OutputError(str(exc)) from None
