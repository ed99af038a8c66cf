"""What the "inside the network" panel costs: ``:explain`` in-process, and the panel in a browser.

    python -m bench.explain --model_dir=saved_models/mnist_convnet

Prints one JSON document:

- ``in_process``: ``POST :explain`` for one MNIST test digit at a time, through
  ``RestApi.respond`` (no HTTP), ``digits`` digits ``repeats`` times each after one
  warm-up call: the whole answer (parse, serving_explain, JSON), and of it the signature
  alone and the JSON encoding; median and p90 in ms, and the body's size;
- ``browser`` (unless ``--nobrowser``): the page in headless Chromium, the panel open,
  each digit given as a photo (a PNG of the test digit): how long after the answer the
  panel stood complete (the :explain request, its JSON and the drawing: the page's
  ``data-ms-after-answer``) and the drawing alone (``data-draw-ms``).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import app, flags

from mnist_convnet import contract
from mnist_convnet.serving import inputs, protocol, rest
from mnist_convnet.training import data
from testbed.servers import serve_in_thread

flags.DEFINE_string("model_dir", "saved_models/mnist_convnet", "SavedModel base folder.")
flags.DEFINE_integer("digits", 20, "MNIST test digits to explain.")
flags.DEFINE_integer("repeats", 3, "Times each digit is explained in-process.")
flags.DEFINE_bool("browser", True, "Also time the panel in headless Chromium.")
flags.DEFINE_string("data_dir", None, "tfds data dir.")
FLAGS = flags.FLAGS


def _summary(ms: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(float(np.percentile(ms, 90)), 1),
        "max_ms": round(max(ms), 1),
        "n": len(ms),
    }


def in_process(api: rest.RestApi, pixels: np.ndarray, repeats: int) -> dict:
    path = "/v1/models/mnist:explain"
    bodies = [json.dumps({"instances": [p.tolist()]}).encode() for p in pixels]
    api.respond("POST", path, {}, bodies[0])  # the first call sets the graph up
    servable = api.manager.servable("mnist")
    total, signature, encoding, size = [], [], [], 0
    for _ in range(repeats):
        for p, body in zip(pixels, bodies):
            started = time.perf_counter()
            reply = api.respond("POST", path, {}, body)
            total.append((time.perf_counter() - started) * 1000)
            assert reply.status == 200, reply.body[:200]
            size = len(reply.body)
            checked = inputs.explain_pixels(p[np.newaxis], contract.PREDICTED, 0.01)
            started = time.perf_counter()
            outputs = servable.predict(contract.SERVING_EXPLAIN, checked)
            signature.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            protocol.explanations(outputs, p[np.newaxis], 0.01)
            encoding.append((time.perf_counter() - started) * 1000)
    return {
        "explain_request": _summary(total),
        "signature_only": _summary(signature),
        "json_only": _summary(encoding),
        "body_bytes": size,
    }


def browser(url: str, pixels: np.ndarray) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    after, drawing = [], []
    try:
        driver.get(url + "/")
        driver.find_element(By.CSS_SELECTOR, "#inside summary").click()
        inside = driver.find_element(By.ID, "inside")
        with tempfile.TemporaryDirectory() as folder:
            for i, p in enumerate(pixels):
                photo = Path(folder) / f"{i}.png"
                photo.write_bytes(tf.io.encode_png(255 - p[..., np.newaxis]).numpy())
                driver.find_element(By.ID, "clear").click()
                driver.execute_script("document.getElementById('photo').value = '';")
                driver.find_element(By.ID, "photo").send_keys(str(photo))
                WebDriverWait(driver, 60).until(lambda _: inside.get_attribute("data-label"))
                after.append(float(inside.get_attribute("data-ms-after-answer")))
                drawing.append(float(inside.get_attribute("data-draw-ms")))
    finally:
        driver.quit()
    return {"panel_after_answer": _summary(after), "drawing_only": _summary(drawing)}


def main(argv: list[str]) -> None:
    del argv
    images, _ = data.as_numpy(
        data.load(FLAGS.data_dir, data.default_manual_dir()).test, FLAGS.digits
    )
    pixels = np.round(images[..., 0] * 255).astype(np.uint8)
    api = rest.for_folder(FLAGS.model_dir, "mnist")
    result = {"model_dir": FLAGS.model_dir, "in_process": in_process(api, pixels, FLAGS.repeats)}
    if FLAGS.browser:
        with serve_in_thread(api) as url:
            result["browser"] = browser(url, pixels)
    api.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    app.run(main)
