"""Accuracy on users' captures, per capture kind and entry point, and the digit-finder's speed.

    .venv/bin/python -m bench.captures --model_dir=saved_models/mnist_convnet --per_kind=200

Captures are MNIST *test* digits rendered by ``testbed.captures`` (photos, scans,
canvases, ...); the digits are drawn from test images 5000-9999 with seed 11, which the
digit-finder was never tuned on (tuning used images 0-4999, seed 7), and the ``UNSEEN``
kinds were never used in tuning at all. Each image is read
three ways and the three must agree:

    tf_only   the SavedModel's serving_images / serving_number, TensorFlow alone
    predict   `mnist-convnet predict [--number]` on the files (a child process)
    rest      the REST server's b64 path (`mnist-convnet serve`'s application, on loopback)

and, as a phone reads them, by each reader.tflite given (``--readers``, default the
export's ``reader.tflite`` and ``reader_dynamic_range.tflite`` when present):

    tflite:NAME  `mnist-convnet predict --tflite=NAME.tflite [--number]` (Pillow + LiteRT,
                 no TensorFlow); ``NAME_agrees`` is the share of files on which it gives
                 tf_only's answer (the decoders differ by a grey level)

Prints one JSON object: accuracy per kind and entry point, disagreements, and, side by
side in one run, serving_images in TensorFlow and each reader in LiteRT (one thread, in
a process without TensorFlow, as on a phone): p50 milliseconds per image on a 640x480
JPEG, on a 28x28 MNIST test digit as PNG and on a sample of the captures, and the
readers' sizes in bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench.entry_points import read_predict, read_rest, read_tf_only, reader_files
from mnist_convnet import versions
from mnist_convnet.serving import rest
from testbed import captures, sheet
from testbed.idx import read_idx
from testbed.servers import serve_in_thread

flags.DEFINE_string("model_dir", "saved_models/mnist_convnet", "SavedModel (version or base).")
flags.DEFINE_integer("per_kind", 200, "Captures per kind.")
flags.DEFINE_string("kinds", "", "Comma-separated kinds (default: all).")
flags.DEFINE_integer("seed", 11, "Seed of the capture set.")
flags.DEFINE_list("digits_per_number", ["2", "5"], "Fewest and most digits of a number capture.")
flags.DEFINE_string(
    "mnist_dir",
    os.environ.get("MNIST_MANUAL_DIR", "../shared/datasets/mnist"),
    "Folder with the official t10k-*.gz files.",
)
flags.DEFINE_list(
    "readers",
    None,
    "reader .tflite files read like `predict --tflite` (default: the export's reader.tflite "
    "and reader_dynamic_range.tflite, where `make export-tflite` wrote them).",
)
FLAGS = flags.FLAGS


def test_digits(folder: Path, start: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")[start:]
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz")[start:]
    return images, labels


def _jpeg_640x480() -> bytes:
    rng = np.random.default_rng(0)
    digit = test_digits(Path(FLAGS.mnist_dir))[0][0]
    grey = sheet.on_paper(sheet.single(rng, digit, 200, (480, 640)), 220, 60)
    return sheet.encode(sheet.noise(sheet.uneven_light(grey, rng, 0.4), rng, 4), "JPEG", quality=85)


def _mnist_png() -> bytes:
    """A test digit as MNIST has it, a 28x28 PNG: the smallest image a client sends."""
    return sheet.encode(test_digits(Path(FLAGS.mnist_dir))[0][0], "PNG")


def latency(loaded, readers: dict[str, Path], files: list[Path], rounds: int = 5) -> dict:
    """p50 ms per image, side by side in one run: serving_images (TensorFlow, in this
    process) and each reader (LiteRT, one thread, in a child process without TensorFlow
    as on a phone: ``bench.lite_latency``), alternating round by round, on the 640x480
    JPEG and on ``files``. Frames are filled before the clock starts."""
    folder = Path(tempfile.mkdtemp())
    jpeg_path, png_path = folder / "photo_640x480.jpg", folder / "mnist_28x28.png"
    jpeg_path.write_bytes(_jpeg_640x480())
    png_path.write_bytes(_mnist_png())
    report: dict = {"bytes": {name: path.stat().st_size for name, path in readers.items()}}
    child = [sys.executable, "-m", "bench.lite_latency", ",".join(map(str, readers.values()))]
    for set_name, paths in {
        "photo_640x480_jpeg": [jpeg_path],
        "mnist_28x28_png": [png_path],
        "captures": files,
    }.items():
        if not paths:  # number kinds alone give no single-digit captures to time
            continue
        encoded = [tf.constant([p.read_bytes()]) for p in paths]
        times: dict[str, list[float]] = {"serving_images": [], **{n: [] for n in readers}}
        for round_ in range(rounds + 1):  # the first round warms up
            for batch in encoded:
                start = time.perf_counter()
                loaded.signatures["serving_images"](images=batch)
                if round_:
                    times["serving_images"].append(1000 * (time.perf_counter() - start))
            if readers:  # without one (no `make export-tflite`), TensorFlow alone
                done = subprocess.run(
                    child + [str(p) for p in paths], capture_output=True, text=True, check=True
                )
                for name, ms in json.loads(done.stdout).items():
                    times[name] += ms
        report[set_name] = {
            name: {"p50_ms": round(float(np.median(t)), 2), "calls": len(t)}
            for name, t in times.items()
        }
    return report


def _read_kind(kind, digits, loaded, model_dir, readers, url, folder) -> tuple[dict, list[Path]]:
    """One kind's captures, written to ``folder`` and read through every door: accuracy
    per door, disagreements between them, and each reader's agreement with tf_only."""
    number = kind.startswith("number_")
    lengths = tuple(int(n) for n in FLAGS.digits_per_number)
    items = list(captures.capture_set(*digits, [kind], FLAGS.per_kind, FLAGS.seed, lengths))
    paths = []
    for _, index, encoded, suffix, _ in items:
        paths.append(folder / f"{kind}_{index:04d}{suffix}")
        paths[-1].write_bytes(encoded)
    by_predict = read_predict(model_dir, paths, number)
    by_reader = {n: read_predict(model_dir, paths, number, str(p)) for n, p in readers.items()}
    right = {"tf_only": 0, "predict": 0, "rest": 0, **{f"tflite:{n}": 0 for n in readers}}
    agree = dict.fromkeys(readers, 0)
    disagree = 0
    for path, (_, _, encoded, _, label) in zip(paths, items):
        tf_read, tf_image = read_tf_only(loaded, encoded, number)
        rest_read, rest_image = read_rest(url, encoded, number)
        reads = {"tf_only": tf_read, "predict": by_predict.get(str(path)), "rest": rest_read}
        same_image = (tf_image is None and rest_image is None) or (
            tf_image is not None and rest_image is not None and np.array_equal(tf_image, rest_image)
        )
        disagree += len(set(reads.values())) > 1 or not same_image
        for name, found in by_reader.items():
            reads[f"tflite:{name}"] = found.get(str(path))
            agree[name] += found.get(str(path)) == tf_read
        for entry, read in reads.items():
            right[entry] += read == label
    entry = {e: round(r / len(items), 4) for e, r in right.items()}
    entry["disagreements"] = disagree
    for name, count in agree.items():
        entry[f"{name}_agrees"] = round(count / len(items), 4)
    return entry, paths


