# Two commands do all set-up: `make demo` and `make test` create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Development/CI installs pin torch (a local CPU wheel here); the package itself accepts torch>=2.1,<3.
TORCH_PIN := torch==2.13.0

.PHONY: venv demo test test-browser docs docs-serve lint bench docs-tables clean

$(BIN)/sinetune: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(TORCH_PIN)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	touch $@

venv: $(BIN)/sinetune

demo: venv
	$(BIN)/sinetune fit astronaut --size 256  # the defaults: batches of 16384, 1200 steps (sinetune.batching)

test: venv
	$(BIN)/ruff check sinetune tests benchmarks
	$(BIN)/python -m pytest

# sinetune ships no benchmark data: point DATA at a folder with kodak/ (and audio/)
DATA ?= ../shared/data
# The headless-browser test of report.html: Chromium (Debian packages, a few hundred MB, so not part of
# `make test`, where the test skips itself) and selenium.
test-browser: venv
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev,browser]"
	$(BIN)/python -m pytest tests/test_report.py

# The docs site (mkdocs-material; README.md's top part and the docs/*.md pages, API pages from the docstrings)
# into site/.
docs: venv
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev,docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build

docs-serve: docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

bench: venv
	$(BIN)/sinetune bench kodak-256 --data $(DATA)/kodak --images 03,19,23

# The generated regions of README.md and docs/*.md (option tables from the option dataclasses' docstrings,
# the CLI reference from the parser, the method table from the registry); tests check they are current
docs-tables: venv
	$(BIN)/python -m sinetune.docs

clean:
	rm -rf $(VENV) runs site
