"""Accuracy on other writers' digits, per style and door, as JSON (`make bench-writers`).

    python -m bench.writers --model_dir=saved_models/mnist_convnet --per_kind=100

The writers' set (``testbed.writers``): digits drawn from stroke models of
styles MNIST's writers rarely used, and MNIST *test* digits (images 5000-9999) pushed to
the edges of their style, each captured as a scan, a photo, a canvas or a low-resolution
scan. It is made twice: with the seed recipes were chosen on (``tuning``) and with a
seed nobody looked at while choosing (``held_out``); ``held_out_styles`` were never used
to choose anything either. Each image is read through three doors:

    tf_only        the SavedModel's serving_images, TensorFlow alone
    predict        `mnist-convnet predict` on the files (a child process)
    tflite:NAME    `mnist-convnet predict --tflite=NAME.tflite` (LiteRT, no TensorFlow),
                   for each reader the export has (``--readers`` to name others);
                   ``NAME_agrees``: the share of images on which it gives tf_only's answer

Per set: each kind's accuracy per door, and a summary (the drawn styles' and the
transformed kinds' mean, the worst kind) per door.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench.entry_points import read_predict, read_tf_only, reader_files
from mnist_convnet import versions
from testbed import writers
from testbed.idx import read_idx

flags.DEFINE_string("model_dir", "saved_models/mnist_convnet", "SavedModel (version or base).")
flags.DEFINE_integer("per_kind", 100, "Images per style or transform, in each set.")
flags.DEFINE_list("kinds", list(writers.KINDS), "Styles and transforms to read.")
flags.DEFINE_list("sets", ["tuning", "held_out"], "Which of the two seeds' sets to read.")
flags.DEFINE_string(
    "mnist_dir",
    os.environ.get("MNIST_MANUAL_DIR", "../shared/datasets/mnist"),
    "Folder with the official t10k-*.gz files.",
)
flags.DEFINE_list("readers", None, "reader .tflite files (default: the export's).")
FLAGS = flags.FLAGS
SEEDS = {"tuning": writers.TUNING_SEED, "held_out": writers.HELD_OUT_SEED}


def read_set(loaded, model_dir: str, readers: dict[str, Path], digits, seed: int) -> dict:
    """Every kind's accuracy per door, for the set made with ``seed`` from ``digits``
    (MNIST test images and labels)."""
    folder = Path(tempfile.mkdtemp(prefix="writers-"))
    images, labels = digits
    items = []
    for kind, index, encoded, suffix, label in writers.writers_set(
        images, labels, FLAGS.per_kind, seed, FLAGS.kinds
    ):
        path = folder / f"{kind}_{index:04d}{suffix}"
        path.write_bytes(encoded)
        items.append((kind, path, encoded, str(label)))
    paths = [path for _, path, _, _ in items]
    by_predict = read_predict(model_dir, paths, number=False)
    by_reader = {n: read_predict(model_dir, paths, False, str(p)) for n, p in readers.items()}
    counts: dict[str, dict[str, int]] = {}
    for kind, path, encoded, label in items:
        row = counts.setdefault(kind, {"images": 0})
        tf_read, _ = read_tf_only(loaded, encoded, number=False)
        reads = {"tf_only": tf_read, "predict": by_predict.get(str(path))}
        for name, found in by_reader.items():
            reads[f"tflite:{name}"] = found.get(str(path))
            row[f"{name}_agrees"] = row.get(f"{name}_agrees", 0) + (found.get(str(path)) == tf_read)
        for door, read in reads.items():
            row[door] = row.get(door, 0) + (read == label)
        row["images"] += 1
    kinds = {
        kind: {k: (v if k == "images" else round(v / row["images"], 4)) for k, v in row.items()}
        for kind, row in counts.items()
    }
    return {"seed": seed, "kinds": kinds, "summary": summary(kinds)}


def summary(kinds: dict[str, dict]) -> dict:
    """Per door: the drawn styles' mean, the transformed kinds' mean, the worst kind."""
    doors = [d for d in next(iter(kinds.values())) if d != "images" and not d.endswith("agrees")]
    drawn = [k for k in kinds if k in writers.STYLES]
    transformed = [k for k in kinds if k not in writers.STYLES]
    out = {}
    for door in doors:
        worst = min(kinds, key=lambda k: kinds[k][door])
        out[door] = {
            "drawn_mean": _mean(kinds, drawn, door),
            "transformed_mean": _mean(kinds, transformed, door),
            "worst_kind": worst,
            "worst": kinds[worst][door],
        }
    return out


def _mean(kinds: dict[str, dict], names: list[str], door: str) -> float | None:
    return round(float(np.mean([kinds[k][door] for k in names])), 4) if names else None


def main(argv: list[str]) -> None:
    del argv
    model_dir = str(versions.resolve(FLAGS.model_dir))
    loaded = tf.saved_model.load(model_dir)
    readers = reader_files(model_dir, FLAGS.readers)
    report = {
        "model_dir": model_dir,
        "per_kind": FLAGS.per_kind,
        "held_out_styles": list(writers.HELD_OUT),
        "readers": {name: str(path) for name, path in readers.items()},
        "sets": {},
    }
    mnist = Path(FLAGS.mnist_dir)
    digits = tuple(
        read_idx(mnist / f"t10k-{what}-idx{rank}-ubyte.gz")[5000:]
        for what, rank in (("images", 3), ("labels", 1))
    )
    for name in FLAGS.sets:
        report["sets"][name] = read_set(loaded, model_dir, readers, digits, SEEDS[name])
        print(name, json.dumps(report["sets"][name]["summary"]), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    app.run(main)
