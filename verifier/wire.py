"""The JSON contract (docs/verifier-contract.md): the request, the verdict, their types, strict JSON out.

Torch-free and importing nothing else of the verifier, so that every other module may import it. The
verdict's fields are also written down in ``verifier/verdict.schema.json``; the tests validate verdicts
against it and compare it with the zod schema in ``domain/verdict.ts``.
"""
from __future__ import annotations

import importlib.metadata
import json
import math
import os
import sys
from typing import Any, Literal, NotRequired, TypedDict

Status = Literal["correct", "incorrect", "compile_error", "runtime_error", "timeout", "rejected", "infra_error"]
STATUSES: tuple[Status, ...] = ("correct", "incorrect", "compile_error", "runtime_error", "timeout", "rejected",
                                "infra_error")


class Request(TypedDict):
    """A request after ``parse_request``: defaults filled in, types checked."""
    problem_id: str
    problem_source: str
    candidate_source: str
    backend: Literal["triton", "cuda"]
    device: Literal["cpu", "cuda"]
    seeds: list[int]
    timeout_s: float
    atol: float | None
    rtol: float | None
    timing: bool


# one cheat class found, with its evidence; "class" (a ``verifier.cheats.Cheat`` value) is a keyword, hence
# the functional form
CheatItem = TypedDict("CheatItem", {"class": str, "evidence": str})


class Correctness(TypedDict):
    trials: int
    passed: int
    max_abs_error: float | None
    max_rel_error: float | None
    mismatch_fraction: float
    first_bad_index: list[int] | None


class CandidateMs(TypedDict):
    median: float | None
    p20: float | None
    p80: float | None
    low: NotRequired[float]  # the 95% interval of the median (docs/verifier.md, "Timing")
    high: NotRequired[float]


class SpeedOfLight(TypedDict):
    fraction: float
    limiter: str
    min_bytes: int
    flops: int
    achieved_tbps: float
    achieved_tflops: float | None
    copy_tbps: float
    peak_tflops: float | None
    peak_dtype: str | None
    bytes_only: bool


Limiter = Literal["registers", "shared_memory", "warps", "blocks"]


class HardwareKernel(TypedDict):
    """One kernel the candidate launched (docs/verifier.md, "Hardware feedback"); advice, never a verdict."""
    name: str
    calls_per_call: float | None
    grid: list[int] | None
    block: list[int] | None
    registers: int | None  # per thread
    shared_bytes: int | None  # per block, static + dynamic
    spill_bytes: int | None  # local memory per thread (spills and local arrays), bytes
    occupancy: float | None  # active warps / the SM's maximum, estimated
    occupancy_limiter: Limiter | None


class Hardware(TypedDict):
    # "candidate process": the candidate's word (its process reported it); "parent": measured by the parent
    source: Literal["candidate process", "parent", "mixed"]
    kernels: list[HardwareKernel]
    launches_per_call: float | None
    reference_launches_per_call: float | None
    notes: list[str]


class Timing(TypedDict):
    meaningful: bool
    candidate_ms: CandidateMs
    trials: int
    eager_ms: float | None
    compile_ms: float | None
    speedup_vs_eager: float | None
    speedup_vs_compile: float | None
    flex_ms: float | None
    speedup_vs_flex: float | None
    method: str | None
    method_note: str | None
    host_ms: float | None
    eager_ms_interval: list[float] | None
    compile_ms_interval: list[float] | None
    speedup_vs_eager_interval: list[float] | None
    speedup_vs_compile_interval: list[float] | None
    compile_mode: str | None
    review: str | None
    sol: SpeedOfLight | None
    hardware: NotRequired[Hardware | None]  # absent until the verifier collects it


class Env(TypedDict):
    device: str
    gpu: str | None
    driver: str | None
    torch: str | None
    triton: str | None
    cuda: str | None
    network_isolated: bool
    filesystem_readonly: bool
    unconfined_allowed: NotRequired[bool]  # only when VERIFIER_ALLOW_UNCONFINED=1 (development)


