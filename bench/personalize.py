"""What a few of a writer's digits are worth, per style, as JSON (`make bench-personalize`).

    python -m bench.personalize --model_dir=saved_models/mnist_convnet

For each drawn style of the writers' set (``testbed.writers``) that the model reads
below ``--below`` on the held-out seed (or the ``--styles`` given): a writer who draws
that style's digit that way and every other digit plainly gives ``k`` examples of each
digit (k in ``--ks``), drawn with the tuning seed; ``training/personalize.py`` learns them
(its defaults: what ``mnist-convnet personalize`` runs). Reported per style and k:

    style         the style's unseen digits (held-out seed) read right, before and after
    other_styles  the mean over every other drawn style (held-out seed), before and after
    mnist_test    MNIST's 10,000 test digits, before and after
    seconds       the time the learning took (features, steps; not the finder)
    litert        the same for the phone's door: ``trainable.tflite`` (``export/trainable.py``)
                  in LiteRT's interpreter, one thread, one ``train`` call
    page          with ``--page``, the page's door: the same file in LiteRT.js in headless
                  Chromium, each example given as a correction is (the page's ``teach``:
                  restore, then ``train_slots`` on every example so far), read by the
                  page's ``infer_one``; ``seconds``: the last lesson; MNIST test: its
                  first ``--page_mnist`` digits. Only for k * 10 <= trainable.SLOTS

Every digit is found by the SavedModel's ``serving_images``, as served; the accuracies
are the Keras model's on those 28x28 digits, which is what the new version answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import app, flags

from mnist_convnet import contract, versions
from mnist_convnet.export import trainable
from mnist_convnet.reading import inference
from mnist_convnet.training import personalize
from mnist_convnet.training.data import as_numpy, default_manual_dir, load
from testbed import writers
from testbed.idx import read_idx

flags.DEFINE_string("model_dir", "saved_models/mnist_convnet", "SavedModel (version or base).")
flags.DEFINE_list("styles", None, "Styles to teach (default: those read below --below).")
flags.DEFINE_float("below", 0.95, "Teach the styles read below this share (held-out seed).")
flags.DEFINE_integer("per_style", 100, "Held-out digits per style, to find and score it on.")
flags.DEFINE_list("ks", ["1", "3", "5", "10"], "Examples per digit.")
flags.DEFINE_integer("replay_pool", 4096, "MNIST training digits replay draws from.")
flags.DEFINE_bool("page", False, "Also teach the page in headless Chromium (LiteRT.js).")
flags.DEFINE_integer(
    "page_mnist", 1000, "MNIST test digits the page reads after a lesson (its first ones)."
)
flags.DEFINE_string(
    "mnist_dir",
    os.environ.get("MNIST_MANUAL_DIR", "../shared/datasets/mnist"),
    "Folder with the official t10k-*.gz files.",
)
FLAGS = flags.FLAGS


class Finder:
    """Drawn digits as ``serving_images`` frames them (uint8 [n, 28, 28])."""

    def __init__(self, loaded) -> None:
        self.read = loaded.signatures[contract.SERVING_IMAGES]

    def drawn(self, style: str, count: int, seed: int) -> np.ndarray:
        return writers.found_digits(self._find, style, count, seed)

    def _find(self, encoded: bytes) -> np.ndarray | None:
        try:
            return self.read(images=tf.constant([encoded]))["image"][0].numpy()
        except tf.errors.InvalidArgumentError:  # nothing found: not a digit to count
            return None


def _page_mnist(mnist: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test digits (and labels) the page reads: the first ``--page_mnist``."""
    images, labels = mnist
    return images[: FLAGS.page_mnist], labels[: FLAGS.page_mnist]


def _accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    x = images.astype(np.float32)[..., None] / 255 if images.dtype == np.uint8 else images
    read = model.predict(x, batch_size=1000, verbose=0).argmax(1)
    return round(float((read == labels).mean()), 4)


def _held_out(finder: Finder, count: int) -> dict[str, np.ndarray]:
    """Every drawn style's held-out digits (a seed per style, from HELD_OUT_SEED)."""
    return {
        style: finder.drawn(style, count, writers.HELD_OUT_SEED * 1000 + i)
        for i, style in enumerate(writers.STYLES)
    }


