"""Starting the candidate's process: private directory, allowlisted environment, its own namespaces.

Isolation per candidate (docs/verifier.md, "The candidate's process gets"): the process starts as
``unshare -rmnpf --mount-proc --kill-child python -m verifier._runner``: new user, mount, network and PID
namespaces with its own ``/proc`` (it is pid 1 there: it sees and can signal only its own process tree, and
everything it starts dies with it), and confines its filesystem first thing (``verifier/confine.py``).
Where that cannot be made, no candidate runs (the verdict is ``infra_error``) unless the development
setting ``VERIFIER_ALLOW_UNCONFINED=1`` allows it (the verdict's ``env.unconfined_allowed`` says so).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

SECRET_RE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|PRIVATE|SESSION|PASS|PAT|DSN", re.I)
CREDENTIAL_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@]*@")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKDIR_PREFIX = "kverify-"
OWNER_FILE = "owner"  # "<pid> <start time>" of the verifier that made a candidate directory

# The candidate's environment is this list (plus what start_runner sets), never the parent's whole one.
ENV_ALLOW = {
    "PATH", "LANG", "LANGUAGE", "TZ", "TERM", "USER", "LOGNAME",
    "CUDA_HOME", "CUDA_PATH", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "CUDA_MODULE_LOADING",
    "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "LD_LIBRARY_PATH", "PYTORCH_CUDA_ALLOC_CONF",
    "PYTHONHASHSEED", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MAX_JOBS",
    "TORCH_CUDA_ARCH_LIST", "CC", "CXX", "KS_FAST_BUILD",
    "TRITON_PTXAS_PATH", "TRITON_CUOBJDUMP_PATH", "TRITON_NVDISASM_PATH", "TRITON_LIBCUDA_PATH",
}
ENV_ALLOW_PREFIXES = ("LC_",)
SCRATCH_DIR = "scratch"  # inside the candidate's directory: HOME, TMPDIR, cwd (a tmpfs with a quota)
SCRATCH_MB_DEFAULT = 512
SHM_MB_DEFAULT = 64
COVER_DIRS = ("/tmp", "/var/tmp", "/run", "/var/run", "/var/lock", "/run/user")


def data_dir() -> str:
    return os.environ.get("VERIFIER_DATA_DIR") or os.path.join(REPO_ROOT, ".data")


def allow_unconfined() -> bool:
    """The development setting: run candidates even where their isolation cannot be made."""
    return os.environ.get("VERIFIER_ALLOW_UNCONFINED") == "1"


def clean_env(extra: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    """The candidate's environment: the allowlisted variables of this one (never one whose name looks
    secret, nor a value that carries credentials in a URL), then ``extra``."""
    env = {}
    for k, v in os.environ.items():
        if k in drop or not (k in ENV_ALLOW or k.startswith(ENV_ALLOW_PREFIXES)):
            continue
        if SECRET_RE.search(k.replace("PATH", "")) or CREDENTIAL_URL_RE.search(v):
            continue
        env[k] = v
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


_PIDNS: bool | None = None
PIDNS_FLAGS = ["-rmnpf", "--mount-proc", "--kill-child"]


def pidns_available() -> bool:
    """Whether a PID namespace with its own /proc works here as well (``unshare -rmnpf --mount-proc``):
    the candidate then sees and can signal only its own process tree, and all of it dies with its pid 1.
    VERIFIER_PIDNS=0 turns this off (then only VERIFIER_ALLOW_UNCONFINED=1 lets candidates run)."""
    global _PIDNS
    if _PIDNS is None:
        _PIDNS = False
        if os.environ.get("VERIFIER_PIDNS", "1") != "0" and mountns_available():
            try:
                _PIDNS = subprocess.run(["unshare", *PIDNS_FLAGS, "true"], capture_output=True,
                                        timeout=10).returncode == 0
            except Exception:  # noqa: BLE001
                _PIDNS = False
    return _PIDNS


def isolation_missing(use_netns: bool) -> str | None:
    """Why a candidate started now would not be isolated (None: it would be)."""
    if not netns_available():
        return "no user + network namespace (unshare -rn) on this host" + (
            " (VERIFIER_NETNS=0)" if os.environ.get("VERIFIER_NETNS") == "0" else "")
    if not use_netns:
        return "asked to start without its namespaces (a process failed to start inside them)"
    if not mountns_available():
        return "no mount namespace (unshare -rmn) on this host" + (" (VERIFIER_FS_READONLY=0)" if os.environ.get("VERIFIER_FS_READONLY") == "0" else "")
    if not pidns_available():
        return "no PID namespace (unshare -rpf --mount-proc) on this host" + (" (VERIFIER_PIDNS=0)" if os.environ.get("VERIFIER_PIDNS") == "0" else "")
    return None


def _proc_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def workdir_base() -> str:
    base = os.environ.get("VERIFIER_TMP")
    if not base and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        try:
            st = os.statvfs("/dev/shm")
            if st.f_bavail * st.f_frsize > (2 << 30):
                base = "/dev/shm"
        except OSError:
            pass
    return base or tempfile.gettempdir()


_CLEANED: set[str] = set()


def clean_stale_workdirs(base: str | None = None) -> list[str]:
    """Remove candidate directories whose verifier is gone (killed before it could remove them): each
    holds the pid and start time of the process that made it. Runs once per base directory per process,
    when it first starts a candidate; directories of live verifiers are left alone."""
    base = base or workdir_base()
    removed: list[str] = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        d = os.path.join(base, name)
        if not name.startswith(WORKDIR_PREFIX) or os.path.islink(d) or not os.path.isdir(d):
            continue
        try:
            with open(os.path.join(d, OWNER_FILE)) as f:
                pid_s, start = f.read().split()
            pid = int(pid_s)
        except (OSError, ValueError):
            continue  # not ours, or being made right now
        if pid == os.getpid() or _proc_start(pid) == start:
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def make_workdir() -> str:
    base = workdir_base()
    if base not in _CLEANED:
        _CLEANED.add(base)
        clean_stale_workdirs(base)
    d = tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=base)  # mode 0700
    with open(os.path.join(d, OWNER_FILE), "w") as f:
        f.write(f"{os.getpid()} {_proc_start(os.getpid())}")
    os.makedirs(os.path.join(d, SCRATCH_DIR))
    return d


def socket_paths() -> list[str]:
    """Unix sockets bound to a filesystem path on this host (``/proc/net/unix`` of this network
    namespace): the candidate's process covers each (a path socket is reachable from any network
    namespace; abstract ones are not)."""
    out: list[str] = []
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as f:
            next(f, None)
            for line in f:
                parts = line.split(None, 7)
                if len(parts) == 8 and parts[7].startswith("/"):
                    out.append(parts[7].rstrip("\n"))
    except OSError:
        pass
    return sorted(set(out))[:2000]


def _env_mb(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def build_cache_dir() -> str:
    """Where candidates' CUDA extensions are built (and cached), under the verifier's data directory."""
    return os.path.join(data_dir(), "torch_extensions")


def spawn_runner(cfg_path: str, workdir: str, env: dict[str, str], use_netns: bool,
                 wrap: list[str] | None = None, confine_first: bool = False) -> tuple[subprocess.Popen, int, Any, Any]:
    """Start ``python -m verifier._runner``; returns (process, read end of the control pipe, stdout, stderr files).
    ``wrap`` (a profiler's command line, ``verifier.profile``) goes right before the python: inside the
    namespaces, so what it starts is confined like any candidate process. With ``confine_first`` the
    filesystem confinement is made before ``wrap`` starts (``verifier.confine``), not by the runner.

    Where the isolation is missing and not allowed (``isolation_missing``), what starts is a process that
    says why on stderr and exits: the verification ends as ``infra_error`` (fail closed)."""
    r, w = os.pipe()
    cmd = [*(wrap or []), sys.executable, "-X", "faulthandler", "-m", "verifier._runner", cfg_path, str(w)]
    if confine_first:  # see verifier.confine.confine_then_exec: the profiler starts inside the confinement
        cmd = [sys.executable, "-m", "verifier.confine", cfg_path, "--", *cmd]
    missing = isolation_missing(use_netns)
    if missing is None:
        cmd = ["unshare", *PIDNS_FLAGS] + cmd
        # unshare itself dies with the thread that starts it (the verifier's main thread; --kill-child then
        # takes pid 1 and so the whole namespace)
        if shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
    elif not allow_unconfined():
        msg = (f"refusing to run the candidate unconfined: {missing}; "
               f"VERIFIER_ALLOW_UNCONFINED=1 allows it for development")
        cmd = [sys.executable, "-c", f"import sys; sys.stderr.write({msg!r} + chr(10)); sys.exit(3)"]
    elif use_netns and netns_available():
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
    netns: bool  # started inside its namespaces (all of them, unless VERIFIER_ALLOW_UNCONFINED=1)
    t_spawn: float  # time.monotonic() at start
    isolated: bool = False  # user + mount + network + PID namespaces (the confinement itself: its ready event)

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


def start_runner(device: str, use_netns: bool, wrap: list[str] | None = None,
                 extra_cfg: dict[str, Any] | None = None, needed: list[str] | None = None) -> RunnerProcess:
    """Start a candidate process in a fresh private directory; it imports torch and waits for ``import``.
    ``wrap``, ``extra_cfg`` and ``needed`` (read-only paths that stay visible) are for profiling
    (``verifier.profile``)."""
    workdir = make_workdir()
    ddir = data_dir()
    from verifier.gpu_lock import LOCK_DIR_DEFAULT

    lock_dir = os.environ.get("VERIFIER_LOCK_DIR") or LOCK_DIR_DEFAULT
    os.makedirs(lock_dir, exist_ok=True)
    scratch = os.path.join(workdir, SCRATCH_DIR)
    # a seed the fresh-values call that records forward's ops uses (harness.Harness takes it out)
    cfg: dict[str, Any] = {"workdir": workdir, "device": device, "build_cache": build_cache_dir(),
                           "cuda_arch": os.environ.get("VERIFIER_CUDA_ARCH"), "gpu_lock_dir": lock_dir,
                           "record_seed": secrets.randbelow(1 << 62) + (1 << 40)}
    missing = isolation_missing(use_netns)
    if use_netns and mountns_available():  # what stays writable when the process confines itself
        cfg["confine"] = {
            "writable": [workdir, os.path.join(ddir, "triton_cache"), os.path.join(ddir, "torch_extensions")],
            "needed": [REPO_ROOT, sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
                       *(needed or [])],
            "scratch": scratch, "scratch_mb": _env_mb("VERIFIER_SCRATCH_MB", SCRATCH_MB_DEFAULT),
            "shm_mb": _env_mb("VERIFIER_SHM_MB", SHM_MB_DEFAULT),
            "cover": list(COVER_DIRS), "sockets": socket_paths(),
            "required": not allow_unconfined(),  # a failed confinement ends the process: infra_error
        }
    cfg.update(extra_cfg or {})
    confine_first = bool(wrap) and "confine" in cfg  # a profiler's threads would keep the runner from it
    cfg["confined_first"] = confine_first
    for d in ("triton_cache", "torch_extensions"):
        os.makedirs(os.path.join(ddir, d), exist_ok=True)
    cfg_path = os.path.join(workdir, "config.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    extra = {"PYTHONPATH": REPO_ROOT, "HOME": scratch, "TMPDIR": scratch,
             "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "PYTHONNOUSERSITE": "1",
             "TRITON_CACHE_DIR": os.path.join(ddir, "triton_cache"),
             "TORCH_EXTENSIONS_DIR": os.path.join(ddir, "torch_extensions")}
    if device == "cpu":
        extra["TRITON_INTERPRET"] = "1"
        extra.setdefault("CUDA_VISIBLE_DEVICES", "")
    t = time.monotonic()
    proc, ctl_fd, out_f, err_f = spawn_runner(cfg_path, workdir, clean_env(extra), use_netns, wrap, confine_first)
    out_f.close()
    err_f.close()
    return RunnerProcess(proc, ctl_fd, workdir, device, use_netns and (missing is None or allow_unconfined()),
                         t, isolated=missing is None)


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
