"""Opens an s3logs report in headless Chromium (Debian's, through
Playwright) and writes, as JSON, what a reader's browser saw: console
messages, page errors, every request the page made, the overview cards,
the bars of the request chart, the page's text, whether any injected code
ran, and the order of a table after clicking its header.

Usage: open_report.py REPORT.html SCREENSHOT.png OUT.json
The browser is S3LOGS_CHROMIUM, else /usr/bin/chromium.
"""

import json
import os
import sys

from playwright.sync_api import sync_playwright

page_path, shot, out = sys.argv[1], sys.argv[2], sys.argv[3]
url = "file://" + os.path.abspath(page_path)
seen = {"console": [], "page_errors": [], "requests": []}

with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path=os.environ.get("S3LOGS_CHROMIUM", "/usr/bin/chromium"),
        args=["--no-sandbox", "--disable-gpu"],
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: seen["console"].append({"type": m.type, "text": m.text}))
    page.on("pageerror", lambda e: seen["page_errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    # The first screen, as a reader opens it.
    page.screenshot(path=shot)
    seen["cards"] = page.eval_on_selector_all(
        "[data-card]",
        "els => Object.fromEntries(els.map(e => [e.dataset.card, parseFloat(e.dataset.value)]))",
    )
    seen["bars"] = page.eval_on_selector_all(
        "#q-report-traffic-requests svg.chart rect[data-series]",
        "els => els.map(e => ({x: e.parentNode.dataset.x, series: e.dataset.series,"
        " value: parseFloat(e.dataset.value), title: e.querySelector('title').textContent}))",
    )
    seen["findings"] = page.eval_on_selector_all(
        "[data-finding]", "els => els.map(e => e.dataset.finding)"
    )
    seen["no_data"] = page.locator("#no-data").count() > 0
    seen["text"] = page.inner_text("body")
    seen["pwned"] = page.evaluate("window.__pwned === true")
    seen["images"] = page.evaluate("document.images.length")
    seen["scripts"] = page.evaluate("document.scripts.length")
    seen["links_out"] = page.eval_on_selector_all(
        "a[href]", "els => els.map(e => e.getAttribute('href')).filter(h => !h.startsWith('#'))"
    )
    # Sorting: click the requests header of the top requesters twice.
    table = "#q-report-top_requesters table"
    order = []
    if page.locator(table).count() > 0:
        header = page.locator(table + " th", has_text="requests").first
        for _ in range(2):
            header.click()
            order.append(
                page.eval_on_selector_all(
                    table + " tbody tr",
                    "rows => rows.map(r => parseFloat(r.cells[1].dataset.v))",
                )
            )
    seen["sorted"] = order
    browser.close()

seen["requests"] = [r for r in seen["requests"] if r != url]
with open(out, "w", encoding="utf-8") as f:
    json.dump(seen, f)
