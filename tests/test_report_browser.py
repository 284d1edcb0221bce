"""Reports opened in a real browser (headless Chromium through selenium): they load offline with no console error,
every image decodes, every table has rows, every curve is an interactive chart whose legend toggles a series and
whose hover shows values. Screenshots go to $REVERIE_SCREENSHOTS when it is set (benchmarks/results/browser/ holds
the committed ones).

Needs Debian's chromium and chromium-driver (the Makefile's test path installs them where apt-get can); without
them these tests skip and say why."""

import json
import os
import shutil
from pathlib import Path

import pytest

from reverie.bench.report import write_run_report, write_suite_report
from reverie.cli import main

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver")
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def _suite_report(name: str, tmp_path: Path) -> Path:
    out = tmp_path / name
    out.mkdir()
    results = json.loads((RESULTS / name / "results.json").read_text())
    return write_suite_report(results, out)


def _sweep_report(tmp_path: Path) -> Path:
    out = tmp_path / "sweep"
    argv = ["sweep", "--algo", "dyna-q,q-learning", "--env", "reverie/DynaMaze-v0", "--seeds", "0-2", "--episodes", "8",
            "--grid", "epsilon=0.1,0.2", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    return out / "report.html"


def _run_report(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    argv = ["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "6", "--seeds", "0-1", "--out", str(out),
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    return write_run_report(out)


REPORTS = {
    "lecture": lambda tmp: _suite_report("lecture", tmp),
    "sutton-barto": lambda tmp: _suite_report("sutton-barto", tmp),
    "sweep": _sweep_report,
    "run": _run_report,
}


@pytest.mark.parametrize("name", list(REPORTS))
def test_report_loads_cleanly_and_its_charts_respond(browser, tmp_path, name, capsys):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    report = REPORTS[name](tmp_path)
    capsys.readouterr()
    browser.get(report.as_uri())
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
    images = browser.execute_script("return [...document.images].map(i => [i.complete, i.naturalWidth])")
    assert images and all(done and width > 0 for done, width in images)
    rows = browser.execute_script("return [...document.querySelectorAll('table')].map(t => t.rows.length - 1)")
    assert all(n > 0 for n in rows)
    if name in ("lecture", "sutton-barto", "sweep"):
        assert rows, "a suite or sweep report has a table"
    charts = browser.find_elements(By.CSS_SELECTOR, "div.chart")
    assert len(charts) == len(images)  # one interactive chart per plotted curve
    assert len(browser.find_elements(By.CSS_SELECTOR, "figcaption")) == len(charts)
    for chart in charts:
        assert chart.find_elements(By.CSS_SELECTOR, "svg polyline"), "each chart draws its series"
    chart = charts[0]
    group = chart.find_elements(By.CSS_SELECTOR, "g.series")[0]
    chart.find_elements(By.CSS_SELECTOR, ".legend-item")[0].click()
    assert group.value_of_css_property("display") == "none"
    chart.find_elements(By.CSS_SELECTOR, ".legend-item")[0].click()
    assert group.value_of_css_property("display") != "none"
    ActionChains(browser).move_to_element(chart.find_element(By.TAG_NAME, "svg")).perform()
    readout = chart.find_element(By.CSS_SELECTOR, ".readout").text
    assert "[" in readout and ":" in readout  # "label: mean [low, high] at x"
    keep = os.environ.get("REVERIE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(keep) / f"{name}.png"))
    else:
        assert browser.save_screenshot(str(tmp_path / f"{name}.png"))
