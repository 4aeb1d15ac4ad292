# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install demo test lint sanity clean

install: $(INSTALLED)

$(INSTALLED): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

demo: install
	$(BIN)/python -m tools.demo

lint: install
	$(BIN)/ruff check .

# ansible-test sanity on the collection, offline once its wheels are built (tools/sanity.py says how).
sanity: install
	$(BIN)/python -m tools.sanity

# Six workers on two cores: the tests spend most of their time waiting - on Lambda's waiters, a canary's bake, the
# chaos scenario's backoff - not computing.
# Molecule and ansible-test sanity run beside pytest (molecule starts its own emulator on a free port; sanity
# needs none); their output is shown once pytest ends.
MOLECULE_LOG := .molecule.log
SANITY_LOG := .sanity.log
test: lint
	@$(BIN)/molecule test --all >$(MOLECULE_LOG) 2>&1 & molecule=$$!; \
	$(BIN)/python -m tools.sanity >$(SANITY_LOG) 2>&1 & sanity=$$!; \
	$(BIN)/python -m pytest -n 6 --dist worksteal --durations=25; tests=$$?; \
	wait $$molecule; scenarios=$$?; \
	wait $$sanity; sane=$$?; \
	echo "---- molecule test --all ($(MOLECULE_LOG)) ----"; cat $(MOLECULE_LOG); \
	echo "---- ansible-test sanity ($(SANITY_LOG)) ----"; cat $(SANITY_LOG); \
	test $$tests -eq 0 && test $$scenarios -eq 0 && test $$sane -eq 0

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(MOLECULE_LOG) .sanity $(SANITY_LOG)
