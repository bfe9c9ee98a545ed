# Torch fallback: a trivial Triton kernel fills a vector of ones, then PyTorch does the reduction as a
# matrix-vector product (x.mv, a method call the static check cannot type): the run-time record of aten ops
# must reject it (torch-fallback).
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def fill_ones_kernel(out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.full([BLOCK], 1.0, tl.float32), mask=offs < n)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        x = x.contiguous()
        cols = x.shape[1]
        ones = torch.empty(cols, device=x.device, dtype=x.dtype)
        fill_ones_kernel[(triton.cdiv(cols, 1024),)](ones, cols, BLOCK=1024)
        return x.mv(ones)
