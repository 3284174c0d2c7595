"""report.html in a real browser: Debian's headless Chromium, driven by Selenium through
chromium-driver (scripts/install-system-deps.sh installs both; nothing is downloaded), opens the page
from file:// with the network off. No console error, no request that is not file:// or data:, and
the timeline drawn: its chart area holds the colours of the queued and RPC parts of the updates."""

import json
from pathlib import Path

import pytest

from stallscope.engine import analyze, write_outputs
from stallscope.report_html import write_report_html

from . import browser

FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "fixtures"
QUEUE, RPC = (0xF2, 0x8E, 0x2B), (0x4E, 0x79, 0xA7)  # charts.COLOURS["queue"], ["rpc"]

pytestmark = pytest.mark.skipif(bool(browser.missing()), reason=browser.missing() or "")


@pytest.fixture(scope="module")
def driver():
    with browser.chromium() as chromium:
        yield chromium


def page_of(path, out):
    report = analyze([str(path)])
    write_outputs(report, out)
    return Path(write_report_html(report, out))


def colour_pixels(png, box, colour, tolerance=12):
    from PIL import Image

    image = Image.open(png).convert("RGB").crop(box)
    return sum(count for count, pixel in image.getcolors(maxcolors=1 << 24)
               if all(abs(a - b) <= tolerance for a, b in zip(pixel, colour)))


def requests(driver):
    """URLs the page asked for (Chromium's performance log: Network.requestWillBeSent)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.mark.parametrize("fixture, chart, colours", [
    ("two_hosts", "timeline", (QUEUE, RPC)),
    ("dask/per_target", "dask_timeline", (RPC,)),  # SIM tasks share the RPC blue
])
def test_the_page_renders_offline_with_no_console_error(driver, tmp_path, fixture, chart, colours):
    page = page_of(FIXTURES / fixture, tmp_path / "out")
    driver.get_log("browser")  # drop earlier pages' messages
    driver.get_log("performance")
    browser.open_report(driver, page)
    errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    remote = [url for url in requests(driver) if not url.startswith(("file:", "data:", "blob:"))]
    assert remote == []
    png = tmp_path / "page.png"
    driver.save_screenshot(str(png))
    box = browser.chart_box(driver, chart)
    assert box[2] - box[0] > 400 and box[3] - box[1] > 80, box
    for colour in colours:
        assert colour_pixels(png, box, colour) > 50, (colour, box)
    # The banner is drawn above the charts, with the diagnosis.
    banner = driver.execute_script("const b = document.querySelector('.banner'); return [b.innerText, b.getBoundingClientRect().top]")
    assert banner[1] < box[1]
    assert analyze([str(FIXTURES / fixture)])["diagnosis"] in banner[0]


def test_selecting_a_slow_update_moves_the_timeline_to_it(driver, tmp_path):
    page = page_of(FIXTURES / "two_hosts", tmp_path / "out")
    browser.open_report(driver, page)
    before = driver.execute_script(
        "const r = Bokeh.documents[0].get_model_by_name('timeline').x_range; return [r.start, r.end]")
    driver.execute_script(
        "const s = Bokeh.documents[0].get_model_by_name('slowest').source; s.selected.indices = [0];")
    after = driver.execute_script(
        "const r = Bokeh.documents[0].get_model_by_name('timeline').x_range; return [r.start, r.end]")
    assert after != before and after[1] - after[0] < before[1] - before[0]


def test_compare_page_renders_offline_with_its_overlays(driver, tmp_path):
    from stallscope.engine.compare import compare, load_report
    from stallscope.report_html import write_compare_html

    before, after = load_report(FIXTURES / "two_hosts"), load_report(FIXTURES / "two_hosts" / "orch-host")
    page = write_compare_html(compare(before, after), before, after, ("before", "after"), tmp_path / "compare.html")
    driver.get_log("browser")
    browser.open_report(driver, page)
    assert [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")] == []
    png = tmp_path / "page.png"
    driver.save_screenshot(str(png))
    assert colour_pixels(png, browser.chart_box(driver, "overlays"), RPC) > 50  # the "after" lines


def test_sweep_page_renders_offline_with_the_objective_per_variant(driver, tmp_path):
    from stallscope.engine.compare import compare_runs, load_report
    from stallscope.report_html import write_sweep_html

    runs = [{"name": "v01", "variables": {"admin_client": "shared"}, "report": load_report(FIXTURES / "two_hosts")},
            {"name": "v02", "variables": {"admin_client": "dedicated"}, "report": None, "failure": "trainer exited with code 1"},
            {"name": "v03", "variables": {"admin_client": "dedicated"}, "report": load_report(FIXTURES / "two_hosts" / "orch-host")}]
    result = compare_runs(runs, {"metric": "queue_ms.p95", "better": "lower"})
    page = write_sweep_html(dict(result, sweep_id="s", not_run=[]), tmp_path / "sweep.html")
    driver.get_log("browser")
    browser.open_report(driver, page)
    assert [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")] == []
    png = tmp_path / "page.png"
    driver.save_screenshot(str(png))
    assert colour_pixels(png, browser.chart_box(driver, "objective"), RPC) > 50  # the best variant's bar
    banner = driver.execute_script("return document.querySelector('.banner').innerText")
    assert f"best: {result['best']}" in banner
    assert "v02: variant failed: trainer exited with code 1" in driver.execute_script("return document.body.innerText")
