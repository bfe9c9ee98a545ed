"""Starting the candidate's process: private directory, cleaned environment, own session, optional netns."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

SECRET_RE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|PRIVATE|SESSION", re.I)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def data_dir() -> str:
    return os.environ.get("VERIFIER_DATA_DIR") or os.path.join(REPO_ROOT, ".data")


def clean_env(extra: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not SECRET_RE.search(k) and k not in drop}
    for k in list(env):
        if k.startswith(("PYTHON", "TRITON_INTERPRET", "TORCHINDUCTOR", "VERIFIER_")) and k != "PYTHONHASHSEED":
            env.pop(k)
    env.update(extra)
    return env


_NETNS: bool | None = None


def netns_available() -> bool:
    """Whether ``unshare -rn`` works here (a new user + network namespace: no network for the candidate).

    VERIFIER_NETNS: ``auto`` (default: use it when it works; if the candidate's process then fails before
    the candidate is imported, the verifier retries once without), ``1`` (always, no retry), ``0`` (never)."""
    global _NETNS
    if _NETNS is None:
        mode = os.environ.get("VERIFIER_NETNS", "auto")
        if mode == "0" or not shutil.which("unshare"):
            _NETNS = False
        else:
            try:
                _NETNS = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10).returncode == 0
            except Exception:  # noqa: BLE001
                _NETNS = False
    return _NETNS


_MOUNTNS: bool | None = None


def mountns_available() -> bool:
    """Whether ``unshare -rmn`` works here too (a mount namespace as well, in which the candidate's process
    makes the filesystem read-only but for what it must write: ``verifier/confine.py``).
    VERIFIER_FS_READONLY=0 turns this off."""
    global _MOUNTNS
    if _MOUNTNS is None:
        _MOUNTNS = False
        if os.environ.get("VERIFIER_FS_READONLY", "1") != "0" and netns_available():
            try:
                _MOUNTNS = subprocess.run(["unshare", "-rmn", "true"], capture_output=True, timeout=10).returncode == 0
            except Exception:  # noqa: BLE001
                _MOUNTNS = False
    return _MOUNTNS


def make_workdir() -> str:
    base = os.environ.get("VERIFIER_TMP")
    if not base and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        try:
            st = os.statvfs("/dev/shm")
            if st.f_bavail * st.f_frsize > (2 << 30):
                base = "/dev/shm"
        except OSError:
            pass
    return tempfile.mkdtemp(prefix="kverify-", dir=base)  # mode 0700


def spawn_runner(cfg_path: str, workdir: str, env: dict[str, str], use_netns: bool) -> tuple[subprocess.Popen, int, Any, Any]:
    """Start ``python -m verifier._runner``; returns (process, read end of the control pipe, stdout, stderr files)."""
    r, w = os.pipe()
    cmd = [sys.executable, "-X", "faulthandler", "-m", "verifier._runner", cfg_path, str(w)]
    if use_netns:
        cmd = ["unshare", "-rmn" if mountns_available() else "-rn"] + cmd
    out = open(os.path.join(workdir, "stdout.log"), "wb")
    err = open(os.path.join(workdir, "stderr.log"), "wb")
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=out, stderr=err,
                            pass_fds=(w,), start_new_session=True)
    os.close(w)
    return proc, r, out, err


@dataclass
class RunnerProcess:
    """A started candidate process (``verifier._runner``), possibly started ahead of its candidate."""
    proc: subprocess.Popen
    ctl_fd: int  # read end of its event pipe
    workdir: str
    device: str
    netns: bool
    t_spawn: float  # time.monotonic() at start

    def alive(self) -> bool:
        return self.proc.poll() is None

    def discard(self) -> None:
        kill_group(self.proc)
        try:
            os.close(self.ctl_fd)
        except OSError:
            pass
        if os.environ.get("VERIFIER_KEEP_TMP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_runner(device: str, use_netns: bool) -> RunnerProcess:
    """Start a candidate process in a fresh private directory; it imports torch and waits for ``import``."""
    workdir = make_workdir()
    ddir = data_dir()
    from verifier.gpu_lock import LOCK_DIR_DEFAULT

    lock_dir = os.environ.get("VERIFIER_LOCK_DIR") or LOCK_DIR_DEFAULT
    os.makedirs(lock_dir, exist_ok=True)
    cfg: dict[str, Any] = {"workdir": workdir, "device": device, "build_cache": os.path.join(ddir, "torch_extensions"),
                           "cuda_arch": os.environ.get("VERIFIER_CUDA_ARCH"), "gpu_lock_dir": lock_dir}
    if use_netns and mountns_available():  # what stays writable when the process confines itself
        cfg["confine"] = [workdir, os.path.join(ddir, "triton_cache"), os.path.join(ddir, "torch_extensions")]
    for d in ("triton_cache", "torch_extensions"):
        os.makedirs(os.path.join(ddir, d), exist_ok=True)
    cfg_path = os.path.join(workdir, "config.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    extra = {"PYTHONPATH": REPO_ROOT, "HOME": workdir, "TMPDIR": workdir,
             "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "PYTHONNOUSERSITE": "1",
             "TRITON_CACHE_DIR": os.path.join(ddir, "triton_cache"),
             "TORCH_EXTENSIONS_DIR": os.path.join(ddir, "torch_extensions")}
    if device == "cpu":
        extra["TRITON_INTERPRET"] = "1"
        extra.setdefault("CUDA_VISIBLE_DEVICES", "")
    t = time.monotonic()
    proc, ctl_fd, out_f, err_f = spawn_runner(cfg_path, workdir, clean_env(extra), use_netns)
    out_f.close()
    err_f.close()
    return RunnerProcess(proc, ctl_fd, workdir, device, use_netns, t)


def child_pids_of(pid: int | str) -> list[int]:
    """Children of process ``pid`` ("self" for this one), from every thread's /proc list."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(p) for p in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def read_tail(path: str, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
