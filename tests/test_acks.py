"""Closing the loop (acks.py): signed links, the pages behind them, the audit log, opt-outs.

Tokens are checked by property (any single-character change, any other unit, any past
expiry is refused); the pages run on a real uvicorn server on 127.0.0.1 port 0 over the
seed project (config.toml + schedules/ copied to a temporary directory) with the store on
real SQLite and PostgreSQL (tests/_stores.py); one slow test runs `notifier run` against
aiosmtpd and follows the link found in a delivered email.

Dates: the seed's half-year report to Sở Ngoại vụ is due "trước ngày 15/6/2024", last day
Friday 14/6/2024; its 7-working-day warning goes out on 05/6/2024 at 08:00 and the đôn
đốc one working day after the last day, on Monday 17/6/2024.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import logging
import re
import shutil
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from _stores import db_url_fixture, store_fixture  # noqa: F401
from feedkit import running
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier import acks
from notifier.acks import Claim, LinkRefused, Signer
from notifier.clock import TZ, FixedClock
from notifier.errors import ConfigError
from notifier.store import Attempt, Store, open_store

REPO = Path(__file__).resolve().parent.parent
SECRET = "thử-nghiệm-bí-mật-0123456789abcdef"
ENV = {"NOTIFIER_SECRET": SECRET}
SVH = "so-van-hoa-the-thao-va-du-lich"
SNGV = "so-ngoai-vu"
OTHER = "so-thong-tin-va-truyen-thong"  # owes the same report
WARNED = datetime(2024, 6, 5, 9, 0, tzinfo=TZ)  # an hour after the half-year warning
OVERDUE = datetime(2024, 6, 17, 9, 0, tzinfo=TZ)
HALF_YEAR = acks.report_key("half-year", 1, 2024, SNGV, date(2024, 6, 14))

SIGNER = Signer(b"k" * 32)
CLAIM = Claim("report-sent", HALF_YEAR, SVH, date(2024, 8, 13), "AbCdEfGh")
TOKEN = SIGNER.sign(CLAIM)


def at(moment: datetime) -> Attempt:
    return Attempt(moment, "lnk", "127.0.0.1", "pytest")


# --- tokens -------------------------------------------------------------------------------


def test_a_token_round_trips_and_is_deterministic() -> None:
    assert SIGNER.verify(TOKEN, now=WARNED) == CLAIM
    assert SIGNER.sign(CLAIM) == TOKEN  # same email, same link: previews and outbox agree
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}", TOKEN)
    assert "k" * 8 not in repr(SIGNER) and "k" * 8 not in str(SIGNER)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_single_character_change_is_refused(data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(TOKEN) - 1))
    c = data.draw(st.characters(codec="utf-8").filter(lambda ch: ch != TOKEN[i]))
    changed = TOKEN[:i] + c + TOKEN[i + 1 :]
    with pytest.raises(LinkRefused) as info:
        SIGNER.verify(changed, now=WARNED)
    assert info.value.reason == "forged" and info.value.claim is None


@given(st.binary(max_size=300))
def test_any_byte_string_is_refused_not_crashed(raw: bytes) -> None:
    text = raw.decode("latin-1")
    with pytest.raises(LinkRefused):
        SIGNER.verify(text, now=WARNED)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=40))
def test_a_token_for_one_unit_never_acknowledges_for_another(other: str) -> None:
    if other == SVH:
        return
    forged = Claim(CLAIM.action, CLAIM.key, other, CLAIM.expires, CLAIM.link)
    # The attacker's best move: the other unit's payload with the genuine signature.
    head = SIGNER.sign(forged).split(".")[0]
    spliced = f"{head}.{TOKEN.split('.')[1]}"
    with pytest.raises(LinkRefused) as info:
        SIGNER.verify(spliced, now=WARNED)
    assert info.value.reason == "forged"
    # And a token signed with another secret is nobody's.
    with pytest.raises(LinkRefused):
        SIGNER.verify(Signer(b"x" * 32).sign(forged), now=WARNED)


@given(st.integers(1, 20_000))
def test_any_expiry_in_the_past_is_refused_and_today_is_not(days: int) -> None:
    today = WARNED.date()
    past = Claim(CLAIM.action, CLAIM.key, CLAIM.unit, today - timedelta(days=days), "x")
    with pytest.raises(LinkRefused) as info:
        SIGNER.verify(SIGNER.sign(past), now=WARNED)
    assert info.value.reason == "expired" and info.value.claim == past
    last = Claim(CLAIM.action, CLAIM.key, CLAIM.unit, today, "x")
    # Through the end of its day in Việt Nam (23:59 there is 16:59 UTC).
    late = datetime(today.year, today.month, today.day, 23, 59, tzinfo=TZ)
    assert SIGNER.verify(SIGNER.sign(last), now=late) == last


def test_a_non_canonical_spelling_of_the_same_bytes_is_refused() -> None:
    head, mac = TOKEN.split(".")
    raw = base64.urlsafe_b64decode(mac + "=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 43 characters carry 258 bits for 256: the last one's 2 spare bits decode to nothing.
    twins = [mac[:-1] + c for c in alphabet
             if c != mac[-1] and base64.urlsafe_b64decode(mac[:-1] + c + "=") == raw]
    assert len(twins) == 3
    for twin in twins:
        with pytest.raises(LinkRefused):
            SIGNER.verify(f"{head}.{twin}", now=WARNED)


def test_unsubscribe_headers_name_https_first_then_mailto() -> None:
    links = acks.Links(SIGNER, "https://lich.example.org/", mailto="nhacviec@example.org")
    url = links.unsubscribe(SNGV, date(2024, 6, 3), "_/digest/so-ngoai-vu/weekly/2024-06-03")
    assert url.startswith("https://lich.example.org/u/")
    claim = SIGNER.verify(url.rsplit("/", 1)[1], now=WARNED)
    assert (claim.action, claim.unit, claim.expires) == ("unsubscribe-digest", SNGV,
                                                         date(2025, 7, 8))
    assert links.unsubscribe_headers(url) == {
        "List-Unsubscribe": f"<{url}>, <mailto:nhacviec@example.org?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


# --- the secret ---------------------------------------------------------------------------


@dataclass
class FakeConfig:
    """The two things load_secret reads from config.Config (duck-typed there too)."""

    base: Path
    acknowledgements: acks.AckRules = field(default_factory=acks.AckRules)

    @property
    def base_dir(self) -> Path:
        return self.base

    def var_path(self) -> Path:
        return self.base / "var"


def test_the_secret_comes_from_env_then_file_then_config_then_var(tmp_path: Path,
                                                                  caplog: Any) -> None:
    cfg = FakeConfig(tmp_path)
    assert acks.load_secret(cfg, {"NOTIFIER_SECRET": SECRET}) == SECRET.encode()
    outside = tmp_path / "etc-secret"
    outside.write_text("f" * 40 + "\n")
    assert acks.load_secret(cfg, {"NOTIFIER_SECRET_FILE": str(outside)}) == b"f" * 40
    named = FakeConfig(tmp_path, acks.AckRules(secret_file=str(outside)))
    with caplog.at_level(logging.WARNING, logger="notifier.acks"):
        assert acks.load_secret(named, {}) == b"f" * 40
    assert "nằm trong thư mục dự án" in caplog.text  # here it is inside the config's directory
    caplog.clear()
    assert acks.load_secret(cfg, {}, create=False) is None  # preview: never creates one
    with caplog.at_level(logging.WARNING, logger="notifier.acks"):
        made = acks.load_secret(cfg, {})
    path = tmp_path / "var" / "secret.key"
    assert made is not None and len(made) == 64 and path.read_bytes().strip() == made
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "đã tạo mã ngẫu nhiên" in caplog.text and str(path) in caplog.text
    assert acks.load_secret(cfg, {}) == made  # the next start reads it back


def test_a_missing_or_short_secret_is_a_clear_config_error(tmp_path: Path) -> None:
    cfg = FakeConfig(tmp_path)
    with pytest.raises(ConfigError, match="quá ngắn"):
        acks.load_secret(cfg, {"NOTIFIER_SECRET": "ngắn"})
    with pytest.raises(ConfigError, match="không đọc được tệp mã bí mật"):
        acks.load_secret(cfg, {"NOTIFIER_SECRET_FILE": str(tmp_path / "không-có")})


# --- the store: once, then duplicates; audit; opt-outs (SQLite and PostgreSQL) ------------


def test_acknowledging_twice_keeps_the_first_and_logs_both(store: Store) -> None:
    new, first = store.acknowledge(SVH, HALF_YEAR, "report-sent", note="Đã gửi qua hệ thống",
                                   attempt=Attempt(WARNED, "lnk1", "10.0.0.1", "Thunderbird"))
    again, kept = store.acknowledge(SVH, HALF_YEAR, "report-sent", note="lần hai",
                                    attempt=Attempt(OVERDUE, "lnk2", "10.0.0.2", "x" * 500))
    assert (new, again) == (True, False)
    assert kept == first and kept.note == "Đã gửi qua hệ thống" and kept.at == WARNED
    assert kept.link_id == "lnk1"
    store.audit("forged", Attempt(OVERDUE, None, "10.0.0.3", None))
    log = store.ack_audit()
    assert [r["outcome"] for r in log] == ["accepted", "duplicate", "forged"]
    assert [r["link_id"] for r in log] == ["lnk1", "lnk2", None]
    assert len(log[1]["user_agent"]) == 200 and log[1]["client"] == "10.0.0.2"
    assert log[0]["at"] == WARNED and log[0]["unit"] == SVH and log[0]["key"] == HALF_YEAR
    assert store.acknowledged() == {("report-sent", HALF_YEAR, SVH)}
    assert [a.unit for a in store.acknowledgements(keys=[HALF_YEAR])] == [SVH]
    assert store.acknowledgements(unit="khac") == []


def test_digest_opt_out_is_idempotent_and_can_be_undone(store: Store) -> None:
    assert store.opt_out(SNGV, attempt=at(WARNED)) is True
    assert store.opt_out(SNGV, attempt=at(OVERDUE)) is False
    assert store.opted_out() == {SNGV}
    assert [(o["unit"], o["at"], o["link_id"]) for o in store.opt_outs()] == [(SNGV, WARNED, "lnk")]
    assert [r["outcome"] for r in store.ack_audit()] == ["accepted", "duplicate"]
    assert store.opt_in(SNGV) and store.opted_out() == frozenset()
    assert store.opt_outs() == [] and len(store.ack_audit()) == 2  # no attempt: not audited
    store.opt_out(SNGV, attempt=at(WARNED))
    assert store.opt_in(SNGV, attempt=at(OVERDUE)) is True
    assert store.opt_in(SNGV, attempt=at(OVERDUE)) is False
    log = [(r["outcome"], r["action"], r["unit"], r["key"], r["at"]) for r in store.ack_audit()]
    assert log[-2:] == [("accepted", "resubscribe-digest", SNGV, "digest", OVERDUE),
                        ("duplicate", "resubscribe-digest", SNGV, "digest", OVERDUE)]


# --- the seed project behind a real HTTP server -------------------------------------------


def project(root: Path) -> Path:
    """The seed config and schedules, copied; the config's path."""
    shutil.copy(REPO / "config.toml", root / "config.toml")
    shutil.copytree(REPO / "schedules", root / "schedules")
    return root / "config.toml"


