"""Attention with a relative positional term added to the scores.

score[b, h, i, j] = (q[b, h, i] . k[b, h, j]) * scale + (i - j)
out = softmax(score, dim=-1) @ v

No mask: every query attends to every key. The reference materialises the full S x S score
matrix in fp32, so it is exact but O(S^2) in memory. Sizes are small so that a Triton candidate
runs in a few seconds in the CPU interpreter (TRITON_INTERPRET=1); the GPU benchmark of the same
operation at B=4, H=16, S=4096, D=128 bf16 is bench/bench_attention.py.
"""

import math

import torch
import torch.nn as nn

BATCH = 1
HEADS = 2
SEQ_LEN = 64
HEAD_DIM = 32
DTYPE = torch.float32


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # q, k, v: [batch, heads, seq_len, head_dim]
        seq_len, head_dim = q.shape[-2], q.shape[-1]
        scale = 1.0 / math.sqrt(head_dim)
        qf, kf, vf = q.float(), k.float(), v.float()
        scores = torch.matmul(qf, kf.transpose(-2, -1)) * scale
        pos = torch.arange(seq_len, device=q.device, dtype=torch.float32)
        rel = pos[:, None] - pos[None, :]  # rel[i, j] = q_idx - kv_idx
        scores = scores + rel
        probs = torch.softmax(scores, dim=-1)
        return torch.matmul(probs, vf).to(q.dtype)


def get_inputs():
    shape = (BATCH, HEADS, SEQ_LEN, HEAD_DIM)
    q = torch.randn(shape, dtype=DTYPE)
    k = torch.randn(shape, dtype=DTYPE)
    v = torch.randn(shape, dtype=DTYPE)
    return [q, k, v]


def get_init_inputs():
    return []
