"""Tests for notifier/units.py: the unit directory shipped in config.toml, cell splitting
on the 2024 seed's real cells, successors, groups, and the `notifier units` command."""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from notifier.cli import app
from notifier.errors import ConfigError
from notifier.plan import Activity, Plan, ReportDuty
from notifier.text import fold
from notifier.timing import Timing, TimingKind
from notifier.units import Directory, Unit, directory_from_toml, resolve_plan

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config.toml"
SEED = ROOT.parent / "shared" / "seeds" / "000_6a99d0bb3ce2a896.txt"

DOC = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
DIRECTORY = directory_from_toml(DOC)

SNGV = "Sở Ngoại vụ"
VHTTDL = "Sở Văn hóa, Thể thao và Du lịch"
LIEN_QUAN = "Các cơ quan, đơn vị liên quan"
TRONG_TINH = "Các cơ quan, đơn vị, địa phương trong tỉnh"
HOI_LAO = "Hội Hữu nghị Việt Nam - Lào tỉnh"
LHHN = "Liên hiệp các tổ chức hữu nghị tỉnh"
BEFORE = date(2025, 6, 30)
AFTER = date(2025, 7, 1)


def seed_line(number: int) -> str:
    if not SEED.exists():
        pytest.skip(f"seed plan not found at {SEED}")
    return SEED.read_text(encoding="utf-8").splitlines()[number - 1]


# Every lead/coordinating cell of the 2024 seed's appendix, by line number in the seed
# file (the cell text itself is read from the file, never retyped here).
SEED_CELLS = [
    (48, [TRONG_TINH]),
    (53, [SNGV]),
    (54, [LIEN_QUAN]),
    (59, [SNGV]),
    (60, [LIEN_QUAN]),
    (67, [SNGV, LHHN, "Các Hội thành viên"]),
    (72, [VHTTDL, SNGV, LIEN_QUAN]),
    (77, ["Sở Thông tin và Truyền thông"]),
    (78, [LIEN_QUAN]),
    (83, [SNGV, VHTTDL, LIEN_QUAN]),
    (88, [HOI_LAO]),
    (89, [LIEN_QUAN]),
    (94, ["Hội Hữu nghị Việt Nam - Campuchia tỉnh"]),
    (100, [VHTTDL]),
    (112, ["UBND huyện Ea Súp"]),
    (126, [LHHN]),
    (127, [LIEN_QUAN]),
    (144, ["Hội Hữu nghị Việt Nam - Nhật Bản tỉnh"]),
    (162, ["Hội Hữu nghị Việt Nam - Hàn Quốc tỉnh"]),
    (174, [HOI_LAO, "UBND huyện Buôn Đôn", LIEN_QUAN]),
    (180, [SNGV, LIEN_QUAN]),
    (185, [HOI_LAO]),
    (203, [SNGV, VHTTDL, TRONG_TINH]),
    (208, [TRONG_TINH]),
    (219, [SNGV]),
    (220, [VHTTDL]),
    (225, [TRONG_TINH]),
]


@pytest.mark.parametrize(("line", "expected"), SEED_CELLS)
def test_every_seed_cell_splits_right(line: int, expected: list[str]) -> None:
    result = DIRECTORY.split(seed_line(line))
    assert result.names == expected
    assert result.unknown == []
    assert result.warnings == []


def test_report_owners_sentence_of_the_seed_splits_into_groups() -> None:
    # Section IV.1 names who owes the reports; the importer hands over this part.
    sentence = seed_line(18)
    owners = sentence.split("chủ động")[0].removeprefix("1.").strip()
    assert DIRECTORY.split(owners).names == [
        "Các sở, ban, ngành",
        "UBND các huyện, thị xã, thành phố",
        "Các tổ chức đoàn thể",
        LIEN_QUAN,
    ]


