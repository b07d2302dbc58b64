"""The exercises: ``exercises DIR`` writes the learner's file, ``check FILE`` grades it.

The worked solutions filled into the template pass every exercise; each usual mistake, seeded by
changing one or two lines of a solution as a learner would write it, fails with its own hint; a blank
file is "not done yet" throughout; a file that cannot be imported is one line, exit status 2; an
existing file is never overwritten.
"""

import re

import numpy as np
import pytest

from indrnn_np.cli import main
from indrnn_np.exercises import FILE_NAME, check_file, check_report, grader, write_exercises
from indrnn_np.exercises.solutions import solution_bodies, solved_text
from indrnn_np.exercises.template import EXERCISES, template_text

NAMES = [ex.name for ex in EXERCISES]


def _with_mistake(function: str, *replacements) -> str:
    """The solved file with ``(old, new)`` line edits in one function's body."""
    bodies = solution_bodies()
    for old, new in replacements:
        assert old in bodies[function], old  # the seeded mistake must change the solution
        bodies[function] = bodies[function].replace(old, new)
    return template_text(bodies)


def _statuses(grades):
    return {g.name: g.status for g in grades}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_worked_solutions_pass_every_exercise(tmp_path, seed):
    path = tmp_path / "solved.py"
    path.write_text(solved_text())
    grades = check_file(path, seed=seed)
    assert [g.name for g in grades] == NAMES
    assert all(g.status == "passed" for g in grades), [g for g in grades if g.status != "passed"]
    text, status = check_report(path, seed=seed)
    assert status == 0 and text.endswith("5 passed: all done")
    # exercise 2 is checked against finite differences too, and says how close they came
    backward = next(g for g in grades if g.name == "indrnn_backward")
    fd = float(re.search(r"finite differences in float64 agree to (\S+)$", backward.message).group(1))
    assert fd < 1e-6


