"""Opening a report page in Debian's headless Chromium (driven by Selenium and chromium-driver,
both installed by scripts/install-system-deps.sh; nothing is downloaded), with the network off.

    python -m tests.report.browser runs/latest/analysis/report.html docs/report.png

writes the screenshot of a page (how docs/report.png is made from a `make demo` run).
"""

import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--force-device-scale-factor=1", "--hide-scrollbars")
WIDTH = 1400


def missing():
    """Why the browser cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing: run scripts/install-system-deps.sh"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is missing: make venv"
    return None


@contextmanager
def chromium():
    """A headless Chromium with a new empty profile and the network off."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="stallscope-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
        driver.set_page_load_timeout(120)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_report(driver, path, timeout=120):
    """Loads the page from file:// and waits until Bokeh has rendered every document; the window
    then holds the whole page (for a full-page screenshot)."""
    driver.get(Path(path).resolve().as_uri())
    end = time.monotonic() + timeout
    script = ("return typeof Bokeh !== 'undefined' && Bokeh.documents.length > 0 "
              "&& Bokeh.documents.every(doc => doc.is_idle)")
    while not driver.execute_script(script):
        if time.monotonic() > end:
            raise TimeoutError(f"{path}: Bokeh did not finish rendering in {timeout} s")
        time.sleep(0.2)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, height + 150)  # the window's frame: the viewport then holds the page
    time.sleep(1.0)  # re-layout at the new size


def chart_box(driver, name):
    """(left, top, right, bottom) of a chart's container in page pixels."""
    rect = driver.execute_script(
        "const r = document.querySelector(`[data-chart='${arguments[0]}']`).getBoundingClientRect();"
        "return [r.left, r.top + window.scrollY, r.right, r.bottom + window.scrollY];", name)
    return tuple(int(value) for value in rect)


def main(argv=None):
    page, png = (argv or sys.argv[1:])[:2]
    with chromium() as driver:
        open_report(driver, page)
        driver.save_screenshot(png)
    print(png)


if __name__ == "__main__":
    main()
