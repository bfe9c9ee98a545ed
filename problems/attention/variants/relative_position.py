"""Relative position term: score + (q_idx - kv_idx), no mask.

The same operation as problems/attention/relative_position_attention.py. At S = 64 the term spans
-63 ... 63, larger than the q.k part, so a kernel that scales it wrongly is wrong everywhere.
"""

B = 1
H = 2
S = 64
D = 32
DTYPE = "float32"


def score_mod(score, b, h, q_idx, kv_idx):
    return score + (q_idx - kv_idx)
