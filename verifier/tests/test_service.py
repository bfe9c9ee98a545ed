"""The warm verifier (``python -m verifier serve``) and the GPU lock that lets verifications share a GPU."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from verifier.gpu_lock import GpuLock, LockTimeout
from verifier.tests.conftest import REPO, request


def _serve(tmp_path):
    """A CPU warm verifier with its private directories under tmp_path/tmp (to check nothing is left)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, VERIFIER_TMP=str(tmp), VERIFIER_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.Popen([sys.executable, "-m", "verifier", "serve", "--device", "cpu"], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return tmp, proc


def test_serve_answers_each_request_by_id_and_stops_when_stdin_closes(tmp_path):
    tmp, proc = _serve(tmp_path)
    try:
        lines = [
            {"id": "a", "request": request("elementwise_add", "add_correct")},
            {"id": "b", "request": request("elementwise_add", "add_compile_error")},
            {"id": "c", "request": {"problem_source": ""}},
            {"id": "d", "request": request("elementwise_add", "cheat_stale_output")},
        ]
        for msg in lines:
            proc.stdin.write(json.dumps(msg) + "\n")
        proc.stdin.write("this is not JSON\n")
        proc.stdin.flush()
        got = {}
        for _ in range(5):
            out = json.loads(proc.stdout.readline())
            got[out["id"]] = out["verdict"]
        assert got["a"]["status"] == "correct", got["a"]["message"]
        assert got["b"]["status"] == "compile_error"
        assert got["c"]["status"] == "infra_error" and "bad request" in got["c"]["message"]
        assert got[None]["status"] == "infra_error"
        assert got["d"]["status"] == "rejected" and "stale-output" in got["d"]["message"]
        # the reference of the first request was kept for the later ones: same problem, no new reference dir
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        # the spare candidate process and the kept references are gone with it
        time.sleep(0.5)
        assert os.listdir(tmp) == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_takes_the_candidate_down_when_its_worker_goes(tmp_path):
    """stdin closed in the middle of a verification (the worker died): the service and the candidate end."""
    tmp, proc = _serve(tmp_path)
    try:
        proc.stdin.write(json.dumps({"id": "x", "request": request("elementwise_add", "add_timeout",
                                                                    timeout_s=600)}) + "\n")
        proc.stdin.flush()
        deadline = time.time() + 120
        while time.time() < deadline and not _candidate_running(proc.pid):
            time.sleep(0.5)
        assert _candidate_running(proc.pid), "the candidate never started"
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        time.sleep(1.0)
        assert not _runner_pids_under(str(tmp)), "a candidate process outlived its service"
    finally:
        if proc.poll() is None:
            proc.kill()


def _runner_pids_under(tmp: str) -> list[int]:
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    cmd = f.read().decode(errors="replace")
            except OSError:
                continue
            if "verifier._runner" in cmd and tmp in cmd:
                pids.append(int(p))
    return pids


def _candidate_running(service_pid: int) -> bool:
    """A runner of this service has been told to import its candidate (it wrote candidate.py)."""
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != service_pid:
                continue
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace").split("\0")
        except (OSError, ValueError, IndexError):
            continue
        cfg = next((c for c in cmd if c.endswith("config.json")), None)
        if cfg and os.path.exists(os.path.join(os.path.dirname(cfg), "candidate.py")):
            return True
    return False


def test_gpu_lock_timing_excludes_everyone_else(tmp_path):
    """Shared holders run side by side; an exclusive holder (timing) waits for them and blocks new ones."""
    a, b, c = (GpuLock("gpu-test", str(tmp_path)) for _ in range(3))
    a.acquire("shared")
    b.acquire("shared")  # correctness of two candidates at once: no wait
    got_exclusive = threading.Event()

    def timer() -> None:
        c.acquire("exclusive")
        got_exclusive.set()

    t = threading.Thread(target=timer)
    t.start()
    time.sleep(0.3)
    assert not got_exclusive.is_set(), "timing started while correctness checks were running"
    a.release()
    time.sleep(0.2)
    assert not got_exclusive.is_set()
    b.release()
    assert got_exclusive.wait(5)
    d = GpuLock("gpu-test", str(tmp_path))
    started = threading.Event()
    threading.Thread(target=lambda: (d.acquire("shared"), started.set()), daemon=True).start()
    time.sleep(0.3)
    assert not started.is_set(), "a correctness check ran on the GPU while another candidate was timed"
    c.release()
    assert started.wait(5)
    d.release()
    t.join()


def test_serve_kills_what_a_candidate_leaves_behind(tmp_path):
    """A candidate that detaches a process (double fork, new session) does not leave it running: the
    service is its subreaper and kills it once the verdict is out."""
    from verifier import sandbox

    if not sandbox.netns_available():
        import pytest

        pytest.skip("strays are told apart by their user namespace: unshare does not work here")
    tmp, proc = _serve(tmp_path)
    try:
        proc.stdin.write(json.dumps({"id": "d", "request": request("elementwise_add", "daemon_leftover")}) + "\n")
        proc.stdin.flush()
        out = json.loads(proc.stdout.readline())
        assert out["id"] == "d" and out["verdict"]["status"] in ("correct", "rejected"), out["verdict"]["message"]
        time.sleep(1.0)
        strays = [p for p in _runner_pids_under(str(tmp)) if not os.path.exists(_config_of(p))]
        assert strays == [], f"processes of a finished candidate still running: {strays}"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def _config_of(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmd = f.read().decode(errors="replace").split("\0")
    return next((c for c in cmd if c.endswith("config.json")), "")


CONFINED_LOCK_HOLDER = r"""
import os, sys
from verifier.confine import confine
import pytest

from verifier.gpu_lock import GpuLock, LockTimeout
work, lock_dir = sys.argv[1], sys.argv[2]
ok, what, fds = confine([work], hidden=[lock_dir])
assert ok, what
assert not os.path.exists(lock_dir) or os.listdir(lock_dir) == [], "the candidate's process sees the locks"
try:  # root of its namespace may write to the covering tmpfs, which is its own: the real directory is untouched
    open(os.path.join(lock_dir, "written-by-candidate.lock"), "w").close()
except OSError:
    pass
lock = GpuLock("gpu-test", lock_dir, dir_fd=fds[os.path.realpath(lock_dir)])
lock.acquire("shared")
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.mark.skipif(not __import__("verifier.sandbox", fromlist=["x"]).mountns_available(),
                    reason="unshare -rmn does not work here")
@pytest.mark.parametrize("lock_base", ["tmp", "shm"])
def test_confined_process_takes_the_gpu_lock_it_cannot_see(tmp_path, lock_base):
    """The candidate's process confines its filesystem (read-only, lock directory hidden) before it takes
    the GPU lock for its CUDA start-up: the lock must still work through the descriptor confine keeps, and
    hold against a verifier outside. (Broke on the first GPU run: the descriptor pointed into a mount that
    had turned read-only.) Also with the lock directory under /dev/shm, which the process replaces."""
    if lock_base == "shm" and not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm")
    work = tmp_path / "work"
    lock_dir = tmp_path / "locks" if lock_base == "tmp" else Path(tempfile.mkdtemp(prefix="kverify-test-locks-", dir="/dev/shm"))
    work.mkdir()
    lock_dir.mkdir(exist_ok=True)
    child = subprocess.Popen(["unshare", "-rmn", sys.executable, "-c", CONFINED_LOCK_HOLDER, str(work), str(lock_dir)],
                             cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held", child.stderr.read()
        timer = GpuLock("gpu-test", str(lock_dir))
        with pytest.raises(LockTimeout):
            timer.acquire("exclusive", deadline=time.monotonic() + 0.5)
        child.stdin.close()
        assert child.wait(10) == 0
        assert sorted(os.listdir(lock_dir)) == ["gpu-test.lock"]
        assert timer.acquire("exclusive", deadline=time.monotonic() + 5) >= 0
        timer.release()
    finally:
        child.kill()
        if lock_base == "shm":
            shutil.rmtree(lock_dir, ignore_errors=True)


def test_a_start_up_failure_drops_the_namespace_only_where_it_never_worked():
    """Namespaces that never worked on this host: the verifier goes on without them (verdicts say so).
    Once a candidate process has started inside one, a later failure (the GPU out of memory, say) must not
    switch confinement off for every later candidate."""
    from verifier.service import WarmState

    fresh = WarmState("cpu")
    fresh.use_netns = True
    assert fresh.netns_failed() is True and fresh.use_netns is False
    worked = WarmState("cpu")
    worked.use_netns, worked.netns_worked = True, True
    assert worked.netns_failed() is False and worked.use_netns is True


def test_a_spare_older_than_the_start_up_limit_still_takes_the_next_candidate(tmp_path):
    """A warm verifier's spare waits for work for as long as no request comes (a search waiting for its
    model, its profiles): past the start-up limit it is ready, not late. Found on the H200, where every
    verification after a pause failed at once with 'did not start within 180.0 s'."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    limit = 30
    env = dict(os.environ, VERIFIER_TMP=str(tmp), VERIFIER_DATA_DIR=str(tmp_path / "data"),
               VERIFIER_STARTUP_LIMIT_S=str(limit))
    proc = subprocess.Popen([sys.executable, "-m", "verifier", "serve", "--device", "cpu"], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for i in range(2):
            if i == 1:
                time.sleep(limit + 5)  # the spare started with the first verdict is now past the limit
            proc.stdin.write(json.dumps({"id": str(i), "request": request("elementwise_add", "add_correct")}) + "\n")
            proc.stdin.flush()
            out = json.loads(proc.stdout.readline())
            assert out["verdict"]["status"] == "correct", out["verdict"]["message"]
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
