#!/usr/bin/env python3
"""The variant spaces of the strategy benchmark (docs/benchmarks.md, "Search strategies").

For each of six problems of bench/timing_kernels/problems (elementwise, pooling, a row reduction, a small
GEMM with its epilogue, a two-layer MLP, a large GEMM), real Triton kernels in a few families (fused or
not, one or several rows per program, ...) with their tuning knobs (tile sizes, number of warps and of
pipeline stages), and a broken twin of each family (a plausible bug: wrong math, a missing bias). The
stand-in model of bench/strategy.ts proposes these sources; bench/strategy/record.py verifies every one of
them once on a GPU. Each source starts with a line that names its variant, which is how the stand-in model
reads what a prompt showed it (the search's signature ignores comments).

    python3 bench/strategy/variants.py [--problem ID] [--out FILE.jsonl]
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any, Iterator

HEADER = "# stand-in variant: "
PROBLEMS_DIR = Path(__file__).resolve().parents[1] / "timing_kernels" / "problems"

PRELUDE = """import torch
import torch.nn as nn
import triton
import triton.language as tl
"""

SOFTSIGN_ONE = PRELUDE + """

@triton.jit
def softsign_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    tl.store(y_ptr + offs, x / ({ONE} + tl.abs(x)), mask=m)


class ModelNew(nn.Module):
    def forward(self, x):
        y = torch.empty_like(x)
        n = x.numel()
        softsign_kernel[(triton.cdiv(n, {BLOCK}),)](x, y, n, BLOCK={BLOCK}, num_warps={num_warps})
        return y
"""

SOFTSIGN_TWO = PRELUDE + """

@triton.jit
def denominator_kernel(x_ptr, d_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(d_ptr + offs, {ONE} + tl.abs(tl.load(x_ptr + offs, mask=m)), mask=m)


@triton.jit
def divide_kernel(x_ptr, d_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m) / tl.load(d_ptr + offs, mask=m), mask=m)


class ModelNew(nn.Module):
    def forward(self, x):
        d = torch.empty_like(x)
        y = torch.empty_like(x)
        n = x.numel()
        grid = (triton.cdiv(n, {BLOCK}),)
        denominator_kernel[grid](x, d, n, BLOCK={BLOCK}, num_warps={num_warps})
        divide_kernel[grid](x, d, y, n, BLOCK={BLOCK}, num_warps={num_warps})
        return y
"""

MAXPOOL_WINDOW = PRELUDE + """

@triton.jit
def maxpool_window_kernel(x_ptr, y_ptr, n_out, KS: tl.constexpr, BLOCK: tl.constexpr):
    # stride == kernel: output i reads inputs i*KS .. i*KS+KS-1, loaded as one (BLOCK, KS) tile
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n_out
    win = tl.load(x_ptr + offs[:, None] * KS + tl.arange(0, KS)[None, :], mask=m[:, None], other=float("-inf"))
    tl.store(y_ptr + offs, tl.{REDUCE}(win, axis=1), mask=m)


