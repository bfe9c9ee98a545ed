"""The reference side (parent process): load the problem, run ``Model`` on every seed, write the job file.

The reference's results stay in this process; the job file holds only inputs, weights and output sizes.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import torch

from verifier.harness import NON_WORK_ATEN, record_aten_ops
from verifier.verify import B_SEED_OFFSET, C_SEED_OFFSET, problem_hash


def flatten(out: Any) -> list[Any]:
    items: list[Any] = []

    def rec(o: Any, depth: int = 0) -> None:
        if isinstance(o, torch.Tensor):
            items.append(o.detach())
        elif isinstance(o, (list, tuple)) and depth < 4:
            for x in o:
                rec(x, depth + 1)
        else:
            items.append(o)

    rec(out)
    return items


def _to(xs: list[Any], device: str) -> list[Any]:
    return [x.to(device) if isinstance(x, torch.Tensor) else x for x in xs]


def _clone(xs: list[Any]) -> list[Any]:
    return [x.clone() if isinstance(x, torch.Tensor) else x for x in xs]


def _cpu(xs: list[Any]) -> list[Any]:
    return [x.detach().cpu().clone() if isinstance(x, torch.Tensor) else x for x in xs]


@dataclass
class Trial:
    seed: int
    init_inputs: list[Any]
    state_dict: dict[str, Any]
    inputs_a: list[Any]
    inputs_b: list[Any]
    ref_a: list[Any]
    ref_b: list[Any]
    post_a: list[Any]  # inputs after the reference's own call (the reference may mutate them itself)
    model: Any = None
    notes: list[str] = field(default_factory=list)


class Reference:
    def __init__(self, req: dict[str, Any], device: str, parent_dir: str):
        self.torch = torch
        self.req = req
        self.device = device
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_grad_enabled(False)
        self.pid = req["problem_id"]
        self.phash = problem_hash(req["problem_source"])
        path = os.path.join(parent_dir, "problem.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(req["problem_source"])
        self.path = path
        self.trials: list[Trial] = []
        self.timing_inputs: list[list[Any]] = []
        self.timing_refs: list[list[Any]] = []
        self.work_ops: set[str] = set()
        self.ref_ops: dict[str, int] = {}
        self.out_nbytes = 0
        self.notes: list[str] = []

    def _load(self, path: str | None = None, name: str | None = None) -> Any:
        path = path or self.path
        name = name or f"kernel_problem_{self.phash}"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod

    def _inputs(self, seed: int) -> list[Any]:
        torch.manual_seed(seed)
        return _to(list(self.mod.get_inputs()), self.device)

    def _call(self, model: Any, inputs: list[Any]) -> tuple[list[Any], list[Any]]:
        x = _clone(inputs)
        out = flatten(model(*x))
        if self.device == "cuda":
            torch.cuda.synchronize()
        return out, x

    def prepare(self) -> None:
        self.mod = self._load()
        for seed in self.req["seeds"]:
            torch.manual_seed(seed)
            init = list(self.mod.get_init_inputs())
            torch.manual_seed(seed)
            model = self.mod.Model(*init)
            sd = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            model = model.to(self.device)
            a = self._inputs(seed)
            b = self._inputs(seed + B_SEED_OFFSET)
            ref_a, post_a = self._call(model, a)
            ref_b, _ = self._call(model, b)
            tr = Trial(seed, init, sd, a, b, ref_a, ref_b, post_a, model)
            self.trials.append(tr)
            if not self.trials[1:]:
                self.out_nbytes = sum(t.numel() * t.element_size() for t in ref_a if isinstance(t, torch.Tensor))
        t0 = self.trials[0]
        c = self._inputs(t0.seed + C_SEED_OFFSET)
        ref_c, _ = self._call(t0.model, c)
        self.timing_inputs = [t0.inputs_a, t0.inputs_b, c]
        self.timing_refs = [t0.ref_a, t0.ref_b, ref_c]
        self._record_ops(t0)
        if all(_same(x, y) for x, y in zip(t0.ref_a, t0.ref_b)):
            self.notes.append("the reference's output did not change when the input values changed")

    def _record_ops(self, tr: Trial) -> None:
        try:
            _, ops = record_aten_ops(torch, lambda: self._call(tr.model, tr.inputs_a))
        except Exception:  # noqa: BLE001 - recording is best effort
            return
        self.ref_ops = ops
        self.work_ops = {o for o in ops if o not in NON_WORK_ATEN}

    def hidden_trial(self, variant_source: str) -> tuple[Trial | None, str]:
        """The shape-hardcoding check's trial: the variant problem (smaller size constants) on the first
        seed, built exactly like a regular seed. (None, why) when the check does not apply: the variant
        fails to run, or its inputs are not smaller than the original's."""
        seed = self.trials[0].seed
        path = os.path.join(os.path.dirname(self.path), "problem_hidden_shape.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(variant_source)
        try:
            mod = self._load(path, f"kernel_problem_{self.phash}_hidden")
            torch.manual_seed(seed)
            init = list(mod.get_init_inputs())
            torch.manual_seed(seed)
            model = mod.Model(*init)
            sd = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            model = model.to(self.device)
            torch.manual_seed(seed)
            a = _to(list(mod.get_inputs()), self.device)
            ref_a, post_a = self._call(model, a)
        except Exception as e:  # noqa: BLE001 - the problem does not allow this shape
            return None, f"the variant reference failed: {type(e).__name__}: {e}"[:300]
        finally:
            sys.modules.pop(f"kernel_problem_{self.phash}_hidden", None)

        def shapes(xs: list[Any]) -> list[Any]:
            return [tuple(x.shape) if isinstance(x, torch.Tensor) else None for x in xs]

        def numel(xs: list[Any]) -> int:
            return sum(x.numel() for x in xs if isinstance(x, torch.Tensor))

        orig = self.trials[0].inputs_a
        if shapes(a) == shapes(orig):
            return None, "the variant's input shapes equal the original's"
        if numel(a) > numel(orig):
            return None, "the variant's inputs are larger than the original's"
        return Trial(seed, init, sd, a, [], ref_a, [], post_a, model), ""

    def write_hidden_job(self, workdir: str, tr: Trial) -> str:
        job = {"seed": tr.seed, "init_inputs": _cpu(tr.init_inputs), "state_dict": tr.state_dict,
               "inputs_a": _cpu(tr.inputs_a)}
        path = os.path.join(workdir, "job_hidden.pt")
        torch.save(job, path)
        return path

    def write_job(self, workdir: str) -> str:
        job = {
            "device": self.device,
            "seeds": [{"seed": t.seed, "init_inputs": _cpu(t.init_inputs), "state_dict": t.state_dict,
                       "inputs_a": _cpu(t.inputs_a), "inputs_b": _cpu(t.inputs_b)} for t in self.trials],
            "timing_sets": [_cpu(x) for x in self.timing_inputs],
            "out_nbytes": self.out_nbytes,
            "out_sizes": [t.numel() * t.element_size() for t in self.trials[0].ref_a if isinstance(t, torch.Tensor)],
            "record_ops": True,
            # CPU mode runs kernels in the interpreter: the zero-memory rerun only on the first seed
            "rerun_all_seeds": self.device == "cuda",
        }
        path = os.path.join(workdir, "job.pt")
        torch.save(job, path)
        return path

    def models(self) -> Any:
        return self.trials[0].model


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        return x.shape == y.shape and bool(torch.equal(x, y))
    return x == y
