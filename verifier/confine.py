"""A read-only filesystem for the candidate's process, except what it must write.

The candidate runs as the same user as the verifier, so without this it could rewrite the verifier's own
source (the next verifier to start would run it), the cached baselines (inflating every later speedup),
other searches' artifacts or the Python environment. When the candidate's process starts in a new user +
mount namespace (``unshare -rmn``, see ``sandbox.spawn_runner``), it calls ``confine`` first thing, before
torch and long before the candidate: every mounted filesystem becomes read-only *in that namespace only*,
except

  * its private working directory (also ``HOME`` and ``TMPDIR``), the Triton cache and the extension
    build cache (a CUDA candidate compiles there);
  * kernel and memory filesystems (``/proc``, ``/sys``, ``/dev``, tmpfs), with ``/dev/shm`` replaced by a
    private, empty one (other candidates' directories live there) into which its own directory is put
    back.

The GPU lock directory is covered by an empty tmpfs (the candidate must not hold the lock); the verifier's
code in this process keeps a descriptor of it, opened on a writable mount of its own just before it is
covered, and closes it before the candidate's code runs. (A descriptor opened earlier would point into the
mount that turns read-only: the lock file could then not be opened for writing, as the first GPU run of
this code showed.) Then the
process enters a nested user + mount namespace, which locks all of this: as root of its own namespace
the candidate could otherwise simply remount ``/`` writable again.

Nothing changes outside the namespace: ``confine`` refuses to run outside a user namespace of its own,
and inside one a mount can only change a mount namespace that namespace owns.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Sequence

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000

# filesystems left as they are: kernel interfaces and memory-backed scratch space
KEEP_FSTYPES = {
    "proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "mqueue", "cgroup", "cgroup2", "debugfs", "tracefs",
    "securityfs", "pstore", "bpf", "fusectl", "configfs", "hugetlbfs", "autofs", "binfmt_misc", "nsfs",
    "efivarfs", "rpc_pipefs", "ramfs",
}


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        path = path.replace(code, ch)
    return path


def mounts() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of this process's mount namespace, parents first."""
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if len(fields) >= 5 and right:
                out.append((_unescape(fields[4]), right.split()[0]))
    return out


def in_user_namespace() -> bool:
    """True inside a user namespace other than the host's. There a mount can only succeed on a mount
    namespace that namespace owns (a new one, made with it), never on the host's."""
    try:
        with open("/proc/self/uid_map", encoding="utf-8") as f:
            rows = [r.split() for r in f.read().strip().splitlines()]
    except OSError:
        return False
    return rows != [["0", "0", "4294967295"]]


def _lock_mounts() -> str | None:
    """Enter a nested user + mount namespace: the mounts copied into it are locked as they are (the
    candidate, root of the new namespace, can no longer remount them writable or unmount what hides
    something). Must run while the process has a single thread. None, or why it failed."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        return f"unshare: {os.strerror(ctypes.get_errno())}"
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", "0 0 1"), ("gid_map", "0 0 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    except OSError as e:
        return f"id maps: {e}"
    return None


def confine(writable: list[str], hidden: Sequence[str] = ()) -> tuple[bool, str, dict[str, int]]:
    """Make everything read-only but ``writable`` (directories) and KEEP_FSTYPES, cover ``hidden``
    directories with an empty tmpfs, and lock it all. (done, what happened, {hidden dir: descriptor of
    it, still writable}); the caller closes the descriptors."""
    fds: dict[str, int] = {}
    ok, what = _confine(writable, list(hidden), fds)
    return ok, what, fds


def _confine(writable: list[str], hidden: list[str], hidden_fds: dict[str, int]) -> tuple[bool, str]:  # noqa: C901 - one sequence of mount steps
    if not in_user_namespace():
        return False, "not in a user namespace of its own"
    mount = shutil.which("mount") or "/bin/mount"
    if not os.path.exists(mount):
        return False, "no mount command"

    def run(*args: str) -> str | None:
        r = subprocess.run([mount, *args], capture_output=True, text=True)
        return None if r.returncode == 0 else (r.stderr.strip() or f"exit {r.returncode}")

    shm = "/dev/shm"
    hidden = [os.path.realpath(d) for d in hidden if d]
    missing = [d for d in hidden if not os.path.isdir(d)]
    if missing:
        return False, f"no directory to hide: {', '.join(missing)}"
    for d in hidden:  # one under /dev/shm disappears with it below; its descriptor stays on the old tmpfs
        if d.startswith(shm + "/"):
            hidden_fds[d] = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    hidden = [d for d in hidden if d not in hidden_fds]
    # /dev/shm holds the other candidates' directories: a private one, with only this one's put back
    own = [os.path.realpath(d) for d in writable if d and os.path.realpath(d).startswith(shm + "/")]
    if os.path.isdir(shm):
        fds = {d: os.open(d, os.O_RDONLY | os.O_DIRECTORY) for d in own}
        try:
            err = run("-t", "tmpfs", "-o", "mode=1777", "tmpfs", shm)
            if err:
                return False, f"private {shm}: {err}"
            for d, fd in fds.items():
                os.makedirs(d, exist_ok=True)
                # the directory left behind under the new tmpfs, reached through the descriptor
                err = run("--no-canonicalize", "--bind", f"/proc/{os.getpid()}/fd/{fd}", d)
                if err:
                    return False, f"bind {d}: {err}"
        finally:
            for fd in fds.values():
                os.close(fd)
    keep = []
    for d in list(writable) + hidden:
        if d and os.path.isdir(d):
            d = os.path.realpath(d)
            err = run("--bind", d, d)  # its own mount, which the read-only remount below leaves writable
            if err:
                return False, f"bind {d}: {err}"
            keep.append(d)
    failed = []
    made = 0
    for point, fstype in mounts():
        if fstype in KEEP_FSTYPES or point in keep:
            continue
        err = run("-o", "remount,bind,ro", point)
        if err:
            failed.append(f"{point}: {err}")
        else:
            made += 1
    if any(p == "/" for p, _ in mounts()) and any(f.startswith("/: ") for f in failed):
        return False, "could not make / read-only: " + "; ".join(failed)[:300]
    for d in hidden:
        hidden_fds[d] = os.open(d, os.O_RDONLY | os.O_DIRECTORY)  # the writable bind mount, before it is covered
        err = run("-t", "tmpfs", "-o", "size=64k,mode=0555", "tmpfs", d)
        if err:
            return False, f"hide {d}: {err}"
    err = _lock_mounts()
    if err:
        return False, "read-only but not locked (the candidate could undo it): " + err
    what = f"{made} filesystem(s) read-only, writable: {', '.join(keep)}"
    if failed:
        what += f"; left writable: {'; '.join(failed)[:300]}"
    return True, what
