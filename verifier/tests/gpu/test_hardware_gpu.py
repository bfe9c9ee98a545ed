"""On a GPU: timing.hardware for fixture kernels (docs/verifier.md, "Hardware feedback").
``python -m pytest -q -m gpu verifier/tests/gpu/test_hardware_gpu.py``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from verifier.tests.gpu.client import WarmVerifier, request

GPU = Path(__file__).resolve().parent.parent / "fixtures" / "gpu"


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Any:
    v = WarmVerifier("cuda", tmp_path_factory.mktemp("hw-data"))
    yield v
    v.close()


def _verify(verifier: Any, prob: str, cand: str, backend: str = "triton") -> dict[str, Any]:
    verdict, _wall, _detail = verifier.verify(request(GPU / "problems" / f"{prob}.py", GPU / "candidates" / f"{cand}.py",
                                                      backend, "cuda", seeds=[0, 1]))
    assert verdict["status"] == "correct", verdict["message"][-2000:]
    return dict(verdict)


def test_a_copy_like_triton_kernel_is_memory_bound_near_the_copy_rate_with_its_resources(verifier: Any) -> None:
    v = _verify(verifier, "gpu_axpy", "axpy_triton")
    t = v["timing"]
    assert t["sol"]["limiter"] == "memory" and t["sol"]["fraction"] >= 0.6, t["sol"]
    hw = t["hardware"]
    assert hw is not None and hw["source"] == "candidate process", hw
    k = next(k for k in hw["kernels"] if k["name"].startswith("axpy_kernel"))
    assert k["registers"] and k["registers"] > 0, k
    assert k["block"] == [256], k  # num_warps=8
    assert k["grid"] is not None and k["grid"][0] == (1 << 24) // 4096, k
    assert k["occupancy"] is not None and 0 < k["occupancy"] <= 1 and k["occupancy_limiter"], k
    assert k["calls_per_call"] == 1.0 and hw["launches_per_call"] == 1.0, hw
    assert hw["reference_launches_per_call"] is not None and hw["reference_launches_per_call"] >= 1, hw


def test_three_launches_against_the_references_fewer_are_counted(verifier: Any) -> None:
    hw = _verify(verifier, "gpu_axpy", "axpy_triton_3launch")["timing"]["hardware"]
    assert hw is not None and hw["launches_per_call"] == 3.0, hw
    assert {k["name"].split("_kernel")[0] for k in hw["kernels"]} >= {"scale", "add", "copy"}, hw
    ref = hw["reference_launches_per_call"]
    assert ref is not None and ref < 3, hw  # eager a + b * scale: a mul and an add


def test_a_cuda_kernel_with_forced_spills_reports_them(verifier: Any) -> None:
    """An extension's kernels get ptxas's figures from the built module (verifier/cuda_resources.py)."""
    hw = _verify(verifier, "gpu_axpy", "axpy_cuda_spill", "cuda")["timing"]["hardware"]
    assert hw is not None, hw
    k = next(k for k in hw["kernels"] if k["name"].startswith("axpy_spill_kernel"))
    assert k["registers"] and 0 < k["registers"] <= 32, k  # -maxrregcount=16 (ptxas keeps a few more)
    assert k["spill_bytes"] is not None and k["spill_bytes"] >= 64, k  # 128 bytes of spill stores on sm_90a
    assert not any("cuobjdump" in n for n in hw["notes"]), hw["notes"]


def test_a_cuda_kernel_without_local_memory_reports_none(verifier: Any) -> None:
    hw = _verify(verifier, "gpu_axpy", "axpy_cuda", "cuda")["timing"]["hardware"]
    assert hw is not None, hw
    k = next(k for k in hw["kernels"] if k["name"].startswith("axpy_kernel"))
    assert k["registers"] and k["registers"] > 0 and k["spill_bytes"] == 0, hw
