"""timing.hardware: occupancy estimates and the bounded form of the candidate's kernel report, from
recorded metric sets (no GPU; the GPU check is verifier/tests/gpu/test_hardware_gpu.py)."""

import jsonschema
import pytest

from verifier import hardware
from verifier.tests.test_structure import SCHEMA


@pytest.mark.parametrize(("regs", "smem", "threads", "occ", "limiter"), [
    (16, 0, 128, 1.0, "warps"),  # a copy kernel: 16 blocks of 4 warps fill the SM
    (255, 0, 256, 0.125, "registers"),  # 255 regs round to 256 per thread: one block of 8 warps
    (32, 100_000, 128, 0.125, "shared_memory"),  # two blocks of 100 KB (+1 KiB reserved each)
    (16, 0, 32, 0.5, "blocks"),  # one-warp blocks: 32 blocks per SM hold half the warps
    (32, 240_000, 128, 0.0, "shared_memory"),  # more than a block may have: cannot launch
    (None, None, 1024, 1.0, "warps"),  # unknown registers and shared memory do not limit
])
def test_occupancy(regs: int | None, smem: int | None, threads: int, occ: float, limiter: str) -> None:
    assert hardware.occupancy(regs, smem, threads) == (occ, limiter)


def test_occupancy_without_a_block_size_is_unknown() -> None:
    assert hardware.occupancy(32, 0, None) == (None, None)


def test_a_report_is_typed_bounded_and_gets_the_parents_occupancy() -> None:
    report = {"calls": 3, "launches": 9, "notes": ["n"] * 20 + [5], "kernels": [
        {"name": "copy_kernel" + "x" * 500, "launches": 3, "grid": [4096, 1, 1], "block": [128, 1, 1],
         "registers": 16, "shared_bytes": 0, "spill_bytes": 0, "occupancy": 0.01},
        {"name": "spill", "launches": 6, "grid": "huge", "block": [256], "registers": 255, "shared_bytes": True,
         "spill_bytes": 1024},
        "not a kernel", {"no": "name"},
    ] + [{"name": f"k{i}", "launches": 0} for i in range(30)]}
    h = hardware.build(report, 1.0)
    assert h is not None
    jsonschema.validate(h, SCHEMA["properties"]["timing"]["anyOf"][0]["properties"]["hardware"])
    assert h["launches_per_call"] == 3.0 and h["reference_launches_per_call"] == 1.0
    assert len(h["kernels"]) == hardware.MAX_KERNELS
    first, second = h["kernels"][0], h["kernels"][1]
    assert first["name"] == "spill" and first["calls_per_call"] == 2.0  # most launched first
    assert first["grid"] is None and first["shared_bytes"] is None  # wrong types dropped, not trusted
    assert (first["occupancy"], first["occupancy_limiter"]) == (0.125, "registers")
    assert first["spill_bytes"] == 1024
    assert len(second["name"]) == hardware.MAX_NAME
    assert second["occupancy"] == 1.0  # the parent's estimate, not the report's 0.01
    assert len(h["notes"]) == hardware.MAX_NOTES and h["notes"][-1] == "16 more kernel(s) not listed"


def test_no_report_no_field() -> None:
    assert hardware.build(None, 1.0) is None
    assert hardware.build("kernels", None) is None
