"""Nsight Compute counters for one candidate: ``python -m verifier profile`` and the warm service's
``{"kind": "profile"}`` request (docs/verifier.md, "Profiling").

The candidate runs exactly as in a verification -- its own process, started by ``sandbox.start_runner``,
inside the same namespaces and filesystem confinement -- but with ``ncu`` wrapping that process's python
(inside the namespaces, so ncu and everything it starts are confined too). The process imports the
candidate, calls it once outside the profiled range (JIT, autotuning), then ``PROFILE_CALLS`` times
between cudaProfilerStart/Stop on one seed's inputs; ncu collects ``METRICS`` for at most ``MAX_KERNELS``
kernels. The GPU lock is held exclusive only around those calls (ncu replays each kernel there).

The counters are advice for the next prompt, never part of a verdict: the report is written inside the
candidate's namespace, so a candidate could doctor it, and nothing judged depends on it. Whenever they
cannot be had the result says ``available: false`` and why, in words.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from typing import Any, TypedDict

from verifier import gpu_lock, sandbox
from verifier.channel import Channel
from verifier.problem_inputs import PROBLEM_FILE
from verifier.stages.build import STARTUP_LIMIT_S
from verifier.wire import RequestError, log, parse_request

PROFILE_CALLS = 2  # profiled calls of forward (after one unprofiled)
MAX_KERNELS = 8  # ncu --launch-count: each kernel is replayed once per metric pass, so this bounds the cost
PROFILE_TIMEOUT_S = 300.0  # the whole profile: start, import, calls under replay, ncu's report
EXIT_WAIT_S = 60.0  # ncu writes its report after the candidate's process ends
NCU_LOG = "ncu.log"  # in the candidate's directory (ncu's cwd): ncu's messages and the CSV
STALL_PREFIX = "smsp__average_warps_issue_stalled_"
STALL_SUFFIX = "_per_issue_active.ratio"
# Hopper (sm_90) warp-stall reasons, as ncu's WarpStateStats section names them
STALL_REASONS = ("barrier", "branch_resolving", "dispatch_stall", "drain", "imc_miss", "lg_throttle",
                 "long_scoreboard", "math_pipe_throttle", "membar", "mio_throttle", "misc", "no_instruction",
                 "not_selected", "short_scoreboard", "sleeping", "tex_throttle", "wait")
TOP_STALLS = 3

# metric -> what it tells (the fields of ``KernelCounters``)
METRICS: dict[str, str] = {
    "gpu__time_duration.sum": "the kernel's duration under the profiler (ns)",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed": "DRAM bandwidth used, % of peak",
    "sm__throughput.avg.pct_of_peak_sustained_elapsed": "the busiest SM unit's throughput, % of peak",
    "sm__warps_active.avg.pct_of_peak_sustained_active": "achieved occupancy: active warps, % of the SM's maximum",
    "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active":
        "tensor pipe busy with mma.sync (HMMA), % of its cycles",
    "sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active":
        "tensor pipe busy with Hopper's warpgroup MMA (wgmma), % of its cycles",
    **{f"{STALL_PREFIX}{r}{STALL_SUFFIX}": f"warps stalled on {r} per issued instruction" for r in STALL_REASONS},
}
TENSOR_METRICS = ("sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active",
                  "sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active")
# ncu's words for "this host does not let you read the counters" (gVisor, a driver restricting them to admins)
NO_COUNTERS = ("ERR_NVGPUCTRPERM", "profiling is not supported", "LibraryNotLoaded", "not supported on this device")
DURATION_UNITS = {"ns": 1.0, "nsecond": 1.0, "us": 1e3, "usecond": 1e3, "ms": 1e6, "msecond": 1e6,
                  "s": 1e9, "second": 1e9}


class Stall(TypedDict):
    reason: str
    pct: float  # share of all stalled warps per issued instruction


class KernelCounters(TypedDict):
    name: str
    duration_ns: float | None
    dram_throughput_pct: float | None
    sm_throughput_pct: float | None
    achieved_occupancy_pct: float | None
    tensor_pipe_pct: float | None
    top_stalls: list[Stall]


class ProfileResult(TypedDict):
    available: bool
    reason: str | None
    kernels: list[KernelCounters]
    cost_s: float
    stages: dict[str, float]  # {"profile": seconds}, as the verdict's stage times


NCU_OFF = "off"  # KS_NCU=off: no profiles on this worker (each takes a slot: about 11 s for a small kernel, H200)


def ncu_path() -> str | None:
    """KS_NCU names the ncu binary; otherwise ncu on PATH."""
    named = os.environ.get("KS_NCU")
    if named:
        return named if os.path.isfile(named) and os.access(named, os.X_OK) else None
    return shutil.which("ncu")


def result(available: bool, reason: str | None, kernels: list[KernelCounters], t0: float) -> ProfileResult:
    cost = round(time.monotonic() - t0, 3)
    return {"available": available, "reason": reason, "kernels": kernels, "cost_s": cost,
            "stages": {"profile": cost}}


def _number(text: str) -> float | None:
    """A value of ncu's CSV: quoted, maybe with thousands separators; 'n/a' and blanks are None."""
    t = text.strip().replace(",", "")
    if not t or t.lower() in ("n/a", "nan", "-"):
        return None
    try:
        return float(t)
    except ValueError:
        return None


