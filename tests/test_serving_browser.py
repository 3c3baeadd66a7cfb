"""The browse page in a real headless Chromium (Debian's chromium + chromedriver; .ci/run installs them)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from serving.app import create_app
from tests.helpers import free_port

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900")



@pytest.fixture(scope="module")
def site(published_lake):
    """The app on a real socket (uvicorn in a thread), as `make serve` runs it."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(published_lake), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.1)
    yield base
    server.should_exit = True
    thread.join()


@pytest.fixture(scope="module")
def browser():
    options = Options()
    options.binary_location = CHROMIUM
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _all_grid_images_loaded(driver) -> bool:
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")    # lazy images below the fold
    return driver.execute_script(
        "const imgs = [...document.querySelectorAll('ol.grid img')];"
        "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);")


def test_the_grid_shows_product_images(site, browser):
    browser.get(site + "/")
    assert len(browser.find_elements(By.CSS_SELECTOR, "ol.grid li.card")) > 10
    WebDriverWait(browser, 30, poll_frequency=0.25).until(_all_grid_images_loaded)


def test_clicking_a_product_shows_its_similar_items_with_reasons(site, browser):
    browser.get(site + "/")
    link = browser.find_element(By.CSS_SELECTOR, "ol.grid li.card a.product-link")
    product_id = link.get_attribute("data-product-id")
    link.click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#similar li.card"))
    assert browser.find_element(By.CSS_SELECTOR, "section.product").get_attribute("data-product-id") == product_id
    shown = [(card.find_element(By.CSS_SELECTOR, "a.product-link").get_attribute("data-product-id"),
              card.find_element(By.CSS_SELECTOR, ".reason").text)
             for card in browser.find_elements(By.CSS_SELECTOR, "#similar li.card")]
    expected = httpx.get(f"{site}/products/{product_id}/similar", params={"k": 12}).json()["results"]
    assert shown == [(r["product_id"], r["reason"]) for r in expected]


def test_a_text_search_shows_results(site, browser):
    browser.get(site + "/")
    box = browser.find_element(By.CSS_SELECTOR, "form.search input[name=q]")
    box.send_keys("black sports shoes")
    box.submit()
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "ol.grid li.card"))
    shown = [a.get_attribute("data-product-id") for a in browser.find_elements(By.CSS_SELECTOR, "ol.grid a.product-link")]
    expected = httpx.get(f"{site}/search", params={"q": "black sports shoes"}).json()["results"]
    assert shown == [r["product_id"] for r in expected]
