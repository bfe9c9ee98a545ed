"""Handing GPU tensors from the candidate's process to the parent without copying them.

The parent compares every output of every call (15 for 5 seeds) and the inputs after the first call; for a
large problem that is gigabytes, and copying it to the host, through a file and back to the GPU cost seconds
per candidate. Instead the candidate's process exports each tensor as a CUDA IPC handle (what
``torch.multiprocessing`` does, written here as plain JSON-able values so the parent never unpickles
anything from the candidate's side) and the parent maps the same device memory.

The candidate's process keeps the exported tensors alive until the parent's next command; the parent drops
its mappings before sending it. The parent trusts nothing in a descriptor: it uses its own reference
counter and no events, checks sizes and offsets, and checks that the mapping lies inside the allocation
the handle names (``_open``). Whether IPC works between the two processes (it may not inside some
namespaces) is probed once per candidate process with a known tensor, before the candidate is imported;
without it, tensors travel through the file as before.
"""
from __future__ import annotations

from typing import Any

MARK = "__cuda_ipc__"
PROBE_LEN = 64


MAX_DIMS = 16
MAX_BYTES = 1 << 40


def _replace(obj: Any, swap: Any) -> Any:
    """``obj`` (dicts, lists and tuples of things) with each part for which ``swap`` returns something
    other than None replaced by that, looking at a container before its contents."""
    new = swap(obj)
    if new is not None:
        return new
    if isinstance(obj, dict):
        return {k: _replace(v, swap) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace(v, swap) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_replace(v, swap) for v in obj)
    return obj


def export(torch: Any, obj: Any, keep: list[Any]) -> Any:
    """``obj`` with every CUDA tensor replaced by a descriptor; the tensors are appended to ``keep``.
    The caller synchronises the device first: the parent reads the memory without waiting on events."""

    def describe(t: Any) -> dict[str, Any] | None:
        if not (isinstance(t, torch.Tensor) and t.is_cuda):
            return None
        t = t.detach()
        keep.append(t)
        _dev, handle, size_b, off_b, _rc, _rc_off, _ev, _ev_sync = t.untyped_storage()._share_cuda_()
        return {MARK: True, "dtype": str(t.dtype).replace("torch.", ""), "size": list(t.shape),
                "stride": list(t.stride()), "offset": int(t.storage_offset()), "handle": bytes(handle).hex(),
                "storage_size": int(size_b), "storage_offset": int(off_b)}

    return _replace(obj, describe)


CUDA_IPC_HANDLE_SIZE = 64  # sizeof(cudaIpcMemHandle_t)
_OWN_EXPORT: list[Any] = []  # (tensor kept alive, ref counter handle, its offset, this torch's memory handle)


def _own_export(torch: Any) -> tuple[bytes, int, bytes]:
    """A reference counter of this process's own, for the storages it maps (torch decrements the counter
    it is given when a mapped storage is freed; one named by the candidate would let it choose which word
    of which shared-memory file this process decrements), and a memory handle as this torch writes them."""
    if not _OWN_EXPORT:
        t = torch.zeros(1, device="cuda")
        _dev, h, _s, _o, rc, rc_off, _ev, _sync = t.untyped_storage()._share_cuda_()
        _OWN_EXPORT.append((t, bytes(rc), int(rc_off), bytes(h)))
    return _OWN_EXPORT[0][1], _OWN_EXPORT[0][2], _OWN_EXPORT[0][3]


def handle_ok(handle: bytes, own: bytes) -> bool:
    """Whether a handle from the candidate's process has the layout of this torch's own handles for plain
    ``cudaMalloc`` memory. Older torch wrote the bare 64-byte ``cudaIpcMemHandle_t``; torch 2.11 and later
    prefix a version byte and a type byte (``'c'``: cudaMalloc; ``'e'``: an expandable segment, whose handle
    names a process and file descriptors to fetch from it: never accepted)."""
    if len(own) < CUDA_IPC_HANDLE_SIZE or len(handle) != len(own):
        return False
    prefix = own[: len(own) - CUDA_IPC_HANDLE_SIZE]
    if prefix and prefix[-1:] != b"c":
        return False  # this process's own memory is not plain cudaMalloc memory: do not guess the layout
    return handle[: len(prefix)] == prefix


