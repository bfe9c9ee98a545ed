"""Handing GPU tensors from the candidate's process to the parent without copying them.

The parent compares every output of every call (15 for 5 seeds) and the inputs after the first call; for a
large problem that is gigabytes, and copying it to the host, through a file and back to the GPU cost seconds
per candidate. Instead the candidate's process exports each tensor as a CUDA IPC handle (what
``torch.multiprocessing`` does, written here as plain JSON-able values so the parent never unpickles
anything from the candidate's side) and the parent maps the same device memory.

The candidate's process keeps the exported tensors alive until the parent's next command; the parent drops
its mappings before sending it. Whether IPC works between the two processes (it may not inside some
namespaces) is probed once per candidate process with a known tensor, before the candidate is imported;
without it, tensors travel through the file as before.
"""
from __future__ import annotations

from typing import Any

MARK = "__cuda_ipc__"
PROBE_LEN = 64


def export(torch: Any, obj: Any, keep: list[Any]) -> Any:
    """``obj`` with every CUDA tensor replaced by a descriptor; the tensors are appended to ``keep``."""
    if isinstance(obj, torch.Tensor) and obj.is_cuda:
        t = obj.detach()
        keep.append(t)
        storage = t.untyped_storage()
        dev, handle, size_b, off_b, rc_handle, rc_off, ev_handle, ev_sync = storage._share_cuda_()
        return {MARK: True, "dtype": str(t.dtype).replace("torch.", ""), "size": list(t.shape),
                "stride": list(t.stride()), "offset": int(t.storage_offset()), "device": int(dev),
                "handle": bytes(handle).hex(), "storage_size": int(size_b), "storage_offset": int(off_b),
                "rc_handle": bytes(rc_handle).hex(), "rc_offset": int(rc_off),
                "ev_handle": bytes(ev_handle).hex() if ev_handle else None, "ev_sync": bool(ev_sync)}
    if isinstance(obj, dict):
        return {k: export(torch, v, keep) for k, v in obj.items()}
    if isinstance(obj, list):
        return [export(torch, v, keep) for v in obj]
    if isinstance(obj, tuple):
        return tuple(export(torch, v, keep) for v in obj)
    return obj


def _open(torch: Any, d: dict[str, Any]) -> Any:
    dtype = getattr(torch, str(d["dtype"]))
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"not a dtype: {d['dtype']!r}")
    size, stride = [int(x) for x in d["size"]], [int(x) for x in d["stride"]]
    if int(d["storage_size"]) == 0:
        return torch.empty(size, dtype=dtype, device="cuda")
    ev = bytes.fromhex(d["ev_handle"]) if d.get("ev_handle") else None
    storage = torch.UntypedStorage._new_shared_cuda(int(d["device"]), bytes.fromhex(d["handle"]), int(d["storage_size"]),
                                                    int(d["storage_offset"]), bytes.fromhex(d["rc_handle"]),
                                                    int(d["rc_offset"]), ev, bool(d["ev_sync"]))
    typed = torch.storage.TypedStorage(wrap_storage=storage, dtype=dtype, _internal=True)
    return torch._utils._rebuild_tensor(typed, int(d["offset"]), tuple(size), tuple(stride))


def import_(torch: Any, obj: Any) -> Any:
    """``obj`` with every descriptor replaced by a tensor mapping the candidate process's memory."""
    if isinstance(obj, dict):
        if obj.get(MARK) is True:
            return _open(torch, obj)
        return {k: import_(torch, v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [import_(torch, v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(import_(torch, v) for v in obj)
    return obj


def probe(torch: Any, keep: list[Any]) -> dict[str, Any] | None:
    """A known tensor's descriptor (sent with ``ready``), or None when this build cannot export."""
    try:
        return export(torch, torch.arange(PROBE_LEN, device="cuda", dtype=torch.float32), keep)
    except Exception:  # noqa: BLE001
        return None


def probe_works(torch: Any, desc: dict[str, Any] | None) -> bool:
    if not isinstance(desc, dict):
        return False
    try:
        t = _open(torch, desc)
        ok = bool(torch.equal(t.cpu(), torch.arange(PROBE_LEN, dtype=torch.float32)))
        del t
        return ok
    except Exception:  # noqa: BLE001
        return False
