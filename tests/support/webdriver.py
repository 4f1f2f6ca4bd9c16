"""A minimal W3C WebDriver client driving Debian's headless Chromium through chromedriver.

Enough for the gateway page's browser test: open a URL, find elements, type, click, read
text and properties, run a script, take a screenshot. chromedriver binds a free port
(``--port=0``) and says which; :meth:`Browser.close` ends the session and kills it.
``make browser`` installs ``chromium`` and ``chromium-driver`` (apt) when absent.
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

__all__ = ["Browser", "start"]

_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # W3C web element identifier


class WebDriverError(AssertionError):
    pass


class Browser:
    def __init__(self, process: subprocess.Popen[bytes], base: str, session: str) -> None:
        self._process = process
        self._base = base
        self._session = session

    def _call(self, method: str, path: str, body: object | None = None) -> Any:
        return _request(method, f"{self._base}/session/{self._session}{path}", body)

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        found = self._call("POST", "/element", {"using": "css selector", "value": css})
        if not isinstance(found, dict) or _ELEMENT not in found:
            raise WebDriverError(f"no element {css!r}: {found!r}")
        return str(found[_ELEMENT])

    def type(self, css: str, text: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self._call("POST", f"/element/{self.find(css)}/click", {})

    def text(self, css: str) -> str:
        return str(self._call("GET", f"/element/{self.find(css)}/text"))

    def script(self, source: str, *args: object) -> Any:
        return self._call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def wait_for(self, source: str, timeout: float = 120.0, what: str = "") -> Any:
        """Poll a script until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.script(source)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.2)

    def screenshot(self, path: pathlib.Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))

    def close(self) -> None:
        try:
            _request("DELETE", f"{self._base}/session/{self._session}", None)
        except (OSError, WebDriverError):
            pass
        finally:
            self._process.kill()
            self._process.wait(timeout=30)


def _request(method: str, url: str, body: object | None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            answer = json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise WebDriverError(f"{method} {url}: {e.code} {e.read()[:500]!r}") from e
    return answer.get("value")


def start(log: pathlib.Path, window: tuple[int, int] = (1200, 1000)) -> Browser:
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        raise AssertionError("chromium and chromedriver are needed: run `make browser`")
    with log.open("wb") as out:
        process = subprocess.Popen([driver, "--port=0"], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None:
            m = re.search(r"started successfully on port (\d+)", log.read_text())
            if m:
                port = int(m.group(1))
            elif time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"chromedriver did not start: {log.read_text()}")
            else:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        options = {
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                f"--window-size={window[0]},{window[1]}",
            ],
        }
        capabilities = {"browserName": "chrome", "goog:chromeOptions": options}
        created = _request(
            "POST", f"{base}/session", {"capabilities": {"alwaysMatch": capabilities}}
        )
        return Browser(process, base, str(created["sessionId"]))
    except BaseException:
        process.kill()
        process.wait()
        raise
