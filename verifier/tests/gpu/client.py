"""A warm verifier driven from Python, the way the GPU worker drives it (activities/verifierService.ts):
``python -m verifier serve`` with requests and verdicts as JSON lines. For the GPU checks (``verifier/tests/gpu``),
which run on machines without Node."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


class WarmVerifier:
    def __init__(self, device: str, data_dir: Path, gpu: str | None = None, env_extra: dict[str, str] | None = None):
        env = dict(os.environ, VERIFIER_DATA_DIR=str(data_dir), VERIFIER_DEBUG="1", PYTHONUNBUFFERED="1")
        if gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = gpu
        env.update(env_extra or {})
        self.proc = subprocess.Popen([sys.executable, "-m", "verifier", "serve", "--device", device], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr_tail = ""
        self.seq = 0
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if not line.startswith("[verifier-detail]"):
                self.stderr_tail = (self.stderr_tail + line)[-6000:]

    def verify(self, req: dict[str, Any]) -> tuple[dict[str, Any], float, dict[str, Any]]:
        """(verdict, wall seconds from request to verdict, detail)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.seq += 1
        rid = f"r{self.seq}"
        t = time.perf_counter()
        self.proc.stdin.write(json.dumps({"id": rid, "request": req}) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                v = {"status": "NO-VERDICT", "message": self.stderr_tail[-2000:], "cheats": [], "stages": {}, "timing": None}
                return v, time.perf_counter() - t, {}
            msg = json.loads(line)
            if msg.get("id") == rid:
                return msg["verdict"], time.perf_counter() - t, msg.get("detail") or {}

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def request(problem: Path, candidate: Path | str, backend: str, device: str, timeout_s: float = 300,
            seeds: list[int] | None = None, problem_id: str | None = None) -> dict[str, Any]:
    src = candidate.read_text() if isinstance(candidate, Path) else candidate
    req: dict[str, Any] = {"problem_id": problem_id or problem.stem, "problem_source": problem.read_text(),
                           "candidate_source": src, "backend": backend, "device": device, "timeout_s": timeout_s,
                           "timing": True}
    if seeds is not None:
        req["seeds"] = seeds
    return req
