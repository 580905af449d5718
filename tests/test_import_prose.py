"""Prose import: the 2019 news page, a news page written in the same style, and the
rules for navigation, enumerations, lead units and inferred timings."""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.importers import parse_text, read_plan
from notifier.text import fold

SEED_2019 = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "001_645accf3a744a29c.txt"
FIXTURES = Path(__file__).parent / "fixtures"
needs_seed = pytest.mark.skipif(not SEED_2019.exists(), reason="seed documents not present")

# Words that occur only in the page's navigation, never in the plan.
NAVIGATION = [
    "Tin đã đưa",
    "Ea H’leo",
    "Luật Chăn nuôi",
    "VIDEO CLIP",
    "Bộ Tư pháp",
    "X.L",
    "thiếu nhi",
    "Cổng thông tin",
    "Hình sự",
]


@pytest.fixture(scope="module")
def plan_2019():
    return read_plan(SEED_2019)


@needs_seed
def test_2019_metadata(plan_2019):
    assert plan_2019.number == "4045/KH-UBND"
    assert plan_2019.date == date(2019, 5, 21)
    assert plan_2019.year == 2019
    assert plan_2019.issuer == "UBND tỉnh Đắk Lắk"
    assert plan_2019.place == "Đắk Lắk"
    assert plan_2019.title == "Kế hoạch Ngoại giao Văn hóa năm 2019 của tỉnh Đắk Lắk"
    assert plan_2019.slug == "4045-kh-ubnd-2019"


