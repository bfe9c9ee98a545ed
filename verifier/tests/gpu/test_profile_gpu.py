"""On a GPU: the profile request (``verifier.profile``) on a memory-bound Triton kernel (a + b * scale over
16 M floats) either reads the counters -- DRAM throughput high, named kernels -- or says why not, naming the
host's limitation. With OUT set, the parsed result and ncu's raw CSV go to $OUT/ncu_profile.json and
$OUT/ncu_raw_page.csv (the capture that replaces verifier/tests/fixtures/ncu/raw_page.csv).
``pytest -m gpu verifier/tests/gpu/test_profile_gpu.py -s``."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from verifier import profile, sandbox
from verifier.tests.conftest import FIXTURES

GPU = FIXTURES / "gpu"


def test_triton_axpy_is_profiled_or_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    req = {"problem_id": "gpu_axpy", "problem_source": (GPU / "problems" / "gpu_axpy.py").read_text(),
           "candidate_source": (GPU / "candidates" / "axpy_triton.py").read_text(), "backend": "triton",
           "device": "cuda", "seeds": [0], "timeout_s": 300, "timing": False}
    raw_logs: list[str] = []
    read_tail = sandbox.read_tail

    def keep_log(path: str, limit: int = 4000) -> str:  # the CSV as ncu wrote it, before its directory goes
        text = read_tail(path, limit)
        if path.endswith(profile.NCU_LOG):
            raw_logs.append(text)
        return text

    monkeypatch.setattr(sandbox, "read_tail", keep_log)
    res = profile.profile_request(json.dumps(req))
    print(json.dumps(res, indent=1))
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "ncu_profile.json").write_text(json.dumps(res, indent=1))
        (Path(out) / "ncu_raw_page.csv").write_text(raw_logs[-1] if raw_logs else "")
    assert res["stages"]["profile"] > 0
    if not res["available"]:
        reason = str(res["reason"])
        assert any(w in reason for w in ("not readable on this host", "not on PATH", "KS_NCU")), reason
        pytest.skip(f"no counters on this host: {reason}")
    assert res["kernels"], res
    k = max(res["kernels"], key=lambda k: k["duration_ns"] or 0)
    assert k["dram_throughput_pct"] is not None and k["dram_throughput_pct"] > 50, k
    assert k["achieved_occupancy_pct"] is not None and k["top_stalls"], k
