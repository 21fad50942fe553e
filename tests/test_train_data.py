"""`derive train SPEC --data FILE`: a user's CSV or .npz, the training flags, `--save` read
back by the module's `load`, and every bad file refused with its file, row and column."""

from __future__ import annotations

import csv
import os
import select
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from derive import codegen
from derive import spec as specs
from derive.cli import main
from derive.errors import DeriveError
from derive.training import datafile

SPEC = """name = "flowers"
layers = [2, 8, 3]
activations = ["tanh", "softmax"]
loss = "cross_entropy"
[optimizer]
kind = "adam"
learning_rate = 0.05
[training]
epochs = 5
batch_size = 8
"""
REGRESSION = """name = "line"
layers = [2, 4, 1]
activations = ["tanh", "identity"]
loss = "mse"
[optimizer]
kind = "sgd"
learning_rate = 0.05
"""
NAMES = ("iris", "rose", "tulip")


def _blobs(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three separable blobs in 2-D and their labels 0, 1, 2."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    return centres[y] + 0.3 * rng.standard_normal((n, 2)), y


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """A user's folder: the spec and a CSV whose label column, 'kind', is in the middle."""
    (tmp_path / "flowers.toml").write_text(SPEC)
    X, y = _blobs()
    with (tmp_path / "flowers.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["width", "kind", "height"])
        for (width, height), label in zip(X, y, strict=True):
            writer.writerow([width, NAMES[label], height])
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main(["train", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_on_a_csv_with_string_labels_and_save_what_load_reads_back(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save = folder / "run.npz"
    code, out, err = run(
        capsys,
        folder / "flowers.toml",
        "--data", folder / "flowers.csv", "--target", "kind", "--epochs", "40",
        "--batch-size", "10", "--seed", "3", "--test-size", "0.3", "--save", save,
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    assert "40 epochs of batches of 10, seed 3; 42 train / 18 test samples" in out
    assert "classes 'iris', 'rose', 'tulip'" in out
    assert "held-out accuracy 100.00% (18 samples)" in out
    # the save is the module's own format: the generated module loads it in a user's script
    (folder / "gen").mkdir()
    assert main(["generate", str(folder / "flowers.toml"), "--out", str(folder / "gen")]) == 0
    net = codegen.load_module("flowers", folder / "gen")
    params, state = net.load(save)
    assert state["epoch"] == 40 and state["step"] == 40 * 5  # 42 samples: 5 batches of 10
    X, y = _blobs()
    assert np.mean(net.predict(params, X) == y) > 0.95  # class k is the k-th sorted label


def test_the_same_flags_give_the_same_run_bit_for_bit(folder: Path) -> None:
    spec = specs.load(folder / "flowers.toml")
    saves = []
    for number in range(2):
        save = folder / f"run{number}.npz"
        argv = ["train", str(folder / "flowers.toml"), "--data", str(folder / "flowers.csv")]
        assert main([*argv, "--target", "kind", "--save", str(save)]) == 0
        saves.append(codegen.build_module(spec).load(save)[0])
    for key, value in saves[0].items():
        assert value.tobytes() == saves[1][key].tobytes()


def test_learning_rate_flag_trains_a_module_with_that_rate(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, folder / "flowers.toml", "--data", folder / "flowers.csv", "--target", "kind",
        "--learning-rate", "0.2", "--save", folder / "run.npz",
    )  # fmt: skip
    assert code == 0
    assert "adam learning rate 0.2," in out
    assert "optimizer.learning_rate = 0.2" in out  # a save belongs to its optimizer
    spec = specs.load(folder / "flowers.toml")
    with pytest.raises(ValueError, match="made for architecture flowers"):
        codegen.build_module(spec).load(folder / "run.npz")


def test_npz_with_integer_labels_and_the_last_column_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "flowers.toml").write_text(SPEC)
    X, y = _blobs()
    np.savez(tmp_path / "data.npz", X=X, y=y + 10)  # labels 10, 11, 12
    code, out, err = run(capsys, tmp_path / "flowers.toml", "--data", tmp_path / "data.npz")
    assert (code, err) == (0, "")
    assert "classes 10, 11, 12" in out

    with (tmp_path / "data.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["a", "b", "label"])
        writer.writerows([*row, label] for row, label in zip(X, y, strict=True))
    code, out, err = run(capsys, tmp_path / "flowers.toml", "--data", tmp_path / "data.csv")
    assert (code, err) == (0, "")
    assert "classes 0, 1, 2" in out


def test_regression_on_a_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "line.toml").write_text(REGRESSION)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (80, 2))
    rows = np.column_stack([X, 0.5 * X[:, 0] - 0.25 * X[:, 1]])
    np.savetxt(tmp_path / "line.csv", rows, delimiter=",", header="x1,x2,y", comments="")
    code, out, err = run(
        capsys, tmp_path / "line.toml", "--data", tmp_path / "line.csv", "--epochs", "50"
    )
    assert (code, err) == (0, ""), err
    assert "60 train / 20 test samples" in out
    mse = float(out.split("held-out mse ")[1].split()[0])
    assert mse < 0.01


BAD_FILES = [
    ("ragged.csv", "a,b,c\n1,2,x\n3,4\n", "ragged.csv: row 3: expected 3 cells as in the header"),
    ("text.csv", "a,b,c\n1,2,x\n3,four,y\n", "text.csv: row 3, column 'b': expected a number"),
    ("nan.csv", "a,b,c\n1,2,x\n3,nan,y\n", "nan.csv: row 3, column 'b': expected a finite number"),
    ("empty.csv", "", "empty.csv: expected a header row of column names, found none"),
    ("header.csv", "a,b,c\n", "header.csv: expected rows of data after the header, found none"),
    ("binary.csv", b"a,b,c\n1,\xff,2\n", "binary.csv: expected UTF-8 text, found byte 0xff"),
    ("one.csv", "c\nx\n", "one.csv: expected feature columns besides the target"),
    ("no_y.npz", {"X": np.ones((4, 2))}, "no_y.npz: expected arrays X and y, found X"),
    ("short.npz", {"X": np.ones((4, 2)), "y": np.zeros(3)}, "short.npz: y: expected one label"),
    ("strX.npz", {"X": np.full((4, 2), "a"), "y": np.zeros(4)}, "strX.npz: X: expected a 2-D"),
    ("infX.npz", {"X": np.array([[1, 2], [3, np.inf]]), "y": np.zeros(2)},
     "infX.npz: X: row 1, column 1: expected a finite number, found inf"),
    ("junk.npz", "not a zip", "junk.npz: not a readable .npz file"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_data_files_exit_2_naming_file_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: object, message: str
) -> None:
    (tmp_path / "flowers.toml").write_text(SPEC)
    path = tmp_path / name
    if isinstance(content, dict):
        np.savez(path, **content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(str(content))
    code, out, err = run(capsys, tmp_path / "flowers.toml", "--data", path, "--save", "x.npz")
    assert code == 2
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err and out == ""
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target", "colour"], "--target: no column 'colour'; columns: 'width', 'kind'"),
        (["--test-size", "1.5"], "--test-size: expected a fraction in (0, 1), found 1.5"),
        (["--test-size", "0.001"], "--test-size: 0.001 of 60 samples leaves"),
        (["--dataset", "moons"], "not allowed with argument --data"),
        (["--batch-size", "0"], "--batch-size: expected an integer from 1 to 16777216, found 0"),
        (["--seed", "-1"], "--seed: expected an integer from 0 to 4294967295, found -1"),
        (["--learning-rate", "nan"], "--learning-rate: expected a number in (0, 1000], found nan"),
        (["--save", "/nonexistent/run.npz"], "--save: expected an existing folder"),
    ],
)
def test_bad_flags_exit_2_before_training(
    folder: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    data = ["--data", folder / "flowers.csv"] + ["--target", "kind"] * ("--target" not in extra)
    code, out, err = run(capsys, folder / "flowers.toml", *data, *extra)
    assert code == 2
    assert message in err, err
    assert "training" not in out


@pytest.mark.parametrize(
    ("flag", "where", "message"),
    [
        ("--plots", "flowers.csv/plots", "--plots: expected a folder, found a file: "),
        ("--save", "/proc/run.npz", "--save: expected a folder derive can write in, found /proc: "),
        ("--plots", "/proc/plots", "--plots: expected a folder derive can write in, found /proc: "),
    ],
)
def test_outputs_that_cannot_be_written_exit_2_before_training(
    folder: Path, capsys: pytest.CaptureFixture[str], flag: str, where: str, message: str
) -> None:
    """A file in the way of --plots' folder, or a folder no file can be made in (/proc, even
    for root): refused before a second of training, not a traceback after it."""
    if where.startswith("/proc") and not Path("/proc/self").exists():
        pytest.skip("needs Linux's /proc, a folder nobody can make files in")
    target = where if where.startswith("/") else folder / where
    data = ["--data", folder / "flowers.csv", "--target", "kind"]
    code, out, err = run(capsys, folder / "flowers.toml", *data, flag, target)
    assert code == 2
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "training" not in out


def test_labels_that_do_not_fit_the_outputs_exit_2_naming_the_file_and_column(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SPEC.replace("[2, 8, 3]", "[2, 8, 2]")
    (folder / "two.toml").write_text(spec)
    code, _, err = run(
        capsys, folder / "two.toml", "--data", folder / "flowers.csv", "--target", "kind"
    )
    assert code == 2
    assert (
        "does not fit data set 'flowers.csv' (" in err
        and "column 'kind'), which has 3 classes ('iris', 'rose', 'tulip')" in err
    )


def test_a_data_file_that_is_a_folder_a_pipe_missing_or_too_large_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks of inputs.check_file, as for claims and spec files: file, flag, expected,
    found; a FIFO is never opened (it would block)."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    big = tmp_path / "big.csv"
    big.write_text("a,y\n1,x\n2,y\n")
    monkeypatch.setattr(datafile, "MAX_BYTES", 10)
    for path, message in [
        (tmp_path, "expected a CSV or .npz file, found a folder"),
        (tmp_path / "missing.csv", "expected an existing CSV or .npz file, found no such file"),
        (fifo, "expected a regular CSV or .npz file, found a device, pipe or socket"),
        (big, "expected a CSV or .npz file of at most 10 bytes, found 12 bytes"),
    ]:
        with pytest.raises(DeriveError) as raised:
            datafile.read(path, None, True, 0.25, 0)
        assert str(raised.value).startswith(f"{path}: --data: {message}")


def test_one_feature_is_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "flowers.toml").write_text(SPEC)
    (tmp_path / "one.csv").write_text("a,y\n" + "1,x\n2,y\n" * 8)
    code, _, err = run(capsys, tmp_path / "flowers.toml", "--data", tmp_path / "one.csv")
    assert code == 2
    assert "which has 1 feature\n" in err


def test_val_columns_are_the_validation_split_and_test_columns_the_test_split(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)  # classes that overlap: the validation loss turns up
    rows = np.column_stack([rng.standard_normal((90, 2)), np.arange(90) % 3])
    np.savetxt(folder / "noise.csv", rows, delimiter=",", header="a,b,kind", comments="")
    data = ["--data", folder / "noise.csv", "--target", "kind", "--epochs", "300"]
    code, out, _ = run(capsys, folder / "flowers.toml", *data)
    assert code == 0
    assert "test_loss" in out and "val_loss" not in out and "stopped early" not in out
    assert "classes 0, 1, 2" in out  # labels written "0.0", "1.0", "2.0" are the numbers
    (folder / "patient.toml").write_text(SPEC.replace("[training]", "[training]\npatience = 3"))
    code, out, _ = run(capsys, folder / "patient.toml", *data)
    assert code == 0
    assert "val_loss" in out and "test_loss" not in out  # early stopping watched val_*
    assert "stopped early after epoch " in out and " of 300: val_loss did not improve" in out


def _terminal_run(argv: list[str]) -> tuple[str, bytes]:
    """Run `derive` with stderr on a pseudo-terminal: (stdout, what the terminal showed)."""
    pty = pytest.importorskip("pty")
    fcntl, termios = pytest.importorskip("fcntl"), pytest.importorskip("termios")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24x100
    try:
        done = subprocess.run(
            [sys.executable, "-m", "derive", *argv],
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=300,
            check=True,
            text=True,
        )
    finally:
        os.close(slave)
    shown = b""
    while select.select([master], [], [], 1)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return done.stdout, shown


def test_a_terminal_gets_a_progress_bar_and_a_pipe_plain_lines(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", str(folder / "flowers.toml"), "--data", str(folder / "flowers.csv")]
    argv += ["--target", "kind", "--epochs", "20"]
    out, shown = _terminal_run(argv)
    assert b"\r" in shown and b"/20 [" in shown and b"epoch/s" in shown  # tqdm's bar
    assert "epoch 2/20: loss" not in out  # no plain lines beside a bar
    code, piped, err = run(capsys, *argv[1:])
    assert (code, err) == (0, "")
    lines = [line for line in piped.splitlines() if line.startswith("epoch ") and "/20:" in line]
    assert [line.split(":")[0] for line in lines] == [f"epoch {e}/20" for e in range(2, 21, 2)]
