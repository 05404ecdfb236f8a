"""Size and time to interactive of every page of the report site, in headless Chromium.

Usage (from the repository root; timings mean something only on a quiet machine):

    .venv/bin/python benchmarks/site_check.py --db reports/results.sqlite [--out DIR] [--repeat 3] [--json FILE]

Builds the site with `bench report --db DB --out OUT` in a fresh process (its wall time is printed:
the issue asks for at most 60 s on the published database), then opens every HTML page under OUT
in Debian's headless Chromium (selenium + chromedriver) `--repeat` times and prints, per page, its
size and the medians of:
- load: the navigation's loadEventEnd (ms from navigation start);
- charts: when the last plotly chart's SVG (`.main-svg`) was inserted (ms from navigation start;
  recorded by a MutationObserver installed before the page's own scripts run);
- interactive: the larger of the two: every chart drawn and the page's scripts done.
With --out omitted the site goes to a temporary folder. Exit 2 when no browser is found.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Runs before any script of the page: timestamps every insertion of a plotly chart SVG.
OBSERVER = """
window.__zbCharts = [];
new MutationObserver(function (records) {
  for (const r of records) for (const n of r.addedNodes)
    if (n.nodeType === 1 && (n.classList.contains('main-svg') || (n.querySelector && n.querySelector('.main-svg'))))
      window.__zbCharts.push(performance.now());
}).observe(document, {childList: true, subtree: true});
"""
READ = """
const nav = performance.getEntriesByType('navigation')[0];
return {load: nav.loadEventEnd, charts: document.querySelectorAll('.plotly-graph-div').length,
        drawn: window.__zbCharts.length ? Math.max(...window.__zbCharts) : null};
"""


def build(db: Path, out: Path) -> float:
    """Run `bench report` into `out`; its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench", "report", "--db", str(db), "--out", str(out)], cwd=REPO,
                   check=True, stdout=subprocess.DEVNULL, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    return time.perf_counter() - start


def browser():
    """A headless Chromium driven by selenium; exits 2 with a reason when there is none."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        print("site_check: no chromium / chromedriver (apt-get install -y chromium chromium-driver)", file=sys.stderr)
        raise SystemExit(2)
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(arg)
    d = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver))
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER})
    return d


def measure(driver, page: Path, repeat: int) -> dict:
    """Median load / charts-drawn / interactive times (ms) of `page` over `repeat` fresh loads."""
    loads, drawn, interactive, charts = [], [], [], 0
    for _ in range(repeat):
        driver.get("about:blank")
        driver.get(page.resolve().as_uri())  # returns after the load event
        got = driver.execute_script(READ)
        charts = got["charts"]
        loads.append(got["load"])
        if got["drawn"] is not None:
            drawn.append(got["drawn"])
        interactive.append(max(got["load"], got["drawn"] or 0.0))
    med = lambda xs: round(statistics.median(xs), 1) if xs else None  # noqa: E731
    return {"load_ms": med(loads), "charts_ms": med(drawn), "interactive_ms": med(interactive), "charts": charts}


def main(argv: list[str] | None = None) -> int:
    """Build the site, measure every page, print a table (and write JSON with --json)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", type=Path, required=True, help="results database to build the site from")
    p.add_argument("--out", type=Path, help="site folder (default: a temporary folder)")
    p.add_argument("--repeat", type=int, default=3, help="loads per page (median reported)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    if not args.db.is_file():
        print(f"site_check: no database at {args.db}", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="zoobench-site-"))
    seconds = build(args.db.resolve(), out.resolve())
    print(f"bench report: {seconds:.1f} s -> {out}")
    driver = browser()
    rows = []
    try:
        for page in sorted(out.rglob("*.html")):
            row = {"page": page.relative_to(out).as_posix(), "bytes": page.stat().st_size,
                   **measure(driver, page, args.repeat)}
            rows.append(row)
            print(f"{row['bytes'] / 1e6:7.2f} MB  load {row['load_ms']} ms  charts {row['charts_ms']} ms  "
                  f"interactive {row['interactive_ms']} ms  ({row['charts']} charts)  {row['page']}")
    finally:
        driver.quit()
    if args.json:
        args.json.write_text(json.dumps({"report_s": seconds, "pages": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