# --- matching ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("Hội hữu nghị Việt Nam - Lào tỉnh", HOI_LAO),
        ("Hội Hữu nghị Việt Nam – Lào tỉnh", HOI_LAO),
        ("HỘI HỮU NGHỊ VIỆT NAM-LÀO TỈNH", HOI_LAO),
        ("Hội hữu nghị Việt Nam - Lào tỉnh Đắk Lắk", HOI_LAO),
        ("Sở Văn hoá, Thể thao và Du lịch", VHTTDL),
        ("sở văn hóa thể thao và du lịch", VHTTDL),
        ("Sở VH, TT&DL", VHTTDL),
        (unicodedata.normalize("NFD", "Sở Văn hóa, Thể thao và Du lịch"), VHTTDL),
        ("  Sở   Ngoại  vụ ", SNGV),
        ("Sở Ngoại vụ tỉnh Đắk Lắk", SNGV),
        ("Ủy ban nhân dân huyện Ea Súp", "UBND huyện Ea Súp"),
        ("Uỷ ban nhân dân huyện Ea Súp", "UBND huyện Ea Súp"),
        ("Văn phòng Ủy ban nhân dân tỉnh", "Văn phòng UBND tỉnh"),
        ("Sở KH&CN", "Sở Khoa học và Công nghệ"),
        ("các đơn vị có liên quan", LIEN_QUAN),
    ],
)
def test_get_ignores_case_form_tone_placement_and_abbreviations(
    written: str, canonical: str
) -> None:
    unit = DIRECTORY.get(written)
    assert unit is not None and unit.name == canonical


def test_without_diacritics_matches_only_as_last_resort_and_says_so() -> None:
    result = DIRECTORY.split("So Ngoai vu, UBND huyen Ea Sup")
    assert result.names == [SNGV, "UBND huyện Ea Súp"]
    assert any("viết không dấu" in w and "So Ngoai vu" in w for w in result.warnings)
    # Half-typed diacritics are a typo, not "no diacritics": reported, with the closest name.
    typo = DIRECTORY.split("Sở Ngoai vu")
    assert typo.names == [] and typo.unknown == ["Sở Ngoai vu"]
    assert typo.warnings == ["Không tìm thấy đơn vị “Sở Ngoai vu”; có phải là “Sở Ngoại vụ”?"]


def test_without_diacritics_never_picks_among_several_units() -> None:
    directory = Directory([Unit("Hội Lào"), Unit("Hội Lão", slug="hoi-lao-2")])
    assert directory.get("Hoi Lao") is None
    assert directory.split("Hoi Lao").unknown == ["Hoi Lao"]
    assert directory.get("hội lão").name == "Hội Lão"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("typed", "closest"),
    [
        ("Sở Ngoai vu", SNGV),
        ("So Tai Chinh tinh", "Sở Tài chính"),
        ("Sở Văn hóa Thể thao", VHTTDL),
        ("Hội hữu nghị Việt Nam - Lào", HOI_LAO),
        ("Liên hiệp các hội hữu nghị tỉnh", LHHN),
    ],
)
def test_unknown_names_get_the_closest_known_one(typed: str, closest: str) -> None:
    assert DIRECTORY.closest(typed) == closest


def test_nothing_close_gives_no_suggestion() -> None:
    assert DIRECTORY.closest("Công ty TNHH Xây dựng Bình Minh") is None
    result = DIRECTORY.split("Công ty TNHH Xây dựng Bình Minh")
    assert result.warnings == [
        "Không tìm thấy đơn vị “Công ty TNHH Xây dựng Bình Minh” trong danh mục."
    ]


def test_unknown_pieces_keep_names_with_va_whole_and_split_at_new_units() -> None:
    result = DIRECTORY.split("Sở Tài nguyên và Môi trường, Sở Ngoai vu và Sở Tài chính")
    assert result.unknown == ["Sở Tài nguyên và Môi trường", "Sở Ngoai vu"]
    assert result.names == ["Sở Tài chính"]


def test_slash_newline_parentheses_and_joiners() -> None:
    assert DIRECTORY.split("Sở Tài chính/Sở Nội vụ\nSở Ngoại vụ").names == [
        "Sở Tài chính",
        "Sở Nội vụ",
        SNGV,
    ]
    noted = DIRECTORY.split("Sở Ngoại vụ (chủ trì), và các đơn vị liên quan")
    assert noted.names == [SNGV, LIEN_QUAN] and noted.unknown == []
    assert noted.warnings == ["Bỏ qua ghi chú trong ngoặc “(chủ trì)”."]


