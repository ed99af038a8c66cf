"""mnist-convnet personalize: a folder of one writer's labelled digits -> the next version.

Run as a user runs it, in a child process, on a copy of the session's export.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet import contract
from mnist_convnet.export import warmup
from mnist_convnet.serving import configs
from testbed import sheet, writers
from tests.helpers import run_python

STYLES = {1: "one_flag", 4: "four_open", 7: "seven_crossed"}


def _examples(folder, per_digit: int = 3) -> None:
    """Drawn digits of three styles: in folders named by the digit, and one by name."""
    rng = np.random.default_rng(0)
    for digit, style in STYLES.items():
        (folder / str(digit)).mkdir(parents=True)
        for i in range(per_digit):
            encoded, suffix, _ = writers.drawn(rng, style)
            (folder / str(digit) / f"{i}{suffix}").write_bytes(encoded)
    encoded, suffix, _ = writers.drawn(rng, "zero_oval")
    (folder / f"0_mine{suffix}").write_bytes(encoded)


def _personalize(base, examples, data_dir, *flags: str):
    return run_python(
        "-m",
        "mnist_convnet",
        "personalize",
        f"--model_dir={base}",
        f"--data_dir={data_dir}",
        "--steps=20",
        *flags,
        str(examples),
    )


@pytest.mark.slow
def test_examples_become_the_next_version_with_every_signature(exported, data_dir, tmp_path):
    base = tmp_path / "models"
    shutil.copytree(exported, base / "1")
    _examples(tmp_path / "mine")
    config = tmp_path / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "mnist" base_path: "{base}" }} }}')
    labelled = ("--label=alice", f"--model_config_file={config}")
    done = _personalize(base, tmp_path / "mine", data_dir, *labelled)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["export_dir"] == str(base / "2") and report["from"] == str(base / "1")
    assert report["label"] == "alice"
    assert configs.read_model_config_file(config)[0].labels == {"alice": 2}
    assert report["examples"] == 10 and report["loss_after"] < report["loss_before"]
    loaded = tf.saved_model.load(str(base / "2"))
    assert set(contract.SIGNATURES) <= set(loaded.signatures)
    assert (base / "2" / warmup.FILE).is_file()
    read = loaded.signatures[contract.SERVING_IMAGES]
    for path in sorted((tmp_path / "mine").rglob("*.*"))[:4]:
        label = int(path.parent.name) if path.parent.name.isdigit() else int(path.name[0])
        assert int(read(images=tf.constant([path.read_bytes()]))["classes"][0]) == label


@pytest.mark.parametrize("bad", ["unlabelled", "blank"])
def test_an_example_it_cannot_use_is_one_error_naming_it(exported, data_dir, tmp_path, bad):
    base = tmp_path / "models"
    shutil.copytree(exported, base / "1")
    _examples(tmp_path / "mine", per_digit=1)
    name = "scan.png" if bad == "unlabelled" else "7_blank.png"
    (tmp_path / "mine" / name).write_bytes(sheet.encode(np.full((60, 60), 250.0)))
    done = _personalize(base, tmp_path / "mine", data_dir)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and name in last
    assert not (base / "2").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--label=alice"], "go together"),
        (["--label=a b", "--model_config_file=CONFIG"], "bad version label"),
        (["--label=alice", "--model_config_file=CONFIG"], "no model whose base_path"),
    ],
)
def test_a_label_is_refused_before_any_work_unless_its_config_file_can_take_it(
    exported, tmp_path, flags, message
):
    base = tmp_path / "models"
    shutil.copytree(exported, base / "1")
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "mnist" base_path: "elsewhere" } }')
    flags = [f.replace("CONFIG", str(config)) for f in flags]
    done = run_python(
        "-m", "mnist_convnet", "personalize", f"--model_dir={base}", *flags, str(tmp_path)
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert message in done.stderr.strip().splitlines()[-1]
    assert not (base / "2").exists()
