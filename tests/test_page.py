"""static/index.html, the draw-a-digit page, in a real browser (the system's headless Chromium).

Chromium and ChromeDriver come from Debian (``apt-get install chromium chromium-driver``;
``.ci/run`` installs them). If they are missing this test fails and says so: it never skips.
The screenshot of the page is kept in ``$TEST_ARTIFACTS_DIR`` (default ``test-artifacts/``).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from mnist_convnet import contract
from mnist_convnet.serving import rest
from testbed.servers import serve_in_thread

# A real Chromium draws on the page: seconds per test.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def site(exported):
    with serve_in_thread(rest.for_folder(exported.parent, "mnist")) as url:
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


# A horizontal bar over a slanted stroke: a 7 (pixels of the 280x280 pad).
SEVEN = [(60, 60), (120, 60), (180, 60), (220, 60), (190, 120), (160, 180), (140, 240)]


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
    _draw(browser, canvas, SEVEN)
    digit, _ = _prediction(browser)
    assert digit == "7"


def test_a_hard_reading_shows_its_two_candidates_in_either_language(site, browser):
    """Under contract.HARD_PROBABILITY, or with a runner-up within HARD_MARGIN, the page
    says which two digits it hesitated between; a sure answer says nothing more."""
    from selenium.webdriver.common.by import By

    browser.get(site + "/")
    shown = (
        "showDoubt(arguments[0]); const d = document.getElementById('doubt');"
        "return [d.hidden, d.textContent, document.getElementById('prediction').dataset.hard];"
    )
    unsure = [0.02, 0.0, 0.0, 0.0, 0.55, 0.0, 0.0, 0.0, 0.0, 0.43]
    hidden, text, hard = browser.execute_script(shown, unsure)
    assert (hidden, hard) == (False, "true") and "a 4, or a 9" in text
    assert browser.execute_script(shown, [0.0] * 7 + [0.97, 0.03, 0.0])[::2] == [True, "false"]
    browser.execute_script(shown, unsure)
    browser.find_element(By.ID, "lang").click()
    assert "是 4 还是 9" in browser.find_element(By.ID, "doubt").text
    browser.find_element(By.ID, "lang").click()
    _draw(browser, browser.find_element(By.ID, "pad"), SEVEN)  # a real answer decides too
    _, probability = _prediction(browser)
    probabilities = browser.execute_script("return doubted;")
    assert abs(max(probabilities) - probability) < 1e-4
    hard = browser.find_element(By.ID, "prediction").get_attribute("data-hard")
    assert hard == str(contract.is_hard(probabilities)).lower()


def test_a_photo_of_a_number_is_read(site, browser, test_digits, tmp_path):
    """A phone photo chosen in the file input, in number mode: every digit read, each shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from testbed import captures

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

    from testbed import sheet

    blank = tmp_path / "blank.png"
    blank.write_bytes(sheet.encode(np.full((60, 60), 250.0)))
    browser.get(site + "/")
    browser.find_element(By.ID, "photo").send_keys(str(blank))
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, 30).until(lambda _: status.text)
    assert status.text.startswith("no digit found")
    assert browser.find_element(By.ID, "prediction").get_attribute("data-digit") is None


# --- inside the network: the article's backward pass of the digit just read -----------

_DZ = "return JSON.parse(document.getElementById('panel-dz').dataset.values);"
_DX_INK = (
    "const c = document.querySelector('#panel-dx canvas');"
    "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
    "for (let i = 0; i < d.length; i += 4) n += (d[i] < 250 || d[i + 2] < 250); return n;"
)


def _explained(driver, label: str, timeout: float = 60) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    inside = driver.find_element(By.ID, "inside")
    WebDriverWait(driver, timeout).until(lambda _: inside.get_attribute("data-label") == label)


