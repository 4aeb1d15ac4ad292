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
# Molecule runs beside pytest (each starts its own emulator on a free port); its output is shown once pytest ends.
MOLECULE_LOG := .molecule.log
test: lint
	@$(BIN)/molecule test --all >$(MOLECULE_LOG) 2>&1 & molecule=$$!; \
	$(BIN)/python -m pytest -n 4 --dist worksteal; tests=$$?; \
	wait $$molecule; scenarios=$$?; \
	echo "---- molecule test --all ($(MOLECULE_LOG)) ----"; cat $(MOLECULE_LOG); \
	test $$tests -eq 0 && test $$scenarios -eq 0

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(MOLECULE_LOG)
