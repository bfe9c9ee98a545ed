"""ALiBi combined with a causal sliding window.

score + m_h * (kv_idx - q_idx) with the per-head ALiBi slopes m_h = 2^(-8 (h + 1) / H) (see
alibi.py), and query q_idx attends only to keys q_idx - WINDOW ... q_idx (see sliding_window_causal.py).
WINDOW is S // 4: 16 at S = 64, 1024 at S = 4096.
"""

import torch

B = 1
H = 2
S = 64
D = 32
DTYPE = "float32"
WINDOW = S // 4


def score_mod(score, b, h, q_idx, kv_idx):
    slope = torch.exp2(-8.0 * (h + 1) / H)
    return score + slope * (kv_idx - q_idx)


def mask_mod(b, h, q_idx, kv_idx):
    return (q_idx >= kv_idx) & (q_idx - kv_idx <= WINDOW)
