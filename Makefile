# The two commands of the README. Each bootstraps what it needs first (tools/bootstrap.sh).
.PHONY: demo test lint bench

demo:
	@tools/bootstrap.sh demo
	.venv/bin/socketeer demo --port 8000

lint:
	@tools/bootstrap.sh python
	.venv/bin/ruff check src tests bench
	.venv/bin/mypy

# The suite runs on every supported Python found (3.11, 3.12, 3.13); see tools/test-matrix.sh.
test:
	@tools/bootstrap.sh all
	.venv/bin/ruff check src tests bench
	.venv/bin/mypy
	tools/test-matrix.sh $(PYTEST_ARGS)

bench:
	@tools/bootstrap.sh all
	.venv/bin/python -m bench
