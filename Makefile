# Regen Lab. The two commands of the contract:
#   make rehearse   the main job: a full rehearsal on a fresh lab
#   make test       the test suite (unit tests and real-container tests)
# Each sets up what it needs: the virtualenv, a Docker daemon, the images.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
AGENTS ?= 3
PUPPET ?= 7
SITE ?=
PYTEST_ARGS ?=

.PHONY: setup docker browser images images-all test unit rehearse scenario bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

docker: setup
	$(BIN)/invoke engine.ensure

# Debian's chromium: the HTML report's screenshot test
browser: setup
	$(BIN)/invoke engine.browser

images: docker
	$(BIN)/invoke images.build

# the puppet8 and mixed-fleet scenarios also need the trixie (Puppet 8) images: both suites
# are built side by side (much of a build waits on the mirror and on dpkg)
images-all: docker
	$(BIN)/invoke images.build --suite trixie > $(VENV)/build-trixie.log 2>&1 & trixie=$$!; \
	$(BIN)/invoke images.build; bookworm=$$?; \
	wait $$trixie || { cat $(VENV)/build-trixie.log; exit 1; }; tail -n 7 $(VENV)/build-trixie.log; exit $$bookworm

# loadfile: one worker per test file (a file shares one lab); tests/conftest.py hands each
# scenario to whichever worker is free.
test: images-all browser
	$(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

unit: setup browser
	$(BIN)/pytest -m 'not docker and not regen_lab' $(PYTEST_ARGS)

# make rehearse SITE=examples/compilers.yaml: a lab in a site file's shape (its images built if missing)
rehearse: images
	$(BIN)/invoke rehearse $(if $(SITE),--site $(SITE),--agents $(AGENTS) --suite $(SUITE_OF_$(PUPPET)))

# PUPPET=7: Debian bookworm's packages; PUPPET=8: trixie's (a site file says its own)
SUITE_OF_7 := bookworm
SUITE_OF_8 := trixie

# make scenario NAME=stale-crl: one scenario of scenarios/ on a fresh lab
scenario: images
	$(BIN)/invoke rehearse --scenario $(NAME)

bench: images
	$(BIN)/invoke bench.regen

lint: setup
	$(BIN)/ruff check regen tests tasks.py setup.py examples

clean:
	-$(BIN)/invoke lab.down 2>/dev/null
	rm -rf $(VENV) .regenlab
