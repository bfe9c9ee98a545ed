"""The parent's end of the candidate's process: commands in, events out, the deadline, the results files.

Runs in the parent. Everything that comes back through here was written by a process that runs candidate
code, which can write to the control pipe itself (the descriptor is inherited) and rewrite its results
files. So the channel accepts only a fixed, bounded vocabulary (``EVENTS``): each event's fields are
typed and size-limited, unknown fields are dropped, each event is accepted only where the parent waits for
it and at most once (``call`` at most once per call the parent asked for); a line that breaks any of this,
an overlong line or a flood of events is a protocol violation: the process is killed and the verdict is
``runtime_error``. No event carries what the parent decides: not a status (an error event's ``kind``
becomes compile_error or runtime_error by the stage the parent was in), not a path (results are read only
from the files the parent named, ``RESULT_FILES``, opened O_NOFOLLOW|O_NONBLOCK, checked S_ISREG and
size-limited), not a time (deadlines run on this process's clock at receipt). Text the candidate's process
sent (error messages, its stderr) is marked as such in the verdict (``CANDIDATE_SAYS``).

The parent also watches the process itself: a process stopped from outside (``/proc/PID/stat`` state T)
or killed by a signal nobody in the verification sent (SIGKILL, SIGTERM) is ``infra_error`` (retried),
not a verdict against it; see docs/verifier.md, "Trust boundary".
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import select
import stat
import time
from typing import Any

from verifier import cuda_ipc, sandbox
from verifier.problem_inputs import PROBLEM_FILE

SIGNALS = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}
# signals a process does not get from its own faults: sent by another process (or the kernel's OOM killer)
OUTSIDE_SIGNALS = {9, 15}

CANDIDATE_SAYS = "the candidate's process reported: "
CANDIDATE_STDERR = "the candidate's process's stderr ends with: "

# event -> {field: accepted types}; strings are cut to MAX_TEXT, anything else is a protocol violation
_NUM = (int, float)
EVENTS: dict[str, dict[str, tuple[type, ...]]] = {
    "started": {},
    "ready": {"ipc_probe": (dict, type(None)), "fs_readonly": (bool,), "fs_what": (str,)},
    "imported": {"import_s": _NUM},
    "call": {},  # one call of forward begins (progress, for the per-call limit)
    "correctness_done": {},
    "hidden_done": {},
    "timing_done": {},
    "profile_done": {},  # the profiled calls are over (``verifier.profile``)
    "error": {"kind": (str,), "stage": (str,), "message": (str,)},
}
# the results file of each *_done event: named by the parent, never by the event
RESULT_FILES = {"correctness_done": "out_correctness.pt", "hidden_done": "out_hidden.pt", "timing_done": "out_timing.pt"}
MAX_LINE = 1 << 16  # bytes of one event line
MAX_TEXT = 4000  # characters of one string field
MAX_EVENTS_BASE = 16  # events of one process besides its ``call`` events
HIDDEN_COMPILE_ALLOWANCE_S = 60.0  # the hidden-shape call may compile for its new shapes
STOPPED_GRACE_S = 3.0
# the per-call limit: max(floor, factor x the reference's seconds per call), per device (the CPU runs the
# candidate's kernels in the Triton interpreter, thousands of times slower than PyTorch)
CALL_LIMIT = {"cuda": (10.0, 50.0), "cpu": (60.0, 2000.0)}
CALL_LIMIT_TEXT = "10 s, 50x on a GPU; 60 s, 2000x on the CPU"


def call_limit(device: str, ref_call_s: float) -> float:
    floor, factor = CALL_LIMIT.get(device, CALL_LIMIT["cuda"])
    return max(floor, factor * max(0.0, ref_call_s))  # a process seen stopped this long (state T) was stopped from outside


class Channel:
    """One candidate process (``sandbox.RunnerProcess``) as a verification sees it."""

    def __init__(self, req: Any) -> None:
        self.req = req
        self.runner: sandbox.RunnerProcess | None = None
        self.buf = b""
        self.events: list[dict[str, Any]] = []  # accepted events, as sanitized here
        self.pending: list[dict[str, Any]] = []  # accepted, not yet handed to a stage
        self.deadline = math.inf
        self.timed_out = False
        self.hidden_running = False
        self.t_import_sent = 0.0
        # the per-call limit (set by the correctness stage): a call of forward after the first (which JIT-
        # compiles) must end within ``call_limit`` s of its ``call`` event; the parent counts the calls
        self.call_limit: float | None = None
        self.calls_allowed = 0
        self.calls_seen = 0
        self.call_started: float | None = None  # receipt of the last ``call`` event, once limited
        self.call_timed_out = False
        self.violation: str | None = None  # why the process broke the protocol (it was killed for it)
        self.outside: str | None = None  # the process was stopped or killed from outside: infra_error
        self.killed_by_parent = False
        self.sent: list[str] = []  # the commands sent to the process, in order
        self.call_allowance = 0.0  # extra seconds for the next limited call (the hidden shape's JIT)
        self._stopped_since: float | None = None

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
        self.buf, self.events, self.pending = b"", [], []
        self.violation = self.outside = None
        self.killed_by_parent = False
        self.sent = []
        self.calls_seen, self.calls_allowed, self.call_started = 0, 0, None
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

    def kill(self) -> None:
        """The parent ends the candidate's process (its exit signal is then not 'from outside')."""
        self.killed_by_parent = True
        if self.proc is not None:
            sandbox.kill_group(self.proc)

    # ---- commands and events -----------------------------------------------------------------------
    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        cmd = obj.get("cmd")
        if isinstance(cmd, str):
            self.sent.append(cmd)
            if cmd == "job":  # at most three calls per seed (fresh memory, same buffers, zero memory)
                self.calls_allowed += 3 * len(obj.get("job", {}).get("seeds", []))
            elif cmd == "hidden":  # one call, at a new shape: may JIT-compile again
                self.calls_allowed += 1
                self.call_allowance = HIDDEN_COMPILE_ALLOWANCE_S
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:  # BrokenPipeError included: the process is gone, the next wait says so
            pass

    def max_events(self) -> int:
        return MAX_EVENTS_BASE + self.calls_allowed

    def _violate(self, why: str) -> None:
        if self.violation is None:
            self.violation = why[:300]
        self.kill()

    def _accept(self, line: bytes) -> dict[str, Any] | None:
        """The event on ``line``, sanitized, or None after a protocol violation."""
        if len(line) > MAX_LINE:
            self._violate(f"an event line of {len(line)} bytes (at most {MAX_LINE})")
            return None
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError):
            self._violate("a line on the control channel that is not JSON")
            return None
        name = raw.get("ev") if isinstance(raw, dict) else None
        if not isinstance(name, str) or name not in EVENTS:
            self._violate(f"an event the verifier does not know ({str(name)[:40]!r})")
            return None
        if not self._in_order(name):
            self._violate(f"a {name!r} event the verifier did not ask for (commands sent: {', '.join(self.sent)})")
            return None
        if name != "call" and any(e["ev"] == name for e in self.events):
            self._violate(f"a second {name!r} event")
            return None
        if len(self.events) >= self.max_events():
            self._violate(f"more than {self.max_events()} events")
            return None
        ev = self._typed(name, raw)
        if ev is None:
            return None
        now = time.monotonic()
        ev["at"] = now  # this process's clock at receipt: the only time the parent uses
        if name == "call":
            self.calls_seen += 1
            if self.calls_seen > self.calls_allowed:
                self._violate(f"more calls of forward ({self.calls_seen}) than the verifier asked for")
                return None
            if self.call_limit is not None and (self.calls_seen >= 2 or self.call_allowance):
                self.call_started = now + self.call_allowance
                self.call_allowance = 0.0
        if name in RESULT_FILES:
            ev["path"] = os.path.join(self.workdir, RESULT_FILES[name])
            self.call_started = None
        if name == "error":
            ev["kind"] = self._error_status(ev.get("kind"))
            ev["message"] = CANDIDATE_SAYS + str(ev.get("message") or "(no message)")
        return ev

    def _typed(self, name: str, raw: dict[str, Any]) -> dict[str, Any] | None:
        """Only the fields ``EVENTS`` names for ``name``, of their types, strings cut to MAX_TEXT."""
        ev: dict[str, Any] = {"ev": name}
        for key, types in EVENTS[name].items():
            if key not in raw:
                continue
            val = raw[key]
            if not isinstance(val, types) or (isinstance(val, bool) and bool not in types):
                self._violate(f"a {name!r} event whose {key!r} is a {type(val).__name__}")
                return None
            if isinstance(val, str):
                val = val[:MAX_TEXT]
            if isinstance(val, float) and not math.isfinite(val):
                val = 0.0
            ev[key] = val
        return ev

    def _in_order(self, name: str) -> bool:
        """Whether the process may send ``name`` now: each event answers a command the parent sent."""
        seen = {e["ev"] for e in self.events}
        if name == "error":
            return True
        if name in ("started", "ready"):
            return "imported" not in seen
        if name == "imported":
            return "import" in self.sent and "ready" in seen
        if name == "call":
            return "job" in self.sent or "hidden" in self.sent
        need = {"correctness_done": "job", "hidden_done": "hidden", "timing_done": "time", "profile_done": "profile"}[name]
        return need in self.sent

    def _error_status(self, claimed: Any) -> str:
        """The parent's status for an error event, by the command the process was working on: an import
        that failed is a compile_error; during the correctness calls the process may tell a Triton compile
        error (JIT at the first call) from a runtime error -- a choice between two failures; anything else
        is a runtime_error."""
        last = self.sent[-1] if self.sent else ""
        if last == "import":
            return "compile_error"
        if last == "job" and claimed == "compile_error":
            return "compile_error"
        return "runtime_error"

    def wait_event(self, want: set[str]) -> dict[str, Any] | None:
        """Next event whose ``ev`` is in ``want`` or 'error'; None on EOF (process gone), a protocol
        violation (``self.violation``), a process stopped from outside (``self.outside``) or timeout (then
        ``self.timed_out`` is set; ``self.call_timed_out`` too when the per-call limit ran out)."""
        assert self.runner is not None
        self.timed_out = False
        self.call_timed_out = False
        while True:
            # what arrived before a violation still counts (the ``ready`` of the harness, before the flood)
            if self.pending and (self.pending[0]["ev"] in want or self.pending[0]["ev"] == "error"):
                return self.pending.pop(0)
            if self.violation is not None or self.outside is not None:
                return None
            now = time.monotonic()
            deadline = self.deadline
            if self.call_started is not None and self.call_limit is not None:
                deadline = min(deadline, self.call_started + self.call_limit)
            remaining = deadline - now
            if remaining <= 0:
                if self._stopped_now():
                    self._stopped_outside()
                    return None
                self.timed_out = True
                self.call_timed_out = deadline < self.deadline
                return None
            r, _, _ = select.select([self.runner.ctl_fd], [], [], min(remaining, 1.0))
            if not r:
                if self._watch_stopped():
                    return None
                continue
            chunk = os.read(self.runner.ctl_fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if not line.strip():
                    continue
                ev = self._accept(line)
                if ev is None:
                    self.buf = b""
                    break
                self.events.append(ev)
                if ev["ev"] not in ("started", "call"):  # progress only: nobody waits for these
                    self.pending.append(ev)
            if len(self.buf) > MAX_LINE:
                self._violate(f"an event line longer than {MAX_LINE} bytes")
                self.buf = b""

    def event_time(self, ev: dict[str, Any]) -> float:
        """When the parent received ``ev``, on this process's clock (what the candidate's process says
        about times is never used for a limit)."""
        at = ev.get("at")
        return float(at) if isinstance(at, float) else time.monotonic()

    # ---- stopped or killed from outside ---------------------------------------------------------------
    def _state(self) -> str:
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                text = f.read().decode("ascii", "replace")
            return text[text.rindex(")") + 2:].split(" ", 1)[0]
        except (OSError, ValueError, AttributeError):
            return ""

    def _stopped_now(self) -> bool:
        return self._state() in ("T", "t")

    def _watch_stopped(self) -> bool:
        """True (and the process killed) once it has been stopped for STOPPED_GRACE_S: it makes no progress
        and nothing in the verification stops it."""
        if not self._stopped_now():
            self._stopped_since = None
            return False
        now = time.monotonic()
        if self._stopped_since is None:
            self._stopped_since = now
            return False
        if now - self._stopped_since < STOPPED_GRACE_S:
            return False
        self._stopped_outside()
        return True

    def _stopped_outside(self) -> None:
        self.outside = (f"the candidate's process was stopped (SIGSTOP or a debugger; /proc state T) during "
                        f"{self.last_stage()}: not by the verifier. Retried")
        self.kill()

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
        """(status, message) for a candidate process that ended without an error event: ``runtime_error``,
        or ``infra_error`` when it was stopped or killed from outside (``self.outside``), after a protocol
        violation the violation."""
        assert self.proc is not None
        if self.violation is not None:
            return "runtime_error", f"protocol violation: the candidate's process sent {self.violation}; it was killed"
        if self.outside is not None:
            return "infra_error", self.outside
        try:
            rc = self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - whatever wait raised, the process group goes
            self.kill()
            rc = self.proc.returncode
        stage = self.last_stage()
        if rc is not None and rc < 0 and -rc in OUTSIDE_SIGNALS and not self.killed_by_parent:
            self.outside = (f"the candidate's process was killed by {SIGNALS[-rc]} during {stage}, not by the "
                            f"verifier (another process, or the kernel's OOM killer). Retried")
            return "infra_error", self.outside
        err = sandbox.read_tail(os.path.join(self.workdir, "stderr.log"), 6000)
        frames = candidate_frames(err, self.req["candidate_source"])
        sig = SIGNALS.get(-rc, f"signal {-rc}") if rc is not None and rc < 0 else None
        how = f"was killed by {sig}" if sig else f"exited with code {rc}"
        msg = f"candidate process {how} during {stage}"
        if frames:
            msg += "\n" + CANDIDATE_STDERR + "\n" + "\n".join(frames[:6])
        elif err.strip():
            tail = [ln for ln in err.strip().splitlines() if ln.strip()][-8:]
            msg += "\n" + CANDIDATE_STDERR + "\n" + "\n".join(tail)
        return "runtime_error", msg[:2000]

    def gone_or_timeout(self) -> tuple[str, str]:
        """(status, message) after ``wait_event`` returned None."""
        if self.timed_out:
            stage = self.last_stage()
            self.kill()
            if self.call_timed_out:
                return "timeout", (f"one call of forward did not finish within the per-call limit of "
                                   f"{self.call_limit:.3g} s (killed during {stage}; the limit is "
                                   f"max({CALL_LIMIT_TEXT}) of the reference's time per call)")
            return "timeout", (f"candidate did not finish within {self.req['timeout_s']:g} s "
                               f"(killed during {stage})")
        return self.process_gone_message()

    # ---- results files ------------------------------------------------------------------------------
    def read_result_bytes(self, path: str, limit: int) -> bytes:
        """The bytes of a results file the parent named (``RESULT_FILES``): a regular file, opened without
        following a link and without blocking (a FIFO or a device put in its place is refused), at most
        ``limit`` bytes. Raises OSError/ValueError otherwise."""
        if os.path.dirname(path) != self.workdir or os.path.basename(path) not in RESULT_FILES.values():
            raise ValueError("not a results file the verifier asked for")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ValueError("the results file is not a regular file")
            if st.st_size > limit:
                raise ValueError(f"the results file has {st.st_size} bytes, more than the {limit} expected")
            chunks, total = [], 0
            while True:
                b = os.read(fd, min(1 << 24, limit + 1 - total))
                if not b:
                    break
                chunks.append(b)
                total += len(b)
                if total > limit:
                    raise ValueError(f"the results file grew past the {limit} bytes expected")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def load_results(self, torch: Any, path: str, ipc: bool, limit: int = 1 << 30) -> tuple[dict[str, Any] | None, str]:
        """(what the candidate's process wrote, "") -- weights_only: no code runs here -- with its GPU tensors
        mapped when they came through CUDA IPC; (None, why) when it cannot be read."""
        try:
            data = self.read_result_bytes(path, limit)
            res = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
            del data
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