@given(st.text(max_size=200))
def test_split_never_raises_and_unknown_pieces_come_from_the_cell(text: str) -> None:
    result = DIRECTORY.split(text, on=AFTER)
    folded = fold(text)
    for piece in result.unknown:
        assert fold(piece) in folded
    for name in result.names:
        assert DIRECTORY.get(name) is not None


# --- hypothesis: random cells built from directory names --------------------------------------

_TONE = "\u0300\u0301\u0303\u0309\u0323"
_TONE_ON_FIRST = re.compile(rf"([oOuU])([{_TONE}])([aAeEyY])(?![\w\u0300-\u036f])")
_TONE_ON_SECOND = re.compile(rf"([oOuU])([aAeEyY])([{_TONE}])(?![\w\u0300-\u036f])")


def other_tone_placement(text: str) -> str:
    """ "hóa" ↔ "hoá", "thủy" ↔ "thuỷ": move the tone mark of a final oa/oe/uy."""
    nfd = unicodedata.normalize("NFD", text)
    if _TONE_ON_FIRST.search(nfd):
        nfd = _TONE_ON_FIRST.sub(r"\1\3\2", nfd)
    else:
        nfd = _TONE_ON_SECOND.sub(r"\1\3\2", nfd)
    return unicodedata.normalize("NFC", nfd)


def test_other_tone_placement_helper_really_moves_marks() -> None:
    assert other_tone_placement("Văn hóa") == "Văn hoá"
    assert other_tone_placement("Uỷ ban") == "Ủy ban"
    assert fold(other_tone_placement("Văn hóa")) == fold("Văn hóa")


@st.composite
def styled(draw: st.DrawFn, text: str) -> str:
    if "UBND" in text and draw(st.booleans()):
        text = text.replace("UBND", draw(st.sampled_from(["Ủy ban nhân dân", "Uỷ ban nhân dân"])))
    if draw(st.booleans()):
        text = other_tone_placement(text)
    text = text.replace(" - ", draw(st.sampled_from([" - ", " – ", "-", "  —  "])))
    text = draw(st.sampled_from([str, str.lower, str.upper, str.title]))(text)
    form = draw(st.sampled_from(["NFC", "NFD"]))
    return draw(st.sampled_from(["", " "])) + unicodedata.normalize(form, text)


ALL_UNITS = list(DIRECTORY)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(ALL_UNITS), min_size=1, max_size=5, unique_by=lambda u: u.name),
    st.data(),
)
def test_split_recovers_random_lists_of_units(units: list[Unit], data: st.DataObject) -> None:
    cell = ""
    for index, unit in enumerate(units):
        written = data.draw(st.sampled_from((unit.name, *unit.aliases)), label="written")
        if index:
            cell += data.draw(st.sampled_from([", ", "; ", " và ", "\n"]), label="separator")
        cell += data.draw(styled(written), label="styled")
    result = DIRECTORY.split(cell)
    assert result.names == [u.name for u in units]
    assert result.unknown == []


# --- validity, successors, groups -------------------------------------------------------------


def test_sngv_receives_until_30_6_2025_then_van_phong_ubnd_tinh() -> None:
    before = DIRECTORY.route(SNGV, on=BEFORE)
    assert [u.name for u in before.units] == [SNGV] and before.warnings == ()
    after = DIRECTORY.route(SNGV, on=AFTER)
    assert [u.name for u in after.units] == ["Văn phòng UBND tỉnh"]
    assert after.warnings == (
        "Sở Ngoại vụ hết hiệu lực từ 01/07/2025; thư gửi Văn phòng UBND tỉnh.",
    )


