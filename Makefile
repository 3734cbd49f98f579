# htools-py developer targets.
PYTHON ?= python3
VENV   := .venv
PYX    := $(wildcard htools/*.pyx)
PXD    := $(wildcard htools/*.pxd) $(wildcard htools/*.pxi)
STAMP  := $(VENV)/.installed

.PHONY: venv bytecode demo test clean

venv: $(STAMP)

# (Re)install when the packaging or a Cython source changes.  The editable
# install builds the extension(s) in place (htools/*.so); its "compat" mode
# puts the checkout on sys.path with a .pth line instead of an import hook,
# which costs every tool ~8 ms of start-up.
$(STAMP): pyproject.toml setup.py $(PYX) $(PXD)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --upgrade pip
	$(VENV)/bin/python -m pip install -e '.[test]' --config-settings editable_mode=compat
	# setuptools' distutils shim is a .pth line run at every interpreter
	# start (~0.5 ms); setuptools installs the shim itself when imported
	rm -f $(VENV)/lib/python*/site-packages/distutils-precedence.pth
	touch $@

# Byte-compile the package and fill the cache of its generated functions
# (htools/gencode.py), as a regular install would: where the environment
# forbids writing bytecode (PYTHONDONTWRITEBYTECODE), every run would
# otherwise compile its modules from source (~40 ms of start-up).
bytecode: venv
	$(VENV)/bin/python -m compileall -q -j0 htools backends cluster simulate
	$(VENV)/bin/python -m htools.gencode >/dev/null

demo: bytecode
	@if [ -f examples/cluster.data ]; then \
	  $(VENV)/bin/hinfo -t examples/cluster.data && \
	  $(VENV)/bin/hbal -t examples/cluster.data -C; \
	else \
	  echo "examples/cluster.data not found: nothing to demo yet"; \
	fi

test: bytecode
	$(VENV)/bin/python -m pytest -q tests

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis .benchmarks
	rm -f $(PYX:.pyx=.c) $(PYX:.pyx=.html) htools/*.so
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
