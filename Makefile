# pincus: two commands set everything up on a fresh Debian 12 machine (as root):
#   make demo   - install, start pincusd, play the book's chapter 8 on a real container
#   make test   - install, run lint, unit and integration tests
VENV := .venv
PY := $(VENV)/bin/python
export PINCUS_DIR ?= /var/lib/pincus

IMAGE := images-cache/busybox-meta.tar.xz

.PHONY: all host venv demo test test-long unit integration lint bench clean-test

all: venv

host:
	bash scripts/setup-host.sh

$(VENV)/.installed: pyproject.toml | host
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,btrfs]'
	touch $@

# bin/pincus without `site` at start-up (src/pincus/cli/launcher.py), redone after every pip install
$(VENV)/.launcher: $(VENV)/.installed src/pincus/cli/launcher.py
	$(PY) -m pincus.cli.launcher $(VENV)/bin/pincus
	touch $@

venv: host $(VENV)/.installed $(VENV)/.launcher

$(IMAGE): scripts/build-busybox-image.sh | host
	bash scripts/build-busybox-image.sh images-cache

demo: venv
	bash scripts/demo.sh

# ruff, then the layering of DESIGN.md (layers import downwards only; base/ imports nothing else)
lint: venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src/pincus
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/unit/test_layers.py

unit: venv $(IMAGE)
	$(VENV)/bin/pytest -q tests/unit

integration: venv $(IMAGE)
	$(VENV)/bin/pytest -q tests/integration

test: venv lint $(IMAGE)
	$(VENV)/bin/pytest -q tests

# The long crash chaos (bench/chaos.py): a few hundred SIGKILL cycles per driver, ~5 min each.
test-long: venv $(IMAGE)
	$(PY) bench/chaos.py --driver both --cycles 300

bench: venv $(IMAGE)
	$(PY) bench/bench_instances.py
	$(PY) bench/bench_snapshots.py
	$(PY) bench/bench_api.py
	$(PY) bench/bench_scheduler.py
