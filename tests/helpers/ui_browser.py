"""The UI opened in headless Chromium (Selenium, the system chromedriver), and what the e2e test checks there."""

from __future__ import annotations

import shutil
import urllib.parse

import pytest

WAIT_S = 60


def chromium() -> object:
    """A headless Chromium driven by Debian's chromedriver; skips the test when they are not installed."""
    driver_path = shutil.which("chromedriver")
    if driver_path is None or shutil.which("chromium") is None:
        pytest.skip("chromium and chromium-driver are not installed: run ./scripts/setup.sh --for-tests")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(driver_path))


def check_ui(
    driver: object,
    base: str,
    pushed_run: str,
    cached_run: str,
    executed: set[str],
    pipeline: str = "mnist",
    metric: str = "sparse_categorical_accuracy",
) -> None:
    """Run list, a run's DAG and states, a picture that loaded, the pushed model's lineage, the metrics chart."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, WAIT_S)
    driver.get(base + "/")
    rows = wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "tr.run")))
    outcomes = {row.get_attribute("data-run"): row.get_attribute("data-outcome") for row in rows}
    assert outcomes[pushed_run] == "pushed" and outcomes[cached_run] == "nothing new (cached)", outcomes
    starts = [row.find_elements(By.TAG_NAME, "td")[2].text for row in rows]
    assert starts == sorted(starts, reverse=True)  # newest first

    driver.find_element(By.CSS_SELECTOR, f'tr.run[data-run="{cached_run}"] a').click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#dag svg")))
    states = {e.get_attribute("data-node"): e.get_attribute("data-state")
              for e in driver.find_elements(By.CSS_SELECTOR, "#components tr[data-node]")}  # fmt: skip
    assert all(states[node] == "cached" for node in executed), states
    assert len(driver.find_elements(By.CSS_SELECTOR, "#dag svg g.state_cached")) >= len(executed)

    run_page = f"{base}/run/{pipeline}/{urllib.parse.quote(pushed_run, safe='')}"
    driver.get(run_page)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#dag svg")))
    states = {e.get_attribute("data-node"): e.get_attribute("data-state")
              for e in driver.find_elements(By.CSS_SELECTOR, "#components tr[data-node]")}  # fmt: skip
    assert all(states[node] == "done" for node in executed), states
    dag_width = driver.execute_script("return document.querySelector('#dag svg').getBoundingClientRect().width")
    assert dag_width <= driver.execute_script("return window.innerWidth"), dag_width  # shrunk to the page
    # A node of the drawn DAG is a link to its component's page: the Trainer's pictures.
    driver.find_element(By.CSS_SELECTOR, "#dag svg g#node-Trainer a").click()
    wait.until(ec.url_contains("/component/Trainer"))
    images = wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, ".pictures img")))
    curves = next(img for img in images if "training_curves.png" in img.get_attribute("src"))
    wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", curves) > 0)

    driver.get(run_page)
    driver.find_element(By.ID, "lineage-link").click()
    items = wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, "tr.lineage-item")))
    kinds = {item.get_attribute("data-type") for item in items}
    assert {"Examples", "Schema", "TransformGraph", "Model", "ModelBlessing", "InfraBlessing", "PushedModel"} <= kinds
    assert f"Served as {pipeline} version" in driver.find_element(By.ID, "served").text

    driver.get(f"{base}/history/{pipeline}")
    chart = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#metrics-chart svg")))
    assert chart.size["width"] > 100 and metric in chart.get_attribute("innerHTML")
