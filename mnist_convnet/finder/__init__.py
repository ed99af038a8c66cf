"""The digit-finder: any image -> the handwritten digit (or row of digits) in it, as MNIST
frames them, in TensorFlow ops that TF Lite has too.

This is what makes a photo readable by a model trained on MNIST. It lives *inside* the
SavedModel, so TF Serving, our REST server, ``mnist-convnet predict`` and the page all run
the same graph, and the same functions build ``reader.tflite`` for phones (``export/``):
every op has a builtin TF Lite kernel, and a test converts the finder with
``TFLITE_BUILTINS`` alone. MNIST digits are white ink on black, fitted into
20x20 and centred by mass in 28x28; a user's capture is anything else. Its stages, one
module each, each with the numbers tuned for it:

    header.py      1  width x height from the PNG/JPEG/GIF/BMP header, refused above
                      MAX_PIXELS before decoding (SavedModel only)
    decode.py      2  first frame, luminance, transparency composited; the work image
    background.py  3  polarity, illumination, background, threshold: the ink
    components.py  4  long runs peeled off; 8-connected labels and their statistics
    pick.py        5  edge marks, ruled lines, specks, frames dropped; digits grouped
    framing.py     6  crop, stretch, thicken, fit 20x20, centre of mass at (14, 14);
                      an image already in MNIST's form is left as it is
    find.py           the stages in order: ``read_digit``, ``read_number`` (statuses,
                      never raising: TF Lite has no exceptions) and the SavedModel's
                      ``find_digit``, ``find_number`` (InvalidArgument on failure)

beside them:

    ops.py         small image operations in TF Lite's builtins (resizes, 3x3 windows,
                   percentiles, a 6x6 solve), each held against the op it replaces
    refusals.py    a status as an InvalidArgument sentence, and the sentence read back
    preprocess.py  image files TensorFlow cannot decode, made decodable (Pillow)

May import ``contract`` and ``errors`` only: the SavedModel's signatures, reader.tflite,
``predict`` and the server all build on it. How each number was tuned:
docs/captures.md.
"""