def parse_csv(text: str) -> list[KernelCounters]:
    """ncu's ``--csv --page raw`` output (lines of its own, ``==PROF==`` and such, are skipped): a header
    row of column and metric names, a row of units, one row per profiled kernel."""
    rows = [r for r in csv.reader(io.StringIO("\n".join(
        ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("==")))) if r]
    head = next((i for i, r in enumerate(rows) if "ID" in r and any(c in r for c in ("Kernel Name", "Function Name"))), None)
    if head is None:
        return []
    cols = {name: i for i, name in enumerate(rows[head])}
    body = rows[head + 1:]
    units: list[str] = []
    if body and not _number(body[0][cols["ID"]] if cols["ID"] < len(body[0]) else ""):
        units, body = body[0], body[1:]  # the units row: its ID cell is empty
    name_col = cols.get("Kernel Name", cols.get("Function Name"))
    out: list[KernelCounters] = []
    for r in body:
        def val(metric: str, row: list[str] = r) -> float | None:
            i = cols.get(metric)
            return _number(row[i]) if i is not None and i < len(row) else None

        dur = val("gpu__time_duration.sum")
        i_dur = cols.get("gpu__time_duration.sum")
        if dur is not None and i_dur is not None and i_dur < len(units):
            dur *= DURATION_UNITS.get(units[i_dur].strip(), 1.0)
        tensor = [v for v in (val(m) for m in TENSOR_METRICS) if v is not None]
        stalls = {rsn: v for rsn in STALL_REASONS if (v := val(f"{STALL_PREFIX}{rsn}{STALL_SUFFIX}")) is not None}
        # "selected" is the warp issuing, not a stall; "not_selected" is a warp ready but not chosen
        total = sum(stalls.values())
        top: list[Stall] = [{"reason": rsn, "pct": round(100.0 * v / total, 1)}
                            for rsn, v in sorted(stalls.items(), key=lambda kv: -kv[1])[:TOP_STALLS]
                            if total > 0 and v > 0]
        out.append({"name": (r[name_col] if name_col is not None and name_col < len(r) else "?")[:200],
                    "duration_ns": dur,
                    "dram_throughput_pct": val("dram__throughput.avg.pct_of_peak_sustained_elapsed"),
                    "sm_throughput_pct": val("sm__throughput.avg.pct_of_peak_sustained_elapsed"),
                    "achieved_occupancy_pct": val("sm__warps_active.avg.pct_of_peak_sustained_active"),
                    "tensor_pipe_pct": max(tensor) if tensor else None,
                    "top_stalls": top})
    return out


def counters_unreadable(log_text: str) -> str | None:
    """Why ncu could not read the counters on this host, from its own messages; None if it did not say."""
    for marker in NO_COUNTERS:
        if marker.lower() in log_text.lower():
            line = next((ln.strip() for ln in log_text.splitlines() if marker.lower() in ln.lower()), marker)
            return f"the GPU's performance counters are not readable on this host ({line[:300]})"
    return None


def ncu_said(log_text: str) -> str:
    """ncu's last few messages of its own (``==PROF==``, ``==ERROR==`` and such) in its log, joined."""
    return " | ".join([ln for ln in log_text.splitlines() if ln.startswith("==")][-3:])


def ncu_command(ncu: str, max_kernels: int) -> list[str]:
    return [ncu, "--clock-control", "none", "--target-processes", "all", "--profile-from-start", "off",
            "--csv", "--page", "raw", "--print-units", "base", "--metrics", ",".join(METRICS),
            "--launch-count", str(max_kernels), "--log-file", NCU_LOG]


