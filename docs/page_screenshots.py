"""Makes docs/images/inside_the_network{,.zh-CN}.png: the page's panel, in both languages.

    .venv/bin/python docs/page_screenshots.py --model_dir=saved_models/mnist_convnet

Serves the model's latest version, draws a 7 on the page in headless Chromium (as
``tests/test_page.py`` does), opens "inside the network", picks the label 1 (a wrong
one: the backward pass has something to say), and saves the whole page in English,
then in Chinese. The model must have ``serving_explain`` (any export since #22).
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

from absl import app, flags
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mnist_convnet.serving import rest  # noqa: E402
from testbed.servers import serve_in_thread  # noqa: E402
from tests.test_page import SEVEN, _draw  # noqa: E402

flags.DEFINE_string("model_dir", "saved_models/mnist_convnet", "SavedModel base folder.")
flags.DEFINE_string("out_dir", str(REPO / "docs" / "images"), "Where the pictures go.")
FLAGS = flags.FLAGS


def _save_page(driver, path: Path) -> None:
    """The whole page, as a 256-colour PNG (a third of the size, the same to the eye)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, height + 120)
    time.sleep(0.5)
    shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    shot.quantize(256).save(path, optimize=True)
    print(path, shot.size)


def main(argv: list[str]) -> None:
    del argv
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    out = Path(FLAGS.out_dir)
    try:
        with serve_in_thread(rest.for_folder(FLAGS.model_dir, "mnist")) as url:
            driver.get(url + "/")
            _draw(driver, driver.find_element(By.ID, "pad"), SEVEN)
            inside = driver.find_element(By.ID, "inside")
            WebDriverWait(driver, 60).until(
                lambda d: d.find_element(By.ID, "prediction").get_attribute("data-digit")
            )
            driver.find_element(By.CSS_SELECTOR, "#inside summary").click()
            WebDriverWait(driver, 60).until(lambda _: inside.get_attribute("data-label"))
            driver.find_element(By.CSS_SELECTOR, '#labels button[data-label="1"]').click()
            WebDriverWait(driver, 60).until(lambda _: inside.get_attribute("data-label") == "1")
            _save_page(driver, out / "inside_the_network.png")
            driver.find_element(By.ID, "lang").click()
            _save_page(driver, out / "inside_the_network.zh-CN.png")
    finally:
        driver.quit()


if __name__ == "__main__":
    app.run(main)
