"""The command line's allocator policy (:mod:`indrnn_np.allocator`): what it does, and when not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from indrnn_np import allocator

GLIBC = allocator._glibc() is not None

#: A child that frees 80 MiB of 2 MiB arrays, each followed by a small array it keeps (so that the
#: freed ones are holes between live chunks, not a free top of the heap), after one 4 MiB array
#: freed first (under glibc's defaults that raises the mapping threshold to 4 MiB, so the 2 MiB
#: arrays come from the heap), and prints how much of the 80 MiB the process still holds, in MiB.
CHILD = """
import json, sys
import numpy as np
from indrnn_np import allocator

said = allocator.apply_policy() if sys.argv[1] == "policy" else None

def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024

big = np.ones(4 << 18)  # 4 MiB
del big
arrays, pins = [], []
for _ in range(40):
    arrays.append(np.ones(2 << 17))  # 2 MiB, touched
    pins.append(np.ones(25_000))  # 200 KB, kept
full = rss()
del arrays
print(json.dumps({"said": said, "kept_mib": rss() - (full - 80)}))
"""


def _child(mode, **env):
    """Run CHILD with glibc's own tunables unset, and ``env`` on top."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "INDRNN_MALLOC_POLICY"
    }
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


@pytest.mark.skipif(not GLIBC, reason="the policy applies to glibc only")
def test_freed_arrays_go_back_to_the_system_under_the_policy_and_stay_without_it():
    without, under = _child("defaults"), _child("policy")
    assert under["said"].startswith("applied: arrays of 1024 KiB and more"), under
    assert without["kept_mib"] > 60, without  # glibc's defaults keep the freed arrays in the heap
    assert under["kept_mib"] < 8, under  # the policy gives them back


@pytest.mark.parametrize(
    "env, said",
    [
        ({"INDRNN_MALLOC_POLICY": "0"}, "off: INDRNN_MALLOC_POLICY=0"),
        ({"MALLOC_MMAP_THRESHOLD_": "65536"}, "left as set: MALLOC_MMAP_THRESHOLD_=65536"),
        ({"MALLOC_TRIM_THRESHOLD_": "0"}, "left as set: MALLOC_TRIM_THRESHOLD_=0"),
        (
            {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072"},
            "left as set: GLIBC_TUNABLES glibc.malloc.mmap_threshold=131072",
        ),
        ({"INDRNN_MALLOC_POLICY": ""}, None),  # empty: as unset, the default (on)
    ],
)
def test_the_policy_is_left_off_when_asked_or_when_glibc_is_tuned_already(env, said):
    got = _child("policy", **env)["said"]
    if said is None:
        assert got.startswith("applied: ") if GLIBC else got == "not glibc"
    else:
        assert got == said


def test_a_bad_switch_does_not_stop_the_library_which_never_reads_it():
    """Only the command line applies the policy: a typo in it is the command's error, not the library's."""
    code = "from indrnn_np import indrnn_forward, IndRNNClassifier; import indrnn_np.cli; print('ok')"
    env = {**os.environ, "INDRNN_MALLOC_POLICY": "yes"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_the_dry_run_says_what_was_done(tmp_path, capsys, monkeypatch):
    from indrnn_np import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(allocator, "_APPLIED", ["applied: as a test says"])
    monkeypatch.setattr(allocator, "apply_policy", lambda: allocator._APPLIED[0])
    assert cli.main(["train", "adding", "--T", "20", "--dry-run"]) == 0
    assert "\nallocator: applied: as a test says\n" in capsys.readouterr().out


def test_a_bad_switch_is_the_commands_error_naming_it(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "indrnn_np", "exercises", str(tmp_path / "ex")],
        env={**os.environ, "INDRNN_MALLOC_POLICY": "yes"},
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2, r
    assert r.stderr.strip().splitlines() == [
        "error: INDRNN_MALLOC_POLICY must be 1 (on) or 0 (off); got 'yes'"
    ]
    assert not (tmp_path / "ex").exists()  # refused before the command ran


def test_the_command_line_applies_it_before_the_command(monkeypatch, tmp_path):
    from indrnn_np import cli

    calls = []
    monkeypatch.setattr(allocator, "apply_policy", lambda: calls.append("policy") or "applied: test")
    assert cli.main(["exercises", str(tmp_path)]) == 0
    assert calls == ["policy"]
    assert (tmp_path / "indrnn_exercises.py").is_file()
