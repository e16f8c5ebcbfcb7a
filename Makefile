# failover.vrrp: developer and CI entry points.  `make help` lists the targets.
#
# `make test` is what CI runs (.ci/run): apt packages, the venv, ruff, mypy,
# the unit tests with coverage, the netns tests (root), ansible-test sanity and
# the changelog lint.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
VENV_STAMP  := $(VENV)/.requirements-stamp
REQUIREMENTS := $(wildcard requirements/*.txt)

ENGINE      := plugins/module_utils/vrrp
COV_MIN     := 90
LINT_PATHS  := plugins tests $(wildcard bench) $(wildcard demo)

# ansible-test needs the collection at .../ansible_collections/<namespace>/<name>.
BUILD       := build
COLLECTION  := $(BUILD)/ansible_collections/failover/vrrp
SANITY_PY   := 3.11

# shellcheck: ansible-test's shellcheck sanity test skips itself without it.
APT_PACKAGES := keepalived tshark iproute2 iputils-ping ethtool tcpdump shellcheck python3-venv \
                debootstrap systemd-container openssh-client nftables

.PHONY: help test deps venv lint typecheck unit netns coverage sanity sanity-tree \
        changelog-lint ansible-lint integration bench demo clean chaos chaos-short py39

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "} {printf "  %-15s %s\n", $$1, $$2}'

test: deps venv lint typecheck unit py39 netns coverage chaos-short integration sanity changelog-lint ansible-lint galaxy-importer docs-lint ## everything CI checks

deps: ## install the apt packages the tests need (idempotent, quiet)
	@missing=""; \
	for pkg in $(APT_PACKAGES); do \
	  status=$$(dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null || true); \
	  [ "$$status" = "install ok installed" ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  log=$$(mktemp); \
	  if ! { apt-get update -qq && \
	         apt-get install -y -qq --no-install-recommends $$missing; } >"$$log" 2>&1; then \
	    cat "$$log"; rm -f "$$log"; exit 1; \
	  fi; \
	  rm -f "$$log"; \
	fi

venv: $(VENV_STAMP) ## create .venv from the pinned requirements (PyPI only)

$(VENV_STAMP): $(REQUIREMENTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(addprefix -r ,$(REQUIREMENTS))
	@touch $@

lint: venv ## ruff check + ruff format --check
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

typecheck: venv ## mypy, strict on the engine package (settings in pyproject.toml)
	$(VENV)/bin/mypy

# What only a kernel exercises (sockets, netlink, the daemon around them) is
# measured by the netns tests; everything else must be covered by unit tests.
KERNEL_SIDE := $(ENGINE)/linux/*,$(ENGINE)/hostio.py,$(ENGINE)/held.py,$(ENGINE)/runner.py,$(ENGINE)/instance.py,$(ENGINE)/trackio.py

unit: venv ## unit tests; the engine's sans-kernel code must be >= 90 % covered by them
	@rm -f .coverage .coverage.*
	$(PY) -m pytest tests/unit -m 'not slow' --durations=10 --cov --cov-report=
	$(VENV)/bin/coverage report --omit='$(KERNEL_SIDE)' --fail-under=$(COV_MIN)
	@# the 100,000-example fuzz of the decoder, without the tracer's slowdown
	$(PY) -m pytest tests/unit -m slow --durations=5

# The oldest Python the engine claims: its unit tests (not the slow fuzz) and
# `vrrp.runner --check` with Debian 11's python3 3.9 and bullseye's packages, in
# a debootstrap tree cached by its recipe (tests/py39/run.py; root).
py39: deps venv ## the engine's unit tests and runner --check under Debian 11's python3 3.9 (root)
	$(PY) tests/py39/run.py

coverage: venv ## unit + netns coverage of the whole engine (after `unit` and `netns`)
	$(VENV)/bin/coverage report --show-missing --fail-under=$(COV_MIN)

# Two sessions side by side (NETNS_SHARD, tests/netns/conftest.py: whole files,
# balanced by test count): the tests mostly wait on protocol timers. Each
# session has its own coverage file (its runners' too, through COVERAGE_FILE);
# both are appended to the unit tests' .coverage for `coverage`.
netns: venv ## tests in network namespaces (root), two sessions side by side
	@mkdir -p $(BUILD); rm -f .coverage.netns-*; \
	NETNS_SHARD=1/2 COVERAGE_FILE=$(CURDIR)/.coverage.netns-1 $(PY) -m pytest tests/netns \
	  --cov --cov-report= --durations=5 >$(BUILD)/netns-shard1.log 2>&1 & other=$$!; \
	rc=0; NETNS_SHARD=0/2 COVERAGE_FILE=$(CURDIR)/.coverage.netns-0 $(PY) -m pytest tests/netns \
	  --cov --cov-report= --durations=5 || rc=$$?; \
	other_rc=0; wait $$other || other_rc=$$?; \
	echo "netns: the second session ($(BUILD)/netns-shard1.log):"; cat $(BUILD)/netns-shard1.log; \
	$(VENV)/bin/coverage combine --append --keep .coverage.netns-0 .coverage.netns-1 >/dev/null; \
	echo "netns: first session exit $$rc, second session exit $$other_rc"; \
	[ "$$rc" -eq 0 ] && [ "$$other_rc" -eq 0 ]

# The chaos suite (tests/chaos/README.md): random faults from a seed on a
# three-router lab, invariants checked after each, probe loss per fault class.
# A failing run prints the seed: `make chaos SEED=... DURATION=...` replays it.
SEED         ?=
DURATION     ?= 600
COUNT        ?=
CHAOS_FAULTS ?=
CHAOS_SHORT  := 60
CHAOS        := PYTHONPATH=plugins/module_utils:tests $(PY) -m chaos.driver \
                $(if $(SEED),--seed $(SEED)) $(if $(CHAOS_FAULTS),--faults $(CHAOS_FAULTS)) \
                $(if $(COUNT),--count $(COUNT))

chaos: deps venv ## random faults on the lab, seeded (root; SEED=, DURATION=600 or COUNT=, CHAOS_FAULTS=)
	$(CHAOS) --duration $(DURATION) --json $(BUILD)/chaos/chaos.json

chaos-short: venv ## the chaos suite's short profile (under 2 min), part of `make test`
	$(CHAOS) --duration $(CHAOS_SHORT) --json $(BUILD)/chaos/chaos-short.json

sanity-tree: ## copy the collection (tracked + untracked-not-ignored files) under build/
	@rm -rf $(COLLECTION) && mkdir -p $(COLLECTION)
	@git ls-files -z --cached --others --exclude-standard --exclude='.venv*/' --exclude=.ansible/ | \
	  while IFS= read -r -d '' f; do \
	    if [ -e "$$f" ] || [ -L "$$f" ]; then printf '%s\0' "$$f"; fi; \
	  done | tar --null --files-from=- -cf - | tar -xf - -C $(COLLECTION)
	@# ansible-test lists content with git from the nearest .git upwards; without
	@# one here it would find this repo's, where build/ is ignored, and test nothing.
	@echo "sanity-tree: $(COLLECTION) ($$(find $(COLLECTION) -type f | wc -l) files)"
	@git init --quiet $(COLLECTION)

sanity: venv sanity-tree ## ansible-test sanity on the build/ copy (installs its own requirements)
	$(PY) tests/ansible_test_bootstrap.py --python $(SANITY_PY)
	cd $(COLLECTION) && $(abspath $(VENV))/bin/ansible-test sanity \
	  --color no --requirements --python $(SANITY_PY)

changelog-lint: venv ## antsibull-changelog lint (fragments and changelog.yaml)
	$(VENV)/bin/antsibull-changelog lint
	$(VENV)/bin/antsibull-changelog lint-changelog-yaml --strict changelogs/changelog.yaml

# ansible-lint (offline) does not install the collection it lints: without this
# link it cannot resolve failover.vrrp.* modules used by the role and playbooks.
LINT_COLLECTIONS := $(BUILD)/lint-collections

ansible-lint: venv ## ansible-lint, profile production (.ansible-lint)
	@mkdir -p $(LINT_COLLECTIONS)/ansible_collections/failover
	@ln -sfn ../../../.. $(LINT_COLLECTIONS)/ansible_collections/failover/vrrp
	ANSIBLE_COLLECTIONS_PATH="$(abspath $(LINT_COLLECTIONS))" \
	  PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/ansible-lint --nocolor

# Two pytest sessions side by side (tests/integration/README.md): the Debian 12
# runs, and the Debian 13 and mixed 12+13 runs (test ids [debian13],
# [debian12+13]); the wall time is about the longer one's. The second session's
# output follows the first's; each writes its own timings.
LAB_OTHER_TREES := debian13 or debian12+13

integration: deps venv ## systemd lab hosts (nspawn over cached Debian 12 and 13 trees, root): the role over SSH
	@mkdir -p $(BUILD)
	@FAILOVER_VRRP_LAB_TIMINGS=$(BUILD)/integration-timings-debian13.json \
	  $(PY) -m pytest tests/integration --durations=0 -k '$(LAB_OTHER_TREES)' \
	  >$(BUILD)/integration-debian13.log 2>&1 & other=$$!; \
	rc=0; $(PY) -m pytest tests/integration --durations=0 -k 'not ($(LAB_OTHER_TREES))' || rc=$$?; \
	other_rc=0; wait $$other || other_rc=$$?; \
	echo "integration: the Debian 13 and mixed session ($(BUILD)/integration-debian13.log):"; \
	cat $(BUILD)/integration-debian13.log; \
	echo "integration: Debian 12 session exit $$rc, Debian 13 and mixed session exit $$other_rc"; \
	[ "$$rc" -eq 0 ] && [ "$$other_rc" -eq 0 ]

bench: deps venv ## the core's figures, a scrape of 510 instances, failover and mass takeover vs keepalived on the lab, handover loss on systemd hosts (root; BENCH_ARGS=--quick)
	@if [ -f bench/run.py ]; then \
	  $(PY) bench/run.py; \
	else \
	  echo "bench: no bench/run.py yet, nothing to measure"; \
	fi
	$(PY) bench/metrics.py
	$(PY) bench/failover.py $(BENCH_ARGS)
	$(PY) bench/mass.py $(BENCH_ARGS)
	$(PY) bench/handover.py $(BENCH_ARGS)

demo: deps venv ## an HA pair of systemd hosts provisioned by playbooks: crash, takeover, rolling maintenance under a UDP flow (root)
	$(PY) demo/run.py

clean: ## remove build output and caches (keeps .venv)
	rm -rf $(BUILD) .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage .coverage.* htmlcov
	find plugins tests -name __pycache__ -type d -prune -exec rm -rf {} +

# --- the collection as users get it ------------------------------------------
# `ansible-galaxy collection build` (galaxy.yml's build_ignore decides what
# ships), the tarball installed into build/dist/collections. galaxy-importer and
# the docs tools each have a venv of their own: their pins clash with
# requirements/dev.txt (galaxy-importer: attrs<24; Sphinx 9: docutils<0.23).
.PHONY: dist galaxy-importer docs docs-lint

COLLECTION_VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
DIST         := $(BUILD)/dist
DIST_TARBALL := $(DIST)/failover-vrrp-$(COLLECTION_VERSION).tar.gz
DIST_PATH    := $(DIST)/collections
IMPORTER_VENV := .venv-importer
DOCS_VENV    := .venv-docs
DOCS_OUT     := $(BUILD)/docs

$(IMPORTER_VENV)/.requirements-stamp: requirements/importer/requirements.txt
	@test -x $(IMPORTER_VENV)/bin/python || $(PYTHON) -m venv $(IMPORTER_VENV)
	$(IMPORTER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	@touch $@

$(DOCS_VENV)/.requirements-stamp: requirements/docs/requirements.txt
	@test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	@touch $@

dist: venv ## build the collection tarball and install it into build/dist/collections
	@rm -rf $(DIST) && mkdir -p $(DIST)
	$(VENV)/bin/ansible-galaxy collection build --force --output-path $(DIST) .
	ANSIBLE_COLLECTIONS_PATH="$(abspath $(DIST_PATH))" $(VENV)/bin/ansible-galaxy collection \
	  install --offline --no-deps --force -p $(DIST_PATH) $(DIST_TARBALL) >/dev/null
	@echo "dist: $(DIST_TARBALL) ($$(tar -tzf $(DIST_TARBALL) | wc -l) entries)"

galaxy-importer: dist $(IMPORTER_VENV)/.requirements-stamp ## Galaxy's upload checks on the tarball, offline (.ci/galaxy-importer.cfg)
	cd $(DIST) && GALAXY_IMPORTER_CONFIG=$(abspath .ci/galaxy-importer.cfg) \
	  PATH="$(abspath $(IMPORTER_VENV))/bin:$$PATH" ANSIBLE_COLLECTIONS_PATH="$(abspath $(DIST_PATH))" \
	  $(abspath $(IMPORTER_VENV))/bin/python -m galaxy_importer.main $(notdir $(DIST_TARBALL)) \
	  | grep -v '^Loading ' | tee galaxy-importer.log
	@# Galaxy shows its warnings (ansible-lint findings, doc problems) to users: none allowed.
	@if grep -E '^(WARNING|ERROR)' $(DIST)/galaxy-importer.log; then exit 1; fi

docs: dist $(DOCS_VENV)/.requirements-stamp ## the documentation site (antsibull-docs + Sphinx) into build/docs/html, offline
	@rm -rf $(DOCS_OUT) && mkdir -p $(DOCS_OUT)/rst && chmod og-w $(DOCS_OUT)/rst
	@cp docs/site/index.rst $(DOCS_OUT)/rst/
	ANSIBLE_COLLECTIONS_PATH="$(abspath $(DIST_PATH))" PATH="$(abspath $(DOCS_VENV))/bin:$$PATH" \
	  $(DOCS_VENV)/bin/antsibull-docs --config-file docs/site/antsibull-docs.cfg collection \
	  --use-current --dest-dir $(DOCS_OUT)/rst failover.vrrp
	$(DOCS_VENV)/bin/sphinx-build -b html -c docs/site -W --keep-going -q \
	  -d $(DOCS_OUT)/doctrees $(DOCS_OUT)/rst $(DOCS_OUT)/html
	@echo "docs: open $(DOCS_OUT)/html/index.html"

docs-lint: dist $(DOCS_VENV)/.requirements-stamp ## antsibull-docs lint-collection-docs on the installed tarball
	cd $(DIST_PATH)/ansible_collections/failover/vrrp && \
	  ANSIBLE_COLLECTIONS_PATH="$(abspath $(DIST_PATH))" PATH="$(abspath $(DOCS_VENV))/bin:$$PATH" \
	  $(abspath $(DOCS_VENV))/bin/antsibull-docs lint-collection-docs --plugin-docs .