class StageSeconds(TypedDict):
    static: float
    compile: float
    correctness: float
    timing: float


class Verdict(TypedDict):
    status: Status
    message: str
    correctness: Correctness | None
    cheats: list[CheatItem]
    timing: Timing | None
    env: Env
    stages: StageSeconds


def log(msg: str) -> None:
    """A progress line on stderr (stdout carries only the contract's JSON); VERIFIER_QUIET=1 silences it."""
    if os.environ.get("VERIFIER_QUIET") != "1":
        print(f"[verifier] {msg}", file=sys.stderr, flush=True)


class RequestError(Exception):
    """A request that cannot be verified: an ``infra_error`` verdict, exit code 2."""


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg).split("+")[0]
    except importlib.metadata.PackageNotFoundError:
        return None


def empty_verdict(device: str) -> Verdict:
    v: Verdict = {
        "status": "infra_error",
        "message": "",
        "correctness": None,
        "cheats": [],
        "timing": None,
        "env": {"device": device, "gpu": None, "driver": None, "torch": _version("torch"),
                "triton": _version("triton"), "cuda": None, "network_isolated": False,
                "filesystem_readonly": False},
        "stages": {"static": 0.0, "compile": 0.0, "correctness": 0.0, "timing": 0.0},
    }
    if os.environ.get("VERIFIER_ALLOW_UNCONFINED") == "1":  # candidates may run without their isolation
        v["env"]["unconfined_allowed"] = True
    return v


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def parse_request(raw: str) -> Request:
    try:
        req = json.loads(raw)
    except json.JSONDecodeError as e:
        raise RequestError(f"request is not JSON: {e}") from e
    if not isinstance(req, dict):
        raise RequestError("request must be a JSON object")
    for k in ("problem_source", "candidate_source"):
        if not isinstance(req.get(k), str) or not req[k].strip():
            raise RequestError(f"request field {k} must be a non-empty string")
    req.setdefault("problem_id", "problem")
    req["backend"] = req.get("backend") or "triton"
    req["device"] = req.get("device") or "cuda"
    if req["backend"] not in ("triton", "cuda"):
        raise RequestError(f"backend must be 'triton' or 'cuda', not {req['backend']!r}")
    if req["device"] not in ("cpu", "cuda"):
        raise RequestError(f"device must be 'cpu' or 'cuda', not {req['device']!r}")
    seeds = req.get("seeds")
    if seeds is None:
        seeds = [0, 1, 2, 3, 4] if req["device"] == "cuda" else [0, 1, 2]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise RequestError("seeds must be a non-empty list of integers")
    req["seeds"] = seeds
    t: Any = req.get("timeout_s")
    req["timeout_s"] = float(t) if _is_number(t) and t > 0 else 300.0
    for k in ("atol", "rtol"):
        v = req.get(k)
        if v is not None and (not _is_number(v) or v < 0):
            raise RequestError(f"{k} must be a non-negative number or null")
    req["timing"] = bool(req.get("timing", True))
    return req  # type: ignore[return-value]  # checked field by field above


def bad_request_verdict(raw: str, why: str) -> Verdict:
    """The verdict for a request ``parse_request`` refused (its device when it names one, else cpu)."""
    dev = "cpu"
    try:
        d = json.loads(raw).get("device")
        dev = d if d in ("cpu", "cuda") else dev
    except (ValueError, AttributeError, RecursionError):
        pass
    v = empty_verdict(dev)
    v["message"] = why
    return v


def clean_json(o: Any) -> Any:
    """Make the verdict strict JSON: non-finite floats become null."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: clean_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [clean_json(v) for v in o]
    return o


def emit(obj: Any) -> None:
    """One strict-JSON line on stdout (``verify`` and ``inspect`` print exactly one)."""
    sys.stdout.write(json.dumps(clean_json(obj), allow_nan=False) + "\n")
    sys.stdout.flush()
