"""The generator: committed modules are what it makes now, deterministic, readable, contracted."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import sympy as sp
from generator_support import EXAMPLES, ROOT
from jinja2 import meta

from derive import backprop, codegen, optimizers, proofs
from derive import spec as specs
from derive.cli import main

GENERATED = sorted((ROOT / "generated").glob("*.py"))
MODULES = [path for path in GENERATED if path.name != "__init__.py"]
ALLOWED_IMPORTS = set(specs.GENERATED_MODULE_IMPORTS)  # NumPy and the standard library


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_committed_module_is_what_the_generator_makes_now(path: Path) -> None:
    spec = specs.load(path)
    committed = (ROOT / "generated" / f"{spec.name}.py").read_text(encoding="utf-8")
    assert committed == codegen.render_module(spec), "run `derive generate --all`"


def test_check_passes_on_the_committed_tree(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # --all reads ./generated/specs/
    assert main(["generate", "--all", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_output_is_the_same_bytes_under_any_hash_seed() -> None:
    script = (
        "import hashlib, sys; from derive import codegen, spec;"
        "texts = [codegen.render_module(spec.load(p)) for p in sys.argv[1:]];"
        "print(hashlib.sha256(''.join(texts).encode()).hexdigest())"
    )
    chosen = [p for p in EXAMPLES if p.stem in ("circles", "moons", "seed_softmax_mse")]
    paths = [str(p) for p in chosen]
    expected = hashlib.sha256(
        "".join(codegen.render_module(specs.load(p)) for p in chosen).encode()
    ).hexdigest()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script, *paths], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == expected


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.stem)
def test_header_names_versions_and_fingerprint_but_no_time_or_path(path: Path) -> None:
    head = "".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:5])
    assert head.startswith(codegen.MARKER)
    assert f"SymPy {sp.__version__}" in head or path.name == "__init__.py"
    assert "Regenerate: derive generate" in head
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}", head)
    assert str(ROOT) not in path.read_text(encoding="utf-8")
    if path.name != "__init__.py":
        spec = specs.load(ROOT / "generated" / "specs" / f"{path.stem}.toml")
        assert spec.fingerprint in head


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.stem)
def test_module_parses_fits_100_columns_and_imports_numpy_and_stdlib_only(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    assert all(len(line) <= 100 for line in text.splitlines())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= ALLOWED_IMPORTS
    # NumPy and the standard library alone are required: anything else is tried, not needed
    required = set(sys.stdlib_module_names) | {"numpy"}
    guarded = {
        (each.module if isinstance(each, ast.ImportFrom) else each.names[0].name)
        for node in ast.walk(tree)
        if isinstance(node, ast.Try)
        and any(isinstance(h.type, ast.Name) and h.type.id == "ImportError" for h in node.handlers)
        for each in node.body
        if isinstance(each, ast.Import | ast.ImportFrom)
    }
    assert imported - required <= guarded


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_every_cited_derivation_is_registered(path: Path) -> None:
    cited = set(re.findall(r"\[([a-z]+\.[a-z_]+)\]", path.read_text(encoding="utf-8")))
    known = set(backprop.DERIVATIONS) | set(optimizers.UPDATES)
    spec = specs.load(ROOT / "generated" / "specs" / f"{path.stem}.toml")
    for name, _ in spec.user_activations:  # a spec's own activation: its ids, once proved
        assert proofs.prove_slope(spec.activation(name)).holds
        known |= {f"def.{name}", f"act.{name}"}
    assert cited, "a module cites no derivation"
    assert cited <= known


def _function_source(path: Path, name: str) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(path.read_text(encoding="utf-8"), node) or ""


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_fast_path_allocates_nothing_and_never_branches_on_the_spec(path: Path) -> None:
    function = ast.parse(_function_source(path, "train_step")).body[0]
    assert isinstance(function, ast.FunctionDef)
    # the fast path: everything after the input checks, from the `try` that finds the blocks
    start = next(i for i, node in enumerate(function.body) if isinstance(node, ast.Try))
    fast = function.body[start:]
    body = "\n".join(ast.unparse(node) for node in fast)
    for banned in (" @ ", "numpy.zeros", "numpy.empty(", ".copy()", "numpy.array(", "[:] ="):
        assert banned not in body
    assert "for " not in body  # no Python loop over layers
    branches = {
        ast.unparse(n.test) for node in fast for n in ast.walk(node) if isinstance(n, ast.If)
    }
    # the blocks are checked by identity, the workspace looked up, foreign arrays copied
    held = next(b for b in branches if b.startswith("fast.__class__ is not _Fast or params["))
    rest = {"fast is None", "buffers is None", "copies", "not math.isfinite(loss)", "threads"}
    adam = {"type(step) is not int or step < 0"}  # the state's step count, checked
    assert branches - {held} - adam == rest


def _declared(env: jinja2.Environment, name: str, seen: set[str]) -> set[str]:
    """Undeclared variables of a template and, recursively, of the partials it includes."""
    source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
    tree = env.parse(source)
    names = set(meta.find_undeclared_variables(tree))
    for partial in meta.find_referenced_templates(tree):
        if partial and partial not in seen:
            seen.add(partial)
            names |= _declared(env, partial, seen)
    return names


def test_template_variables_are_exactly_the_context_fields() -> None:
    env = codegen.environment()
    fields = set(codegen.ModuleContext.__dataclass_fields__)
    assert _declared(env, codegen.ENTRY_TEMPLATE, set()) == fields


def test_a_missing_context_key_fails_at_render_time() -> None:
    env = codegen.environment()
    with pytest.raises(jinja2.UndefinedError):
        env.get_template(codegen.ENTRY_TEMPLATE).render(header="x")


def test_context_holds_plain_data_only() -> None:
    ctx = codegen.context(specs.load(EXAMPLES[0]))
    for value in vars(ctx).values():
        items = value if isinstance(value, list) else [value]
        assert all(isinstance(item, str | bool) for item in items)


# --- the command ---------------------------------------------------------------------------


def _spec_file(folder: Path, name: str = "tiny") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nlayers = [2, 3, 1]\nactivations = ["tanh", "sigmoid"]\n'
        'loss = "binary_cross_entropy"\n',
        encoding="utf-8",
    )
    return path


def test_generate_writes_the_module_and_check_reports_a_hand_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = _spec_file(tmp_path)
    assert main(["generate", str(spec_path), "--out", str(tmp_path)]) == 0
    module = tmp_path / "tiny.py"
    assert module.read_text(encoding="utf-8") == codegen.render_module(specs.load(spec_path))
    assert main(["generate", str(spec_path), "--out", str(tmp_path), "--check"]) == 0
    module.write_text(module.read_text(encoding="utf-8") + "# edited by hand\n", encoding="utf-8")
    before = module.read_bytes()
    capsys.readouterr()
    assert main(["generate", str(spec_path), "--out", str(tmp_path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "-# edited by hand" in out and "(generated now)" in out
    assert module.read_bytes() == before  # --check never writes


def test_generate_refuses_to_overwrite_a_file_it_did_not_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_path = _spec_file(tmp_path)
    mine = tmp_path / "tiny.py"
    mine.write_text("print('my own work')\n", encoding="utf-8")
    assert main(["generate", str(spec_path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and len(err.strip().splitlines()) == 1
    assert mine.read_text(encoding="utf-8") == "print('my own work')\n"
    assert main(["generate", str(spec_path), "--out", str(tmp_path), "--force"]) == 0
    assert mine.read_text(encoding="utf-8").startswith(codegen.MARKER)


def test_a_bad_spec_among_good_ones_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _spec_file(tmp_path, "good")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nlayers = [2, 1]\nactivations = ["relu"]\nlos = "mse"\n')
    out = tmp_path / "out"
    out.mkdir()
    assert main(["generate", str(good), str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "los" in err and "did you mean 'loss'" in err
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('name = "class"\nlayers = [2, 1]\nactivations = ["relu"]\nloss = "mse"', "name"),
        ('name = "x"\nlayers = [2, 0]\nactivations = ["relu"]\nloss = "mse"', "layers[1]"),
        (
            'name = "x"\nlayers = [2, 3]\nactivations = ["relu"]\nloss = "cross_entropy"',
            "activations[-1]",
        ),
        ('name = "x"\nlayers = [2, 3]\nactivations = ["relus"]\nloss = "mse"', "activations[0]"),
        (
            'name = "x"\nlayers = [2, 3]\nactivations = ["relu"]\nloss = "mse"\n'
            '[optimizer]\nkind = "adam"\nlearning_rate = nan',
            "optimizer.learning_rate",
        ),
        (
            'name = "x"\nlayers = [2, 3, 3]\nactivations = ["softmax", "relu"]\nloss = "mse"',
            "activations[0]",
        ),
    ],
)
def test_spec_errors_name_the_key(text: str, key: str) -> None:
    with pytest.raises(Exception, match=re.escape(key)) as info:
        specs.parse(text, source="s.toml")
    assert type(info.value).__name__ == "DeriveError"
    assert str(info.value).startswith("s.toml: ")
