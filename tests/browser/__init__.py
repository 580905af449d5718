"""Headless-Chromium proof of the web pages: `harness` (a real daemon, SMTP server and
browser), `screenshots` (remakes docs/img/*.png). The tests are tests/test_browser.py."""
