"""Definitions both processes use: the poison bit patterns and the aten ops that do no work.

The candidate's process (``verifier.candidate.harness``) writes the poison and records the ops; the parent
(``verifier.compare``, ``verifier.reference``, ``verifier.stages.runtime_cheats``) reads them. Torch-free at import.
"""
from __future__ import annotations

from typing import Any

# NaN bit patterns that arithmetic rarely produces: an output element holding one was never written.
PAYLOAD_BITS = {"float32": ("int32", 0x7FC0DEAD), "float16": ("int16", 0x7E5A), "bfloat16": ("int16", 0x7FDA),
                "float64": ("int64", 0x7FF8DEADBEEFDEAD)}
INT_POISON = 0x5A5A5A5A

# aten ops that move, view or allocate data: they do no "work" for the torch-fallback check
NON_WORK_ATEN = {
    "empty", "empty_like", "empty_strided", "empty_permuted", "new_empty", "new_empty_strided", "new_zeros",
    "new_ones", "new_full", "zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "fill_", "zero_",
    "fill", "copy_", "_to_copy", "to", "clone", "view", "_unsafe_view", "reshape", "_reshape_alias", "as_strided",
    "expand", "permute", "transpose", "t", "contiguous", "detach", "alias", "lift_fresh", "lift_fresh_copy",
    "slice", "select", "unsqueeze", "squeeze", "split", "split_with_sizes", "unbind", "narrow", "cat", "stack",
    "resize_", "set_", "arange", "scalar_tensor", "view_as_real", "view_as_complex", "flatten", "unflatten",
    "expand_as", "movedim", "_local_scalar_dense", "item", "is_nonzero", "equal", "sym_size", "sym_stride",
    "sym_numel", "sym_storage_offset", "_has_compatible_shallow_copy_type", "record_stream", "randn", "rand",
    "normal_", "uniform_", "bernoulli_", "random_", "empty_strided_cuda", "_copy_from", "_copy_from_and_resize",
    "as_strided_", "detach_", "dim", "size", "stride", "numel", "resolve_conj", "resolve_neg",
    "_conj", "conj", "_neg_view", "numpy_T", "_unsafe_index", "contiguous_", "_nested_tensor_from_tensor_list",
}


def record_aten_ops(torch: Any, fn: Any) -> tuple[Any, dict[str, int]]:
    """Run fn under the autograd profiler (CPU side) and count the aten ops it dispatched, C++ callers included.

    (A TorchDispatchMode would do too, but entering one imports torch._dynamo: 3 s on a small machine.)
    """
    ops: dict[str, int] = {}
    with torch.autograd.profiler.profile() as prof:
        out = fn()
    for e in prof.function_events:
        name = e.name
        if name.startswith("aten::"):
            n = name[6:]
            ops[n] = ops.get(n, 0) + 1
    return out, ops
