import torch
import torch.nn as nn


class Model(nn.Module):
    """y = swish(x @ W.T + b) in fp16: a GEMM with its epilogue (512x512 by 512x512)."""

    def __init__(self, k: int, n: int):
        super().__init__()
        self.lin = nn.Linear(k, n).half()

    def forward(self, x):
        y = self.lin(x)
        return y * torch.sigmoid(y)


M = 512
K = 512
N = 512


def get_inputs():
    return [torch.randn(M, K, dtype=torch.float16)]


def get_init_inputs():
    return [K, N]
