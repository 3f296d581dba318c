"""`coursegen aws` end to end against moto_server: the course state machine and bucket come
from a minimal CloudFormation stack, moto's Step Functions engine executes the course
definition, its Lambda tasks reach the real functions (`cargo lambda watch`, through the invoke
adapter) and those read and write the course bucket in the same moto_server.

scripts/fidelity.sh starts all of it and sets:
  AWS_CLI_MOTO_ENDPOINT   the moto_server (tests/aws-cli/moto_launcher.py)
  AWS_CLI_BUCKET          the bucket the functions were started with (COURSE_BUCKET)
  COURSEGEN_BIN           the coursegen binary
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fidelity"))
from engines import first_difference, substitute  # noqa: E402

OUTLINE = ROOT / "tests" / "fidelity" / "outline.yaml"
PROJECT = "aws-cli-course"
STACK = "coursegen-aws-cli"
OTHER_BUCKET = "coursegen-aws-cli-elsewhere"
REGION = "us-east-1"


def moto_endpoint() -> str:
    value = os.environ.get("AWS_CLI_MOTO_ENDPOINT")
    if not value:
        pytest.skip("AWS_CLI_MOTO_ENDPOINT is not set (run scripts/fidelity.sh)")
    return value


def course_bucket() -> str:
    return os.environ.get("AWS_CLI_BUCKET", "coursegen-aws-cli-course")


def coursegen_bin() -> str:
    return os.environ.get("COURSEGEN_BIN", str(ROOT / "target" / "debug" / "coursegen"))


def aws_env() -> dict[str, str]:
    """The standard AWS configuration, pointed at moto_server; nothing from the host's profile."""
    endpoint = moto_endpoint()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_SFN": endpoint,
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_ENDPOINT_URL_CLOUDFORMATION": endpoint,
            "COURSEGEN_LOG": "warn",
        }
    )
    return env


def coursegen(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [coursegen_bin(), *args], capture_output=True, text=True, env=aws_env(), cwd=cwd, timeout=timeout
    )
    print(f"$ coursegen {' '.join(args)}  -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def client(service: str):
    import boto3

    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=moto_endpoint(),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create_state_machine() -> str:
    """The course state machine, with the function names `cargo lambda watch` serves. Created
    through the Step Functions API: moto's CloudFormation creates state machines in its
    non-executing backend, which the engine never sees."""
    return client("stepfunctions").create_state_machine(
        name="CourseStateMachine-AwsCli",
        definition=substitute((ROOT / "statemachine" / "course.asl.json").read_text()),
        roleArn="arn:aws:iam::123456789012:role/coursegen-sfn",
    )["stateMachineArn"]


def stack_template(state_machine_arn: str) -> str:
    """The outputs template.yaml gives `coursegen aws`, over the course bucket."""
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "CourseBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": course_bucket()}},
        },
        "Outputs": {
            "StateMachineArn": {"Value": state_machine_arn},
            "CourseBucketName": {"Value": {"Ref": "CourseBucket"}},
        },
    }
    return json.dumps(template)


@pytest.fixture(scope="module")
def stack() -> dict[str, str]:
    # A clean server: no stack, bucket or execution left by an earlier run.
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint()}/moto-api/reset", method="POST"), timeout=30)
    cfn = client("cloudformation")
    cfn.create_stack(StackName=STACK, TemplateBody=stack_template(create_state_machine()))
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]}
    client("s3").create_bucket(Bucket=OTHER_BUCKET)
    return outputs


def executions(state_machine: str) -> list[dict]:
    return client("stepfunctions").list_executions(stateMachineArn=state_machine)["executions"]


def keys(bucket: str, prefix: str = "") -> list[str]:
    listed = client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def comparable(manifest: dict) -> dict:
    """A manifest without what legitimately differs between two runs: times, tokens, costs."""
    m = json.loads(json.dumps(manifest))
    m.pop("usage", None)
    m.pop("cost", None)
    m.pop("generated_at", None)
    return m


