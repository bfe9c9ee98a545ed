"""out = softplus(x) (beta 1, threshold 20), fp32. Kind: elementwise."""
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.nn.functional.softplus(x)


ROWS = 4096
COLS = 2048


def get_inputs():
    return [torch.randn(ROWS, COLS) * 4]


def get_init_inputs():
    return []
