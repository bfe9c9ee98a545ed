"""The parent side of a verification: request -> verdict.

Order of work (chosen so the two torch imports overlap):
  1. read and check the request, static checks (no torch yet)
  2. start the candidate's process (it imports torch/Triton and the candidate)
  3. meanwhile import torch here, run the reference on every seed, write the job file (inputs, weights,
     output sizes; never the reference's results), hand it over
  4. read the candidate's outputs, compare, classify cheats
  5. if correct: tell the candidate's process to time itself, check the timed outputs, time the eager and
     torch.compile baselines here (cached), compute speedups
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import select
import shutil
import sys
import time
from typing import Any

from verifier import cuda_ipc, sandbox
from verifier.inspect_problem import problem_info
from verifier.static_check import check_candidate
from verifier.timing import TIMING_MIN_TRIALS, TIMING_TARGET_S

STATUSES = ("correct", "incorrect", "compile_error", "runtime_error", "timeout", "rejected", "infra_error")
SIGNALS = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}
STARTUP_LIMIT_S = 180.0


class RequestError(Exception):
    pass


def log(msg: str) -> None:
    if os.environ.get("VERIFIER_QUIET") != "1":
        print(f"[verifier] {msg}", file=sys.stderr, flush=True)


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg).split("+")[0]
    except importlib.metadata.PackageNotFoundError:
        return None


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


def empty_verdict(device: str) -> dict[str, Any]:
    return {
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


def parse_request(raw: str) -> dict[str, Any]:
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
    t = req.get("timeout_s")
    req["timeout_s"] = float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 else 300.0
    for k in ("atol", "rtol"):
        v = req.get(k)
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0):
            raise RequestError(f"{k} must be a non-negative number or null")
    req["timing"] = bool(req.get("timing", True))
    return req


# -------------------------------------------------------------------------------------------------------
class Verification:
    def __init__(self, req: dict[str, Any], warm: Any = None):
        """``warm``: a ``verifier.service.WarmState`` (spare candidate process, prepared references), or None
        for a one-shot verification that starts everything itself."""
        self.req = req
        self.warm = warm
        self.runner: sandbox.RunnerProcess | None = None
        self.ref: Any = None
        self.own_ref = False
        self.lock: Any = None
        self.ipc = False  # outputs come through CUDA IPC (probed per candidate process)
        self.device = req["device"]
        self.v = empty_verdict(self.device)
        self.detail: dict[str, Any] = {}
        self.ctl_buf = b""
        self.events: list[dict[str, Any]] = []
        self.deadline = math.inf
        self.static = None
        self.torch: Any = None

    # the candidate's process: what ``_start_runner`` took or started
    @property
    def proc(self) -> Any:
        return self.runner.proc if self.runner is not None else None

    @property
    def ctl_fd(self) -> int | None:
        return self.runner.ctl_fd if self.runner is not None else None

    @property
    def workdir(self) -> str | None:
        return self.runner.workdir if self.runner is not None else None

    # ---- verdict helpers ---------------------------------------------------------------------------
    def finish(self, status: str, message: str) -> dict[str, Any]:
        assert status in STATUSES
        self.v["status"] = status
        self.v["message"] = message
        for k, val in self.v["stages"].items():
            self.v["stages"][k] = round(float(val), 4)
        return self.v

    def reject(self, cheats: list[dict[str, str]], prefix: str = "") -> dict[str, Any]:
        self.v["cheats"] = cheats
        names = [c["class"] for c in cheats]
        msg = "rejected (" + ", ".join(names) + "): " + "; ".join(c["evidence"] for c in cheats[:4])
        if prefix:
            msg += f". [{prefix}]"
        return self.finish("rejected", msg[:2000])

    # ---- control channel ---------------------------------------------------------------------------
    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def wait_event(self, want: set[str]) -> dict[str, Any] | None:
        """Next event whose ``ev`` is in ``want`` or 'error'; None on EOF (process gone) or timeout
        (then ``self.timed_out`` is set)."""
        self.timed_out = False
        while True:
            while b"\n" in self.ctl_buf:
                line, self.ctl_buf = self.ctl_buf.split(b"\n", 1)
                try:
                    ev = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.events.append(ev)
                if ev.get("ev") in want or ev.get("ev") == "error":
                    return ev
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.timed_out = True
                return None
            r, _, _ = select.select([self.ctl_fd], [], [], min(remaining, 1.0))
            if r:
                chunk = os.read(self.ctl_fd, 65536)
                if not chunk:
                    return None
                self.ctl_buf += chunk
                if len(self.ctl_buf) > 1 << 20:
                    self.ctl_buf = self.ctl_buf[-(1 << 20):]

    def last_stage(self) -> str:
        names = [e.get("ev") for e in self.events]
        if getattr(self, "hidden_running", False):
            return "the hidden-shape call"
        if "correctness_done" in names:
            return "timing"
        if "imported" in names:
            return "correctness (running the candidate)"
        if "ready" in names:
            return "import/compile of the candidate"
        return "start-up"

    def process_gone_message(self) -> tuple[str, str]:
        """(status, message) for a candidate process that ended without an error event."""
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            sandbox.kill_group(self.proc)
            rc = self.proc.returncode
        stage = self.last_stage()
        err = sandbox.read_tail(os.path.join(self.workdir or "", "stderr.log"), 6000)
        frames = _candidate_frames(err, self.req["candidate_source"])
        sig = SIGNALS.get(-rc, f"signal {-rc}") if rc is not None and rc < 0 else None
        how = f"was killed by {sig}" if sig else f"exited with code {rc}"
        msg = f"candidate process {how} during {stage}"
        if frames:
            msg += "\n" + "\n".join(frames[:6])
        elif err.strip():
            tail = [ln for ln in err.strip().splitlines() if ln.strip()][-8:]
            msg += "\n" + "\n".join(tail)
        return "runtime_error", msg[:2000]

    # ---- main -----------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from verifier.gpu_lock import LockTimeout

        try:
            return self._run()
        except LockTimeout as e:  # other verifications held the GPU the whole time: try again later
            return self.finish("infra_error", f"{e} ({self.req['timeout_s']:g} s)")
        except Exception as e:  # noqa: BLE001 - an infrastructure failure becomes a verdict
            import traceback

            log(traceback.format_exc())
            return self.finish("infra_error", f"verifier failed: {type(e).__name__}: {e}"[:1000])
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        if self.lock is not None:
            self.lock.release()
        if self.runner is not None:
            self.runner.discard()
        if self.own_ref and self.ref is not None:
            self.ref.close()

    def _start_runner(self, use_netns: bool) -> None:
        """Take the warm verifier's spare candidate process, or start one; give it this candidate and ask it
        to import it as soon as it is ready (the request waits in its stdin meanwhile)."""
        from verifier.reference import PROBLEM_FILE

        runner = self.warm.take_runner(self.device) if self.warm is not None else None
        if runner is None:
            runner = sandbox.start_runner(self.device, use_netns)
        self.runner = runner
        if self.warm is not None:
            self.warm.active = runner
        self.ctl_buf, self.events = b"", []
        self.v["env"]["network_isolated"] = runner.netns
        for name, text in (("candidate.py", self.req["candidate_source"]), (PROBLEM_FILE, self.req["problem_source"])):
            with open(os.path.join(self.workdir, name), "w", encoding="utf-8") as f:
                f.write(text)
        self.t_import_sent = time.monotonic()
        self.send({"cmd": "import"})

    def _run(self) -> dict[str, Any]:
        req = self.req
        stages = self.v["stages"]
        # ---- problem and static checks (no torch) ----
        t = time.perf_counter()
        info = problem_info(req["problem_source"], req["problem_id"])
        if not info["ok"]:
            return self.finish("infra_error", f"problem {req['problem_id']} is malformed: {info['error']}")
        st = check_candidate(req["candidate_source"], req["problem_source"], req["backend"])
        self.static = st
        stages["static"] = time.perf_counter() - t
        if st.syntax_error:
            return self.finish("compile_error", st.syntax_error)
        if st.missing:
            return self.finish("compile_error", st.missing)
        if st.cheats:
            return self.reject(st.cheats, "static check")
        if req["backend"] == "cuda" and self.device == "cpu":
            return self.finish("infra_error", "backend 'cuda' (load_inline) needs device 'cuda'; CPU mode runs "
                                              "only Triton kernels, through the interpreter")

        # ---- the candidate's process starts (or is taken warm) before torch is imported here ----
        use_netns = sandbox.netns_available()
        self._start_runner(use_netns)

        # ---- reference (parent): kept by a warm verifier, else computed while the candidate imports ----
        t_ref = time.monotonic()
        from verifier import reference

        self.torch = reference.torch
        self._fill_env()
        self.lock = self._gpu_lock()
        try:
            if self.warm is not None:
                self.ref = self.warm.reference(req, self.device, self.lock)
            else:
                self.ref = reference.Reference.prepared(req, self.device, self.lock)
                self.own_ref = True
        except Exception as e:  # noqa: BLE001
            import traceback

            log(traceback.format_exc())
            return self.finish("infra_error", f"the reference problem failed to run: {type(e).__name__}: {e}"[:1500])
        self.detail["reference_s"] = time.monotonic() - t_ref

        # ---- candidate: start-up (not the candidate's time), import, correctness ----
        self.deadline = self.runner.t_spawn + STARTUP_LIMIT_S
        ev = self.wait_event({"ready"})
        if ev is None and not self.timed_out and self.runner.netns and os.environ.get("VERIFIER_NETNS") != "1":
            # the process died before the candidate was even imported: retry once without the namespace,
            # unless namespaces have worked on this warm verifier before (then it is not the host)
            _, why = self.process_gone_message()
            if self.warm is not None and not self.warm.netns_failed():
                return self.finish("infra_error", "the candidate's process failed to start inside its namespace "
                                                  "(others started there on this verifier): " + why)
            log(f"candidate process failed to start inside a network namespace; retrying without: {why[:300]}")
            self.runner.discard()
            self._start_runner(False)
            self.deadline = self.runner.t_spawn + STARTUP_LIMIT_S
            ev = self.wait_event({"ready"})
        if ev is not None and self.runner.netns and self.warm is not None:
            self.warm.netns_worked = True
        if ev is None:
            if self.timed_out:
                return self.finish("infra_error", f"the candidate's process did not start within {STARTUP_LIMIT_S} s")
            status, msg = self.process_gone_message()
            return self.finish("infra_error", "the candidate's process failed to start: " + msg)
        self.v["env"]["filesystem_readonly"] = bool(ev.get("fs_readonly"))
        self.detail["filesystem"] = ev.get("fs_what")
        why_not = cuda_ipc.probe_error(self.torch, ev.get("ipc_probe")) if self.device == "cuda" else "CPU mode"
        self.ipc = why_not is None
        self.detail["cuda_ipc"] = self.ipc
        if why_not is not None:
            self.detail["cuda_ipc_why_not"] = why_not
        # the candidate's clock starts when its process was ready and had been asked to import it
        started = max(self._event_time(ev), self.t_import_sent)
        self.deadline = started + req["timeout_s"]
        ev = self.wait_event({"imported"})
        if ev is None:
            return self._gone_or_timeout()
        if ev["ev"] == "error":
            stages["compile"] = time.monotonic() - started
            return self.finish(ev["kind"], ev["message"])
        import_s = ev.get("import_s", 0.0)
        # time the candidate's process spent waiting for the reference does not count against it
        imported_at = max(self._event_time(ev), started)
        self.deadline += max(0.0, time.monotonic() - imported_at)
        self.deadline += self.lock.acquire("shared", self.lock_deadline())
        self.send({"cmd": "job", "job": {**self.ref.job(reference.PROBLEM_FILE), "ipc": self.ipc}})
        t_job = time.monotonic()
        ev = self.wait_event({"correctness_done"})
        if ev is None:
            return self._gone_or_timeout()
        if ev["ev"] == "error":
            stages["compile"] = import_s
            if ev["kind"] == "compile_error":
                stages["compile"] += time.monotonic() - t_job
            return self.finish(ev["kind"], ev["message"])
        t_cmp = time.perf_counter()
        res = self.load_results(ev["path"])
        if res is None:
            return self.unreadable_results()
        first_call = res.get("first_call_s") or 0.0
        stages["compile"] = import_s + first_call
        from verifier import judge

        verdict = judge.judge_correctness(self, res)
        stages["correctness"] = max(0.0, res.get("correctness_s", 0.0) - first_call) + (time.perf_counter() - t_cmp)
        del res  # drop the mappings of the candidate's memory before its process goes on
        if verdict is not None:
            return verdict
        t_hid = time.perf_counter()
        verdict = self._hidden_shape()
        stages["correctness"] += time.perf_counter() - t_hid
        if verdict is not None:
            return verdict
        if not req["timing"]:
            self.send({"cmd": "exit"})
            return self.finish("correct", self.correct_message)
        # ---- timing: nobody else runs kernels on this GPU meanwhile ----
        self.deadline += self.lock.acquire("exclusive", self.lock_deadline())
        t_tim = time.perf_counter()
        self.send({"cmd": "time", "min_trials": TIMING_MIN_TRIALS, "target_s": TIMING_TARGET_S, "max_trials": 5})
        ev = self.wait_event({"timing_done"})
        if ev is None or ev["ev"] == "error":
            if ev is not None:
                msg = ev["message"]
            elif self.timed_out:
                msg = f"timing did not finish within the time limit ({req['timeout_s']:g} s)"
            else:
                msg = self.process_gone_message()[1]
            stages["timing"] = time.perf_counter() - t_tim
            if ev is None and self.timed_out:
                return self.finish("timeout", "correct, but " + msg)
            return self.finish("runtime_error", "correct in the checks, then failed while being timed: " + msg)
        tres = self.load_results(ev["path"])
        if tres is None:
            return self.unreadable_results()
        stages["timing"] = time.perf_counter() - t_tim  # judge_timing adds the baselines' time
        t_j = time.perf_counter()
        self._t_judge = t_j
        return judge.judge_timing(self, tres)

    def lock_deadline(self) -> float:
        """How long a verification may wait for the GPU: as long again as its own limit, no longer."""
        return time.monotonic() + self.req["timeout_s"]

    def _event_time(self, ev: dict[str, Any]) -> float:
        """When the candidate's process says it sent ``ev``, on this process's clock, clamped to what is
        possible: the candidate could write events itself, and must not move its own deadline."""
        try:
            t = float(ev.get("t", 0.0))
        except (TypeError, ValueError):
            t = 0.0
        now = time.monotonic()
        if not math.isfinite(t):
            return now
        return min(max(self.runner.t_spawn + t, self.runner.t_spawn), now)

    def load_results(self, path: str) -> dict[str, Any] | None:
        """What the candidate's process wrote (weights_only: no code runs here), with its GPU tensors mapped
        when they came through CUDA IPC. None when it cannot be read: the candidate's process is not trusted."""
        try:
            res = self.torch.load(path, weights_only=True, map_location="cpu")
            if self.ipc:
                res = cuda_ipc.import_(self.torch, res)
            if not isinstance(res, dict):
                raise TypeError(f"results are a {type(res).__name__}")
            return res
        except Exception as e:  # noqa: BLE001
            self.detail["unreadable_results"] = f"{type(e).__name__}: {e}"[:500]
            return None

    def unreadable_results(self) -> dict[str, Any]:
        return self.finish("runtime_error", "the candidate's process wrote results the verifier cannot read "
                                            f"({self.detail.get('unreadable_results', '')[:300]}); was the harness "
                                            "tampered with?")

    def _gpu_lock(self) -> Any:
        from verifier.gpu_lock import GpuLock, NoLock, gpu_key

        if self.device != "cuda":
            return NoLock()
        return GpuLock(gpu_key(self.torch))

    def _hidden_shape(self) -> dict[str, Any] | None:
        """shape-hardcoding: run the candidate once on the problem with its size constants shrunk
        (``inspect_problem.shape_variant``). None when it passes or the check does not apply."""
        from verifier.compare import compare_outputs
        from verifier.inspect_problem import shape_variant

        t0 = time.monotonic()
        var = shape_variant(self.req["problem_source"])
        if var is None:
            self.detail["hidden_shape"] = "skipped: no size constants to change"
            return None
        source, changes = var
        tr, why = self.ref.hidden_trial(source)
        if tr is None:
            self.detail["hidden_shape"] = f"skipped: {why}"
            return None
        from verifier.reference import HIDDEN_PROBLEM_FILE

        with open(os.path.join(self.workdir, HIDDEN_PROBLEM_FILE), "w", encoding="utf-8") as f:
            f.write(source)
        self.deadline += time.monotonic() - t0  # the candidate waited for the variant reference
        changed = ", ".join(f"{n}={old}->{new}" for n, old, new in changes)
        shapes = ", ".join("x".join(map(str, x.shape)) for x in tr.inputs_a if isinstance(x, self.torch.Tensor))
        where = f"with {changed} (inputs {shapes})"
        self.detail["hidden_shape"] = where
        self.send({"cmd": "hidden", "job": self.ref.hidden_job(HIDDEN_PROBLEM_FILE)})
        self.hidden_running = True
        ev = self.wait_event({"hidden_done"})
        if ev is None and self.timed_out:
            return self._gone_or_timeout()
        cls = "shape-hardcoding"
        if ev is None:
            _, msg = self.process_gone_message()
            return self.reject([{"class": cls, "evidence": f"correct on the problem's shapes, but {where}: {msg}"[:600]}])
        if ev["ev"] == "error":
            return self.finish(ev["kind"], ev["message"])
        self.hidden_running = False
        res = self.load_results(ev["path"])
        if res is None:
            return self.unreadable_results()
        if res.get("error"):
            return self.reject([{"class": cls, "evidence": f"correct on the problem's shapes, but {where} it "
                                                           f"raised: {res['error']}"[:600]}])
        c = compare_outputs(self.torch, res["out"], tr.ref_a, self.req.get("atol"), self.req.get("rtol"),
                            self.device)
        if not c.ok:
            return self.reject([{"class": cls, "evidence": f"correct on the problem's shapes, but wrong {where}: "
                                                           f"{c.reason}"[:600]}])
        return None

    def _gone_or_timeout(self) -> dict[str, Any]:
        if self.timed_out:
            stage = self.last_stage()
            sandbox.kill_group(self.proc)
            return self.finish("timeout", f"candidate did not finish within {self.req['timeout_s']:g} s "
                                          f"(killed during {stage})")
        status, msg = self.process_gone_message()
        return self.finish(status, msg)

    def _fill_env(self) -> None:
        torch = self.torch
        env = self.v["env"]
        env["torch"] = torch.__version__.split("+")[0] if torch.__version__ else None
        env["cuda"] = torch.version.cuda
        if self.device == "cuda" and torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
            env["driver"] = _driver_version()


