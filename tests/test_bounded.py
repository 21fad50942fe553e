"""Every run is bounded: caps before the work, a time limit per claim, guarded file reads.

Each hostile file of the reliability issue finishes quickly here: exit 2 with one line, or
a verdict (`undecided` past a time limit), never a hang, a traceback or a forged line.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from derive.cli import main
from derive.verify import budget, claims

NETWORK = '[network]\nactivation = "sigmoid"\nloss = "cross_entropy"\nlayers = [[4, 4, 4, 4]]\n'


def claims_file(tmp_path: Path, *claims: dict[str, object], head: str = "") -> str:
    body = head
    for number, claim in enumerate(claims):
        body += "[[claim]]\n" + f'id = "c{number}"\n' if "id" not in claim else "[[claim]]\n"
        body += "".join(f"{key} = {toml(value)}\n" for key, value in claim.items())
    path = tmp_path / "claims.toml"
    path.write_text(body, encoding="utf-8")
    return str(path)


def toml(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def one_error_line(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("derive: error: ") and captured.err.count("\n") == 1
    for word in words:
        assert word in captured.err
    return captured.err


@pytest.mark.parametrize(
    ("claim", "words"),
    [
        ({"lhs": "((x + y + z)**32 + 1)**32", "rhs": "0"}, ["degree"]),
        (
            {"lhs": "Sum(x[i]*x[i + 1], (i, 1, 4999))", "rhs": "0"},
            ["sums are limited to 1000 terms"],
        ),
        (
            {"lhs": "Product(1 + x[i], (i, 1, 4999))", "rhs": "0"},
            ["products are limited to 1000 factors"],
        ),
        (
            {"lhs": "Sum(x[i], (i, 1, 600))", "rhs": "Product(x[i], (i, 1, 600))"},
            ["products are limited to 1000 factors (the claim's sums and products together)"],
        ),
        ({"lhs": "exp(exp(exp(exp(3))))", "rhs": "0"}, ["number too large"]),
        ({"lhs": "exp(exp(exp(3)))", "rhs": "0"}, ["number too large"]),
        ({"lhs": "exp(exp(exp(exp(x))))", "rhs": "0"}, ["exp nested"]),
        ({"lhs": "(10**6)**32 * (10**6)**32 * (10**6)**32 * (10**6)**32", "rhs": "1"}, ["large"]),
        ({"lhs": "x^2", "rhs": "x**2"}, ["write x**2"]),
        ({"rhs": "x", "lhs": "x", "sizes": {f"n{k}": [1, 2] for k in range(20)}}, ["600"]),
        ({"lhs": "x", "rhs": "x", "indices": {"i": [1, "1000000*1000000"]}}, ["600"]),
        ({"lhs": "x", "rhs": "x", "timeout": 0}, ["timeout"]),
    ],
)
def test_caps_refuse_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], claim: dict[str, object], words: list[str]
) -> None:
    if "sizes" in claim:
        claim["domain"] = "1 < 0"  # nothing passes the filter: the cap counts before it
    assert main(["verify", claims_file(tmp_path, claim)]) == 2
    one_error_line(capsys, "claims.toml", *words)


@pytest.mark.parametrize(
    ("side", "words"),
    [
        ("x + " * 475 + "x", "500 characters"),
        ("9^{9^{9}}", "exponents are limited to 32"),
        ("(x+y)^{1000000}", "exponents are limited to 32"),
        ("x^{33}", "exponents are limited to 32"),
        ("10000000 x", "numbers are limited to 1000000"),
        ("\\infty", "infinity is not a value derive checks"),
        ("\\prod_{i=1}^{100000} (1 + x_i)", "products are limited to 1000 factors"),
        ("\\sum_{i=1}^{100000} x_i", "sums are limited to 1000 terms"),
    ],
)
def test_a_latex_side_past_a_cap_fails_its_claim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], side: str, words: str
) -> None:
    """A LaTeX side derive refuses fails its own claim (issue 12); the file's others go on."""
    path = claims_file(tmp_path, {"lhs_latex": side, "rhs": "x"})
    assert main(["verify", "--format", "json", path]) == 1
    (claim,) = json.loads(capsys.readouterr().out)["claims"]
    assert claim["verdict"] == "fails" and words in claim["condition"]


