import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def maxpool_kernel(x_ptr, y_ptr, n_out, KS: tl.constexpr, BLOCK: tl.constexpr):
    # contiguous (B, C, L) with stride == kernel: output i reads inputs i*KS .. i*KS+KS-1
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n_out
    win = tl.load(x_ptr + offs[:, None] * KS + tl.arange(0, KS)[None, :], mask=m[:, None], other=float("-inf"))
    tl.store(y_ptr + offs, tl.max(win, axis=1), mask=m)


class ModelNew(nn.Module):
    def __init__(self, kernel_size: int):
        super().__init__()
        self.ks = kernel_size

    def forward(self, x):
        x = x.contiguous()
        b, c, length = x.shape
        y = torch.empty(b, c, length // self.ks, device=x.device, dtype=x.dtype)
        n = y.numel()
        maxpool_kernel[(triton.cdiv(n, 1024),)](x, y, n, KS=self.ks, BLOCK=1024, num_warps=4)
        return y
