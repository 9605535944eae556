# Two commands for users: `make demo` and `make test`. Both run `make setup` first.
PY ?= .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup test lint demo data clean help

help:
	@echo "make setup  - create .venv with the pinned OpenMMLab stack (idempotent)"
	@echo "make demo   - train + evaluate FCOS on generated demo data (CPU, < 10 min)"
	@echo "make test   - run the test suite"
	@echo "make lint   - ruff: lint and import order (pyproject.toml)"
	@echo "make data   - (re)generate the demo datasets under data/demo"

setup:
	@bash scripts/setup.sh

test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .

demo: setup
	$(PY) tools/misc/run_demo.py

data: setup
	$(PY) tools/misc/make_demo_data.py --out data/demo

clean:
	rm -rf work_dirs data/demo .pytest_cache