def test_an_index_bound_past_the_network_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    claim = {"kind": "network", "indices": {"i": [0, "s(7)"]}, "lhs": "t[0]", "rhs": "t[0]"}
    assert main(["verify", claims_file(tmp_path, claim, head=NETWORK)]) == 2
    one_error_line(capsys, "s(7) does not exist")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[[claim]]\nlhs = "x"\nrhs = "x"\n', ["claim #1: id", "found no id key"]),
        ("x = " + "9" * 5000 + "\n", ["not valid TOML", "integer too long"]),
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", ["not valid TOML", "nested too deeply"]),
        ("# padding\n" * 200_000, ["at most 1048576 bytes"]),
    ],
)
def test_bad_files_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, words: list[str]
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["verify", str(path)]) == 2
    one_error_line(capsys, *words)


def test_a_fifo_and_a_device_are_refused_without_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    assert main(["verify", str(fifo)]) == 2
    one_error_line(capsys, "a regular claims file")
    assert main(["verify", "/dev/zero"]) == 2
    one_error_line(capsys, "/dev/zero", "a regular claims file")


def test_a_file_name_with_a_newline_cannot_forge_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a\nderive: error: forged"
    path.write_text('[[claim]]\nid = "x"\nlhs = "x"\n', encoding="utf-8")
    assert main(["verify", str(path)]) == 2
    assert "\\n" in one_error_line(capsys)


def test_a_claim_past_its_time_limit_is_undecided_and_the_others_still_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    total = "(" + "+".join("abcdefghijkl") + ")"  # a true identity of degree 32 in 12 symbols
    slow = {
        "lhs": f"{total}**32",
        "rhs": f"{total}**31*a + {total}**31*({'+'.join('bcdefghijkl')})",
    }
    quick = {"lhs": "Derivative(x**2, x)", "rhs": "2*x"}
    short = {
        "lhs": "Derivative(sigmoid(x), x)",
        "rhs": "sigmoid(x)*(1 - sigmoid(x))",
        "timeout": 0.001,
    }
    network = {"kind": "network", "lhs": "Derivative(Etot, w[1, 0, 0])", "rhs": "0"}
    path = claims_file(tmp_path, slow, quick, short, network, head=NETWORK)
    assert main(["verify", path, "--timeout", "3", "--format", "json"]) == 1
    verdicts = {c["id"]: c for c in json.loads(capsys.readouterr().out)["claims"]}
    assert verdicts["c0"]["verdict"] == "undecided"
    assert verdicts["c0"]["tried"] == "time limit: not decided in 3 s"
    assert verdicts["c1"]["verdict"] == "holds"
    assert verdicts["c2"]["verdict"] == "undecided"  # its own limit, 1 ms
    assert "0.001 s" in verdicts["c2"]["tried"]
    # the sigmoid/cross-entropy gradient at [[4, 4, 4, 4]]: two points are tried
    # before cancelling so large a difference, so it usually fails within the limit
    assert verdicts["c3"]["verdict"] in ("fails", "undecided")


def test_a_comparison_sympy_cannot_make_gives_a_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = claims_file(tmp_path, {"lhs": "Max(log(x), 0)", "rhs": "0"})
    assert main(["verify", path]) == 1
    assert "fails" in capsys.readouterr().out


