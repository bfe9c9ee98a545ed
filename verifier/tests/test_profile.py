"""The profile request (``verifier.profile``) on a host without a GPU: the CSV parser on a capture in ncu's
``--csv --page raw`` layout, and every unavailable case saying why."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from verifier import gpu_lock, profile, sandbox
from verifier.channel import Channel
from verifier.tests.conftest import FIXTURES, REPO, request

CAPTURE = (FIXTURES / "ncu" / "raw_page.csv").read_text()


def test_parser_reads_the_raw_page() -> None:
    kernels = profile.parse_csv(CAPTURE)
    assert [k["name"] for k in kernels] == ["copy_kernel", "matmul_kernel_0d1d2d"]
    copy, mm = kernels
    assert copy["duration_ns"] == 1234567.0  # thousands separators inside the quotes
    assert copy["dram_throughput_pct"] == pytest.approx(92.41)
    assert copy["sm_throughput_pct"] == pytest.approx(23.10)
    assert copy["achieved_occupancy_pct"] == pytest.approx(87.5)
    assert copy["tensor_pipe_pct"] == 0.0
    assert [s["reason"] for s in copy["top_stalls"]] == ["long_scoreboard", "lg_throttle", "wait"]
    assert copy["top_stalls"][0]["pct"] == pytest.approx(100 * 6.1 / 9.5, abs=0.05)
    assert mm["tensor_pipe_pct"] == pytest.approx(63.2)  # the larger of the HMMA and wgmma pipes
    assert mm["top_stalls"][0]["reason"] == "math_pipe_throttle"


def test_parser_reads_a_real_capture() -> None:
    """ncu 2025.3.1's own output on the H200 (2026-12-04, test_profile_gpu.py): a Triton axpy over 16 M
    floats, profiled twice; its warnings and ``==PROF==`` lines come before the CSV."""
    kernels = profile.parse_csv((FIXTURES / "ncu" / "h200_axpy.csv").read_text())
    assert [k["name"] for k in kernels] == ["axpy_kernel", "axpy_kernel"]
    k = kernels[0]
    assert k["duration_ns"] == pytest.approx(44896.0)
    assert k["dram_throughput_pct"] == pytest.approx(84.06) and k["sm_throughput_pct"] == pytest.approx(5.02)
    assert k["achieved_occupancy_pct"] == pytest.approx(63.66) and k["tensor_pipe_pct"] == 0.0
    assert k["top_stalls"][0] == {"reason": "long_scoreboard", "pct": 86.8}


def test_parser_scales_durations_and_tolerates_missing_columns() -> None:
    text = ('"ID","Kernel Name","gpu__time_duration.sum","dram__throughput.avg.pct_of_peak_sustained_elapsed"\n'
            '"","","usecond","%"\n"0","k","1.5","n/a"\n')
    (k,) = profile.parse_csv(text)
    assert k["duration_ns"] == 1500.0
    assert k["dram_throughput_pct"] is None and k["achieved_occupancy_pct"] is None and k["top_stalls"] == []
    assert profile.parse_csv("==PROF== Disconnected\n") == []


def test_unreadable_counters_are_told_apart() -> None:
    why = profile.counters_unreadable("==ERROR== ERR_NVGPUCTRPERM - The user does not have permission")
    assert why is not None and "not readable on this host" in why and "ERR_NVGPUCTRPERM" in why
    assert profile.counters_unreadable(CAPTURE) is None


def test_cpu_device_is_unavailable_with_its_reason() -> None:
    res = profile.profile_request(json.dumps(request("elementwise_add", "add_correct")))
    assert res["available"] is False and res["kernels"] == []
    assert "CPU device" in str(res["reason"])
    assert res["stages"]["profile"] == res["cost_s"]


def test_no_ncu_is_unavailable_with_its_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("KS_NCU", raising=False)
    res = profile.profile_request(json.dumps(request("elementwise_add", "add_correct", device="cuda")))
    assert res["available"] is False and "not on PATH" in str(res["reason"])
    monkeypatch.setenv("KS_NCU", str(tmp_path / "nope"))
    res = profile.profile_request(json.dumps(request("elementwise_add", "add_correct", device="cuda")))
    assert "KS_NCU" in str(res["reason"]) and "not an executable" in str(res["reason"])


def test_profiling_turned_off_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KS_NCU", "off")
    res = profile.profile_request(json.dumps(request("elementwise_add", "add_correct", device="cuda")))
    assert res["available"] is False and res["kernels"] == []
    assert "turned off" in str(res["reason"]) and "KS_NCU=off" in str(res["reason"])


def _fake_ncu(tmp_path: Path, body: str) -> Path:
    ncu = tmp_path / "bin" / "ncu"
    ncu.parent.mkdir()
    ncu.write_text("#!/bin/sh\n" + body)
    ncu.chmod(ncu.stat().st_mode | stat.S_IEXEC)
    return ncu


def test_ncu_refused_counters_inside_the_confinement(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ncu starts where the candidate's process would (its log in the candidate's directory, its cwd) and
    says the counters are not readable: the reason names it."""
    ncu = _fake_ncu(tmp_path, 'echo "==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access '
                              'NVIDIA GPU Performance Counters" > ncu.log\nexit 1\n')
    monkeypatch.setenv("KS_NCU", str(ncu))
    res = profile.profile_request(json.dumps(request("elementwise_add", "add_correct", device="cuda")))
    assert res["available"] is False
    assert "not readable on this host" in str(res["reason"]) and "ERR_NVGPUCTRPERM" in str(res["reason"])


