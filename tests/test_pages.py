"""The plan, unit and coordinator pages over a real uvicorn server on 127.0.0.1 port 0.

The project is the repository's config.toml (public_url moved to https, one group given
members, one coordinator given a secret feed token) plus the seed plan 34/KH-UBND imported
into schedules/, a plan of hostile text beside it, and a real SQLite outbox with sent,
failed, skipped and pending rows. Pages are fetched with httpx and read with lxml (not the
templates' own engine); expected values come from the schedule and config files read with
tomllib, not from notifier.pages. The pure view models get hypothesis properties.
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from _stores import Rem
from feedkit import running
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html

from notifier import pages
from notifier.clock import TZ, FixedClock
from notifier.plan import Activity, Plan, ReportDuty
from notifier.timing import Timing
from notifier.timing import TimingKind as K
from notifier.units import Directory, Unit

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seeds" / "000_6a99d0bb3ce2a896.txt"
SLUG = "34-kh-ubnd-2024"
TODAY = date(2024, 5, 10)  # a Friday: Quý II running, Tháng 4 over, Quý III ahead
NOW = datetime(2024, 5, 10, 9, 0, tzinfo=TZ)
TOKEN = "bi-mat-Vp2024xyz"
PUBLIC = "https://lich.example.org"
SVH = "Sở Văn hóa, Thể thao và Du lịch"
HOSTILE = '<script>alert("x")</script> "q" \'a\' \r\nX-Evil: 1 \u202egnp.exe'

pytestmark = pytest.mark.skipif(not SEED.exists(), reason="../shared/seeds is not beside the checkout")


# --- the project ---------------------------------------------------------------------------


def _config_text() -> str:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^public_url = "[^"]*"', f'public_url = "{PUBLIC}"', text)
    # "Các sở, ban, ngành" owes the plan's reports: give it members so units owe them too.
    head, sep, tail = text.partition('name = "Các sở, ban, ngành"')
    tail = tail.replace("members = []", f'members = ["{SVH}", "Sở Tài chính"]', 1)
    return head + sep + tail + '\n[feeds]\ntokens_file = "tokens.toml"\n'


Q = json.dumps(HOSTILE)  # a TOML basic string: JSON's escapes (\\r \\n \\u202e \\") are TOML's too
HOSTILE_PLAN = f"""\
[plan]
number = {Q}
date = 2024-01-15
issuer = "UBND tỉnh Đắk Lắk"
title = {Q}
year = 2024

[[activities]]
ref = "I.1"
section = "I"
section_title = {Q}
content = {Q}
lead_text = {Q}
funding = {Q}
timing = "Quý II/2024"
kind = "range"
start = 2024-04-01
end = 2024-06-30

[[activities]]
ref = "I.2"
section = "I"
content = "Tiếp đoàn khi có yêu cầu"
lead_text = "Sở Ngoại vụ"
timing = {Q}
kind = "undatable"
reason = {Q}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from notifier.config import load_config
    from notifier.importing import import_plan
    from notifier.schedules import write_schedule

    root = tmp_path_factory.mktemp("pages")
    (root / "config.toml").write_text(_config_text(), encoding="utf-8")
    (root / "tokens.toml").write_text(f'van-phong-ubnd-tinh = "{TOKEN}"\n', encoding="utf-8")
    config = load_config(root / "config.toml")
    plan = import_plan(SEED, config, year=None, today=TODAY)
    write_schedule(plan, config.schedules_path())
    (config.schedules_path() / "99-doc-hai.toml").write_text(HOSTILE_PLAN, encoding="utf-8")
    _outbox(config)
    return root


