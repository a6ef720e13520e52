# The two commands of the README. Each bootstraps what it needs first (tools/bootstrap.sh).
.PHONY: demo test lint bench

demo:
	@tools/bootstrap.sh demo
	.venv/bin/socketeer demo --port 8000

lint:
	@tools/bootstrap.sh python
	.venv/bin/ruff check src tests bench
	.venv/bin/mypy

# pytest exits 5 when it collects no test; that is not a failure of the code under test.
test:
	@tools/bootstrap.sh all
	.venv/bin/ruff check src tests bench
	.venv/bin/mypy
	.venv/bin/python -m pytest -q $(PYTEST_ARGS) || [ $$? -eq 5 ]

bench:
	@tools/bootstrap.sh all
	.venv/bin/python -m bench
