"""The speed of light on a real card (``pytest -m gpu verifier/tests/gpu/test_speed_of_light_gpu.py``): the
measured copy and matrix rates are those of the card (within its datasheet), and verdicts of the GPU
fixtures carry a figure of the right kind: axpy memory-bound on its bytes alone, an fp16 matmul
compute-bound, both at a plausible share of the limit."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from verifier import baselines
from verifier.tests.gpu.client import WarmVerifier, request

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "gpu"


def test_measured_rates_are_the_cards() -> None:
    import torch

    _name, spec_bw, spec_f32, spec_f16 = baselines._peaks(torch.cuda.get_device_name(0))
    bw = baselines.copy_bandwidth(torch)
    f16 = baselines.matmul_peak(torch, "float16")
    # a copy reaches most of the datasheet's bandwidth and never more; the fp16 matrix rate likewise
    assert 0.5 * spec_bw < bw <= 1.05 * spec_bw, f"copy rate {bw / 1e12:.2f} TB/s against {spec_bw / 1e12:.2f}"
    assert 0.3 * spec_f16 < f16 <= 1.05 * spec_f16, f"fp16 matrix rate {f16 / 1e12:.0f} TFLOP/s against {spec_f16 / 1e12:.0f}"
    f32 = baselines.matmul_peak(torch, "float32")
    assert f32 < f16 / 4, "float32 without TF32 is far below the fp16 tensor-core rate"


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Any:
    v = WarmVerifier("cuda", tmp_path_factory.mktemp("sol-data"))
    yield v
    v.close()


@pytest.mark.parametrize(("problem", "candidate", "limiter", "bytes_only"), [
    ("gpu_axpy", "axpy_triton", "memory", True),
    ("gpu_matmul", "matmul_triton", "compute", False),
])
def test_verdicts_carry_a_figure_of_the_right_kind(verifier: Any, problem: str, candidate: str, limiter: str, bytes_only: bool) -> None:
    verdict, _wall, _detail = verifier.verify(request(FIX / "problems" / f"{problem}.py", FIX / "candidates" / f"{candidate}.py", "triton", "cuda"))
    assert verdict["status"] == "correct", verdict["message"][-2000:]
    sol = verdict["timing"]["sol"]
    assert sol is not None, "a GPU-timed verdict has a speed of light"
    assert sol["limiter"] == limiter and sol["bytes_only"] is bytes_only, sol
    assert 0.02 < sol["fraction"] < 1.2, sol
    median = verdict["timing"]["candidate_ms"]["median"] / 1000
    assert sol["achieved_tbps"] == pytest.approx(sol["min_bytes"] / median / 1e12, rel=1e-6)
    assert "of this card's speed of light" in verdict["message"]
