"""The generator: spec + derivations -> plain-data context -> Jinja templates -> module text.

    render_module(spec) = render(context(spec));  run_generate writes it, or checks it

One module per stage, each reading only the stages before it:

    naming    where modules go, the arrays' names, citations        (Spec -> names)
    printing  SymPy -> NumPy source text                            (expression -> str)
    lower     SymPy -> three-address NumPy calls into buffers       (expression -> Calls)
    readable  the readable path: _forward, _loss, _loss_and_grads   (Layers -> lines)
    blas      BLAS threads per matrix product                       (Spec -> Products)
    fast      the fast path: train_step, its blocks and workspace   (Layers -> lines)
    memory    the allocation estimate and its refusal               (Spec -> bytes)
    context   everything a template needs, as plain data            (Spec -> ModuleContext)
    render    the Jinja templates                                   (ModuleContext -> text)
    write     atomic writes, --check, --prune                       (specs -> files)
    load      import a generated module, or build one in memory     (Spec -> module)
"""

from derive.codegen.blas import (
    MEASURED_FROM,
    ONE_THREAD_FROM,
    Product,
    products,
    thread_batches,
    threads,
)
from derive.codegen.context import ModuleContext, context, header
from derive.codegen.load import build_module, load_module
from derive.codegen.memory import check_memory, machine_memory, memory_estimate
from derive.codegen.naming import ENTRY_TEMPLATE, GENERATED, INIT_TEMPLATE, MARKER, SPECS
from derive.codegen.render import environment, render, render_module, render_package_init
from derive.codegen.write import run_generate, write_atomic

__all__ = [
    "ENTRY_TEMPLATE",
    "GENERATED",
    "INIT_TEMPLATE",
    "MARKER",
    "MEASURED_FROM",
    "ONE_THREAD_FROM",
    "SPECS",
    "ModuleContext",
    "Product",
    "build_module",
    "check_memory",
    "context",
    "environment",
    "header",
    "load_module",
    "machine_memory",
    "memory_estimate",
    "products",
    "render",
    "render_module",
    "render_package_init",
    "run_generate",
    "thread_batches",
    "threads",
    "write_atomic",
]
