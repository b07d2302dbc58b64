"""What the C allocator keeps of freed arrays: the command line's policy (glibc only).

NumPy takes its arrays' memory from the C library's ``malloc``. glibc gives an
allocation of at least ``M_MMAP_THRESHOLD`` bytes its own mapping, handed back to
the system when freed, and serves smaller ones from its heap, whose freed chunks
it keeps for reuse. By default that threshold moves: each time a mapped array is
freed it rises to that array's size (up to 32 MiB), and the heap's top is given
back only once more than twice that is free there. A training step frees many
arrays of a few MB (batch norm's and dropout's, the gradients the optimizer
reads once), so after the first such free they all come from the heap, and the
heap keeps what it cannot give back. Measured 2026-12-07 (``python
benchmarks/memory_rss.py``, 2 steps and an evaluation each): the bidirectional
run with batch norm peaked at 1385 MiB and the frame-wise batch-norm MNIST run
at 1196 MiB with glibc's defaults, against 1338 and 1085 MiB under this policy;
the memory estimate (:mod:`indrnn_np.train.memory`) came within 0.97-1.05 of
every one of its seven configurations' peaks only under it.

So the command line (:func:`indrnn_np.cli.main`) fixes both thresholds before a
command runs (:func:`apply_policy`): arrays of :data:`indrnn_np.config.MALLOC_MMAP_BYTES`
(1 MiB) and more get their own mapping, given back when freed, and at most
:data:`indrnn_np.config.MALLOC_TRIM_BYTES` (16 MiB) stays free at the heap's top.
The arrays the work-array pool keeps (:mod:`indrnn_np.ops.buffers`) are kept, as
before; those freed come back from the system on fresh pages. Measured on the
same runs' training steps, page faults a step with the policy against without
it: 0.6 against 0.4 (adding, T = 1000: its work arrays are all the pool's) and
2,878 against 3,679 (bidirectional with batch norm: its freed arrays of 1 MiB and
more come back on fresh pages under the policy, but under glibc's defaults the
heap's top, given back and taken again, faulted more). Whole commands, timed with
``farm-bench`` in alternating pairs on the 2-core machine (2026-12-08): the README's
quick start (``train adding``) took as long with the policy as without (wall 0.99 of
it, 3 pairs); a bidirectional batch-norm run (``train adding --T 1000 --bidirectional
--bn time --steps 40``) took 1.05 of it (pairs 0.97-1.13, 4 pairs), its system time
5.6 s against 4.1 s (the mappings made and given back), at a peak of 1339 MiB
against 1386 MiB.

Only the command line applies it: it changes the whole process, so a library
call (:func:`indrnn_np.train.train`, the estimators) leaves a user's process as
it is. Where glibc's own settings of either threshold are in the environment
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, or their entries of
``GLIBC_TUNABLES``), they are left as set, whatever their value; and
``INDRNN_MALLOC_POLICY=0`` (:func:`indrnn_np.config.malloc_policy`) keeps glibc's
defaults. Elsewhere than glibc (macOS, musl) nothing is done. ``train ... --dry-run``
prints what was done (the line ``allocator: ...``), and the memory estimate is made
for the policy: without it, a run's peak may be a few percent above it.
"""

from __future__ import annotations

import ctypes
import os

from . import config

#: glibc's ``mallopt`` parameters (``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: What :func:`apply_policy` did in this process (None: not asked).
_APPLIED: list[str] = []


def _glibc():
    """The C library as a ctypes handle where it is glibc, else None."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (ValueError, OSError, AttributeError):  # no such name on this system
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def _set_by_user() -> list[str]:
    """glibc's own settings of the two thresholds in the environment, as ``NAME=value``: the old
    variables and the ``GLIBC_TUNABLES`` entries (``glibc.malloc.mmap_threshold``, ``...trim_threshold``)."""
    said = [
        f"{n}={os.environ[n]}"
        for n in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
        if n in os.environ
    ]
    for entry in os.environ.get("GLIBC_TUNABLES", "").split(":"):
        if entry.split("=")[0].strip() in ("glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold"):
            said.append(f"GLIBC_TUNABLES {entry.strip()}")
    return said


def apply_policy() -> str:
    """Fix glibc's mapping and trim thresholds for this process (see the module's docstring).

    Returns
    -------
    str
        What was done: ``"applied: ..."`` with both thresholds, or why not (``"off: ..."``,
        ``"left as set: ..."``, ``"not glibc"``, ``"refused by mallopt"``). A second call does
        nothing more and returns the first call's answer.
    """
    if _APPLIED:
        return _APPLIED[0]
    if not config.malloc_policy():
        said = "off: INDRNN_MALLOC_POLICY=0"
    elif set_by_user := _set_by_user():
        said = "left as set: " + ", ".join(set_by_user)
    elif (libc := _glibc()) is None:
        said = "not glibc"
    else:
        mmap_ok = libc.mallopt(M_MMAP_THRESHOLD, config.MALLOC_MMAP_BYTES)
        trim_ok = libc.mallopt(M_TRIM_THRESHOLD, config.MALLOC_TRIM_BYTES)
        if mmap_ok == 1 and trim_ok == 1:
            said = (
                f"applied: arrays of {config.MALLOC_MMAP_BYTES >> 10} KiB and more mapped on their own, "
                f"at most {config.MALLOC_TRIM_BYTES >> 20} MiB kept free at the heap's top"
            )
        else:
            said = "refused by mallopt"
    _APPLIED.append(said)
    return said


def policy() -> str | None:
    """What :func:`apply_policy` did in this process, or None when it was not called."""
    return _APPLIED[0] if _APPLIED else None