class ModelNew(nn.Module):
    def __init__(self, kernel_size: int):
        super().__init__()
        self.ks = kernel_size

    def forward(self, x):
        x = x.contiguous()
        b, c, length = x.shape
        y = torch.empty(b, c, length // self.ks, device=x.device, dtype=x.dtype)
        n = y.numel()
        maxpool_window_kernel[(triton.cdiv(n, {BLOCK}),)](x, y, n, KS=self.ks, BLOCK={BLOCK}, num_warps={num_warps})
        return y
"""

MAXPOOL_STRIDED = PRELUDE + """

@triton.jit
def maxpool_strided_kernel(x_ptr, y_ptr, n_out, KS: tl.constexpr, BLOCK: tl.constexpr):
    # one strided load per window position, reduced as they arrive
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n_out
    acc = tl.load(x_ptr + offs * KS, mask=m, other=float("-inf"))
    for j in tl.static_range(1, KS):
        acc = tl.{COMBINE}(acc, tl.load(x_ptr + offs * KS + j, mask=m, other=float("-inf")))
    tl.store(y_ptr + offs, acc, mask=m)


class ModelNew(nn.Module):
    def __init__(self, kernel_size: int):
        super().__init__()
        self.ks = kernel_size

    def forward(self, x):
        x = x.contiguous()
        b, c, length = x.shape
        y = torch.empty(b, c, length // self.ks, device=x.device, dtype=x.dtype)
        n = y.numel()
        maxpool_strided_kernel[(triton.cdiv(n, {BLOCK}),)](x, y, n, KS=self.ks, BLOCK={BLOCK}, num_warps={num_warps})
        return y
"""

LAYERNORM_ROWS = PRELUDE + """

@triton.jit
def layernorm_rows_kernel(x_ptr, w_ptr, b_ptr, y_ptr, R, D, eps, BLOCK: tl.constexpr, BLOCK_ROWS: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_ROWS + tl.arange(0, BLOCK_ROWS)
    cols = tl.arange(0, BLOCK)
    cm = cols < D
    m = (rows[:, None] < R) & cm[None, :]
    x = tl.load(x_ptr + rows[:, None] * D + cols[None, :], mask=m, other=0.0)
    mean = tl.sum(x, axis=1) / D
    xc = tl.where(m, x - mean[:, None], 0.0)
    var = tl.sum(xc * xc, axis=1) / {VAR_DIV}
    y = xc * tl.rsqrt(var + eps)[:, None] * tl.load(w_ptr + cols, mask=cm)[None, :] + tl.load(b_ptr + cols, mask=cm)[None, :]
    tl.store(y_ptr + rows[:, None] * D + cols[None, :], y, mask=m)


class ModelNew(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.ln = nn.LayerNorm(dim)

    def forward(self, x):
        x = x.contiguous()
        y = torch.empty_like(x)
        d = x.shape[-1]
        r = x.numel() // d
        layernorm_rows_kernel[(triton.cdiv(r, {BLOCK_ROWS}),)](x, self.ln.weight, self.ln.bias, y, r, d, self.ln.eps,
                                                              BLOCK=triton.next_power_of_2(d), BLOCK_ROWS={BLOCK_ROWS},
                                                              num_warps={num_warps})
        return y
"""

LAYERNORM_TWO = PRELUDE + """

@triton.jit
def row_stats_kernel(x_ptr, mean_ptr, rstd_ptr, D, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    m = cols < D
    x = tl.load(x_ptr + row * D + cols, mask=m, other=0.0)
    mean = tl.sum(x, axis=0) / D
    xc = tl.where(m, x - mean, 0.0)
    tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, tl.rsqrt(tl.sum(xc * xc, axis=0) / {VAR_DIV} + eps))


@triton.jit
def normalize_kernel(x_ptr, mean_ptr, rstd_ptr, w_ptr, b_ptr, y_ptr, D, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    m = cols < D
    x = tl.load(x_ptr + row * D + cols, mask=m, other=0.0)
    y = (x - tl.load(mean_ptr + row)) * tl.load(rstd_ptr + row) * tl.load(w_ptr + cols, mask=m) + tl.load(b_ptr + cols, mask=m)
    tl.store(y_ptr + row * D + cols, y, mask=m)


class ModelNew(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.ln = nn.LayerNorm(dim)

    def forward(self, x):
        x = x.contiguous()
        y = torch.empty_like(x)
        d = x.shape[-1]
        r = x.numel() // d
        mean = torch.empty(r, device=x.device, dtype=torch.float32)
        rstd = torch.empty(r, device=x.device, dtype=torch.float32)
        block = triton.next_power_of_2(d)
        row_stats_kernel[(r,)](x, mean, rstd, d, self.ln.eps, BLOCK=block, num_warps={num_warps})
        normalize_kernel[(r,)](x, mean, rstd, self.ln.weight, self.ln.bias, y, d, BLOCK=block, num_warps={num_warps})
        return y
"""

# y = act(x @ w.T + b): x (M, K), w (N, K) as nn.Linear keeps it, fp16 in, fp32 accumulate
LINEAR_KERNEL = """

@triton.jit
def linear_kernel(x_ptr, w_ptr, b_ptr, y_ptr, M, N, K, ACT: tl.constexpr,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    pid_m, pid_n = tl.program_id(0), tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        a = tl.load(x_ptr + rm[:, None] * K + (k0 + rk)[None, :], mask=(rm[:, None] < M) & ((k0 + rk)[None, :] < K), other=0.0)
        b = tl.load(w_ptr + rn[None, :] * K + (k0 + rk)[:, None], mask=(rn[None, :] < N) & ((k0 + rk)[:, None] < K), other=0.0)
        acc = tl.dot(a, b, acc)
    acc += {BIAS_SCALE} * tl.load(b_ptr + rn, mask=rn < N, other=0.0).to(tl.float32)[None, :]
    if ACT == 1:
        acc = tl.maximum(acc, 0.0)
    elif ACT == 2:
        acc = acc * tl.sigmoid(acc)
    tl.store(y_ptr + rm[:, None] * N + rn[None, :], acc.to(tl.float16), mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def activation_kernel(y_ptr, n, ACT: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    v = tl.load(y_ptr + offs, mask=m).to(tl.float32)
    if ACT == 1:
        v = tl.maximum(v, 0.0)
    else:
        v = v * tl.sigmoid(v)
    tl.store(y_ptr + offs, v.to(tl.float16), mask=m)


def linear(x, lin, act, fused):
    m, k = x.shape
    n = lin.weight.shape[0]
    y = torch.empty(m, n, device=x.device, dtype=torch.float16)
    grid = (triton.cdiv(m, {BLOCK_M}), triton.cdiv(n, {BLOCK_N}))
    linear_kernel[grid](x, lin.weight, lin.bias, y, m, n, k, ACT=act if fused else 0,
                        BLOCK_M={BLOCK_M}, BLOCK_N={BLOCK_N}, BLOCK_K={BLOCK_K}, num_warps={num_warps}, num_stages={num_stages})
    if act and not fused:
        activation_kernel[(triton.cdiv(m * n, 4096),)](y, m * n, ACT=act, BLOCK=4096, num_warps=8)
    return y
"""

GEMM_ACT = PRELUDE + LINEAR_KERNEL + """

class ModelNew(nn.Module):
    def __init__(self, k: int, n: int):
        super().__init__()
        self.lin = nn.Linear(k, n).half()

    def forward(self, x):
        return linear(x.contiguous(), self.lin, {ACT}, fused={FUSED})
"""

MLP = PRELUDE + LINEAR_KERNEL + """

class ModelNew(nn.Module):
    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden).half()
        self.fc2 = nn.Linear(hidden, d).half()

    def forward(self, x):
        h = linear(x.contiguous(), self.fc1, 1, fused={FUSED})
        return linear(h, self.fc2, 0, fused=True)
"""

# (BLOCK_M, BLOCK_N) pairs per GEMM size: the small ones want smaller tiles to fill 132 SMs
SMALL_TILES = [(32, 64), (64, 64), (64, 128), (128, 128)]
LARGE_TILES = [(64, 128), (128, 128), (128, 256), (256, 128)]


def _grid(**axes: list[Any]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(axes[k] for k in keys))]


def _gemm_grid(tiles: list[tuple[int, int]], ks: list[int], warps: list[int], stages: list[int]) -> list[dict[str, Any]]:
    return [{"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "num_warps": w, "num_stages": s}
            for (bm, bn), bk, w, s in itertools.product(tiles, ks, warps, stages)]


class Family:
    """One approach to a problem: a template, the knobs' grid, how a bug breaks it."""

    def __init__(self, name: str, template: str, grid: list[dict[str, Any]], fixed: dict[str, Any],
                 broken: dict[str, Any]) -> None:
        self.name, self.template, self.grid, self.fixed, self.broken = name, template, grid, fixed, broken

    def render(self, problem: str, params: dict[str, Any], broken: bool) -> str:
        meta = {"problem": problem, "family": self.name, "params": params, "broken": broken}
        fill = {**self.fixed, **(self.broken if broken else {}), **params}
        body = self.template
        for k, v in fill.items():
            body = body.replace("{" + k + "}", str(v))
        return HEADER + json.dumps(meta, sort_keys=True) + "\n" + body


FAMILIES: dict[str, list[Family]] = {
    "softsign": [
        Family("one-pass", SOFTSIGN_ONE, _grid(BLOCK=[512, 1024, 4096, 16384], num_warps=[2, 4, 8, 16]),
               {"ONE": "1"}, {"ONE": "2"}),
        Family("two-pass", SOFTSIGN_TWO, _grid(BLOCK=[1024, 4096], num_warps=[4, 8]), {"ONE": "1"}, {"ONE": "2"}),
    ],
    "maxpool1d": [
        Family("window-tile", MAXPOOL_WINDOW, _grid(BLOCK=[256, 1024, 4096], num_warps=[2, 4, 8]),
               {"REDUCE": "max"}, {"REDUCE": "min"}),
        Family("strided-loads", MAXPOOL_STRIDED, _grid(BLOCK=[256, 1024, 4096], num_warps=[2, 4, 8]),
               {"COMBINE": "maximum"}, {"COMBINE": "minimum"}),
    ],
    "layernorm": [
        Family("rows-per-program", LAYERNORM_ROWS, _grid(BLOCK_ROWS=[1, 2, 4, 8], num_warps=[2, 4, 8, 16]),
               {"VAR_DIV": "D"}, {"VAR_DIV": "(D - 1)"}),
        Family("stats-then-normalize", LAYERNORM_TWO, _grid(num_warps=[2, 4, 8]), {"VAR_DIV": "D"},
               {"VAR_DIV": "(D - 1)"}),
    ],
    "gemm_swish_small": [
        Family("fused-epilogue", GEMM_ACT, _gemm_grid(SMALL_TILES, [32, 64], [4, 8], [3]),
               {"ACT": 2, "FUSED": True, "BIAS_SCALE": "1.0"}, {"BIAS_SCALE": "0.0"}),
        Family("separate-activation", GEMM_ACT, _gemm_grid(SMALL_TILES[1:3], [64], [4, 8], [3]),
               {"ACT": 2, "FUSED": False, "BIAS_SCALE": "1.0"}, {"BIAS_SCALE": "0.0"}),
    ],
    "mlp_small": [
        Family("fused-relu", MLP, _gemm_grid(SMALL_TILES, [32, 64], [4, 8], [3]),
               {"FUSED": True, "BIAS_SCALE": "1.0"}, {"BIAS_SCALE": "0.0"}),
        Family("separate-relu", MLP, _gemm_grid(SMALL_TILES[1:3], [64], [4, 8], [3]),
               {"FUSED": False, "BIAS_SCALE": "1.0"}, {"BIAS_SCALE": "0.0"}),
    ],
    "gemm_relu_large": [
        Family("fused-epilogue", GEMM_ACT, _gemm_grid(LARGE_TILES, [64], [4, 8], [3, 4]),
               {"ACT": 1, "FUSED": True, "BIAS_SCALE": "1.0"}, {"BIAS_SCALE": "0.0"}),
        Family("separate-activation", GEMM_ACT, _gemm_grid(LARGE_TILES[1:2], [64], [4, 8], [3]),
               {"ACT": 1, "FUSED": False, "BIAS_SCALE": "1.0"}, {"BIAS_SCALE": "0.0"}),
    ],
}


def variant_key(problem: str, family: str, params: dict[str, Any], broken: bool) -> str:
    """The same key as bench/standInModel.ts's variantKey: problem/family/k=v,... sorted[/broken]."""
    knobs = ",".join(f"{k}={params[k]}" for k in sorted(params))
    return f"{problem}/{family}/{knobs}" + ("/broken" if broken else "")


def variants(only: str | None = None) -> Iterator[dict[str, Any]]:
    """Every variant: each family's whole grid, and its broken twin at the grid's first point."""
    for problem, families in FAMILIES.items():
        if only and problem != only:
            continue
        for fam in families:
            for i, params in enumerate(fam.grid):
                for broken in (False, True) if i == 0 else (False,):
                    yield {"key": variant_key(problem, fam.name, params, broken), "problem": problem,
                           "family": fam.name, "params": params, "broken": broken,
                           "source": fam.render(problem, params, broken)}


def space() -> dict[str, Any]:
    """The variant spaces for the stand-in model: per problem, its families with their knob values."""
    return {p: [{"family": f.name, "grid": f.grid} for f in fams] for p, fams in FAMILIES.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem")
    ap.add_argument("--out")
    ap.add_argument("--space", action="store_true", help="print the variant spaces (JSON) instead")
    a = ap.parse_args()
    if a.space:
        print(json.dumps(space(), indent=1))
        return 0
    lines = [json.dumps(v) for v in variants(a.problem)]
    if a.out:
        Path(a.out).write_text("\n".join(lines) + "\n")
    else:
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
