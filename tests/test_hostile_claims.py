"""A claims file is data: hostile expressions are refused and never run."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.cli import main
from derive.errors import DeriveError
from derive.verify import checker, claims


def claim_file(tmp_path: Path, lhs: str, rhs: str = "x", key: str = "lhs") -> Path:
    path = tmp_path / "hostile.toml"
    text = f'[[claim]]\nid = "evil"\n{key} = {json.dumps(lhs, ensure_ascii=False)}\nrhs = "x"\n'
    path.write_text(text.replace('rhs = "x"', f"rhs = {json.dumps(rhs)}"), encoding="utf-8")
    return path


def hostile(marker: Path) -> list[str]:
    touch = f"__import__('os').system('touch {marker}')"
    return [
        touch,
        f"exp({touch})",
        f"open('{marker}', 'w')",
        f"eval(\"open('{marker}', 'w')\")",
        "().__class__.__bases__[0].__subclasses__()",
        "x.__class__",
        "Max.__globals__",
        "__builtins__",
        "_secret",
        f"(lambda: open('{marker}', 'w'))()",
        "[c for c in ().__class__.__mro__]",
        "{'a': 1}",
        "'text'",
        "f'{x}'",
        "b'x'",
        "9**9**9",
        "x**(10**7)",
        "2**100000",
        "Sum(x, (i, 0, 10**6))",
        "Sum(Sum(x, (i, 0, 100)), (j, 0, 100))",
        "exp(*[x])",
        "Max(x, key=abs)",
        "Derivative(x, 2)",
        "Derivative(x, x + 1)",
        "x if x else x",
        "x @ x",
        "x // 2",
        "x % 2",
        "not x",
        "(x := 1)",
        "x[0].real",
        "getattr(x, 'y')",
        "S('x')",
        "sympify('x')",
        "parse_expr('x')",
        "Symbol('x')",
        "x\x00",
        "(" * 300 + "x" + ")" * 300,
        "-" * 5000 + "x",
        "x + " * 700 + "x",
        "Piecewise((x, x > 0), 1)",
        "softmax(x + 1, 1, 1, 2)",
        "Subs(x, x + 1, 1)",
        "1/0",
        "log(0)",
    ]


def test_hostile_expressions_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for text in hostile(marker):
        for key in ("lhs", "rhs"):
            path = claim_file(tmp_path, text) if key == "lhs" else claim_file(tmp_path, "x", text)
            with pytest.raises(DeriveError) as info:
                cfile = claims.load(path)
                checker.check_file(cfile)
            message = str(info.value)
            assert str(path) in message or "claim evil" in message, text
            assert "\n" not in message
    assert not marker.exists()


def test_hostile_claims_through_the_cli_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    path = claim_file(tmp_path, f"__import__('os').system('touch {marker}')")
    assert main(["verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "claim evil: lhs" in err and "__import__" in err
    assert not marker.exists()


def test_hostile_latex_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for text in [
        f"\\input{{{marker}}}",
        "\\immediate\\write18{touch pwned}",
        "\\frac{\\partial}{\\partial",
        "\\int x dx",
        "\\begin{matrix} 1 \\end{matrix}",
        "x" * 3000,
    ]:
        path = claim_file(tmp_path, text, key="lhs_latex")
        (claim,) = claims.load(path).claims
        assert claim.error.startswith("lhs_latex")
        (result,) = checker.check_file(claims.load(path))
        assert result.verdict == "fails" and result.condition == claim.error
    assert not marker.exists()


def test_names_become_plain_symbols(tmp_path: Path) -> None:
    """Names that mean something in Python or SymPy are just symbols here."""
    path = claim_file(
        tmp_path, "os + sys + eval + Symbol + I + E + oo", "os + sys + eval + Symbol + I + E + oo"
    )
    (result,) = checker.check_file(claims.load(path))
    assert result.verdict == "holds"


TOKENS = st.sampled_from(
    [
        "x",
        "y",
        "z[1]",
        "a",
        "1",
        "2",
        "0",
        "1/2",
        "+",
        "-",
        "*",
        "/",
        "**",
        "(",
        ")",
        ",",
        "exp(",
        "log(",
        "Max(",
        "relu(",
        "Heaviside(",
        "Derivative(",
        "Sum(",
        "(i, 0, 2)",
        "Piecewise(",
        "(x, x > 0)",
        "sqrt(",
        "tanh(",
        "sigmoid(",
        "Abs(",
        " ",
        "i",
        "<",
        "==",
        "__",
        ".",
        "[",
        "]",
        "lambda",
        ":",
        "'",
        "KroneckerDelta(",
        "softmax(z, 1, 1, 2)",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(max_size=80), st.lists(TOKENS, max_size=12).map("".join)))
def test_arbitrary_text_only_ever_raises_derive_error(text: str) -> None:
    marker = Path(tempfile.gettempdir()) / f"derive-hypothesis-{os.getpid()}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "claims.toml"
        body = json.dumps(text, ensure_ascii=False)
        path.write_text(f'[[claim]]\nid = "h"\nlhs = {body}\nrhs = "x"\n', encoding="utf-8")
        with contextlib.suppress(DeriveError):
            checker.check_file(claims.load(path))
    assert not marker.exists()


def test_a_latex_refusal_keeps_its_caret_lines_escaped_and_indented() -> None:
    """The text report shows the LaTeX line and the caret under the row, never a new row."""
    from derive.verify import report

    message = "lhs_latex: col 3: \\foo\x1b[31m is not a function\n    a \\foo\x1b b\n      ^"
    refused = checker.Result("evil", "fails", "", "", "", condition=message)
    lines = report.render([refused], "text", ["f.toml"]).splitlines()
    assert lines[1].startswith("evil ") and lines[1].endswith("is not a function")
    assert lines[2].strip() == "a \\foo\\x1b b" and lines[2].startswith(" " * 20)
    assert lines[3].strip() == "^"
    assert "\x1b" not in "\n".join(lines)
    markdown = report.render([refused], "markdown", ["f.toml"])
    assert "\x1b" not in markdown and "- Note: lhs_latex: col 3:" in markdown
    assert "\\n    a \\foo" in markdown  # one line in Markdown: it cannot start a heading


def test_a_long_latex_refusal_is_cut_in_its_message_never_in_its_caret_lines() -> None:
    from derive.verify import report

    message = "lhs_latex: col 3: " + "m" * 1500 + "\n    a \\foo b\n      ^"
    refused = checker.Result("long", "fails", "", "", "", condition=message)
    lines = report.render([refused], "text", ["f.toml"]).splitlines()
    assert "(1518 characters; --format json has all)" in " ".join(" ".join(lines).split())
    line, caret = lines[-3], lines[-2]
    assert line.strip() == "a \\foo b" and caret.strip() == "^"
    assert line.index("\\foo") == caret.index("^")


def test_a_conditional_reading_from_the_file_cannot_add_lines() -> None:
    from derive.verify import report

    forged = checker.Result("c", "conditional", "", "", "", condition="E = t\nd  holds")
    assert len(report.render([forged], "text", ["f.toml"]).splitlines()) == 3
    heading = checker.Result("c", "conditional", "", "", "", condition="E\n\n## `x`: holds")
    markdown = report.render([heading], "markdown", ["f.toml"])
    assert "\n## `x`" not in markdown and "E\\n\\n## `x`: holds" in markdown


def test_a_long_corrected_form_is_cut_in_the_text_report_not_in_json() -> None:
    from derive.verify import report

    long = "x + " * 5000 + "x"
    result = checker.Result("long", "fails", "", "", "", corrected=long)
    text = report.render([result], "text", ["f.toml"])
    assert len(text) < 2 * report.MAX_SHOWN + 500
    assert f"({len(long)} characters; --format json has all)" in " ".join(text.split())
    assert json.loads(report.render([result], "json", ["f.toml"]))["claims"][0]["corrected"] == long