@dataclass
class Served:
    client: httpx.Client
    store: Store
    site: Any
    clock: FixedClock
    config: Path

    def snapshot(self) -> Any:
        return self.site.snapshot()

    def reminders(self, start: datetime, end: datetime) -> list[Any]:
        snap = self.snapshot()
        options = acks.planning_options(snap.config, self.store, ENV)
        return snap.reminders(start=start, end=end, **options)

    def link(self, kind: str, unit: str, start: datetime = WARNED) -> str:
        """The path of the first link in the `kind` email to `unit` sent that day."""
        day = start.replace(hour=0)
        for r in self.reminders(day, day + timedelta(days=1)):
            if r.kind == kind and r.key.split("/")[2] == unit:
                url = (r.context["links"]["unsubscribe"] if kind == "digest"
                       else r.context["acks"][0]["url"])
                return urlsplit(url).path
        raise AssertionError(f"no {kind} email to {unit}")


@pytest.fixture
def served(tmp_path: Path, store: Store) -> Iterator[Served]:
    if not (REPO / "schedules").is_dir() or not any((REPO / "schedules").glob("*.toml")):
        pytest.skip("the seed schedule is not imported")
    from notifier.catalog import load_catalog
    from notifier.publish import FeedCache
    from notifier.site import Site
    from notifier.web import create_app

    config = project(tmp_path)
    clock = FixedClock(WARNED)
    site = Site(config, clock=clock, store=store, environ=ENV)
    cache = FeedCache(lambda now: load_catalog(config, now=now), clock=clock.now)
    app = create_app(cache, poll_interval=None, site=site)
    with running(app) as base, httpx.Client(base_url=base, timeout=20) as client:
        yield Served(client, store, site, clock, config)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_get_shows_what_is_acknowledged_and_post_records_it_once(served: Served) -> None:
    path = served.link("report-due", SVH)
    assert path.startswith("/a/")
    page = served.client.get(path)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = _text(page.text)
    for expected in ("Sở Văn hóa, Thể thao và Du lịch", "Báo cáo 6 tháng đầu năm 2024",
                     "Sở Ngoại vụ", "Số 34/KH-UBND", "Đã báo cáo", "Ghi chú (không bắt buộc)"):
        assert expected in text
    assert f'action="{path}"' in page.text and 'method="post"' in page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert served.store.acknowledged() == frozenset()  # a GET (a mail scanner) records nothing

    ua = "Mozilla/5.0 " + "x" * 400
    first = served.client.post(path, data={"note": "Đã gửi bằng văn bản số 12/BC-SVHTTDL"},
                               headers={"user-agent": ua})
    assert first.status_code == 200 and "đã ghi nhận" in first.text
    second = served.client.post(path, data={"note": "gửi lại"})
    assert second.status_code == 200 and "đã ghi nhận trước đó" in second.text
    [ack] = served.store.acknowledgements()
    assert (ack.unit, ack.key, ack.action) == (SVH, HALF_YEAR, "report-sent")
    assert ack.note == "Đã gửi bằng văn bản số 12/BC-SVHTTDL" and ack.at == WARNED
    log = served.store.ack_audit()
    assert [r["outcome"] for r in log] == ["accepted", "duplicate"]
    claim = Signer(SECRET.encode()).verify(path.removeprefix("/a/"), now=WARNED)
    assert all(r["link_id"] == claim.link and r["client"] == "127.0.0.1" for r in log)
    assert log[0]["user_agent"] == ua[:200]
    again = served.client.get(path)
    assert "đã ghi nhận" in again.text and "Đã gửi bằng văn bản số 12/BC-SVHTTDL" in again.text
    assert "<form" not in again.text


