"""Two ways to run one ASL definition: the coursegen interpreter (`coursegen sfn run`) and
moto's Step Functions engine in-process. Lambda tasks in both reach the same Lambda Invoke API
endpoint (normally `cargo lambda watch` on 127.0.0.1:9000)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIDELITY_DIR = Path(__file__).resolve().parent
FIXTURES_DIR = FIDELITY_DIR / "fixtures"
DEFAULT_ENDPOINT = "http://127.0.0.1:9000"

# Placeholders of statemachine/course.asl.json and the binary names `cargo lambda watch`
# serves them under (the same defaults `coursegen sfn run --lambda-endpoint` fills in).
FUNCTION_PLACEHOLDERS = {
    "PrepareCourseFunctionArn": "prepare-course",
    "ContentGenFunctionArn": "content-gen",
    "VisualPlannerFunctionArn": "visual-planner",
    "ImagesGenFunctionArn": "images-gen",
    "LabPlannerFunctionArn": "lab-planner",
    "LabWriterFunctionArn": "lab-writer",
    "BookBuilderFunctionArn": "book-builder",
}

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass
class Outcome:
    """How an execution ended: SUCCEEDED with an output, or FAILED with an error and cause."""

    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    seconds: float = 0.0
    detail: dict = field(default_factory=dict)

    def summary(self) -> str:
        if self.status == "SUCCEEDED":
            return f"SUCCEEDED output={json.dumps(self.output, sort_keys=True)[:2000]}"
        return f"{self.status} error={self.error!r} cause={(self.cause or '')[:500]!r}"


def endpoint() -> str:
    return os.environ.get("FIDELITY_LAMBDA_ENDPOINT", DEFAULT_ENDPOINT)


def coursegen_bin() -> Path:
    return Path(os.environ.get("COURSEGEN_BIN", ROOT / "target" / "debug" / "coursegen"))


def substitute(text: str, values: dict[str, str] | None = None) -> str:
    """Fills `${Name}` placeholders (the function names by default); unknown names stay."""
    table = dict(FUNCTION_PLACEHOLDERS)
    table.update(values or {})
    return _PLACEHOLDER.sub(lambda m: table.get(m.group(1), m.group(0)), text)


def run_ours(definition: Path, execution_input: Any, *, timeout: float = 900.0) -> Outcome:
    """`coursegen sfn run DEFINITION --input FILE --lambda-endpoint URL` (placeholders are
    auto-filled with the binary names)."""
    with tempfile.TemporaryDirectory(prefix="fidelity-ours-") as tmp:
        input_file = Path(tmp) / "input.json"
        input_file.write_text(json.dumps(execution_input))
        cmd = [
            str(coursegen_bin()),
            "sfn",
            "run",
            str(definition),
            "--input",
            str(input_file),
            "--lambda-endpoint",
            endpoint(),
            "--out",
            str(Path(tmp) / "unused-store"),
        ]
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        seconds = time.monotonic() - started
    stdout = proc.stdout.strip()
    if proc.returncode == 0:
        return Outcome("SUCCEEDED", output=json.loads(stdout), seconds=seconds)
    if proc.returncode == 1 and stdout.startswith("{"):
        body = json.loads(stdout.splitlines()[-1])
        return Outcome("FAILED", error=body.get("error"), cause=body.get("cause"), seconds=seconds)
    raise RuntimeError(
        f"coursegen sfn run exited {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-4000:]}"
    )


class MotoEngine:
    """moto's Step Functions engine, in-process, executing definitions for real. Lambda calls
    pass through to the endpoint (`AWS_ENDPOINT_URL_LAMBDA`)."""

    ROLE = "arn:aws:iam::123456789012:role/fidelity-sfn"

    def __init__(self, lambda_endpoint: str | None = None, region: str = "us-east-1"):
        self.lambda_endpoint = lambda_endpoint
        self.region = region
        self._mock = None
        self._saved_env: dict[str, str | None] = {}
        self.client = None

    def __enter__(self) -> "MotoEngine":
        env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        if self.lambda_endpoint:
            env["AWS_ENDPOINT_URL_LAMBDA"] = self.lambda_endpoint
        for key, value in env.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value

        from moto import mock_aws  # imported late: the environment above must be in place
        import boto3

        config: dict = {"stepfunctions": {"execute_state_machine": True}}
        if self.lambda_endpoint:
            url_pattern = re.escape(self.lambda_endpoint.rstrip("/")) + "/.*"
            config["core"] = {"passthrough": {"services": ["lambda"], "urls": [url_pattern]}}
        self._mock = mock_aws(config=config)
        self._mock.start()
        self.client = boto3.client("stepfunctions", region_name=self.region)
        return self

    def __exit__(self, *exc) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def run(self, definition_text: str, execution_input: Any, *, timeout: float = 900.0, poll: float = 0.02) -> Outcome:
        name = "fidelity-" + uuid.uuid4().hex[:12]
        arn = self.client.create_state_machine(name=name, definition=definition_text, roleArn=self.ROLE)[
            "stateMachineArn"
        ]
        started = time.monotonic()
        execution_arn = self.client.start_execution(
            stateMachineArn=arn, name=name, input=json.dumps(execution_input)
        )["executionArn"]
        desc = wait_for_execution(self.client, execution_arn, timeout=timeout, poll=poll)
        seconds = time.monotonic() - started
        if desc["status"] == "SUCCEEDED":
            return Outcome("SUCCEEDED", output=json.loads(desc.get("output", "null")), seconds=seconds)
        return Outcome(desc["status"], error=desc.get("error"), cause=desc.get("cause"), seconds=seconds)


def wait_for_execution(client: Any, execution_arn: str, *, timeout: float, poll: float) -> dict:
    """`describe_execution` until the execution is no longer RUNNING; after `timeout` seconds it
    is stopped and TimeoutError raised."""
    deadline = time.monotonic() + timeout
    while True:
        desc = client.describe_execution(executionArn=execution_arn)
        if desc["status"] != "RUNNING":
            return desc
        if time.monotonic() > deadline:
            client.stop_execution(executionArn=execution_arn)
            raise TimeoutError(f"execution still RUNNING after {timeout:.0f}s")
        time.sleep(poll)


def replace_strings(value: Any, old: str, new: str) -> Any:
    """`value` with every occurrence of `old` inside strings (keys included) replaced."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [replace_strings(v, old, new) for v in value]
    if isinstance(value, dict):
        return {replace_strings(k, old, new): replace_strings(v, old, new) for k, v in value.items()}
    return value


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    """A readable pointer to the first place two JSON values differ, or None if equal."""
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return f"{path}: {type(a).__name__} {json.dumps(a)[:200]} != {type(b).__name__} {json.dumps(b)[:200]}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a:
                return f"{path}.{key}: missing on the left"
            if key not in b:
                return f"{path}.{key}: missing on the right"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if a != b:
        return f"{path}: {json.dumps(a)[:300]} != {json.dumps(b)[:300]}"
    return None
