"""2D neighbourhood attention on an image-like grid of tokens.

The S tokens are a GRID[0] x GRID[1] grid in row-major order (token t is at row t // W, column t % W).
A query attends to the keys within RADIUS rows and RADIUS columns of it: a (2 RADIUS + 1)^2 square,
cut off at the grid's edges (no shifted windows at the borders). RADIUS is W // 8: 1 on the 8 x 8
grid (S = 64), 8 on a 64 x 64 grid (S = 4096).
"""

B = 1
H = 2
S = 64
D = 32
DTYPE = "float32"
GRID = (8, 8)
RADIUS = GRID[1] // 8


def mask_mod(b, h, q_idx, kv_idx):
    w = GRID[1]
    q_row, q_col = q_idx // w, q_idx % w
    kv_row, kv_col = kv_idx // w, kv_idx % w
    return ((q_row - kv_row).abs() <= RADIUS) & ((q_col - kv_col).abs() <= RADIUS)
