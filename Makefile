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

.PHONY: setup run test lint clean

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

# The main job: distil the committed MiniLM soft labels (every text of the transfer set is cached, so no
# teacher is needed) into the 80K MLP (`--student auto` measures word order and picks it), export it to a
# bundle and classify two texts with it. This reproduces exported/emotion-mlp-student bit for bit (one
# thread: float sums, and so the last bits of the weights, change with the thread count).
run: setup
	$(BIN)/kdedge distill --data $(DATA) --soft-labels benchmarks/softlabels/emotion-minilm-bf16.npz \
		--augment 8 --unlabeled $(UNLABELED) --student auto --threads 1 --out runs/student --output runs/distill.json --force
	$(BIN)/kdedge export runs/student --data $(DATA) --out runs/bundle --force
	$(BIN)/kdedge predict runs/bundle "i feel wonderful today" "this house makes me so nervous"

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check toolkit tests benchmarks

clean:
	rm -rf $(VENV) runs