def main(argv: list[str]) -> None:
    del argv
    images, labels = test_digits(Path(FLAGS.mnist_dir))
    model_dir = str(versions.resolve(FLAGS.model_dir))
    loaded = tf.saved_model.load(model_dir)
    kinds = (
        FLAGS.kinds.split(",")
        if FLAGS.kinds
        else (
            list(captures.SINGLE)
            + list(captures.UNSEEN)
            + [f"number_{k}" for k in captures.NUMBERS]
        )
    )
    report: dict = {
        "model_dir": model_dir,
        "per_kind": FLAGS.per_kind,
        "seed": FLAGS.seed,
        "digits_per_number": FLAGS.digits_per_number,
        "kinds": {},
    }
    readers = reader_files(model_dir, FLAGS.readers)
    report["readers"] = {name: str(path) for name, path in readers.items()}
    sample: list[Path] = []
    folder = Path(tempfile.mkdtemp(prefix="captures-"))
    server = rest.for_folder(Path(model_dir).parent, "mnist")
    with serve_in_thread(server) as base:
        url = f"{base}/v1/models/mnist/versions/{Path(model_dir).name}:predict"
        for kind in kinds:
            report["kinds"][kind], paths = _read_kind(
                kind, (images, labels), loaded, model_dir, readers, url, folder
            )
            if not kind.startswith("number_"):
                sample += paths[:5]
            print(kind, report["kinds"][kind], file=sys.stderr, flush=True)
    report["latency"] = latency(loaded, readers, sample)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    app.run(main)
