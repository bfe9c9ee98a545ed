"""Causal sliding-window attention: query q_idx attends to keys q_idx - WINDOW ... q_idx.

That is WINDOW + 1 keys (fewer near the start), the convention of the FlexAttention examples
(q_idx - kv_idx <= WINDOW). WINDOW is S // 4: 16 at S = 64, 1024 at S = 4096.
"""

B = 1
H = 2
S = 64
D = 32
DTYPE = "float32"
WINDOW = S // 4


def mask_mod(b, h, q_idx, kv_idx):
    causal = q_idx >= kv_idx
    in_window = q_idx - kv_idx <= WINDOW
    return causal & in_window
