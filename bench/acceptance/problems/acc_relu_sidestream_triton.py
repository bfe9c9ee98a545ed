"""out = relu(x), fp32. Kind: elementwise (its kernel runs on a side stream)."""
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.relu(x)


ROWS = 4096
COLS = 2048


def get_inputs():
    return [torch.randn(ROWS, COLS)]


def get_init_inputs():
    return []
