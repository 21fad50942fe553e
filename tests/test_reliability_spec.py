"""Hostile spec files, case by case: each is refused with one line naming file, key, expected
and found, and the boundaries of every number are where the spec contract puts them.

The fuzzer (test_fuzz_specs.py) covers the space; these are the cases worth naming, among
them the regressions it found: integers past float range, integers too long to read, nesting
past the recursion limit, and newlines or terminal escapes inside keys and values.
"""

from __future__ import annotations

import contextlib
import io
import keyword
from pathlib import Path

import pytest

from derive import cli
from derive import spec as specs
from derive.errors import DeriveError

BASE = """\
name = "net"
layers = [2, 3, 2]
activations = ["relu", "softmax"]
loss = "cross_entropy"
"""


def refused(text: str | bytes) -> str:
    """The message of the DeriveError that parsing `text` raises; fails if it parses."""
    with pytest.raises(DeriveError) as caught:
        specs.parse(text, source="hostile.toml")
    message = str(caught.value)
    assert message.startswith("hostile.toml")
    assert "\n" not in message and "\r" not in message
    assert message.isprintable(), repr(message)
    return message


def run_cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(args)
    return code, out.getvalue(), err.getvalue()


def with_optimizer(**fields: object) -> str:
    lines = [f"{key} = {value}" for key, value in fields.items()]
    return BASE + "[optimizer]\n" + "\n".join(lines) + "\n"


# --- numbers -----------------------------------------------------------------------------


def test_an_integer_past_float_range_is_refused_not_an_overflow_error() -> None:
    message = refused(with_optimizer(kind='"sgd"', learning_rate="9" * 400))
    assert "optimizer.learning_rate: expected a number in (0, 1000]" in message
    assert message.endswith("...")  # found, cut to a readable length


@pytest.mark.parametrize("where", ["layers = [2, {big}, 2]", "[training]\nseed = {big}"])
def test_an_integer_too_long_to_read_is_invalid_toml_not_a_value_error(where: str) -> None:
    text = BASE.replace("layers = [2, 3, 2]\n", "") if where.startswith("layers") else BASE
    message = refused(text + where.format(big="9" * 5000) + "\n")
    assert "not valid TOML: an integer too long to read" in message


@pytest.mark.parametrize("opening", ["[", "{a = "])
def test_nesting_past_the_recursion_limit_is_invalid_toml(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    message = refused(BASE + "x = " + opening * 5000 + "1" + closing * 5000 + "\n")
    assert "not valid TOML: arrays or tables nested too deeply" in message


@pytest.mark.parametrize("value", ["nan", "+nan", "-nan", "inf", "+inf", "-inf"])
@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("sgd", "learning_rate"),
        ("momentum", "momentum"),
        ("adam", "beta1"),
        ("adam", "beta2"),
        ("adam", "epsilon"),
    ],
)
def test_nan_and_infinity_are_refused_for_every_hyperparameter(
    kind: str, key: str, value: str
) -> None:
    fields = {"kind": f'"{kind}"', "learning_rate": "0.1", key: value}
    message = refused(with_optimizer(**fields))
    found = "nan" if "nan" in value else value.lstrip("+")
    assert f"optimizer.{key}: expected a finite number, found {found}" in message


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [
        ("learning_rate", ["5e-324", "1e-300", "1000", "1000.0"], ["0", "-0.0", "1000.0001"]),
        ("momentum", ["0", "0.0", "0.999999"], ["1", "1.0", "-1e-300"]),
        ("epsilon", ["1e-30", "1000"], ["0.0", "1e-31", "-1e-8", "1001"]),
        ("beta2", ["0", "0.9999999"], ["1", "-0.1"]),
    ],
)
def test_hyperparameter_bounds_are_where_the_contract_puts_them(
    key: str, good: list[str], bad: list[str]
) -> None:
    kind = {"momentum": "momentum", "epsilon": "adam", "beta2": "adam"}.get(key, "sgd")
    for value in good:
        spec = specs.parse(
            with_optimizer(**{"kind": f'"{kind}"', "learning_rate": "0.1", key: value})
        )
        assert spec.optimizer[key] == float(value)
    for value in bad:
        message = refused(
            with_optimizer(**{"kind": f'"{kind}"', "learning_rate": "0.1", key: value})
        )
        assert f"optimizer.{key}: expected a number in" in message


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("epochs = 0", "training.epochs"),
        ("epochs = 1000001", "training.epochs"),
        ("batch_size = 0", "training.batch_size"),
        ("seed = -1", "training.seed"),
        ("seed = 4294967296", "training.seed"),
        ("patience = 0", "training.patience"),
        ("epochs = 10.0", "training.epochs"),
        ("epochs = true", "training.epochs"),
        ("epochs = inf", "training.epochs"),
        ('dataset = "../../etc/passwd"', "training.dataset"),
    ],
)
def test_training_numbers_out_of_range_are_refused(line: str, key: str) -> None:
    assert f"{key}: expected" in refused(BASE + "[training]\n" + line + "\n")


