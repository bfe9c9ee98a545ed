import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cuda_source = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>

// four elements per thread; needs cols % 4 == 0 so the four share a row
__global__ void scale_bias_vec4(const float4* __restrict__ x, const float* __restrict__ scale,
                                const float* __restrict__ bias, float4* __restrict__ out, long n4, long cols) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i < n4) {
        long c = (i * 4) % cols;
        float4 v = x[i];
        out[i] = make_float4(v.x * scale[c] + bias[c], v.y * scale[c + 1] + bias[c + 1],
                             v.z * scale[c + 2] + bias[c + 2], v.w * scale[c + 3] + bias[c + 3]);
    }
}

__global__ void scale_bias_scalar(const float* __restrict__ x, const float* __restrict__ scale,
                                  const float* __restrict__ bias, float* __restrict__ out, long n, long cols) {
    long i = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i < n) {
        long c = i % cols;
        out[i] = x[i] * scale[c] + bias[c];
    }
}

torch::Tensor scale_bias(torch::Tensor x, torch::Tensor scale, torch::Tensor bias) {
    TORCH_CHECK(x.is_cuda() && x.scalar_type() == at::kFloat && x.is_contiguous());
    TORCH_CHECK(scale.is_contiguous() && bias.is_contiguous());
    auto out = torch::empty_like(x);
    long n = x.numel();
    long cols = x.size(-1);
    if (n == 0) return out;
    int threads = 256;
    auto stream = at::cuda::getCurrentCUDAStream();
    bool aligned = (reinterpret_cast<uintptr_t>(x.data_ptr<float>()) % 16 == 0) &&
                   (reinterpret_cast<uintptr_t>(out.data_ptr<float>()) % 16 == 0);
    if (cols % 4 == 0 && aligned) {
        long n4 = n / 4;
        long blocks = (n4 + threads - 1) / threads;
        scale_bias_vec4<<<blocks, threads, 0, stream>>>((const float4*)x.data_ptr<float>(), scale.data_ptr<float>(),
            bias.data_ptr<float>(), (float4*)out.data_ptr<float>(), n4, cols);
    } else {
        long blocks = (n + threads - 1) / threads;
        scale_bias_scalar<<<blocks, threads, 0, stream>>>(x.data_ptr<float>(), scale.data_ptr<float>(),
            bias.data_ptr<float>(), out.data_ptr<float>(), n, cols);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return out;
}
"""

cpp_source = "torch::Tensor scale_bias(torch::Tensor x, torch::Tensor scale, torch::Tensor bias);"

ext = load_inline(name="acc_scale_bias_ext", cpp_sources=cpp_source, cuda_sources=cuda_source,
                  functions=["scale_bias"], extra_cuda_cflags=["-O3"], verbose=False)


class ModelNew(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.scale = nn.Parameter(torch.randn(channels))
        self.bias = nn.Parameter(torch.randn(channels))

    def forward(self, x):
        return ext.scale_bias(x.contiguous(), self.scale.contiguous(), self.bias.contiguous())
