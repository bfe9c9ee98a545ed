"""GPU acceptance checks: pytest tests under the ``gpu`` marker (``test_gpu.py``), skipped without a CUDA GPU
and left out of a plain ``pytest verifier/tests`` run. On a GPU host, from the repository root:

    python -m pytest -m gpu verifier/tests/gpu -q            # all of them, pass/fail
    python -m verifier.tests.gpu.check_verifier --out DIR    # one check as a report (markdown, JSON) in DIR

Each ``check_*`` module is one check with its own ``main(argv)`` (exit code 0 when every verdict is as
expected) and writes the figures docs/benchmarks.md quotes; ``client`` drives a warm verifier the way the
GPU worker does.
"""
