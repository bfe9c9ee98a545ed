"""Isolation per candidate (issue 12, docs/verifier.md "The candidate's process gets") and the rule that
the kernel does the work: attack fixtures in CPU mode, each next to an honest verification or a twin."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from verifier import sandbox
from verifier.static_check import allowed_torch_ops, check_candidate
from verifier.tests.conftest import cli, problem, request, verify

ISOLATED = sandbox.isolation_missing(True) is None
needs_isolation = pytest.mark.skipif(not ISOLATED, reason=f"no isolation here: {sandbox.isolation_missing(True)}")


def _with(cand: str, **subst: str) -> str:
    src = (__import__("pathlib").Path(__file__).parent / "fixtures" / "candidates" / f"{cand}.py").read_text()
    for k, v in subst.items():
        src = src.replace(f"@{k}@", v)
    return src


def _verify_source(prob: str, source: str, warm: bool = True, **kw):
    from verifier.tests.conftest import warm_state
    from verifier.verify import parse_request, verify_request

    req = request(prob, "add_correct", **kw)
    req["candidate_source"] = source
    state = warm_state() if warm else None
    v = verify_request(parse_request(json.dumps(req)), state)
    if state is not None:
        state.prespawn()
    return v


# ---- 1. isolation ---------------------------------------------------------------------------------
@needs_isolation
def test_candidate_cannot_signal_outside_its_tree():
    """It tries SIGKILL on a same-user process, SIGCONT on its verifier and a signal-0 probe of every
    pid: none reaches anything, and an honest verification running beside it is unaffected."""
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    honest: dict = {}

    def run_honest() -> None:
        r = cli(["verify"], stdin=json.dumps(request("elementwise_add", "add_correct")), timeout=300)
        honest["verdict"] = json.loads(r.stdout) if r.stdout.strip() else {"status": "none", "message": r.stderr[-500:]}

    t = threading.Thread(target=run_honest)
    t.start()
    try:
        v = _verify_source("elementwise_add", _with("iso_signal", VICTIM=str(victim.pid), PARENT=str(os.getpid())))
        assert v["status"] == "correct", v["message"]
        t.join(300)
        assert honest["verdict"]["status"] == "correct", honest["verdict"]["message"]
        assert victim.poll() is None, "the victim was killed"
        # the warm verifier's spare process, ready for the next request, still works
        assert verify("elementwise_add", "add_correct")["status"] == "correct"
    finally:
        victim.kill()
        victim.wait()
        t.join(300)


@needs_isolation
def test_candidate_sees_only_its_own_processes():
    v = verify("elementwise_add", "iso_proc_list")
    assert v["status"] == "correct", v["message"]


def test_environment_is_an_allowlist(monkeypatch):
    for k, val in (("MY_DB_PASS", "s3cr3t"), ("GH_PAT", "s3cr3t"), ("SENTRY_DSN", "https://s3cr3t@o1.example/1"),
                   ("MIRROR", "https://user:s3cr3t@example.com/x"), ("FOO_SETTING", "s3cr3t"),
                   ("LC_PASS", "s3cr3t"), ("HTTPS_PROXY", "http://u:s3cr3t@proxy:3128")):
        monkeypatch.setenv(k, val)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/lib")
    env = sandbox.clean_env({"HOME": "/h"})
    assert not [k for k, val in env.items() if "s3cr3t" in val], env
    assert env["LD_LIBRARY_PATH"] == "/opt/lib" and env["HOME"] == "/h" and "PATH" in env
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", "https://u:s3cr3t@x/bin:" + path)  # credentials in an allowed one
    assert "PATH" not in sandbox.clean_env({})
    monkeypatch.setenv("PATH", path)
    v = verify("elementwise_add", "iso_env_secrets", warm=False)
    assert v["status"] == "correct", v["message"]


@needs_isolation
def test_unix_sockets_are_unreachable():
    d = tempfile.mkdtemp(prefix="ks-sock-", dir="/tmp")
    path = os.path.join(d, "s.sock")
    name = f"ks-abstract-{os.getpid()}"
    listeners = []
    for addr in (path, "\0" + name):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(addr)
        s.listen(4)
        s.setblocking(False)
        listeners.append(s)
    try:
        v = _verify_source("elementwise_add", _with("iso_unix_socket", SOCK=path, ABSTRACT=name), warm=False)
        assert v["status"] == "correct", v["message"]
        for s in listeners:
            with pytest.raises(BlockingIOError):
                s.accept()
    finally:
        for s in listeners:
            s.close()
        os.unlink(path)
        os.rmdir(d)


@needs_isolation
def test_writes_hit_a_quota(monkeypatch):
    monkeypatch.setenv("VERIFIER_SCRATCH_MB", "96")
    monkeypatch.setenv("VERIFIER_SHM_MB", "32")
    v = verify("elementwise_add", "iso_fill_quota", warm=False)
    assert v["status"] == "correct", v["message"]


def test_invisible_thread_is_a_threads_cheat():
    v = verify("elementwise_add", "iso_invisible_thread")
    assert v["status"] == "rejected", v["message"]
    found = {c["class"]: c["evidence"] for c in v["cheats"]}
    assert "OS thread" in found.get("threads", ""), v["cheats"]


@needs_isolation
def test_daemon_is_gone_after_the_verdict(tmp_path):
    r = cli(["verify"], stdin=json.dumps(request("elementwise_add", "daemon_leftover")),
            env={"VERIFIER_TMP": str(tmp_path)}, timeout=300)
    assert json.loads(r.stdout)["status"] in ("rejected", "correct"), r.stderr[-800:]
    time.sleep(0.5)
    left = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if str(tmp_path).encode() in f.read():
                        left.append(pid)
            except OSError:
                pass
    assert left == [], f"processes of the finished candidate still running: {left}"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(sandbox.WORKDIR_PREFIX)]


def test_stale_candidate_directories_are_removed(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    for name, owner in (("kverify-dead", f"{dead.pid} 1"), ("kverify-live", f"{os.getpid()} x"),
                        ("kverify-other", None)):
        (tmp_path / name).mkdir()
        if owner:
            (tmp_path / name / sandbox.OWNER_FILE).write_text(owner)
    # a live verifier other than this process: its start time must match
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "kverify-sleeper").mkdir()
        (tmp_path / "kverify-sleeper" / sandbox.OWNER_FILE).write_text(f"{sleeper.pid} {sandbox._proc_start(sleeper.pid)}")
        removed = sandbox.clean_stale_workdirs(str(tmp_path))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert [os.path.basename(p) for p in removed] == ["kverify-dead"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kverify-live", "kverify-other", "kverify-sleeper"]


@pytest.mark.parametrize("allowed", [False, True])
def test_no_isolation_fails_closed(allowed):
    env = {"VERIFIER_PIDNS": "0", "VERIFIER_ALLOW_UNCONFINED": "1" if allowed else "0"}
    r = cli(["verify"], stdin=json.dumps(request("elementwise_add", "add_correct")), env=env, timeout=300)
    v = json.loads(r.stdout)
    if allowed:
        assert v["status"] == "correct" and v["env"]["unconfined_allowed"] is True, v["message"]
    else:
        assert v["status"] == "infra_error" and "unconfined" in v["message"], v["message"]
        assert "unconfined_allowed" not in v["env"]


# ---- 2. the kernel does the work ------------------------------------------------------------------
@pytest.mark.parametrize("prob,cand,twin", [
    ("elementwise_add", "fallback_otherops_add", "add_correct"),
    ("row_sum", "fallback_otherops_rowsum", "rowsum_loop"),
    ("elementwise_add", "fallback_cached_model", "glue_correct"),
])
def test_pytorch_doing_the_work_is_torch_fallback(prob, cand, twin):
    v = verify(prob, cand)
    assert v["status"] == "rejected", v["message"]
    assert "torch-fallback" in {c["class"] for c in v["cheats"]}, v["cheats"]
    t = verify(prob, twin)
    assert t["status"] == "correct", t["message"]


def test_problem_can_allow_torch_ops():
    src = problem("elementwise_add") + '\nALLOWED_TORCH_OPS = ["addcmul"]\n'
    assert allowed_torch_ops(src) == {"addcmul"}
    v = verify("elementwise_add", "fallback_otherops_add", problem_source=src)
    assert v["status"] == "correct", v["message"]


def test_static_check_names_torch_compute_in_forward():
    src = _with("glue_correct").replace("return out.view(shape)", "return torch.sigmoid(out.view(shape)) * 0 + out.view(shape)")
    res = check_candidate(src, problem("elementwise_add"))
    ev = [c["evidence"] for c in res.cheats if c["class"] == "torch-fallback"]
    assert ev and "sigmoid" in ev[0], res.cheats
    allowing = problem("elementwise_add") + "\nALLOWED_TORCH_OPS = ['sigmoid']\n"
    assert not [c for c in check_candidate(src, allowing).cheats if c["class"] == "torch-fallback"]
    # glue is not named
    assert check_candidate(_with("glue_correct"), problem("elementwise_add")).cheats == []


def test_cudnn_benchmark_is_not_timer_tamper():
    src = _with("glue_correct") + "\ntorch.backends.cudnn.benchmark = True\n"
    assert check_candidate(src, problem("elementwise_add")).cheats == []
    src = _with("glue_correct") + "\ntorch.cuda.synchronize = lambda: None\n"
    assert [c["class"] for c in check_candidate(src, problem("elementwise_add")).cheats] == ["timer-tamper"]


# ---- 3. a legitimate algorithm ----------------------------------------------------------------------
def test_diag_matmul_as_a_row_scaling_is_correct():
    v = verify("diag_matmul", "diag_rowscale")
    assert v["status"] == "correct", v["message"]
