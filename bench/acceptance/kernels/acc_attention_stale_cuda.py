# Stale output: the extension allocates the output with torch::empty and launches a kernel that never writes
# it; the caller gets whatever the allocator's memory held (stale-output: the harness poisons that memory).
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cuda_source = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

__global__ void attention_noop(const float* q, float* out, long n) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i >= n + 1) out[0] = q[0];  // never true: writes nothing
}

torch::Tensor attention(torch::Tensor q, torch::Tensor k, torch::Tensor v) {
    auto out = torch::empty({q.size(0), q.size(1), q.size(2), v.size(3)}, q.options());
    attention_noop<<<1, 32, 0, at::cuda::getCurrentCUDAStream()>>>(q.data_ptr<float>(), out.data_ptr<float>(),
                                                                   out.numel());
    return out;
}
"""

cpp_source = "torch::Tensor attention(torch::Tensor q, torch::Tensor k, torch::Tensor v);"

ext = load_inline(name="acc_attention_stale_ext", cpp_sources=cpp_source, cuda_sources=cuda_source,
                  functions=["attention"], verbose=False)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, q, k, v):
        return ext.attention(q.contiguous(), k.contiguous(), v.contiguous())
