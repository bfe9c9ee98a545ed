"""ALiBi (Press et al., "Train Short, Test Long", 2022), causal.

Each head h (0-based) of H has its own slope m_h = 2^(-8 (h + 1) / H), the paper's geometric sequence
for a power-of-two number of heads; the score of key kv_idx for query q_idx gets the linear penalty
m_h * (kv_idx - q_idx) (0 on the diagonal, more negative further back), and only keys at or before the
query are attended.
"""

import torch

B = 1
H = 2
S = 64
D = 32
DTYPE = "float32"


def score_mod(score, b, h, q_idx, kv_idx):
    slope = torch.exp2(-8.0 * (h + 1) / H)
    return score + slope * (kv_idx - q_idx)


def mask_mod(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx
