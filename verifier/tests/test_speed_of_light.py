"""Speed of light (docs/verifier.md, "Speed of light") against hand-computed cases: the fraction from the
bounds, and how bounds() counts bytes and FLOPs (on CPU, with the card's measured rates replaced)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from verifier import baselines


def test_memory_bound_from_bytes_alone() -> None:
    # 2 GB at 4 TB/s take 0.5 ms; a 1 ms kernel is at half of that
    sol = baselines.speed_of_light({"copy_bw": 4e12, "min_bytes": 2_000_000_000, "flops": 0, "peak_flops": 0.0}, 1.0)
    assert sol is not None
    assert sol["fraction"] == pytest.approx(0.5)
    assert sol["limiter"] == "memory"
    assert sol["achieved_tbps"] == pytest.approx(2.0)
    assert sol["copy_tbps"] == pytest.approx(4.0)
    assert sol["achieved_tflops"] is None and sol["peak_tflops"] is None
    assert sol["bytes_only"] is True


def test_compute_bound_fp16_matmul() -> None:
    n = 4096
    flops, nbytes = 2 * n ** 3, 3 * n * n * 2  # C = A @ B in fp16: 137.4 GFLOP over 100.7 MB
    base = {"copy_bw": 4e12, "min_bytes": nbytes, "flops": flops, "peak_flops": 800e12, "peak_dtype": "float16"}
    sol = baselines.speed_of_light(base, 0.25)
    assert sol is not None
    # 137438953472 FLOP at 800 TFLOP/s = 0.171799 ms (the bytes alone: 0.025166 ms) over 0.25 ms
    assert sol["fraction"] == pytest.approx(0.17179869184 / 0.25)
    assert sol["limiter"] == "compute"
    assert sol["achieved_tflops"] == pytest.approx(549.755813888)
    assert sol["achieved_tbps"] == pytest.approx(0.402653184)
    assert sol["peak_tflops"] == pytest.approx(800.0)
    assert sol["peak_dtype"] == "float16"
    assert sol["bytes_only"] is False


def test_small_matmul_is_memory_bound_and_faster_than_the_limit_reads_above_one() -> None:
    # 2*64^3 FLOP = 0.524 MFLOP at 100 TFLOP/s: 5.2 ns; 3*64*64*4 B = 49152 B at 1 TB/s: 49.152 ns
    base = {"copy_bw": 1e12, "min_bytes": 49152, "flops": 2 * 64 ** 3, "peak_flops": 100e12}
    sol = baselines.speed_of_light(base, 0.00004)  # 40 ns: below the bound, so the fraction is above 1
    assert sol is not None
    assert sol["limiter"] == "memory"
    assert sol["fraction"] == pytest.approx(49.152 / 40)


def test_no_figure_without_a_copy_rate_bytes_or_a_time() -> None:
    good = {"copy_bw": 4e12, "min_bytes": 1000, "flops": 0, "peak_flops": 0.0}
    assert baselines.speed_of_light({**good, "copy_bw": 0.0}, 1.0) is None, "the copy rate was not measured"
    assert baselines.speed_of_light({**good, "min_bytes": 0}, 1.0) is None
    assert baselines.speed_of_light(good, None) is None
    assert baselines.speed_of_light(good, 0.0) is None
    # FLOPs counted but no matrix rate measured: bounded by the bytes, not called bytes-only
    sol = baselines.speed_of_light({**good, "flops": 10 ** 9}, 0.001)
    assert sol is not None and sol["limiter"] == "memory" and sol["bytes_only"] is False and sol["peak_tflops"] is None


def _ref(model: torch.nn.Module, inputs: list[Any]) -> Any:
    with torch.no_grad():
        out = model(*inputs)
    outs = list(out) if isinstance(out, tuple) else [out]
    return SimpleNamespace(torch=torch, trials=[SimpleNamespace(model=model)], timing_inputs=[inputs], timing_refs=[outs])


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The card's measured rates, fixed: copy 1 TB/s, matrix 10 TFLOP/s; records the dtypes asked for."""
    asked: list[str] = []

    def peak(_torch: Any, dtype_name: str) -> float:
        asked.append(dtype_name)
        return 10e12

    monkeypatch.setattr(baselines, "copy_bandwidth", lambda _torch: 1e12)
    monkeypatch.setattr(baselines, "matmul_peak", peak)
    return asked


