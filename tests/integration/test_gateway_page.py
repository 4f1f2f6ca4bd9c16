"""The gateway's web page in a real headless Chromium: upload with progress → blob ID and
link; read by ID; a network view that refreshes by itself. The final screenshot is kept
in tests/artifacts/gateway-page.png (not committed)."""

from __future__ import annotations

import pathlib
import urllib.request

from tests.support import gateway as gateway_mod
from tests.support import webdriver
from walrus_node.testbed.testbed import Testbed

ARTIFACTS = pathlib.Path(__file__).resolve().parents[1] / "artifacts"


def test_page_stores_reads_and_shows_the_network(testbed: Testbed, tmp_path: pathlib.Path) -> None:
    gw = gateway_mod.start(testbed.client_config, tmp_path)
    try:
        browser = webdriver.start(tmp_path / "chromedriver.log", window=(1200, 1300))
    except BaseException:
        gw.stop()  # a gateway left running would outlive the test
        raise
    try:
        browser.open(gw.url + "/")
        rows = browser.wait_for(
            "const r = document.querySelectorAll('#members tr');"
            "return r.length === 7 && [...r].every(t => t.textContent.includes('active'))"
            " && r.length;",
            what="the network view to list 7 active nodes",
        )
        assert rows == 7
        assert "epoch 1" in browser.text("#network-summary")

        text = b"a file stored from a browser\n" * 40_000  # 1.1 MiB: several progress events
        source = tmp_path / "notes.txt"
        source.write_bytes(text)
        browser.type("#file", str(source))
        browser.click("#store")
        blob_id = browser.wait_for(
            "const a = document.getElementById('stored-link'); return a && a.textContent;",
            what="the stored blob's link",
        )
        assert browser.script("return document.getElementById('upload-progress').value") == 100
        href = browser.script("return document.getElementById('stored-link').href")
        assert href == f"{gw.url}/v1/blobs/{blob_id}"
        with urllib.request.urlopen(href) as reply:
            assert reply.read() == text

        browser.script("document.getElementById('blob-id').value = '';")
        browser.type("#blob-id", blob_id)
        browser.click("#read")
        shown = browser.wait_for(
            "const p = document.getElementById('read-text'); return p && p.textContent;",
            what="the text preview",
        )
        assert shown == text[:1000].decode()
        assert f"{len(text)} bytes, text/plain" in browser.text("#read-result")

        testbed.kill("node-4")
        browser.wait_for(
            "return [...document.querySelectorAll('#members tr')].some("
            "t => t.textContent.includes('node-4') && t.textContent.includes('unreachable'));",
            what="the network view to show node-4 unreachable",
        )
        browser.screenshot(ARTIFACTS / "gateway-page.png")
        assert (ARTIFACTS / "gateway-page.png").stat().st_size > 1000
    finally:
        browser.close()
        gw.stop()
