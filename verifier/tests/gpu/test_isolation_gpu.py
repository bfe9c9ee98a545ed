"""On a GPU: CUDA IPC still works with the candidate in its own PID namespace, and diag(A) @ B computed as
a row scaling is ``correct`` (not rejected as implausible-speedup). ``pytest -m gpu verifier/tests/gpu``."""
from __future__ import annotations

import json
import os

from verifier import sandbox
from verifier.tests.conftest import request


def _verify(prob: str, cand: str) -> tuple[dict, dict]:
    from verifier.verify import LAST_DETAIL, parse_request, verify_request

    os.environ["VERIFIER_DEBUG"] = "1"
    req = request(prob, cand, device="cuda", seeds=[0, 1], timing=True, timeout_s=300)
    v = verify_request(parse_request(json.dumps(req)))
    return v, dict(LAST_DETAIL)


def test_cuda_ipc_works_across_the_pid_namespace() -> None:
    assert sandbox.isolation_missing(True) is None, sandbox.isolation_missing(True)
    v, detail = _verify("elementwise_add", "add_correct")
    assert v["status"] == "correct", v["message"]
    assert v["env"]["network_isolated"] is True and v["env"]["filesystem_readonly"] is True
    assert "pid 1 of its own PID namespace" in str(detail.get("filesystem")), detail.get("filesystem")
    assert detail.get("cuda_ipc") is True, detail.get("cuda_ipc_why_not")


def test_diag_matmul_row_scaling_is_correct_on_the_gpu() -> None:
    v, _ = _verify("diag_matmul", "diag_rowscale")
    assert v["status"] == "correct", v["message"]
    assert not v["cheats"], v["cheats"]