def profile_request(raw: str) -> ProfileResult:
    """The profile of the candidate in ``raw`` (a verify request's fields; ``max_kernels`` optional)."""
    t0 = time.monotonic()
    try:
        req = parse_request(raw)
        extra = json.loads(raw)
    except RequestError as e:
        return result(False, f"bad request: {e}", [], t0)
    if req["device"] != "cuda":
        return result(False, "CPU device: Nsight Compute reads GPU counters only", [], t0)
    if os.environ.get("KS_NCU") == NCU_OFF:
        return result(False, "profiling is turned off on this GPU worker (KS_NCU=off)", [], t0)
    ncu = ncu_path()
    if ncu is None:
        named = os.environ.get("KS_NCU")
        return result(False, f"KS_NCU={named} is not an executable file" if named else
                      "ncu (Nsight Compute) is not on PATH; KS_NCU names it", [], t0)
    max_kernels = max(1, min(int(extra.get("max_kernels") or MAX_KERNELS), 64))
    try:
        return _run(req, ncu, max_kernels, t0)
    except gpu_lock.LockTimeout as e:
        return result(False, f"{e}", [], t0)
    except Exception as e:  # noqa: BLE001 - an infrastructure failure becomes a reason
        return result(False, f"profiler failed: {type(e).__name__}: {e}"[:500], [], t0)


def _run(req: Any, ncu: str, max_kernels: int, t0: float) -> ProfileResult:
    from verifier.stages import static
    from verifier.stages.outcome import Final
    from verifier.verify import Verification

    ver = Verification(req)
    checked = static.run(ver)  # the same source checks as a verification, before anything runs
    if isinstance(checked, Final):
        return result(False, f"the candidate failed: {checked.verdict['status']}: {checked.verdict['message'][:300]}", [], t0)
    deadline = t0 + min(PROFILE_TIMEOUT_S, max(60.0, 3 * float(req["timeout_s"])))
    ncu_dir = os.path.dirname(os.path.dirname(os.path.realpath(ncu)))
    import torch

    # Confined before ncu starts, the candidate's process gets no way to the lock directory (see
    # confine.confine_then_exec): its start-up (CUDA context, IPC probe, until "ready") is covered by this
    # shared lock, as the runner's own covers it in a verification.
    lock: Any = gpu_lock.GpuLock(gpu_lock.gpu_key(torch)) if torch.cuda.is_available() else gpu_lock.NoLock()
    chan = Channel(req)
    try:
        lock.acquire("shared", deadline)
        runner = sandbox.start_runner("cuda", sandbox.netns_available(), wrap=ncu_command(ncu, max_kernels),
                                      extra_cfg={"profile": True}, needed=[ncu_dir])
        chan.attach(runner)
        chan.deadline = min(deadline, chan.t_spawn + STARTUP_LIMIT_S)
        for want in ("ready", "imported"):
            ev = chan.wait_event({want})
            if ev is None or ev["ev"] == "error":
                return _failed(chan, ev, t0)
            if want == "ready":  # start-up done; the import (a CUDA build, maybe) takes no lock
                lock.release()
        lock.acquire("exclusive", deadline)
        chan.send({"cmd": "profile", "job": {"problem": PROBLEM_FILE, "seed": req["seeds"][0],
                                             "calls": PROFILE_CALLS}})
        ev = chan.wait_event({"profile_done"})
        lock.release()
        lock = None
        if ev is None or ev["ev"] == "error":
            return _failed(chan, ev, t0)
        chan.send({"cmd": "end"})
        try:
            runner.proc.wait(timeout=max(1.0, min(EXIT_WAIT_S, deadline - time.monotonic())))
        except Exception:  # noqa: BLE001 - ncu did not finish its report in time
            return result(False, f"timeout: ncu did not write its report within {EXIT_WAIT_S:g} s", [], t0)
        text = sandbox.read_tail(os.path.join(runner.workdir, NCU_LOG), 1 << 20)
        why = counters_unreadable(text)
        if why:
            return result(False, why, [], t0)
        kernels = parse_csv(text)
        if not kernels:
            return result(False, f"ncu reported no kernels ({ncu_said(text)[:400] or 'empty report'})", [], t0)
        return result(True, None, kernels, t0)
    finally:
        if lock is not None:
            lock.release()
        chan.discard()


def _failed(chan: Channel, ev: dict[str, Any] | None, t0: float) -> ProfileResult:
    """The reason when the candidate's process under ncu did not get through its calls."""
    log_text = sandbox.read_tail(os.path.join(chan.workdir, NCU_LOG), 8000)
    why = counters_unreadable(log_text)
    if why:
        return result(False, why, [], t0)
    if ev is not None:
        return result(False, f"the candidate failed: {ev['kind']}: {ev['message'][:300]}", [], t0)
    status, msg = chan.gone_or_timeout()
    if status == "timeout":
        said = ncu_said(log_text)
        return result(False, f"timeout: {msg[:300]}" + (f"; ncu said: {said[:300]}" if said else ""), [], t0)
    log(f"profile: candidate process under ncu ended: {msg[:300]}")
    return result(False, f"the candidate failed under ncu: {status}: {msg[:300]}", [], t0)