class _MatmulWithBuffers(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(64, 32))
        self.register_buffer("scale", torch.ones(32))  # persistent: in state_dict, counted
        self.register_buffer("scratch", torch.zeros(1000), persistent=False)  # not in state_dict: not counted

    def forward(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return (x @ self.w) * self.scale * k


def test_bounds_count_inputs_weights_persistent_buffers_and_outputs_once(rates: list[str]) -> None:
    ref = _ref(_MatmulWithBuffers(), [torch.randn(16, 64), 3])
    b = baselines.bounds(ref, "NVIDIA H200")
    # x 16*64*4 + w 64*32*4 + scale 32*4 + out 16*32*4; the int argument and the non-persistent buffer count none
    assert b["min_bytes"] == 4096 + 8192 + 128 + 2048
    assert b["out_bytes"] == 2048
    assert b["flops"] == 2 * 16 * 64 * 32, "the matrix product only: the elementwise scaling counts none"
    assert b["peak_dtype"] == "float32" and rates == ["float32"]
    assert b["copy_bw"] == 1e12 and b["peak_flops"] == 10e12
    # the implausible-speedup bound uses the faster of the measured rate and the datasheet's (4.8 TB/s on H200)
    assert b["bound_ms"] == pytest.approx(2048 / 4.8e12 * 1000)
    sol = baselines.speed_of_light(b, 0.001)
    assert sol is not None
    # bytes: 14464 B at 1 TB/s = 14.464 ns; FLOPs: 65536 at 10 TFLOP/s = 6.5536 ns; over 1 us
    assert sol["limiter"] == "memory"
    assert sol["fraction"] == pytest.approx(14.464e-9 / 1e-6)


class _Softmax(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x.float(), dim=-1).to(x.dtype)


def test_a_fused_reduction_is_bounded_by_its_bytes_alone(rates: list[str]) -> None:
    # softmax's exponentials and sums are not counted: bytes-only, and the matrix rate is never measured
    ref = _ref(_Softmax(), [torch.randn(8, 256, dtype=torch.float16)])
    b = baselines.bounds(ref, "NVIDIA H200")
    assert b["flops"] == 0 and b["peak_flops"] == 0.0 and rates == []
    assert b["min_bytes"] == 2 * 8 * 256 * 2, "input and output, not the reference's fp32 intermediates"
    assert b["peak_dtype"] == "float16"
    sol = baselines.speed_of_light(b, 0.0001)
    assert sol is not None and sol["bytes_only"] is True and sol["fraction"] == pytest.approx(8192 / 1e12 / 1e-7)


class _Bf16Matmul(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b


def test_the_matrix_rate_is_that_of_the_problems_dtype(rates: list[str]) -> None:
    ref = _ref(_Bf16Matmul(), [torch.randn(32, 32, dtype=torch.bfloat16), torch.randn(32, 32, dtype=torch.bfloat16)])
    b = baselines.bounds(ref, "some unknown card")
    assert rates == ["bfloat16"] and b["peak_dtype"] == "bfloat16"
    assert b["flops"] == 2 * 32 ** 3


def test_without_measured_rates_there_is_no_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_a: Any) -> float:
        raise RuntimeError("no CUDA")

    monkeypatch.setattr(baselines, "copy_bandwidth", fail)
    b = baselines.bounds(_ref(_Bf16Matmul(), [torch.randn(4, 4), torch.randn(4, 4)]), "NVIDIA H200")
    assert b["copy_bw"] == 0.0 and b["peak_flops"] == 0.0
    assert baselines.speed_of_light(b, 1.0) is None
