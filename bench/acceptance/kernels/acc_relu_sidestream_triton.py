# Side stream: the ReLU is right, but it is launched on a stream of its own (made through getattr, so the
# static check does not see it): the run-time launch check must reject it (side-stream). Without CUDA
# (the CPU verifier) it runs on the one stream there is and is correct.
import contextlib

import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def relu_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    tl.store(out_ptr + offs, tl.maximum(x, 0.0), mask=mask)


_cuda = torch.cuda
_make_stream = getattr(_cuda, "Str" + "eam")
_use_stream = getattr(_cuda, "str" + "eam")


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        self.side = _make_stream() if _cuda.is_available() else None

    def forward(self, x):
        x = x.contiguous()
        out = torch.empty_like(x)
        n = x.numel()
        ctx = _use_stream(self.side) if self.side is not None else contextlib.nullcontext()
        with ctx:
            relu_kernel[(triton.cdiv(n, 1024),)](x, out, n, BLOCK=1024)
        return out
