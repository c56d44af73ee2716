"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's live_server.

The browser is /usr/bin/chromium from Debian (scripts/ensure-browser.sh installs it, with a CJK
font so Chinese renders instead of boxes); Playwright never downloads one here. A missing
browser or Playwright fails the tests, never skips them.

Screenshots go to artifacts/screenshots/<test>-<name>.png (artifacts/ is git-ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # the machines run tests as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps calling Google's hosts, which this closed network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
TIMEOUT_MS = 15_000


def pytest_collection_modifyitems(config, items):
    """Every test under tests/browser is a browser test, so that ``-m "not browser"`` leaves them all out."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """One Chromium for all of tests/browser, closed when they are done.

    While Playwright's sync API is started, it runs an asyncio event loop in this (the test)
    thread, in a greenlet beside the test code, so two things change for Django here:

    - ``asyncio.get_running_loop()`` answers from test code too, so Django takes every ORM call
      the test makes (factories, assertions on the database) for one made from async code and
      raises SynchronousOnlyOperation. Nothing here is really async: the calls are plain
      synchronous code made while Playwright's loop is idle. Hence DJANGO_ALLOW_ASYNC_UNSAFE,
      set for exactly as long as Playwright runs.
    - The test code runs in another contextvars context, and Django's ``connections`` (an
      asgiref Local) hands it other DatabaseWrapper objects than the ones pytest-django set up.
      They reach the same test database, but serialized_rollback silently does nothing (the
      saved contents hang on the old wrappers): see ``default_refund_policies``.

    Package scope, not session: the rest of a run (other transactional tests, which pytest-django
    orders after these) gets Django's own connections and checks back.
    """
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-browser.sh (make test does).", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"Playwright is not installed ({exc}): make dev-venv (requirements-dev.txt).", pytrace=False)
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                yield browser
            finally:
                connections.close_all()  # the wrappers of Playwright's context; nothing else closes them
                browser.close()
    finally:
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, default_refund_policies):
    """The default refund policies; uploads under tmp_path; a cache of the test's own.

    The submit rate limit counts in the cache, and ``make test`` would otherwise share Redis
    db 15 with every other run in the same hour. The live server thread reads these settings too.
    """
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": str(tmp_path)}
    }


def _context(browser, **options):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def page(browser, live_server):
    """A desktop page in a fresh context (no cookies), speaking Chinese, on Beijing time."""
    context = _context(browser, viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()


@pytest.fixture
def phone_page(browser, live_server):
    """A 390 px phone (iPhone 12-14 size, 2x), in a context of its own."""
    context = _context(browser, **PHONE)
    yield context.new_page()
    context.close()


def _test_name() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "unknown")  # "path::name[param] (call)"
    name = current.split("::")[-1].rsplit(" ", 1)[0]
    return re.sub(r"[^\w.-]+", "_", name).strip("_")


def shot(page, name: str) -> Path:
    """Save a full-page screenshot as artifacts/screenshots/<test>-<name>.png and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{_test_name()}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def fits_the_phone(page) -> None:
    """Nothing on the page is wider than its viewport: no sideways scrolling on a phone."""
    width = page.viewport_size["width"]
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width}px wide on a {width}px screen"


def login(page, live_server, username: str, password: str) -> None:
    """Log in through the real form at /login/ and wait until the form has gone."""
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("用户名或手机号").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/login/" not in url)
