"""out = relu(x @ W^T + b) (nn.Linear then ReLU), fp32 (no TF32), 2048 x 2048 -> 2048. Kind: GEMM."""
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x):
        return torch.relu(self.fc(x))


BATCH = 2048
IN_FEATURES = 2048
OUT_FEATURES = 2048


def get_inputs():
    return [torch.randn(BATCH, IN_FEATURES)]


def get_init_inputs():
    return [IN_FEATURES, OUT_FEATURES]