def test_the_inside_panel_shows_the_backward_pass_and_follows_the_picked_label(site, browser):
    """Draw a 7, open the panel: p - y is negative only at the answer. Pick another label:
    the sign flips at both digits, dL/dx is drawn, one step lowers that label's loss; every
    panel names its equation; the Chinese page says the same (screenshots of both)."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(1200, 2600)
    browser.get(site + "/")
    canvas = browser.find_element(By.ID, "pad")
    _draw(browser, canvas, SEVEN)
    digit, _ = _prediction(browser)
    browser.find_element(By.CSS_SELECTOR, "#inside summary").click()
    _explained(browser, digit)
    answer = int(digit)
    dz = browser.execute_script(_DZ)
    assert dz[answer] < 0 and all(v >= 0 for d, v in enumerate(dz) if d != answer)
    assert browser.execute_script(_DX_INK) > 0

    other = (answer + 3) % 10
    browser.find_element(By.CSS_SELECTOR, f'#labels button[data-label="{other}"]').click()
    _explained(browser, str(other))
    dz = browser.execute_script(_DZ)
    assert dz[other] < 0 < dz[answer]  # p - y changed sign at both
    assert dz[other] == pytest.approx(-1, abs=0.05)  # a wrong label: p_label is near 0
    assert browser.execute_script(_DX_INK) > 0
    loss = browser.find_element(By.ID, "loss")
    assert float(loss.get_attribute("data-after")) < float(loss.get_attribute("data-before"))
    captions = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#inside figcaption .eq")]
    for equation in ("(1)", "(4)", "(6)", "(9)", "§4", "§5"):
        assert any(c.startswith(equation) for c in captions), (equation, captions)
    artifacts = Path(os.environ.get("TEST_ARTIFACTS_DIR", REPO / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(artifacts / "inside_the_network.png"))

    browser.find_element(By.ID, "lang").click()
    assert browser.execute_script("return document.documentElement.lang") == "zh-CN"
    assert browser.find_element(By.CSS_SELECTOR, "#inside summary").text.startswith("网络内部")
    assert "预测减去真值" in browser.find_element(By.ID, "panel-dz").text
    assert browser.find_element(By.ID, "loss").text.startswith(f"(2) 标签 {other}")
    assert browser.execute_script(_DZ)[other] < 0  # redrawn in Chinese, same numbers
    browser.save_screenshot(str(artifacts / "inside_the_network.zh-CN.png"))
    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.CSS_SELECTOR, "#inside summary").text.startswith("Inside")
    browser.set_window_size(900, 700)


# --- on this device: reader.tflite in LiteRT.js ----------------------------------------


class _CountingPredicts:
    """The server's WSGI app, counting the :predict requests it is sent; a test may hold
    back the answers to some paths (``slow``: path -> seconds), as a slow network would."""

    def __init__(self, app) -> None:
        self.app, self.predicts, self.slow = app, 0, {}

    def __call__(self, environ, start_response):
        self.predicts += environ["PATH_INFO"].endswith(":predict")
        time.sleep(self.slow.get(environ["PATH_INFO"], 0))
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def device_site(exported, reader_file, trainable_file, tmp_path_factory):
    """A server whose model has its reader.tflite and trainable.tflite where `make
    export-tflite` puts them."""
    from mnist_convnet.export import tflite

    base = tmp_path_factory.mktemp("device") / "mnist_convnet"
    shutil.copytree(exported, base / "1")
    (tflite.output_dir(base / "1")).mkdir(parents=True)
    for file in (reader_file, trainable_file):
        shutil.copy(file, tflite.output_dir(base / "1") / file.name)
    app = _CountingPredicts(rest.for_folder(base, "mnist"))
    with serve_in_thread(app) as url:
        yield url, app


def _read_file(driver, path: Path, timeout: float = 60) -> str:
    """The page's answer for the photo at ``path``: a digit, or its status sentence."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "clear").click()
    driver.execute_script("document.getElementById('photo').value = '';")
    driver.find_element(By.ID, "photo").send_keys(str(path))
    answer = (
        "const digit = document.getElementById('prediction').dataset.digit;"
        "const status = document.getElementById('status').textContent;"
        "return digit || (status && !status.startsWith('loading') ? status : null);"
    )
    # Polled every 50 ms, not Selenium's 500: a read takes tens of milliseconds.
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script(answer)
    )


