"""The trust boundary (docs/verifier.md, "Trust boundary: what the parent accepts"), in CPU mode: attacks
from inside the candidate's process on what the parent decides, each against its fixture
(``fixtures/candidates/forge_*``, ``hang_*``); ``add_correct`` is their correct twin."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from verifier import channel
from verifier.channel import CANDIDATE_SAYS, Channel
from verifier.tests.conftest import verify, warm_state


def test_correct_twin_still_correct():
    v = verify("elementwise_add", "add_correct", seeds=[0, 1, 2])
    assert v["status"] == "correct", v["message"]
    assert v["correctness"]["trials"] == 3 and v["correctness"]["passed"] == 3


@pytest.mark.parametrize("cand", ["forge_results_zero_seeds", "forge_results_drop_seeds"])
def test_forged_results_cannot_drop_seeds(cand):
    """The parent chose the seeds: every one must come back, exactly once; 'correct on 0 seed(s)' cannot be."""
    v = verify("elementwise_add", cand, seeds=[0, 1, 2, 3, 4])
    assert v["status"] == "runtime_error", v["message"]
    assert "protocol violation" in v["message"] and "asked for seeds [0, 1, 2, 3, 4]" in v["message"]
    assert "correct on" not in v["message"]


def test_forged_error_event_cannot_set_the_status():
    v = verify("elementwise_add", "forge_channel_status")
    assert v["status"] == "runtime_error", v["message"]  # the parent's status for an error during the calls
    assert v["message"].startswith(CANDIDATE_SAYS + "correct on 5 seed(s)")


def test_forged_path_and_fifo_do_not_block_the_parent():
    t = time.monotonic()
    v = verify("elementwise_add", "forge_channel_fifo", timeout_s=120)
    assert time.monotonic() - t < 60
    assert v["status"] == "runtime_error", v["message"]
    # where the confinement keeps the candidate from placing its FIFO at the results' path, the parent finds
    # no results file instead: either way it does not block and the verdict is the candidate's fault
    assert "protocol violation" in v["message"]
    assert "not a regular file" in v["message"] or "No such file" in v["message"], v["message"]


@pytest.mark.parametrize("cand,why", [("forge_channel_flood", "more calls of forward"),
                                      ("forge_channel_longline", "longer than 65536 bytes")])
def test_floods_and_overlong_lines_are_protocol_violations(cand, why):
    v = verify("elementwise_add", cand, timeout_s=120)
    assert v["status"] == "runtime_error", v["message"]
    assert v["message"].startswith("protocol violation") and why in v["message"], v["message"]


def test_candidate_text_is_marked_as_the_candidates():
    v = verify("elementwise_add", "add_runtime_error")
    assert v["status"] == "runtime_error"
    assert v["message"].startswith(CANDIDATE_SAYS), v["message"]
    v = verify("elementwise_add", "add_compile_error")
    assert v["status"] == "compile_error"
    assert v["message"].startswith(CANDIDATE_SAYS), v["message"]


def test_per_call_limit_cuts_off_a_hung_call(monkeypatch):
    """A call after the first that never returns is cut off by the per-call limit, not the time limit."""
    monkeypatch.setitem(channel.CALL_LIMIT, "cpu", (3.0, 0.0))
    t = time.monotonic()
    v = verify("elementwise_add", "hang_second_call", timeout_s=300)
    assert time.monotonic() - t < 120
    assert v["status"] == "timeout", v["message"]
    assert "per-call limit of 3 s" in v["message"]


def _signal_when_running(sig: int, box: dict) -> threading.Thread:
    """A thread that sends ``sig`` to the candidate process the warm state judges, a few seconds into its
    calls. (The verification itself stays in the main thread: a candidate process dies with the thread that
    started it, PR_SET_PDEATHSIG, and the spares are started by the verification.)"""
    def run():
        end = time.monotonic() + 90
        while time.monotonic() < end:
            r = warm_state().active
            if r is not None and r.alive() and os.path.exists(os.path.join(r.workdir, "candidate.py")):
                time.sleep(4)  # into the candidate's endless first call
                box["t"] = time.monotonic()
                os.kill(r.proc.pid, sig)
                return
            time.sleep(0.2)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_stopped_or_killed_from_outside_is_infra_error(how):
    """Another process stopping (SIGSTOP) or killing (SIGKILL) the candidate's process is not the victim's
    doing: infra_error (retried), noticed within seconds, not a timeout or runtime_error against it."""
    warm_state().active = None
    box: dict = {}
    th = _signal_when_running(signal.SIGSTOP if how == "stop" else signal.SIGKILL, box)
    v = verify("elementwise_add", "add_timeout", timeout_s=300)
    th.join(5)
    assert "t" in box and time.monotonic() - box["t"] < 30
    assert v["status"] == "infra_error", v["message"]
    assert ("stopped" if how == "stop" else "SIGKILL") in v["message"]


def test_segfault_stays_the_candidates_runtime_error():
    v = verify("elementwise_add", "add_segfault")
    assert v["status"] == "runtime_error", v["message"]


# ---- messages ----------------------------------------------------------------------------------------
def test_all_nan_output_says_no_element_is_finite():
    v = verify("elementwise_add", "all_nan")
    assert v["status"] == "incorrect", v["message"]
    assert "no element of the output is finite" in v["message"]
    assert "over the finite elements 0" not in v["message"]


def test_tanh_gelu_is_not_called_reduced_precision():
    v = verify("gelu_erf", "gelu_tanh_approx")
    assert v["status"] == "incorrect", v["message"]
    assert "fp16" not in v["message"] and "precision-downgrade" not in v["message"]
    assert "systematic" in v["message"]


def test_half_precision_gelu_is_called_reduced_precision():
    v = verify("gelu_erf", "gelu_half")
    assert v["status"] == "incorrect", v["message"]
    assert "fp16/bf16/TF32" in v["message"] and "precision-downgrade" in v["message"]


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc")
def test_nvcc_own_error_reaches_the_build_message(tmp_path):
    """torch raises 'Error building extension' from ninja's CalledProcessError: nvcc's own line must stay."""
    from verifier import errors

    src = tmp_path / "cuda.cu"
    src.write_text("__global__ void k(float* x) { x[0] = undefined_thing; }\n")
    out = []
    for arch in ("-arch=sm_70", None):
        cmd = ["nvcc", *([arch] if arch else []), "-c", str(src), "-o", str(tmp_path / "cuda.o")]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        out.append(r.stdout + r.stderr)
    for text in out:
        log = ("[1/2] /usr/local/cuda/bin/nvcc -DTORCH_EXTENSION_NAME=x -Werror=return-type -c cuda.cu -o cuda.cuda.o\n"
               "FAILED: cuda.cuda.o\n" + text + "ninja: build stopped: subcommand failed.\n")
        try:
            try:
                raise subprocess.CalledProcessError(1, ["ninja", "-v"])
            except subprocess.CalledProcessError as e:
                raise RuntimeError("Error building extension 'x': " + log) from e
        except RuntimeError as e:
            msg = errors.format_exception(e, str(tmp_path / "candidate.py"))
        assert "non-zero exit status" not in msg
        diag = [ln for ln in text.splitlines() if "fatal" in ln or "error" in ln][0].strip()
        assert diag in msg, msg
    assert "Unsupported gpu architecture 'sm_70'" in out[0]


# ---- the channel itself --------------------------------------------------------------------------------
class _FakeRunner:
    def __init__(self, workdir: str):
        self.workdir = workdir
        self.t_spawn = time.monotonic()
        self.proc = None


def _chan(tmp_path) -> Channel:
    ch = Channel({"timeout_s": 10, "candidate_source": ""})
    ch.runner = _FakeRunner(str(tmp_path))  # type: ignore[assignment]
    ch.kill = lambda: None  # type: ignore[method-assign]
    return ch


def test_events_keep_only_typed_fields_and_no_time_or_path(tmp_path):
    ch = _chan(tmp_path)
    ch.sent = ["import"]
    ready = ch._accept(json.dumps({"ev": "ready", "t": -1e9, "fs_readonly": True, "status": "correct"}).encode())
    assert ready is not None and set(ready) == {"ev", "fs_readonly", "at"}
    ch.events.append(ready)
    imp = ch._accept(json.dumps({"ev": "imported", "t": -1e9, "import_s": 0.5}).encode())
    assert imp is not None and ch.event_time(imp) == imp["at"] >= ready["at"]
    ch.events.append(imp)
    ch.sent.append("job")
    done = ch._accept(json.dumps({"ev": "correctness_done", "path": "/etc/passwd"}).encode())
    assert done is not None and done["path"] == os.path.join(str(tmp_path), "out_correctness.pt")


@pytest.mark.parametrize("sent,claimed,status", [(["import"], "correct", "compile_error"),
                                                 (["import", "job"], "compile_error", "compile_error"),
                                                 (["import", "job"], "infra_error", "runtime_error"),
                                                 (["import", "job", "time"], "compile_error", "runtime_error")])
def test_error_kind_is_the_parents(tmp_path, sent, claimed, status):
    ch = _chan(tmp_path)
    ch.sent = sent
    ev = ch._accept(json.dumps({"ev": "error", "kind": claimed, "message": "x"}).encode())
    assert ev is not None and ev["kind"] == status and ev["message"] == CANDIDATE_SAYS + "x"


@pytest.mark.parametrize("line,why", [(b"not json", "not JSON"), (b'{"ev": "verdict"}', "does not know"),
                                      (b'{"ev": "timing_done"}', "did not ask for"),
                                      (b'{"ev": "ready", "fs_readonly": "yes"}', "is a str")])
def test_malformed_events_are_violations(tmp_path, line, why):
    ch = _chan(tmp_path)
    ch.sent = ["import"]
    assert ch._accept(line) is None
    assert ch.violation is not None and why in ch.violation


def test_results_are_read_only_from_regular_files_it_named(tmp_path):
    ch = _chan(tmp_path)
    res = tmp_path / "out_correctness.pt"
    os.symlink("/dev/zero", res)
    with pytest.raises(OSError):
        ch.read_result_bytes(str(res), 1 << 20)
    res.unlink()
    os.mkfifo(res)
    with pytest.raises(ValueError, match="not a regular file"):
        ch.read_result_bytes(str(res), 1 << 20)
    res.unlink()
    res.write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="more than"):
        ch.read_result_bytes(str(res), 10)
    assert ch.read_result_bytes(str(res), 100) == b"x" * 100
    with pytest.raises(ValueError, match="did not ask for|not a results file"):
        ch.read_result_bytes(str(tmp_path / "other.pt"), 100)