def test_the_widest_and_deepest_specs_the_contract_allows_parse() -> None:
    deep = specs.parse(
        f'name = "deep"\nlayers = {[1] * (specs.MAX_DEPTH + 1)}\n'
        f'activations = {["tanh"] * specs.MAX_DEPTH}\nloss = "mse"\n'.replace("'", '"')
    )
    assert deep.depth == specs.MAX_DEPTH
    wide = specs.parse(
        f'name = "wide"\nlayers = [{specs.MAX_WIDTH}, 1]\n'
        'activations = ["identity"]\nloss = "mse"\n'
    )
    assert wide.n_in == specs.MAX_WIDTH
    assert "layers: expected a list of 2 to 65" in refused(
        f'name = "x"\nlayers = {[1] * (specs.MAX_DEPTH + 2)}\n'
        f'activations = {["tanh"] * (specs.MAX_DEPTH + 1)}\nloss = "mse"\n'.replace("'", '"')
    )
    assert "layers[0]: expected an integer from 1 to 65536, found 65537" in refused(
        'name = "x"\nlayers = [65537, 1]\nactivations = ["identity"]\nloss = "mse"\n'
    )


# --- names and text ------------------------------------------------------------------------


@pytest.mark.parametrize("word", sorted(set(keyword.kwlist) | set(keyword.softkwlist)))
def test_every_python_keyword_is_refused_as_a_name(word: str) -> None:
    message = refused(BASE.replace('"net"', f'"{word}"'))
    assert "name: expected" in message


@pytest.mark.parametrize(
    "name",
    [
        "__import__('os').system('id')",
        "a; import os",
        "a\\nimport os",
        "x = 1",
        "{{ header }}",
        "{% include '_io.py.j2' %}",
        "a-b",
        "1abc",
        "",
        "é",
        "ǅ",
        "_hidden",
        "__init__",
        "a" * 65,
    ],
)
def test_code_fragments_and_non_identifiers_are_refused_as_names(name: str) -> None:
    assert "name: expected" in refused(BASE.replace('"net"', f'"{name}"'))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (BASE.replace('"net"', '"a\\nb"'), "found 'a\\nb'"),
        (BASE.replace('"net"', '"a\\rb"'), "found 'a\\rb'"),
        (BASE.replace('"relu"', '"\\u001b[2J\\u001b[31mrelu"'), "found '\\x1b[2J\\x1b[31mrelu'"),
        (BASE + 'bias = "\\u001f"\n', "bias: expected true or false, found '\\x1f'"),
        (BASE + '"x\\ny" = 1\n', "'x\\ny': expected one of the keys"),
        (BASE + 'dtype = "float32\\u2028"\n', "found 'float32\\u2028'"),
        (BASE + '[training]\ndataset = "a\\u0000b"\n', "found 'a\\x00b'"),
    ],
)
def test_newlines_and_terminal_escapes_are_shown_escaped_on_one_line(text: str, shown: str) -> None:
    assert shown in refused(text)


def test_unknown_names_get_a_did_you_mean() -> None:
    assert "(did you mean 'sigmoid'?)" in refused(BASE.replace('"relu"', '"sigmoidd"'))
    assert "(did you mean 'activations'?)" in refused(BASE + 'activation = ["relu"]\n')
    assert "(did you mean 'optimizer.learning_rate'?)" in refused(
        with_optimizer(kind='"sgd"', learning_rat="0.1")
    )


