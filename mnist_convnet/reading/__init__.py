"""Reading digits with a trained model, outside the server.

inference.py     a SavedModel, a .tflite or a .keras file as one classifier
litert.py        running .tflite files in LiteRT, as a phone does (no TensorFlow)
predict.py       digits from image files, through the SavedModel's signatures

May import ``network/``, ``finder/`` and the shared modules; nothing here trains or
exports.
"""
