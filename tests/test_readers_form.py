"""The rating form in headless Chromium: fill it in like a reader, export, ingest the CSV.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe`` (JSON messages
separated by NUL bytes on file descriptors 3 and 4), so the test needs only the Debian
``chromium`` package and no Python dependency. It skips when no Chromium binary is found.
Set ``RECONSTUDY_FORM_SCREENSHOT=/some/file.png`` to keep a screenshot of the filled form.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from reconstudy.readers import ReadingCase, export_packet
from reconstudy.readers.form import render_form
from reconstudy.readers.ratings import read_ratings, unblind

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--window-size=1400,1000",
    "--remote-debugging-pipe",
]


class PipeBrowser:
    """A minimal DevTools-protocol client for one headless Chromium page."""

    def __init__(self, profile_dir: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_fds():  # runs in the child before exec: Chromium reads fd 3, writes fd 4
            # Move both ends above 4 first: a pipe end may already sit on 3 or 4, and dup2 onto
            # itself would keep its close-on-exec flag.
            high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=wire_fds,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, timeout: float = 30.0, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30.0, where=lambda params: True) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for n, event in enumerate(self.events):
                if event.get("method") == method and where(event.get("params", {})):
                    return self.events.pop(n)["params"]
            self.events.append(self._read_message(deadline))

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def key(self, key: str):
        for kind in ("keyDown", "keyUp"):
            params = {"type": kind, "key": key}
            if kind == "keyDown" and len(key) == 1:
                params["text"] = key
            if key.startswith("Arrow"):
                params["windowsVirtualKeyCode"] = {
                    "ArrowLeft": 37,
                    "ArrowUp": 38,
                    "ArrowRight": 39,
                    "ArrowDown": 40,
                }[key]
            self.call("Input.dispatchKeyEvent", session=True, **params)

    def close(self):
        try:
            self.call("Browser.close", timeout=5.0)
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture(scope="module")
def packet(tmp_path_factory):
    rng = np.random.default_rng(5)
    base = rng.random((12, 20, 24)).astype(np.float32)
    cases = [
        ReadingCase(subject, method, base + noise * rng.random(base.shape), R=R)
        for subject in ("sub-01", "sub-02")
        for method, R, noise in (("CS", 4, 0.1), ("DL", 8, 0.5))
    ]
    out = tmp_path_factory.mktemp("reading") / "packet"
    return export_packet(cases, out, seed=11, dicom=False, title="Form test")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no Chromium binary (Debian: apt-get install chromium)")
    b = PipeBrowser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def _open(browser, packet):
    browser.call("Page.navigate", session=True, url=(packet.directory / "index.html").as_uri())
    browser.wait_event("Page.loadEventFired")
    assert browser.js("document.readyState") == "complete"


def test_form_renders_cases_and_criteria(packet, browser):
    _open(browser, packet)
    assert browser.js("document.querySelectorAll('#case-list a').length") == len(packet.key)
    assert browser.js("document.querySelectorAll('.criterion').length") == len(packet.criteria)
    assert browser.js("document.getElementById('case-image').naturalWidth") > 0  # the PNG loaded from disk
    assert (
        browser.js("document.getElementById('progress-text').textContent")
        == f"0 / {len(packet.key)} cases rated"
    )
    html = (packet.directory / "index.html").read_text()
    assert "http://" not in html and "https://" not in html


def test_fill_export_and_ingest(packet, browser, tmp_path):
    _open(browser, packet)
    browser.js("localStorage.clear()")
    _open(browser, packet)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.call(
        "Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads), eventsEnabled=True
    )
    browser.js("document.getElementById('reader').focus()")
    browser.call("Input.insertText", session=True, text="R1")
    browser.js("document.activeElement.blur()")

    n_cases, criteria = len(packet.key), [c.id for c in packet.criteria]
    expected = {}
    # Case 1 by keyboard: each digit scores the highlighted criterion and moves to the next one.
    first = browser.js("window.readingForm.unrated()[0]")
    for n, criterion in enumerate(criteria):
        score = 1 + (n + 2) % 5
        browser.key(str(score))
        expected[(first, criterion)] = score
    browser.key("ArrowRight")
    # Exporting now must warn about the unrated cases instead of downloading.
    browser.js("document.getElementById('export').click()")
    notice = browser.js("document.getElementById('notice').textContent")
    assert f"{n_cases - 1} of {n_cases} cases are not fully rated" in notice
    assert not list(downloads.iterdir())
    # The remaining cases by clicking the score buttons.
    for n in range(1, n_cases):
        browser.js(f"window.readingForm.show({n})")
        case = browser.js("document.getElementById('case-title').textContent").split()[-1]
        for k, criterion in enumerate(criteria):
            score = 1 + (3 * n + k) % 5
            browser.js(f"document.querySelector('label[for=\"score-{criterion}-{score}\"]').click()")
            expected[(case, criterion)] = score
    assert (
        browser.js("document.getElementById('progress-text').textContent")
        == f"{n_cases} / {n_cases} cases rated"
    )
    # The warning shown earlier updates itself once nothing is left unrated.
    assert "Every case is rated" in browser.js("document.getElementById('notice').textContent")
    screenshot = os.environ.get("RECONSTUDY_FORM_SCREENSHOT")
    if screenshot:
        shot = browser.call("Page.captureScreenshot", session=True, format="png")
        Path(screenshot).write_bytes(base64.b64decode(shot["data"]))

    browser.js("document.getElementById('export').click()")
    browser.wait_event("Browser.downloadProgress", where=lambda p: p.get("state") == "completed")
    (csv_path,) = list(downloads.iterdir())
    assert csv_path.name.startswith("ratings_R1_")
    assert csv_path.read_text() == browser.js("document.getElementById('csv-output').value")

    ratings = read_ratings(csv_path, key=packet.key, criteria=packet.criteria)
    assert len(ratings) == n_cases * len(criteria)
    got = {(r.case, r.criterion): r.score for r in ratings.itertuples()}
    assert got == expected
    assert set(ratings["reader"]) == {"R1"}
    # Scores and reader ID survive closing the page (local storage).
    _open(browser, packet)
    assert browser.js("window.readingForm.unrated().length") == 0
    assert browser.js("document.getElementById('reader').value") == "R1"
    table = unblind(ratings, packet.key)
    assert set(table["method"]) == {"CS", "DL"} and set(table["subject"]) == {"sub-01", "sub-02"}


def test_render_form_escapes_script_breaking_labels():
    manifest = {
        "packet_id": "abcd",
        "title": "<b>x</b>",
        "scale": {"1": "a"},
        "criteria": [{"id": "q", "label": "</script><script>alert(1)</script>"}],
        "cases": [],
    }
    html = render_form(manifest)
    assert "</script><script>alert(1)" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    with pytest.raises(ValueError, match="cases"):
        render_form({"packet_id": "x", "criteria": [], "scale": {}})
