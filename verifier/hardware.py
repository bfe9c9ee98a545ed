"""Hardware feedback for a timed candidate (``timing.hardware``): occupancy estimates from a kernel's
registers, shared memory and block size, and the bounded, typed form of what the candidate's process
reported about its kernels. Advice for the next prompt only: nothing here changes a verdict's status.
No torch: the parent calls it, the unit tests feed it recorded metric sets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

from . import cuda_resources
from .wire import Hardware, HardwareKernel, Limiter

MAX_KERNELS = 16  # the schema's bound on timing.hardware.kernels
MAX_NAME = 200
MAX_NOTES = 8
MAX_NOTE = 400


@dataclass(frozen=True)
class SmLimits:
    """Per-SM limits that bound occupancy; the defaults are sm_90's (H100/H200)."""
    regs_per_sm: int = 65536
    smem_per_sm: int = 233472  # 228 KiB
    smem_per_block: int = 232448  # 227 KiB usable by one block
    smem_reserved_per_block: int = 1024  # the driver keeps 1 KiB per block
    threads_per_sm: int = 2048
    blocks_per_sm: int = 32
    reg_granularity: int = 256  # registers are allocated per warp in units of this
    warp: int = 32


SM90 = SmLimits()


def occupancy(registers: int | None, shared_bytes: int | None, threads_per_block: int | None,
              limits: SmLimits = SM90) -> tuple[float | None, str | None]:
    """Estimated active warps over the SM's maximum, and the resource that limits the blocks per SM
    ("registers", "shared_memory", "warps", "blocks"); (None, None) when the block size is unknown.
    An unknown register or shared-memory figure does not limit (the estimate is then an upper bound)."""
    if not threads_per_block or threads_per_block <= 0:
        return None, None
    warps = math.ceil(threads_per_block / limits.warp)
    max_warps = limits.threads_per_sm // limits.warp
    by: dict[str, int] = {"warps": max_warps // warps, "blocks": limits.blocks_per_sm}
    if registers:
        per_warp = math.ceil(registers * limits.warp / limits.reg_granularity) * limits.reg_granularity
        by["registers"] = limits.regs_per_sm // (per_warp * warps)
    if shared_bytes:
        if shared_bytes > limits.smem_per_block:
            by["shared_memory"] = 0
        else:
            by["shared_memory"] = limits.smem_per_sm // (shared_bytes + limits.smem_reserved_per_block)
    # ties go to the resource the candidate can change most easily: registers, shared memory, then shape
    order = ["registers", "shared_memory", "warps", "blocks"]
    limiter = min(by, key=lambda k: (by[k], order.index(k)))
    blocks = by[limiter]
    return min(1.0, blocks * warps / max_warps), limiter


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**40 else None


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        return None
    return float(v)


def _dims(v: Any) -> list[int] | None:
    if not isinstance(v, (list, tuple)) or not 1 <= len(v) <= 3:
        return None
    out = [_int(x) for x in v]
    return [x for x in out if x is not None] if all(x is not None for x in out) else None


def kernel_record(raw: Any, calls: int, limits: SmLimits = SM90) -> HardwareKernel | None:
    """One kernel of the candidate's report, typed and bounded, with the parent's occupancy estimate;
    None when it is not a dict with a name. ``calls`` is how many calls of forward the report covers."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    block = _dims(raw.get("block"))
    regs = _int(raw.get("registers"))
    smem = _int(raw.get("shared_bytes"))
    launches = _num(raw.get("launches"))
    occ, limiter = occupancy(regs, smem, math.prod(block) if block else None, limits)
    return HardwareKernel(name=raw["name"][:MAX_NAME],
                          calls_per_call=launches / max(1, calls) if launches is not None else None,
                          grid=_dims(raw.get("grid")), block=block, registers=regs, shared_bytes=smem,
                          spill_bytes=_int(raw.get("spill_bytes")), occupancy=occ,
                          occupancy_limiter=cast(Limiter | None, limiter))


def with_resources(raw: Any, resources: dict[str, dict[str, int]]) -> Any:
    """A reported kernel with the registers, spills and shared memory the parent read from the built
    extension (``cuda_resources``) where the report has none (an extension's kernels)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or raw.get("registers") is not None:
        return raw
    found = cuda_resources.lookup(resources, raw["name"])
    return raw if found is None else {**raw, **found}


def build(report: Any, reference_launches_per_call: float | None, limits: SmLimits = SM90,
          resources: dict[str, dict[str, int]] | None = None, resource_note: str | None = None) -> Hardware | None:
    """``timing.hardware`` from the candidate's report (``{"calls", "launches", "kernels": [...], "notes"}``),
    the parent's count of the reference's launches and, for CUDA extensions, the resources the parent read
    from the built modules; None when there is no report."""
    if not isinstance(report, dict):
        return None
    calls = _int(report.get("calls")) or 1
    raws = [with_resources(r, resources or {}) for r in (report.get("kernels") or [])[:256]]
    kernels = [k for k in (kernel_record(r, calls, limits) for r in raws) if k]
    kernels.sort(key=lambda k: -(k["calls_per_call"] or 0))
    launches = _num(report.get("launches"))
    notes = [n[:MAX_NOTE] for n in (report.get("notes") or []) if isinstance(n, str)][:MAX_NOTES]
    if resource_note:
        notes = [resource_note[:MAX_NOTE], *notes][:MAX_NOTES]
    if len(kernels) > MAX_KERNELS:
        notes = notes[:MAX_NOTES - 1] + [f"{len(kernels) - MAX_KERNELS} more kernel(s) not listed"]
    return {"source": "candidate process", "kernels": kernels[:MAX_KERNELS],
            "launches_per_call": launches / calls if launches is not None else None,
            "reference_launches_per_call": reference_launches_per_call, "notes": notes}
