import torch
import torch.nn as nn


class Model(nn.Module):
    """MaxPool1d(kernel_size=4, stride=4) over (batch, channels, length)."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.pool = nn.MaxPool1d(kernel_size=kernel_size, stride=kernel_size)

    def forward(self, x):
        return self.pool(x)


BATCH = 32
CHANNELS = 64
LENGTH = 8192
KERNEL = 4


def get_inputs():
    return [torch.randn(BATCH, CHANNELS, LENGTH)]


def get_init_inputs():
    return [KERNEL]
