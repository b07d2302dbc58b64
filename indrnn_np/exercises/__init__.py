"""Layer 5: exercises the project grades, ``python -m indrnn_np exercises DIR`` and ``check FILE``.

:func:`write_exercises` writes the learner's file (:data:`~.template.FILE_NAME`): five functions of
IndRNN with their docstrings (shapes, the paper's equations) and their bodies left blank: the forward
pass of Eq. 2, BPTT, the projection of u, centred finite differences, and the composition of two
clamped affine maps of the scan over time. :func:`check_file` imports the learner's file and grades
each function against the project's own code (:mod:`.grader`): passed, not done yet, or what is wrong
with a hint naming the usual mistake that explains it. :func:`check_report` is the command's text.

The pieces: :mod:`.template` (the file), :mod:`.grader` (the reference calls, the cases, the usual
mistakes and their hints), :mod:`.solutions` (worked solutions, which the tests fill in).
"""

from __future__ import annotations

import textwrap
import types
from pathlib import Path

from ..errors import UserError
from .grader import TIME_LIMIT, Grade, grade_each, grade_functions
from .template import EXERCISES, FILE_NAME, template_text


class ExercisesError(UserError):
    """A learner's file that cannot be imported, or a folder the exercises cannot be written to."""


def write_exercises(folder) -> Path:
    """Write the learner's file, ``FOLDER/indrnn_exercises.py``, with every body blank.

    The folder is created if needed; an existing file is never replaced (a learner's answers may be
    in it), even by a second process racing this one.

    Parameters
    ----------
    folder : path
        Where to write it.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ExercisesError
        The file exists already, or ``folder`` is a file.
    FileWriteError
        The disk or the folder refused the write.
    """
    from ..files import write_error, write_text

    folder = Path(folder)
    path = folder / FILE_NAME
    if folder.exists() and not folder.is_dir():
        raise ExercisesError(f"{folder} is a file: give a folder for the exercises")
    if path.exists():
        raise ExercisesError(
            f"{path} exists: exercises never overwrites a file (your answers may be in it); give another "
            f"folder, or check it with: python -m indrnn_np check {path}"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(folder, exc) from None
    try:
        write_text(path, template_text(), exclusive=True)
    except FileExistsError:
        raise ExercisesError(
            f"{path} exists: exercises never overwrites a file; give another folder"
        ) from None
    return path


def written_text(path) -> str:
    """What ``python -m indrnn_np exercises DIR`` prints once it wrote ``path``: the functions, and the
    command that grades them."""
    width = max(len(ex.name) for ex in EXERCISES)
    return "\n".join(
        [
            f"wrote {path}: {len(EXERCISES)} functions to fill in",
            *(f"  {ex.number}. {ex.name:<{width}}  {ex.what}" for ex in EXERCISES),
            f"fill in their bodies, then grade them (as often as you like): python -m indrnn_np check {path}",
        ]
    )


def load_learner_file(path) -> dict:
    """Import the learner's file and return its five functions by name (the missing ones left out).

    Raises
    ------
    ExercisesError
        No such file, not UTF-8 text, a syntax error, or an error while importing it: one line
        naming the file and its line.
    """
    path = Path(path)
    if not path.exists():
        raise ExercisesError(f"{path}: no such file (python -m indrnn_np exercises DIR writes one)")
    if not path.is_file():
        raise ExercisesError(f"{path} is not a file: give the exercises' .py file")
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ExercisesError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ExercisesError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise ExercisesError(
            f"{path}, line {exc.lineno}: {type(exc).__name__}: {exc.msg}; fix it and check again"
        ) from None
    module = types.ModuleType("indrnn_exercises_learner")
    module.__file__ = str(path)
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:  # the learner's module-level code, whatever it raised
        from .grader import line_in_file

        text = " ".join(str(exc).split())
        raise ExercisesError(
            f"{path}: importing it raised {type(exc).__name__}: {text}{line_in_file(exc, str(path))}"
        ) from None
    return {ex.name: module.__dict__[ex.name] for ex in EXERCISES if ex.name in module.__dict__}


def check_file(path, *, seed: int = 0, time_limit: float | None = TIME_LIMIT) -> list[Grade]:
    """Grade every function of the learner's file against the project's own code.

    Parameters
    ----------
    path : path
        The learner's file.
    seed : int
        Seed of the cases' shapes and values.
    time_limit : float or None
        Seconds each function may run, all its cases together (default 60); past it, it fails. None:
        no limit. Only on Unix, in the main thread (SIGALRM); elsewhere no limit applies.

    Returns
    -------
    list of Grade
        One per exercise, in order.

    Raises
    ------
    ExercisesError
        The file cannot be imported (:func:`load_learner_file`).
    """
    functions = load_learner_file(path)
    return grade_functions(functions, seed=seed, path=str(Path(path)), time_limit=time_limit)


_STATUS = {"passed": "passed", "failed": "FAILED", "not done": "not done yet", "missing": "MISSING"}


def check_report(
    path, *, seed: int = 0, width: int = 100, time_limit: float | None = TIME_LIMIT, out=None
) -> tuple[str, int]:
    """What ``python -m indrnn_np check FILE`` prints, and its exit status.

    Parameters
    ----------
    path : path
        The learner's file.
    seed : int
        Seed of the cases' shapes and values.
    width : int
        Width the entries are wrapped to.
    time_limit : float or None
        Seconds each function may run (:func:`check_file`).
    out : callable, optional
        Called with each piece of the text as soon as it is known: the header once the file is
        imported, then each function's entry once it is graded, then the summary line.

    Returns
    -------
    (text, status) : (str, int)
        One entry per function (passed with its cases, or what is wrong and a hint), then a
        summary line; status 0 when every function passed, else 1.

    Raises
    ------
    ExercisesError
        The file cannot be imported (nothing was passed to ``out``).
    KeyboardInterrupt
        Ctrl-C, naming the function being graded (what was known is already passed to ``out``).
    """
    functions = load_learner_file(path)
    pieces = []

    def emit(text: str) -> None:
        pieces.append(text)
        if out is not None:
            out(text)

    emit(f"checking {path} (seed {seed}) against the project's own code")
    name_width = max(len(ex.name) for ex in EXERCISES)
    indent = " " * (name_width + 5)
    grades = []
    for g in grade_each(functions, seed=seed, path=str(Path(path)), time_limit=time_limit):
        grades.append(g)
        head = f"{g.number}. {g.name:<{name_width}}  {_STATUS[g.status]}"
        if g.status == "not done":
            emit(head)
            continue
        lines = textwrap.wrap(f"{head}: {g.message}", width, subsequent_indent=indent, break_on_hyphens=False)
        if g.hint:
            lines += textwrap.wrap(
                f"hint: {g.hint}",
                width,
                initial_indent=indent,
                subsequent_indent=indent + "      ",
                break_on_hyphens=False,
            )
        emit("\n".join(lines))
    counts = {s: sum(g.status == s for g in grades) for s in _STATUS}
    summary = [f"{counts['passed']} passed"]
    summary += [f"{counts['failed']} failed"] if counts["failed"] else []
    summary += [f"{counts['not done']} not done yet"] if counts["not done"] else []
    summary += [f"{counts['missing']} missing"] if counts["missing"] else []
    emit(", ".join(summary) + ("" if counts["passed"] < len(grades) else ": all done"))
    return "\n".join(pieces), 0 if counts["passed"] == len(grades) else 1


__all__ = [
    "EXERCISES",
    "FILE_NAME",
    "ExercisesError",
    "Grade",
    "TIME_LIMIT",
    "check_file",
    "check_report",
    "load_learner_file",
    "write_exercises",
    "written_text",
]
