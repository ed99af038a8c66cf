"""static.py: the page told its model, and only the files it may load."""

from __future__ import annotations

import json

import pytest

from mnist_convnet import contract
from mnist_convnet.serving import static
from mnist_convnet.serving.status import ServingError


def test_the_page_is_told_its_model_and_the_finders_words_escaped():
    content_type, body = static.page('mnist"<x>')
    text = body.decode()
    assert content_type.startswith("text/html")
    assert "{{" not in text and 'mnist"<x>' not in text and "mnist&quot;&lt;x&gt;" in text
    assert json.dumps(contract.REASONS[1]).replace('"', "&quot;") in text


@pytest.mark.parametrize(
    "path",
    ["/litert/core/../../../setup.cfg", "/litert/elsewhere/core.js", "/litert/core/a.py"],
)
def test_only_the_listed_litert_files_are_served(path):
    with pytest.raises(ServingError) as error:
        static.litert(path)
    assert error.value.status == 404


@pytest.mark.parametrize("name", static.DEVICE_FILES)
def test_a_version_without_its_device_files_says_how_to_make_them(tmp_path, name):
    with pytest.raises(ServingError, match="make export-tflite"):
        static.device_file(tmp_path / "1", name)


def test_only_the_device_files_are_served_from_a_version(tmp_path):
    (tmp_path / "1").mkdir()
    with pytest.raises(ServingError, match="no such file") as error:
        static.device_file(tmp_path / "1", "saved_model.pb")
    assert error.value.status == 404
