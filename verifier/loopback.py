"""``python -m verifier.loopback CMD ARGS...``: bring the loopback interface up, then become ``CMD``.

A candidate's process starts in a network namespace of its own (``verifier.sandbox``), whose only interface,
``lo``, is down: nothing can be reached, not even 127.0.0.1. Nsight Compute's front-end and the library it
injects into the profiled process talk over TCP on 127.0.0.1 (ncu's ``--port``), so under ncu the
profiled process waits for a connection that never comes. Bringing ``lo`` up inside that namespace gives the
two of them a loopback that reaches nothing outside it. Only profiles use this (``verifier.profile``); a
profile is advice for the next prompt, never a verdict, so what the candidate could say to ncu over it
changes no verdict.
"""
from __future__ import annotations

import fcntl
import os
import socket
import struct
import sys

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = "16sH14x"  # struct ifreq: the interface's name, then ifr_flags (the rest of the union unused)


def bring_up(name: str = "lo") -> None:
    """Set IFF_UP on interface ``name`` (needs CAP_NET_ADMIN in its namespace, which ``unshare -r`` gives)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack(IFREQ, name.encode(), 0)
        flags = struct.unpack(IFREQ, fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        if not flags & IFF_UP:
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(IFREQ, name.encode(), flags | IFF_UP))


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m verifier.loopback CMD [ARGS...]")
    try:
        bring_up()
    except OSError as e:  # the command still runs; if it needs the loopback, it says so itself
        sys.stderr.write(f"verifier.loopback: could not bring lo up: {e}\n")
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
