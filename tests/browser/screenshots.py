"""Remake the README's page screenshots (docs/img/*.png) from a real daemon in Chromium.

    .venv/bin/python tests/browser/screenshots.py [--out docs/img]

Starts the same daemon as tests/test_browser.py (harness.Site: the repository's config.toml,
the 2024 seed plan, the clock at 24/6/2024 09:00, mail to aiosmtpd), opens each page in
headless Debian Chromium (links shown under the public address PUBLIC_URL, as a province
would publish them) and saves the top of it (what a person sees first) as PNG:
desktop pages at 1280×860 CSS px, the unit page also on a 390 px phone. The
acknowledgement page is opened from the link in a reminder the daemon really sent.
Each file must stay under 300 kB (the README is read on slow links too); the script fails
otherwise. Writes nothing else.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from browser.harness import PLAN, ROOT, Site, launch

PUBLIC_URL = "https://lich.example.gov.vn"  # what a province would publish (docs/feeds.md)
LIMIT = 300_000  # bytes a README image may take
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
UNIT = "so-van-hoa-the-thao-va-du-lich"


def ack_path(site: Site) -> str:
    """The "Đã hoàn thành [II.7]" button's path, from the reminder Sở VHTTDL received."""
    for message in site.messages():
        html = message.get_body(("html",)).get_content()
        if m := re.search(r'href="([^"]+/a/[^"]+)"[^>]*>Đã hoàn thành \[II\.7\]', html):
            return "/a/" + m[1].split("/a/", 1)[1]
    raise SystemExit("no reminder with an acknowledgement link for II.7 was sent")


def unsubscribe_path(site: Site) -> str:
    """The /u/ link of the digest Văn phòng UBND tỉnh received (its List-Unsubscribe)."""
    for message in site.messages():
        found = re.search(r"<[^>]*(/u/[^>]+)>", str(message["List-Unsubscribe"] or ""))
        if found and "vanphong.ubnd@" in str(message["To"]):
            return found[1]
    raise SystemExit("no digest with an unsubscribe link was sent")


def shots(site: Site) -> list[tuple[str, str, dict[str, int]]]:
    """(file name, path, viewport) of each picture."""
    return [
        ("trang-chu.png", "/", DESKTOP),
        ("ke-hoach.png", f"/plans/{PLAN}", DESKTOP),
        ("ke-hoach-loc.png", f"/plans/{PLAN}?unit={UNIT}&status=in-progress", DESKTOP),
        ("don-vi.png", f"/units/{UNIT}", DESKTOP),
        ("don-vi-dien-thoai.png", f"/units/{UNIT}", PHONE),
        ("dau-moi.png", "/coordinators/so-ngoai-vu", DESKTOP),
        ("xac-nhan.png", ack_path(site), DESKTOP),
        ("ngung-nhan.png", unsubscribe_path(site), DESKTOP),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    too_big = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        Site(Path(tmp), public_url=PUBLIC_URL) as site,
        sync_playwright() as p,
    ):
        browser = launch(p)
        for name, path, viewport in shots(site):
            context = browser.new_context(
                viewport=viewport, locale="vi-VN", is_mobile=viewport["width"] < 500
            )
            page = context.new_page()
            response = page.goto(site.base + path)
            assert response is not None and response.status == 200, (path, response)
            target = out / name
            # The first screen, or less when the page is shorter (no blank band below).
            tall = page.evaluate("Math.ceil(document.body.getBoundingClientRect().bottom) + 24")
            box = {
                "x": 0,
                "y": 0,
                "width": viewport["width"],
                "height": min(viewport["height"], tall),
            }
            page.screenshot(path=str(target), clip=box)
            context.close()
            size = target.stat().st_size
            shown = re.sub(r"^/([au])/.*", r"/\1/…", path)  # tokens are long and say nothing
            where = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
            print(f"{where}: {shown}, {size // 1000} kB")
            if size > LIMIT:
                too_big.append(name)
        browser.close()
    if too_big:
        print(f"over {LIMIT // 1000} kB: {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
