import torch
import torch.nn as nn


class Model(nn.Module):
    """y = relu(x @ W.T + b) in fp16: a GEMM with its epilogue (4096x4096 by 4096x4096)."""

    def __init__(self, k: int, n: int):
        super().__init__()
        self.lin = nn.Linear(k, n).half()

    def forward(self, x):
        y = self.lin(x)
        return torch.relu(y)


M = 4096
K = 4096
N = 4096


def get_inputs():
    return [torch.randn(M, K, dtype=torch.float16)]


def get_init_inputs():
    return [K, N]
