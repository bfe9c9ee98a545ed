"""The candidate's process: its main. The untrusted side of the trust boundary (``verifier.candidate``).

Started by the parent (``verifier.stages.build``) as ``python -m verifier._runner CONFIG_JSON CTL_FD`` in a private
temporary directory with a cleaned environment, often ahead of time (a warm verifier keeps one ready). It
imports torch (and Triton) and says ``ready``; on ``import`` it imports the candidate; on ``job`` (seeds and
output sizes -- never the reference's results) it builds each seed's weights and inputs itself from the
problem file (``verifier.problem_inputs``), runs the candidate, and writes what it saw to files the parent
reads with ``weights_only=True``. Events go to the parent as JSON lines on file descriptor CTL_FD.

Nothing here decides a verdict: the candidate runs in this process and could tamper with it. The parent
compares, classifies and times baselines. What this process records is evidence.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from verifier.cheats import Cheat

_perf = time.perf_counter  # captured before any candidate code runs
T0 = _perf()
_CTL: Any = None  # the event pipe to the parent (a text file), opened by main
_EXPORTED: list = []  # tensors handed to the parent through CUDA IPC, alive until its next command


def send(**ev) -> None:
    """One event to the parent: only the vocabulary ``verifier.channel.EVENTS`` accepts (no times, no paths:
    the parent uses its own clock and the files it named)."""
    _CTL.write(json.dumps(ev) + "\n")
    _CTL.flush()


def fail(kind: str, stage: str, message: str) -> None:
    send(ev="error", kind=kind, stage=stage, message=message)
    _CTL.close()
    os._exit(0)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the verifier that started it dies (e.g. killed by the activity's
    cancellation), so a candidate stuck in a loop does not outlive it."""
    try:
        import ctypes
        import signal

        ppid = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != ppid:  # the parent died before prctl took effect
            os._exit(1)
    except Exception:  # noqa: BLE001 - not Linux: the parent's timeout still applies
        pass


def _next_command() -> dict:
    """The parent's next command (one JSON line on stdin); the parent closing the pipe ends this process."""
    line = sys.stdin.readline()
    if not line:
        os._exit(0)
    _EXPORTED.clear()  # the parent has dropped its mappings before sending this
    return json.loads(line)


PROFILE_MAX_CALLS = 5


def _profiled_calls(torch: Any, h: Any, model_cls: Any, workdir: str, device: str, job: dict, cand_path: str) -> None:
    """The ``profile`` command (``verifier.profile``): one seed's model and inputs, one call outside the
    profiled range (Triton's JIT and autotuning), then ``calls`` calls between cudaProfilerStart and
    cudaProfilerStop (ncu runs with ``--profile-from-start off``: the harness's own kernels stay out).
    Ends this process, which lets ncu write its report."""
    from verifier import errors
    from verifier import problem_inputs as pin
    from verifier.candidate import harness

    try:
        problem = pin.load_problem(os.path.join(workdir, job["problem"]), "kernel_problem")
        seed = int(job["seed"])
        init = pin.init_inputs(torch, problem, seed)
        _, sd = pin.reference_state(torch, problem, seed, init)
    except BaseException as e:  # noqa: BLE001 - the parent ran this problem already: an infrastructure fault
        fail("infra_error", "profile", "the candidate's process could not load the problem: " + errors.format_exception(e, cand_path))
    cudart = torch.cuda.cudart() if device == "cuda" else None
    try:
        torch.manual_seed(seed)
        model = model_cls(*init)
        harness.copy_state(torch, model, sd)
        model = model.to(device) if hasattr(model, "to") else model
        a = pin.make_inputs(torch, problem, seed, device)
        h.run_forward(model, a, poison=None)
        if cudart is not None:
            torch.cuda.synchronize()
            cudart.cudaProfilerStart()
        for _ in range(max(1, min(int(job.get("calls", 1)), PROFILE_MAX_CALLS))):
            h.run_forward(model, a, poison=None)
        if cudart is not None:
            torch.cuda.synchronize()
            cudart.cudaProfilerStop()
    except BaseException as e:  # noqa: BLE001 - candidate code may raise anything
        fail("runtime_error", "profile", errors.format_exception(e, cand_path))
    send(ev="profile_done")
    _next_command()  # the parent's word to end: a normal exit, after which ncu writes its report
    _CTL.close()
    os._exit(0)