#: (id, function, [(old line, new line), ...], the hint's words).
MISTAKES = [
    (
        "relu-mask-forgotten",
        "indrnn_backward",
        [("da = g * (h[t] > 0)", "da = g")],
        "the ReLU mask is missing or masks nothing",
    ),
    (
        "du-not-summed-over-batch",
        "indrnn_backward",
        [("du += (da * h_prev).sum(axis=0)", "du = du + da * h_prev")],
        "du not summed over the batch",
    ),
    (
        "du-not-summed-over-time",
        "indrnn_backward",
        [("du += (da * h_prev).sum(axis=0)", "du = (da * h_prev).sum(axis=0)")],
        "du holds one step's contribution only",
    ),
    (
        "du-averaged-over-batch",
        "indrnn_backward",
        [("du += (da * h_prev).sum(axis=0)", "du += (da * h_prev).mean(axis=0)")],
        "du is averaged over the batch",
    ),
    (
        "backward-off-by-one-in-time",
        "indrnn_backward",
        [("h_prev = h[t - 1] if t > 0 else h0", "h_prev = h[t]")],
        "off by one in time: a_t = W x_t + u ⊙ h_{t-1} + b, so du sums",
    ),
    (
        "backward-h0-read-as-h[-1]",
        "indrnn_backward",
        [("h_prev = h[t - 1] if t > 0 else h0", "h_prev = h[t - 1]")],
        "at t = 0, h[t - 1] is h[-1]",
    ),
    (
        "backward-mask-h>=0",
        "indrnn_backward",
        [("da = g * (h[t] > 0)", "da = g * (h[t] >= 0)")],
        "h[t] >= 0 is true everywhere",
    ),
    (
        "backward-dh0-without-u",
        "indrnn_backward",
        [("return dx, dW, du, db, carry", "return dx, dW, du, db, da")],
        "the factor u is missing (yours is ∂J/∂a_0)",
    ),
    (
        "carry-before-the-mask",
        "indrnn_backward",
        [("carry = u * da", "carry = u * g")],
        "u ⊙ ∂J/∂a_t, after the ReLU mask",
    ),
    (
        "backward-float64-for-float32",
        "indrnn_backward",
        [("du = np.zeros_like(u)  # (N,)", "du = np.zeros(u.shape)")],
        "keep the inputs' dtype",
    ),
    (
        "forward-relu-forgotten",
        "indrnn_forward",
        [("h[t] = np.maximum(x[t] @ W + u * h_prev + b, 0)", "h[t] = x[t] @ W + u * h_prev + b")],
        "the ReLU is missing",
    ),
    (
        "forward-h0-ignored",
        "indrnn_forward",
        [("h_prev = h0  # h_{t-1} of step 0", "h_prev = np.zeros_like(h0)")],
        "h0 ignored: h_{t-1} of step 0 is the initial state h0",
    ),
    (
        "forward-off-by-one-in-time",
        "indrnn_forward",
        [("for t in range(T):", "for t in range(1, T):"), ("np.empty(", "np.zeros(")],
        "off by one in time: step t = 0 was skipped",
    ),
    (
        "projection-one-sided",
        "project_u",
        [("np.clip(u, -u_max, u_max)", "np.minimum(u, u_max)")],
        "projection one-sided",
    ),
    (
        "projection-into-0-u_max",
        "project_u",
        [("np.clip(u, -u_max, u_max)", "np.clip(u, 0, u_max)")],
        "the paper bounds |u_n|",
    ),
    (
        "projection-precedence",
        "project_u",
        [("gamma ** (1 / T)", "gamma ** 1 / T")],
        "** binds tighter than /",
    ),
    (
        "float32-gradient-check",
        "numerical_gradient",
        [("x = np.array(x, dtype=np.float64)", "x = np.array(x)")],
        "float32 gradient check: right on float64 x, wrong on float32 x",
    ),
    (
        "one-sided-difference",
        "numerical_gradient",
        [("(j_plus - j_minus) / (2 * eps)", "(j_plus - np.sum(f(x) * dout)) / eps")],
        "one-sided difference",
    ),
    (
        "difference-divided-by-eps",
        "numerical_gradient",
        [("(j_plus - j_minus) / (2 * eps)", "(j_plus - j_minus) / eps")],
        "divide by 2ε",
    ),
    (
        "x-not-restored",
        "numerical_gradient",
        [("    x[i] = old\n", "")],
        "put x[i] back after nudging it",
    ),
    (
        "composition-reversed",
        "compose",
        [
            (
                "a1, c1, lo1, hi1 = first\na2, c2, lo2, hi2 = second",
                "a1, c1, lo1, hi1 = second\na2, c2, lo2, hi2 = first",
            )
        ],
        "yours is first(second(h))",
    ),
    (
        "composition-bounds-not-swapped",
        "compose",
        [
            (
                "e1, e2 = np.where(a2 < 0, end_hi, end_lo), np.where(a2 < 0, end_lo, end_hi)",
                "e1, e2 = end_lo, end_hi",
            )
        ],
        "a negative slope a2 swaps the bounds",
    ),
    (
        "composition-intervals-intersected",
        "compose",
        [
            (
                "lo, hi = np.clip(e1, lo2, hi2), np.clip(e2, lo2, hi2)",
                "lo, hi = np.maximum(e1, lo2), np.minimum(e2, hi2)",
            )
        ],
        "clamp both ends into [lo2, hi2]",
    ),
    (
        "composition-zero-slope-nan",
        "compose",
        [
            ("end_lo = np.where(a2 == 0, c2, end_lo)", "pass"),
            ("end_hi = np.where(a2 == 0, c2, end_hi)", "pass"),
        ],
        "0 · inf is NaN",
    ),
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("function", "replacements", "hint"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_a_usual_mistake_fails_with_its_hint(tmp_path, function, replacements, hint, seed):
    path = tmp_path / FILE_NAME
    path.write_text(_with_mistake(function, *replacements))
    grades = {g.name: g for g in check_file(path, seed=seed)}
    assert grades[function].status == "failed"
    assert grades[function].hint is not None and hint in grades[function].hint, grades[function]
    assert all(g.status == "passed" for name, g in grades.items() if name != function)
    text, status = check_report(path, seed=seed)
    assert status == 1 and "4 passed, 1 failed" in text and "hint: " in text


def test_two_mistakes_at_once_say_that_no_single_usual_mistake_matches(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(
        _with_mistake(
            "indrnn_backward",
            ("da = g * (h[t] > 0)", "da = g * (h[t] >= 0)"),
            ("return dx, dW, du, db, carry", "return dx, dW, du, db, da"),
        )
    )
    grade = next(g for g in check_file(path, seed=0) if g.name == "indrnn_backward")
    assert grade.status == "failed" and grade.hint == grader.NO_MATCH, grade


def test_every_hint_is_reachable_on_the_diagnostic_cases():
    """Each mistake changes the answer on the first (diagnostic) case of its exercise, for several
    seeds: otherwise its hint could never be given (the right answer would match it too)."""
    for seed in range(4):
        rng = np.random.default_rng([seed, 1])
        case = grader._layer_cases(rng)[0]
        inp = grader._layer_inputs(case, seed)
        ref = grader.forward_reference(**inp)
        for mistake in grader.FORWARD_MISTAKES:
            assert grader._error(grader.forward_with_mistake(**inp, mistake=mistake), ref) > 1e-3, mistake
        h = ref
        dh = np.random.default_rng(seed).standard_normal(h.shape)
        args = dict(dh=dh, x=inp["x"], W=inp["W"], u=inp["u"], h0=inp["h0"], h=h)
        right = grader.backward_reference(**args)
        for mistake in grader.BACKWARD_MISTAKES:
            wrong = grader.backward_with_mistake(**args, mistake=mistake)
            assert max(grader._error(wrong[k], right[k]) for k in right) > 1e-3, mistake
        case = grader._compose_cases(np.random.default_rng(seed))[0]
        first, second = grader._compose_pairs(case, np.random.default_rng(seed))
        hs = np.linspace(-10, 10, 201)[:, None]
        truth = grader.apply_map(second, grader.apply_map(first, hs))
        for mistake in set(grader.COMPOSE_MISTAKES) - {"zero_slope_nan"}:  # that one needs a slope of 0
            got = grader.apply_map(grader.compose_with_mistake(first, second, mistake), hs)
            assert grader._error(got, truth) > 1e-3, mistake


def test_a_blank_file_is_not_done_yet_throughout(tmp_path, capsys):
    path = write_exercises(tmp_path / "mine")
    assert path == tmp_path / "mine" / FILE_NAME
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    for ex in EXERCISES:
        assert re.search(rf"^{ex.number}\. {ex.name} +not done yet$", out, re.M), out
    assert out.rstrip().endswith("0 passed, 5 not done yet")
    assert "Traceback" not in out


def test_the_template_documents_every_function():
    import ast

    tree = ast.parse(template_text())
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert [f.name for f in functions] == NAMES
    for f in functions:
        doc = ast.get_docstring(f)
        assert "Parameters\n----------" in doc and "Returns\n-------" in doc, f.name
        assert isinstance(f.body[-1], ast.Raise), f.name  # the body: one raise NotImplementedError
    assert "(Eq. 2 of the paper)" in template_text() and "(Eq. 4 of the paper)" in template_text()


def test_exercises_never_overwrites_a_file(tmp_path, capsys):
    folder = tmp_path / "ex"
    assert main(["exercises", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"python -m indrnn_np check {folder / FILE_NAME}" in out
    answers = folder / FILE_NAME
    answers.write_text("# my answers\n")
    assert main(["exercises", str(folder)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "exists: exercises never overwrites a file" in err and "another folder" in err
    assert answers.read_text() == "# my answers\n"
    (tmp_path / "a_file").write_text("x")
    assert main(["exercises", str(tmp_path / "a_file")]) == 2
    assert "is a file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("def indrnn_forward(x, W, u, b, h0)\n    return x\n", "line 1: SyntaxError: expected ':'"),
        ("import numpy as np\nnp.this_is_not_there()\n", "importing it raised AttributeError"),
        ("\n\nraise SystemExit(3)\n", "line 3 of your file"),
    ],
)
def test_a_file_that_cannot_be_imported_is_one_line(tmp_path, capsys, source, says):
    path = tmp_path / FILE_NAME
    path.write_text(source)
    assert main(["check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and captured.err.startswith("error: ")
    assert says in captured.err and str(path) in captured.err


def test_check_of_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.py")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_an_error_inside_a_function_names_its_line_and_a_missing_function_is_named(tmp_path):
    bodies = solution_bodies()
    bodies["indrnn_forward"] = "h = x @ W.T\nreturn h"  # W is (M, N): x[t] @ W, not W.T
    text = template_text(bodies).replace("def compose(", "def compose_maps(")
    path = tmp_path / FILE_NAME
    path.write_text(text)
    lineno = next(i for i, line in enumerate(text.splitlines(), 1) if line.strip() == "h = x @ W.T")
    grades = {g.name: g for g in check_file(path)}
    forward = grades["indrnn_forward"]
    assert forward.status == "failed" and "raised ValueError" in forward.message
    assert f"(line {lineno} of your file)" in forward.message and "x[t] @ W" in forward.hint
    assert grades["compose"].status == "missing"
    _, status = check_report(path)
    assert status == 1


def test_a_function_returning_nothing_is_told_to_return(tmp_path):
    bodies = solution_bodies()
    bodies["project_u"] = "u_max = gamma ** (1 / T)\nnp.clip(u, -u_max, u_max)"
    path = tmp_path / FILE_NAME
    path.write_text(template_text(bodies))
    grade = {g.name: g for g in check_file(path)}["project_u"]
    assert grade.status == "failed" and "returned None" in grade.message and "return" in grade.hint


def test_an_in_place_projection_is_refused(tmp_path):
    bodies = solution_bodies()
    bodies["project_u"] = "u_max = gamma ** (1 / T)\nreturn np.clip(u, -u_max, u_max, out=u)"
    path = tmp_path / FILE_NAME
    path.write_text(template_text(bodies))
    grade = {g.name: g for g in check_file(path)}["project_u"]
    assert grade.status == "failed" and "changed in place" in grade.message


def test_the_seed_changes_the_cases(tmp_path):
    path = tmp_path / "solved.py"
    path.write_text(solved_text())
    first = check_report(path, seed=0)[0].splitlines()[1]
    other = check_report(path, seed=5)[0].splitlines()[1]
    assert first != other and "passed" in first and "passed" in other


def test_the_exercises_page_shows_what_the_commands_print(tmp_path, monkeypatch, capsys):
    """docs/site/tutorials/exercises.md: its transcripts are the commands' real output."""
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs/site/tutorials/exercises.md").read_text()
    blocks = re.findall(r"```text\n(.*?)```", page, re.S)
    monkeypatch.chdir(tmp_path)

    def session(argv, status):
        assert main(argv) == status
        captured = capsys.readouterr()
        return f"$ python -m indrnn_np {' '.join(argv)}\n{captured.out}{captured.err}"

    written = session(["exercises", "ex"], 0)
    assert blocks[0] == written + session(["check", "ex/indrnn_exercises.py"], 1)
    Path("ex/indrnn_exercises.py").write_text(
        _with_mistake(
            "indrnn_backward", ("da = g * (h[t] > 0)  # ∂J/∂a_t: the ReLU mask", "da = g  # ∂J/∂a_t")
        )
        .replace("return np.clip(u, -u_max, u_max)", "return np.minimum(u, u_max)")
        .replace(
            "x = np.array(x, dtype=np.float64)  # a float64 copy: the caller's x is never touched",
            "x = x.copy()",
        )
    )
    assert (
        "    da = g  # ∂J/∂a_t\n" in page
        and "`return np.minimum(u, u_max)`" in page
        and "`x = x.copy()`" in page
    )
    assert blocks[1] == session(["check", "ex/indrnn_exercises.py"], 1)
    Path("ex/indrnn_exercises.py").write_text(solved_text())
    assert blocks[2] == session(["check", "ex/indrnn_exercises.py"], 0)
    Path("bad.py").write_text("import numpy as np\n\ndef indrnn_forward(x, W, u, b, h0)\n    return x\n")
    assert blocks[3] == session(["check", "bad.py"], 2)


def _with_body(function: str, body: str) -> str:
    bodies = solution_bodies()
    bodies[function] = body
    return template_text(bodies)


def test_check_prints_each_result_as_it_is_known_and_ctrl_c_names_the_function(tmp_path, capsys):
    """Ctrl-C while grading exercise 5: the header and the four results already known were printed,
    and the one line on stderr names the function being graded; exit status 130."""
    path = tmp_path / FILE_NAME
    path.write_text(_with_body("compose", "raise KeyboardInterrupt"))
    assert main(["check", str(path)]) == 130
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith(f"checking {path} (seed 0)")
    for ex in EXERCISES[:4]:
        assert any(re.match(rf"{ex.number}\. {ex.name} +passed: ", line) for line in lines), captured.out
    assert "5. compose" not in captured.out
    assert captured.err == "interrupted while grading compose\n"


def test_check_streams_its_output_and_ctrl_c_in_an_endless_loop_says_where(tmp_path):
    """A real process, its stdout a pipe: the four results come out while exercise 5 loops forever
    (what it prints comes after them); SIGINT then ends it with one line naming compose, exit 130."""
    import os
    import queue
    import signal
    import subprocess
    import sys
    import threading
    from pathlib import Path

    path = tmp_path / FILE_NAME
    path.write_text(_with_body("compose", "print('looping', flush=True)\nwhile True:\n    pass"))
    root = Path(__file__).parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.Popen(
        [sys.executable, "-m", "indrnn_np", "check", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen = []
    try:
        while "looping\n" not in seen:
            seen.append(lines.get(timeout=180))  # queue.Empty: nothing printed while it loops
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
        proc.wait()
    assert seen[0].startswith(f"checking {path} (seed 0)")
    assert seen[-2].startswith("4. numerical_gradient  passed: ") and seen[-1] == "looping\n", seen
    assert proc.stderr.read() == "interrupted while grading compose\n"


def test_a_function_past_the_time_limit_fails_and_the_rest_are_graded(tmp_path, capsys):
    path = tmp_path / FILE_NAME
    path.write_text(_with_body("indrnn_forward", "while True:\n    pass"))
    assert main(["check", str(path), "--time-limit", "0.5"]) == 1
    out = capsys.readouterr().out
    forward = out.split("\n2. ")[0]
    assert re.search(r"^1\. indrnn_forward +FAILED: on float64, ", forward, re.M), out
    assert "ran past the time limit of 0.5 s" in " ".join(forward.split()), out
    for ex in EXERCISES[1:]:
        assert re.search(rf"^{ex.number}\. {ex.name} +passed: ", out, re.M), out
    assert out.rstrip().endswith("4 passed, 1 failed")
    # the limit counts the learner's calls only, all the cases of a function together
    grades = {g.name: g for g in check_file(path, time_limit=0.2)}
    assert grades["indrnn_forward"].status == "failed" and grades["compose"].status == "passed"


#: (function, its solution's last line, a return that is not a NumPy array, what check says).
NOT_ARRAYS = [
    ("indrnn_forward", "return h", "return h.tolist()", "returned a list, not a NumPy array"),
    (
        "indrnn_backward",
        "return dx, dW, du, db, carry",
        "return dx.tolist(), dW, du, db, carry",
        "dx is a list",
    ),
    ("project_u", "return np.clip(u, -u_max, u_max)", "return list(np.clip(u, -u_max, u_max))", "a list"),
    ("numerical_gradient", "return grad", "return grad.tolist()", "returned a list, not a NumPy array"),
    (
        "compose",
        "return a2 * a1, a2 * c1 + c2, lo, hi",
        "return a2 * a1, a2 * c1 + c2, lo, list(hi)",
        "hi is a list",
    ),
]


@pytest.mark.parametrize(("function", "line", "returned", "says"), NOT_ARRAYS, ids=[n[0] for n in NOT_ARRAYS])
def test_a_result_that_is_not_a_numpy_array_is_named_so(tmp_path, function, line, returned, says):
    path = tmp_path / FILE_NAME
    path.write_text(_with_mistake(function, (line, returned)))
    grade = {g.name: g for g in check_file(path)}[function]
    assert grade.status == "failed" and says in grade.message, grade
    assert "not a NumPy array" in grade.message and "for float32 inputs" not in grade.message, grade
    assert "np.zeros_like" not in (grade.hint or "") and ".tolist()" in grade.hint, grade


#: (function, (old, new) edits that write into an input but return the right values, the input named).
IN_PLACE = [
    (
        "indrnn_forward",
        [
            (
                "h[t] = np.maximum(x[t] @ W + u * h_prev + b, 0)",
                "h_prev[...] = np.maximum(x[t] @ W + u * h_prev + b, 0)",
            ),
            ("h_prev = h[t]", "h[t] = h_prev"),
        ],
        "h0 was changed in place",
    ),
    (
        "indrnn_forward",
        [("T, B, M = x.shape", "T, B, M = x.shape\nb += 0 * b + 1\nb -= 1")],
        "b was changed in place",
    ),
    ("indrnn_backward", [("g = dh[t] + carry", "dh[t] += carry\n    g = dh[t]")], "dh was changed in place"),
    (
        "indrnn_backward",
        [("T = dh.shape[0]", "T = dh.shape[0]\nh0 *= 1.5\nh0 /= 1.5\nh0[...] = 7")],
        "h0 was changed",
    ),
    (
        "numerical_gradient",
        [("j_plus = np.sum(f(x) * dout)", "j_plus = np.sum(f(x) * dout)\n    dout *= 1")],
        None,
    ),
    (
        "numerical_gradient",
        [("x = np.array(x, dtype=np.float64)", "x0 = x\nx = np.array(x, dtype=np.float64)\nx0 += 1")],
        "x was changed in place",
    ),
    (
        "compose",
        [("a2, c2, lo2, hi2 = second", "a2, c2, lo2, hi2 = second\nlo2 += 0.5")],
        "second's lo was changed",
    ),
    (
        "compose",
        [("a1, c1, lo1, hi1 = first", "a1, c1, lo1, hi1 = first\nnp.abs(a1, out=a1)")],
        "first's a was changed",
    ),
]


@pytest.mark.parametrize(
    ("function", "edits", "says"), IN_PLACE, ids=[f"{f}-{s and s.split()[0]}" for f, _, s in IN_PLACE]
)
def test_an_input_changed_in_place_is_named(tmp_path, function, edits, says):
    path = tmp_path / FILE_NAME
    path.write_text(_with_mistake(function, *edits))
    grade = {g.name: g for g in check_file(path)}[function]
    if says is None:  # dout *= 1 leaves it as it was: nothing to say
        assert grade.status == "passed", grade
        return
    assert grade.status == "failed" and says in grade.message, grade
    assert "ignored" not in (grade.hint or "") and "in place" in grade.message, grade
    assert says.split()[0].split("'")[0] in grade.hint, grade  # the hint is about that input