def _outbox(config: object) -> None:
    """A real outbox: two sent, one failed (with the server's reply), one skipped, one pending,
    and one sent for a plan nobody here follows."""
    from notifier.store import Outcome, database_url, open_store, upgrade

    url = database_url(config, env={})
    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    store = open_store(url)
    due = datetime(2024, 5, 8, 8, 0, tzinfo=TZ)
    rows = [
        Rem("r/sent-1", due, subject="Nhắc việc: II.7 đang thực hiện"),
        Rem("r/sent-2", due + timedelta(minutes=1), subject="Nhắc việc: III.10 sắp bắt đầu", refs=("III.10",)),
        Rem("r/failed", due + timedelta(minutes=2), subject="Nhắc việc: II.6 lỗi gửi", refs=("II.6",)),
        Rem("r/other-plan", due + timedelta(minutes=3), subject="Thư của kế hoạch khác", plan="khac-2024"),
    ]
    store.enqueue(rows, now=due)
    claimed = {r.key: r for r in store.claim_due("test", now=due + timedelta(hours=1), limit=10, lease=timedelta(minutes=5))}
    at = due + timedelta(hours=1)
    store.record([
        Outcome(claimed["r/sent-1"].id, "r/sent-1", "sent", at, message_id="<a@x>"),
        Outcome(claimed["r/sent-2"].id, "r/sent-2", "sent", at, message_id="<b@x>"),
        Outcome(claimed["r/failed"].id, "r/failed", "failed", at, smtp_code=550, message="550 Hộp thư không tồn tại"),
        Outcome(claimed["r/other-plan"].id, "r/other-plan", "sent", at, message_id="<c@x>"),
    ], owner="test")  # fmt: skip
    store.enqueue([Rem("r/skipped", datetime(2024, 5, 1, 8, 0, tzinfo=TZ), subject="Nhắc việc: quá hạn")], now=at)
    store.skip_stale(now=at, grace=timedelta(hours=24))
    store.enqueue([Rem("r/pending", datetime(2024, 6, 1, 8, 0, tzinfo=TZ), subject="Nhắc việc: chưa đến lúc")], now=at)
    # III.9 (Tháng 4/2024) ended within the last 30 days: the Lao friendship society says it is done
    from notifier.acks import activity_key
    from notifier.store import Attempt

    store.acknowledge("hoi-huu-nghi-viet-nam-lao-tinh", activity_key(SLUG, "III.9"), "activity-done",
                      note="Đã tổ chức <b>ngày 14/4</b>", attempt=Attempt(at, link_id="l1"))  # fmt: skip
    store.close()


@pytest.fixture(scope="module")
def client(project: Path):
    from notifier.catalog import load_catalog
    from notifier.publish import FeedCache
    from notifier.site import Site
    from notifier.web import create_app

    clock = FixedClock(NOW)
    env: dict[str, str] = {}
    cache = FeedCache(lambda now: load_catalog(project / "config.toml", now=now, environ=env), clock=clock.now)
    site = Site(project / "config.toml", clock=clock, environ=env, check_every=0)
    app = create_app(cache, site=site, poll_interval=None)
    with running(app) as base, httpx.Client(base_url=base, timeout=10) as c:
        yield c


def _get(client: httpx.Client, url: str) -> tuple[httpx.Response, lxml_html.HtmlElement]:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code)
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    return r, lxml_html.fromstring(r.content)


def _text(el: lxml_html.HtmlElement) -> str:
    return " ".join(el.text_content().split())


# --- what the files say (the oracle) ---------------------------------------------------------


