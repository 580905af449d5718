"""memory.trim and daemon.trim_memory give freed heap memory back, every time they are called."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = r"""
import sys
from notifier.daemon import trim_memory

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

def peak_then_free():
    blocks = [bytes(1024) * 2 for _ in range(100_000)]  # ~200 MB from malloc, not pymalloc
    pin = bytearray(4096)  # above them: free() alone cannot shrink the heap
    del blocks
    return pin

drops = []
for _ in range(2):  # the second call must work as the first did
    pin = peak_then_free()
    before = rss_mb()
    trim_memory()
    drops.append(before - rss_mb())
print(" ".join(f"{d:.0f}" for d in drops))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc")
def test_trim_memory_gives_freed_heap_back_each_time() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    first, second = (float(x) for x in out)
    assert first > 100 and second > 100, out  # MB returned by each call
