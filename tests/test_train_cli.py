"""`derive train` end to end through `derive.cli.main`, and its exit-2 cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from derive.cli import main

SPECS = Path(__file__).resolve().parent.parent / "generated" / "specs"
XOR = str(SPECS / "xor.toml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["train", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_prints_the_history_and_the_held_out_score(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, XOR, "--epochs", "30", "--plots", str(tmp_path / "figures"))
    assert (code, err) == (0, "")
    assert "training xor (2-8-2 tanh,softmax) on xor" in out
    assert "test_accuracy" in out and "val_" not in out  # the test split, never steering
    assert "held-out accuracy 100.00% (100 samples)" in out
    files = sorted(path.name for path in (tmp_path / "figures").iterdir())
    assert files == ["xor_xor_boundary.png", "xor_xor_loss.png"]
    assert all((tmp_path / "figures" / name).read_bytes()[:4] == b"\x89PNG" for name in files)


def test_train_a_regression_on_another_data_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SPECS / "seed_relu_mse.toml"), "--epochs", "2")
    assert code == 0
    assert "on relu_sum" in out and "held-out mse " in out
    assert "accuracy" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "moon"], "--dataset: unknown data set 'moon' (did you mean 'moons'?)"),
        (["--dataset", "digits"], "input size 2 does not fit data set 'digits', which has 64"),
        (["--dataset", "spirals"], "output size 2 does not fit data set 'spirals', which has 3"),
        (["--dataset", "sine"], "input size 2 does not fit data set 'sine'"),
        (["--epochs", "0"], "--epochs: expected an integer from 1 to 1000000, found 0"),
        (["--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
        (["--learning-rate", "0"], "--learning-rate: expected a number in (0, 1000], found 0"),
        (["--bogus", "1"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, XOR, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and "training" not in out


def test_an_unknown_data_set_in_the_spec_names_the_file_and_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The spec's [training] dataset is checked when training (generate has no data sets)."""
    spec = tmp_path / "net.toml"
    spec.write_text(Path(XOR).read_text().replace('dataset = "xor"', 'dataset = "mnist"'))
    code, out, err = run(capsys, str(spec))
    assert code == 2
    assert err == f"derive: error: {spec}: training.dataset: unknown data set 'mnist'" + (
        " (did you mean 'moons'?); known: xor, moons, circles, spirals, blobs, blobs3, sine,"
        " relu_sum, digits\n"
    )
    assert "training" not in out


def test_a_classification_loss_on_a_regression_task_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "line.toml"
    spec.write_text(
        'name = "line"\nlayers = [1, 4, 2]\nactivations = ["relu", "softmax"]\n'
        'loss = "cross_entropy"\n'
    )
    code, _, err = run(capsys, str(spec), "--dataset", "sine")
    assert code == 2
    assert "cross_entropy needs class labels, but data set 'sine' is a regression task" in err


def test_a_spec_without_a_data_set_needs_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "bare.toml"
    spec.write_text('name = "bare"\nlayers = [2, 2]\nactivations = ["softmax"]\nloss = "mse"\n')
    code, _, err = run(capsys, str(spec))
    assert code == 2
    assert "no data set named; pass --dataset NAME" in err


def test_missing_spec_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.toml"))
    assert code == 2
    assert "nope.toml" in err and "no such file" in err


def test_plots_must_be_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    code, _, err = run(capsys, XOR, "--plots", str(tmp_path / "file"))
    assert code == 2
    assert "--plots: expected a folder" in err


def test_a_diverging_run_exits_1_naming_the_batch(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "boom.toml"
    spec.write_text(
        'name = "boom"\nlayers = [1, 16, 1]\nactivations = ["tanh", "identity"]\nloss = "mse"\n'
        '[optimizer]\nkind = "sgd"\nlearning_rate = 1000\n[training]\ndataset = "sine"\n'
    )
    code, out, err = run(capsys, str(spec), "--epochs", "3")
    assert code == 1
    assert "training boom" in out
    assert "derive: training stopped: epoch 2, batch 12: non-finite loss" in err
    assert "try a smaller optimizer.learning_rate" in err


BCE = """name = "bce"
layers = [2, 8, {outputs}]
activations = ["relu", "sigmoid"]
loss = "binary_cross_entropy"
"""


@pytest.mark.parametrize(
    ("outputs", "dataset", "message"),
    [
        (2, "moons", "layers: output size 2 does not fit data set 'moons', which has 2 classes"),
        (4, "blobs", "loss: binary_cross_entropy needs 2 classes, but data set 'blobs' has 4"),
    ],
)
def test_binary_cross_entropy_needs_one_output_and_two_classes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, outputs: int, dataset: str, message: str
) -> None:
    spec = tmp_path / "bce.toml"
    spec.write_text(BCE.format(outputs=outputs))
    code, out, err = run(capsys, str(spec), "--dataset", dataset, "--epochs", "1")
    assert (code, out) == (2, "")
    assert err.startswith(f"derive: error: {spec}: {message}") and err.count("\n") == 1
