"""On a GPU: timing.hardware for fixture kernels (docs/verifier.md, "Hardware feedback").
``python -m pytest -q -m gpu verifier/tests/gpu/test_hardware_gpu.py``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from verifier.tests.conftest import request

GPU = Path(__file__).resolve().parent.parent / "fixtures" / "gpu"


def _verify(prob: str, cand: str) -> dict[str, Any]:
    from verifier.verify import parse_request, verify_request

    req = request(prob, cand, device="cuda", seeds=[0, 1], timing=True, timeout_s=300,
                  problem_source=(GPU / "problems" / f"{prob}.py").read_text(),
                  candidate_source=(GPU / "candidates" / f"{cand}.py").read_text())
    v = verify_request(parse_request(json.dumps(req)))
    assert v["status"] == "correct", v["message"]
    return dict(v)


def test_a_copy_like_triton_kernel_is_memory_bound_near_the_copy_rate_with_its_resources() -> None:
    v = _verify("gpu_axpy", "axpy_triton")
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


def test_three_launches_against_the_references_fewer_are_counted() -> None:
    hw = _verify("gpu_axpy", "axpy_triton_3launch")["timing"]["hardware"]
    assert hw is not None and hw["launches_per_call"] == 3.0, hw
    assert {k["name"].split("_kernel")[0] for k in hw["kernels"]} >= {"scale", "add", "copy"}, hw
    ref = hw["reference_launches_per_call"]
    assert ref is not None and ref < 3, hw  # eager a + b * scale: a mul and an add


def test_a_cuda_kernel_with_forced_spills_reports_them() -> None:
    """An extension's kernels get ptxas's figures from the built module (verifier/cuda_resources.py)."""
    hw = _verify("gpu_axpy", "axpy_cuda_spill")["timing"]["hardware"]
    assert hw is not None, hw
    k = next(k for k in hw["kernels"] if k["name"].startswith("axpy_spill_kernel"))
    assert k["registers"] and 0 < k["registers"] <= 32, hw  # -maxrregcount=16 (ptxas keeps a few more)
    assert k["spill_bytes"] is not None and k["spill_bytes"] >= 64, hw  # 128 bytes of spill stores on sm_90a
    assert not any("cuobjdump" in n for n in hw["notes"]), hw["notes"]


def test_a_cuda_kernel_without_local_memory_reports_none() -> None:
    hw = _verify("gpu_axpy", "axpy_cuda")["timing"]["hardware"]
    assert hw is not None, hw
    k = next(k for k in hw["kernels"] if k["name"].startswith("axpy_kernel"))
    assert k["registers"] and k["registers"] > 0 and k["spill_bytes"] == 0, hw