def _writer(finder: Finder, style: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k examples of each digit: the taught style's digit in that style, the rest plain."""
    taught = writers.STYLES[style][0]
    images = [
        finder.drawn(style if d == taught else writers.PLAIN[d], k, writers.TUNING_SEED * 1000 + d)
        for d in range(10)
    ]
    return np.concatenate(images), np.repeat(np.arange(10), k)


def _scores(model, held_out, style, mnist) -> dict:
    label = writers.STYLES[style][0]
    others = [
        _accuracy(model, x, np.full(len(x), writers.STYLES[s][0]))
        for s, x in held_out.items()
        if s != style
    ]
    return {
        "style": _accuracy(model, held_out[style], np.full(len(held_out[style]), label)),
        "other_styles": round(float(np.mean(others)), 4),
        "mnist_test": _accuracy(model, *mnist),
    }


def _on_the_phone(flatbuffer: bytes, images, labels, held_out, style, mnist) -> dict:
    """The door of an app: trainable.tflite taught the same digits in LiteRT."""
    import time

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
    infer = interpreter.get_signature_runner("infer")
    train = interpreter.get_signature_runner("train")
    x = images.astype(np.float32)[..., None] / 255
    started = time.perf_counter()
    train(images=x, labels=labels.astype(np.int32), learning_rate=np.float32(1.0))
    seconds = time.perf_counter() - started

    def read(digits: np.ndarray, wanted) -> float:
        x = digits.astype(np.float32)[..., None] / 255
        batches = [x[i : i + 500] for i in range(0, len(x), 500)]
        got = np.concatenate([infer(images=b)["probabilities"].argmax(1) for b in batches])
        return round(float((got == wanted).mean()), 4)

    label = writers.STYLES[style][0]
    return {
        "style": read(held_out[style], label),
        "mnist_test": read(*mnist),
        "seconds": round(seconds, 3),
    }


# The page's own functions, as its "It's a: k" buttons run them: an example, then a lesson.
_TEACH = """
const [digits, labels, done] = arguments;
(async () => {
  await forget();
  let seconds = 0;
  for (let i = 0; i < digits.length; i++) {
    seenImage = digits[i];
    const started = performance.now();
    await teach(labels[i]);
    seconds = (performance.now() - started) / 1000;
  }
  done({ seconds, examples: Number(document.getElementById("taught").dataset.examples) });
})().catch(error => done({ error: String(error) }));
"""
_READ = """
const [digits, done] = arguments;
(async () => {
  const read = [];
  for (const image of digits) {
    const p = (await readTaught({ image, probabilities: [] })).probabilities;
    read.push(p.indexOf(Math.max(...p)));
  }
  done(read);
})().catch(error => done({ error: String(error) }));
"""


class Page:
    """The draw-a-digit page in headless Chromium, served as `serve` does, its
    trainable.tflite the one converted here."""

    def __init__(self, model_dir: Path, flatbuffer: bytes, folder: Path) -> None:
        import shutil

        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        from mnist_convnet.export import tflite
        from mnist_convnet.serving import rest
        from testbed.servers import serve_in_thread

        base = folder / "mnist_convnet"
        shutil.copytree(model_dir, base / "1")
        tflite.output_dir(base / "1").mkdir(parents=True)
        (tflite.output_dir(base / "1") / trainable.FILE).write_bytes(flatbuffer)
        self.api = rest.for_folder(base, "mnist")
        self.serving = contextlib.ExitStack()
        url = self.serving.enter_context(serve_in_thread(self.api))
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless", "--no-sandbox", "--disable-gpu"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        self.driver.set_script_timeout(600)
        self.driver.get(url + "/")

    def door(self, images, labels, held_out, style, mnist) -> dict:
        taught = self._run(_TEACH, images.tolist(), labels.tolist())
        label = writers.STYLES[style][0]
        read = lambda x: np.asarray(self._run(_READ, x.tolist()))
        mnist_images, mnist_labels = _page_mnist(mnist)
        return {
            "style": round(float((read(held_out[style]) == label).mean()), 4),
            "mnist_test": round(float((read(mnist_images) == mnist_labels).mean()), 4),
            "mnist_digits": len(mnist_labels),
            "seconds": round(taught["seconds"], 3),
            "examples": taught["examples"],
        }

    def _run(self, script: str, *args):
        answer = self.driver.execute_async_script(script, *args)
        if isinstance(answer, dict) and "error" in answer:
            raise RuntimeError(f"the page failed: {answer['error']}")
        return answer

    def close(self) -> None:
        self.driver.quit()
        self.serving.close()
        self.api.close()


def main(argv: list[str]) -> None:
    del argv
    model_dir = versions.resolve(FLAGS.model_dir)
    finder = Finder(tf.saved_model.load(str(model_dir)))
    mnist = (
        read_idx(Path(FLAGS.mnist_dir) / "t10k-images-idx3-ubyte.gz"),
        read_idx(Path(FLAGS.mnist_dir) / "t10k-labels-idx1-ubyte.gz"),
    )
    replay = as_numpy(load(None, default_manual_dir()).train, FLAGS.replay_pool)
    base = inference.load_keras_model(model_dir)
    flatbuffer = trainable.convert(base, *replay)
    held_out = _held_out(finder, FLAGS.per_style)
    folder = tempfile.TemporaryDirectory()
    page = Page(model_dir, flatbuffer, Path(folder.name)) if FLAGS.page else None
    before = {
        s: _accuracy(base, x, np.full(len(x), writers.STYLES[s][0])) for s, x in held_out.items()
    }
    report = {"model_dir": str(model_dir), "read_before": before, "styles": {}}
    styles = FLAGS.styles or [s for s, share in before.items() if share < FLAGS.below]
    for style in styles:
        rows = [{"k": 0, **_scores(base, held_out, style, mnist)}]
        if page is not None:  # what the page reads untaught: this model's answers
            first = _page_mnist(mnist)
            rows[0]["page"] = {"mnist_test": _accuracy(base, *first), "mnist_digits": len(first[1])}
        for k in map(int, FLAGS.ks):
            model = inference.load_keras_model(model_dir)
            images, labels = _writer(finder, style, k)
            learned = personalize.personalize(model, images, labels, *replay)
            scores = _scores(model, held_out, style, mnist)
            phone = _on_the_phone(flatbuffer, images, labels, held_out, style, mnist)
            rows.append({"k": k, **scores, "seconds": learned["seconds"], "litert": phone})
            if page is not None and len(labels) <= trainable.SLOTS:
                rows[-1]["page"] = page.door(images, labels, held_out, style, mnist)
        report["styles"][style] = rows
    if page is not None:
        page.close()
    folder.cleanup()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    app.run(main)
