"""Screenshots of a written report site in headless Chromium (the pages a reader opens first).

Usage (from the repository root):

    .venv/bin/python benchmarks/site_screenshots.py SITE_DIR OUT_DIR

Writes OUT_DIR/index.png, one PNG per slice page (`<target-machine>-batch-<B>.png`) and one per view
page (`view-<name>.png`), each after the page's plotly charts have drawn. Needs Debian's chromium and
chromium-driver (as the browser tests do). Prints each file written; console errors are printed too.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

CHART_WAIT_S = 10.0


def wait_for_charts(driver) -> None:
    """Until every plotly chart on the page has drawn its main SVG (or CHART_WAIT_S passes)."""
    end = time.monotonic() + CHART_WAIT_S
    script = ("var d=document.querySelectorAll('.plotly-graph-div');"
              "return Array.from(d).every(function(x){return x.querySelector('.main-svg')!==null;});")
    while time.monotonic() < end and not driver.execute_script(script):
        time.sleep(0.1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("site", type=Path)
    p.add_argument("out", type=Path)
    args = p.parse_args()
    from selenium import webdriver

    chromium, driver_bin = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not chromium or not driver_bin:
        print("no chromium / chromedriver (apt-get install -y chromium chromium-driver)", file=sys.stderr)
        return 2
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver_bin))
    args.out.mkdir(parents=True, exist_ok=True)
    pages = [(args.site / "index.html", "index.png")]
    pages += [(page, f"{page.parent.parent.name}-{page.parent.name}.png")
              for page in sorted(args.site.glob("*/batch-*/report.html"))]
    pages += [(page, f"view-{page.stem}.png") for page in sorted((args.site / "views").glob("*.html"))]
    try:
        for page, name in pages:
            driver.get(page.resolve().as_uri())
            wait_for_charts(driver)
            errors = [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
            driver.save_screenshot(str(args.out / name))
            print(f"{args.out / name}" + (f"  console errors: {errors}" if errors else ""))
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