@needs_seed
def test_2019_activities_one_per_entry(plan_2019):
    refs = [a.ref for a in plan_2019.activities]
    assert refs == ["1", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6"]
    by_ref = {a.ref: a for a in plan_2019.activities}
    assert by_ref["1"].content.startswith("Tiếp tục tuyên truyền chiến lược Ngoại giao Văn hóa")
    assert by_ref["1"].content.endswith(
        "với bạn bè quốc tế"
    )  # semicolons without a colon: one entry
    assert by_ref["2.1"].content.startswith("Tạo điều kiện để đoàn nghệ thuật của tỉnh Jeollabuk")
    assert by_ref["2.3"].content == "Tổ chức các hoạt động hưởng ứng ngày Yoga thế giới"
    assert by_ref["2.6"].content == (
        "Hưởng ứng các hoạt động chúc mừng nhân ngày thiết lập quan hệ ngoại giao với một số quốc gia"
    )
    assert {a.section_title for a in plan_2019.activities if a.section == "2"} == {
        "Tổ chức các hoạt động giao lưu văn hóa"
    }
    assert all(a.line in (7, 9) for a in plan_2019.activities)


@needs_seed
def test_2019_nothing_from_the_navigation(plan_2019):
    text = fold(" ".join(str(v) for a in plan_2019.activities for v in a.as_json().values()))
    for phrase in NAVIGATION:
        assert fold(phrase) not in text, phrase
    assert plan_2019.reports == []  # "có trách nhiệm báo cáo tình hình …" names no period


@needs_seed
def test_2019_lead_and_inferred_timing_are_said(plan_2019):
    for a in plan_2019.activities:
        assert a.lead_text == "Sở Ngoại vụ"
        assert a.coordinating_text == "các cơ quan, đơn vị liên quan"
        assert a.timing.text == "Trong năm 2019"
    problems = {p.key: p for p in plan_2019.problems}
    assert "Trong năm 2019" in problems["inferred.timing"].message
    assert problems["inferred.timing"].severity == "warning"
    assert (
        "giao nhiệm vụ chung" in problems["inferred.lead"].message
        and problems["inferred.lead"].line == 11
    )


@needs_seed
def test_2019_nfd_and_nfc_agree(plan_2019):
    text = SEED_2019.read_text(encoding="utf-8")
    nfd = parse_text(unicodedata.normalize("NFD", text), source=str(SEED_2019))
    assert nfd.as_json() == plan_2019.as_json()


def test_news_fixture_dashes_stated_timing_and_per_item_lead():
    plan = read_plan(FIXTURES / "news_thong_tin_doi_ngoai_2023.txt")
    assert (plan.number, plan.date, plan.year) == ("120/KH-UBND", date(2023, 3, 15), 2023)
    assert plan.issuer == "UBND tỉnh Quảng Trị"
    assert plan.title == "Kế hoạch thông tin đối ngoại năm 2023 của tỉnh Quảng Trị"
    got = {a.ref: a for a in plan.activities}
    assert list(got) == ["1", "2", "3"]
    # The item's own assignment beats the general one.
    assert (got["1"].lead_text, got["1"].coordinating_text) == (
        "Sở Thông tin và Truyền thông",
        "Báo Quảng Trị",
    )
    assert got["2"].lead_text == "Sở Ngoại vụ"
    # A stated timing is used; the others are inferred and listed in one warning.
    assert got["2"].timing.text == "Trong tháng 9/2023"
    assert got["3"].timing.text == "Trong năm 2023"
    inferred = next(p for p in plan.problems if p.key == "inferred.timing")
    assert "(1, 3)" in inferred.message
    # Navigation and the "PV" signature are left out.
    assert not any("Savannakhet" in a.content or "tổng kết" in a.content for a in plan.activities)
    # "định kỳ 6 tháng và năm báo cáo … về UBND tỉnh (qua Sở Ngoại vụ)", owed by Sở Ngoại vụ.
    assert [(r.period, r.to, r.owners_text) for r in plan.reports] == [
        ("half-year", "UBND tỉnh", "Sở Ngoại vụ"),
        ("annual", "UBND tỉnh", "Sở Ngoại vụ"),
    ]
    assert plan.reports[0].to_text == "UBND tỉnh (qua Sở Ngoại vụ)"


def test_page_without_plan_sentence_or_items_reports_it():
    plan = parse_text(
        "TIN TỨC\nHôm nay trời đẹp và mọi người đi làm đúng giờ, không có gì đặc biệt xảy ra ở cơ quan cả.\nTin liên quan\n"
    )
    assert plan.activities == []
    messages = " ".join(p.message for p in plan.problems)
    assert "Kế hoạch số" in messages and "Không tìm thấy hoạt động" in messages


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            [
                "ngày 21/5/2019, UBND tỉnh ban hành Kế hoạch số 4045/KH-UBND về Ngoại giao Văn hóa năm 2019:",
                "1. Tổ chức các hoạt động như: a; b; c.",
                "2. Tuyên truyền (giao Sở Ngoại vụ chủ trì).",
                "- Gặp mặt",
                "Tin đã đưa",
                "• Tin ( 01/01/2019 )",
                "X.L",
                "UBND tỉnh giao Sở Ngoại vụ là cơ quan đầu mối.",
                "báo cáo 6 tháng, năm về Sở Ngoại vụ",
                ":",
                ";",
                "1.",
                "",
                "Kế hoạch",
            ]
        ),
        max_size=30,
    )
)
def test_prose_pieces_never_raise(pieces: list[str]):
    plan = parse_text("\n".join(pieces))
    assert all(a.content for a in plan.activities)


def test_navigation_never_lends_metadata_or_activities():
    lines = [
        "TIN TỨC & SỰ KIỆN",
        "Triển khai công tác đối ngoại nhân dân năm 2020",
        (
            "Nhằm tăng cường công tác đối ngoại nhân dân, UBND tỉnh đề nghị các hội hữu nghị "
            "tập trung thực hiện một số nhiệm vụ trong năm 2020 như sau:"
        ),
        "1. Tổ chức gặp mặt hữu nghị nhân dịp Quốc khánh Lào.",
        "N.T.H",
        "Tin đã đưa",
        "1. UBND tỉnh ban hành Kế hoạch số 99/KH-UBND về phòng, chống thiên tai ( 01/06/2020 )",
        "2. Hội nghị sơ kết công tác 6 tháng đầu năm ( 30/05/2020 )",
    ]
    plan = parse_text("\n".join(lines))
    assert [a.content for a in plan.activities] == [
        "Tổ chức gặp mặt hữu nghị nhân dịp Quốc khánh Lào"
    ]
    assert plan.number == "" and plan.reports == []
    assert any(p.key == "plan" for p in plan.problems)
