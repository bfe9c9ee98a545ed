"""out = softmax(q @ k^T / sqrt(d)) @ v, no mask, fp32, B=2, H=8, S=256, D=64. Kind: attention
(its kernel never writes the output)."""
import math

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, q, k, v):
        scale = 1.0 / math.sqrt(q.shape[-1])
        s = torch.matmul(q, k.transpose(-2, -1)) * scale
        return torch.matmul(torch.softmax(s, dim=-1), v)


B = 2
H = 8
S = 256
D = 64


def get_inputs():
    return [torch.randn(B, H, S, D) for _ in range(3)]


def get_init_inputs():
    return []
