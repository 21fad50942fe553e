"""Run in a subprocess by test_blas_threads.py: train steps of a generated module, printing
(as JSON) the BLAS thread count each of its matrix products saw, and the count after.

Usage: python blas_threads_probe.py MODULE START_THREADS [LIMIT]
- MODULE: the path of a generated module of the digits network (64-128-10, adam);
- START_THREADS: the count set (with threadpoolctl) before the module's first step, so that
  the library's own count is above 1 on any machine; 0 leaves the count as it is;
- LIMIT: a threadpoolctl limit the caller sets around the steps of the "limited" record.

The count is read with threadpoolctl, independently of the module's own handle.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits


def numpy_blas() -> ThreadpoolController:
    """threadpoolctl's controller of the BLAS NumPy ships (not another library's copy)."""
    home = str(Path(np.__file__).parent)
    controller = ThreadpoolController().select(user_api="blas")
    controller.lib_controllers = [
        lib for lib in controller.lib_controllers if lib.filepath.startswith(home)
    ]
    return controller


def main() -> None:
    path, start = Path(sys.argv[1]), int(sys.argv[2])
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
    blas = numpy_blas()

    def count() -> int:
        return int(blas.info()[0]["num_threads"])

    out: dict[str, object] = {"before_import": count()}
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    assert module_spec is not None and module_spec.loader is not None
    net = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(net)
    dtype = net.DTYPE
    out["after_import"] = count()
    out["found_at_import"] = net._BLAS.own != -1
    if start:
        blas.lib_controllers[0].set_num_threads(start)
    seen: list[int] = []
    for name in ("dot", "matmul"):
        product = getattr(net, name)

        def recording(a, b, out, product=product):
            seen.append(count())
            return product(a, b, out=out)

        setattr(net, name, recording)

    class Recording(np.ndarray):
        def __rmatmul__(self, other):
            seen.append(count())
            return np.asarray(other) @ np.asarray(self)

    rng = np.random.default_rng(0)
    params = net.init_params()
    state = net.init_optimizer(params)

    def steps(name: str, batch: int, number: int) -> None:
        X = rng.standard_normal((batch, 64)).astype(dtype)
        Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, batch)]
        seen.clear()
        for _ in range(number):
            net.train_step(params, X, Y, state)
        out[name] = {"inside": sorted(set(seen)), "after": count()}

    steps("small", 64, 3)  # every product small: one thread
    seen.clear()  # the readable path: X @ W.T, seen through W's __rmatmul__
    net._forward({k: v.view(Recording) for k, v in params.items()}, np.ones((64, 64), dtype))
    out["forward"] = {"inside": sorted(set(seen)), "after": count()}
    steps("large", 1024, 4)  # a large product: timed, each count tried
    seen.clear()  # fit's steps, batches of 64
    X = rng.standard_normal((256, 64)).astype(dtype)
    net.fit(net.init_params(), X, rng.integers(0, 10, 256), epochs=1, batch_size=64)
    out["fit"] = {"inside": sorted(set(seen)), "after": count()}
    if limit is not None:
        with threadpool_limits(limit, user_api="blas"):
            steps("limited", 64, 3)
        out["after_limit"] = count()
    digest = hashlib.sha256()
    for name in net.PARAM_NAMES:
        digest.update(np.ascontiguousarray(params[name]).tobytes())
    out["params_sha256"] = digest.hexdigest()
    state["step"] = -1  # the step raises inside, after its count was set
    try:
        net.train_step(params, np.zeros((64, 64), dtype), np.zeros((64, 10), dtype), state)
    except ValueError:
        out["after_error"] = count()
    out["thread_batches"] = [net.THREADS_ONE, net.THREADS_MEASURED]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
