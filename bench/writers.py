"""Accuracy on other writers' digits, per style and door, as JSON (`make bench-writers`).

    python -m bench.writers --model_dir=saved_models/mnist_convnet --per_kind=100

The writers' set (``testbed.writers``): digits drawn from stroke models of
styles MNIST's writers rarely used, and MNIST *test* digits (images 5000-9999) pushed to
the edges of their style, each captured as a scan, a photo, a canvas or a low-resolution
scan. It is made twice: with the seed recipes were chosen on (``tuning``) and with a
seed nobody looked at while choosing (``held_out``); ``held_out_styles`` were never used
to choose anything either. A third set, ``real``, is digits people wrote: the UCI
optical-recognition test set, 13 writers scanned at 8 px (``testbed.optdigits``), every
digit, never used to choose anything. Each image is read through three doors:

    tf_only        the SavedModel's serving_images, TensorFlow alone
    predict        `mnist-convnet predict` on the files (a child process)
    tflite:NAME    `mnist-convnet predict --tflite=NAME.tflite` (LiteRT, no TensorFlow),
                   for each reader the export has (``--readers`` to name others);
                   ``NAME_agrees``: the share of images on which it gives tf_only's answer

Per set: each kind's accuracy per door, a summary (the mean of each family of kinds
present, drawn, transformed or real, and the worst kind) per door, serving_images'
accuracy per digit (``by_label``), and ``hard``: the share of
serving_images' wrong and of its right answers that were reported hard
(``contract.is_hard``: what ``predict`` and the page flag).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import app, flags

from bench.entry_points import read_predict, read_tf_only_digit, reader_files
from mnist_convnet import versions
from testbed import optdigits, writers
from testbed.idx import read_idx

flags.DEFINE_string("model_dir", "saved_models/mnist_convnet", "SavedModel (version or base).")
flags.DEFINE_integer("per_kind", 100, "Images per style or transform, in each set.")
flags.DEFINE_list("kinds", list(writers.KINDS), "Styles and transforms to read.")
SEEDS = {"tuning": writers.TUNING_SEED, "held_out": writers.HELD_OUT_SEED}
SETS = (*SEEDS, "real")  # the real set has no seed: every digit, in its order
flags.DEFINE_list("sets", list(SETS), "Which sets to read.")
flags.DEFINE_integer("real_count", None, "Digits of the real set read (default: all 1,797).")
flags.DEFINE_string(
    "mnist_dir",
    os.environ.get("MNIST_MANUAL_DIR", "../shared/datasets/mnist"),
    "Folder with the official t10k-*.gz files.",
)
flags.DEFINE_list("readers", None, "reader .tflite files (default: the export's).")
FLAGS = flags.FLAGS
FAMILIES = {
    "drawn": tuple(writers.STYLES),
    "transformed": tuple(k for k in writers.KINDS if k not in writers.STYLES),
    "real": optdigits.KINDS,
}


def captures(name: str, digits) -> Iterable[tuple[str, int, bytes, str, int]]:
    """The set ``name``'s captures; ``digits``: MNIST test images and labels."""
    if name == "real":
        return optdigits.optdigits_set(FLAGS.real_count)
    return writers.writers_set(*digits, FLAGS.per_kind, SEEDS[name], FLAGS.kinds)


def written(name: str, found: Iterable, folder: Path) -> list[tuple[str, Path, bytes, str]]:
    """The captures ``found`` yields as files under ``folder``/``name``: (kind, path,
    encoded, label) each."""
    (folder / name).mkdir()
    items = []
    for kind, index, encoded, suffix, label in found:
        path = folder / name / f"{kind}_{index:04d}{suffix}"
        path.write_bytes(encoded)
        items.append((kind, path, encoded, str(label)))
    return items


def read_sets(loaded, model_dir: str, readers: dict[str, Path], sets: dict[str, list]) -> dict:
    """Every set's accuracy per kind and door. `predict` and each reader run once over
    the files of every set: a child process each, not one per set."""
    paths = [path for items in sets.values() for _, path, _, _ in items]
    by_predict = read_predict(model_dir, paths, number=False)
    by_reader = {n: read_predict(model_dir, paths, False, str(p)) for n, p in readers.items()}
    return {name: tally(loaded, items, by_predict, by_reader) for name, items in sets.items()}


