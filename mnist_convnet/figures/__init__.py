"""What a trained model is worth, in numbers and pictures.

evaluation.py    accuracy, confusion matrix, per-class scores (NumPy only)
visualize.py     what the network learned, as figures
plots.py         the matplotlib drawing behind them

May import ``network/`` and the shared modules.
"""