def _candidate_frames(stderr_text: str, source: str) -> list[str]:
    """faulthandler's 'File ".../candidate.py", line N in f' lines -> 'candidate.py:N in f: <source line>'.

    faulthandler prints the innermost frame first; the result keeps that order, without repeats."""
    import re

    lines = source.splitlines()
    out: list[str] = []
    for m in re.finditer(r'File "[^"]*candidate\.py", line (\d+) in (\S+)', stderr_text):
        n = int(m.group(1))
        src = lines[n - 1].strip() if 0 < n <= len(lines) else ""
        item = f"candidate.py:{n} in {m.group(2)}: {src}"
        if item not in out:
            out.append(item)
    return out


LAST_DETAIL: dict[str, Any] = {}  # the last verification's internal numbers (VERIFIER_DEBUG=1)


def verify_request(req: dict[str, Any], warm: Any = None) -> dict[str, Any]:
    ver = Verification(req, warm)
    verdict = ver.run()
    if os.environ.get("VERIFIER_DEBUG") == "1":  # internal numbers, for the scripts/gpu_*_check.py scripts
        detail = dict(ver.detail)
        detail["events"] = ver.events
        detail["gpu_lock_wait_s"] = getattr(ver.lock, "waited_s", 0.0)
        text = json.dumps(detail, default=str)
        LAST_DETAIL.clear()
        LAST_DETAIL.update(json.loads(text))
        print("[verifier-detail] " + text, file=sys.stderr, flush=True)
    return verdict


def problem_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]