@pytest.mark.skipif(sandbox.isolation_missing(True) is not None, reason="no isolation on this host")
def test_the_profiler_starts_inside_the_confinement(tmp_path: Path) -> None:
    """ncu injects threads into the process it starts, and a process with several threads cannot lock its
    mounts (a nested user namespace): so the confinement is made before ncu starts, and ncu and the
    candidate's process see the same read-only host (seen on the H200: confining under ncu hung)."""
    fd, outside = tempfile.mkstemp(prefix="ks-outside-", dir="/tmp")
    os.close(fd)
    probe = REPO / ".ks-profiler-wrote-here"
    ncu = _fake_ncu(tmp_path, f"""touch {probe} 2>/dev/null && echo repo=writable >> ncu.log || echo repo=read-only >> ncu.log
test -e {outside} && echo tmp=host >> ncu.log || echo tmp=covered >> ncu.log
ls -l /proc/$$/fd/ >> ncu.log
while [ "$1" != "--log-file" ]; do shift; done
shift 2
exec "$@"
""")
    runner = sandbox.start_runner("cpu", True, wrap=profile.ncu_command(str(ncu), 1), needed=[str(tmp_path)])
    chan = Channel(request("elementwise_add", "add_correct"))
    try:
        chan.attach(runner)
        chan.deadline = time.monotonic() + 120
        ev = chan.wait_event({"ready"})
        log_text = (Path(runner.workdir) / profile.NCU_LOG).read_text()
    finally:
        chan.discard()
        os.unlink(outside)
        probe.unlink(missing_ok=True)
    assert "repo=read-only" in log_text and "tmp=covered" in log_text, log_text
    # ncu lives as long as the profile, as pid 1 of the candidate's namespace (its /proc/1/fd is the
    # candidate's to read): it holds no descriptor of the GPU lock directory
    lock_dir = os.path.realpath(os.environ.get("VERIFIER_LOCK_DIR") or gpu_lock.LOCK_DIR_DEFAULT)
    assert lock_dir not in log_text, log_text
    assert ev is not None and ev["ev"] == "ready", ev
    assert ev["fs_readonly"] is True and "confined before the profiler started" in ev["fs_what"]


def test_rejected_source_is_not_profiled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ncu = _fake_ncu(tmp_path, "exit 0\n")
    monkeypatch.setenv("KS_NCU", str(ncu))
    req = request("elementwise_add", "add_syntax_error", device="cuda")
    res = profile.profile_request(json.dumps(req))
    assert res["available"] is False and str(res["reason"]).startswith("the candidate failed: compile_error")


def test_service_answers_a_profile_line() -> None:
    line = json.dumps({"id": 7, "kind": "profile", "request": request("elementwise_add", "add_correct")})
    env = {**os.environ, "VERIFIER_SPARES": "0", "VERIFIER_QUIET": "1"}
    out = subprocess.run([sys.executable, "-m", "verifier", "serve", "--device", "cpu"], input=line + "\n",
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["id"] == 7 and answer["profile"]["available"] is False
    assert "CPU device" in answer["profile"]["reason"]