def tally(loaded, items: list, by_predict: dict, by_reader: dict[str, dict]) -> dict:
    """One set's accuracy per kind and door, read through serving_images here and from
    the answers `predict` and the readers gave."""
    counts: dict[str, dict[str, int]] = {}
    by_label: dict[str, list[bool]] = {}
    for kind, path, encoded, label in items:
        row = counts.setdefault(kind, {"images": 0})
        tf_read, hard = read_tf_only_digit(loaded, encoded)
        by_label.setdefault(label, []).append(tf_read == label)
        outcome = "right" if tf_read == label else "wrong"
        row[f"hard_{outcome}"] = row.get(f"hard_{outcome}", 0) + bool(hard)
        row[outcome] = row.get(outcome, 0) + 1
        reads = {"tf_only": tf_read, "predict": by_predict.get(str(path))}
        for name, found in by_reader.items():
            reads[f"tflite:{name}"] = found.get(str(path))
            row[f"{name}_agrees"] = row.get(f"{name}_agrees", 0) + (found.get(str(path)) == tf_read)
        for door, read in reads.items():
            row[door] = row.get(door, 0) + (read == label)
        row["images"] += 1
    hard = _hard_shares(counts)
    kinds = {kind: _shares(row) for kind, row in counts.items()}
    return {
        "kinds": kinds,
        "summary": summary(kinds),
        "by_label": {k: round(float(np.mean(v)), 4) for k, v in sorted(by_label.items())},
        "hard": hard,
    }


_TALLIES = ("right", "wrong", "hard_right", "hard_wrong")


def _shares(row: dict[str, int]) -> dict:
    """A kind's counts as shares of its images (the tallies behind ``hard`` left out)."""
    return {
        k: (v if k == "images" else round(v / row["images"], 4))
        for k, v in row.items()
        if k not in _TALLIES
    }


def _hard_shares(counts: dict[str, dict[str, int]]) -> dict:
    """How often serving_images' reading was reported hard (``contract.is_hard``): among
    its wrong answers (a user is warned) and among its right ones (a needless warning)."""
    total = {t: sum(row.get(t, 0) for row in counts.values()) for t in _TALLIES}
    return {
        "of_wrong": round(total["hard_wrong"] / total["wrong"], 4) if total["wrong"] else None,
        "of_right": round(total["hard_right"] / total["right"], 4) if total["right"] else None,
        "wrong": total["wrong"],
    }


def summary(kinds: dict[str, dict]) -> dict:
    """Per door: each family's mean (None where the set has none of it), the worst kind."""
    doors = [d for d in next(iter(kinds.values())) if d != "images" and not d.endswith("agrees")]
    out = {}
    for door in doors:
        worst = min(kinds, key=lambda k: kinds[k][door])
        means = {
            f"{family}_mean": _mean(kinds, [k for k in kinds if k in members], door)
            for family, members in FAMILIES.items()
        }
        out[door] = {**means, "worst_kind": worst, "worst": kinds[worst][door]}
    return out


def _mean(kinds: dict[str, dict], names: list[str], door: str) -> float | None:
    return round(float(np.mean([kinds[k][door] for k in names])), 4) if names else None


def main(argv: list[str]) -> None:
    del argv
    unknown = set(FLAGS.sets) - set(SETS)
    if unknown:
        raise app.UsageError(f"unknown sets {sorted(unknown)}: of {', '.join(SETS)}")
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
    folder = Path(tempfile.mkdtemp(prefix="writers-"))
    sets = {name: written(name, captures(name, digits), folder) for name in FLAGS.sets}
    for name, found in read_sets(loaded, model_dir, readers, sets).items():
        report["sets"][name] = {"seed": SEEDS.get(name), **found}
        print(name, json.dumps(found["summary"]), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    app.run(main)
