"""Shared builders for the feed tests: a hand-made plan and a real unit Directory.

Plans are built with notifier.plan types (not the importer) so these tests pin the
feed rules themselves; the seed-based tests live in test_feeds.py / test_clients.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from notifier.plan import Activity, KeyDate, Plan, ReportDuty
from notifier.timing import Timing, TimingKind as K
from notifier.units import Directory, Unit, resolve_plan

ICT = timezone(timedelta(hours=7))
NOW = datetime(2024, 3, 1, 8, 0, tzinfo=ICT)
ON = date(2024, 3, 1)

SVH = "Sở Văn hóa, Thể thao và Du lịch"
SNV = "Sở Ngoại vụ"
VP = "Văn phòng UBND tỉnh"
HLAO = "Hội Hữu nghị Việt Nam - Lào tỉnh"
LH = "Liên hiệp các tổ chức hữu nghị tỉnh"
GROUP = "Các cơ quan, đơn vị liên quan"
HOI = "Các Hội thành viên"


def directory() -> Directory:
    return Directory(
        [
            Unit(SNV, coordinator=True, valid_until=date(2025, 6, 30), successors=(VP,)),
            Unit(VP, coordinator=True),
            Unit(SVH),
            Unit(HLAO, aliases=("Hội hữu nghị Việt Nam - Lào",)),
            Unit(LH),
            Unit("Sở Tài chính"),
            Unit(GROUP, is_group=True, aliases=("các đơn vị liên quan",)),
            Unit(HOI, is_group=True, members=(HLAO,)),
        ],
        province="Đắk Lắk",
    )


def timing(text: str, kind: K, start: date | None, end: date | None, **kw: object) -> Timing:
    return Timing(text, kind, start, end, **kw)  # type: ignore[arg-type]


def plan() -> Plan:
    """A small 2024 plan touching every timing kind and role."""
    p = Plan(
        slug="34-kh-ubnd",
        title="Kế hoạch Ngoại giao văn hóa năm 2024 của tỉnh Đắk Lắk",
        number="34/KH-UBND",
        date=date(2024, 2, 22),
        issuer="UBND tỉnh Đắk Lắk",
        place="Đắk Lắk",
        year=2024,
    )
    acts = [
        Activity("I.1", "Tuyên truyền về Ngoại giao văn hóa trên trang thông tin điện tử",
                 timing("Thường xuyên trong năm 2024", K.CONTINUOUS, date(2024, 1, 1), date(2024, 12, 31)),
                 section="I", lead_text=SNV, coordinating_text=GROUP),
        Activity("II.7", "Chương trình nghệ thuật giao lưu văn hóa tại tỉnh Mondulkiri, Vương quốc Campuchia",
                 timing("Quý II/2024", K.RANGE, date(2024, 4, 1), date(2024, 6, 30)),
                 section="II", section_title="Tăng cường ngoại giao văn hóa", lead_text=SVH,
                 coordinating_text=f"{SNV}, các đơn vị liên quan",
                 funding="Nguồn ngân sách nhà nước năm 2024 cấp cho đơn vị"),
        Activity("III.11", "Gặp mặt học sinh Lào nhân dịp Quốc khánh Lào (02/12/2024)",
                 timing("Tháng 12/2024", K.RANGE, date(2024, 12, 1), date(2024, 12, 31)),
                 section="III", lead_text=HLAO, coordinating_text=GROUP,
                 key_dates=[KeyDate(date(2024, 12, 2), "Quốc khánh Lào", accepted=True)]),
        Activity("III.1", "Giao lưu kỷ niệm 55 năm quan hệ Việt Nam - Thụy Điển (1969 - 2024)",
                 timing("Trong năm 2024", K.RANGE, date(2024, 1, 1), date(2024, 12, 31)),
                 section="III", lead_text=LH, coordinating_text=HOI,
                 key_dates=[KeyDate(date(2024, 1, 11), "Kỷ niệm quan hệ ngoại giao", "anniversary", 55)]),
        Activity("IV.2", "Nộp đề xuất quà tặng đối ngoại",
                 timing("trước ngày 15/6/2024", K.DEADLINE, None, date(2024, 6, 14), bound="before"),
                 section="IV", lead_text=SNV),
        Activity("IV.3", "Họp giao ban đối ngoại",
                 timing("hằng tháng, ngày 25", K.RECURRING, date(2024, 1, 1), date(2024, 12, 31),
                        rule="FREQ=MONTHLY;BYMONTHDAY=25"),
                 section="IV", lead_text=SNV, coordinating_text=SVH),
        Activity("I.3", "Quảng bá Lễ hội Cà phê sau khi Đề án được phê duyệt",
                 timing("sau khi Đề án được phê duyệt", K.CONDITIONAL, None, None,
                        reason="Phụ thuộc việc Đề án được phê duyệt."),
                 section="I", lead_text=SNV, coordinating_text=SVH),
        Activity("IV.9", "Tiếp đoàn khi có yêu cầu",
                 timing("khi có yêu cầu", K.UNDATABLE, None, None, reason="Không có ngày: khi có yêu cầu."),
                 section="IV", lead_text=SVH),
    ]  # fmt: skip
    p.activities.extend(acts)
    p.reports.append(
        ReportDuty("half-year", "half-year", "Báo cáo công tác đối ngoại 6 tháng", to="",
                   to_text=SNV, owners_text=f"{SVH}; {HLAO}")
    )  # fmt: skip
    resolve_plan(p, directory(), on=ON)
    return p


# --- a real server on 127.0.0.1, port 0 (Radicale / httpx style) ------------------------------

import contextlib  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402


@contextlib.contextmanager
def running(app: object) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread; yield its base URL; stop it afterwards."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
