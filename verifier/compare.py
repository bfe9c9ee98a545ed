"""Compare candidate outputs with reference outputs (runs in the parent, which holds the reference)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from verifier.shared import PAYLOAD_BITS

DEFAULT_TOL = {"float32": 1e-4, "float64": 1e-4, "float16": 1e-2, "bfloat16": 1e-2}


def tolerances(dtype_name: str, atol: float | None, rtol: float | None) -> tuple[float, float, float]:
    """(atol, rtol, relative-norm tolerance) for an output dtype."""
    base = DEFAULT_TOL.get(dtype_name, 0.0)
    a = base if atol is None else float(atol)
    r = base if rtol is None else float(rtol)
    rn = max(r, 1e-12) if base or rtol is not None else 0.0
    return a, r, rn


def _finite(x: float | None) -> float | None:
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return None
    return float(x)


@dataclass
class Cmp:
    ok: bool = True
    reason: str = ""
    max_abs: float | None = 0.0
    max_rel: float | None = 0.0
    mismatched: int = 0
    numel: int = 0
    first_bad_index: list[int] | None = None
    output_index: int | None = None
    rel_norm: float | None = 0.0
    rel_norm_fail: bool = False  # elementwise passed but the relative-norm check did not
    constant_output: bool = False
    reference_varies: bool = False
    poison: int = 0  # elements holding the never-written NaN pattern
    nonfinite: int = 0  # NaN/Inf where the reference is finite (not counted in max_abs)
    bad_on_nonzero: int = 0  # mismatches where |reference| > atol
    finite: int = 0  # elements finite in both the output and the reference (those max_abs is taken over)
    # how systematic the error is (``deviation_pattern``): ~0 for the scatter of rounding (reduced precision),
    # ~1 for a smooth deviation of another function (same sign across ranges of the reference's values)
    systematic: float | None = None
    where: str = ""
    notes: list[str] = field(default_factory=list)

    def fail(self, reason: str) -> "Cmp":
        self.ok = False
        if not self.reason:
            self.reason = reason
        return self


def poison_count(torch: Any, t: Any) -> int:
    name = str(t.dtype).replace("torch.", "")
    if name not in PAYLOAD_BITS or t.numel() == 0:
        return 0
    idt, val = PAYLOAD_BITS[name]
    bits = t.contiguous().view(getattr(torch, idt))
    return int((bits == val).sum().item())


def _fmt_idx(idx: list[int]) -> str:
    return "[" + ", ".join(str(i) for i in idx) + "]"


def compare_outputs(torch: Any, cand: list[Any], ref: list[Any], atol: float | None, rtol: float | None,
                    device: str) -> Cmp:
    res = Cmp()
    if len(cand) != len(ref):
        return res.fail(f"forward returned {len(cand)} output(s), the reference returns {len(ref)}")
    for i, (c, r) in enumerate(zip(cand, ref)):
        if isinstance(r, torch.Tensor):
            if not isinstance(c, torch.Tensor):
                return res.fail(f"output {i}: expected a tensor, got {type(c).__name__}")
            _compare_tensor(torch, res, i, c.to(device), r, atol, rtol)
        else:
            if isinstance(r, float) and isinstance(c, (int, float)):
                a, rt, _ = tolerances("float32", atol, rtol)
                if not abs(c - r) <= a + rt * abs(r):
                    res.fail(f"output {i}: got {c!r}, expected {r!r}")
            elif c != r:
                res.fail(f"output {i}: got {c!r}, expected {r!r}")
        if not res.ok and res.output_index is None:
            res.output_index = i
    return res


def _compare_tensor(torch: Any, res: Cmp, i: int, c: Any, r: Any, atol: float | None, rtol: float | None) -> None:
    label = f"output {i}" if i else "output"
    if tuple(c.shape) != tuple(r.shape):
        res.fail(f"{label} has shape {list(c.shape)}, the reference has {list(r.shape)}")
        res.max_abs = res.max_rel = res.rel_norm = None
        return
    if c.dtype != r.dtype:
        res.fail(f"{label} has dtype {str(c.dtype).replace('torch.', '')}, the reference has "
                 f"{str(r.dtype).replace('torch.', '')}")
        res.max_abs = res.max_rel = res.rel_norm = None
        return
    n = r.numel()
    res.numel += n
    if n == 0:
        return
    res.poison += poison_count(torch, c)
    dname = str(r.dtype).replace("torch.", "")
    if not (r.is_floating_point() or r.is_complex()):
        bad = c != r
        nbad = int(bad.sum().item())
        diff = (c.double() - r.double()).abs()
        res.max_abs = max(res.max_abs or 0.0, float(diff.max().item()))
        if nbad:
            _record_bad(torch, res, label, bad, c, r, nbad, n)
        return
    a, rt, rn = tolerances(dname, atol, rtol)
    cd, rd = c.double(), r.double()
    c_fin, r_fin = torch.isfinite(cd), torch.isfinite(rd)
    both = c_fin & r_fin
    diff = torch.where(both, (cd - rd).abs(), torch.zeros_like(rd))
    # non-finite values must match exactly (same inf sign, NaN where the reference has NaN)
    nonfin_ok = (~c_fin & ~r_fin) & ((cd == rd) | (torch.isnan(cd) & torch.isnan(rd)))
    bad = (both & (diff > a + rt * rd.abs())) | ((~c_fin | ~r_fin) & ~nonfin_ok)
    nbad = int(bad.sum().item())
    max_abs = float(diff.max().item())
    big = both & (rd.abs() > max(a, 1e-12))
    max_rel = float((diff[big] / rd.abs()[big]).max().item()) if bool(big.any()) else 0.0
    res.max_abs = max(res.max_abs or 0.0, max_abs)
    res.max_rel = max(res.max_rel or 0.0, max_rel)
    ref_norm = float(torch.linalg.vector_norm(torch.where(both, rd, torch.zeros_like(rd))).item())
    err_norm = float(torch.linalg.vector_norm(diff).item())
    rel_norm = err_norm / ref_norm if ref_norm > 0 else (0.0 if err_norm == 0 else math.inf)
    res.rel_norm = max(res.rel_norm or 0.0, rel_norm) if math.isfinite(rel_norm) else None
    finite_c = cd[c_fin]
    res.constant_output = bool(finite_c.numel() == n and n > 1 and bool((finite_c == finite_c.flatten()[0]).all()))
    finite_r = rd[r_fin]
    res.reference_varies = bool(finite_r.numel() > 1 and float((finite_r.max() - finite_r.min()).item()) > 0)
    res.finite += int(both.sum().item())
    if nbad:
        pat = deviation_pattern(torch, cd[both], rd[both])
        if pat is not None:
            res.systematic = max(res.systematic or 0.0, pat)
        res.bad_on_nonzero += int((bad & big).sum().item())
        _record_bad(torch, res, label, bad, c, r, nbad, n)
        nonfinite = int((~c_fin & r_fin).sum().item())
        if nonfinite:
            res.reason += f"; {nonfinite} element(s) are NaN/Inf where the reference is finite"
            res.nonfinite += nonfinite
        return
    if rel_norm > rn:
        res.rel_norm_fail = True
        res.fail(f"{label}: relative error norm {rel_norm:.3g} exceeds {rn:g} although every element is within "
                 f"atol={a:g}/rtol={rt:g}")


def _record_bad(torch: Any, res: Cmp, label: str, bad: Any, c: Any, r: Any, nbad: int, n: int) -> None:
    flat = bad.flatten().nonzero()
    first = int(flat[0].item())
    idx = [int(v) for v in torch.unravel_index(torch.tensor(first), tuple(r.shape))] if r.dim() else []
    if res.first_bad_index is None:
        res.first_bad_index = idx
    res.mismatched += nbad
    cv = c.flatten()[first].item()
    rv = r.flatten()[first].item()
    res.fail(f"{label}: {nbad} of {n} elements ({100.0 * nbad / n:.3g}%) mismatch; first at {_fmt_idx(idx)}: "
             f"got {cv:.6g}, expected {rv:.6g}")


def bitwise_equal(torch: Any, a: list[Any], b: list[Any]) -> tuple[bool, int]:
    """(equal, number of differing elements) treating NaN patterns bit for bit."""
    if len(a) != len(b):
        return False, -1
    ndiff = 0
    for x, y in zip(a, b):
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            if x.shape != y.shape or x.dtype != y.dtype:
                return False, -1
            if x.numel() == 0:
                continue
            if x.is_floating_point():
                isz = x.element_size()
                idt = {8: torch.int64, 4: torch.int32, 2: torch.int16}.get(isz)
                if idt is None:
                    ndiff += int((x != y).sum().item())
                    continue
                ndiff += int((x.contiguous().view(idt) != y.contiguous().view(idt)).sum().item())
            else:
                ndiff += int((x != y).sum().item())
        elif x != y:
            ndiff += 1
    return ndiff == 0, ndiff


def summarize_error(res: Cmp) -> dict[str, Any]:
    frac = (res.mismatched / res.numel) if res.numel else (0.0 if res.ok else 1.0)
    return {"max_abs_error": _finite(res.max_abs), "max_rel_error": _finite(res.max_rel),
            "mismatch_fraction": frac, "first_bad_index": res.first_bad_index}


def deviation_pattern(torch: Any, c: Any, r: Any, bins: int = 32) -> float | None:
    """How systematic the error c - r is, in [0, 1]: the elements sorted by the reference's value, cut into
    ``bins`` groups of equal count, sum over groups of |sum of signed errors| / sum of |errors|. Rounding
    (fp16/bf16/TF32 arithmetic) scatters in sign within every group: ~1/sqrt(group size), near 0. Another
    function (a tanh-form GELU for erf, a wrong constant) deviates smoothly: the same sign within a group,
    near 1. None with fewer than 64 elements or no error."""
    n = int(c.numel())
    if n < 64:
        return None
    err = (c.double() - r.double()).flatten()[torch.argsort(r.double().flatten())]
    total = float(err.abs().sum().item())
    if total == 0 or not math.isfinite(total):
        return None
    groups = torch.tensor_split(err, min(bins, n // 8))
    return min(1.0, sum(abs(float(g.sum().item())) for g in groups) / total)


def error_text(c: Cmp) -> str:
    """'max abs error …, max rel error …' of a failed comparison, saying what it is taken over; when no
    element of the output is finite where the reference is, that (there is no error to measure)."""
    def fmt(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3g}"

    if c.nonfinite and c.finite == 0:
        return "no element of the output is finite where the reference is (NaN/Inf everywhere)"
    over = f" over the {c.finite} finite element(s)" if c.nonfinite else ""
    return f"max abs error{over} {fmt(c.max_abs)}, max rel error {fmt(c.max_rel)}"
