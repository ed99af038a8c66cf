"""static/index.html, the draw-a-digit page, in a real browser (the system's headless Chromium).

Chromium and ChromeDriver come from Debian (``apt-get install chromium chromium-driver``;
``.ci/run`` installs them). If they are missing this test fails and says so: it never skips.
The screenshot of the page is kept in ``$TEST_ARTIFACTS_DIR`` (default ``test-artifacts/``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import requests

from mnist_convnet import rest
from tests.helpers import serve_in_thread

# A real Chromium draws on the page: seconds per test.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def site(exported):
    with serve_in_thread(rest.ModelServer(exported.parent, "mnist")) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(
                f"{path} not found: apt-get install chromium chromium-driver", pytrace=False
            )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--window-size=900,700",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager would otherwise try to download one.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def _draw(driver, canvas, points: list[tuple[int, int]]) -> None:
    """A pointer stroke through ``points`` (pixels from the canvas' top-left corner)."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    actions = ActionBuilder(driver, mouse=PointerInput(interaction.POINTER_MOUSE, "pen"))
    size = canvas.size  # moves are relative to the element's centre
    to_centre = lambda x, y: (x - size["width"] // 2, y - size["height"] // 2)
    actions.pointer_action.move_to(canvas, *to_centre(*points[0]))
    actions.pointer_action.pointer_down()
    for x, y in points[1:]:
        actions.pointer_action.move_to(canvas, *to_centre(x, y))
    actions.pointer_action.pointer_up()
    actions.perform()


def _prediction(driver, timeout: float = 30) -> tuple[str, float]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    element = driver.find_element(By.ID, "prediction")
    WebDriverWait(driver, timeout).until(lambda _: element.get_attribute("data-digit"))
    return element.get_attribute("data-digit"), float(element.get_attribute("data-probability"))


_SEEN_INK = (
    "return [...document.querySelectorAll('#seen canvas')].map(c => {"
    " const d = c.getContext('2d').getImageData(0, 0, 28, 28).data; let s = 0;"
    " for (let i = 0; i < d.length; i += 4) s += d[i]; return [s, d[4 * (14 * 28 + 14)], d[0]]; });"
)


def test_page_is_served_with_the_model_name(site):
    response = requests.get(site + "/", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert '<meta name="model-name" content="mnist">' in response.text
    assert "{{" not in response.text
    # Everything is in the page: no script, style or font from anywhere else.
    assert "http://" not in response.text.split("<body>")[1]
    assert "https://" not in response.text
    assert requests.post(site + "/", timeout=30).status_code == 405


def test_drawing_a_vertical_stroke_reads_as_one(site, browser):
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    canvas = browser.find_element(By.ID, "pad")
    _draw(browser, canvas, [(140, y) for y in range(50, 231, 10)])
    digit, probability = _prediction(browser)
    artifacts = Path(os.environ.get("TEST_ARTIFACTS_DIR", REPO / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(artifacts / "draw_a_one.png"))
    assert digit == "1", f"the page read {digit} (p={probability})"
    assert probability > 0.5
    # The 28x28 image the model saw (found by the SavedModel) is shown, light-on-dark.
    ink = browser.execute_script(_SEEN_INK)
    assert len(ink) == 1 and ink[0][0] > 0 and ink[0][1] > 100 and ink[0][2] == 0

    # Clear wipes the drawing and the answer.
    browser.find_element(By.ID, "clear").click()
    assert browser.find_element(By.ID, "prediction").get_attribute("data-digit") is None


def test_a_different_shape_gives_a_different_answer(site, browser):
    """Not a page that always says 1: a horizontal bar over a vertical stroke (a 7)."""
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    canvas = browser.find_element(By.ID, "pad")
    _draw(
        browser,
        canvas,
        [(60, 60), (120, 60), (180, 60), (220, 60), (190, 120), (160, 180), (140, 240)],
    )
    digit, _ = _prediction(browser)
    assert digit == "7"


def test_a_photo_of_a_number_is_read(site, browser, test_digits, tmp_path):
    """A phone photo chosen in the file input, in number mode: every digit read, each shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from mnist_convnet import captures

    pixels, labels = test_digits
    rng = np.random.default_rng(4)
    encoded, _ = captures.number_photo(rng, list(pixels[10:13]))
    photo = tmp_path / "number.jpg"
    photo.write_bytes(encoded)
    browser.get(site + "/")
    browser.find_element(By.ID, "number").click()
    browser.find_element(By.ID, "photo").send_keys(str(photo))
    out = browser.find_element(By.ID, "prediction")
    WebDriverWait(browser, 30).until(lambda _: out.get_attribute("data-number"))
    assert out.get_attribute("data-number") == "".join(str(d) for d in labels[10:13])
    assert len(browser.execute_script(_SEEN_INK)) == 3
    browser.save_screenshot(
        str(
            Path(os.environ.get("TEST_ARTIFACTS_DIR", REPO / "test-artifacts")) / "photo_number.png"
        )
    )


def test_a_blank_photo_says_no_digit(site, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from mnist_convnet import captures

    blank = tmp_path / "blank.png"
    blank.write_bytes(captures.encode(np.full((60, 60), 250.0)))
    browser.get(site + "/")
    browser.find_element(By.ID, "photo").send_keys(str(blank))
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, 30).until(lambda _: status.text)
    assert status.text.startswith("no digit found")
    assert browser.find_element(By.ID, "prediction").get_attribute("data-digit") is None
