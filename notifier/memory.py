"""Giving freed memory back to the system.

Owns `trim()`: glibc keeps the heap memory Python frees, so a transient peak (the daemon's
feed rebuild) would stay resident for the life of the process; `malloc_trim` returns it.
Elsewhere (no glibc) it does nothing. libc is found once, without `ctypes.util.find_library`
(which runs `ldconfig -p` in a subprocess at every call).
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

__all__ = ["trim"]


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

