# mnist-convnet: `make train`, `make test`, `make bench`. Variables pass through:
#   make train EPOCHS=1 SEED=3
#   make test PYTEST_FLAGS="-k step"     make test-fast (the suite without `slow` tests)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# The augmented recipe (keras.io's network for other writers than MNIST's: docs/recipes.md);
# RECIPE=keras.io trains keras.io's exactly. Empty: the recipe's own.
EPOCHS ?=
BATCH_SIZE ?=
LEARNING_RATE ?=
RECIPE ?= augmented
SEED ?= 0
EXPORT_DIR ?= saved_models/mnist_convnet
LOG_DIR ?= logs
TRAIN_FLAGS ?=
PYTEST_FLAGS ?=
TEST_WORKERS ?= auto
BENCH_EPOCHS ?= 15
MODEL_DIR ?= $(EXPORT_DIR)
MODEL_NAME ?= mnist
PORT ?= 8501
GRPC_PORT ?= 8500
PLOTS_DIR ?= plots
BASELINE ?=

# Offline MNIST: use the read-only copy beside the checkout when there is one (tfds still
# checks it); set MNIST_MANUAL_DIR yourself to point elsewhere, or empty to download.
MNIST_MANUAL_DIR ?= $(wildcard $(abspath ../shared/datasets/mnist))
export MNIST_MANUAL_DIR

.PHONY: help install system-packages lint format train test test-fast bench bench-time-to-accuracy bench-captures bench-writers bench-personalize bench-load bench-grpc bench-explain serve export-tflite evaluate plots clean

help:
	@echo "make train   train (the augmented recipe's 15 epochs; RECIPE=keras.io for keras.io's),"
	@echo "             evaluate on the test split, export a SavedModel"
	@echo "make test    run the whole test suite (pytest, one worker per core)"
	@echo "make test-fast   the suite without the slow tests (under 3 minutes, a worker per core)"
	@echo "make lint    ruff check + ruff format --check (CI runs it first); make format fixes"
	@echo "make bench   our loop vs keras model.fit, side by side, JSON in bench/results.json"
	@echo "make bench-time-to-accuracy  seconds to 99% test accuracy: fit, our loop, --recipe=fast"
	@echo "make bench-captures  accuracy on photos/scans/canvases per capture kind and entry point"
	@echo "make bench-writers   accuracy on other writers' digits, drawn and real (UCI), per kind and door"
	@echo "make bench-personalize  a writer taught: k examples per digit, per weak style, before and after,"
	@echo "                     through the command, the phone's file and the page (Chromium)"
	@echo "make bench-load      the REST server under load (hey): werkzeug, waitress, granian side by side"
	@echo "                     (BASELINE=REV: that commit's server beside today's, with their ratios)"
	@echo "make bench-grpc      gRPC vs REST side by side, warm-up's worth, a 128-client soak, a hot swap"
	@echo "make bench-explain   :explain in-process, and the page's inside-the-network panel in Chromium"
	@echo "make serve   serve the latest SavedModel on http://127.0.0.1:$(PORT) (TF Serving REST API,"
	@echo "             and a page at / to draw digits for it)"
	@echo "make plots   curves, confusion matrix, filters, feature maps, Sobel... as PNG in $(PLOTS_DIR)/"
	@echo "make export-tflite   float32, dynamic-range, int8 .tflite classifiers and reader.tflite (finds the digit too)"
	@echo "make evaluate        confusion matrix and per-class scores of the latest SavedModel"
	@echo "make clean   remove the virtualenv and caches (never saved_models/)"

# The page's LiteRT.js (its "on this device" mode) comes from npm, pinned by the lock file
# and served by `mnist-convnet serve` from mnist_convnet/static/node_modules: never a CDN.
$(BIN)/.installed: setup.cfg pyproject.toml mnist_convnet/static/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@command -v npm >/dev/null || { echo "error: npm not found (Node.js 20 and npm: apt-get install nodejs npm)" >&2; exit 1; }
	cd mnist_convnet/static && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed

train: install
	$(BIN)/mnist-convnet train $(if $(EPOCHS),--epochs=$(EPOCHS)) \
	  $(if $(BATCH_SIZE),--batch_size=$(BATCH_SIZE)) \
	  $(if $(LEARNING_RATE),--learning_rate=$(LEARNING_RATE)) $(if $(RECIPE),--recipe=$(RECIPE)) \
	  --seed=$(SEED) --export_dir=$(EXPORT_DIR) --log_dir=$(LOG_DIR) $(TRAIN_FLAGS)

