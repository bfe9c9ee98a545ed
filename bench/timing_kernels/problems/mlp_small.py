import torch
import torch.nn as nn


class Model(nn.Module):
    """A small MLP in fp16: Linear(1024, 2048), ReLU, Linear(2048, 1024), on a batch of 256."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden).half()
        self.fc2 = nn.Linear(hidden, d).half()

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


BATCH = 256
D = 1024
HIDDEN = 2048


def get_inputs():
    return [torch.randn(BATCH, D, dtype=torch.float16)]


def get_init_inputs():
    return [D, HIDDEN]
