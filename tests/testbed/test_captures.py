"""Users' captures of MNIST test digits, of every kind, through every entry point.

TF Serving's view (the SavedModel loaded by TensorFlow alone, in a process that imports
nothing of ours), ``mnist-convnet predict`` and the REST server's b64 path must give the
same answer from the same 28x28 on every image, and read them right. The fixture model
is a short run (~97% on MNIST); ``bench/captures.py`` measures the trained one.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import requests

from mnist_convnet.serving import rest
from testbed import captures
from testbed.idx import read_idx
from testbed.servers import serve_in_thread
from tests.helpers import run_python

# Every capture through four entry points, three of them child processes.
pytestmark = pytest.mark.slow

PER_KIND = 4
KINDS = list(captures.SINGLE) + list(captures.UNSEEN) + [f"number_{k}" for k in captures.NUMBERS]

TF_ONLY = """
import json, sys
import numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
out = {}
for line in open(sys.argv[2]):
    item = json.loads(line)
    name = "serving_number" if item["kind"].startswith("number_") else "serving_images"
    try:
        got = loaded.signatures[name](images=tf.constant([bytes.fromhex(item["hex"])]))
    except tf.errors.InvalidArgumentError:
        out[item["path"]] = ["error", None]
        continue
    if name == "serving_number":
        out[item["path"]] = [got["number"][0].numpy().decode(), got["images"][0].numpy().tolist()]
    else:
        out[item["path"]] = [str(int(got["classes"][0])), got["image"][0].numpy().tolist()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def capture_files(tmp_path_factory, manual_dir):
    images = read_idx(manual_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(manual_dir / "t10k-labels-idx1-ubyte.gz")
    folder = tmp_path_factory.mktemp("captures")
    items = []
    for kind, index, encoded, suffix, label in captures.capture_set(
        images, labels, KINDS, PER_KIND, seed=5
    ):
        path = folder / f"{kind}_{index}{suffix}"
        path.write_bytes(encoded)
        items.append({"kind": kind, "path": str(path), "label": label, "encoded": encoded})
    return folder, items


@pytest.fixture(scope="module")
def readings(exported, capture_files, tmp_path_factory):
    """{path: {"tf_only": (read, image), "predict": read, "rest": (read, image)}}."""
    folder, items = capture_files
    listing = tmp_path_factory.mktemp("listing") / "items.jsonl"
    listing.write_text(
        "".join(
            json.dumps({"kind": i["kind"], "path": i["path"], "hex": i["encoded"].hex()}) + "\n"
            for i in items
        )
    )
    done = run_python("-c", TF_ONLY, str(exported), str(listing))
    assert done.returncode == 0, done.stderr[-2000:]
    tf_only = json.loads(done.stdout.strip().splitlines()[-1])

    by_predict = {}
    for number in (False, True):
        paths = [i["path"] for i in items if i["kind"].startswith("number_") == number]
        done = run_python(
            "-m",
            "mnist_convnet",
            "predict",
            f"--model_dir={exported}",
            *(["--number"] if number else []),
            *paths,
        )
        assert "Traceback" not in done.stderr
        for line in done.stdout.splitlines():
            result = json.loads(line)
            key = "number" if number else "digit"
            by_predict[result["path"]] = str(result[key]) if key in result else "error"

    by_rest = {}
    with serve_in_thread(rest.for_folder(exported.parent, "mnist")) as url:
        for item in items:
            number = item["kind"].startswith("number_")
            body = {"instances": [{"b64": base64.b64encode(item["encoded"]).decode()}]}
            if number:
                body["signature_name"] = "serving_number"
            answer = requests.post(url + "/v1/models/mnist:predict", json=body, timeout=60)
            assert answer.status_code in (200, 400), answer.text
            if answer.status_code == 400:
                by_rest[item["path"]] = ("error", None)
                continue
            p = answer.json()["predictions"][0]
            by_rest[item["path"]] = (
                (p["number"], p["images"]) if number else (str(p["classes"]), p["image"])
            )
    return {
        i["path"]: {
            "tf_only": tf_only[i["path"]],
            "predict": by_predict[i["path"]],
            "rest": by_rest[i["path"]],
        }
        for i in items
    }


def test_every_entry_point_reads_the_same_28x28_the_same_way(capture_files, readings):
    _, items = capture_files
    for item in items:
        seen = readings[item["path"]]
        assert seen["tf_only"][0] == seen["predict"] == seen["rest"][0], (item["path"], seen)
        assert seen["tf_only"][1] == seen["rest"][1], item["path"]  # identical pixels


def test_every_kind_of_capture_is_read(capture_files, readings):
    """Single digits of every kind, and numbers, read right from the captures.

    The fixture model is a 300-step run, so this asks for most, not all: >= 90% of all
    single digits, >= 3 of 4 per kind, and >= 70% of the numbers exactly right.
    """
    _, items = capture_files
    right: dict[str, int] = {}
    for item in items:
        right[item["kind"]] = right.get(item["kind"], 0) + (
            readings[item["path"]]["tf_only"][0] == item["label"]
        )
    singles = [right[k] for k in captures.SINGLE]
    numbers = [right[f"number_{k}"] for k in captures.NUMBERS]
    assert sum(singles) >= 0.9 * PER_KIND * len(singles), right
    assert min(singles) >= PER_KIND - 1, right
    assert sum(numbers) >= 0.7 * PER_KIND * len(numbers), right


def test_the_capture_set_uses_only_test_digits_and_is_repeatable(manual_dir):
    images = read_idx(manual_dir / "t10k-images-idx3-ubyte.gz")[:50]
    labels = read_idx(manual_dir / "t10k-labels-idx1-ubyte.gz")[:50]
    first = list(captures.capture_set(images, labels, KINDS, 1, seed=9))
    again = list(captures.capture_set(images, labels, KINDS, 1, seed=9))
    assert [f[2] for f in first] == [a[2] for a in again]
    assert {f[0] for f in first} == set(KINDS)
    assert all(1 <= len(f[4]) <= 8 for f in first)
    assert np.all([len(f[4]) >= 2 for f in first if f[0].startswith("number_")])
