# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install demo test lint clean

install: $(INSTALLED)

$(INSTALLED): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

demo: install
	$(BIN)/python -m tools.demo

lint: install
	$(BIN)/ruff check .

# Four workers on two cores: the tests spend most of their time waiting on the emulator and on Lambda's waiters.
test: lint
	$(BIN)/python -m pytest -n 4 --dist worksteal
	$(BIN)/molecule test --all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
