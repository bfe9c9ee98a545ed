import torch
import torch.nn as nn


class Model(nn.Module):
    """softsign: x / (1 + |x|), elementwise (about 8 us on an H200)."""

    def forward(self, x):
        return x / (1 + torch.abs(x))


N = 1 << 22


def get_inputs():
    return [torch.randn(N)]


def get_init_inputs():
    return []
