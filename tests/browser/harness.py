"""A real notifier behind a real browser, for tests/test_browser.py and screenshots.py.

Owns: `Site` (the daemon `notifier run --now …` in a subprocess, on a free 127.0.0.1 port,
with a copy of the project's config.toml and the 2024 seed plan, mail to a real aiosmtpd),
`launch(playwright)` (Debian's Chromium, headless, with no network of its own),
`CHROMIUM`, `ARGS`, `NOW`, `artifacts_dir()`.
Facts relied on: the daemon logs "notifier đang chạy: … port=N" then "quét lần đầu xong"
(daemon.py); `[notifier] public_url` is the base of every link in pages and emails, so it is
set to the daemon's own address; the clock is `--now`, advancing from there (ShiftedClock).
At NOW (Monday 24/6/2024, 09:00) the 08:00 reminders are inside the 24-hour grace, so mail
goes out: "5 working days before" the start of Quý III/2024 (Monday 01/7) and before the end
of Quý II and Tháng 6/2024 (Sunday 30/6), each with an acknowledgement link, and the weekly
digest to the coordinators; every status (upcoming, in progress, over) has activities.
Leaves to others: the pages (site.py), acknowledgement links (acks.py), the mail (emails.py).
"""

from __future__ import annotations

import email
import email.message
import email.policy
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
if str(TESTS) not in sys.path:  # for `python tests/browser/screenshots.py`
    sys.path.insert(0, str(TESTS))

from _smtp import SmtpServer

__all__ = ["ARGS", "CHROMIUM", "NOW", "PLAN", "Site", "artifacts_dir", "launch"]

NOW = "2024-06-24T09:00:00+07:00"
PLAN = "34-kh-ubnd-2024"
CHROMIUM = os.environ.get("NOTIFIER_CHROMIUM", "/usr/bin/chromium")
# No network beyond 127.0.0.1 on CI: no QUIC probing, no component or sync fetches.
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT = 60.0  # seconds the daemon may take to start and send (2 shared cores)


def artifacts_dir() -> Path:
    """Where screenshots go: $NOTIFIER_ARTIFACTS, else tests/artifacts/ (gitignored)."""
    folder = Path(os.environ.get("NOTIFIER_ARTIFACTS") or TESTS / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def launch(playwright: Any, executable: str = CHROMIUM) -> Any:
    """Debian's Chromium (not a Playwright download), headless."""
    return playwright.chromium.launch(executable_path=executable, args=ARGS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _project(root: Path, public_url: str, smtp_port: int) -> Path:
    """The repository's config.toml and seed schedule, mail and links pointed here."""
    (root / "schedules").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "schedules" / f"{PLAN}.toml", root / "schedules")
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text, n = re.subn(r'(?m)^public_url = "[^"]*"', f'public_url = "{public_url}"', text)
    assert n == 1, "config.toml: no [notifier] public_url line to point at the test server"
    text += f"""
[smtp]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from_address = "nhacviec@mail.example.org"
from_name = "Hệ thống nhắc việc"
"""
    config = root / "config.toml"
    config.write_text(text, encoding="utf-8")
    return config


class Site:
    """`notifier run` on the seed project, with an aiosmtpd it mails to. Use as a context.

    `public_url` (default: the daemon's own address, so links work) is what pages and mail
    show; screenshots.py sets a realistic https one, and then follows no link."""

    def __init__(self, root: Path, now: str = NOW, public_url: str | None = None) -> None:
        self.root, self.now, self.public_url = root, now, public_url
        self.smtp = SmtpServer()
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc: subprocess.Popen[str] | None = None
        self.base = ""

    def __enter__(self) -> Self:
        self.smtp.start()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        # The port is picked before the daemon binds it (public_url must name it), so another
        # process may take it in between: the daemon then exits at once, and we pick again.
        for attempt in range(3):
            port = free_port()
            public_url = self.public_url or f"http://127.0.0.1:{port}"
            reader = self._spawn(port, _project(self.root, public_url, self.smtp.port))
            try:
                self.wait_for(r"notifier đang chạy: .* port=(\d+)")
                break
            except AssertionError:
                assert self.proc is not None
                if attempt == 2 or self.proc.poll() is None:
                    raise
                reader.join(5)
        self.base = f"http://127.0.0.1:{port}"
        self.wait_for("quét lần đầu xong")

    def _spawn(self, port: int, config: Path) -> threading.Thread:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
        cmd = [
            sys.executable, "-m", "notifier.cli", "run", "--config", str(config),
            "--host", "127.0.0.1", "--port", str(port), "--now", self.now,
            "--sweep", "1", "--retry", "0.5",
        ]  # fmt: skip
        with self._cond:
            self.lines = []
        self.proc = subprocess.Popen(
            cmd, cwd=self.root, env={**env, "PYTHONUNBUFFERED": "1"}, text=True,
            encoding="utf-8", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        reader.start()
        return reader

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def log_tail(self) -> str:
        with self._cond:
            return "\n".join(self.lines[-40:])

    def wait_for(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        regex, deadline = re.compile(pattern), time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if m := regex.search(line):
                        return m
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(f"daemon exited:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"no log line /{pattern}/:\n{self.log_tail()}")
                self._cond.wait(0.2)

    def messages(self, at_least: int = 1) -> list[email.message.EmailMessage]:
        """What the SMTP server accepted, parsed; waits for `at_least` of them."""
        deadline = time.monotonic() + TIMEOUT
        while len(self.smtp.received) < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.smtp.received)} mails:\n{self.log_tail()}")
            time.sleep(0.1)
        return [
            email.message_from_bytes(r.data, policy=email.policy.default)  # type: ignore[misc]
            for r in list(self.smtp.received)
        ]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.smtp.close()
