"""The command line: ``mnist-convnet SUBCOMMAND`` (``main.py``), one module per subcommand.

    train          train.py          train, evaluate, export (flags generated from Config)
    export         export.py         a SavedModel from a training checkpoint
    export-tflite  export_tflite.py  .tflite files, scored on the test split
    predict        predict.py        digits from image files
    personalize    personalize.py    one writer's labelled digits learned: a new version
    serve          serve.py          TF Serving's REST API and the draw-a-digit page
    evaluate       evaluate.py       confusion matrix and per-class scores
    visualize      visualize.py      the pictures of what the network learned
    flags.py       flags several commands share

Only these modules import absl's flags; the library below them takes plain values.
"""