def test_altered_expired_and_misplaced_links_get_a_vietnamese_page_and_an_audit_row(
    served: Served,
) -> None:
    path = served.link("report-due", SVH)
    token = path.removeprefix("/a/")
    altered = "/a/" + token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    got = served.client.post(altered, data={"note": "x"})
    assert got.status_code == 403 and "Liên kết không hợp lệ" in got.text
    assert "Traceback" not in got.text and got.headers["content-type"].startswith("text/html")
    assert served.client.get("/a/khong-phai-ma").status_code == 403
    served.clock.moment = datetime(2024, 8, 14, 0, 1, tzinfo=TZ)  # 60 days after 14/6 are over
    old = served.client.post(path, data={"note": "muộn"})
    assert old.status_code == 410 and "Liên kết đã hết hạn" in old.text
    assert "13/8/2024" in _text(old.text)
    served.clock.moment = WARNED
    # A digest's unsubscribe token is no acknowledgement, and the reverse.
    unsubscribe = served.link("digest", SNGV, start=datetime(2024, 6, 3, 9, tzinfo=TZ))
    assert served.client.post("/a/" + unsubscribe.removeprefix("/u/")).status_code == 403
    assert served.client.post("/u/" + token).status_code == 403
    assert served.store.acknowledgements() == [] and served.store.opted_out() == frozenset()
    outcomes = [r["outcome"] for r in served.store.ack_audit()]
    assert outcomes == ["forged", "forged", "expired", "forged", "forged"]
    expired = served.store.ack_audit()[2]
    assert (expired["unit"], expired["key"]) == (SVH, HALF_YEAR)  # authentic: who and what known


