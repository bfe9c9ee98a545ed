"""kernel-search verifier: checks LLM-written GPU kernels against KernelBench-style references.

Entry points: ``python -m verifier verify --request FILE`` and ``python -m verifier inspect --problem FILE``.
The package must stay importable without torch: the parent process imports torch lazily so that it can
start the candidate's process first and let both imports run side by side.
"""

__version__ = "0.1.0"
