"""What the digit-finder promises every caller, in plain Python (no TensorFlow).

The finder runs in two graphs built from one source (``finder/``): the
SavedModel's signatures and ``reader.tflite``. Their callers — ``predict``, the REST
server, a phone app through ``reading/litert.py``, the page — agree with it on these numbers and
words, so each is defined once, here, where a TF-free client can import it.
"""

from __future__ import annotations

MAX_PIXELS = 25_000_000  # images whose header promises more are refused before decoding
MAX_DIGITS = 16  # the most digits a number reading returns
SIZE = 28  # the model's input: SIZE x SIZE, white ink on black, as MNIST
FRAME_SIDE = 640  # reader.tflite's frame: uint8 [1, FRAME_SIDE, FRAME_SIDE, 4] RGBA

# The reader's ``status`` output; REASONS[status] says it in words (the SavedModel raises
# InvalidArgument with the same sentence).
FOUND, BLANK, NO_WRITING, TOO_MANY, BAD_SIZE, NOISE = range(6)
REASONS = (
    "",
    "no digit found: the image is blank or has almost no contrast",
    "no digit found: only edge marks and specks",
    f"found more than {MAX_DIGITS} digits; at most {MAX_DIGITS} are read",
    "no digit found: the image is too narrow to read",
    "no digit found: nothing stands out of the noise",
)

# A reading is *hard* when the network was unsure: its top probability under
# HARD_PROBABILITY, or the second within HARD_MARGIN of it. ``predict`` says so
# (``"hard": true``) and the page shows the two candidates, so a user sees doubt, not only
# a wrong answer (docs/captures.md: how often a hard reading is a wrong one).
HARD_PROBABILITY = 0.9
HARD_MARGIN = 0.5


def is_hard(probabilities) -> bool:
    """Whether a digit's reading, from its 10 probabilities, was a hard one."""
    first, second = sorted((float(p) for p in probabilities), reverse=True)[:2]
    return first < HARD_PROBABILITY or first - second < HARD_MARGIN


# The SavedModel's signatures (``signatures.py`` builds them) and the name of each one's
# input, as a TF Serving client names them (``{"pixels": ...}``, ``inputs["images"]``).
SERVING_DEFAULT = "serving_default"  # uint8 pixels [batch, 28, 28(, 1)]
SERVING_IMAGES = "serving_images"  # encoded images [batch], one digit each
SERVING_NUMBER = "serving_number"  # encoded images [batch], a row of digits each
SERVING_FLOAT = "serving_float"  # float32 [batch, 28, 28, 1] in [0, 1]
INPUTS = {
    SERVING_DEFAULT: "pixels",
    SERVING_IMAGES: "images",
    SERVING_NUMBER: "images",
    SERVING_FLOAT: "images",
}
SIGNATURES = tuple(INPUTS)  # the ones :predict serves, one input each
# The article's backward pass of each image (``explain.py``), served at :explain; its
# inputs: the images as serving_float takes them, the label to explain (-1: the
# prediction) and the step size of the one gradient-descent step it reports.
SERVING_EXPLAIN = "serving_explain"
EXPLAIN_INPUTS = ("images", "label", "learning_rate")
PREDICTED = -1  # the label that asks to explain the predicted class
DEFAULT_LEARNING_RATE = 0.01
MAX_LEARNING_RATE = 10.0  # a larger step only overflows: it teaches nothing
# Every signature an export has, and its inputs.
SIGNATURE_INPUTS = {**{name: (i,) for name, i in INPUTS.items()}, SERVING_EXPLAIN: EXPLAIN_INPUTS}
IMAGE_SIGNATURES = (SERVING_IMAGES, SERVING_NUMBER)
# serving_number's (and reader.tflite's read_number) output of the 28x28 digits it read:
# named as serving_float's input is, so that what it returns can be sent back to it.
NUMBER_DIGIT_IMAGES = "images"
PIXEL_SIGNATURES = (SERVING_DEFAULT, SERVING_FLOAT)
