"""Import benchmark: parse_text on a generated 10,000-activity flattened plan, and the seeds.

Run: `.venv/bin/python benchmarks/import.py [--activities 10000] [--repeat 3]`

1. A flattened plan in the seed's style is generated (fixed random seed): 25 Roman
   sections, one cell a line, unique contents wrapped over 1-3 lines, unit lists and
   timings wrapped at joining words, 40 % of coordinating cells missing, one line in
   twenty in NFD. `parse_text` reads it with cold caches (the recognisers' caches are
   cleared before each run); the best of --repeat runs is reported with activities/s,
   the ratio to the target (2 s for 10,000 activities on this 2-core machine; > 1 means
   faster than the target), the CPU time of the process (the wall clock of an idle
   machine) and the multiple of the floor measured in the same run: just
   splitting and cleaning the lines (notifier.importers.cells.split_lines), which every
   text importer must do.
2. `read_plan` on the two seed documents (2024 table, 2019 prose page), best of 20.
3. Formats: a 2,000-activity plan (same generator, another random seed) is read as text
   (the anchor, measured in the same run) and written as DOCX, XLSX, CSV and PDF by the
   test fixture builders (tests/fixtures/builders.py, pdfgen.py: a ruled table, header
   repeated on every page); `read_plan` reads each file, best of --format-repeat runs
   (PDF: one run unless --pdf-repeat), and every format must give the text import's
   activities (ref, content, units, timing, funding) or the script fails. Printed: file
   size, seconds, activities/s and the multiple of the text anchor.
The result is checked (activity count, a sample of rows) so a fast wrong answer fails.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the fixture builders

from notifier.importers import cells, parse_text, read_plan
from notifier.importers.cells import split_lines

SEEDS = ROOT.parent / "shared" / "seeds"
TARGET_S_PER_10K = 2.0

ROMANS = [
    "I",
    "II",
    "III",
    "IV",
    "V",
    "VI",
    "VII",
    "VIII",
    "IX",
    "X",
    "XI",
    "XII",
    "XIII",
    "XIV",
    "XV",
    "XVI",
    "XVII",
    "XVIII",
    "XIX",
    "XX",
    "XXI",
    "XXII",
    "XXIII",
    "XXIV",
    "XXV",
]
LEADS = [
    "Sở Ngoại vụ",
    "Sở Văn hóa, Thể thao và Du lịch",
    "Sở Giáo dục và Đào tạo",
    "Công an tỉnh",
    "Hội Hữu nghị Việt Nam - Lào tỉnh",
    "Liên hiệp các tổ chức hữu nghị tỉnh",
    "UBND huyện Ea Súp",
    "Sở Ngoại vụ; Sở Văn hóa, Thể thao và Du lịch; các cơ quan, đơn vị liên quan",
    "Tỉnh đoàn",
    "Các cơ quan, đơn vị, địa phương trong tỉnh",
    "Đài Phát thanh - Truyền hình tỉnh",
]
COORDS = [
    "Các cơ quan, đơn vị liên quan",
    "Các đơn vị liên quan",
    "Sở Ngoại vụ, các đơn vị liên quan",
    "UBND các huyện, thị xã, thành phố",
    "Sở Tài chính, Sở Ngoại vụ",
]
TIMINGS = [
    "Trong năm 2024",
    "Thường xuyên trong năm 2024",
    "Quý II/2024",
    "Quý III/2024",
    "Tháng 10/2024",
    "6 tháng đầu năm 2024",
    "Từ tháng 3 đến tháng 5/2024",
    "Hằng quý",
    "Trước ngày 15/6/2024",
    "02/12/2024",
]
FUNDINGS = [
    "Không phát sinh",
    "Nguồn ngân sách nhà nước năm 2024 cấp cho đơn vị",
    "Nguồn xã hội hoá",
    "Không phát sinh kinh phí",
    "Kinh phí sự nghiệp văn hóa",
]
OPENERS = [
    "Tổ chức",
    "Tuyên truyền",
    "Chương trình",
    "Gặp mặt",
    "Hội thảo",
    "Tọa đàm",
    "Tham dự",
    "Xây dựng",
    "Biên soạn",
    "Giới thiệu",
    "Cuộc thi",
    "Đón tiếp",
]
WORDS = [
    "giao",
    "lưu",
    "văn",
    "hóa",
    "đối",
    "ngoại",
    "nhân",
    "dân",
    "hữu",
    "nghị",
    "tại",
    "tỉnh",
    "với",
    "các",
    "đối",
    "tác",
    "nước",
    "ngoài",
    "quảng",
    "bá",
    "hình",
    "ảnh",
    "du",
    "lịch",
    "di",
    "sản",
    "cho",
    "học",
    "sinh",
    "sinh",
    "viên",
    "của",
    "tỉnh",
    "bằng",
    "tiếng",
    "Anh",
    "kỷ",
    "niệm",
    "quan",
    "hệ",
    "các",
    "hoạt",
    "động",
    "trong",
    "khuôn",
    "khổ",
    "hợp",
    "tác",
    "phóng",
    "viên",
    "báo",
    "chí",
    "thường",
    "xuyên",
]
PLACES = ["Lào", "Campuchia", "Hàn Quốc", "Nhật Bản", "Mondulkiri", "Jeollabuk", "Sê Kông"]


def generate(n: int, rng: random.Random) -> tuple[str, list[tuple[str, str, str, str]]]:
    """A flattened plan of `n` activities and, per row, (ref, content, lead, timing)."""
    lines = [
        "Số: 99/KH-UBND",
        "Đắk Lắk, ngày 10 tháng 01 năm 2024",
        "KẾ HOẠCH",
        "NGOẠI GIAO VĂN HÓA NĂM 2024",
        "báo cáo kết quả trong báo cáo 6 tháng, hằng năm gửi Sở Ngoại vụ.",
        "PHỤ LỤC",
        "Stt",
        "Nội dung",
        "Đơn vị chủ   trì",
        "Đơn vị phối hợp",
        "Thời gian thực hiện",
        "Kinh phí   thực hiện",
    ]
    expected = []
    per_section = -(-n // len(ROMANS))
    for s, mark in enumerate(ROMANS):
        rows = min(per_section, n - s * per_section)
        if rows <= 0:
            break
        lines += [mark, f"Nhóm hoạt động số {s + 1} về ngoại giao văn hóa"]
        for k in range(1, rows + 1):
            words = rng.sample(WORDS, rng.randint(6, 16))
            content = " ".join([rng.choice(OPENERS), *words, "tại", rng.choice(PLACES)])
            lead = rng.choice(LEADS)
            timing = rng.choice(TIMINGS)
            lines.append(str(k))
            lines += _wrap(content, rng)
            lines.append(lead)
            if rng.random() < 0.6:
                lines.append(rng.choice(COORDS))
            lines.append(timing)
            lines.append(rng.choice(FUNDINGS))
            expected.append((f"{mark}.{k}", content, lead, timing))
    text = "\n".join(
        unicodedata.normalize("NFD", line) if rng.random() < 0.05 else line for line in lines
    )
    return text, expected


def _wrap(text: str, rng: random.Random) -> list[str]:
    """Break a content cell at 0-2 spaces followed by a lower-case word."""
    words = text.split(" ")
    cuts = [i for i in range(2, len(words)) if words[i][:1].islower()]
    chosen = sorted(rng.sample(cuts, min(len(cuts), rng.randint(0, 2))))
    bounds = [0, *chosen, len(words)]
    return [" ".join(words[a:b]) for a, b in pairwise(bounds)]


def _cold() -> None:
    cells.key.cache_clear()
    cells.kind_of.cache_clear()


def best(fn: Callable[[], object], repeat: int) -> float:
    return best_wall_cpu(fn, repeat)[0]


def best_wall_cpu(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU time (this process) over `repeat` cold runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        _cold()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--format-activities", type=int, default=2_000)
    parser.add_argument("--format-repeat", type=int, default=3)
    parser.add_argument("--pdf-repeat", type=int, default=1)
    parser.add_argument("--skip-formats", action="store_true")
    args = parser.parse_args()

    text, expected = generate(args.activities, random.Random(20240222))
    n_lines = text.count("\n") + 1
    plan = parse_text(text)
    got = [(a.ref, a.content, a.lead_text, a.timing.text) for a in plan.activities]
    if got != expected:
        wrong = sum(g != e for g, e in zip(got, expected)) + abs(len(got) - len(expected))
        print(f"SAI: {wrong} hàng đọc sai trên {len(expected)}", file=sys.stderr)
        return 1

    floor = best(lambda: split_lines(text), args.repeat)
    elapsed, cpu = best_wall_cpu(lambda: parse_text(text), args.repeat)
    target = TARGET_S_PER_10K * args.activities / 10_000
    print(
        f"generated plan: {args.activities} activities, {n_lines} lines, {len(text) / 1e6:.1f} MB"
    )
    print(
        f"parse_text:     {elapsed:.3f} s  ({args.activities / elapsed:,.0f} activities/s, "
        f"{n_lines / elapsed:,.0f} lines/s)"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"cpu time:       {cpu:.3f} s  (this process; load average {load:.1f} on "
        f"{os.cpu_count()} cores, so other jobs stretch the wall clock)"
    )
    print(
        f"target:         {target:.1f} s  → ratio target/actual = {target / elapsed:.2f}x "
        f"({'meets' if elapsed <= target else 'MISSES'} the target)"
    )
    print(
        f"floor (split+clean lines only): {floor:.3f} s → parse_text = {elapsed / floor:.1f}x the floor"
    )
    print(f"problems reported: {len(plan.problems)}; report duties: {len(plan.reports)}")

    for name in ("000_6a99d0bb3ce2a896.txt", "001_645accf3a744a29c.txt"):
        path = SEEDS / name
        if not path.exists():
            print(f"{name}: not found, skipped")
            continue
        seed_plan = read_plan(path)
        t = best(lambda p=path: read_plan(p), 20)
        print(
            f"read_plan {name}: {t * 1000:.2f} ms ({len(seed_plan.activities)} activities, "
            f"{len(seed_plan.reports)} duties)"
        )
    if not args.skip_formats and not bench_formats(args):
        return 1
    return 0 if elapsed <= target else 2


def _row(a) -> tuple:
    return (a.ref, a.content, a.lead_text, a.coordinating_text, a.timing.text, a.funding)


def bench_formats(args: argparse.Namespace) -> bool:
    """Each format for one generated plan, against the text import of the same plan."""
    from fixtures import pdfgen
    from fixtures.builders import spec_from_plan, write_csv, write_docx, write_xlsx

    n = args.format_activities
    text, _ = generate(n, random.Random(20240615))
    reference = parse_text(text)
    want = [_row(a) for a in reference.activities]
    lines = text.split("\n")
    spec = spec_from_plan(reference, lines[:5], ["PHỤ LỤC"])
    anchor, anchor_cpu = best_wall_cpu(lambda: parse_text(text), args.format_repeat)
    print(f"\nformats: a {n}-activity plan ({len(spec.rows)} table rows)")
    print(
        f"  text (anchor)  {len(text) / 1e6:5.2f} MB  {anchor:7.3f} s  {n / anchor:8,.0f} act/s"
        f"              cpu {anchor_cpu:.3f} s"
    )
    writers = {
        "docx": lambda p: write_docx(spec, p),
        "xlsx": lambda p: write_xlsx(spec, p),
        "csv": lambda p: write_csv(spec, p, delimiter=";"),
        "pdf": lambda p: p.write_bytes(
            pdfgen.table_pdf(spec.body, spec.heading, spec.header, spec.rows, furniture=True)
        ),
    }
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        for fmt, write in writers.items():
            path = Path(folder) / f"ke-hoach.{fmt}"
            write(path)
            got = [_row(a) for a in read_plan(path).activities]
            if got != want:
                wrong = sum(g != w for g, w in zip(got, want)) + abs(len(got) - len(want))
                print(f"  {fmt}: SAI, {wrong} hàng khác bản văn bản", file=sys.stderr)
                ok = False
                continue
            repeat = args.pdf_repeat if fmt == "pdf" else args.format_repeat
            wall, cpu = best_wall_cpu(lambda p=path: read_plan(p), repeat)
            extra = ""
            if fmt == "pdf":
                import pdfplumber

                with pdfplumber.open(path) as pdf:
                    pages = len(pdf.pages)
                extra = f"  {pages} pages, {cpu / pages * 1000:.0f} ms cpu/page"
            print(
                f"  {fmt:<14} {path.stat().st_size / 1e6:5.2f} MB  {wall:7.3f} s  "
                f"{n / wall:8,.0f} act/s  {wall / anchor:6.1f}x text  cpu {cpu:.3f} s "
                f"({cpu / anchor_cpu:.1f}x text){extra}"
            )
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