def test_districts_and_merged_departments_resolve_to_successors() -> None:
    assert [u.name for u in DIRECTORY.recipients("UBND huyện Buôn Đôn", AFTER)] == [
        "UBND xã Buôn Đôn"
    ]
    assert [u.name for u in DIRECTORY.recipients("UBND huyện Buôn Đôn", BEFORE)] == [
        "UBND huyện Buôn Đôn"
    ]
    assert [u.name for u in DIRECTORY.recipients("Sở Thông tin và Truyền thông", AFTER)] == [
        "Sở Khoa học và Công nghệ"
    ]
    assert DIRECTORY.recipients("Sở Văn hóa, Thể thao và Du lịch", AFTER)[0].name == VHTTDL
    # A unit created by the reorganisation does not receive mail before it exists.
    early = DIRECTORY.route("UBND xã Buôn Đôn", on=BEFORE)
    assert early.units == () and "chỉ có hiệu lực từ 01/07/2025" in early.warnings[0]


def test_split_on_a_date_warns_about_superseded_units() -> None:
    result = DIRECTORY.split(seed_line(174), on=AFTER)
    assert result.names == [HOI_LAO, "UBND huyện Buôn Đôn", LIEN_QUAN]
    assert result.warnings == [
        "UBND huyện Buôn Đôn hết hiệu lực từ 01/07/2025; thư gửi UBND xã Buôn Đôn."
    ]
    assert DIRECTORY.split(seed_line(174), on=BEFORE).warnings == []


def test_successor_chains_are_followed() -> None:
    directory = Directory(
        [
            Unit("Sở A", valid_until=date(2020, 12, 31), successors=("Sở B",)),
            Unit("Sở B", valid_until=date(2022, 12, 31), successors=("Sở C", "Sở D")),
            Unit("Sở C", email="c@example.org"),
            Unit("Sở D", email="d@example.org"),
        ]
    )
    route = directory.route("Sở A", on=date(2024, 1, 1))
    assert [u.name for u in route.units] == ["Sở C", "Sở D"]
    assert route.warnings == (
        "Sở A hết hiệu lực từ 01/01/2021; thư gửi Sở B.",
        "Sở B hết hiệu lực từ 01/01/2023; thư gửi Sở C, Sở D.",
    )
    assert [u.name for u in directory.recipients("Sở A", date(2021, 6, 1))] == ["Sở B"]


def test_successor_cycles_do_not_hang() -> None:
    gone = date(2020, 1, 1)
    directory = Directory(
        [
            Unit("Sở A", valid_until=gone, successors=("Sở B",)),
            Unit("Sở B", valid_until=gone, successors=("Sở A",)),
            Unit("Sở C", valid_until=gone, successors=("Sở C",)),
        ]
    )
    route = directory.route("Sở A", on=date(2024, 1, 1))
    assert route.units == ()
    assert any("Vòng lặp đơn vị kế thừa: Sở A → Sở B → Sở A" in w for w in route.warnings)
    assert directory.recipients("Sở C", date(2024, 1, 1)) == []


def test_groups_expand_only_through_members() -> None:
    assert DIRECTORY.recipients(LIEN_QUAN, AFTER) == []
    assert "chưa khai báo thành viên" in DIRECTORY.route(LIEN_QUAN, on=AFTER).warnings[0]
    members = [u.name for u in DIRECTORY.recipients("các Hội thành viên", AFTER)]
    assert members == [
        HOI_LAO,
        "Hội Hữu nghị Việt Nam - Campuchia tỉnh",
        "Hội Hữu nghị Việt Nam - Nhật Bản tỉnh",
        "Hội Hữu nghị Việt Nam - Hàn Quốc tỉnh",
    ]
    assert all(not u.is_group for u in DIRECTORY.recipients("các Hội thành viên", AFTER))


def test_nested_groups_and_superseded_members() -> None:
    directory = Directory(
        [
            Unit("Sở A", valid_until=date(2025, 6, 30), successors=("Sở B",)),
            Unit("Sở B"),
            Unit("Các sở", is_group=True, members=("Sở A", "Sở B")),
            Unit("Tất cả", is_group=True, members=("Các sở", "Tất cả")),
        ]
    )
    assert [u.name for u in directory.recipients("Tất cả", BEFORE)] == ["Sở A", "Sở B"]
    assert [u.name for u in directory.recipients("Tất cả", AFTER)] == ["Sở B"]


# --- directory consistency --------------------------------------------------------------------


