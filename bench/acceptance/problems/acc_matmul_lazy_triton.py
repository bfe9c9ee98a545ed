"""C = A @ B, fp32, M = N = K = 1024. Kind: GEMM (its kernel returns a lazy tensor)."""
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.matmul(a, b)


M = 1024
N = 1024
K = 1024


def get_inputs():
    return [torch.randn(M, K), torch.randn(K, N)]


def get_init_inputs():
    return []
