"""Screenshots of ``tfx-keras ui`` for the docs: run list, a run's DAG, a component, a lineage, the history.

Run once on a real output folder (a few MNIST runs, one of them pushed), with Chromium and chromedriver
installed (scripts/setup.sh does it)::

    .venv/bin/python scripts/ui_screenshots.py --output-dir /tmp/ui_mnist --out docs/img
"""

from __future__ import annotations

import argparse
import os
import re

from pipelines.keras_config import configure_keras

configure_keras()

from PIL import Image  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from pipelines.ui.reads import Catalog  # noqa: E402
from pipelines.ui.server import serve_in_background  # noqa: E402
from pipelines.ui.stores import sources_for  # noqa: E402


def browser(width: int = 1400, height: int = 900) -> webdriver.Chrome:
    """Headless Chromium driven by the system chromedriver."""
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def save(driver: webdriver.Chrome, path: str) -> None:
    """A screenshot as a 256-colour PNG: the pages are flat colours and text, and the PNGs are committed."""
    driver.save_screenshot(path)
    Image.open(path).convert("RGB").quantize(colors=256).save(path, optimize=True)


def main() -> None:
    """Open each page of the UI and save a PNG of it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--out", default="docs/img")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    catalog = Catalog(sources_for(args.output_dir), args.output_dir)
    ui = serve_in_background(catalog)
    driver = browser()
    try:
        base = ui.url.rstrip("/")
        driver.get(base + "/")
        save(driver, os.path.join(args.out, "ui-runs.png"))
        pushed = driver.find_element(By.CSS_SELECTOR, 'tr.run[data-outcome="pushed"] a')
        run_url = pushed.get_attribute("href")
        driver.get(run_url)
        save(driver, os.path.join(args.out, "ui-run.png"))
        lineage = driver.find_element(By.ID, "lineage-link").get_attribute("href")
        driver.get(run_url + "/component/Trainer")
        save(driver, os.path.join(args.out, "ui-component.png"))
        driver.get(lineage)
        save(driver, os.path.join(args.out, "ui-lineage.png"))
        pipeline = re.search(r"/run/([^/]+)/", run_url).group(1)
        driver.get(f"{base}/history/{pipeline}")
        save(driver, os.path.join(args.out, "ui-history.png"))
        driver.get(base + "/served")
        save(driver, os.path.join(args.out, "ui-served.png"))
    finally:
        driver.quit()
        ui.stop()
    print(f"wrote {args.out}/ui-*.png")


if __name__ == "__main__":
    main()