def test_refused_attempts_reach_the_audit_table_within_a_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    moment = [0.0]
    budget = acks.RefusalBudget(per_client=3, overall=5, window=60, clock=lambda: moment[0])
    assert [budget.allow("10.0.0.1") for _ in range(4)] == [True, True, True, False]
    assert [budget.allow("10.0.0.2") for _ in range(3)] == [True, True, False]  # 5 in all
    moment[0] = 59.9
    assert not budget.allow("10.0.0.3") and budget.suppressed == 3
    moment[0] = 60.0  # a new window: counted afresh, and what was left out is logged once
    with caplog.at_level(logging.WARNING, logger="notifier.acks"):
        assert budget.allow("10.0.0.1") and budget.suppressed == 0
    expected = ("bỏ qua 3 lần ghi nhật ký liên kết sai hoặc hết hạn: quá 3 lần mỗi 60 giây từ "
                "một địa chỉ hoặc 5 lần từ mọi địa chỉ")
    assert [r.getMessage() for r in caplog.records if "bỏ qua" in r.getMessage()] == [expected]


def test_a_flood_of_forged_links_adds_bounded_rows_and_real_links_still_work(
    served: Served,
) -> None:
    """Forged links need no secret: each used to add an audit row, without limit."""
    for n in range(30):
        assert served.client.get(f"/a/khong-phai-ma-{n}").status_code == 403
    forged = [r for r in served.store.ack_audit() if r["outcome"] == "forged"]
    assert len(forged) == acks.RefusalBudget.per_client == 20
    path = served.link("report-due", SVH)
    assert "đã ghi nhận" in served.client.post(path, data={"note": ""}).text
    assert served.store.ack_audit()[-1]["outcome"] == "accepted"


