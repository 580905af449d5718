"""Giving freed memory back to the system.

Owns `trim()` and `limit_arenas()`. glibc keeps the heap memory Python frees, so a transient
peak (the daemon's feed rebuild) would stay resident for the life of the process;
`malloc_trim` returns it, and one arena keeps threads from each holding their own peak.
Elsewhere (no glibc) they do nothing. libc is found once, without `ctypes.util.find_library`
(which runs `ldconfig -p` in a subprocess at every call).
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

__all__ = ["limit_arenas", "trim"]


@functools.cache
def _libc() -> Any:
    try:
        libc = ctypes.CDLL(None)  # this process's own symbols: libc's on Linux, no ldconfig run
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def trim() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


_M_ARENA_MAX = -8  # mallopt parameter (malloc.h)


def limit_arenas(n: int = 1) -> None:
    """At most `n` malloc arenas. glibc gives each thread that allocates its own, up to 8 a
    core: the daemon loads in one worker thread and reloads in another, and each arena kept
    its own high-water mark (benchmarks/memory.py, 1,000 plans: 203 MB after a reload with
    the default, 195 MB with 2 arenas, 158 MB with 1). Call it before threads start; the GIL
    serialises most allocation anyway."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_ARENA_MAX, n)
