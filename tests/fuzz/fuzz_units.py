"""Fuzz notifier.units.Directory.split (lead/coordinating cells): never raises, every name
it returns is a known canonical name, and every unknown piece is reported with a warning.

Run: `python tests/fuzz/fuzz_units.py --runs 10000` (see tests/fuzz/_harness.py).
Directory: config.toml's units and groups (23 units, 108 names and variants); the
province-sized directory (`_harness.province_directory()`, 3× the names, so 3× the cost of
each suggestion) is what tests/test_hostile_parsers.py times on 100 kB cells.
Input: the cell as UTF-8, at most 1 KB by default (a lead cell is a line or two).
Seeds: every lead and coordinating cell of the seed plan, and the directory's own names.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

with _harness.instrument():
    from notifier.config import load_config
    from notifier.importers import parse_text

    DIRECTORY = load_config(_harness.ROOT / "config.toml").directory()
KNOWN = {u.name for u in DIRECTORY}


def one_input(data: bytes) -> None:
    cell = _harness.text_of(data)
    split = DIRECTORY.split(cell)
    assert set(split.names) <= KNOWN, split.names
    assert len(split.warnings) >= len(split.unknown), split
    for name in split.names:
        assert DIRECTORY.get(name) is not None, name


def seeds() -> list[bytes]:
    seed = _harness.ROOT.parent / "shared" / "seeds" / "000_6a99d0bb3ce2a896.txt"
    plan = parse_text(seed.read_text(encoding="utf-8"))
    cells = {c for a in plan.activities for c in (a.lead_text, a.coordinating_text) if c}
    cells |= {", ".join(sorted(KNOWN)[i : i + 3]) for i in range(0, len(KNOWN), 3)}
    return [c.encode("utf-8") for c in sorted(cells)]


if __name__ == "__main__":
    _harness.main("units", one_input, seeds, max_len=1024)
