"""The parent's end of the candidate's process: commands in, events out, the deadline, the results files.

Runs in the parent. Everything that comes back through here was written by a process that runs candidate
code: events are clamped (``event_time``), results are read with ``weights_only=True`` and type-checked
by the stages that use them, never trusted.
"""
from __future__ import annotations

import json
import math
import os
import re
import select
import time
from typing import Any

from verifier import cuda_ipc, sandbox
from verifier.problem_inputs import PROBLEM_FILE

SIGNALS = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}


class Channel:
    """One candidate process (``sandbox.RunnerProcess``) as a verification sees it."""

    def __init__(self, req: Any) -> None:
        self.req = req
        self.runner: sandbox.RunnerProcess | None = None
        self.buf = b""
        self.events: list[dict[str, Any]] = []
        self.deadline = math.inf
        self.timed_out = False
        self.hidden_running = False
        self.t_import_sent = 0.0

    @property
    def proc(self) -> Any:
        return self.runner.proc if self.runner is not None else None

    @property
    def workdir(self) -> str:
        assert self.runner is not None
        return self.runner.workdir

    @property
    def t_spawn(self) -> float:
        assert self.runner is not None
        return self.runner.t_spawn

    def attach(self, runner: sandbox.RunnerProcess) -> None:
        """Give ``runner`` this candidate and ask it to import it as soon as it is ready (the command waits
        in its stdin meanwhile)."""
        self.runner = runner
        self.buf, self.events = b"", []
        for name, text in (("candidate.py", self.req["candidate_source"]), (PROBLEM_FILE, self.req["problem_source"])):
            with open(os.path.join(runner.workdir, name), "w", encoding="utf-8") as f:
                f.write(text)
        self.t_import_sent = time.monotonic()
        self.send({"cmd": "import"})

    def discard(self) -> None:
        if self.runner is not None:
            self.runner.discard()

    def write_file(self, name: str, text: str) -> None:
        with open(os.path.join(self.workdir, name), "w", encoding="utf-8") as f:
            f.write(text)

    # ---- commands and events -----------------------------------------------------------------------
    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:  # BrokenPipeError included: the process is gone, the next wait says so
            pass

    def wait_event(self, want: set[str]) -> dict[str, Any] | None:
        """Next event whose ``ev`` is in ``want`` or 'error'; None on EOF (process gone) or timeout
        (then ``self.timed_out`` is set)."""
        assert self.runner is not None
        self.timed_out = False
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
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
            r, _, _ = select.select([self.runner.ctl_fd], [], [], min(remaining, 1.0))
            if r:
                chunk = os.read(self.runner.ctl_fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk
                if len(self.buf) > 1 << 20:
                    self.buf = self.buf[-(1 << 20):]

    def event_time(self, ev: dict[str, Any]) -> float:
        """When the candidate's process says it sent ``ev``, on this process's clock, clamped to what is
        possible: the candidate could write events itself, and must not move its own deadline."""
        try:
            t = float(ev.get("t", 0.0))
        except (TypeError, ValueError):
            t = 0.0
        now = time.monotonic()
        if not math.isfinite(t):
            return now
        return min(max(self.t_spawn + t, self.t_spawn), now)

    # ---- a process that ended or ran out of time ----------------------------------------------------
    def last_stage(self) -> str:
        names = [e.get("ev") for e in self.events]
        if self.hidden_running:
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
        except Exception:  # noqa: BLE001 - whatever wait raised, the process group goes
            sandbox.kill_group(self.proc)
            rc = self.proc.returncode
        stage = self.last_stage()
        err = sandbox.read_tail(os.path.join(self.workdir, "stderr.log"), 6000)
        frames = candidate_frames(err, self.req["candidate_source"])
        sig = SIGNALS.get(-rc, f"signal {-rc}") if rc is not None and rc < 0 else None
        how = f"was killed by {sig}" if sig else f"exited with code {rc}"
        msg = f"candidate process {how} during {stage}"
        if frames:
            msg += "\n" + "\n".join(frames[:6])
        elif err.strip():
            tail = [ln for ln in err.strip().splitlines() if ln.strip()][-8:]
            msg += "\n" + "\n".join(tail)
        return "runtime_error", msg[:2000]

    def gone_or_timeout(self) -> tuple[str, str]:
        """(status, message) after ``wait_event`` returned None."""
        if self.timed_out:
            stage = self.last_stage()
            sandbox.kill_group(self.proc)
            return "timeout", (f"candidate did not finish within {self.req['timeout_s']:g} s "
                               f"(killed during {stage})")
        return self.process_gone_message()

    # ---- results files ------------------------------------------------------------------------------
    def load_results(self, torch: Any, path: str, ipc: bool) -> tuple[dict[str, Any] | None, str]:
        """(what the candidate's process wrote, "") -- weights_only: no code runs here -- with its GPU tensors
        mapped when they came through CUDA IPC; (None, why) when it cannot be read."""
        try:
            res = torch.load(path, weights_only=True, map_location="cpu")
            if ipc:
                res = cuda_ipc.import_(torch, res)
            if not isinstance(res, dict):
                raise TypeError(f"results are a {type(res).__name__}")
            return res, ""
        except Exception as e:  # noqa: BLE001 - the candidate's process wrote it: anything can fail
            return None, f"{type(e).__name__}: {e}"[:500]


def candidate_frames(stderr_text: str, source: str) -> list[str]:
    """faulthandler's 'File ".../candidate.py", line N in f' lines -> 'candidate.py:N in f: <source line>'.

    faulthandler prints the innermost frame first; the result keeps that order, without repeats."""
    lines = source.splitlines()
    out: list[str] = []
    for m in re.finditer(r'File "[^"]*candidate\.py", line (\d+) in (\S+)', stderr_text):
        n = int(m.group(1))
        src = lines[n - 1].strip() if 0 < n <= len(lines) else ""
        item = f"candidate.py:{n} in {m.group(2)}: {src}"
        if item not in out:
            out.append(item)
    return out
