"""The browser side of the UI tests: Debian's chromium driven by Selenium through Debian's
chromium-driver (both named explicitly; nothing is downloaded), and ``Page``, the stand-in web UI
of ``tests/support/ui_host.py`` in it, read by the components' ``data-test`` hooks.

Without chromium or chromedriver the tests skip, unless CI is set: then they fail.
"""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.ui_host import NODE_MODULES, VENDOR, UiHost
from tests.support.ui_schema import answer_schema, field_problem, split_route

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
DOC_IMAGES = ROOT / "docs" / "images"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# As the machine's notes say headless chromium needs here: no sandbox as root, and none of
# its own network traffic (this machine refuses it), in a fresh profile.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
                  "--window-size=1280,800", "--force-device-scale-factor=1")
TOOLBAR = "kytos-mq_producer-k-toolbar-main"


def _browser_missing() -> str | None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return (f"{' and '.join(missing)} not installed: scripts/setup installs Debian's "
                "chromium and chromium-driver (as root)")
    return None


def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """The body of a test module's ``driver`` fixture: headless chromium, quit at the end."""
    reason = _browser_missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the browser test must run, but {reason}")
        pytest.skip(reason)
    missing = [str(path) for path in VENDOR.values() if not path.is_file()]
    assert not missing, f"{missing} missing: run scripts/setup (npm ci into {NODE_MODULES})"
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager: never a download
        browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                                   options=options)
    yield browser
    browser.quit()


class Page:
    """The stand-in web UI in the browser, read by data-test hooks."""

    def __init__(self, browser: webdriver.Chrome, host: UiHost, name: str) -> None:
        self.browser = browser
        self.host = host
        self.name = name
        self.console: list[dict[str, Any]] = []

    def open(self) -> None:
        self.browser.get_log("browser")  # what an earlier test left
        self.browser.get(self.host.url)
        self.wait(lambda: self.browser.execute_script("return window.__hostReady === true"),
                  "the host page")
        self.wait(lambda: self.browser.find_elements(
            By.CSS_SELECTOR, f'[data-test="menubar-item"][data-name="{TOOLBAR}"]'),
                  "mq_producer's toolbar item in the menu bar")
        # both components compiled and mounted (hidden) at page load
        self.wait(lambda: self.hooks("mqp-toolbar") and self.hooks("mqs-panel"),
                  "the toolbar item and the info panel component mounted")

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = 15) -> Any:
        return WebDriverWait(self.browser, timeout, poll_frequency=0.1, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException)).until(
                lambda _: condition(), message=f"waiting for {what}")

    def hook(self, name: str, inside: WebElement | None = None) -> WebElement:
        return (inside or self.browser).find_element(By.CSS_SELECTOR, f'[data-test="{name}"]')

    def hooks(self, name: str) -> list[WebElement]:
        return self.browser.find_elements(By.CSS_SELECTOR, f'[data-test="{name}"]')

    def text(self, name: str) -> str:
        return self.hook(name).text.strip()

    def content(self, name: str) -> str:
        """The text of a hook, shown or hidden (``text`` is "" for a hidden element)."""
        return (self.hook(name).get_attribute("textContent") or "").strip()

    def click(self, name: str) -> None:
        """Click the k-button inside a hook."""
        self.hook(name).find_element(By.TAG_NAME, "button").click()

    def menu(self, item: str) -> None:
        self.browser.find_element(
            By.CSS_SELECTOR, f'[data-test="menubar-item"][data-name="{item}"]').click()

    def count(self, counter: str) -> str:
        return self.hook("mqp-count", self.hook(f"mqp-counter-{counter}")).text.strip()

    def value(self, hook: str) -> str:
        return self.hook("mqs-value", self.hook(hook)).text.strip()

    def notifications(self) -> list[dict[str, str]]:
        return self.browser.execute_script("return window.__notifications")

    def api(self, route: str) -> tuple[int, Any]:
        answer = httpx.get(f"{self.host.url}api/{route}", timeout=10)
        return answer.status_code, answer.json()

    def shot(self, state: str) -> Path:
        """One PNG per state: test-artifacts/ui/, and docs/images/ when asked."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"mq_producer-ui-{state}.png"
        assert self.browser.save_screenshot(str(path))
        if os.environ.get("UPDATE_DOC_IMAGES"):
            DOC_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOC_IMAGES / path.name)
        return path

    def console_problems(self, allowed: Callable[[dict[str, Any]], bool] = lambda _: False
                         ) -> list[str]:
        """Errors and warnings in the browser console (Vue's warnings included)."""
        self.console += self.browser.get_log("browser")
        return [f"{entry['level']} {entry['message']}" for entry in self.console
                if entry["level"] in ("SEVERE", "WARNING") and not allowed(entry)]

    def check_field_reads(self) -> set[tuple[str, str]]:
        """Every field the components read of an answer is in that answer's schema."""
        reads = self.browser.execute_script("return window.__fieldReads")
        problems = []
        for read in reads:
            napp, path = split_route(read["url"])
            schema = answer_schema(napp, path, read["method"], read["status"])
            if schema is None:
                problems.append(f"{read['method']} {read['url']} answered {read['status']}: "
                                "not documented")
            elif (problem := field_problem(napp, schema, read["path"])) is not None:
                problems.append(f"{read['method']} {read['url']} {read['status']}: {problem}")
        assert problems == []
        return {(read["method"], read["url"]) for read in reads}
