"""Entry point of the candidate's process: ``python -m verifier._runner CONFIG_JSON CTL_FD``.

The name ``verifier.sandbox.spawn_runner`` starts (and that process listings show); the code is
``verifier.candidate.runner``, the untrusted side of the trust boundary.
"""
from verifier.candidate.runner import main

if __name__ == "__main__":
    main()
