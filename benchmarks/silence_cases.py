"""The "nothing silent" cases of issue 31, each run in a fresh process, one line of outcome each.

Run it against any checkout to compare versions (the package is imported from the current
directory first)::

    python benchmarks/silence_cases.py            # this checkout
    git worktree add /tmp/old 28d01f3 && (cd /tmp/old && python /path/to/benchmarks/silence_cases.py)

Each case prints ``name: outcome``; the outcome is what a user would see (the last line of an
error, or what the state is afterwards).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap

CASES = {
    "refused refit keeps classes_": """
        import numpy as np
        from indrnn_np import IndRNNClassifier
        from indrnn_np.tasks.arrays import marker_sequences
        X, y = marker_sequences(80, min_length=5, max_length=20)
        clf = IndRNNClassifier(hidden=8, layers=1, steps=10).fit(X, np.array(["walk", "run", "sit", "stand"])[y])
        bad = [s.copy() for s in X]; bad[0][1, 0] = np.nan
        try:
            clf.fit(bad, np.array(["a", "b", "c", "d"])[y])
        except ValueError:
            pass
        print("classes_ after the refused fit:", list(clf.classes_), "predict:", list(clf.predict(X[:3])))
    """,
    "changed lr, same run_dir": """
        from indrnn_np import IndRNNClassifier
        from indrnn_np.tasks.arrays import marker_sequences
        X, y = marker_sequences(80, min_length=5, max_length=20)
        IndRNNClassifier(hidden=8, layers=1, steps=10, run_dir=D + "/r").fit(X, y)
        try:
            c = IndRNNClassifier(hidden=8, layers=1, steps=20, lr=3e-3, activation="tanh", run_dir=D + "/r").fit(X, y)
            print("fitted; config_ says lr", c.config_.lr, "activation", c.config_.activation)
        except Exception as e:
            print(type(e).__name__ + ":", e)
    """,
    "changed random_state, same run_dir": """
        from indrnn_np import IndRNNClassifier
        from indrnn_np.tasks.arrays import marker_sequences
        X, y = marker_sequences(80, min_length=5, max_length=20)
        IndRNNClassifier(hidden=8, layers=1, steps=10, run_dir=D + "/r").fit(X, y)
        try:
            IndRNNClassifier(hidden=8, layers=1, steps=20, random_state=1, run_dir=D + "/r").fit(X, y)
            print("fitted")
        except Exception as e:
            print(type(e).__name__ + ":", e)
    """,
    "two writers, one folder": """
        import subprocess, sys
        cmd = [sys.executable, "-m", "indrnn_np", "train", "adding", "--T", "10", "--hidden", "8", "--steps",
               "400", "--quiet", "--out", D + "/d"]
        ps = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in "ab"]
        out = [(p.wait(), p.stderr.read().strip().splitlines()) for p in ps]
        print("; ".join(f"exit {c}: {e[-1] if e else 'ok'}" for c, e in out))
    """,
    "foreign checkpoint copied in": """
        import shutil, subprocess, sys
        run = lambda *a: subprocess.run([sys.executable, "-m", "indrnn_np", "train", "adding", *a],
                                        capture_output=True, text=True)
        run("--T", "10", "--hidden", "8", "--steps", "20", "--eval-every", "5", "--quiet", "--out", D + "/a")
        run("--T", "10", "--hidden", "6", "--steps", "10", "--eval-every", "5", "--quiet", "--out", D + "/b")
        shutil.copy(D + "/b/checkpoint.npz", D + "/a/checkpoint.npz")
        p = run("--resume", D + "/a", "--steps", "30", "--quiet")
        lines = open(D + "/a/metrics.csv").read().splitlines()
        print(f"exit {p.returncode}: {(p.stderr.strip().splitlines() or ['ok'])[-1][:160]}; metrics rows {len(lines) - 1}")
    """,
    "file-size limit mid-run": """
        import resource, subprocess, sys
        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        args = [sys.executable, "-m", "indrnn_np", "train", "adding", "--T", "10", "--hidden", "32", "--steps",
                "20", "--eval-every", "5", "--checkpoint-every", "10", "--quiet"]
        subprocess.run([*args, "--out", D + "/warm"], capture_output=True)  # Numba's cache first
        p = subprocess.run([*args, "--out", D + "/d"], capture_output=True, text=True, preexec_fn=limit)
        err = p.stderr.strip().splitlines()
        print(f"exit {p.returncode}, {len(err)} line(s) on stderr: {err[-1][:200] if err else ''}")
    """,
    "kill inside a checkpoint write": """
        import os, signal, subprocess, sys
        hook = "\\n".join([
            "import os, signal, sys",
            "calls = [0]",
            "real = os.fsync",
            "def fsync(fd):",
            "    real(fd)",
            "    calls[0] += 1",
            "    if calls[0] == 4:",
            "        os.kill(os.getpid(), signal.SIGKILL)",
            "os.fsync = fsync",
            "from indrnn_np.cli import main",
            "sys.exit(main(sys.argv[1:]))",
        ])
        args = ["train", "adding", "--T", "10", "--hidden", "8", "--steps", "40", "--checkpoint-every", "3",
                "--eval-every", "5", "--quiet", "--out", D + "/d"]
        subprocess.run([sys.executable, "-c", hook, *args], capture_output=True)
        left = sorted(n for n in os.listdir(D + "/d") if n.endswith(".tmp"))
        subprocess.run([sys.executable, "-m", "indrnn_np", "train", "adding", "--resume", D + "/d", "--quiet"],
                       capture_output=True)
        after = sorted(n for n in os.listdir(D + "/d") if n.endswith(".tmp"))
        print(f"temporary files left by the kill: {len(left)}; after --resume to the end: {len(after)}")
    """,
    "damaged checkpoint, resume": """
        import subprocess, sys
        run = lambda *a: subprocess.run([sys.executable, "-m", "indrnn_np", *a], capture_output=True, text=True)
        run("train", "adding", "--T", "10", "--hidden", "8", "--steps", "20", "--quiet", "--out", D + "/a")
        data = bytearray(open(D + "/a/checkpoint.npz", "rb").read())
        data[-30] ^= 0x10  # inside the zip's central directory / end record
        open(D + "/a/checkpoint.npz", "wb").write(bytes(data))
        p = run("train", "adding", "--resume", D + "/a", "--steps", "30")
        err = p.stderr.strip().splitlines()
        print(f"exit {p.returncode}, {len(err)} line(s): {err[-1][:160] if err else 'loaded'}")
    """,
    "stateful bidirectional": """
        from indrnn_np.nn import build_indrnn, set_stateful
        m = build_indrnn(10, 2, 1, hidden=4, layers=1, bidirectional=True)
        try:
            set_stateful(m, 3)
            print("accepted")
        except ValueError as e:
            print("ValueError:", e)
    """,
}


def main() -> int:
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for name, code in CASES.items():
        with tempfile.TemporaryDirectory() as d:
            src = f"D = {d!r}\n" + textwrap.dedent(code)
            p = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, env=env, cwd=d)
            out = (p.stdout.strip().splitlines() or p.stderr.strip().splitlines() or ["(nothing)"])[-1]
            print(f"{name}: {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
