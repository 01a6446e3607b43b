"""The page people use, in Chromium and Firefox (WebKitGTK runs the same scenario in
test_browser_webkit.py): errors shown where they happen, outcomes and scores explained, the
chart, the pattern list, bundles, the trust list, and what it says about the network and
where patterns go."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import scenarios
from browsers import launch
from test_browser_pwa import open_app


def test_page_scenario(playwright, app_url, engine):
    foreign = scenarios.foreign_bundle()
    browser = launch(playwright, engine)
    try:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        open_app(page, app_url, f"page-{uuid.uuid4().hex[:6]}", "&nosw")
        out = page.evaluate(scenarios.page_playwright_js(), foreign)
        scenarios.check_page(out, foreign)
        assert errors == []
    finally:
        browser.close()


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "reasoningbank", *args], capture_output=True, text=True, timeout=120
    )
    assert not check or out.returncode == 0, out.stderr
    return out


def test_sharing_remembered_is_told_while_the_runtime_boots(playwright, app_url, engine):
    """The footer never says "only in this browser" while the page is about to share: held
    at boot (the runtime's download never answers), it already names the hub."""
    browser = launch(playwright, engine)
    try:
        ctx = browser.new_context()
        saved = {
            "hub": "https://127.0.0.1:9/bus",
            "certHash": "00" * 32,
            "source": "link",
            "enabled": True,
        }
        ctx.add_init_script(f"localStorage.setItem('rb-bus', {json.dumps(json.dumps(saved))})")
        held: list[Any] = []
        ctx.route("**/pyodide.asm.wasm", lambda route: held.append(route))  # never answered
        page = ctx.new_page()
        page.goto(f"{app_url}?db=held-{uuid.uuid4().hex[:6]}&nosw", wait_until="domcontentloaded")
        page.wait_for_function(
            "document.querySelector('#where').textContent.includes('shared with the hub at 127.0.0.1:9')",
            timeout=20_000,
        )
        assert page.text_content("#where-now") == page.text_content("#where")
        assert "only peers that trust this browser's key" in page.text_content("#where")
        assert not page.evaluate("Boolean(window.rbReady)") and held
        for route in held:
            route.abort()
    finally:
        browser.close()


def test_the_network_state_follows_the_browser(playwright, app_url, engine):
    browser = launch(playwright, engine)
    try:
        ctx = browser.new_context()
        page = ctx.new_page()
        open_app(page, app_url, f"net-{uuid.uuid4().hex[:6]}", "&nosw")
        assert page.text_content("#net") == "Online · sharing off"
        ctx.set_offline(True)
        page.wait_for_function("document.querySelector('#net').dataset.online === 'false'")
        assert page.text_content("#net").startswith("Offline: everything still works here")
        ctx.set_offline(False)
        page.wait_for_function("document.querySelector('#net').dataset.online === 'true'")
        assert page.text_content("#net") == "Online · sharing off"
    finally:
        browser.close()


def export_from_page(page: Any, engine: str, where: Path) -> Path:
    """Click Export and keep the file. Firefox driven over WebDriver BiDi reports no download
    events to Playwright, so there the bytes are read from the Blob the button downloads."""
    if engine == "chromium":
        with page.expect_download() as download:
            page.click("#export")
        path = where / download.value.suggested_filename
        download.value.save_as(path)
        return path
    page.evaluate("""() => {
        window.rbDownloads = [];
        const create = URL.createObjectURL;
        URL.createObjectURL = (blob) => (window.rbDownloads.push(blob), create.call(URL, blob));
        const click = HTMLAnchorElement.prototype.click;
        HTMLAnchorElement.prototype.click = function () {
          if (this.download) window.rbDownloads.push(this.download);
          return click.call(this);
        };
    }""")
    page.click("#export")
    page.wait_for_function("window.rbDownloads.length === 2")
    name, text = page.evaluate(
        "async () => [window.rbDownloads[1], await window.rbDownloads[0].text()]"
    )
    path = where / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bundles_cross_between_the_page_and_the_cli(playwright, app_url, engine, tmp_path: Path):
    """The page's Export is a file `reasoningbank import` accepts (once it trusts the page's
    key), and a CLI export imports into the page (once the page trusts the bank's key)."""
    bank = str(tmp_path / "bank.db")
    cli("--db", bank, "store", "--task", "shard the session table", "--category", "db",
        "--strategy", "measure first", "--score", "0.9")  # fmt: skip
    browser = launch(playwright, engine)
    try:
        ctx = browser.new_context(accept_downloads=True)
        page = ctx.new_page()
        open_app(page, app_url, f"cross-{uuid.uuid4().hex[:6]}", "&nosw")
        for task in ("add oauth token refresh", "build responsive login form"):
            page.evaluate(
                "(t) => window.rb.storePattern({task_description: t, task_category: 'web', strategy: 'spike', success_score: 0.7})",
                task,
            )
        path = export_from_page(page, engine, tmp_path)
        assert path.suffix == ".rbundle"
        page.wait_for_selector("#import-report .export-summary")
        assert page.text_content("#import-report").startswith("Exported 2 patterns")
        refused = cli("--db", bank, "import", str(path), check=False)
        assert refused.returncode == 1 and "does not trust" in refused.stderr
        own = page.text_content("#own-key")
        cli("--db", bank, "trust", "add", own, "--label", "page")
        imported = json.loads(cli("--db", bank, "import", str(path), "--json").stdout)
        assert imported["imported"] == 2 and imported["signer"] == own

        exported = json.loads(
            cli("--db", bank, "export", str(tmp_path / "cli.rbundle"), "--json").stdout
        )
        page.set_input_files("#import-file", str(tmp_path / "cli.rbundle"))
        page.wait_for_selector("#import-report .error")
        assert exported["public_key"] in page.text_content("#import-report .error")
        page.fill("#t-key", exported["public_key"])
        page.click("#trust-form button[type=submit]")
        page.wait_for_selector(f"#trust-list li[data-key='{exported['public_key']}']")
        page.set_input_files("#import-file", str(tmp_path / "cli.rbundle"))
        page.wait_for_selector("#import-report .import-summary")
        summary = page.text_content("#import-report")
        assert summary.startswith("cli.rbundle: imported 1 of 3 patterns"), summary
        assert "2 not imported, and why" in summary and "already in the bank" in summary
        assert page.evaluate("window.rb.getStats()")["total_patterns"] == 3
    finally:
        browser.close()


def test_delete_works_from_the_keyboard(playwright, app_url, engine):
    browser = launch(playwright, engine)
    try:
        page = browser.new_page()
        open_app(page, app_url, f"keys-{uuid.uuid4().hex[:6]}", "&nosw")
        page.fill("#a-text", "rotate oauth signing keys")
        page.fill("#a-cat", "security")
        page.fill("#a-strategy", "checklist")
        page.press("#a-strategy", "Enter")  # submits the form
        page.wait_for_selector("#p-list li[data-id] button")
        page.focus("#p-list li[data-id] button")
        page.keyboard.press("Enter")
        page.wait_for_selector("#delete-confirm[open]")
        page.keyboard.press("Escape")  # closes the dialog: nothing deleted
        page.wait_for_selector("#delete-confirm:not([open])", state="attached")
        assert page.evaluate("window.rb.getStats()")["total_patterns"] == 1
        page.focus("#p-list li[data-id] button")
        page.keyboard.press("Enter")
        page.wait_for_selector("#delete-confirm[open]")
        page.focus("#delete-confirm-accept")
        page.keyboard.press("Enter")
        page.wait_for_selector("#p-list li.empty")
        assert page.evaluate("window.rb.getStats()")["total_patterns"] == 0
    finally:
        browser.close()
