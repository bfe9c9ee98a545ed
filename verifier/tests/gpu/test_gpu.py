"""The GPU acceptance checks as tests (``pytest -m gpu verifier/tests/gpu`` on a GPU host; skipped elsewhere).

Each runs one ``check_*`` module's ``main`` and passes when every verdict is the one expected; its report
(markdown and JSON) lands in the test's temporary directory, or in ``$GPU_CHECK_OUT/<check>`` when set.
Budgets are the scripts' defaults: about 9 minutes for ``check_verifier``, a few minutes for the others.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from verifier.tests.gpu import check_batch, check_flex, check_shape, check_slots, check_verifier


def _out(tmp_path: Path, name: str) -> str:
    base = os.environ.get("GPU_CHECK_OUT")
    out = Path(base) / name if base else tmp_path / name
    out.mkdir(parents=True, exist_ok=True)
    return str(out)


def test_verifier_fixtures(tmp_path: Path) -> None:
    """Every GPU fixture: cheats rejected naming their class, correct twins accepted, timing and baselines."""
    assert check_verifier.main(["--out", _out(tmp_path, "verifier")]) == 0


def test_batch_keeps_the_gpu_busy(tmp_path: Path) -> None:
    assert check_batch.main(["--out", _out(tmp_path, "batch"), "--n", "20", "--modes", "1,2"]) == 0


def test_flex_attention_baseline() -> None:
    assert check_flex.main() == 0


def test_shape_hardcoding_on_compiled_triton() -> None:
    assert check_shape.main() == 0


@pytest.mark.parametrize("copies", [4])
def test_slots_give_the_same_verdicts(copies: int) -> None:
    assert check_slots.main(["--copies", str(copies)]) == 0
