"""Draw the article's pictures from a trained model and its training logs.

    mnist-convnet visualize --model_dir=saved_models/mnist_convnet --log_dir=logs --out_dir=plots
    make plots

Writes into ``--out_dir`` (PNG): training_curves, confusion_matrix, worst_misclassified,
first_layer_filters, feature_maps, sobel, dlogits. ``--log_dir`` is a training run's
TensorBoard folder, or the folder of runs ``make train`` writes (its newest run is used);
the same pictures are added to that run as TensorBoard image summaries, under ``plots/``.
"""

from __future__ import annotations

import json

from absl import app, flags, logging

from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import exit_on_user_error

flags.DEFINE_string("out_dir", "plots", "Where the PNG files go.")
flags.DEFINE_integer(
    "digit_index",
    0,
    "Which test digit the feature maps and Sobel show.",
    lower_bound=0,
    upper_bound=9999,
)
shared.define_model_dir_flag()
shared.define_data_flags()
shared.define_log_dir_flag(
    "logs", "A training run's TensorBoard folder, or the folder of runs (its newest is used)."
)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    FLAGS = flags.FLAGS
    with exit_on_user_error():
        from mnist_convnet.figures import visualize
        from mnist_convnet.reading import inference
        from mnist_convnet.training import data  # TensorFlow: not for --help

        model = inference.load_keras_model(FLAGS.model_dir)
        run_dir = visualize.find_run(FLAGS.log_dir) if FLAGS.log_dir else None
        history = visualize.read_history(run_dir) if run_dir else {}
        images, labels = data.as_numpy(shared.load_datasets(FLAGS).test)
        figures = visualize.draw_all(model, history, images, labels, FLAGS.digit_index)
        pngs = visualize.write_pngs(figures, FLAGS.out_dir)
        summaries = visualize.write_image_summaries(pngs, run_dir) if run_dir else None
    for png in pngs:
        logging.info("wrote %s", png)
    print(
        json.dumps(
            {"plots": [str(p) for p in pngs], "tensorboard": str(summaries) if summaries else None}
        ),
        flush=True,
    )
