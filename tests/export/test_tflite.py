"""tflite.py: the TF Lite files exist, run in LiteRT, and agree with the SavedModel: the three
classifiers on 28x28 images, and reader.tflite (finder + classifier, builtins only) on
captures."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_convnet import contract
from mnist_convnet.export import tflite
from mnist_convnet.reading import litert
from mnist_convnet.training import data
from testbed import captures, sheet


@pytest.fixture(scope="module")
def lite_files(exported, saved_model, mnist):
    representative, _ = data.as_numpy(mnist.train, 200)
    return tflite.write_all(saved_model, representative, tflite.output_dir(exported), tflite.KINDS)


@pytest.fixture(scope="module")
def sample(mnist):
    return data.as_numpy(mnist.test, 500)


def test_files_are_written_beside_the_base_folder(exported, lite_files):
    assert set(lite_files) == {"float32", "dynamic_range", "int8"}
    for path in lite_files.values():
        assert path.parent == exported.parent.parent / "mnist_convnet_tflite" / "1"
        assert path.stat().st_size > 10_000
    assert not list(lite_files["float32"].parent.glob("*.partial"))
    # Quantised weights are int8: about a quarter of the float model.
    assert lite_files["int8"].stat().st_size < 0.5 * lite_files["float32"].stat().st_size


def test_each_classifier_keeps_the_saved_models_signature(lite_files):
    """A phone app asks for ``serving_float`` by name, whatever the conversion's route."""
    for kind, path in lite_files.items():
        signatures = litert.LiteModel(path).interpreter.get_signature_list()
        assert signatures == {
            "serving_float": {"inputs": ["images"], "outputs": ["classes", "probabilities"]}
        }, kind


def test_float32_agrees_with_the_saved_model(saved_model, lite_files, sample):
    images, _ = sample
    expected = saved_model.signatures["serving_float"](images=tf.constant(images))["probabilities"]
    got = litert.LiteModel(lite_files["float32"]).predict(images)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)


def test_int8_takes_raw_uint8_pixels_and_keeps_accuracy(lite_files, sample, saved_model):
    images, labels = sample
    model = litert.LiteModel(lite_files["int8"])
    assert model.input["dtype"] == np.uint8 and model.output["dtype"] == np.uint8
    scale, zero_point = model.input["quantization"]
    assert zero_point == 0 and abs(scale - 1 / 255) < 1e-6
    reference = saved_model.signatures["serving_float"](images=tf.constant(images))[
        "classes"
    ].numpy()
    for kind in ("dynamic_range", "int8"):
        predicted = np.argmax(litert.LiteModel(lite_files[kind]).predict(images), -1)
        assert (predicted == labels).mean() >= (reference == labels).mean() - 0.01, kind
        assert (predicted == reference).mean() >= 0.98, kind


def test_latency_is_measured(lite_files, sample):
    latency = litert.LiteModel(lite_files["float32"]).latency_ms(sample[0][0], runs=20)
    assert 0 < latency["p50_ms"] <= latency["p99_ms"]


def test_probabilities_are_read_by_name_whatever_the_batch(saved_model, lite_files, sample):
    """After a batch of exactly 10, `classes` is [10] and looks like [.., 10] too: the
    probabilities must still be found when the next batch resizes the input."""
    images, _ = sample
    model = litert.LiteModel(lite_files["float32"])
    for batch in (10, 37, 10, 1):
        expected = saved_model.signatures["serving_float"](images=tf.constant(images[:batch]))
        got = model.predict(images[:batch])
        assert got.shape == (batch, 10)
        np.testing.assert_allclose(got, expected["probabilities"].numpy(), atol=1e-5)


def test_int8_outputs_are_probabilities(lite_files, sample, saved_model):
    """Its uint8 output is dequantised: each row sums to 1, and the loss is the float
    model's (a 0-255 scale would pass every argmax test)."""
    images, labels = sample
    reference = saved_model.signatures["serving_float"](images=tf.constant(images))["probabilities"]
    got = litert.LiteModel(lite_files["int8"]).predict(images)
    assert got.min() >= 0.0 and got.max() <= 1.0
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=0.03)
    loss = lambda p: float(np.mean(-np.log(np.clip(p[np.arange(len(labels)), labels], 1e-6, 1))))
    assert abs(loss(got) - loss(reference.numpy())) < 0.05


# --- reader.tflite ---------------------------------------------------------------------


def test_the_op_list_sees_select_tf_ops(tmp_path):
    """The check below is not vacuous: a graph with a TensorFlow-only op, converted with
    Select TF ops allowed, shows it."""
    fn = tf.function(
        lambda a, b: tf.linalg.lstsq(a, b, l2_regularizer=1e-3),
        input_signature=[tf.TensorSpec([8, 3]), tf.TensorSpec([8, 1])],
    ).get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn])
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    assert any(name.startswith("CUSTOM:Flex") for name in tflite.op_names(converter.convert()))


