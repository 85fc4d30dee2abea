# Two entry points (see README): `make run` sets up and runs the main job, `make test` sets up and runs the tests.
# torch is installed FIRST and pinned to the CPU build: an unpinned torch pulls a multi-GB CUDA build.
# On machines without a local CPU wheel, point pip at PyTorch's CPU index:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
DATA ?= ../shared/datasets/emotion
UNLABELED ?= ../shared/datasets/emotion_unsplit_partial/unlabeled.jsonl.gz
BIN = $(VENV)/bin
STAMP = $(VENV)/.kdedge-installed
JS = toolkit/js
JS_STAMP = $(JS)/node_modules/.kdedge-installed
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup js-setup run test lint clean

setup: $(STAMP)

# The JavaScript runtime's tests need Node >= 20, its npm packages (onnxruntime-node's postinstall would
# download binaries it already bundles: no install scripts run) and, for the in-browser test, Debian's chromium.
js-setup: $(JS_STAMP)

$(JS_STAMP): $(JS)/package.json $(JS)/package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || \
		{ echo "the JavaScript tests need Node >= 20 (found $$(node --version 2>/dev/null || echo none))"; exit 1; }
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }
	cd $(JS) && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --ignore-scripts
	touch $@

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

# The main job: distil the committed MiniLM soft labels (every text of the transfer set is cached, so no
# teacher is needed) into the 80K MLP (`--student auto` measures word order and picks it), export it to a
# bundle and classify two texts with it. On the CPU model that made it, this reproduces
# exported/emotion-mlp-student bit for bit (one thread: float sums, and so the last bits of the weights, change
# with the thread count and with the CPU's vector instructions).
run: setup
	$(BIN)/kdedge distill --data $(DATA) --soft-labels benchmarks/softlabels/emotion-minilm-bf16.npz \
		--augment 8 --unlabeled $(UNLABELED) --student auto --threads 1 --out runs/student --output runs/distill.json --force
	$(BIN)/kdedge export runs/student --data $(DATA) --out runs/bundle --force
	$(BIN)/kdedge predict runs/bundle "i feel wonderful today" "this house makes me so nervous"

test: setup js-setup
	$(BIN)/python -m pytest -q
	cd $(JS) && KDEDGE_PYTHON=$(abspath $(BIN))/python npm test

lint: setup
	$(BIN)/ruff check toolkit tests benchmarks

clean:
	rm -rf $(VENV) runs $(JS)/node_modules