def test_a_link_replayed_for_another_unit_records_nothing_for_it(served: Served) -> None:
    path = served.link("report-due", SVH)
    head, mac = path.removeprefix("/a/").split(".")
    payload = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    payload[3] = "so-tai-chinh"
    other = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
    replay = f"/a/{other.decode().rstrip('=')}.{mac}"
    assert served.client.post(replay, data={"note": "giả"}).status_code == 403
    assert served.client.post(path).status_code == 200  # the genuine one still works
    assert served.store.acknowledged() == {("report-sent", HALF_YEAR, SVH)}


def test_overdue_escalation_stops_for_what_is_acknowledged(served: Served) -> None:
    day = (OVERDUE.replace(hour=0), OVERDUE.replace(hour=0) + timedelta(days=1))

    def overdue_to() -> set[str]:
        return {r.key.split("/")[2] for r in served.reminders(*day) if r.kind == "report-overdue"}

    before = overdue_to()
    assert SVH in before and OTHER in before
    assert served.client.post(served.link("report-due", SVH), data={"note": ""}).status_code == 200
    after = overdue_to()
    assert after == before - {SVH}
    # …and the coordinator's digest of that week says who has and who has not.
    digest = next(r for r in served.reminders(*day) if r.kind == "digest")
    [item] = [i for i in digest.context["overdue"] if i["ack_key"] == HALF_YEAR]
    assert item["acknowledged"] == ["Sở Văn hóa, Thể thao và Du lịch"]
    assert "Sở Thông tin và Truyền thông" in item["pending"] and "Sở Văn hóa, Thể thao và Du lịch" not in \
        item["pending"]
    from notifier.emails import render

    assert "Đã xác nhận: Sở Văn hóa, Thể thao và Du lịch" in render("digest", digest.context).text


def test_preview_leaves_out_acknowledged_overdue_reminders(served: Served) -> None:
    from typer.testing import CliRunner

    from notifier.cli import app

    args = ["preview", "--from", "2024-06-17", "--to", "2024-06-17", "--json",
            "--config", str(served.config), "--now", "2024-06-01T08:00"]
    env = {**ENV, "NOTIFIER_DATABASE": served.store.engine.url.render_as_string(False)}

    def overdue_units() -> set[str]:
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        rows = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
        return {r["key"].split("/")[2] for r in rows if r["kind"] == "report-overdue"}

    assert SVH in overdue_units()
    served.store.acknowledge(SVH, HALF_YEAR, "report-sent", note="", attempt=at(WARNED))
    left = overdue_units()
    assert SVH not in left and OTHER in left


def test_activity_done_links_stop_that_activitys_reminders(served: Served) -> None:
    start = datetime(2024, 3, 1, tzinfo=TZ)
    end = datetime(2024, 12, 31, tzinfo=TZ)
    found = [r for r in served.reminders(start, end) if r.kind == "activity-end"]
    r = found[0]
    unit, link = r.key.split("/")[2], r.context["acks"][0]
    assert link["label"] == "Đã hoàn thành" and link["ref"] == r.refs[0]
    page = served.client.get(urlsplit(link["url"]).path)
    assert "Đã hoàn thành" in page.text and f"[{link['ref']}]" in _text(page.text)

    def reminding() -> list[Any]:
        return [x for x in served.reminders(start, end) if x.kind.startswith("activity-")
                and x.key.split("/")[2] == unit and link["ref"] in x.refs and x.plan == r.plan]

    assert r.key in {x.key for x in reminding()}
    assert served.client.post(urlsplit(link["url"]).path).status_code == 200
    assert reminding() == []  # report reminders still list it: the report covers it
    snap = served.snapshot()
    units = {u.slug: u.name for u in snap.directory}
    full = acks.status_for(served.store, snap, today=r.due_at.date())
    # …and as the coordinator's page (site.py) calls it: activities only, same rows.
    page = acks.status(served.store, plans=snap.plans, directory=snap.directory,
                       coordinator="Sở Ngoại vụ", today=r.due_at.date())
    assert [s for s in full if s.action == "activity-done"] == page
    june = acks.status_for(served.store, snap, today=date(2024, 6, 14))
    [report] = [s for s in june if s.action == "report-sent"]
    assert report.key == HALF_YEAR and "Sở Văn hóa, Thể thao và Du lịch" in report.missing
    assert report.what == "Báo cáo công tác đối ngoại 6 tháng đầu năm 2024 gửi Sở Ngoại vụ"
    [row] = [s for s in page if s.key == acks.activity_key(r.plan, link["ref"])]
    assert units[unit] in row.done and units[unit] not in row.missing
    assert any(s.missing for s in page)  # others have not: the page can tell them apart