@pytest.fixture(scope="module")
def schedule(project: Path) -> dict:
    return tomllib.loads((project / "schedules" / f"{SLUG}.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def groups(project: Path) -> dict[str, list[str]]:
    doc = tomllib.loads((project / "config.toml").read_text(encoding="utf-8"))
    return {g["name"]: list(g.get("members", [])) for g in doc.get("groups", [])}


def _expected_status(a: dict) -> str | None:
    if a.get("kind") == "undatable" or not a.get("end"):
        return None
    start = a.get("start") or a["end"]
    return "upcoming" if TODAY < start else "over" if TODAY > a["end"] else "in-progress"


def _involves(a: dict, unit: str, groups: dict[str, list[str]]) -> bool:
    names = list(a.get("lead", [])) + list(a.get("coordinating", []))
    return any(n == unit or unit in groups.get(n, []) for n in names)


def _table_rows(doc: lxml_html.HtmlElement) -> dict[str, lxml_html.HtmlElement]:
    return {tr.get("id"): tr for tr in doc.xpath('//section[@id="bang"]//tbody/tr[@id]')}


# --- the plan page -------------------------------------------------------------------------


def test_plan_page_has_header_table_by_section_and_timeline(client, schedule):
    _, doc = _get(client, f"/plans/{SLUG}")
    assert doc.get("lang") == "vi"
    assert doc.xpath('//meta[@name="viewport"]/@content') == ["width=device-width, initial-scale=1"]
    assert _text(doc.xpath("//h1")[0]) == schedule["plan"]["title"]
    assert _text(doc.xpath('//*[@id="so-ke-hoach"]')[0]) == "34/KH-UBND"
    assert _text(doc.xpath('//*[@id="nam"]')[0]) == "2024"
    assert "UBND tỉnh Đắk Lắk" in _text(doc.xpath("//main/header")[0])
    assert doc.xpath("//header") and doc.xpath("//nav") and doc.xpath("//main")
    table = doc.xpath('//section[@id="bang"]//table')[0]
    assert table.xpath("caption") and all(th.get("scope") == "col" for th in table.xpath("thead//th"))
    rows = _table_rows(doc)
    acts = schedule["activities"]
    dated = [a for a in acts if _expected_status(a)]
    assert sorted(rows) == sorted("hd-" + a["ref"].lower().replace(".", "-") for a in dated)
    for a in dated:
        tr = rows["hd-" + a["ref"].lower().replace(".", "-")]
        cells = [_text(c) for c in tr.xpath("th|td")]
        assert cells[0] == a["ref"] and cells[1] == a["content"] and cells[4] == a["timing"]
        assert cells[5] == f"{a['start']:%d/%m/%Y} – {a['end']:%d/%m/%Y}"
        assert cells[6] == a.get("funding", "")
        assert cells[7] == pages.STATUS_LABELS[_expected_status(a)]
        assert tr.xpath("th")[0].get("scope") == "row"
    # one tbody a section, headed by its number and title, in plan order
    heads = [_text(th) for th in table.xpath("tbody/tr[1]/th[@scope='rowgroup']")]
    sections = list(dict.fromkeys((a["section"], a["section_title"]) for a in dated))
    assert heads == [f"Mục {k}. {t}" for k, t in sections]
    # timeline: twelve months of 2024, one bar a dated activity, each with words for screen readers
    months = [_text(m) for m in doc.xpath('//div[contains(@class,"tl-head")]/span[contains(@class,"tl-m")]')]
    assert len(months) == 12 and months[0] == "T1" and months[-1] == "T12"
    bars = doc.xpath('//ol[@class="tl-list"]/li[@class="tl-row"]')
    assert len(bars) == len(dated)
    for li in bars:
        words = _text(li.xpath('span[@class="sr"]')[0])
        assert re.search(r"tháng \d+/2024", words) and any(s.lower() in words for s in pages.STATUS_LABELS.values())
        assert li.xpath("a/@href")[0].startswith("#hd-")
    by_month = {_text(dt): _text(dd) for dt, dd in zip(doc.xpath('//dl[@class="months"]//dt'), doc.xpath('//dl[@class="months"]//dd'))}
    april = {a["ref"] for a in dated if a["start"] <= date(2024, 4, 30) and a["end"] >= date(2024, 4, 1)}
    assert set(by_month["Tháng 4/2024"].split(", ")) == april


def test_plan_page_is_self_contained_under_its_csp(client):
    r, doc = _get(client, f"/plans/{SLUG}")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp and "form-action 'self'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert not doc.xpath("//script") and not doc.xpath("//*[@style]") and not doc.xpath("//style")
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    links = doc.xpath('//link[@rel="stylesheet"]/@href')
    assert len(links) == 1 and links[0].startswith("/static/")
    css = client.get(links[0])
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "max-age=31536000" in css.headers["cache-control"] and ":focus-visible" in css.text
    for src in doc.xpath("//@src | //@href"):  # nothing from elsewhere (no CDN)
        assert not src.startswith(("http:", "https:", "//")) or src.startswith(PUBLIC)
    assert client.get("/static/pages-000000000000.css").status_code == 404


def test_pages_are_gzipped_for_clients_that_take_it(client):
    import gzip

    plain = client.get(f"/plans/{SLUG}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    with client.stream("GET", f"/plans/{SLUG}", headers={"Accept-Encoding": "gzip"}) as r:
        packed = b"".join(r.iter_raw())
        assert r.headers["content-encoding"] == "gzip"
    assert gzip.decompress(packed) == plain.content and len(packed) < len(plain.content) / 3


def test_filter_form_works_without_javascript(client, schedule):
    _, doc = _get(client, f"/plans/{SLUG}")
    form = doc.xpath('//form[@id="loc"]')[0]
    assert form.get("method") == "get" and form.get("action") == f"/plans/{SLUG}"
    for select in form.xpath(".//select"):
        assert form.xpath(f'.//label[@for="{select.get("id")}"]'), select.get("id")
    assert {s.get("name") for s in form.xpath(".//select")} == {"unit", "status"}
    assert form.xpath('.//button[@type="submit"]')
    statuses = form.xpath('.//select[@name="status"]/option/@value')
    assert statuses == ["", "upcoming", "in-progress", "over"]
    units = form.xpath('.//select[@name="unit"]/option/@value')
    assert "so-van-hoa-the-thao-va-du-lich" in units and units[0] == ""


def test_status_filter_splits_the_dated_activities(client, schedule):
    expected = {a["ref"]: _expected_status(a) for a in schedule["activities"] if _expected_status(a)}
    seen: dict[str, str] = {}
    for state in pages.STATUSES:
        _, doc = _get(client, f"/plans/{SLUG}?status={state}")
        chosen = doc.xpath('//select[@name="status"]/option[@selected]/@value')
        assert chosen == [state]
        for tr in _table_rows(doc).values():
            ref = _text(tr.xpath("th")[0])
            assert ref not in seen  # in exactly one bucket
            seen[ref] = state
        assert len(doc.xpath('//ol[@class="tl-list"]/li[@class="tl-row"]')) == sum(1 for s in expected.values() if s == state)
    assert seen == expected
    assert {"upcoming", "in-progress", "over"} == set(expected.values())  # the date was picked so


def test_unit_filter_shows_exactly_that_units_activities(client, schedule, groups):
    for slug, name in [("so-van-hoa-the-thao-va-du-lich", SVH), ("hoi-huu-nghi-viet-nam-lao-tinh", "Hội Hữu nghị Việt Nam - Lào tỉnh")]:
        _, doc = _get(client, f"/plans/{SLUG}?unit={slug}&status=")
        refs = {_text(tr.xpath("th")[0]) for tr in _table_rows(doc).values()}
        want = {a["ref"] for a in schedule["activities"] if _expected_status(a) and _involves(a, name, groups)}
        assert refs == want and refs, slug
        assert doc.xpath('//select[@name="unit"]/option[@selected]/@value') == [slug]
        assert doc.xpath('//a[@id="bo-loc"]/@href') == [f"/plans/{SLUG}"]
    _, both = _get(client, f"/plans/{SLUG}?unit=so-van-hoa-the-thao-va-du-lich&status=upcoming")
    refs = {_text(tr.xpath("th")[0]) for tr in _table_rows(both).values()}
    assert refs == {a["ref"] for a in schedule["activities"]
                    if _expected_status(a) == "upcoming" and _involves(a, SVH, groups)}  # fmt: skip


def test_unknown_filter_values_are_ignored_and_said(client, schedule):
    _, doc = _get(client, f"/plans/{SLUG}?unit=khong-co&status=%3Cb%3E")
    assert len(_table_rows(doc)) == sum(1 for a in schedule["activities"] if _expected_status(a))
    note = _text(doc.xpath('//*[@id="bo-qua"]')[0])
    assert "khong-co" in note and "<b>" in note and not doc.xpath("//main//b[not(ancestor::ul)]")


def test_undatable_activities_are_listed_with_their_reason(client):
    _, doc = _get(client, "/plans/99-doc-hai")
    items = doc.xpath('//section[@id="chua-xep-lich"]//li')
    assert [li.get("id") for li in items] == ["hd-i-2"]
    assert "Lý do:" in _text(items[0]) and "Tiếp đoàn khi có yêu cầu" in _text(items[0])


# --- the unit page -------------------------------------------------------------------------


def test_unit_page_lists_roles_deadlines_and_subscribe_links(client, schedule, groups):
    _, doc = _get(client, "/units/so-van-hoa-the-thao-va-du-lich")
    assert _text(doc.xpath("//h1")[0]) == SVH
    rows = doc.xpath('//section[@id="hoat-dong"]//tbody/tr[not(@class="sec")]')
    got = {_text(tr.xpath("th")[0]): _text(tr.xpath("td")[1]) for tr in rows}
    want = {}
    for a in schedule["activities"]:
        if SVH in a.get("lead", []):
            want[a["ref"]] = "Chủ trì"
        elif _involves(a, SVH, groups):
            want[a["ref"]] = "Phối hợp"
    assert got == want and "Chủ trì" in got.values() and "Phối hợp" in got.values()
    for href in doc.xpath('//section[@id="hoat-dong"]//tbody/tr[not(@class="sec")]/th/a/@href'):
        assert href.startswith(f"/plans/{SLUG}#hd-")
    deadlines = [_text(tr.xpath("th")[0]) for tr in doc.xpath('//section[@id="han-bao-cao"]//tbody/tr')]
    assert deadlines and deadlines[0].startswith("thứ Sáu, ngày 14/06/2024")  # "trước ngày 15/6" → 14/6
    webcal = doc.xpath('//a[@id="dang-ky-webcal"]')[0]
    https = doc.xpath('//a[@id="dang-ky-https"]')[0]
    assert _text(webcal) == "Thêm vào ứng dụng lịch (webcal)" and _text(https) == "Đường dẫn lịch (https)"
    assert webcal.get("href").startswith("webcal://") and https.get("href").startswith(f"{PUBLIC}/feeds/")
    twin = "https://" + webcal.get("href").removeprefix("webcal://")
    assert twin == https.get("href")
    feed = client.get(twin.removeprefix(PUBLIC))
    assert feed.status_code == 200 and feed.headers["content-type"] == "text/calendar; charset=utf-8"
    assert feed.content.startswith(b"BEGIN:VCALENDAR\r\n") and b"II.7" in feed.content
    svg = doc.xpath('//figure[@id="ma-qr"]/*[local-name()="svg"]')
    assert len(svg) == 1 and svg[0].xpath('.//*[local-name()="path"]/@d')
    assert doc.xpath('//figure[@id="ma-qr"]/figcaption')
    assert doc.xpath('//input[@id="duong-dan"]/@value') == [https.get("href")]


def test_secret_feed_unit_shows_no_public_link_and_its_coordinator_page_needs_the_token(client):
    r, doc = _get(client, "/units/van-phong-ubnd-tinh")
    assert not doc.xpath('//a[@id="dang-ky-webcal"]') and not doc.xpath('//*[local-name()="svg"]')
    assert doc.xpath('//*[@id="lich-bi-mat"]') and TOKEN not in r.text
    assert not doc.xpath('//a[@id="trang-dau-moi"]')
    plain = client.get("/coordinators/van-phong-ubnd-tinh")
    missing = client.get("/plans/khong-co")
    assert plain.status_code == 404 and plain.content == missing.content == "Không tìm thấy.\n".encode()
    for wrong in (TOKEN[:-1] + "x", TOKEN + "x", "bi-mat", TOKEN.upper()):
        bad = client.get(f"/coordinators/van-phong-ubnd-tinh/{wrong}")
        assert bad.status_code == 404 and bad.content == missing.content
    r, doc = _get(client, f"/coordinators/van-phong-ubnd-tinh/{TOKEN}")
    assert _text(doc.xpath("//h1")[0]) == "Theo dõi kế hoạch: Văn phòng UBND tỉnh"
    feed = doc.xpath('//a[@id="dang-ky-https"]/@href')[0]
    assert feed == f"{PUBLIC}/feeds/coordinators/van-phong-ubnd-tinh/{TOKEN}.ics"
    assert client.get(feed.removeprefix(PUBLIC)).status_code == 200
    # a unit without a token has no token page
    assert client.get(f"/coordinators/so-ngoai-vu/{TOKEN}").status_code == 404


# --- the coordinator page ------------------------------------------------------------------


def test_coordinator_page_next_30_days_and_outbox(client, schedule):
    _, doc = _get(client, "/coordinators/so-ngoai-vu")
    last = TODAY + timedelta(days=29)

    def listed(section: str) -> set[str]:
        return {_text(a) for a in doc.xpath(f'//section[@id="{section}"]//li/a')}

    acts = [a for a in schedule["activities"] if _expected_status(a)]
    assert listed("bat-dau") == {a["ref"] for a in acts if TODAY <= a["start"] <= last}
    assert listed("ket-thuc") == {a["ref"] for a in acts if TODAY <= a["end"] <= last and a["start"] != a["end"]}
    assert listed("bat-dau")  # III.10 opens on 01/6/2024
    rows = doc.xpath('//section[@id="hop-thu-di"]//tbody/tr')
    got = {_text(tr.xpath("th")[0]): (_text(tr.xpath("td")[0]), _text(tr.xpath("td")[-1])) for tr in rows}
    assert set(got) == {"Nhắc việc: II.7 đang thực hiện", "Nhắc việc: III.10 sắp bắt đầu",
                        "Nhắc việc: II.6 lỗi gửi", "Nhắc việc: quá hạn"}  # fmt: skip
    assert got["Nhắc việc: II.6 lỗi gửi"][0] == "Gửi lỗi" and "550 Hộp thư không tồn tại" in got["Nhắc việc: II.6 lỗi gửi"][1]
    assert got["Nhắc việc: quá hạn"][0] == "Bỏ qua" and got["Nhắc việc: quá hạn"][1]
    assert got["Nhắc việc: II.7 đang thực hiện"][0] == "Đã gửi"
    assert doc.xpath('//section[@id="xac-nhan"]')


def test_coordinator_page_shows_who_has_and_has_not_acknowledged(client):
    _, doc = _get(client, "/coordinators/so-ngoai-vu")
    rows = {_text(tr.xpath("th")[0]): [_text(td) for td in tr.xpath("td")]
            for tr in doc.xpath('//section[@id="xac-nhan"]//tbody/tr')}  # fmt: skip
    laos = next(v for k, v in rows.items() if k.startswith("[III.9]"))
    assert laos[0] == "30/04/2024"
    assert "Hội Hữu nghị Việt Nam - Lào tỉnh: Đã tổ chức <b>ngày 14/4</b>" in laos[1]  # a note, escaped
    assert "Hội Hữu nghị Việt Nam - Lào tỉnh" not in laos[2] and "UBND huyện Buôn Đôn" in laos[2]


def test_coordinator_window_includes_report_deadlines(client):
    from notifier.catalog import load_catalog  # noqa: F401 - the server already loaded it

    r = client.get("/coordinators/so-ngoai-vu")
    assert r.status_code == 200
    _, doc = _get(client, "/coordinators/so-ngoai-vu")
    due = [_text(li) for li in doc.xpath('//section[@id="den-han"]//li')]
    # 14/06/2024 is 35 days after 10/5: outside the window, so not listed
    assert not any("14/06/2024" in d for d in due)


# --- everything else -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/plans/khong-co", "/units/khong-co", "/coordinators/khong-co",
                                 "/coordinators/so-tai-chinh", "/coordinators/so-ngoai-vu/x/y",
                                 "/static/khong-co.css", "/plans/", "/units/SO-NGOAI-VU"])  # fmt: skip
def test_unknown_pages_get_the_plain_404(client, url):
    r = client.get(url)
    assert r.status_code == 404 and r.content == "Không tìm thấy.\n".encode()
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


def test_home_links_every_plan_and_unit_page(client):
    _, doc = _get(client, "/")
    plans = doc.xpath('//ul[@id="trang-ke-hoach"]//a/@href')
    units = doc.xpath('//ul[@id="trang-don-vi"]//a/@href')
    assert f"/plans/{SLUG}" in plans and "/units/so-ngoai-vu" in units
    for href in plans + units[:5]:
        assert client.get(href).status_code == 200, href


def test_hostile_plan_text_is_escaped_everywhere(client):
    r, doc = _get(client, "/plans/99-doc-hai")
    assert not doc.xpath("//script") and "<script>" not in r.text
    assert "\u202e" not in r.text and "\r" not in r.text  # bidi mark dropped, no CR in the page
    assert doc.xpath("//h1") and 'alert("x")' in _text(doc.xpath("//h1")[0])
    row = _table_rows(doc)["hd-i-1"]
    cells = [_text(c) for c in row.xpath("th|td")]
    assert cells[1].startswith('<script>alert("x")</script> "q" \'a\'') and "X-Evil: 1" in cells[1]
    for el in doc.iter():
        assert not any(name.startswith("on") for name in el.attrib), el.attrib
        assert "X-Evil" not in "".join(el.attrib.values())
    # the undatable row's timing and reason too
    undated = _text(doc.xpath('//section[@id="chua-xep-lich"]//li')[0])
    assert undated.count("<script>") == 2
    # the unit filter echoes its value, escaped
    r, doc = _get(client, '/plans/99-doc-hai?unit="><script>alert(1)</script>')
    assert not doc.xpath("//script") and "<script>alert(1)" in _text(doc.xpath('//*[@id="bo-qua"]')[0])


def test_edits_show_without_restart(client, project):
    from test_publish import bump

    path = project / "schedules" / "98-moi.toml"
    text = """[plan]\nnumber = "98/KH-UBND"\ntitle = "Kế hoạch mới"\nyear = 2024\n\n[[activities]]\nref = "I.1"
section = "I"\ncontent = "Họp giao ban"\nlead_text = "Sở Ngoại vụ"\nlead = ["Sở Ngoại vụ"]\ntiming = "Tháng 6/2024"
kind = "range"\nstart = 2024-06-01\nend = 2024-06-30\n"""
    assert client.get("/plans/98-moi").status_code == 404
    try:
        bump(path, text)
        _, doc = _get(client, "/plans/98-moi")
        assert _text(doc.xpath("//h1")[0]) == "Kế hoạch mới"
        bump(path, text.replace("Kế hoạch mới", "Kế hoạch đã sửa"))
        _, doc = _get(client, "/plans/98-moi")
        assert _text(doc.xpath("//h1")[0]) == "Kế hoạch đã sửa"
    finally:
        path.unlink()
        bump(project / "config.toml", (project / "config.toml").read_text(encoding="utf-8"))
    assert client.get("/plans/98-moi").status_code == 404


# --- the pure view models ------------------------------------------------------------------

UNITS = ["Sở Ngoại vụ", SVH, "Sở Tài chính", "Hội Hữu nghị Việt Nam - Lào tỉnh"]
GROUP = "Các Hội thành viên"


def _directory() -> Directory:
    return Directory([*(Unit(n, coordinator=n == "Sở Ngoại vụ") for n in UNITS),
                      Unit(GROUP, is_group=True, members=(UNITS[3],))])  # fmt: skip


DIRECTORY = _directory()
days = st.dates(min_value=date(2023, 6, 1), max_value=date(2025, 6, 30))


@st.composite
def activities(draw: st.DrawFn, n: int) -> Activity:
    kind = draw(st.sampled_from([K.RANGE, K.DATE, K.DEADLINE, K.CONTINUOUS, K.UNDATABLE, K.CONDITIONAL]))
    a, b = sorted([draw(days), draw(days)])
    if kind is K.DATE:
        b = a
    start = None if kind in (K.UNDATABLE,) or (kind is K.DEADLINE and draw(st.booleans())) else a
    end = None if kind is K.UNDATABLE or (kind is K.CONDITIONAL and draw(st.booleans())) else b
    lead = draw(st.lists(st.sampled_from([*UNITS, GROUP]), max_size=2, unique=True))
    coord = draw(st.lists(st.sampled_from([*UNITS, GROUP]), max_size=2, unique=True))
    section = draw(st.sampled_from(["I", "II", "III"]))
    return Activity(f"{section}.{n}", draw(st.text(max_size=20)), Timing("t", kind, start, end, reason=None),
                    section=section, lead=lead, coordinating=coord)  # fmt: skip


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    count = draw(st.integers(0, 25))
    p = Plan("ke-hoach", "Kế hoạch thử", year=draw(st.sampled_from([None, 2024])))
    p.activities = [draw(activities(i)) for i in range(1, count + 1)]
    p.reports = [ReportDuty("half-year", "half-year", "Báo cáo 6 tháng", to="Sở Ngoại vụ", owners=[SVH])]
    return p


@settings(max_examples=60, deadline=None)
@given(plans(), days, st.sampled_from(["", *(u.slug for u in DIRECTORY)]))
def test_every_dated_activity_is_in_exactly_one_status_and_filters_are_subsets(plan, today, unit):
    everything = pages.plan_page(plan, DIRECTORY, today=today)
    all_refs = [r.ref for s in everything.sections for r in s.rows]
    dated = [a for a in plan.activities if a.timing.end is not None and a.timing.kind is not K.UNDATABLE]
    assert sorted(all_refs) == sorted(a.ref for a in dated)
    assert [r.ref for r in everything.undated] == [a.ref for a in plan.activities if a not in dated]
    buckets: dict[str, set[str]] = {}
    for state in pages.STATUSES:
        page = pages.plan_page(plan, DIRECTORY, today=today, unit=unit, state=state)
        refs = {r.ref for s in page.sections for r in s.rows}
        assert not page.undated
        for s in page.sections:
            for r in s.rows:
                assert r.status == state and r.start <= r.end
                assert (today < r.start) == (state == "upcoming") and (today > r.end) == (state == "over")
        buckets[state] = refs
    assert sum(len(b) for b in buckets.values()) == len(set().union(*buckets.values()))  # disjoint
    by_unit = pages.plan_page(plan, DIRECTORY, today=today, unit=unit)
    unit_refs = {r.ref for s in by_unit.sections for r in s.rows}
    assert set().union(*buckets.values()) == unit_refs <= set(all_refs)
    assert {r.ref for r in by_unit.undated} <= {r.ref for r in everything.undated}
    assert sum(everything.counts.values()) == len(plan.activities)
    for bar in everything.timeline.bars:
        assert 1 <= bar.first <= bar.last <= len(everything.timeline.months) <= pages.MAX_MONTHS


@settings(max_examples=40, deadline=None)
@given(plans(), days)
def test_coordinator_window_holds_only_the_next_30_days(plan, today):
    unit = DIRECTORY.get("Sở Ngoại vụ")
    page = pages.coordinator_page(unit, [plan], DIRECTORY, {}, today=today)
    last = today + timedelta(days=pages.WINDOW_DAYS - 1)
    for h in (*page.opens, *page.closes, *page.due):
        assert today <= h.day <= last and h.in_days == (h.day - today).days
    opened = {h.ref for h in page.opens}
    for a in plan.activities:
        t = a.timing
        if t.end is not None and t.kind not in (K.UNDATABLE, K.DEADLINE) and today <= (t.start or t.end) <= last:
            assert a.ref in opened


@settings(max_examples=40, deadline=None)
@given(plans(), days)
def test_unit_page_roles_agree_with_the_plan_table(plan, today):
    unit = DIRECTORY.get(UNITS[3])  # reached directly and through its group
    page = pages.unit_page(unit, [plan], DIRECTORY, {}, today=today)
    members = pages.Membership(DIRECTORY, today)
    want = [a.ref for a in plan.activities if unit.name in members.all([*a.lead, *a.coordinating])]
    assert [i.row.ref for i in page.items] == want
    for item in page.items:
        act = plan.activity(item.row.ref)
        assert (item.role == "Chủ trì") == (unit.name in members.all(act.lead))


def test_status_boundaries():
    d = date(2024, 4, 1)
    assert pages.status(d, d, d - timedelta(days=1)) == "upcoming"
    assert pages.status(d, d, d) == "in-progress"
    assert pages.status(d, d, d + timedelta(days=1)) == "over"


# --- under `notifier run` ------------------------------------------------------------------


@pytest.mark.slow
def test_the_daemon_serves_the_pages_from_its_own_snapshot_and_outbox(tmp_path):
    """`notifier run` (a real process, a real SMTP server): the coordinator page lists what
    the daemon just sent, and an edit of the schedule shows once its watcher reloads."""
    from _smtp import SmtpServer
    from test_daemon import OPENS, PLAN, Daemon, units, write_project

    server = SmtpServer().start()
    daemon = None
    try:
        two = units(2)
        config = write_project(tmp_path, server.port, [(u, OPENS) for u in two])
        with config.open("a", encoding="utf-8") as f:
            f.write('\n[[units]]\nname = "Sở Ngoại vụ"\nemail = "songoaivu@example.org"\ncoordinator = true\n')
        daemon = Daemon(tmp_path)
        daemon.ready()
        base = f"http://127.0.0.1:{daemon.port}"
        with httpx.Client(base_url=base, timeout=10) as c:
            r = c.get("/coordinators/so-ngoai-vu")
            assert r.status_code == 200, daemon.log_tail()
            doc = lxml_html.fromstring(r.content)
            sent = [_text(tr.xpath("td")[0]) for tr in doc.xpath('//section[@id="hop-thu-di"]//tbody/tr')]
            assert sent == ["Đã gửi", "Đã gửi"], daemon.log_tail()
            plan = lxml_html.fromstring(c.get(f"/plans/{PLAN}").content)
            assert _text(plan.xpath("//h1")[0]) == "Kế hoạch thử nghiệm năm 2024"
            path = tmp_path / "schedules" / f"{PLAN}.toml"
            from test_publish import bump

            bump(path, path.read_text(encoding="utf-8").replace("Kế hoạch thử nghiệm", "Kế hoạch đã sửa"))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                title = _text(lxml_html.fromstring(c.get(f"/plans/{PLAN}").content).xpath("//h1")[0])
                if title == "Kế hoạch đã sửa năm 2024":
                    break
                time.sleep(0.2)
            assert title == "Kế hoạch đã sửa năm 2024", daemon.log_tail()
    finally:
        if daemon is not None and daemon.proc.poll() is None:
            daemon.stop()
        server.close()


def test_a_config_that_cannot_be_read_gives_503_on_pages_and_keeps_the_feeds(tmp_path):
    from test_publish import Source

    from notifier.publish import FeedCache
    from notifier.site import Site
    from notifier.web import create_app

    (tmp_path / "config.toml").write_text('[notifier]\nprovince = "Đắk Lắk\n', encoding="utf-8")  # unclosed string
    clock = FixedClock(NOW)
    cache = FeedCache(Source(tmp_path), clock=clock.now)
    app = create_app(cache, site=Site(tmp_path / "config.toml", clock=clock, environ={}), poll_interval=None)
    with running(app) as base, httpx.Client(base_url=base, timeout=10) as c:
        r = c.get("/plans/34-kh-ubnd")
        assert r.status_code == 503 and "Cấu hình hoặc lịch đang có lỗi" in r.text
        home = c.get("/")
        assert home.status_code == 200 and "/feeds/plans/34-kh-ubnd.ics" in home.text


@pytest.mark.slow
def test_notifier_serve_serves_the_pages_on_its_now_clock(project):
    """`notifier serve --now …` as a real process: the pages read the same config and clock."""
    import os
    import subprocess
    import sys
    import threading

    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    cmd = [sys.executable, "-m", "notifier.cli", "serve", "--config", str(project / "config.toml"),
           "--host", "127.0.0.1", "--port", "0", "--now", "2024-07-15T09:00"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, encoding="utf-8")  # fmt: skip
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if re.search(r"http://127\.0\.0\.1:(\d+)/", line):
                found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert found.wait(60), "".join(lines)
        port = next(m.group(1) for line in lines if (m := re.search(r"http://127\.0\.0\.1:(\d+)/", line)))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            deadline = time.monotonic() + 60  # the port is bound before uvicorn listens on it
            while True:
                try:
                    r = c.get(f"/plans/{SLUG}?unit=so-van-hoa-the-thao-va-du-lich")
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
                    time.sleep(0.1)
            doc = lxml_html.fromstring(r.content)
            rows = {_text(tr.xpath("th")[0]): _text(tr.xpath("td")[-1]) for tr in _table_rows(doc).values()}
            # 15/7/2024: Quý II is over, Quý III is running, Tháng 10 is ahead
            assert rows["II.7"] == "Đã qua" and rows["II.8"] == "Đang thực hiện" and rows["II.10"] == "Sắp tới"
            assert "thứ Hai, ngày 15/07/2024" in _text(doc.xpath('//*[@id="ket-qua"]')[0])
            assert c.get("/units/so-ngoai-vu").status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
