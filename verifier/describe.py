"""Input shapes and dtypes of problems, for listings: ``python -m verifier.describe FILE [FILE ...]``.

Prints one JSON object ``{path: {"inputs": [{"shape": [...], "dtype": "float32"}, ...]} | {"error": "..."}}``.
Unlike ``inspect`` this imports each problem, but builds its inputs on PyTorch's meta device, so no
memory is allocated and no kernel runs (a 4 GB input costs nothing). One process serves many files.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any


def describe(path: str) -> dict[str, Any]:
    import torch

    try:
        spec = importlib.util.spec_from_file_location("described_problem", path)
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        with torch.device("meta"):
            spec.loader.exec_module(mod)
            inputs = mod.get_inputs()
    except Exception as e:  # noqa: BLE001 - any failure is reported per file
        return {"error": f"{type(e).__name__}: {e}".split("\n")[0][:200]}
    out = []
    for x in inputs:
        if isinstance(x, torch.Tensor):
            out.append({"shape": list(x.shape), "dtype": str(x.dtype).replace("torch.", "")})
        else:
            out.append({"value": repr(x)[:60]})
    return {"inputs": out}


def main(argv: list[str]) -> int:
    print(json.dumps({p: describe(p) for p in argv}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