def test_a_bad_outline_exits_2_and_uploads_and_starts_nothing(stack, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("course:\n  title: ''\nmodules: []\n")
    proc = coursegen("aws", "start", str(bad), "--stack", STACK, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "nothing was uploaded or started" in proc.stderr
    assert keys(course_bucket()) == []
    assert executions(stack["StateMachineArn"]) == []


def test_start_twice_runs_once_then_watch_and_fetch_give_the_embedded_runs_book(stack, tmp_path):
    args = ["aws", "start", str(OUTLINE), "--stack", STACK, "--project", PROJECT, "--content", "both"]
    first = coursegen(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    arn = first.stdout.strip().splitlines()[0]
    assert arn.startswith("arn:aws:states:us-east-1:") and ":execution:CourseStateMachine-AwsCli:" in arn
    assert "console: https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/" in first.stderr
    assert keys(course_bucket(), f"{PROJECT}/course/") and f"{PROJECT}/course/outline.yaml" in keys(course_bucket())

    second = coursegen(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    running = client("stepfunctions").describe_execution(executionArn=arn)
    # The course takes many Lambda invocations; the second start comes right after the first.
    assert running["status"] == "RUNNING" or "attached" in second.stderr, "the first execution ended too early"
    assert second.stdout.strip().splitlines()[0] == arn
    assert "attached" in second.stderr
    assert len(executions(stack["StateMachineArn"])) == 1, "one execution for the same request"

    watch = coursegen("aws", "watch", arn, "--poll", "0.2", cwd=tmp_path)
    assert watch.returncode == 0, watch.stderr
    assert "Succeeded in" in watch.stdout
    assert "module 1: ContentGen done" in watch.stderr and "module 3: ImagesGen done" in watch.stderr
    assert "critical path: PrepareCourse" in watch.stdout

    out = tmp_path / "fetched"
    fetch = coursegen("aws", "fetch", PROJECT, "--stack", STACK, "--out", str(out), cwd=tmp_path)
    assert fetch.returncode == 0, fetch.stderr
    assert fetch.stdout.strip() == str(out / PROJECT / "book" / "index.html")
    for name in ["index.html", "course.epub", "course.md", "manifest.json"]:
        assert (out / PROJECT / "book" / name).stat().st_size > 0, name
    remote = keys(course_bucket(), f"{PROJECT}/")
    local = sorted(str(p.relative_to(out)) for p in (out / PROJECT).rglob("*") if p.is_file())
    assert local == remote, "the course folder as the bucket holds it"

    again = coursegen("aws", "fetch", arn, "--stack", STACK, "--out", str(out), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"0 file(s) downloaded (0 bytes), {len(remote)} already current" in again.stderr

    book_only = tmp_path / "book-only"
    only = coursegen("aws", "fetch", arn, "--bucket", course_bucket(), "--out", str(book_only), "--book-only", cwd=tmp_path)
    assert only.returncode == 0, only.stderr
    assert sorted(p.name for p in (book_only / PROJECT).iterdir()) == ["book"]

    embedded = tmp_path / "embedded"
    run = subprocess.run(
        [coursegen_bin(), "run", str(OUTLINE), "--out", str(embedded), "--project", PROJECT, "--content", "both"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    fetched_manifest = json.loads((out / PROJECT / "book" / "manifest.json").read_text())
    embedded_manifest = json.loads((embedded / PROJECT / "book" / "manifest.json").read_text())
    diff = first_difference(comparable(fetched_manifest), comparable(embedded_manifest))
    assert diff is None, f"the fetched manifest differs from the embedded run's: {diff}"

    # Closed now: the same request starts a new execution under a fresh name.
    third = coursegen(*args, "--wait", "--poll", "0.2", cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    new_arn = third.stdout.strip().splitlines()[0]
    assert new_arn != arn and new_arn == arn + "-2"
    assert "module 2: ContentGen done" in third.stderr and "Succeeded in" in third.stdout
    assert len(executions(stack["StateMachineArn"])) == 2
    refetch = coursegen("aws", "fetch", new_arn, "--stack", STACK, "--out", str(out), cwd=tmp_path)
    assert refetch.returncode == 0, refetch.stderr
    rebuilt = json.loads((out / PROJECT / "book" / "manifest.json").read_text())
    diff = first_difference(comparable(rebuilt), comparable(embedded_manifest))
    assert diff is None, f"the book of `start --wait` differs from the embedded run's: {diff}"

    listed = coursegen("aws", "list", "--stack", STACK, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert arn in listed.stdout and new_arn in listed.stdout and "SUCCEEDED" in listed.stdout


def test_a_failing_execution_exits_1_with_the_failing_state_error_and_cause(stack, tmp_path):
    # The state machine's functions read the course bucket; the outline goes to another one,
    # so PrepareCourse finds no outline: a permanent error, not retried.
    proc = coursegen(
        "aws", "start", str(OUTLINE), "--state-machine", stack["StateMachineArn"], "--bucket", OTHER_BUCKET,
        "--project", "elsewhere", "--wait", "--poll", "0.2", cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert "execution FAILED" in proc.stderr
    assert "failing state: PrepareCourse" in proc.stderr
    assert "error: MissingInput" in proc.stderr
    assert "no object at this key" in proc.stderr
    assert "coursegen aws redrive" in proc.stderr
    assert keys(OTHER_BUCKET) == ["elsewhere/course/outline.yaml"]
