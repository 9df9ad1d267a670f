# The two commands of the README. Both do all set-up first (.ci/setup is idempotent).
#   make lab    set up, then open JupyterLab on examples/ with the Toolkernel kernel
#   make test   set up, then run lint, types and the full test suite

VENV := .venv
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test setup bench

setup:
	bash .ci/setup

# Running `make lab` in this clone is the approval of the examples' own mcp.json (a
# folder's mcp.json runs only once a person trusts it; see the README, "Trust").
lab: setup
	$(VENV)/bin/toolkernel trust examples/mcp.json
	cd examples && ../$(VENV)/bin/jupyter lab $(ROOT_FLAG)

test: setup
	bash .ci/test

bench: setup
	$(VENV)/bin/python benchmarks/run_all.py
