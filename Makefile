# Two commands on a fresh machine: `make run` (demo on embedded defaults) and `make test` (everything CI runs).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null)
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install run test lint unit reliability lock clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	@test -n "$(UV)" || $(PYTHON) -m pip install -q uv
	@test -x $(PY) || uv venv -q -p $(PYTHON) $(VENV)
	uv pip install -q --compile-bytecode -p $(PY) -r requirements.lock
	uv pip install -q --compile-bytecode -p $(PY) --no-deps -e .
	@touch $@

lock:
	uv pip compile -q pyproject.toml --extra dev -o requirements.lock

run: install
	$(PY) manage.py migrate -v0
	$(PY) manage.py demo prepare
	$(PY) manage.py run_access -s access -H process --access-type data --hash-ring 0 --once
	$(PY) manage.py demo show

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy alarm_access alarm_access_project tests $(wildcard bench)
	$(VENV)/bin/lint-imports

test: install
	bash scripts/install-services.sh
	bash scripts/ensure-services.sh
	$(MAKE) lint
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -q -p no:cacheprovider --durations=20

# The release check of the reliability suite (tests/reliability; README "Reliability"): 20 kill -9 and SIGTERM
# trials per access type, 3 of each outage (Redis stopped and paused 30 s, the broker cut 15 s); prints one JSON
# line per scenario at the end.
reliability: install
	bash scripts/ensure-services.sh
	DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) RELIABILITY_TRIALS=20 RELIABILITY_FAULT_TRIALS=3 \
	RELIABILITY_REDIS_DOWN_S=30 RELIABILITY_PAUSE_S=30 RELIABILITY_BROKER_DOWN_S=15 \
	$(PY) -m pytest -q -p no:cacheprovider -o timeout=3600 tests/reliability

unit: install
	$(PY) -m pytest -q -m "not integration"

clean:
	rm -rf $(VENV) var