# What the tests need from the system, installed with apt-get where one is missing (as root,
# or through sudo): Debian's Chromium and its driver for the page, a Chinese font for the
# page's Chinese text (its screenshot is a test artifact), `hey` for bench/load.py.
SYSTEM_PACKAGES := chromium chromium-driver fonts-wqy-zenhei hey
system-packages:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
	    || [ -z "$$(fc-list :lang=zh 2>/dev/null)" ] || ! command -v hey >/dev/null; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	  echo "installing $(SYSTEM_PACKAGES) (apt-get)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    $$SUDO apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

# Every test, one worker per core; a file's tests share a worker, so its fixtures are built
# once (tests/conftest.py names the files whose tests are spread out; docs/testing.md).
test: install system-packages
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist=loadscope $(PYTEST_FLAGS)

# Every module on small fixtures, a worker per core as `make test`: the inner loop while
# changing code (TEST_WORKERS=0: one process, for pdb).
test-fast: install system-packages
	$(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) --dist=loadscope $(PYTEST_FLAGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench.run --epochs=$(BENCH_EPOCHS)
	$(MAKE) bench-time-to-accuracy
	$(MAKE) bench-captures
	$(MAKE) bench-writers
	$(MAKE) bench-load
	$(MAKE) bench-grpc
	$(MAKE) bench-explain

# Training seconds until 99% test accuracy: keras.io's model.fit, our loop, --recipe=fast,
# side by side for seeds 0-4 (~15-40 min with the machine's speed; docs/recipes.md).
bench-time-to-accuracy: install
	$(BIN)/python -m bench.time_to_accuracy > bench/results_time_to_accuracy.json
	@cat bench/results_time_to_accuracy.json

# Accuracy on photos/scans/canvases of MNIST test digits per capture kind and entry point
# (TF-only, predict, REST), and serving_images' latency on a 640x480 JPEG.
bench-captures: install
	$(BIN)/python -m bench.captures --model_dir=$(MODEL_DIR) > bench/results_captures.json
	@cat bench/results_captures.json

serve: install
	$(BIN)/mnist-convnet serve --model_dir=$(MODEL_DIR) --model_name=$(MODEL_NAME) --port=$(PORT) \
	  --grpc_port=$(GRPC_PORT) --enable_batching

# Accuracy on other writers' digits per style and door: drawn from stroke models of styles
# MNIST lacks, and MNIST test digits slanted, re-penned, shrunk, rotated (docs/captures.md).
bench-writers: install
	$(BIN)/python -m bench.writers --model_dir=$(MODEL_DIR) > bench/results_writers.json
	@cat bench/results_writers.json

# A writer taught: for each drawn style read below 95%, k = 1, 3, 5, 10 examples of each
# digit learned (mnist-convnet personalize's method), the style's unseen digits, the other
# styles and MNIST test before and after (docs/personalize.md).
bench-personalize: install
	$(BIN)/python -m bench.personalize --model_dir=$(MODEL_DIR) --page > bench/results_personalize.json
	@cat bench/results_personalize.json

# The REST server under load with `hey` (apt-get install hey): before/after side by side;
# BASELINE=REV runs that commit's `make serve` beside today's instead, with their ratios.
bench-load: install
	$(BIN)/python -m bench.load --model_dir=$(MODEL_DIR) \
	  $(if $(BASELINE),--baseline=$(BASELINE) --settings=after --clients=32 --rounds=2) \
	  > bench/results_load.json
	@cat bench/results_load.json

# gRPC (the official stub) against REST on one `make serve` process, first requests on five
# fresh servers a kind, a hot swap (~7 min; docs/serving.md).
bench-grpc: install
	$(BIN)/python -m bench.grpc_rest --model_dir=$(MODEL_DIR) --soak_seconds=60 > bench/results_grpc_rest.json
	@cat bench/results_grpc_rest.json

# :explain in-process and the page's "inside the network" panel in Chromium (docs/backprop.md).
bench-explain: install
	$(BIN)/python -m bench.explain --model_dir=$(MODEL_DIR) > bench/results_explain.json
	@cat bench/results_explain.json

export-tflite: install
	$(BIN)/mnist-convnet export-tflite --model_dir=$(MODEL_DIR)

evaluate: install
	$(BIN)/mnist-convnet evaluate $(MODEL_DIR)

plots: install
	$(BIN)/mnist-convnet visualize --model_dir=$(MODEL_DIR) --log_dir=$(LOG_DIR) --out_dir=$(PLOTS_DIR)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache mnist_convnet/static/node_modules
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
