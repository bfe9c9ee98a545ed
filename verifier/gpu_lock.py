"""Who may use a GPU while someone is timing on it.

Several verifications may share one GPU so that one candidate compiles on the host's cores while another
runs (the GPU worker's ``--per-gpu``). Running kernels side by side is harmless for correctness checks but
would spoil timings, so work on a GPU takes this lock: *shared* for the reference, the correctness calls and
the hidden-shape call, *exclusive* for timing the candidate and the baselines. Compiling (a CUDA build at
import) takes no lock. The lock is an ``flock`` on a file named after the GPU's UUID, so it holds across
processes, verifier services and workers on one host, and the kernel drops it when a process dies.
"""
from __future__ import annotations

import fcntl
import math
import os
import time
from typing import Any

LOCK_DIR_DEFAULT = "/tmp/kernel-search-gpu-locks"


def gpu_key(torch: Any) -> str:
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    uuid = getattr(props, "uuid", None)
    if uuid is not None:
        return f"gpu-{uuid}"
    # older torch: the visible index is the best we have
    return "gpu-" + (os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or "0")


class LockTimeout(Exception):
    pass


class GpuLock:
    """Shared/exclusive lock on one GPU. ``acquire`` returns the seconds spent waiting."""

    def __init__(self, key: str, lock_dir: str | None = None, dir_fd: int | None = None):
        """``dir_fd``: an open descriptor of the lock directory (the candidate's process opens it before
        the directory is hidden from it)."""
        d = lock_dir or os.environ.get("VERIFIER_LOCK_DIR") or LOCK_DIR_DEFAULT
        if dir_fd is None:
            os.makedirs(d, exist_ok=True)
        self.dir_fd = dir_fd
        self.name = "".join(c if c.isalnum() or c in "-_." else "_" for c in key) + ".lock"
        self.path = os.path.join(d, self.name)
        self.fd: int | None = None
        self.mode: str | None = None
        self.waited_s = 0.0  # total, for the verdict's detail

    def acquire(self, mode: str, deadline: float = math.inf) -> float:
        """Wait for the lock until ``deadline`` (time.monotonic()); LockTimeout after that."""
        assert mode in ("shared", "exclusive")
        if self.mode == mode:
            return 0.0
        if self.fd is None:
            if self.dir_fd is not None:
                self.fd = os.open(self.name, os.O_RDWR | os.O_CREAT, 0o666, dir_fd=self.dir_fd)
            else:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        t = time.monotonic()
        op = fcntl.LOCK_SH if mode == "shared" else fcntl.LOCK_EX
        while True:
            try:
                fcntl.flock(self.fd, op | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.waited_s += time.monotonic() - t
                    raise LockTimeout(f"the GPU was not free for {mode} use within the time limit") from None
                time.sleep(0.01)
        self.mode = mode
        waited = time.monotonic() - t
        self.waited_s += waited
        return waited

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
        self.fd = None
        self.mode = None


class NoLock:
    """CPU mode: timings are not meaningful, nothing to protect."""

    waited_s = 0.0

    def acquire(self, mode: str, deadline: float = math.inf) -> float:
        return 0.0

    def release(self) -> None:
        pass
