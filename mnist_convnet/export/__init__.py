"""What leaves a training run: SavedModels in TF Serving's layout, and TF Lite files.

saved_model.py   versioned SavedModels, written whole, in TF Serving's layout
signatures.py    the SavedModel's serving signatures
warmup.py        assets.extra/tf_serving_warmup_requests, written at export, replayed
tflite.py        TF Lite conversion: classifiers and reader.tflite
trainable.py     trainable.tflite: infer, train, save, restore, for learning on a phone

May import ``network/``, ``finder/`` and the shared modules; serving and reading read
what it writes (``warmup`` included) and it imports neither.
"""
