"""Benchmark each handler's cold import against boto3 plus the clients that handler creates.

A cold start imports the handler module: Powertools from the layer, our package from the code asset, and the
boto3 clients the handler creates at module level. Those clients are the floor any handler pays, so the
figure is a ratio against a baseline that imports boto3 and creates the same clients, nothing else.

Each run is a fresh `python -I -S -B` process whose `sys.path` is what Lambda gives the function: the code
asset, the layer's `python/` and the runtime's boto3 (linked from this venv, as the local cloud does). `-B`
writes no bytecode, so the handler and layer are compiled on every run, as on Lambda, where `/var/task` and
`/opt` are read-only and the assets ship no `.pyc`. Handler and baseline runs alternate (the order flipping
each round), and the figure is the median of the per-pair ratios, so a busy machine slows both sides of a
pair alike. The assets are built by the same functions `cdk synth` calls (`infra/lambda_assets.py`).

A second column compiles both assets first (with this interpreter, as a stand-in for 3.14, whose compiler
this machine does not have): what shipping bytecode in the assets would save at each cold start.

Run with `make bench`.
"""

from __future__ import annotations

import compileall
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from infra.lambda_assets import LAYER_PYTHON_DIR, build_code_asset, build_dependency_layer
from local_cloud.lambda_runtime.packages import build_runtime_packages_dir

ROUNDS = 15
TARGET_RATIO = 1.15
CODE_ASSET_TARGET_BYTES = 1024 * 1024
REGION = "us-east-1"


@dataclass(frozen=True)
class Handler:
    module: str
    clients: tuple[str, ...]  # the boto3 clients it creates at import, in order


HANDLERS = (
    Handler("describe_job.handler", ("voice-id",)),
    Handler("record_failures.handler", ("s3", "dynamodb")),
    Handler("wake_tracker.handler", ("stepfunctions",)),
    Handler("sweep.handler", ("voice-id", "dynamodb", "stepfunctions")),
    Handler("validate_input.handler", ()),
)

# What the template gives the functions (infra/constructs/functions.py), with example values.
ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "voiceid-job-tracker",
    "POWERTOOLS_METRICS_NAMESPACE": "VoiceIdJobTracker",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "MIN_POLL_SECONDS": "30",
    "MAX_POLL_SECONDS": "300",
    "FAILURES_TABLE_NAME": "VoiceIdJobTracker-FailuresTable",
    "RETENTION_DAYS": "90",
    "VOICE_ID_DOMAIN_IDS": "ExampleDomainId0000001",
    "SWEEP_LOOKBACK_DAYS": "7",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:VoiceIdJobTracker-Tracker",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
}

# Runs in the child: put the given folders first on sys.path, time `statement`, print the seconds.
CHILD = """
import sys, time
sys.path[:0] = {paths!r}
started = time.perf_counter()
{statement}
print(time.perf_counter() - started)
"""


def child_seconds(paths: list[str], statement: str) -> float:
    code = CHILD.format(paths=paths, statement=statement)
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", code],
        env=ENVIRONMENT,
        cwd=paths[0],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{statement!r} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def baseline_statement(clients: tuple[str, ...]) -> str:
    created = "; ".join(f"boto3.client({name!r})" for name in clients)
    return f"import boto3; {created}"


def measure(handler: Handler, function_paths: list[str], runtime_paths: list[str]) -> tuple[float, float, float]:
    """(median handler seconds, median baseline seconds, median of per-pair ratios)."""
    handler_statement = f"import {handler.module}"
    baseline = baseline_statement(handler.clients)
    # One unmeasured pair first: the page cache and the venv's bytecode are warm for both sides after it.
    child_seconds(function_paths, handler_statement)
    child_seconds(runtime_paths, baseline)
    handler_times, baseline_times, ratios = [], [], []
    for round_number in range(ROUNDS):
        if round_number % 2:
            base = child_seconds(runtime_paths, baseline)
            mine = child_seconds(function_paths, handler_statement)
        else:
            mine = child_seconds(function_paths, handler_statement)
            base = child_seconds(runtime_paths, baseline)
        handler_times.append(mine)
        baseline_times.append(base)
        ratios.append(mine / base)
    return statistics.median(handler_times), statistics.median(baseline_times), statistics.median(ratios)


def tree_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def zipped_bytes(folder: Path, into: Path) -> int:
    with zipfile.ZipFile(into, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return into.stat().st_size


def mib(size: int) -> str:
    return f"{size / (1024 * 1024):.2f} MiB"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-cold-import."))
    try:
        code, layer = work / "code", work / "layer"
        code.mkdir()
        layer.mkdir()
        build_code_asset(code)
        build_dependency_layer(layer)
        runtime = build_runtime_packages_dir(work / "runtime")
        function_paths = [str(code), str(layer / LAYER_PYTHON_DIR), str(runtime)]
        runtime_paths = [str(runtime)]

        code_bytes, layer_bytes = tree_bytes(code), tree_bytes(layer)
        print("Lambda assets (files, and zipped as CDK uploads them)")
        print(f"  code asset:       {mib(code_bytes)}, {mib(zipped_bytes(code, work / 'code.zip'))} zipped")
        print(f"  dependency layer: {mib(layer_bytes)}, {mib(zipped_bytes(layer, work / 'layer.zip'))} zipped")
        within = "yes" if code_bytes <= CODE_ASSET_TARGET_BYTES else "NO"
        print(f"  code asset within {mib(CODE_ASSET_TARGET_BYTES)}: {within}")
        print(
            f"Cold import, handler / (boto3 + its clients): median of {ROUNDS} alternating pairs, "
            f"python {sys.version_info.major}.{sys.version_info.minor}, target <= {TARGET_RATIO:.2f}x"
        )
        print(f"  {'handler':<24} {'as deployed (compiled at import)':<36} with bytecode in the assets")
        deployed = {handler.module: measure(handler, function_paths, runtime_paths) for handler in HANDLERS}
        for folder in (code, layer):
            compileall.compile_dir(folder, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        for handler in HANDLERS:
            mine, base, ratio = deployed[handler.module]
            _, _, compiled_ratio = measure(handler, function_paths, runtime_paths)
            verdict = "ok" if ratio <= TARGET_RATIO else "over target"
            as_deployed = f"{ratio:4.2f}x ({mine * 1000:3.0f} vs {base * 1000:3.0f} ms) {verdict}"
            print(f"  {handler.module:<24} {as_deployed:<36} {compiled_ratio:4.2f}x")
        clients = "; ".join(
            f"{handler.module.split('.')[0]} {'+'.join(handler.clients) or 'none'}" for handler in HANDLERS
        )
        print(f"  (baseline clients: {clients})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
