"""The parent side of a verification: request -> verdict, as a list of stages (``verifier.stages``).

Runs in the parent, the trusted side of the trust boundary: the candidate's code runs only in its own
process (``verifier.candidate``), reached through ``verifier.channel``. Order of work (chosen so that the
two torch imports overlap):
  1. ``stages.static``: the problem parses, the candidate's source passes the ``ast`` checks (no torch yet)
  2. ``stages.build``: the candidate's process starts (or is taken warm) and imports torch and the candidate;
     meanwhile torch is imported here and the reference runs on every seed
  3. ``stages.correctness.run_seeds``: the candidate runs on every seed; its outputs are compared here
  4. ``stages.runtime_cheats``: what the candidate's process recorded and the comparisons are classified:
     rejected, incorrect, or correct so far
  5. ``stages.correctness.hidden_shape``: one more call on a hidden shape (shape-hardcoding)
  6. ``stages.timing``: the candidate's process times itself, the parent checks the timed outputs and
     times the eager and torch.compile baselines (cached), speedups
Each stage returns what the next one needs, or a ``Final`` verdict.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

from verifier import gpu_lock
from verifier.channel import Channel
from verifier.stages import build, correctness, runtime_cheats, static, timing
from verifier.stages.outcome import Final
from verifier.wire import (
    STATUSES,
    CheatItem,
    Correctness,
    Request,
    RequestError,
    Status,
    Timing,
    Verdict,
    bad_request_verdict,
    empty_verdict,
    log,
    parse_request,
)


class Verification:
    """One verification: the request, the state the stages share, and the verdict being built."""

    def __init__(self, req: Request, warm: Any = None):
        """``warm``: a ``verifier.service.WarmState`` (spare candidate process, prepared references), or None
        for a one-shot verification that starts everything itself."""
        self.req = req
        self.warm = warm
        self.device = req["device"]
        self.chan = Channel(req)
        self.ref: Any = None  # verifier.reference.Reference
        self.own_ref = False
        self.lock: Any = None  # verifier.gpu_lock.GpuLock (NoLock on the CPU)
        self.ipc = False  # outputs come through CUDA IPC (probed per candidate process)
        self.torch: Any = None
        self._v = empty_verdict(self.device)
        self.stages = self._v["stages"]  # seconds per stage, added to by the stages
        self.detail: dict[str, Any] = {}  # internal numbers (VERIFIER_DEBUG=1), see ``note``

    # ---- the verdict: written only through these ---------------------------------------------------
    def note(self, **detail: Any) -> None:
        """Internal numbers for VERIFIER_DEBUG=1 (not part of the verdict)."""
        self.detail.update(detail)

    def set_env(self, **env: Any) -> None:
        self._v["env"].update(env)  # type: ignore[typeddict-item]

    def set_correctness(self, corr: Correctness) -> None:
        self._v["correctness"] = corr

    def set_timing(self, timing: Timing) -> None:
        self._v["timing"] = timing

    def finish(self, status: Status, message: str) -> Final:
        assert status in STATUSES
        if self.chan.outside is not None:  # stopped or killed from outside: no verdict against the candidate
            status, message = "infra_error", self.chan.outside
        self._v["status"] = status
        self._v["message"] = message
        for k in ("static", "compile", "correctness", "timing"):
            self.stages[k] = round(float(self.stages[k]), 4)
        return Final(self._v)

    def reject(self, cheats: list[CheatItem], prefix: str = "") -> Final:
        self._v["cheats"] = cheats
        names = [c["class"] for c in cheats]
        msg = "rejected (" + ", ".join(names) + "): " + "; ".join(c["evidence"] for c in cheats[:4])
        if prefix:
            msg += f". [{prefix}]"
        return self.finish("rejected", msg[:2000])

    def gone_or_timeout(self) -> Final:
        return self.finish(*self.chan.gone_or_timeout())  # type: ignore[arg-type]

    def load_results(self, path: str) -> dict[str, Any] | Final:
        """What the candidate's process wrote, or the runtime_error verdict when it cannot be read."""
        from verifier.stages.correctness import check_results

        res, why = self.chan.load_results(self.torch, path, self.ipc, self.results_limit())
        if res is not None:
            bad = check_results(self, os.path.basename(path), res)
            if bad is None:
                return res
            self.chan.kill()
            return self.finish("runtime_error", f"protocol violation: the candidate's process returned {bad}; "
                                                f"was the harness tampered with?")
        self.note(unreadable_results=why)
        return self.finish("runtime_error", f"protocol violation: the candidate's process wrote results the "
                                            f"verifier cannot read ({why[:300]}); was the harness tampered with?")

    def results_limit(self) -> int:
        """The most bytes a results file may have: every seed's three outputs and inputs after the call, the
        timing's last outputs, with room to spare (descriptors only with CUDA IPC)."""
        ref = self.ref
        if ref is None or not ref.trials:
            return 64 << 20
        t0 = ref.trials[0]
        in_bytes = sum(x.numel() * x.element_size() for x in t0.inputs_a if isinstance(x, self.torch.Tensor))
        per_seed = 3 * ref.out_nbytes + in_bytes
        return (64 << 20) + 2 * (len(ref.trials) + 8) * per_seed

    # ---- main -----------------------------------------------------------------------------------------
    def run(self) -> Verdict:
        try:
            return self._run().verdict
        except gpu_lock.LockTimeout as e:  # other verifications held the GPU the whole time: try again later
            return self.finish("infra_error", f"{e} ({self.req['timeout_s']:g} s)").verdict
        except Exception as e:  # noqa: BLE001 - an infrastructure failure becomes a verdict
            log(traceback.format_exc())
            return self.finish("infra_error", f"verifier failed: {type(e).__name__}: {e}"[:1000]).verdict
        finally:
            self.cleanup()

    def _run(self) -> Final:
        checked = static.run(self)
        if isinstance(checked, Final):
            return checked
        imported = build.run(self, checked)
        if isinstance(imported, Final):
            return imported
        seeds = correctness.run_seeds(self, imported)
        if isinstance(seeds, Final):
            return seeds
        correct = runtime_cheats.judge_seeds(self, checked, seeds)
        del seeds  # drop the mappings of the candidate's memory (CUDA IPC) before its process goes on
        if isinstance(correct, Final):
            return correct
        correct = correctness.hidden_shape(self, correct)
        if isinstance(correct, Final):
            return correct
        return timing.run(self, correct)

    def cleanup(self) -> None:
        if self.lock is not None:
            self.lock.release()
        self.chan.discard()
        if self.own_ref and self.ref is not None:
            self.ref.close()

    def lock_deadline(self) -> float:
        """How long a verification may wait for the GPU: as long again as its own limit, no longer."""
        return time.monotonic() + self.req["timeout_s"]


LAST_DETAIL: dict[str, Any] = {}  # the last verification's internal numbers (VERIFIER_DEBUG=1)


def verify_request(req: Request, warm: Any = None) -> Verdict:
    ver = Verification(req, warm)
    verdict = ver.run()
    if os.environ.get("VERIFIER_DEBUG") == "1":  # internal numbers, for the GPU tests (verifier/tests/gpu)
        detail = dict(ver.detail)
        detail["events"] = ver.chan.events
        detail["gpu_lock_wait_s"] = getattr(ver.lock, "waited_s", 0.0)
        text = json.dumps(detail, default=str)
        LAST_DETAIL.clear()
        LAST_DETAIL.update(json.loads(text))
        print("[verifier-detail] " + text, file=sys.stderr, flush=True)
    return verdict


def verdict_for(raw: str, warm: Any = None) -> tuple[Verdict, int]:
    """(verdict, exit code) for a raw request; a bad request is an infra_error verdict, exit code 2."""
    try:
        req = parse_request(raw)
    except RequestError as e:
        return bad_request_verdict(raw, f"bad request: {e}"), 2
    return verify_request(req, warm), 0
