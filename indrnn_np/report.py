"""Plain-text output shared by the commands: Markdown tables and JSON files checked before the work."""

from __future__ import annotations

import json
import os

from .errors import UserError


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
    """Raise OutputError unless ``path`` can be created or overwritten (checked before a long job)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"cannot write {path}: a folder is in the way")
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise OutputError(f"cannot write {path}: permission denied")


def check_writable_dir(path) -> None:
    """Create the folder ``path`` if needed; OutputError when it cannot be created or written."""
    path = os.fspath(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise OutputError(f"the folder {path} is not writable")


def write_json(obj, path) -> None:
    """Write ``obj`` as indented JSON; OutputError (one line) when the file cannot be written."""
    try:
        with open(path, "w") as fh:
            json.dump(obj, fh, indent=2)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
