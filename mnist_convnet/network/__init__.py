"""The network: what is trained, and the article's mathematics of it.

networks.py    the networks' entries: builder, default recipe, max-pooling (no TF)
deslant.py     each digit sheared upright by its ink's second moments (a layer)
model.py       the networks (keras.io convnet, LeNet-5, the article's), their logits z
backprop.py    the article's equations: softmax cross-entropy, every layer backward
explain.py     one digit forward and back through every layer, for the page's panel

Imports Keras, TensorFlow and nothing of this package but ``errors``: training, export,
reading and the figures build on it; it knows none of them.
"""