def test_a_required_key_misspelled_as_another_key_is_named() -> None:
    """`activation` is a key too ([activation.NAME]): its list is the missing `activations`."""
    text = BASE.replace("activations = ", "activation = ")
    assert refused(text) == (
        "hostile.toml: activations: expected this required key"
        " (is 'activation' a misspelling of it?), found it missing"
    )
    assert "misspelling" not in refused(BASE.replace('loss = "cross_entropy"\n', ""))


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (
            with_optimizer(learning_rate='"0.05"'),
            "learning_rate: expected a finite number, found '0.05'",
        ),
        (
            BASE.replace("[2, 3, 2]", '"2, 3, 2"'),
            "layers: expected a list of 2 to 65 layer sizes, found '2, 3, 2'",
        ),
        (
            BASE.replace("[2, 3, 2]", "[2, true, 2]"),
            "layers[1]: expected an integer from 1 to 65536, found true",
        ),
        (
            BASE.replace("[2, 3, 2]", '[2, "3", 2]'),
            "layers[1]: expected an integer from 1 to 65536, found '3'",
        ),
        (BASE + 'bias = "false"\n', "bias: expected true or false, found 'false'"),
        (
            BASE + '[training]\nepochs = "10"\n',
            "epochs: expected an integer from 1 to 1000000, found '10'",
        ),
        (BASE + "dtype = true\n", "found true"),
    ],
)
def test_a_value_of_the_wrong_type_is_shown_as_written(text: str, found: str) -> None:
    """A string is quoted and a boolean written as TOML writes it: "found 0.05" for the string
    "0.05" would read as a number refused for no reason."""
    assert refused(text).endswith(found)


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        (b"\xff" + BASE.encode(), "byte 0xff at offset 0"),
        (BASE.encode() + b'x = "\xc3\x28"\n', "byte 0xc3"),
        (BASE.encode().replace(b"net", b"n\xed\xa0\x80t"), "byte 0xed at offset 9"),
    ],
)
def test_non_utf8_bytes_are_refused_with_the_offset(raw: bytes, found: str) -> None:
    message = refused(raw)
    assert "expected UTF-8 text" in message and found in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "name: expected this required key, found it missing"),
        (BASE.replace('loss = "cross_entropy"\n', ""), "loss: expected this required key"),
        (BASE + "bias = 1\n", "bias: expected true or false, found 1"),
        (BASE + 'dtype = "float16"\n', "dtype: expected one of 'float32', 'float64'"),
        (BASE + 'optimizer = "adam"\n', "optimizer: expected a table"),
        (BASE.replace("[2, 3, 2]", "[2, 3.0, 2]"), "layers[1]: expected an integer"),
        (BASE.replace("[2, 3, 2]", "[2, true, 2]"), "layers[1]: expected an integer"),
        (BASE.replace('"softmax"', '"tanh"'), "activations[-1]: expected 'softmax'"),
        (BASE.replace('["relu", "softmax"]', '["softmax", "softmax"]'), "activations[0]"),
        (BASE.replace("[2, 3, 2]", "[2, 3, 1]"), "layers[-1]: expected at least 2 outputs"),
        (BASE + 'name = "again"\n', "not valid TOML"),
    ],
)
def test_plain_mistakes_name_the_key_expected_and_found(text: str, key: str) -> None:
    assert key in refused(text)


# --- through the CLI: one line on stderr, exit 2, nothing written ----------------------------


@pytest.mark.parametrize(
    "content",
    [
        with_optimizer(kind='"sgd"', learning_rate="9" * 400).encode(),
        (BASE + "x = " + "[" * 5000 + "]" * 5000 + "\n").encode(),
        (BASE + "x = " + "9" * 5000 + "\n").encode(),
        BASE.replace('"net"', '"a\\nb"').encode(),
        b"\x80" + BASE.encode(),
    ],
    ids=["huge-int", "deep", "long-int", "newline", "not-utf8"],
)
def test_the_cli_turns_each_regression_into_exit_2_and_one_line(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "spec.toml"
    path.write_bytes(content)
    code, out, err = run_cli(["generate", str(path), "--out", str(tmp_path)])
    assert (code, out) == (2, "")
    assert err.startswith(f"derive: error: {path}: ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


@pytest.mark.parametrize("target", ["missing.toml", "."], ids=["missing", "directory"])
def test_a_spec_path_that_is_no_file_exits_2(tmp_path: Path, target: str) -> None:
    code, _, err = run_cli(["generate", str(tmp_path / target), "--out", str(tmp_path)])
    assert code == 2 and err.count("\n") == 1
    assert "expected an existing spec file" in err or "expected a spec file" in err


@pytest.mark.parametrize(
    "content",
    [None, b"name = [", BASE.replace('"net"', '"1x"').encode()],
    ids=["missing", "broken-toml", "bad-name"],
)
def test_a_spec_file_name_with_a_newline_is_shown_escaped(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "evil\nname\x1b[31m.toml"
    if content is not None:
        path.write_bytes(content)
    code, _, err = run_cli(["generate", str(path), "--out", str(tmp_path)])
    assert code == 2 and err.count("\n") == 1 and err[:-1].isprintable()
    assert repr(str(path)) in err


def test_the_fingerprint_ignores_layout_but_not_meaning() -> None:
    spec = specs.parse(BASE)
    shuffled = specs.parse(
        '# comment\nloss = "cross_entropy"\nactivations = [ "relu", "softmax" ]\n'
        'layers = [2,3,2]\nname = "net"\nbias = true\n[optimizer]\nlearning_rate = 0.1\n'
    )
    assert shuffled.fingerprint == spec.fingerprint
    assert specs.parse(BASE.replace("[2, 3, 2]", "[2, 4, 2]")).fingerprint != spec.fingerprint
    assert specs.parse(BASE + "bias = false\n").fingerprint != spec.fingerprint
