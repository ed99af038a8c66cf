"""serving/configs.py: what to serve, and which versions, checked without TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mnist_convnet import versions
from mnist_convnet.errors import UserError
from mnist_convnet.serving import configs, metrics
from mnist_convnet.serving.options import ServerOptions


@pytest.mark.parametrize(
    "text, on_disk, chosen",
    [
        ("latest", [1, 2, 3], [3]),
        ("latest:2", [1, 2, 3], [2, 3]),
        ("all", [1, 4], [1, 4]),
        ("specific:1,3", [1, 2, 3], [1, 3]),
        ("specific:5", [1, 2], []),
    ],
)
def test_version_policies_choose_as_tf_serving(text, on_disk, chosen):
    assert configs.VersionPolicy.parse(text).choose(on_disk) == chosen


@pytest.mark.parametrize("text", ["newest", "latest:0", "latest:x", "specific:", "all:2"])
def test_a_bad_policy_is_one_clear_error(text):
    with pytest.raises(UserError, match="version policy"):
        configs.VersionPolicy.parse(text)


def test_labels_parse_and_refuse_nonsense():
    assert configs.parse_labels("stable=1, canary=2") == {"stable": 1, "canary": 2}
    with pytest.raises(UserError, match="label=version"):
        configs.parse_labels("stable:1")


def test_tf_servings_model_config_file(tmp_path):
    (tmp_path / "configs.config").write_text(
        """
        model_config_list {
          config { name: "mnist" base_path: "a" model_platform: "tensorflow"
                   model_version_policy { latest { num_versions: 2 } }
                   version_labels { key: "stable" value: 1 } }
          config { name: "other" base_path: "/abs/b"
                   model_version_policy { specific { versions: 1 versions: 3 } } }
        }
        """
    )
    mnist, other = configs.read_model_config_file(tmp_path / "configs.config")
    assert (mnist.name, mnist.base_path, mnist.labels) == ("mnist", tmp_path / "a", {"stable": 1})
    assert mnist.policy == configs.VersionPolicy("latest", 2)
    assert (other.base_path, other.policy.versions) == (Path("/abs/b"), (1, 3))
    (tmp_path / "bad.config").write_text("model_config_list { config { nme: 1 } }")
    with pytest.raises(UserError, match="bad.config"):
        configs.read_model_config_file(tmp_path / "bad.config")


def test_only_whole_versions_count(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "2").mkdir()  # being written: no saved_model.pb yet
    (tmp_path / ".export-x").mkdir()
    assert versions.complete(tmp_path) == [1]


def test_the_models_come_from_a_base_folder_or_a_config_file(exported, tmp_path):
    (one,) = configs.model_configs(
        ServerOptions(model_dir=str(exported.parent), version_labels="stable=1")
    )
    assert (one.name, one.base_path, one.labels) == ("mnist", exported.parent, {"stable": 1})
    with pytest.raises(UserError, match="is a SavedModel version folder"):
        configs.model_configs(ServerOptions(model_dir=str(exported)))
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "a" base_path: "{exported.parent}" }} }}'
    )
    both = ServerOptions(model_dir=str(exported.parent), model_config_file=str(config))
    with pytest.raises(UserError, match="not both"):
        configs.model_configs(both)
    (a,) = configs.model_configs(ServerOptions(model_config_file=str(config)))
    assert a.name == "a"
    assert configs.metrics_path(ServerOptions(enable_prometheus=True)) == metrics.DEFAULT_PATH
    assert configs.metrics_path(ServerOptions()) is None


def test_check_refuses_a_folder_without_versions_and_a_bad_monitoring_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no SavedModel versions"):
        configs.check(ServerOptions(model_dir=str(tmp_path / "empty")))
    (tmp_path / "m" / "1").mkdir(parents=True)
    (tmp_path / "m" / "1" / "saved_model.pb").write_bytes(b"")
    configs.check(ServerOptions(model_dir=str(tmp_path / "m")))  # no TensorFlow needed
    (tmp_path / "monitoring.config").write_text('prometheus_config { enable: true path: "x" }')
    bad = ServerOptions(
        model_dir=str(tmp_path / "m"), monitoring_config_file=str(tmp_path / "monitoring.config")
    )
    with pytest.raises(UserError, match="must start with /"):
        configs.check(bad)


def test_configs_need_no_tensorflow():
    code = "import sys, mnist_convnet.serving.configs; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout == "False\n", done.stderr


def test_a_label_is_written_into_its_models_entry_and_the_rest_kept(tmp_path):
    (tmp_path / "models.config").write_text(
        'model_config_list { config { name: "mnist" base_path: "a" } '
        'config { name: "other" base_path: "b" version_labels { key: "stable" value: 1 } } }'
    )
    configs.set_label(tmp_path / "models.config", tmp_path / "b", "alice", 3)
    mnist, other = configs.read_model_config_file(tmp_path / "models.config")
    assert mnist.labels == {} and other.labels == {"stable": 1, "alice": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["models.config"]  # written whole
    for base, label, message in (
        (tmp_path / "c", "alice", "no model whose base_path"),
        (tmp_path / "a", "a b", "bad version label"),
    ):
        with pytest.raises(UserError, match=message):
            configs.set_label(tmp_path / "models.config", base, label, 2)