def _allocation_range(ptr: int) -> tuple[int, int]:
    """(base, size) of the device allocation holding ``ptr`` (CUDA driver API)."""
    import ctypes

    lib = ctypes.CDLL("libcuda.so.1")
    fn = lib.cuMemGetAddressRange_v2
    fn.argtypes = [ctypes.POINTER(ctypes.c_ulonglong), ctypes.POINTER(ctypes.c_size_t), ctypes.c_ulonglong]
    base, size = ctypes.c_ulonglong(0), ctypes.c_size_t(0)
    rc = fn(ctypes.byref(base), ctypes.byref(size), ctypes.c_ulonglong(ptr))
    if rc != 0:
        raise ValueError(f"cuMemGetAddressRange failed ({rc})")
    return int(base.value), int(size.value)


def _int(x: Any, lo: int = 0, hi: int = MAX_BYTES) -> int:
    if not isinstance(x, int) or isinstance(x, bool) or not lo <= x <= hi:
        raise ValueError(f"bad value in a tensor descriptor: {x!r}")
    return x


def _open(torch: Any, d: dict[str, Any]) -> Any:
    """Map a descriptor written by the candidate's process, checking everything it says: the candidate
    may have written it. The mapping must lie inside the one allocation the handle names."""
    dtype = getattr(torch, str(d["dtype"]), None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"not a dtype: {d['dtype']!r}")
    if not isinstance(d["size"], list) or not isinstance(d["stride"], list) or len(d["size"]) != len(d["stride"]) \
            or len(d["size"]) > MAX_DIMS:
        raise ValueError("bad shape in a tensor descriptor")
    size, stride = [_int(x) for x in d["size"]], [_int(x) for x in d["stride"]]
    offset, storage_size, storage_offset = _int(d["offset"]), _int(d["storage_size"]), _int(d["storage_offset"])
    item = torch.empty(0, dtype=dtype).element_size()
    numel = 1
    for n in size:
        numel *= n
    if numel == 0:
        return torch.empty(size, dtype=dtype, device="cuda")
    last = offset + sum((n - 1) * st for n, st in zip(size, stride))
    if (last + 1) * item > storage_size:
        raise ValueError("a tensor descriptor reaches past its storage")
    handle = bytes.fromhex(str(d["handle"]))
    rc, rc_off, own_handle = _own_export(torch)
    if not handle_ok(handle, own_handle):
        raise ValueError("bad CUDA IPC handle")
    storage = torch.UntypedStorage._new_shared_cuda(torch.cuda.current_device(), handle, storage_size,
                                                    storage_offset, rc, rc_off, b"", False)
    ptr = storage.data_ptr()
    base, span = _allocation_range(ptr)
    if base != ptr - storage_offset or storage_offset + storage_size > span:
        raise ValueError("a tensor descriptor reaches outside the allocation its handle names")
    typed = torch.storage.TypedStorage(wrap_storage=storage, dtype=dtype, _internal=True)
    return torch._utils._rebuild_tensor(typed, offset, tuple(size), tuple(stride))


def import_(torch: Any, obj: Any) -> Any:
    """``obj`` with every descriptor replaced by a tensor mapping the candidate process's memory."""
    return _replace(obj, lambda d: _open(torch, d) if isinstance(d, dict) and d.get(MARK) is True else None)


def probe(torch: Any, keep: list[Any]) -> dict[str, Any] | None:
    """A known tensor's descriptor (sent with ``ready``, before the candidate exists), or None when this
    build cannot export. The parent opens it through the same checks as real results."""
    try:
        t = torch.arange(PROBE_LEN, device="cuda", dtype=torch.float32)
        torch.cuda.synchronize()
        return export(torch, t, keep)
    except Exception:  # noqa: BLE001
        return None


def probe_error(torch: Any, desc: dict[str, Any] | None) -> str | None:
    """None when the probe tensor maps and reads back as sent, else why not (for the verdict's detail)."""
    if not isinstance(desc, dict):
        return "the candidate's process could not export a tensor"
    try:
        t = _open(torch, desc)
        ok = bool(torch.equal(t.cpu(), torch.arange(PROBE_LEN, dtype=torch.float32)))
        del t
        return None if ok else "the probe tensor read back wrong"
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"[:300]