def main() -> None:  # noqa: C901 - one linear script
    global _CTL
    _die_with_parent()
    cfg = json.loads(open(sys.argv[1]).read())
    _CTL = os.fdopen(int(sys.argv[2]), "w", buffering=1)
    workdir = cfg["workdir"]
    device = cfg["device"]
    interpret = device == "cpu"
    cand_path = os.path.join(workdir, "candidate.py")
    fs_readonly, fs_what = False, "no mount namespace"
    # the GPU lock directory stays reachable through a descriptor only (closed before the candidate runs)
    lock_dir = cfg.get("gpu_lock_dir")
    lock_dir_fd = None
    if cfg.get("confined_first"):  # confined before a profiler started this process (verifier.confine)
        done = json.loads(os.environ.pop("VERIFIER_CONFINED", "null"))
        if not isinstance(done, dict):  # fail closed: the parent says infra_error
            sys.stderr.write("verifier: the candidate's process was to be confined before it started, and was not\n")
            os._exit(3)
        fs_readonly, fs_what = bool(done["ok"]), str(done["what"])
        os.chdir(cfg["confine"]["scratch"])
        lock_dir = None  # hidden, and no descriptor of it: the parent holds the GPU lock for this process
    elif cfg.get("confine") is not None:  # first thing, while single-threaded: only this file's code has run
        from verifier.confine import confine

        fs_readonly, fs_what, hidden_fds = confine(cfg["confine"], hidden=[lock_dir] if lock_dir else [])
        lock_dir_fd = next(iter(hidden_fds.values()), None)
    if lock_dir and lock_dir_fd is None:
        lock_dir_fd = os.open(lock_dir, os.O_RDONLY | os.O_DIRECTORY)
    send(ev="started")

    import threading

    import torch

    from verifier import errors
    from verifier.candidate import harness

    if device == "cuda":
        torch.cuda.init()
        torch.cuda.set_device(0)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_grad_enabled(False)
    try:
        import triton  # noqa: F401 - imported before the candidate: the harness patches its launcher
    except Exception:  # noqa: BLE001 - no usable Triton: CUDA extensions only  # pragma: no cover
        pass
    # warm the intra-op thread pool and the device so their threads count as the harness's
    torch.randn(1 << 16).sum()
    from verifier import cuda_ipc

    lock = None
    if device == "cuda" and not cfg.get("confined_first"):
        # this process's CUDA context and IPC probe must not disturb a candidate being timed on the same GPU
        from verifier.gpu_lock import GpuLock, gpu_key

        lock = GpuLock(gpu_key(torch), cfg.get("gpu_lock_dir"), dir_fd=lock_dir_fd)
        lock.acquire("shared")
        torch.ones(16, device="cuda").sum().item()
    h = harness.Harness(torch, device, cfg)
    h.install()
    ipc_probe = cuda_ipc.probe(torch, _EXPORTED) if device == "cuda" else None
    if lock is not None:
        lock.release()
    if lock_dir_fd is not None:
        os.close(lock_dir_fd)
    if device == "cuda" and not cfg.get("profile"):  # under Nsight Compute, CUPTI is ncu's
        # outside the lock: held for its 3 s of host work, it cut a batch's throughput by a third (H100);
        # its one 1-element kernel can land in one timing trial, which a median of hundreds absorbs
        h.start_profiler()
    base_threads = {t.ident for t in threading.enumerate()}
    base_os_threads = harness.os_thread_count()
    send(ev="ready", ipc_probe=ipc_probe, fs_readonly=fs_readonly, fs_what=fs_what)
    cmd = _next_command()
    if cmd.get("cmd") != "import":
        os._exit(0)

    # ---- import the candidate (the "compile" stage; Triton JIT happens at the first call) ----------
    import importlib.util

    t_imp = _perf()
    try:
        spec = importlib.util.spec_from_file_location("candidate", cand_path)
        assert spec is not None and spec.loader is not None  # a .py path always has both
        mod = importlib.util.module_from_spec(spec)
        sys.modules["candidate"] = mod
        spec.loader.exec_module(mod)
    except BaseException as e:  # noqa: BLE001 - candidate code may raise anything
        fail("compile_error", "import", errors.format_exception(e, cand_path))
    model_cls: Any = getattr(mod, "ModelNew", None)
    if model_cls is None:
        fail("compile_error", "import", "candidate does not define ModelNew")
    send(ev="imported", import_s=round(_perf() - t_imp, 4))

    # ---- wait for the job (or, under Nsight Compute, the profiled calls) ------------------------------
    cmd = _next_command()
    if cmd.get("cmd") == "profile":
        _profiled_calls(torch, h, model_cls, workdir, device, cmd.get("job") or {}, cand_path)
    job = cmd.get("job")
    if not isinstance(job, dict):
        os._exit(0)
    from verifier import problem_inputs as pin

    ipc = bool(job.get("ipc")) and device == "cuda"

    def save(obj, name):
        """Results go to a file the parent reads; with IPC their GPU tensors stay here, described in it."""
        path = os.path.join(workdir, name)
        if ipc:
            torch.cuda.synchronize()  # the parent reads the memory without waiting on anything
        torch.save(cuda_ipc.export(torch, obj, _EXPORTED) if ipc else obj, path)
        return path

    h.out_nbytes = int(job.get("out_nbytes", 0))
    h.out_sizes = [int(n) for n in job.get("out_sizes", [])]
    try:
        problem = pin.load_problem(os.path.join(workdir, job["problem"]), "kernel_problem")
    except BaseException as e:  # noqa: BLE001 - the parent ran this problem already: an infrastructure fault
        fail("infra_error", "job", "the candidate's process could not load the problem: " + errors.format_exception(e, cand_path))

    def fresh_model(mod, seed):
        """ModelNew(*get_init_inputs()) with the weights Model gets for this seed."""
        init = pin.init_inputs(torch, mod, seed)
        _, sd = pin.reference_state(torch, mod, seed, init)
        torch.manual_seed(seed)
        model = model_cls(*init)
        info = harness.copy_state(torch, model, sd)
        return (model.to(device) if hasattr(model, "to") else model), info

    def inputs(mod, seed):
        return pin.make_inputs(torch, mod, seed, device)

    results: dict = {"seeds": [], "observations": [], "launches_per_call": []}

    def observe(kind: str, evidence: str) -> None:
        if not any(o["kind"] == kind and o["evidence"] == evidence for o in results["observations"]):
            results["observations"].append({"kind": kind, "evidence": evidence})

    def check_threads(when: str) -> None:
        new = [t for t in threading.enumerate() if t.ident not in base_threads and t.is_alive()]
        if new:
            observe(Cheat.THREADS.value, f"{len(new)} new Python thread(s) alive {when}: "
                               + ", ".join(sorted(t.name for t in new))[:200])
        kids = harness.child_pids()
        if kids:
            observe(Cheat.THREADS.value, f"{len(kids)} child process(es) alive {when}: pids {kids[:5]}")

    check_threads("after import")
    first_call = True
    t_first = None
    models = {}

    def call(model, inputs, stage, poison, record_ops=False):
        nonlocal first_call, t_first
        send(ev="call")  # progress: the parent's per-call limit runs from here
        t = _perf()
        h.launches = 0
        try:
            out = h.run_forward(model, inputs, poison=poison, record_ops=record_ops)
        except BaseException as e:  # noqa: BLE001
            kind = "compile_error" if errors.is_triton_compile_error(e, interpret) else "runtime_error"
            if isinstance(e, MemoryError) or "out of memory" in str(e).lower():
                kind = "runtime_error"
            fail(kind, stage, errors.format_exception(e, cand_path))
        if first_call:
            t_first = _perf() - t
            first_call = False
        results["launches_per_call"].append(h.launches)
        return out

    t_corr = _perf()
    for si, seed in enumerate(job["seeds"]):
        try:
            model, info = fresh_model(problem, seed)
        except BaseException as e:  # noqa: BLE001
            fail("runtime_error", "init", "ModelNew(*get_init_inputs()) failed:\n" + errors.format_exception(e, cand_path))
        models[si] = model
        rec: dict = {"seed": seed, "state": info}
        a_fresh = inputs(problem, seed)
        a = harness.clone_all(torch, a_fresh)
        # call 1: fresh inputs, freed and fresh memory poisoned with NaN
        out1 = call(model, a, "correctness", "nan")
        rec["out1"], rec["types1"] = harness.snapshot(torch, out1, ipc)
        rec["post_inputs"] = harness.clone_all(torch, a, None if ipc else "cpu")
        check_threads("after the first call")
        # call 2: new values written into the SAME buffers (pointer/shape-keyed caches return stale results)
        harness.overwrite(torch, a, inputs(problem, seed + pin.B_SEED_OFFSET))
        out2 = call(model, a, "correctness", "nan")
        rec["out2"], rec["types2"] = harness.snapshot(torch, out2, ipc)
        # call 3: the first inputs again, in fresh buffers, with zero-filled fresh memory (uninitialised reads);
        # the first seed's call 3 also records the aten ops forward dispatches (torch-fallback check)
        if si == 0 or job.get("rerun_all_seeds", True):
            a3 = a_fresh
            record = si == 0 and job.get("record_ops", True)
            out3 = call(model, a3, "correctness", "zero", record_ops=record)
            rec["out3"], _ = harness.snapshot(torch, out3, ipc)
            if record:
                rec["ops"] = dict(h.last_ops)
                rec["launches_recorded"] = h.launches
            del a3, out3
        check_threads("after the calls")
        results["seeds"].append(rec)
        del a, a_fresh, out1, out2
    if h.off_stream_launches:
        observe(Cheat.SIDE_STREAM.value, f"{h.off_stream_launches} kernel launch(es) went to another stream "
                               f"({h.off_stream_example}) than the one the harness times on")
    results["first_call_s"] = t_first
    results["correctness_s"] = _perf() - t_corr
    results["os_threads_delta"] = harness.os_thread_count() - base_os_threads
    h.uninstall_poison()
    save(results, "out_correctness.pt")
    results = {}  # its tensors (and their CUDA IPC exports' last reference here) go before the next command
    send(ev="correctness_done")  # the parent reads out_correctness.pt, the name it knows

    # ---- hidden extra shape (shape-hardcoding), only when the parent says the candidate was correct ---
    cmd = _next_command()
    if cmd.get("cmd") == "hidden":
        hjob = cmd["job"]
        hres: dict = {"error": None}
        try:
            hproblem = pin.load_problem(os.path.join(workdir, hjob["problem"]), "kernel_problem_hidden_shape")
            hmodel, hres["state"] = fresh_model(hproblem, hjob["seed"])
            ha = inputs(hproblem, hjob["seed"])
            send(ev="call")
            hout = h.run_forward(hmodel, ha, poison="nan")
            hres["out"], hres["types"] = harness.snapshot(torch, hout, ipc)
            del hmodel, ha, hout
        except BaseException as e:  # noqa: BLE001 - a failure here is evidence, judged by the parent
            hres["error"] = errors.format_exception(e, cand_path)
        h.uninstall_poison()
        save(hres, "out_hidden.pt")
        send(ev="hidden_done")
        cmd = _next_command()

    # ---- timing, only when the parent says the candidate was correct --------------------------------
    if cmd.get("cmd") != "time":
        os._exit(0)
    model = models[0]
    seed0 = job["seeds"][0]
    sets = [inputs(problem, seed0 + off) for off in pin.TIMING_SEED_OFFSETS]
    t_tim = _perf()
    tres: dict = {"observations": []}
    off_stream_before = h.off_stream_launches
    try:
        if device == "cuda":
            tres.update(h.time_cuda(model, sets, cmd.get("min_trials", 100), cmd.get("target_s", 1.0), ipc))
        else:
            tres.update(h.time_cpu(model, sets, cmd.get("max_trials", 5), cmd.get("target_s", 1.0)))
    except BaseException as e:  # noqa: BLE001
        fail("runtime_error", "timing", errors.format_exception(e, cand_path))
    new = [t for t in threading.enumerate() if t.ident not in base_threads and t.is_alive()]
    if new:
        tres["observations"].append({"kind": Cheat.THREADS.value, "evidence": f"{len(new)} new Python thread(s) alive after timing"})
    prof = tres.get("profiled") or {}
    if prof.get("failed_after_import"):
        tres["observations"].append({"kind": Cheat.TIMER_TAMPER.value, "evidence": (
            f"the CUDA profiler worked before the candidate was imported and failed while it was timed: "
            f"{prof.get('error')}")})
    if prof.get("off_stream"):
        tres["observations"].append({"kind": Cheat.SIDE_STREAM.value, "evidence": (
            f"the CUDA profiler saw {prof['off_stream']} GPU activit(ies) ({prof['off_stream_ms']:.4f} ms in "
            f"{prof['calls']} calls: {', '.join(prof['off_stream_names'])}) on another stream than the one timed")})
    if h.off_stream_launches > off_stream_before:
        tres["observations"].append({"kind": Cheat.SIDE_STREAM.value, "evidence": (
            f"{h.off_stream_launches - off_stream_before} kernel launch(es) during timing went to another stream "
            f"({h.off_stream_example}) than the one the harness times on")})
    tres["timing_s"] = _perf() - t_tim
    save(tres, "out_timing.pt")
    send(ev="timing_done")
    _next_command()  # the parent may still be reading the timed outputs (IPC): wait until it ends this process
    _CTL.close()
    os._exit(0)


if __name__ == "__main__":
    main()