def test_shipped_slugs_are_unique_ascii_and_coordinators_set() -> None:
    slugs = [u.slug for u in DIRECTORY]
    assert len(slugs) == len(set(slugs))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s) for s in slugs)
    assert {u.name for u in DIRECTORY if u.coordinator} == {SNGV, "Văn phòng UBND tỉnh"}
    assert DIRECTORY.by_slug("so-ngoai-vu").name == SNGV  # type: ignore[union-attr]
    for unit in DIRECTORY:
        assert unit.is_group or (unit.email or "").endswith("@example.org")
        assert all(ord(c) < 128 for c in unit.email or "")


def test_names_that_collide_once_folded_are_rejected_listing_both() -> None:
    with pytest.raises(ConfigError) as caught:
        Directory(
            [
                Unit("Sở Văn hóa", aliases=("SVH",)),
                Unit("Sở văn hoá"),
                Unit("Ban X", aliases=("svh",)),
            ]
        )
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "“Sở văn hoá” (đơn vị “Sở văn hoá”) trùng với “Sở Văn hóa” (đơn vị “Sở Văn hóa”)" in text
    assert "“svh” (đơn vị “Ban X”) trùng với “SVH” (đơn vị “Sở Văn hóa”)" in text


def test_abbreviated_and_full_forms_collide_too() -> None:
    with pytest.raises(ConfigError, match="1 lỗi"):
        Directory([Unit("UBND huyện Lắk"), Unit("Ủy ban nhân dân huyện Lắk", slug="x")])


def test_bad_slugs_emails_and_links_are_all_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Directory(
            [
                Unit("Sở A", slug="sở-a"),
                Unit("Sở B", slug="dup", email="không-phải-email"),
                Unit("Sở C", slug="dup", successors=("Sở Ngoai vu",)),
                Unit("Sở Ngoại vụ", members=("Sở A",)),
            ]
        )
    messages = [p.message for p in caught.value.problems]
    assert len(messages) == 5
    assert any("chỉ được gồm chữ a-z" in m for m in messages)
    assert any("trùng với “Sở B”" in m for m in messages)
    assert any("email" in m for m in messages)
    assert any("“Sở Ngoai vu”, không có trong danh mục" in m for m in messages)
    hints = [p.hint for p in caught.value.problems]
    assert "Có phải là “Sở Ngoại vụ”?" in hints


def test_directory_from_toml_reports_unknown_keys_and_types() -> None:
    doc = {
        "units": [
            {"name": "Sở A", "emial": "a@example.org"},
            {"name": "Sở B", "valid_until": "30/6/2025", "aliases": "B"},
            {"aliases": ["X"]},
        ],
        "groups": [{"name": "Nhóm", "members": ["Sở Z"], "email": "n@example.org"}],
    }
    with pytest.raises(ConfigError) as caught:
        directory_from_toml(doc)
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "khóa “emial” không hợp lệ; có phải là “email”?" in text
    assert "valid_until = '30/6/2025' không phải ngày" in text
    assert "aliases phải là danh sách chuỗi" in text
    assert "thiếu name" in text
    assert "khóa “email” không hợp lệ" in text


def test_config_tables_beside_units_are_well_formed() -> None:
    observances = {o["name"]: o["date"] for o in DOC["observances"]}
    assert observances["Quốc khánh Lào"] == "12-02"
    for value in observances.values():
        month, day = map(int, value.split("-"))
        date(2024, month, day)  # a real day (2024 is a leap year)
    founded = {a["date"].year for a in DOC["anniversaries"]}
    assert {1969, 1954, 1989, 1973, 1992, 1962, 1967} <= founded
    assert date(2026, 1, 2) in DOC["calendar"]["extra_days_off"]
    assert date(2026, 1, 10) in DOC["calendar"]["extra_workdays"]
    for deadline in DOC["reports"]["deadlines"]:
        assert DIRECTORY.get(deadline["to"]) is not None


# --- plans ------------------------------------------------------------------------------------


def _activity(ref: str, lead_line: int, coordinating_line: int | None) -> Activity:
    return Activity(
        ref=ref,
        content="",
        timing=Timing("Trong năm 2024", TimingKind.RANGE, date(2024, 1, 1), date(2024, 12, 31)),
        lead_text=seed_line(lead_line),
        coordinating_text=seed_line(coordinating_line) if coordinating_line else "",
        line=lead_line - 2,
    )


