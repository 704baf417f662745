# wangge — two commands: `make demo` and `make test` (Debian, run as root or with sudo).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
WANGGE := $(VENV)/bin/wangge
APT_PKGS := postgresql-15 postgresql-15-postgis-3 gdal-bin chromium chromium-driver poppler-utils fonts-wqy-zenhei
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: demo test setup apt venv db-start clean bench

demo: setup ## install what is missing, start PostGIS, load the demo county, serve on :8050
	$(WANGGE) demo --host $${HOST:-127.0.0.1} --port $${PORT:-8050}

test: setup ## same set-up, then the whole test suite (browser tests included)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

setup: apt venv db-start

apt: ## Debian packages, installed only when missing
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install:$$missing"; \
	  SUDO=""; [ "$$(id -u)" != 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "apt packages present"; fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

db-start: venv ## start the embedded cluster (no-op with DATABASE_URL)
	$(WANGGE) db start

bench: setup
	$(WANGGE) bench geocode

clean:
	-$(WANGGE) db stop
	rm -rf $(VENV) var test-output
