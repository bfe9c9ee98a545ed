#!/usr/bin/env python3
"""Time every shipped attention variant on a CUDA GPU: materialised reference, SDPA and compiled FlexAttention.

For each spec in problems/attention/variants/ (or the ones named with --only), at the GPU shape (default B=4,
H=16, S=4096, D=128, bf16; a 2D GRID becomes the square grid of S, constants such as WINDOW = S // 4 follow S)
and at the spec's own small shape, on the same inputs:
  reference  the rendered problem's Model: S x S scores materialised in fp32, output cast to the input dtype
  SDPA       F.scaled_dot_product_attention with is_causal, a bool mask or a bias tensor in the input dtype,
             where the variant can be expressed that way (verifier.attention.baselines says how)
  Flex       torch.compile(flex_attention) with the spec's score_mod and a block mask from its mask_mod
Prints a markdown table: median ms (triton.testing.do_bench), TFLOP/s counting only unmasked work
(4 * D * kept (b, h, q, kv) pairs), and the max abs error against the fp32 reference on the same inputs
(TF32 off). A bf16 bias cannot hold integers above 256 exactly, so SDPA with a relative-position bias is
inexact at S=4096; the table says so. Without a GPU it says so and exits 0.

    python3 bench/bench_attention_variants.py [--only alibi --only causal] [--seq 4096 --dtype bfloat16]
                                                [--no-eager] [--skip-small]
"""

import argparse
import glob
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from verifier import attention as A  # noqa: E402

VARIANTS = os.path.join(ROOT, "problems", "attention", "variants")


def bench_ms(fn):
    from triton.testing import do_bench

    return float(do_bench(fn, warmup=25, rep=100, return_mode="median"))


def fail(exc):
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"failed: {type(exc).__name__}: {first[:80]}"


def run_shape(path, overrides, no_eager):
    """Rows (impl, ms, TFLOP/s, err) for one spec at one shape."""
    torch._dynamo.reset()  # a fresh compile per variant and shape: no recompile limit to fall back to eager at
    prob = A.load_problem(path, overrides)
    torch.manual_seed(0)
    q, k, v = (x.cuda() for x in prob.get_inputs())
    batch, heads, seq, dim = q.shape
    pairs = A.unmasked_pairs(prob, batch, heads, seq, seq, "cuda")
    flops = 4.0 * dim * pairs
    model = prob.Model().cuda()
    rows, ref = [], None
    try:
        with torch.no_grad():
            ref = model(q.float(), k.float(), v.float())  # the fp32 truth on the same (rounded) inputs
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        rows.append(("fp32 reference", "out of memory", "-", "-"))
    impls = []
    if not no_eager:
        impls.append(("reference (materialised fp32)", lambda: model(q, k, v)))  # noqa: F821 - bound above; ruff reads the later del as unbinding
    try:
        bl = A.baselines(prob, q, k, v)
    except Exception as exc:  # noqa: BLE001 - report it, keep going
        bl = {}
        rows.append(("baselines", fail(exc), "-", "-"))
    if "sdpa" in bl:
        impls.append((f"SDPA ({bl['sdpa'].how})", bl["sdpa"]))
    elif bl:
        impls.append(("SDPA", None))
    if "flex_attention" in bl:
        impls.append(("FlexAttention (compiled)", bl["flex_attention"]))
    for name, fn in impls:
        if fn is None:
            rows.append((name, "cannot express this score_mod", "-", "-"))
            continue
        try:
            with torch.no_grad():
                out = fn()  # first call: compile / warm up, and the output for the error column
                torch.cuda.synchronize()
                err = "-" if ref is None else f"{(out.float() - ref).abs().max().item():.3g}"
                del out
                ms = bench_ms(fn)
            rows.append((name, f"{ms:.3f}", f"{flops / (ms * 1e-3) / 1e12:.1f}", err))
        except torch.OutOfMemoryError:
            rows.append((name, "out of memory", "-", "-"))
        except Exception as exc:  # noqa: BLE001
            rows.append((name, fail(exc), "-", "-"))
        torch.cuda.empty_cache()
    label = f"{batch}x{heads}x{seq}x{dim} {prob.DTYPE}, {pairs / (batch * heads * seq * seq):.1%} kept"
    del q, k, v, ref, bl, impls
    torch.cuda.empty_cache()
    return label, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", default=[], help="variant id (repeatable); default: all")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--seq", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--dtype", choices=A.DTYPES, default="bfloat16")
    ap.add_argument("--no-eager", action="store_true", help="do not time the materialised reference")
    ap.add_argument("--skip-small", action="store_true", help="only the GPU shape, not each spec's own")
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print("no CUDA: bench_attention_variants.py needs an NVIDIA GPU; nothing was timed.")
        return 0

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    specs = sorted(glob.glob(os.path.join(VARIANTS, "*.py")))
    if args.only:
        specs = [s for s in specs if os.path.splitext(os.path.basename(s))[0] in args.only]
        missing = set(args.only) - {os.path.splitext(os.path.basename(s))[0] for s in specs}
        if missing:
            print(f"unknown variant(s): {', '.join(sorted(missing))}", file=sys.stderr)
            return 2

    import triton
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}\n")
    gpu_shape = {"B": args.batch, "H": args.heads, "S": args.seq, "D": args.dim, "DTYPE": args.dtype}
    print("| variant | shape | implementation | ms | TFLOP/s (unmasked work) | max abs err vs fp32 |")
    print("|---|---|---|---|---|---|")
    for path in specs:
        vid = os.path.splitext(os.path.basename(path))[0]
        shapes = [gpu_shape] + ([] if args.skip_small else [None])
        for overrides in shapes:
            try:
                label, rows = run_shape(path, overrides, args.no_eager)
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()
                label, rows = "-", [("-", "out of memory", "-", "-")]
            except A.SpecError as exc:
                label, rows = "-", [("-", f"spec error: {exc}", "-", "-")]
            for row in rows:
                print(f"| {vid} | {label} | " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
