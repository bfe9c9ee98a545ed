#!/usr/bin/env python3
"""Time attention with a relative-position term, score = q.k * scale + (q_idx - kv_idx), on a CUDA GPU.

Variants, all on the same inputs (default B=4, H=16, S=4096, D=128, bf16):
  eager fp32  the problem's reference: S x S scores materialised in fp32, softmax, @ v
  SDPA        F.scaled_dot_product_attention with the bias as an [S, S] tensor (must be the input's dtype)
  Flex        torch.compile(flex_attention) with score_mod = score + (q_idx - kv_idx)
Prints a markdown table: median ms (triton.testing.do_bench, L2 flushed between runs), TFLOP/s counting
4*B*H*S*S*D flops, and the max abs error against the fp32 reference. Without a GPU it says so and exits 0.
In bf16 the SDPA bias tensor cannot hold i - j exactly past |i - j| = 256, so SDPA's error is large
(about 5 at S=4096); FlexAttention adds the term to fp32 scores inside the kernel.

    python3 bench/bench_attention.py [--batch 4 --heads 16 --seq 4096 --dim 128 --dtype bf16 --no-eager]
"""

import argparse
import math
import sys

import torch
import torch.nn.functional as F

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def rel_bias(seq_len, device, dtype):
    pos = torch.arange(seq_len, device=device, dtype=torch.float32)
    return (pos[:, None] - pos[None, :]).to(dtype)  # [S, S], bias[i, j] = i - j


def eager_fp32(q, k, v):
    """The problem's reference, kept in fp32 (the output too, so it can serve as ground truth)."""
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = torch.matmul(q.float(), k.float().transpose(-2, -1)).mul_(scale)
    scores.add_(rel_bias(q.shape[-2], q.device, torch.float32))
    return torch.matmul(torch.softmax(scores, dim=-1), v.float())


def make_sdpa(q):
    bias = rel_bias(q.shape[-2], q.device, q.dtype)  # SDPA wants the mask in the query's dtype
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def make_flex():
    from torch.nn.attention.flex_attention import flex_attention

    def score_mod(score, b, h, q_idx, kv_idx):
        return score + (q_idx - kv_idx)

    compiled = torch.compile(flex_attention, dynamic=False)
    return lambda q, k, v: compiled(q, k, v, score_mod=score_mod)


def bench_ms(fn):
    try:
        from triton.testing import do_bench
        return float(do_bench(fn, warmup=25, rep=100, return_mode="median"))
    except ImportError:  # CUDA events, median of 50 after 5 warm-ups
        for _ in range(5):
            fn()
        times = []
        for _ in range(50):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        return sorted(times)[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--seq", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    ap.add_argument("--no-eager", action="store_true", help="skip the materialised reference (large S)")
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print("no CUDA: bench_attention.py needs an NVIDIA GPU; nothing was timed.")
        return 0

    B, H, S, D = args.batch, args.heads, args.seq, args.dim
    dtype = DTYPES[args.dtype]
    torch.manual_seed(0)
    q, k, v = (torch.randn(B, H, S, D, device="cuda", dtype=dtype) for _ in range(3))
    flops = 4.0 * B * H * S * S * D

    import triton
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}")
    print(f"relative-position attention, B={B} H={H} S={S} D={D} {args.dtype}\n")

    ref = None
    if not args.no_eager:
        try:
            ref = eager_fp32(q, k, v)
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            print("eager fp32 reference: out of memory; errors are not reported\n")

    variants = [] if args.no_eager or ref is None else [("eager fp32 (materialised)", lambda: eager_fp32)]
    variants += [("SDPA (bias tensor)", lambda: make_sdpa(q)), ("FlexAttention (score_mod)", make_flex)]
    rows = []
    for name, build in variants:
        try:
            fn = build()
            out = fn(q, k, v)  # first call: compile / warm up, and the output for the error column
            torch.cuda.synchronize()
            err = "-" if ref is None else ("(reference)" if fn is eager_fp32
                                           else f"{(out.float() - ref).abs().max().item():.3g}")
            del out
            ms = bench_ms(lambda: fn(q, k, v))
            rows.append((name, f"{ms:.3f}", f"{flops / (ms * 1e-3) / 1e12:.0f}", err))
        except torch.OutOfMemoryError:
            rows.append((name, "out of memory", "-", "-"))
        except Exception as exc:  # noqa: BLE001 - report the failure, keep timing the others
            rows.append((name, f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}", "-", "-"))
        torch.cuda.empty_cache()

    print("| variant | ms | TFLOP/s | max abs err vs fp32 |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