@pytest.mark.slow  # converts reader.tflite (~25 s, once a run)
def test_reader_has_builtin_ops_only_and_loads_in_litert(reader_file):
    names = tflite.op_names(reader_file.read_bytes())
    assert not [n for n in names if n.startswith("CUSTOM")], names
    assert {"WHILE", "IF", "CONV_2D", "UNIQUE", "SOFTMAX"} <= names  # finder and classifier
    reader = litert.LiteReader(reader_file)
    assert reader.signatures == {"read_digit", "read_number"}
    assert reader.side == contract.FRAME_SIDE
    assert reader_file.stat().st_size < 1_000_000


def _nearly_the_same(a: np.ndarray, b: np.ndarray) -> bool:
    """Mean difference under 1 grey level, at the best of the nine one-pixel shifts (the
    centre of mass can round the other way on float differences)."""
    a, b = a.astype(int), b.astype(int)
    shifted = [np.roll(a, (dy, dx), (0, 1)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return min(np.abs(s - b).mean() for s in shifted) < 1.0


READ_KINDS = ["clean", "phone_photo", "canvas", "scan_shadow", "light_on_dark", "tiny", "huge"]


@pytest.mark.slow  # converts reader.tflite (~25 s, once a run)
@pytest.mark.parametrize("kind", READ_KINDS)
def test_reader_sees_what_serving_images_sees(
    reader_file, saved_model, test_digits, kind, tmp_path
):
    """The same finder in both graphs: given the same pixels (the SavedModel a lossless PNG
    of what Pillow decoded for the frame), the same 28x28 image and answer. On the
    original bytes the decoders differ by a grey level, which can move the finder's
    rounded choices: bench/captures.py measures that agreement per kind."""
    pixels, _ = test_digits
    reader = litert.LiteReader(reader_file)
    rng = np.random.default_rng(5)
    for i in range(3):
        encoded, suffix = captures.render(kind, rng, [pixels[i]])
        path = tmp_path / f"{i}{suffix}"
        path.write_bytes(encoded)
        image = litert.load_image(path)
        frame, size, _ = litert.fill_frame(image)
        out = reader.run("read_digit", frame, size)
        png = sheet.encode(np.asarray(image, np.float64))
        ours = saved_model.signatures["serving_images"](images=tf.constant([png]))
        assert int(out["status"][0]) == contract.FOUND
        assert int(out["digit"][0]) == int(ours["classes"][0])
        assert _nearly_the_same(out["image"][0], ours["image"][0].numpy()), (kind, i)
        np.testing.assert_allclose(
            out["probabilities"][0], ours["probabilities"][0].numpy(), atol=0.02
        )


@pytest.mark.slow  # converts reader.tflite (~25 s, once a run)
def test_reader_reads_numbers_as_serving_number_does(
    reader_file, saved_model, test_digits, tmp_path
):
    pixels, _ = test_digits
    reader = litert.LiteReader(reader_file)
    rng = np.random.default_rng(6)
    for i, kind in enumerate(["number_clean", "number_photo", "number_canvas"]):
        encoded, suffix = captures.render(kind, rng, [pixels[j] for j in range(i, i + 4)])
        ours = saved_model.signatures["serving_number"](images=tf.constant([encoded]))
        path = tmp_path / f"{kind}{suffix}"
        path.write_bytes(encoded)
        result = reader.read_file(path, number=True)
        assert result["number"] == ours["number"][0].numpy().decode(), kind
        count = int(ours["count"][0])
        boxes = np.array([d["box"] for d in result["digits"]])
        assert np.abs(boxes - ours["boxes"][0, :count].numpy()).max() <= 2, kind


@pytest.mark.slow  # converts reader.tflite (~25 s, once a run)
@pytest.mark.parametrize(
    "name, fill, size, status",
    [
        ("blank", 255, [480, 640], contract.BLANK),
        ("black", 0, [640, 640], contract.BLANK),
        ("uniform noise", "uniform", [640, 640], contract.NOISE),
        ("grey noise", "gauss", [480, 640], contract.NOISE),
        ("sliver", 255, [640, 3], contract.BAD_SIZE),
        ("size zero", 255, [0, 0], contract.BLANK),
        ("size beyond the frame", "uniform", [100_000, -5], contract.BAD_SIZE),
    ],
)
def test_reader_answers_nothing_to_read_with_a_status(reader_file, name, fill, size, status):
    """TF Lite has no exceptions: no digit, a blank frame or noise is a status, not a crash
    (LiteRT's IF prepares both branches, so a branch for components must take none)."""
    side = contract.FRAME_SIDE
    rng = np.random.default_rng(0)
    if fill == "uniform":
        frame = rng.integers(0, 256, (1, side, side, 4)).astype(np.uint8)
    elif fill == "gauss":
        grey = np.clip(128 + rng.normal(0, 20, (1, side, side, 1)), 0, 255).astype(np.uint8)
        frame = np.repeat(grey, 4, axis=3)
    else:
        frame = np.full((1, side, side, 4), fill, np.uint8)
    frame[..., 3] = 255
    reader = litert.LiteReader(reader_file)
    digit = reader.run("read_digit", frame, np.array(size, np.int32))
    number = reader.run("read_number", frame, np.array(size, np.int32))
    assert int(digit["status"][0]) == int(number["status"][0]) == status, name
    assert int(digit["digit"][0]) == -1 and not digit["probabilities"].any()
    assert int(number["count"][0]) == 0 and (number["digits"] == -1).all()
