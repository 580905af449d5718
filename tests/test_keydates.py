"""Key dates hidden in activity contents: explicit dates, observances, anniversaries."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.keydates import Observance, anniversary_problems, apply_key_dates, suggest_key_dates
from notifier.plan import Activity, KeyDate, Plan
from notifier.timing import Timing, TimingKind
from notifier.workdays import lunar_to_solar

# Seeded from shared/DOMAIN.md §6 (dates checked there) plus two lunar days.
OBSERVANCES = [
    Observance("Quốc khánh Lào", ("Quốc khánh Lào",), 12, 2),
    Observance("Ngày Quốc tế Yoga", ("Yoga",), 6, 21),
    Observance("Quốc khánh Nhật Bản", ("Quốc khánh Nhật Bản",), 2, 23),
    Observance("Ngày lập quốc Hàn Quốc", ("lập quốc Hàn Quốc",), 10, 3),
    Observance("Giỗ Tổ Hùng Vương", ("Giỗ Tổ",), 3, 10, lunar=True),
    Observance("Tết ông Công ông Táo", ("ông Công ông Táo",), 12, 23, lunar=True),
    Observance("Quan hệ ngoại giao Việt Nam - Thụy Điển", ("Thụy Điển",), 1, 11, founded=1969),
    Observance("Quan hệ ngoại giao Việt Nam - Mông Cổ", ("Mông Cổ",), 11, 17, founded=1954),
    Observance("Quan hệ ngoại giao Việt Nam - Brazil", ("Brazil",), 5, 8, founded=1989),
    Observance("Quan hệ ngoại giao Việt Nam - Nhật Bản", ("Nhật Bản",), 9, 21, founded=1973),
    Observance("Quan hệ ngoại giao Việt Nam - Hàn Quốc", ("Hàn Quốc",), 12, 22, founded=1992),
    Observance("Quan hệ ngoại giao Việt Nam - Lào", ("Lào",), 9, 5, founded=1962),
    Observance("Quan hệ ngoại giao Việt Nam - Campuchia", ("Campuchia",), 6, 24, founded=1967),
]

YEAR_2024 = Timing("Trong năm 2024", TimingKind.RANGE, date(2024, 1, 1), date(2024, 12, 31))


def _month(m: int, year: int = 2024) -> Timing:
    end = (date(year + (m == 12), m % 12 + 1, 1)) - timedelta(days=1)
    return Timing(f"Tháng {m}/{year}", TimingKind.RANGE, date(year, m, 1), end)


def _activity(content: str, timing: Timing = YEAR_2024, ref: str = "III.1") -> Activity:
    return Activity(ref=ref, content=content, timing=timing, line=10)


def _dates(activity: Activity) -> list[tuple[date, str, int | None]]:
    return [(k.date, k.source, k.years) for k in suggest_key_dates(activity, OBSERVANCES)]


def test_explicit_date_in_the_window():
    a = _activity(
        "Gặp mặt tặng quà cho các em học sinh, sinh viên Lào tại Trường Đại học Tây Nguyên "
        "nhân dịp Quốc khánh Lào (02/12/2024)",
        _month(12),
    )
    keyed = suggest_key_dates(a, OBSERVANCES)
    assert [(k.date, k.source, k.label, k.accepted) for k in keyed] == [
        (date(2024, 12, 2), "content", "Quốc khánh Lào", False)
    ]


def test_anniversaries_from_the_config():
    sweden = _activity(
        "Cuộc thi/Giao lưu văn hóa nhân dịp kỷ niệm 55 năm thiết lập quan hệ Ngoại giao "
        "Việt Nam - Thụy Điển (1969 - 2024)"
    )
    assert _dates(sweden) == [(date(2024, 1, 11), "anniversary", 55)]
    mongolia = _activity(
        "Tọa đàm/Gặp mặt nhân dịp kỷ niệm 70 năm thiết lập quan hệ Ngoại giao "
        "Việt Nam - Mông Cổ (1954 - 2024)"
    )
    assert _dates(mongolia) == [(date(2024, 11, 17), "anniversary", 70)]
    assert anniversary_problems(sweden, OBSERVANCES) == []


def test_observances_need_their_keyword_and_anniversaries_a_cue():
    national_day = _activity("Cuộc thi Hùng biện tiếng Nhật nhân dịp Quốc khánh Nhật Bản")
    assert _dates(national_day) == [(date(2024, 2, 23), "observance", None)]
    new_year = _activity("Chương trình Gặp mặt Chúc mừng năm mới Nhật Bản 2024")
    assert _dates(new_year) == []  # "Nhật Bản" without "kỷ niệm"/"thiết lập": no anniversary
    yoga = _activity("Ngày quốc tế Yoga lần thứ 10 và giải Yoga các câu lạc bộ", _month(6))
    assert _dates(yoga) == [(date(2024, 6, 21), "observance", None)]


def test_outside_the_window_nothing_is_suggested():
    a = _activity("Gặp mặt nhân dịp Quốc khánh Lào (02/12/2024)", _month(6))
    assert suggest_key_dates(a, OBSERVANCES) == []
    undated = _activity(
        "Gặp mặt nhân dịp Quốc khánh Lào", Timing("Khi có yêu cầu", TimingKind.UNDATABLE)
    )
    assert suggest_key_dates(undated, OBSERVANCES) == []


def test_dates_of_cited_documents_are_not_key_dates():
    a = _activity("Tuyên truyền Quyết định số 208/QĐ-TTg ngày 14/02/2024 của Thủ tướng Chính phủ")
    assert suggest_key_dates(a, []) == []
    b = _activity("Hội thảo khoa học ngày 15 tháng 3 năm 2024 và giao lưu (21/6)")
    assert [k.date for k in suggest_key_dates(b, [])] == [date(2024, 3, 15), date(2024, 6, 21)]


def test_matching_ignores_case_form_and_tone_placement():
    for content in (
        "KỶ NIỆM 55 NĂM THIẾT LẬP QUAN HỆ NGOẠI GIAO VIỆT NAM - THỤY ĐIỂN",
        unicodedata.normalize("NFD", "kỷ niệm 55 năm quan hệ Việt Nam - Thụy Điển"),
        "kỷ niệm 55 năm quan hệ Việt Nam - Thuỵ Điển",
    ):
        assert [k.date for k in suggest_key_dates(_activity(content), OBSERVANCES)] == [
            date(2024, 1, 11)
        ]
    # "Lao" is not "Lào", "Hàn" is not "Hàn Quốc".
    assert suggest_key_dates(_activity("kỷ niệm ngày thành lập Hội Lao động"), OBSERVANCES) == []


def test_lunar_observances_use_the_vietnamese_calendar():
    gio_to = _activity("Dâng hương Giỗ Tổ Hùng Vương", _month(4))
    assert [k.date for k in suggest_key_dates(gio_to, OBSERVANCES)] == [lunar_to_solar(10, 3, 2024)]
    assert lunar_to_solar(10, 3, 2024) == date(2024, 4, 18)
    # Lunar 23/12 of the lunar year 2023 falls in February 2024; the one of 2024 in 2025.
    tao = Observance("Tết ông Công ông Táo", ("ông Công ông Táo",), 12, 23, lunar=True)
    assert tao.on(2024) == [lunar_to_solar(23, 12, 2023)]
    assert Observance("x", ("x",), 2, 29).on(2023) == []


def test_year_counts_that_disagree_are_warned():
    # Seed III.6: "51 năm … (1973 - 2023)" in a 2024 plan.
    japan = _activity(
        "Chương trình Giao lưu văn hóa Việt Nam - Nhật Bản nhân dịp kỷ niệm 51 năm thiết "
        "lập quan hệ Ngoại giao giữa hai nước (1973 - 2023)",
        ref="III.6",
    )
    [problem] = anniversary_problems(japan, OBSERVANCES)
    assert problem.severity == "warning" and problem.line == 10 and problem.key == "III.6.key_dates"
    assert "2023 - 1973 = 50" in problem.message and "2024" in problem.message
    # Seed III.3: "55 năm … Brazil (1989 - 2024)" is 35 years; the config agrees with the span.
    brazil = _activity(
        "Hội thi nhân dịp kỷ niệm 55 năm thiết lập quan hệ Ngoại giao Việt Nam - Brazil "
        "(1989 - 2024)"
    )
    [problem] = anniversary_problems(brazil, OBSERVANCES)
    assert "35" in problem.message
    assert _dates(brazil) == [(date(2024, 5, 8), "anniversary", 35)]
    # Without any config the text is still checked against itself.
    assert anniversary_problems(brazil, []) != []


def test_apply_keeps_accepted_dates_and_does_not_repeat_warnings():
    plan = Plan(slug="p", title="t", year=2024)
    accepted = KeyDate(date(2024, 3, 1), "Ngày admin chọn", accepted=True)
    a = _activity("Giao lưu kỷ niệm 51 năm quan hệ Việt Nam - Nhật Bản (1973 - 2023)")
    a.key_dates = [accepted]
    plan.activities.append(a)
    apply_key_dates(plan, OBSERVANCES)
    apply_key_dates(plan, OBSERVANCES)
    assert [k.date for k in a.key_dates] == [date(2024, 3, 1), date(2024, 9, 21)]
    assert a.key_dates[0] is accepted
    assert len(plan.problems) == 1


@settings(max_examples=200, deadline=None)
@given(
    st.dates(date(2000, 1, 1), date(2040, 12, 31)),
    st.integers(0, 400),
    st.lists(
        st.sampled_from(
            [
                "Quốc khánh Lào",
                "Yoga",
                "kỷ niệm",
                "Thụy Điển",
                "Giỗ Tổ",
                "(02/12)",
                "ngày 15 tháng 3",
                "(21/6/2024)",
                "31/2/2024",
                "Brazil (1989 - 2024)",
                "số 12/KH-UBND ngày 01/01/2024",
                "55 năm",
                "ông Công ông Táo",
            ]
        ),
        max_size=8,
    ),
)
def test_suggestions_stay_inside_the_window(start: date, length: int, words: list[str]):
    end = start + timedelta(days=length)
    a = _activity(" ".join(words), Timing("x", TimingKind.RANGE, start, end))
    keyed = suggest_key_dates(a, OBSERVANCES)
    assert all(start <= k.date <= end and not k.accepted for k in keyed)
    assert len({k.date for k in keyed}) == len(keyed)
    anniversary_problems(a, OBSERVANCES)  # never raises