def test_one_click_unsubscribe_then_no_more_digests(served: Served) -> None:
    monday = datetime(2024, 6, 3, 9, tzinfo=TZ)
    day = (monday.replace(hour=0), monday.replace(hour=0) + timedelta(days=1))
    digests = {r.key.split("/")[2]: r for r in served.reminders(*day) if r.kind == "digest"}
    assert SNGV in digests
    # Through the outbox and the sender's composer, as the daemon sends it.
    from notifier.delivery import build_envelope
    from notifier.mailer import Address

    served.store.enqueue([digests[SNGV]], now=monday)
    [row] = served.store.claim_due("test", now=monday)
    envelope = build_envelope(row, Address("Hệ thống nhắc việc", "nv@mail.example.org"), monday)
    assert not isinstance(envelope, tuple), envelope
    mail = email.message_from_bytes(envelope.data, policy=email.policy.default)
    url = re.fullmatch(r"<(http://[^>]+/u/[A-Za-z0-9_.-]+)>", mail["List-Unsubscribe"]).group(1)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in mail.get_body(("plain",)).get_content()
    page = served.client.get(urlsplit(url).path)
    assert page.status_code == 200 and "Ngừng nhận thư tổng hợp" in page.text
    assert served.store.opted_out() == frozenset()  # GET changes nothing
    # RFC 8058: what a mail client sends for one click.
    got = served.client.post(urlsplit(url).path, content=b"List-Unsubscribe=One-Click",
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert got.status_code == 200
    assert served.store.opted_out() == {SNGV}
    left = {r.key.split("/")[2] for r in served.reminders(*day) if r.kind == "digest"}
    assert left == set(digests) - {SNGV}


MONDAY = datetime(2024, 6, 3, 9, tzinfo=TZ)  # a weekly digest day
NEXT_MONDAY = datetime(2024, 6, 10, 9, tzinfo=TZ)  # the next one, after the clock (WARNED)
ONE_CLICK: dict[str, Any] = {"content": b"List-Unsubscribe=One-Click",
                             "headers": {"content-type": "application/x-www-form-urlencoded"}}


def digests_to(served: Served, moment: datetime = NEXT_MONDAY) -> set[str]:
    """The units planned a digest on that day."""
    day = moment.replace(hour=0)
    return {r.key.split("/")[2] for r in served.reminders(day, day + timedelta(days=1))
            if r.kind == "digest"}


def test_a_unit_that_unsubscribed_by_accident_gets_the_digest_back_from_the_page(
    served: Served,
) -> None:
    path = served.link("digest", SNGV, start=MONDAY)
    before = digests_to(served)
    assert SNGV in before
    got = served.client.post(path, **ONE_CLICK)  # one click in Gmail, by accident
    assert got.status_code == 200 and served.store.opted_out() == {SNGV}
    assert digests_to(served) == before - {SNGV}
    # The confirmation page offers the way back: our form, the same token, resubscribe=1.
    assert "Đã ngừng nhận thư tổng hợp" in got.text and "báo quản trị viên" not in got.text
    assert f'action="{path}"' in got.text and 'method="post"' in got.text
    assert '<input type="hidden" name="resubscribe" value="1">' in got.text
    assert "Nhận lại thư tổng hợp</button>" in got.text
    # …and so does the link opened again days later (a GET still changes nothing).
    served.clock.moment = OVERDUE
    again = served.client.get(path)
    from notifier.emails import vn_date

    assert f"từ 09:00 {vn_date(WARNED.date())}" in _text(again.text)
    assert '<input type="hidden" name="resubscribe" value="1">' in again.text
    assert served.store.opted_out() == {SNGV}
    done = served.client.post(path, data={"resubscribe": "1"})
    assert done.status_code == 200 and "Đã nhận lại thư tổng hợp" in done.text
    assert "Sở Ngoại vụ" in _text(done.text) and "từ kỳ gửi tiếp theo" in done.text
    assert served.store.opted_out() == frozenset()
    assert digests_to(served) == before  # the next digest is planned for it again
    twice = served.client.post(path, data={"resubscribe": "1"})
    assert twice.status_code == 200 and "không thay đổi gì" in twice.text
    link = Signer(SECRET.encode()).verify(path.removeprefix("/u/"), now=OVERDUE).link
    log = [(r["outcome"], r["action"], r["unit"], r["link_id"], r["at"])
           for r in served.store.ack_audit()]
    assert log == [("accepted", "unsubscribe-digest", SNGV, link, WARNED),
                   ("accepted", "resubscribe-digest", SNGV, link, OVERDUE),
                   ("duplicate", "resubscribe-digest", SNGV, link, OVERDUE)]
    # Subscribed again, the link's page offers to stop the digest, not to resume it.
    page = served.client.get(path)
    assert "Ngừng nhận thư tổng hợp</button>" in page.text and "resubscribe" not in page.text


def test_only_our_own_form_resubscribes_every_other_post_unsubscribes(served: Served) -> None:
    path = served.link("digest", SNGV, start=MONDAY)
    urlencoded = {"content-type": "application/x-www-form-urlencoded"}
    posts: list[dict[str, Any]] = [
        ONE_CLICK,  # RFC 8058, as Gmail and Outlook send it
        {"content": b"List-Unsubscribe=One-Click&resubscribe=1", "headers": urlencoded},
        {"files": {"List-Unsubscribe": (None, "One-Click")}},  # RFC 8058 allows multipart
        {"files": {"resubscribe": (None, "1")}},  # not what our page sends
        {"data": {"resubscribe": "yes"}},
        {},  # our own "Ngừng nhận thư tổng hợp" button: no body at all
    ]
    for post in posts:
        served.store.opt_in(SNGV)
        got = served.client.post(path, **post)
        assert got.status_code == 200 and "Đã ngừng nhận thư tổng hợp" in got.text, post
        assert served.store.opted_out() == {SNGV}, post
    assert served.client.post(path, data={"resubscribe": "1"}).status_code == 200
    assert served.store.opted_out() == frozenset()


def test_forged_expired_and_misplaced_tokens_cannot_resubscribe(served: Served) -> None:
    path = served.link("digest", SNGV, start=MONDAY)
    other = next(u for u in sorted(digests_to(served, MONDAY)) if u != SNGV)
    other_path = served.link("digest", other, start=MONDAY)
    for p in (path, other_path):
        assert served.client.post(p).status_code == 200
    assert served.store.opted_out() == {SNGV, other}
    token = path.removeprefix("/u/")
    altered = "/u/" + token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    head, mac = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    payload[3] = other  # SNGV's signature on the other unit's payload
    spliced = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
    ack = served.link("report-due", SVH).removeprefix("/a/")  # an /a/ token on /u/
    resubscribe = {"resubscribe": "1"}
    for forged in (altered, f"/u/{spliced.decode().rstrip('=')}.{mac}", "/u/" + ack,
                   "/u/khong-phai-ma"):
        got = served.client.post(forged, data=resubscribe)
        assert got.status_code == 403 and "Liên kết không hợp lệ" in got.text, forged
    expires = Signer(SECRET.encode()).verify(token, now=WARNED).expires
    served.clock.moment = datetime.combine(expires + timedelta(days=1), datetime.min.time(), TZ)
    old = served.client.post(path, data=resubscribe)
    assert old.status_code == 410 and "Liên kết đã hết hạn" in old.text
    assert served.store.opted_out() == {SNGV, other}
    outcomes = [r["outcome"] for r in served.store.ack_audit()]
    assert outcomes == ["accepted", "accepted", "forged", "forged", "forged", "forged", "expired"]
    # A genuine link resubscribes its own unit only.
    served.clock.moment = WARNED
    assert served.client.post(other_path, data=resubscribe).status_code == 200
    assert served.store.opted_out() == {SNGV}


def test_cli_lists_and_restores_digest_opt_outs(tmp_path: Path, store: Store) -> None:
    from typer.testing import CliRunner

    from notifier.cli import app

    shutil.copy(REPO / "config.toml", tmp_path / "config.toml")
    env = {"NOTIFIER_DATABASE": store.engine.url.render_as_string(False)}
    now = "2024-06-17T10:30+07:00"

    def cli(*args: str) -> Any:
        return CliRunner().invoke(app, ["digest-optouts", "--config", str(tmp_path / "config.toml"),
                                        "--now", now, *args], env=env)

    empty = cli()
    assert empty.exit_code == 0, empty.output
    assert "Không có đơn vị nào ngừng nhận thư tổng hợp" in empty.stdout
    gone = "so-da-giai-the"  # a unit since removed from config.toml
    for unit, moment in ((SNGV, WARNED), (SVH, WARNED + timedelta(hours=1)), (gone, OVERDUE)):
        store.opt_out(unit, attempt=at(moment))
    listed = cli("--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["unit"], r["name"], r["known"]) for r in rows] == [
        (SNGV, "Sở Ngoại vụ", True), (SVH, "Sở Văn hóa, Thể thao và Du lịch", True),
        (gone, gone, False)]
    assert datetime.fromisoformat(rows[0]["at"]) == WARNED and rows[0]["link_id"] == "lnk"
    table = cli()
    assert table.exit_code == 0, table.output
    for expected in ("Đơn vị đã ngừng nhận thư tổng hợp: 3", "Sở Ngoại vụ", "09:00 05/06/2024",
                     "--restore"):
        assert expected in table.stdout

    # By name in NFD capitals, by the old tone placement ("hoá"), by a slug only the store knows.
    import unicodedata

    done = cli("--restore", unicodedata.normalize("NFD", "SỞ NGOẠI VỤ"))
    assert done.exit_code == 0, done.output
    assert "Đã cho “Sở Ngoại vụ” (so-ngoai-vu) nhận lại thư tổng hợp" in done.stdout
    assert store.opted_out() == {SVH, gone}
    done = cli("--restore", "sở văn hoá, thể thao và du lịch", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"restored": SVH, "name": "Sở Văn hóa, Thể thao và Du lịch"}
    assert cli("--restore", gone).exit_code == 0 and store.opted_out() == frozenset()
    log = store.ack_audit()[-3:]
    assert {(r["outcome"], r["action"], r["unit"]) for r in log} == {
        ("accepted", "resubscribe-digest", u) for u in (SNGV, SVH, gone)}
    assert all(r["at"] == datetime.fromisoformat(now) and r["user_agent"].startswith("notifier")
               for r in log)

    again = cli("--restore", "SNgV")  # an alias
    assert again.exit_code == 1
    assert "“Sở Ngoại vụ” chưa ngừng nhận thư tổng hợp" in again.output
    unknown = cli("--restore", "Sở Ngoại vục")
    assert unknown.exit_code == 1
    assert "Không tìm thấy đơn vị “Sở Ngoại vục”; có phải là “Sở Ngoại vụ”?" in unknown.output
    assert "Traceback" not in unknown.output and store.opted_out() == frozenset()


# --- an email, delivered, whose link is followed -------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_a_delivered_reminder_link_acknowledges(tmp_path: Path) -> None:
    from _smtp import SmtpServer
    from test_daemon import Daemon, clean_env

    if not any((REPO / "schedules").glob("*.toml")):
        pytest.skip("the seed schedule is not imported")
    smtp = SmtpServer().start()
    port = _free_port()
    config = project(tmp_path)
    text = config.read_text(encoding="utf-8")
    text = text.replace('public_url = "http://127.0.0.1:8080"',
                        f'public_url = "http://127.0.0.1:{port}"')
    text += (f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nstarttls = false\n'
             'from_address = "nhacviec@mail.example.org"\n')
    config.write_text(text, encoding="utf-8")
    daemon = Daemon(tmp_path, now=WARNED.isoformat(), env=clean_env(), args=("--port", str(port)))
    try:
        daemon.ready()
        secret_log = daemon.wait_for(".*đã tạo mã ngẫu nhiên.*")
        assert "secret.key" in secret_log.group(0)
        deadline = datetime.now().timestamp() + 30
        mail = None
        while mail is None and datetime.now().timestamp() < deadline:
            for r in list(smtp.received):
                m = email.message_from_bytes(r.data, policy=email.policy.default)
                plain = m.get_body(("plain",)).get_content()
                if "sovhttdl@example.org" in r.rcpt_tos and "Đã báo cáo" in plain:
                    mail = m
            if mail is None:
                import time

                time.sleep(0.1)
        assert mail is not None, daemon.log_tail()
        plain = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        [url] = re.findall(r"http://127\.0\.0\.1:\d+/a/[A-Za-z0-9_.-]+", plain)
        assert f'href="{url}"' in html and "Đã báo cáo" in html
        with httpx.Client(timeout=20) as client:
            assert "Đã báo cáo" in client.get(url).text
            done = client.post(url, data={"note": "Đã gửi ngày 05/6"})
        assert done.status_code == 200 and "đã ghi nhận" in done.text
        store = open_store(f"sqlite:///{tmp_path / 'var' / 'notifier.sqlite3'}")
        try:
            [ack] = store.acknowledgements()
            assert (ack.unit, ack.key, ack.note) == (SVH, HALF_YEAR, "Đã gửi ngày 05/6")
            assert [r["outcome"] for r in store.ack_audit()] == ["accepted"]
        finally:
            store.close()
        assert stat.S_IMODE((tmp_path / "var" / "secret.key").stat().st_mode) == 0o600
    finally:
        daemon.stop()
        smtp.close()


def test_the_coordinator_page_shows_an_acknowledgement_at_once(served: Served) -> None:
    """The page reuses its read of the acknowledgements for a few seconds; recording one here
    drops that read, so the unit that just acknowledged never shows as 'not yet'."""
    page, note = f"/coordinators/{SNGV}", "Đã gửi bằng văn bản số 34/BC-SVHTTDL"
    done = f"Sở Văn hóa, Thể thao và Du lịch: {note}"
    before = _text(served.client.get(page).text)
    assert "Báo cáo công tác đối ngoại 6 tháng đầu năm 2024" in before and done not in before
    path = served.link("report-due", SVH)
    assert served.client.post(path, data={"note": note}).status_code == 200
    assert done in _text(served.client.get(page).text)
