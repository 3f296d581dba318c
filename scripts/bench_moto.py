"""Runs the pass-only fan-out definition (the one `cargo bench -p asl-interpreter --bench fanout`
writes with FANOUT_JSON_OUT) through moto's Step Functions engine in-process, once, and prints
one JSON line: wall time, state count check and peak RSS (resource.getrusage, KiB).

    python scripts/bench_moto.py DEFINITION.json MODULES LESSONS [--timeout SECONDS]

The input is built the same way as asl_interpreter::bench_support::fanout_input.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


def fanout_input(modules: int, lessons: int) -> dict:
    return {
        "course_id": "bench-course",
        "modules": [
            {
                "module_id": f"m{m:04d}",
                "lessons": [{"lesson_id": f"l{l:03d}", "title": f"Lesson {l} of module {m}"} for l in range(lessons)],
            }
            for m in range(modules)
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("definition")
    parser.add_argument("modules", type=int)
    parser.add_argument("lessons", type=int)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(key, value)
    import logging

    logging.disable(logging.CRITICAL)
    import boto3
    from moto import mock_aws

    definition = open(args.definition).read()
    execution_input = json.dumps(fanout_input(args.modules, args.lessons))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="us-east-1")
        arn = client.create_state_machine(
            name="FanoutBench", definition=definition, roleArn="arn:aws:iam::123456789012:role/bench"
        )["stateMachineArn"]
        started = time.monotonic()
        execution_arn = client.start_execution(stateMachineArn=arn, name="fanout", input=execution_input)[
            "executionArn"
        ]
        status = "RUNNING"
        while status == "RUNNING":
            if time.monotonic() - started > args.timeout:
                client.stop_execution(executionArn=execution_arn)
                status = "TIMED_OUT_HERE"
                break
            time.sleep(0.05)
            desc = client.describe_execution(executionArn=execution_arn)
            status = desc["status"]
        wall = time.monotonic() - started
        lesson_keys = 0
        error = {"error": desc.get("error"), "cause": (desc.get("cause") or "")[:300]} if status == "FAILED" else None
        if status == "SUCCEEDED":
            lesson_keys = len(json.loads(desc["output"]).get("all_lesson_keys", []))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "engine": "moto",
                "moto_version": __import__("moto").__version__,
                "modules": args.modules,
                "lessons_per_module": args.lessons,
                "status": status,
                "failure": error,
                "lesson_keys": lesson_keys,
                "wall_ms": round(wall * 1000, 1),
                "peak_rss_kib": peak_kib,
                "rss_before_run_kib": rss_before,
            }
        )
    )
    return 0 if status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
