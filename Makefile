# The two set-up commands of the README: `make run` and `make test` (each installs what it needs).
.PHONY: run demo test lint

.venv/.installed: requirements.txt pyproject.toml setup.sh
	./setup.sh
	touch $@

run: .venv/.installed
	.venv/bin/streamlit run app.py

demo: .venv/.installed
	.venv/bin/tlcompare run --dataset digits --model efficientnet_lite0 --sizes 5,20,100 --freeze 0,all --seeds 3 --epochs 20 --image-size 32 --out results.json

test: .venv/.installed
	./.ci/system-deps.sh
	.venv/bin/python -m pytest -q

lint: .venv/.installed
	.venv/bin/ruff check .
