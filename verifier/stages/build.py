"""Stage 2, build/import: the candidate's process starts (or is taken warm) and imports the candidate.

While the candidate's process imports torch and the candidate (CUDA ``load_inline`` builds run here; Triton
JIT waits for the first call), the parent imports torch, takes the GPU lock object and prepares the
reference (``verifier.reference``), or takes it from the warm verifier. Verdicts from here:
``infra_error`` (the process did not start, the reference failed), ``compile_error`` (the import failed),
``timeout``, ``runtime_error`` (the process died).
"""
from __future__ import annotations

import os
import time
import traceback
from typing import TYPE_CHECKING, Any

from verifier import cuda_ipc, sandbox
from verifier.stages.outcome import Checked, Final, Imported
from verifier.wire import log

if TYPE_CHECKING:
    from verifier.channel import Channel
    from verifier.verify import Verification

# the candidate's process's own start-up (not the candidate's time); VERIFIER_STARTUP_LIMIT_S changes it
STARTUP_LIMIT_S = float(os.environ.get("VERIFIER_STARTUP_LIMIT_S") or 180.0)
# A warm verifier's spare can wait for work far longer than the start-up limit: its ``ready`` has long
# been written, and reading it needs no more than this (one that never got ready is stuck: infra_error)
SPARE_GRACE_S = 10.0


def _startup_deadline(chan: Channel) -> float:
    """The start-up limit from the process's spawn, but never before a short grace from now."""
    return max(chan.t_spawn + STARTUP_LIMIT_S, time.monotonic() + SPARE_GRACE_S)


def _start(ver: Verification, use_netns: bool) -> None:
    """Take the warm verifier's spare candidate process, or start one, and give it this candidate."""
    runner = ver.warm.take_runner(ver.device) if ver.warm is not None else None
    if runner is None:
        runner = sandbox.start_runner(ver.device, use_netns)
    if ver.warm is not None:
        ver.warm.active = runner
    ver.chan.attach(runner)
    ver.set_env(network_isolated=runner.netns)


def _driver_version() -> str | None:
    try:
        with open("/proc/driver/nvidia/version") as f:
            line = f.readline()
        for tok in line.split():
            if tok.count(".") >= 1 and tok.replace(".", "").isdigit():
                return tok
    except OSError:
        pass
    return None


def _fill_env(ver: Verification) -> None:
    torch = ver.torch
    ver.set_env(torch=torch.__version__.split("+")[0] if torch.__version__ else None, cuda=torch.version.cuda)
    if ver.device == "cuda" and torch.cuda.is_available():
        ver.set_env(gpu=torch.cuda.get_device_name(0), driver=_driver_version())


def _gpu_lock(ver: Verification) -> Any:
    from verifier.gpu_lock import GpuLock, NoLock, gpu_key

    if ver.device != "cuda":
        return NoLock()
    return GpuLock(gpu_key(ver.torch))


def _prepare_reference(ver: Verification) -> Final | None:
    """The reference on every seed (parent): kept by a warm verifier, else computed now, while the candidate's
    process imports. torch is first imported here, after the candidate's process has started."""
    from verifier import reference

    t_ref = time.monotonic()
    ver.torch = reference.torch
    _fill_env(ver)
    ver.lock = _gpu_lock(ver)
    try:
        if ver.warm is not None:
            ver.ref = ver.warm.reference(ver.req, ver.device, ver.lock)
        else:
            ver.ref = reference.Reference.prepared(ver.req, ver.device, ver.lock)
            ver.own_ref = True
    except Exception as e:  # noqa: BLE001 - the problem's own code may raise anything
        log(traceback.format_exc())
        return ver.finish("infra_error", f"the reference problem failed to run: {type(e).__name__}: {e}"[:1500])
    ver.note(reference_s=time.monotonic() - t_ref)
    return None


def _wait_ready(ver: Verification) -> dict[str, Any] | Final:
    """The ``ready`` event (torch imported, harness installed): retried once without the network namespace
    when the process died before it, unless namespaces have worked on this warm verifier."""
    chan = ver.chan
    assert chan.runner is not None
    chan.deadline = _startup_deadline(chan)
    ev = chan.wait_event({"ready"})
    if ev is None and chan.violation is not None:  # the candidate's code, run after ``ready``: its verdict
        return ver.gone_or_timeout()
    if ev is None and not chan.timed_out and chan.runner.netns and os.environ.get("VERIFIER_NETNS") != "1":
        _, why = chan.process_gone_message()
        if ver.warm is not None and not ver.warm.netns_failed():
            return ver.finish("infra_error", "the candidate's process failed to start inside its namespace "
                                             "(others started there on this verifier): " + why)
        log(f"candidate process failed to start inside a network namespace; retrying without: {why[:300]}")
        chan.discard()
        _start(ver, False)
        chan.deadline = _startup_deadline(chan)
        ev = chan.wait_event({"ready"})
    if ev is not None and chan.runner.netns and ver.warm is not None:
        ver.warm.netns_worked = True
    if ev is None:
        if chan.timed_out:
            return ver.finish("infra_error", f"the candidate's process did not start within {STARTUP_LIMIT_S} s")
        _, msg = chan.process_gone_message()
        return ver.finish("infra_error", "the candidate's process failed to start: " + msg)
    if ev["ev"] == "error":  # no candidate code has run yet: the harness's own start-up failed
        return ver.finish("infra_error", "the candidate's process failed to start: " + ev["message"])
    return ev


def run(ver: Verification, checked: Checked) -> Imported | Final:
    _start(ver, sandbox.netns_available())  # before torch is imported here
    failed = _prepare_reference(ver)
    if failed is not None:
        return failed
    ev = _wait_ready(ver)
    if isinstance(ev, Final):
        return ev
    chan = ver.chan
    ver.set_env(filesystem_readonly=bool(ev.get("fs_readonly")))
    ver.note(filesystem=ev.get("fs_what"))
    why_not = cuda_ipc.probe_error(ver.torch, ev.get("ipc_probe")) if ver.device == "cuda" else "CPU mode"
    ver.ipc = why_not is None
    ver.note(cuda_ipc=ver.ipc)
    if why_not is not None:
        ver.note(cuda_ipc_why_not=why_not)
    # the candidate's clock starts when its process was ready and had been asked to import it
    started = max(chan.event_time(ev), chan.t_import_sent)
    chan.deadline = started + ver.req["timeout_s"]
    imported = chan.wait_event({"imported"})
    if imported is None:
        return ver.gone_or_timeout()
    if imported["ev"] == "error":
        ver.stages["compile"] = time.monotonic() - started
        return ver.finish(imported["kind"], imported["message"])  # the channel's kind: compile_error
    # time the candidate's process spent waiting for the reference does not count against it (both times
    # are this process's clock at receipt: the candidate's process cannot move them)
    imported_at = max(chan.event_time(imported), started)
    chan.deadline += max(0.0, time.monotonic() - imported_at)
    import_s = float(imported.get("import_s", 0.0))  # its own word: for the verdict's stages only
    return Imported(import_s=min(max(0.0, import_s), max(0.0, imported_at - chan.t_import_sent)))
