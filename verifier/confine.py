"""A read-only filesystem for the candidate's process, except what it must write.

The candidate runs as the same user as the verifier, so without this it could rewrite the verifier's own
source (the next verifier to start would run it), the cached baselines (inflating every later speedup),
other searches' artifacts or the Python environment. When the candidate's process starts in a new user +
mount namespace (``unshare -rmn``, see ``sandbox.spawn_runner``), it calls ``confine`` first thing, before
torch and long before the candidate: every mounted filesystem becomes read-only *in that namespace only*,
except

  * its private directory (through which the parent and the process exchange files), the Triton cache
    and the extension build cache (a CUDA candidate compiles there);
  * its scratch directory inside that one, a tmpfs with a size quota: ``HOME``, ``TMPDIR`` and the
    working directory; it vanishes with the namespace;
  * kernel filesystems (``/proc`` -- its own, mounted by ``unshare --mount-proc`` --, ``/sys``, ``/dev``),
    with ``/dev/shm`` replaced by a private, empty tmpfs with a quota (other candidates' directories live
    there) into which its own directory is put back. Every other tmpfs becomes read-only.

``/tmp``, ``/var/tmp``, ``/run`` (and ``/var/run``) are replaced by empty read-only tmpfs mounts (what of
its own directories and the Python environment lies inside is put back), and every unix socket bound to
a path that the parent listed (``/proc/net/unix``) and that is still visible is covered by ``/dev/null``:
no unix socket with a filesystem path is reachable (abstract ones belong to the network namespace).

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
import stat
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000

# filesystems left as they are: kernel interfaces (every tmpfs but the process's own becomes read-only)
KEEP_FSTYPES = {
    "proc", "sysfs", "devtmpfs", "devpts", "mqueue", "cgroup", "cgroup2", "debugfs", "tracefs",
    "securityfs", "pstore", "bpf", "fusectl", "configfs", "hugetlbfs", "autofs", "binfmt_misc", "nsfs",
    "efivarfs", "rpc_pipefs",
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


def confine(spec: Sequence[str] | dict[str, Any], hidden: Sequence[str] = ()) -> tuple[bool, str, dict[str, int]]:
    """Confine this process (see the module's text). ``spec``: the directories that stay writable, or the
    dict ``sandbox.start_runner`` writes: ``writable``, ``needed`` (read-only paths that must stay visible),
    ``scratch`` (a directory inside the candidate's own that becomes a tmpfs of ``scratch_mb`` MiB: its
    HOME, TMPDIR and working directory), ``shm_mb`` (the size of its private /dev/shm), ``cover``
    (directories replaced by an empty read-only tmpfs: /tmp, /run, ...; what of ``writable``/``needed``
    lies inside is put back), ``sockets`` (unix socket paths, each covered by /dev/null) and ``required``
    (a confinement that fails ends the process, exit status 3: the parent says ``infra_error``).
    ``hidden`` directories are covered by an empty tmpfs too, keeping one descriptor each. Returns (done,
    what happened, {hidden dir: descriptor of it, still writable}); the caller closes the descriptors."""
    opts: dict[str, Any] = dict(spec) if isinstance(spec, dict) else {"writable": list(spec)}
    fds: dict[str, int] = {}
    try:
        ok, what = _confine(opts, list(hidden), fds)
    except Exception as e:  # noqa: BLE001 - an unexpected failure is a failed confinement
        ok, what = False, f"{type(e).__name__}: {e}"
    if ok and os.getpid() == 1:
        what += "; pid 1 of its own PID namespace"
    if not ok and opts.get("required"):
        sys.stderr.write(f"verifier: the candidate's process could not be confined: {what}\n")
        sys.stderr.flush()
        os._exit(3)
    return ok, what, fds


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _confine(opts: dict[str, Any], hidden: list[str], hidden_fds: dict[str, int]) -> tuple[bool, str]:  # noqa: C901 - one sequence of mount steps
    if not in_user_namespace():
        return False, "not in a user namespace of its own"
    mount = shutil.which("mount") or "/bin/mount"
    if not os.path.exists(mount):
        return False, "no mount command"

    def run(*args: str) -> str | None:
        r = subprocess.run([mount, *args], capture_output=True, text=True)
        return None if r.returncode == 0 else (r.stderr.strip() or f"exit {r.returncode}")

    def fd_path(fd: int) -> str:
        return f"/proc/{os.getpid()}/fd/{fd}"

    writable = [os.path.realpath(d) for d in opts.get("writable", []) if d and os.path.isdir(d)]
    needed = [os.path.realpath(d) for d in opts.get("needed", []) if d and os.path.exists(d)]
    scratch = os.path.realpath(opts["scratch"]) if opts.get("scratch") else None
    if scratch is not None and not os.path.isdir(scratch):
        return False, f"no scratch directory {scratch}"
    shm = "/dev/shm"
    hidden = [os.path.realpath(d) for d in hidden if d]
    missing = [d for d in hidden if not os.path.isdir(d)]
    if missing:
        return False, f"no directory to hide: {', '.join(missing)}"
    for d in hidden:  # one under /dev/shm disappears with it below; its descriptor stays on the old tmpfs
        if d.startswith(shm + "/"):
            hidden_fds[d] = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    hidden = [d for d in hidden if d not in hidden_fds]
    # /dev/shm holds the other candidates' directories: a private one, with a quota, only this one's put back
    own = [d for d in writable if d.startswith(shm + "/")]
    ours = {shm}  # tmpfs mounts made here (left writable)
    if os.path.isdir(shm):
        fds = {d: os.open(d, os.O_RDONLY | os.O_DIRECTORY) for d in own}
        try:
            err = run("-t", "tmpfs", "-o", f"size={int(opts.get('shm_mb', 64))}m,mode=1777", "tmpfs", shm)
            if err:
                return False, f"private {shm}: {err}"
            for d, fd in fds.items():
                os.makedirs(d, exist_ok=True)
                # the directory left behind under the new tmpfs, reached through the descriptor
                err = run("--no-canonicalize", "--bind", fd_path(fd), d)
                if err:
                    return False, f"bind {d}: {err}"
        finally:
            for fd in fds.values():
                os.close(fd)
    keep = []
    for d in writable + hidden:
        err = run("--bind", d, d)  # its own mount, which the read-only remount below leaves writable
        if err:
            return False, f"bind {d}: {err}"
        keep.append(d)
    failed = []
    made = 0
    for point, fstype in mounts():
        if fstype in KEEP_FSTYPES or point in keep or point in ours:
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
        err = run("-t", "tmpfs", "-o", "ro,size=64k,mode=0555", "tmpfs", d)
        if err:
            return False, f"hide {d}: {err}"
    if scratch is not None:  # the candidate's own writable space, with a quota; gone with its namespace
        err = run("-t", "tmpfs", "-o", f"size={int(opts.get('scratch_mb', 512))}m,mode=0700", "tmpfs", scratch)
        if err:
            return False, f"scratch {scratch}: {err}"
    covered = _cover(run, fd_path, opts.get("cover", []), writable + needed + ([scratch] if scratch else []))
    if isinstance(covered, str):
        return False, covered
    masked = 0
    for p in opts.get("sockets", []):
        try:
            if not stat.S_ISSOCK(os.lstat(p).st_mode):
                continue
        except OSError:
            continue  # gone, or not reachable from here
        err = run("--bind", "/dev/null", p)
        if err:
            return False, f"cover socket {p}: {err}"
        masked += 1
    err = _lock_mounts()
    if err:
        return False, "read-only but not locked (the candidate could undo it): " + err
    if scratch is not None:
        os.chdir(scratch)
    what = f"{made} filesystem(s) read-only, writable: {', '.join(keep)}"
    what += f"; covered: {', '.join(covered) or 'nothing'}; {masked} socket(s) covered"
    if scratch is not None:
        what += f"; scratch {scratch} ({int(opts.get('scratch_mb', 512))} MiB)"
    if failed:
        what += f"; left writable: {'; '.join(failed)[:300]}"
    return True, what


def _cover(run: Any, fd_path: Any, dirs: Sequence[str], inside: list[str]) -> list[str] | str:
    """Replace each directory of ``dirs`` by an empty read-only tmpfs, putting back (with their submounts)
    the paths of ``inside`` that lie in it. The covered directories, or why it failed."""
    done: list[str] = []
    for c in sorted({os.path.realpath(d) for d in dirs if d}, key=len):
        if c == "/" or not os.path.isdir(c) or any(_under(c, d) for d in done):
            continue
        back = sorted({p for p in inside if _under(p, c)}, key=len)
        if c in back:
            continue  # the directory itself is needed: left as it is
        back = [p for p in back if not any(q != p and _under(p, q) for q in back)]
        fds = {p: os.open(p, os.O_RDONLY | (os.O_DIRECTORY if os.path.isdir(p) else 0)) for p in back}
        try:
            err = run("-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", c)
            if err:
                return f"cover {c}: {err}"
            for p, fd in fds.items():
                if os.path.isdir(fd_path(fd)):
                    os.makedirs(p, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(p), exist_ok=True)
                    open(p, "a").close()
                err = run("--no-canonicalize", "--rbind", fd_path(fd), p)
                if err:
                    return f"put back {p} under {c}: {err}"
        finally:
            for fd in fds.values():
                os.close(fd)
        err = run("-o", "remount,bind,ro", c)
        if err:
            return f"cover {c} read-only: {err}"
        done.append(c)
    return done


CONFINED_ENV = "VERIFIER_CONFINED"  # what ``confine_then_exec`` did, for the process it runs at the end


def confine_then_exec(argv: Sequence[str]) -> None:
    """``python -m verifier.confine CONFIG_JSON -- COMMAND...``: confine this process as the config's
    ``confine`` entry says (hiding its ``gpu_lock_dir``), then become COMMAND, which inherits the
    confinement and, in ``VERIFIER_CONFINED``, what was done.

    For a profiler (``verifier.profile``): ncu injects threads and fork hooks into the process it starts,
    and a process with several threads cannot enter the nested user namespace that locks the mounts; so
    the confinement is made here, single-threaded, and ncu starts inside it. The working directory stays
    the one this started in (ncu writes its log there); the candidate's process moves to its scratch.
    No descriptor of the lock directory is passed on: ncu would keep it open for the whole profile as
    pid 1 of the namespace, where the candidate can reach it (``/proc/1/fd``); the parent holds the GPU
    lock for the candidate's process instead."""
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: python -m verifier.confine CONFIG_JSON -- COMMAND...\n")
        os._exit(2)
    import json

    with open(argv[0], encoding="utf-8") as f:
        cfg = json.load(f)
    spec = cfg.get("confine")
    if spec is None:
        sys.stderr.write("verifier: confine: the config has no 'confine' entry\n")
        os._exit(3)
    lock_dir = cfg.get("gpu_lock_dir")
    cwd = os.getcwd()
    ok, what, fds = confine(spec, hidden=[lock_dir] if lock_dir else [])  # exits 3 on failure if required
    for fd in fds.values():
        os.close(fd)
    os.chdir(cwd)
    os.environ[CONFINED_ENV] = json.dumps({"ok": ok, "what": what + "; confined before the profiler started"})
    try:
        os.execvp(argv[2], list(argv[2:]))
    except OSError as e:
        sys.stderr.write(f"verifier: confine: cannot run {argv[2]}: {e}\n")
        os._exit(3)


if __name__ == "__main__":
    confine_then_exec(sys.argv[1:])
