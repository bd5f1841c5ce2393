# livestyle: two commands.
#   make demo [INPUT=file.mp4 OUTPUT=out.mp4] [STYLE=name|image]   set up .venv and run the main job
#   make test                                                       set up .venv and run the tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INPUT ?=
OUTPUT ?= out.mp4
STYLE ?= starry_night
ARGS ?=

.PHONY: demo test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip check
	touch $(STAMP)

demo: $(STAMP)
ifeq ($(INPUT),)
	$(BIN)/livestyle run --style $(STYLE) $(ARGS)
else
	$(BIN)/livestyle run --input "$(INPUT)" --output "$(OUTPUT)" --style $(STYLE) $(ARGS)
endif

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