def test_the_device_reads_photos_as_the_server_does_without_a_request(
    device_site, browser, test_digits, tmp_path
):
    """56 captures of test digits, every single-digit kind: read by the server (the
    SavedModel) and on the device (LiteRT.js), the same answer for at least 98%, and the
    device mode sends no :predict request at all."""
    from selenium.webdriver.common.by import By

    from testbed import captures

    url, app = device_site
    pixels, _ = test_digits
    rng = np.random.default_rng(8)
    paths = []
    for kind in captures.SINGLE:
        for i in range(4):
            encoded, suffix = captures.render(kind, rng, [pixels[int(rng.integers(20))]])
            paths.append(tmp_path / f"{kind}_{i}{suffix}")
            paths[-1].write_bytes(encoded)
    browser.get(url + "/")
    by_server = [_read_file(browser, path) for path in paths]
    asked = app.predicts
    assert asked >= len(paths)
    browser.find_element(By.ID, "device").click()
    by_device = [_read_file(browser, path) for path in paths]
    assert app.predicts == asked  # nothing was sent
    same = sum(a == b for a, b in zip(by_server, by_device))
    assert same >= 0.98 * len(paths), list(zip(paths, by_server, by_device))
    assert sum(a.isdigit() for a in by_device) >= 0.9 * len(paths)  # answers, not errors
    artifacts = Path(os.environ.get("TEST_ARTIFACTS_DIR", REPO / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(artifacts / "on_this_device.png"))


def test_reads_that_arrive_while_the_device_loads_share_one_load(
    device_site, browser, test_digits, tmp_path
):
    """Ticking "on this device" with a photo shown starts the load and a read; a photo
    chosen before the load ends must wait for that same load, not start a second one
    (LiteRT.js refuses a second ``loadLiteRt``) and hang the page on an empty status."""
    from selenium.webdriver.common.by import By

    from testbed import captures

    url, app = device_site
    pixels, labels = test_digits
    rng = np.random.default_rng(9)
    paths = []
    for i in (0, 1):
        encoded, suffix = captures.render("clean", rng, [pixels[i]])
        paths.append(tmp_path / f"digit_{i}{suffix}")
        paths[-1].write_bytes(encoded)
    browser.get(url + "/")
    assert _read_file(browser, paths[0]) == str(labels[0])
    app.slow["/reader.tflite"] = 3.0
    try:
        browser.find_element(By.ID, "device").click()  # a load starts, held back 3 s
        assert _read_file(browser, paths[1], timeout=30) == str(labels[1])
    finally:
        app.slow.clear()


def test_the_device_reads_a_drawing_and_refuses_a_blank_page(device_site, browser, tmp_path):
    from selenium.webdriver.common.by import By

    from testbed import sheet

    url, app = device_site
    asked = app.predicts
    browser.get(url + "/")
    browser.find_element(By.ID, "device").click()
    canvas = browser.find_element(By.ID, "pad")
    _draw(browser, canvas, [(140, y) for y in range(50, 231, 10)])
    digit, probability = _prediction(browser, timeout=60)
    assert digit == "1" and probability > 0.5
    browser.find_element(By.CSS_SELECTOR, "#inside summary").click()
    _explained(browser, "1")  # the device's 28x28, explained by the server
    blank = tmp_path / "blank.png"
    blank.write_bytes(sheet.encode(np.full((60, 60), 250.0)))
    assert (
        _read_file(browser, blank) == "no digit found: the image is blank or has almost no contrast"
    )
    assert app.predicts == asked


def test_litert_is_served_from_the_local_install_only(device_site):
    url, _ = device_site
    module = requests.get(url + "/litert/core/index.js", timeout=30)
    assert module.status_code == 200 and module.headers["Content-Type"].startswith(
        "text/javascript"
    )
    wasm = requests.get(url + "/litert/wasm/litert_wasm_internal.wasm", timeout=30)
    assert wasm.headers["Content-Type"] == "application/wasm" and wasm.content[:4] == b"\0asm"
    for bad in ("/litert/../rest.py", "/litert/core/../../package.json", "/litert/other/x.js"):
        assert requests.get(url + bad, timeout=30).status_code == 404, bad
    reader = requests.get(url + "/reader.tflite", timeout=30)
    assert reader.status_code == 200 and reader.content[4:8] == b"TFL3"


# A 1 with a long flag, as many European hands write it (testbed.writers' "one_flag"): the
# short run's model reads it as another digit. Each copy is moved and leant a little.
FLAGGED_ONE = [(80, 122), (122, 80), (165, 35), (163, 140), (160, 245)]


def _flagged_one(shift: int, lean: int) -> list[tuple[int, int]]:
    return [(x + shift + lean * (245 - y) // 210, y) for x, y in FLAGGED_ONE]


def _read_drawing(driver, points: list[tuple[int, int]]) -> str:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "clear").click()
    driver.execute_script("window.scrollTo(0, 0)")  # a click below may have scrolled
    _draw(driver, driver.find_element(By.ID, "pad"), points)
    return _prediction(driver, timeout=60)[0]


def _examples(driver, count: int, timeout: float = 60) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    taught = "return document.getElementById('taught').dataset.examples;"
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(taught) == str(count))


def test_corrections_teach_the_page_a_style_it_misread_on_the_device(device_site, browser):
    """A flagged 1 the model misreads; five of them corrected ("It's a: 1") are learned by
    trainable.tflite in LiteRT.js; a sixth, drawn differently, then reads 1, a 7 still
    reads 7, nothing was sent, and "forget" gives the model's own answer back."""
    from selenium.webdriver.common.by import By

    url, app = device_site
    browser.get(url + "/")
    browser.find_element(By.ID, "device").click()
    asked = app.predicts
    unseen = _flagged_one(shift=-10, lean=12)
    before = _read_drawing(browser, unseen)
    assert before != "1", "the style is read already: nothing to teach"
    for k, (shift, lean) in enumerate([(0, 0), (-25, 5), (20, -5), (10, 20), (-15, -10)]):
        _read_drawing(browser, _flagged_one(shift, lean))
        browser.find_element(By.CSS_SELECTOR, '#correct button[data-teach="1"]').click()
        _examples(browser, k + 1)
    assert _read_drawing(browser, unseen) == "1"
    assert _read_drawing(browser, SEVEN) == "7"
    assert "5" in browser.find_element(By.ID, "taught").text
    assert app.predicts == asked  # the device read everything: nothing was sent
    browser.find_element(By.ID, "teach").click()  # shows "Forget my handwriting"
    browser.find_element(By.ID, "forget").click()
    _examples(browser, 0)
    assert _read_drawing(browser, unseen) == before


def test_the_teach_mode_asks_for_each_digit_and_learns_it(device_site, browser):
    """Teach mode prompts a digit; "Learn this one" keeps the drawing as that digit, clears
    the pad and prompts the next."""
    from selenium.webdriver.common.by import By

    url, _ = device_site
    browser.get(url + "/")
    browser.find_element(By.ID, "teach").click()
    prompt = browser.find_element(By.ID, "prompt")
    assert prompt.get_attribute("data-digit") == "0" and "0" in prompt.text
    _read_drawing(
        browser,
        [
            (140 + int(60 * np.cos(a)), 140 + int(90 * np.sin(a)))
            for a in np.linspace(0, 2 * np.pi, 24)
        ],
    )
    browser.find_element(By.ID, "learn").click()
    _examples(browser, 1)
    assert prompt.get_attribute("data-digit") == "1"
    assert browser.find_element(By.ID, "prediction").get_attribute("data-digit") is None
