"""mnist-convnet: the keras.io simple MNIST convnet, trained by a loop you can read.

The package is laid out in the order a training run happens:

    data.py    MNIST from tensorflow-datasets -> batched tf.data pipelines
    model.py   the keras.io convnet, and its logits z
    step.py    one training step: softmax cross-entropy, dL/dz = p - y, backprop
    loop.py    epochs of steps, metrics, TensorBoard, checkpoints
    export.py  versioned SavedModels in TF Serving's layout
    train.py   the absl command line that runs all of the above
"""

__version__ = "0.1.0"
