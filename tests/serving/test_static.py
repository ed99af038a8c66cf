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


def test_a_version_without_its_reader_says_how_to_make_one(tmp_path):
    with pytest.raises(ServingError, match="make export-tflite"):
        static.reader(tmp_path / "1")
