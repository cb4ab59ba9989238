# The two commands of the README. Each sets up what it needs on a fresh machine.
.PHONY: demo test setup

setup:
	bash deploy/setup.sh

demo: setup
	.venv/bin/forewarn demo

test: setup
	.venv/bin/python -m pytest -q
