# The two set-up commands of the README: `make run` and `make test`. Everything they need is
# installed here, into .venv, from PyPI.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test install bytecode lint typecheck lint-imports pytest translations extract-messages clean vendor

run: install
	$(BIN)/newsletter demo

test: install lint typecheck lint-imports pytest

install: $(STAMP) translations bytecode

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Every package that shows text to people keeps its own catalogue in <package>/translations.
translations: $(STAMP)
	@for dir in $$(find newsletter -type d -name translations); do \
		$(BIN)/pybabel compile --use-fuzzy --statistics -d $$dir || exit 1; \
	done

extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o newsletter/translations/messages.pot .

# The project's bytecode, compiled ahead: where PYTHONDONTWRITEBYTECODE is set (as on CI), every
# command would otherwise compile ~140 modules from source at start-up (0.2 s of the sender's
# ~1 s). Only changed files are compiled again.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q newsletter

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# bench/ too: the benches are run by hand, so a changed signature would otherwise go unseen.
typecheck: $(STAMP)
	$(BIN)/mypy newsletter bench

# The architecture contracts in .importlinter (layers, delivery's independence, no cycles).
lint-imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP) translations
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

# Bootstrap Italia (the comuni's design kit) from npm at a pinned version, copied into
# newsletter/static/vendor/bootstrap-italia/ with VERSION and SHA256SUMS. Needs npm; the copied
# files are committed, so running the service never needs Node.
vendor:
	tools/vendor-bootstrap-italia.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