def test_text_from_a_file_is_escaped_in_every_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    claim = {
        "id": "softmax.ce.2",
        "statement": "d\nforged     holds\u001b[31m",
        "source": "x\ry",
        "lhs": "x",
        "rhs": "x",
    }
    path = claims_file(tmp_path, claim)
    for fmt in ("text", "markdown"):
        assert main(["verify", path, "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert "\u001b" not in out and "\r" not in out and "\nforged" not in out
        assert "1 claim: 1 holds" in out  # one claim, not an equation and its line


def test_a_non_ascii_report_on_an_ascii_terminal(tmp_path: Path) -> None:
    path = claims_file(tmp_path, {"lhs": "exp(1)", "rhs": "2"})
    env = os.environ | {"PYTHONIOENCODING": "ascii"}
    run = subprocess.run(
        [sys.executable, "-m", "derive", "verify", path],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1 and run.stderr == b""
    assert b"true exp(1) \\u2248 2.71828" in run.stdout  # Euler's number is not the loss E


def test_a_course_two_layer_network_with_biases_is_decided(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Indexed sums, 2-3-2 with biases, softmax cross-entropy: a proof or a counterexample
    for each claim within the default time limit (bench/verify_times.py times them)."""
    course = Path(__file__).parent / "data" / "two_layer_course.toml"
    assert main(["verify", str(course), "--format", "json"]) == 1
    verdicts = {c["id"]: c["verdict"] for c in json.loads(capsys.readouterr().out)["claims"]}
    assert verdicts == {
        "course.dW2": "holds",
        "course.dW1": "holds",
        "course.db1": "holds",
        "course.db1.onehot": "fails",  # p - t needs sum(t) = 1, which the file does not assume
        "course.dW1.piecewise": "holds",
    }


def test_a_claim_past_the_memory_limit_is_undecided(tmp_path: Path) -> None:
    """The worker's address space is capped: an expansion past it is refused cleanly.

    The cap here is 110 MiB instead of 2 GiB, so that the test allocates little: the square
    of a 200-term sum expands to 20100 monomials of 200 exponents each, tens of MiB more.
    """
    sums = "Sum(x[i], (i, 1, 200))"
    claim = {"lhs": f"{sums}**2", "rhs": f"{sums}*Sum(x[j], (j, 1, 199)) + {sums}*x[200]"}
    cfile = claims.load(Path(claims_file(tmp_path, claim, {"lhs": "x", "rhs": "x"})))
    first, second = budget.check_bounded([cfile], timeout=120, memory=110 * 2**20)
    assert first.verdict == "undecided" and (first.tried or "").startswith("memory limit")
    assert second.verdict == "holds"  # a new worker takes the next claim
    assert resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY  # not this process


def test_latex_numbers_are_limited_as_in_sympy_syntax(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A long decimal below the limit reads in both front ends; 1000001 in neither."""
    fine = {"lhs_latex": "3.14159265358979 x^{32}", "rhs": "3.14159265358979*x**32"}
    assert main(["verify", claims_file(tmp_path, fine)]) == 0
    capsys.readouterr()
    assert main(["verify", claims_file(tmp_path, {"lhs": "1000001*x", "rhs": "x"})]) == 2
    one_error_line(capsys, "numbers are limited to 1000000")
    assert main(["verify", claims_file(tmp_path, {"lhs_latex": "1000001 x", "rhs": "x"})]) == 1
    assert "numbers are limited to 1000000" in capsys.readouterr().out  # that claim fails alone


def test_a_claim_cannot_give_itself_more_time_than_the_command_allows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`timeout = 3600` in a hostile file does not lift `--timeout 2`: the flag is the bound."""
    total = "(" + "+".join("abcdefghijkl") + ")"  # a true identity of degree 32: slow
    rest = "+".join("bcdefghijkl")
    slow = {"lhs": f"{total}**32", "rhs": f"{total}**31*a + {total}**31*({rest})", "timeout": 3600}
    path = claims_file(tmp_path, slow)
    assert main(["verify", path, "--timeout", "2", "--format", "json"]) == 1
    (claim,) = json.loads(capsys.readouterr().out)["claims"]
    assert claim["verdict"] == "undecided"
    assert claim["tried"] == "time limit: not decided in 2 s"


def test_a_claims_own_limit_wins_over_the_default_and_a_longer_flag() -> None:
    assert budget._limit(None, None) == budget.TIMEOUT
    assert budget._limit(60, None) == 60
    assert budget._limit(0.5, 3) == 0.5
    assert budget._limit(3600, 2) == 2
    assert budget._limit(None, 7) == 7
