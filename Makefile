# ReconStudy: `make demo` runs the default simulated cohort, `make test` runs lint + tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= 2

.PHONY: install demo report test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

demo: install
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete
	$(BIN)/snakemake --cores 1 --report results/report.html
	@echo "Done: tables in results/group/, figures in results/figures/, report in results/report.html"

lint: install
	$(BIN)/ruff check src tests benchmarks workflow/scripts
	$(BIN)/snakemake --lint --cores 1

test: install lint
	$(BIN)/pytest

bench: install
	$(BIN)/python benchmarks/cs_vs_bart.py
	$(BIN)/python benchmarks/qsm_speed.py

clean:
	rm -rf results logs .snakemake
