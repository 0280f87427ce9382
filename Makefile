# The set-up commands of the README: `make run`, `make test`, `make check` (each installs what it needs).
.PHONY: run demo test check lint constraints

# The fast tier: every test that neither trains, starts a server, a browser or a cluster, nor needs a GPU.
FAST = not slow and not browser and not ray and not gpu

# What tlcompare needs to run; the tests and lint add their own tools on top.
.venv/.installed: requirements.txt constraints.txt pyproject.toml setup.sh
	./setup.sh
	touch $@

.venv/.installed-dev: .venv/.installed requirements-dev.txt
	./setup.sh --dev
	touch $@

run: .venv/.installed
	.venv/bin/streamlit run app.py

demo: .venv/.installed
	.venv/bin/tlcompare run --dataset digits --model efficientnet_lite0 --sizes 5,20,100 --freeze 0,all --seeds 3 --epochs 20 --image-size 32 --out results.json

# Everything (CI runs this): Chromium, pdftotext and the offline datasets are installed first if missing.
# Two pytest-xdist workers, each test module kept on one (its module fixtures are built once): most
# tests wait on a browser, a server or a worker process, so two overlap well even on 2 cores.
test: .venv/.installed-dev
	./.ci/system-deps.sh
	.venv/bin/python -m pytest -q -n 2 --dist loadfile

# The fast tier, for every change: under 2 minutes on a 2-core machine.
check: .venv/.installed-dev
	.venv/bin/python -m pytest -q -m "$(FAST)"

lint: .venv/.installed-dev
	.venv/bin/ruff check .

# After changing requirements*.txt: pin what is installed now (then `make test`, and commit both files).
constraints: .venv/.installed-dev
	{ echo "# Exact versions the test suite passed with; setup.sh installs with \`-c constraints.txt\`."; \
	  echo "# Refresh after changing requirements*.txt: \`make constraints\` (then \`make test\`, and commit both)."; \
	  .venv/bin/pip freeze --exclude-editable; } > constraints.txt
