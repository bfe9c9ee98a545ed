"""The ``gpu`` marker for everything in this folder, and the skip when no CUDA GPU is present."""
from __future__ import annotations

import functools

import pytest


@functools.cache
def cuda_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "verifier/tests/gpu/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.gpu)
            if not cuda_gpu():
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
