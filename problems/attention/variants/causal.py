"""Causal attention: query q_idx attends to keys 0 ... q_idx. A mask only, no score_mod."""

B = 1
H = 2
S = 64
D = 32
DTYPE = "float32"


def mask_mod(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx
