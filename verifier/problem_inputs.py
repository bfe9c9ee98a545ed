"""How a seed becomes a problem's weights and inputs -- the one definition both processes use.

The parent (reference) and the candidate's process each build a seed's inputs themselves from the problem
file, so no inputs travel between them: on a GPU they are drawn on the GPU (``torch.device('cuda')`` as
the default device while ``get_inputs()`` runs), which takes milliseconds where drawing gigabytes on the
CPU and shipping them in a file took seconds. Same code, same seed, same card and torch: same values.
"""
from __future__ import annotations

import importlib.util
import sys
from typing import Any

# the problem's file names in the candidate's private directory (its own shapes, then the hidden shape)
PROBLEM_FILE = "problem.py"
HIDDEN_PROBLEM_FILE = "problem_hidden_shape.py"
B_SEED_OFFSET = 1_000_003  # the second call's values (caching check)
C_SEED_OFFSET = 2_000_029  # the third timing input set
# the timing's three input sets, from the first seed: its two correctness sets and one more
TIMING_SEED_OFFSETS = (0, B_SEED_OFFSET, C_SEED_OFFSET)


def load_problem(path: str, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py path always has both
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


def load_problem_source(source: str, name: str) -> Any:
    """The problem as a module made from its source, with no file behind it (the parent keeps none a
    candidate could replace). ``linecache`` gets the source, so tracebacks and inspect still work."""
    import linecache
    import types

    filename = f"<problem {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    mod = types.ModuleType(name)
    mod.__file__ = filename
    sys.modules[name] = mod
    try:
        exec(compile(source, filename, "exec"), mod.__dict__)  # the problem is trusted code
    except BaseException:
        sys.modules.pop(name, None)
        linecache.cache.pop(filename, None)
        raise
    return mod


def forget_problem(name: str) -> None:
    import linecache

    sys.modules.pop(name, None)
    linecache.cache.pop(f"<problem {name}>", None)


def init_inputs(torch: Any, mod: Any, seed: int) -> list[Any]:
    torch.manual_seed(seed)
    return list(mod.get_init_inputs())


def reference_state(torch: Any, mod: Any, seed: int, init: list[Any]) -> tuple[Any, dict[str, Any]]:
    """``Model(*init)`` built on the CPU with the seed set, and a CPU copy of its weights (which the
    candidate's ``ModelNew`` receives)."""
    torch.manual_seed(seed)
    model = mod.Model(*init)
    sd = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return model, sd


def make_inputs(torch: Any, mod: Any, seed: int, device: str) -> list[Any]:
    torch.manual_seed(seed)
    if device == "cuda":
        with torch.device("cuda"):
            xs = list(mod.get_inputs())
    else:
        xs = list(mod.get_inputs())
    return [x.to(device) if isinstance(x, torch.Tensor) else x for x in xs]