def test_resolve_plan_fills_names_and_warns_once_per_superseded_unit() -> None:
    plan = Plan(slug="ke-hoach-34", title="Kế hoạch 34/KH-UBND", year=2024)
    plan.activities = [
        _activity("I.2", 53, 54),
        _activity("II.2", 72, None),
        _activity("III.9", 174, None),
    ]
    plan.activities.append(
        Activity("IV.9", "", plan.activities[0].timing, lead_text="Sở Ngoai vu", line=300)
    )
    plan.reports = [
        ReportDuty("half-year", "half-year", "Báo cáo 6 tháng", to="", to_text="Sở Ngoại vụ")
    ]
    resolve_plan(plan, DIRECTORY, on=AFTER)
    assert plan.activities[0].lead == [SNGV]
    assert plan.activities[0].coordinating == [LIEN_QUAN]
    assert plan.activities[1].lead == [VHTTDL, SNGV, LIEN_QUAN]
    assert plan.activities[3].lead == []
    assert plan.reports[0].to == SNGV
    warnings = [p for p in plan.problems if p.severity == "warning"]
    superseded = [p for p in warnings if "hết hiệu lực" in p.message]
    assert [p.message.split(" hết")[0] for p in superseded] == [SNGV, "UBND huyện Buôn Đôn"]
    assert superseded[0].line == 51
    assert "thư gửi Văn phòng UBND tỉnh" in superseded[0].message
    assert "(dùng ở: I.2, II.2, Báo cáo 6 tháng)" in superseded[0].message
    unknown = [p for p in warnings if "Không tìm thấy" in p.message]
    assert len(unknown) == 1 and unknown[0].line == 300 and unknown[0].key == "IV.9 chủ trì"
    assert "có phải là “Sở Ngoại vụ”?" in str(unknown[0])
    count = len(plan.problems)
    resolve_plan(plan, DIRECTORY, on=AFTER)
    assert len(plan.problems) == count


def test_resolve_plan_before_the_reorganisation_has_no_warnings() -> None:
    plan = Plan(slug="p", title="p", activities=[_activity("III.9", 174, None)])
    resolve_plan(plan, DIRECTORY, on=date(2024, 4, 1))
    assert plan.problems == []


def test_resolve_plan_checks_stored_names_when_the_cell_is_gone() -> None:
    act = _activity("I.2", 53, None)
    act.lead_text, act.lead = "", ["sở ngoại vụ", "Sở Không Có"]
    plan = Plan(slug="p", title="p", activities=[act])
    resolve_plan(plan, DIRECTORY, on=BEFORE)
    assert act.lead == [SNGV, "Sở Không Có"]
    assert len(plan.problems) == 1 and "Sở Không Có" in plan.problems[0].message


# --- the command ------------------------------------------------------------------------------


def test_units_command_lists_the_directory_as_json() -> None:
    result = CliRunner().invoke(
        app, ["units", "--json", "--config", str(CONFIG), "--on", "2025-07-01"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == [u.name for u in DIRECTORY]
    sngv = next(r for r in rows if r["name"] == SNGV)
    assert sngv["recipients"] == ["Văn phòng UBND tỉnh"]
    assert sngv["recipient_emails"] == [DIRECTORY.get("Văn phòng UBND tỉnh").email]  # type: ignore[union-attr]


def test_units_command_table_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["units", "--config", str(CONFIG), "--on", "01/07/2025"]
    table = runner.invoke(app, args, env={"COLUMNS": "250"})
    assert table.exit_code == 0, table.output
    assert "so-ngoai-vu" in table.stdout and "Nhận thư ngày 01/07/2025" in table.stdout
    bad = tmp_path / "config.toml"
    bad.write_text('[[units]]\nname = "Sở A"\n[[units]]\nname = "sở a"\n', encoding="utf-8")
    failed = runner.invoke(app, ["units", "--config", str(bad)])
    assert failed.exit_code == 1
    assert "trùng với" in failed.output
