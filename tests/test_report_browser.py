"""The report site in a real browser: Debian's headless Chromium driven by selenium.

Skipped with a reason when chromium / chromedriver / selenium are missing (CI installs them:
`apt-get install -y chromium chromium-driver`). Screenshots go to bench-out/browser-artifacts/
(or $ZOOBENCH_ARTIFACTS) as test artefacts.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.test_report import FIXTURE_MODELS, synthetic_frames, with_failed_and_unknown

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("ZOOBENCH_ARTIFACTS", "bench-out/browser-artifacts"))


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    if not CHROMIUM or not DRIVER:
        pytest.skip("no chromium / chromedriver (apt-get install -y chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=DRIVER))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from bench.report.writer import write_reports

    out = tmp_path_factory.mktemp("site")
    cpu, runs = synthetic_frames(FIXTURE_MODELS, batches=(1, 8))
    mob, mruns = synthetic_frames(FIXTURE_MODELS, target="mobile", run_id="run-m")
    write_reports(pd.concat([with_failed_and_unknown(cpu), mob], ignore_index=True),
                  pd.concat([runs, mruns], ignore_index=True), out)
    return out


def _load(driver, path: Path) -> None:
    driver.get_log("browser")
    driver.get_log("performance")  # drain what earlier pages logged
    driver.get(path.resolve().as_uri())


def _requests(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def _page(site: Path, target: str = "cpu", batch: int = 1) -> Path:
    [page] = list(site.glob(f"{target}-*/batch-{batch}/report.html"))
    return page


def test_page_loads_without_console_errors_or_network(browser, site):
    _load(browser, _page(site))
    assert browser.execute_script("return document.querySelectorAll('.plotly-graph-div .main-svg').length") > 0
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    remote = [u for u in _requests(browser) if not u.startswith(("file:", "data:", "blob:", "about:"))]
    assert remote == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "report-cpu-batch-1.png"))


def _visible_models(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#results tbody tr'))"
        ".filter(r => r.style.display !== 'none').map(r => r.cells[0].textContent)")


def test_sorting_and_filtering_change_the_rows(browser, site):
    from selenium.webdriver.common.by import By

    _load(browser, _page(site))
    before = _visible_models(browser)
    headers = browser.find_elements(By.CSS_SELECTOR, "#results thead th")
    [p50] = [h for h in headers if h.text.strip().startswith("p50 ms")]
    p50.click()
    after = _visible_models(browser)
    assert sorted(after) == sorted(before) and after != before
    col = [h.text.strip() for h in headers].index(p50.text.strip())
    values = browser.execute_script(
        f"return Array.from(document.querySelectorAll('#results tbody tr')).map(r => r.cells[{col}].textContent)")
    numbers = [float(v) for v in values if v.strip() not in ("", "–")]
    assert numbers == sorted(numbers)
    box = browser.find_element(By.ID, "filter")
    box.send_keys("resnet56")
    shown = _visible_models(browser)
    assert shown and len(shown) < len(before) and all("resnet56" in m for m in shown)
    assert browser.find_element(By.ID, "shown").text == str(len(shown))


def test_hovering_a_point_shows_its_tooltip(browser, site):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _load(browser, _page(site))
    point = browser.find_elements(By.CSS_SELECTOR, "#chart-0 .scatterlayer .point")[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", point)
    ActionChains(browser).move_to_element(point).perform()
    tips = browser.find_elements(By.CSS_SELECTOR, "#chart-0 .hoverlayer .hovertext")
    assert tips, "no tooltip after hovering a point"
    text = tips[0].text
    assert "p50" in text and "MACs" in text and "top-1" in text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "report-hover.png"))


def test_index_links_resolve(browser, site):
    from selenium.webdriver.common.by import By

    _load(browser, site / "index.html")
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#index a")]
    assert len(links) == 3  # cpu batch 1 and 8, mobile batch 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "index.png"))
    for href in links:
        browser.get(href)
        assert browser.find_element(By.ID, "results")
        assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def views_site(tmp_path_factory):
    """A site with every view, from a database written through ResultStore (tests/site_db.py)."""
    from bench.cli import main
    from tests.site_db import write_site_db

    tmp = tmp_path_factory.mktemp("views-site")
    db = write_site_db(tmp / "results.sqlite")
    assert main(["report", "--db", str(db), "--out", str(tmp / "site")]) == 0
    return tmp / "site"


def test_view_pages_linked_from_the_index_render_offline(browser, views_site):
    from selenium.webdriver.common.by import By

    _load(browser, views_site / "index.html")
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#views a")]
    kinds = {href.rsplit("/", 1)[1].split("-", 1)[0] for href in links}
    assert kinds == {"cross", "batch", "history", "distribution"}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "site-index.png"))
    for href in links:
        browser.get_log("browser")
        browser.get_log("performance")
        browser.get(href)
        assert browser.execute_script("return document.querySelectorAll('.plotly-graph-div .main-svg').length") > 0
        assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"], href
        remote = [u for u in _requests(browser) if not u.startswith(("file:", "data:", "blob:", "about:"))]
        assert remote == [], href
        if "/cross-target-" in href:
            assert browser.save_screenshot(str(ARTIFACTS / "site-cross-target.png"))
    [pareto] = list(views_site.glob("cpu-*/batch-1/report.html"))
    _load(browser, pareto)
    assert browser.save_screenshot(str(ARTIFACTS / "site-pareto-cpu-batch-1.png"))


def test_view_tables_sort_on_a_header_click(browser, views_site):
    from selenium.webdriver.common.by import By

    [page] = list((views_site / "views").glob("cross-target-*.html"))
    _load(browser, page)
    headers = browser.find_elements(By.CSS_SELECTOR, "#cross-table thead th")
    [ratio] = [h for h in headers if h.text.strip().startswith("ratio")]
    col = [h.text.strip() for h in headers].index(ratio.text.strip())
    read = (f"return Array.from(document.querySelectorAll('#cross-table tbody tr'))"
            f".map(r => parseFloat(r.cells[{col}].textContent))")
    ratio.click()
    up = browser.execute_script(read)
    ratio.click()
    down = browser.execute_script(read)
    assert up == sorted(up) and down == sorted(down, reverse=True) and up != down


@pytest.fixture(scope="module")
def profiles_site(tmp_path_factory):
    """A cpu slice with two profiled models (profiles given by hand: the page, not the profiler, is
    under test), written with its profiles.html."""
    from bench.report.profiles import ProfileSet, StoredProfile
    from bench.report.writer import write_reports

    out = tmp_path_factory.mktemp("profiles-site")
    cpu, runs = synthetic_frames(FIXTURE_MODELS, batches=(1,))
    first = cpu.iloc[0]
    layers = [dict(layer="features.0", kind="conv 3x3", macs=10**7, bytes=10**5, ms=2.0),
              dict(layer="features.1", kind="activation", macs=0, bytes=10**5, ms=0.5),
              dict(layer="(model)", kind="model+dispatch", macs=0, bytes=0, ms=0.5)]
    profiles = ProfileSet([StoredProfile(profile_id=i, model=m, target="cpu", machine=first["machine"], batch=1,
                                         dtype="fp32", impl=None, threads=int(first["threads"]), created_at="2026-01-01",
                                         summary={}, layers=layers, ceilings={"peak_gflops": 50, "bandwidth_gbs": 10})
                           for i, m in enumerate(list(cpu["model"].unique())[:2], 1)])
    write_reports(cpu, runs, out, profiles=profiles)
    [page] = list(out.glob("cpu-*/batch-1/profiles.html"))
    return page


def test_profiles_page_op_kind_bars_show_kind_ms_and_share_on_hover(browser, profiles_site):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _load(browser, profiles_site)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    chart = browser.find_elements(By.CSS_SELECTOR, ".chart.opkind .js-plotly-plot")
    assert len(chart) == 1
    bars = chart[0].find_elements(By.CSS_SELECTOR, ".barlayer .point")
    assert len(bars) == 2 * 3  # two models side by side, three op kinds each
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", bars[0])
    ActionChains(browser).move_to_element(bars[0]).perform()
    tips = chart[0].find_elements(By.CSS_SELECTOR, ".hoverlayer .hovertext")
    assert tips, "no tooltip after hovering a bar"
    text = tips[0].text
    assert "op kind: conv 3x3" in text and "2.00 ms per pass" in text and "(66.7 % of the model)" in text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "profiles-opkind-hover.png"))
