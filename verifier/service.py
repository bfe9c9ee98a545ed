"""The warm verifier: ``python -m verifier serve --device cuda|cpu``, one per GPU slot.

A one-shot ``verify`` pays, per candidate, for starting two Python processes that import torch and for
running the reference on every seed. A GPU worker judges hundreds of candidates of a few problems, so the
service keeps what does not depend on the candidate:
  - torch imported and the GPU initialised in this process;
  - the next candidate processes started ahead of time (torch and Triton imported, harness installed), so
    a candidate goes straight to its import;
  - the prepared reference (results for every seed) of the last problems seen.
Each candidate still runs in a process of its own that is thrown away afterwards; nothing of one
candidate survives into the next.

Protocol: one JSON object per line on stdin, ``{"id": ..., "request": {...}}`` (the request is what
``verify --request`` reads); one line per request on stdout, ``{"id": ..., "verdict": {...}}`` (plus
``"detail"``, internal numbers, with VERIFIER_DEBUG=1). A line with ``"kind": "profile"`` asks for the
candidate's Nsight Compute counters instead (``verifier.profile``) and is answered ``{"id": ..., "profile":
{...}}``. Anything
else this process prints goes to stderr. Closing stdin stops the service and the candidate it is running.
"""
from __future__ import annotations

import json
import os
import queue
import sys
import threading
from collections import OrderedDict
from typing import Any

from verifier import sandbox, verify
from verifier.wire import clean_json

MAX_REFERENCES = 2  # prepared problems kept (GPU memory: inputs and results of every seed)
# candidate processes kept starting or ready: on a GPU three, so that one is ready even after verifications
# shorter than a process's start (warm candidates take ~1 s on an H100, a start ~7 s); on the CPU one
SPARES = {"cuda": 3, "cpu": 1}


class WarmState:
    def __init__(self, device: str):
        self.device = device
        self.spares: list[sandbox.RunnerProcess] = []
        self.refs: OrderedDict[str, Any] = OrderedDict()
        self.use_netns: bool | None = None
        self.netns_worked = False  # a candidate process has become ready inside its namespace here
        self.active: sandbox.RunnerProcess | None = None  # the candidate process being judged

    # ---- candidate processes ------------------------------------------------------------------------
    def prespawn(self) -> None:
        """Keep SPARES candidate processes starting or ready (each takes ~7 s on the H100: torch, Triton, a
        CUDA context, the CUDA profiler)."""
        for r in [r for r in self.spares if not r.alive()]:
            r.discard()
            self.spares.remove(r)
        if self.use_netns is None:
            self.use_netns = sandbox.netns_available()
        want = int(os.environ.get("VERIFIER_SPARES") or SPARES[self.device])
        while len(self.spares) < want:
            self.spares.append(sandbox.start_runner(self.device, self.use_netns))

    def take_runner(self, device: str) -> sandbox.RunnerProcess | None:
        """The oldest spare for this candidate; a new one starts at once, so that one is ready when the
        next request comes (a busy worker sends it as soon as this verdict is out)."""
        if device != self.device:
            return None
        runner = None
        while self.spares and runner is None:
            r = self.spares.pop(0)
            if r.alive():
                runner = r
            else:
                r.discard()
        self.prespawn()
        return runner

    def reap_strays(self) -> list[int]:
        """Kill what a finished candidate left running. This process is a child subreaper (``serve``), so a
        process the candidate detached (double fork, new session) lands here when its candidate process is
        killed; it is told apart from this process's own helpers (torch.compile's workers) by running in
        another user namespace. The spares are spared. Returns the pids killed."""
        import signal

        try:
            mine = os.readlink("/proc/self/ns/user")
        except OSError:
            return []
        spares = {r.proc.pid for r in self.spares}
        killed = []
        for pid in sandbox.child_pids_of(os.getpid()):
            if pid in spares:
                continue
            try:
                if os.readlink(f"/proc/{pid}/ns/user") == mine:
                    continue
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                continue
        for pid in killed:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        return killed

    def netns_failed(self) -> bool:
        """A candidate process died before it was ready inside its namespace. If none ever became ready
        here, namespaces do not work on this host with this device: stop asking for them (True; the
        verdicts say so in ``env``). If one did, this was something else (the GPU out of memory, say),
        and dropping the confinement for every later candidate is not the answer: False."""
        if self.netns_worked:
            return False
        self.use_netns = False
        return True

    # ---- references -----------------------------------------------------------------------------------
    def reference(self, req: dict[str, Any], device: str, lock: Any) -> Any:
        from verifier.reference import Reference, cache_key

        key = cache_key(req, device)
        if key in self.refs:
            self.refs.move_to_end(key)
            return self.refs[key]
        ref = Reference.prepared(req, device, lock)
        self.refs[key] = ref
        while len(self.refs) > MAX_REFERENCES:
            _, old = self.refs.popitem(last=False)
            old.close()
            del old
            if device == "cuda":
                ref.torch.cuda.empty_cache()
        return ref

    def close(self) -> None:
        for r in self.spares:
            r.discard()
        self.spares.clear()
        for ref in self.refs.values():
            ref.close()
        self.refs.clear()


def serve(device: str) -> int:
    # the protocol owns the real stdout; stray prints (compilers, torch) go to stderr
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    warm = WarmState(device)
    lines: queue.Queue[str | None] = queue.Queue()
    try:  # orphans of candidate processes come here, not to init (see WarmState.reap_strays)
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:  # noqa: BLE001 - not Linux
        pass

    idle = threading.Event()

    def read_stdin() -> None:
        for line in sys.stdin:
            lines.put(line)
        lines.put(None)
        # the worker that started this service is gone: if a candidate is being judged, take it down too
        if not idle.wait(2.0):
            if warm.active is not None:
                warm.active.discard()
            warm.close()
            os._exit(0)

    threading.Thread(target=read_stdin, name="verifier-stdin", daemon=True).start()
    warm.prespawn()
    try:
        while True:
            idle.set()
            line = lines.get()
            idle.clear()
            if line is None:
                return 0
            if not line.strip():
                continue
            rid: Any = None
            kind = "verify"
            try:
                msg = json.loads(line)
                rid = msg.get("id") if isinstance(msg, dict) else None
                kind = msg.get("kind") or "verify"
                raw = json.dumps(msg["request"])
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                raw = f"<not a request line: {e}>"
            if kind == "profile":  # a process of its own under ncu (never a spare: ncu must start it)
                from verifier import profile

                proto.write(json.dumps({"id": rid, "profile": clean_json(profile.profile_request(raw))},
                                       allow_nan=False) + "\n")
                proto.flush()
                continue
            verdict, _ = verify.verdict_for(raw, warm)
            answer: dict[str, Any] = {"id": rid, "verdict": clean_json(verdict)}
            if os.environ.get("VERIFIER_DEBUG") == "1":
                answer["detail"] = clean_json(verify.LAST_DETAIL)
            proto.write(json.dumps(answer, allow_nan=False) + "\n")
            proto.flush()
            stray = warm.reap_strays()
            if stray:
                print(f"[verifier] killed {len(stray)} process(es) a candidate left behind: {stray}", file=sys.stderr,
                      flush=True)
            warm.prespawn()  # the next candidate's process starts while the worker fetches the next task
    finally:
        warm.close()
