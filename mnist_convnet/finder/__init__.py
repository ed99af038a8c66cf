"""The digit-finder: a photo, scan or drawing -> the digit(s) in it, framed as MNIST frames.

digit_finder.py  finding digits in photos and scans, in ops TF Lite has too
preprocess.py    image files TensorFlow cannot decode, made decodable (Pillow)

May import ``contract`` and ``errors`` only: the SavedModel's signatures, reader.tflite,
``predict`` and the server all build on it.
"""
