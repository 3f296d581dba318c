"""Drives course executions in the local AWS shape: moto's Step Functions engine (in-process)
runs statemachine/course.asl.json with the substitutions SAM makes, its Lambda tasks pass through
to `sam local start-lambda` (each invocation a container), and the course bucket is a local S3
server that the containers reach too. scripts/local-aws.sh starts those servers and calls this.

For each run it uploads the outline, starts an execution with the input a console user pastes
(events/execution-*.json, filled in), waits, downloads the course folder and measures from the
containers' start and end times (a `docker events` log) how many invocations of each function
overlapped. With --checklist it runs the testing checklist (single, two, non-sequential and
10-module courses; theory, labs and both; offline and bedrock) and checks each line.

With --bench FILE it runs the fan-out benchmark's courses in this shape (scripts/bench-seed.sh
writes FILE: course sizes, lessons per module, runs, and per design the execution input's
concurrency fields; each design's functions are a start-lambda of their own, --lambda-design
NAME=URL) and reports each execution's wall time from Step Functions' start and stop dates.

The last line printed is one JSON object (see `main`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fidelity"))
from engines import first_difference, wait_for_execution  # noqa: E402  (shared with the fidelity suite)
REGION = "us-east-1"
ACCOUNT = "123456789012"
EXAMPLE = ROOT / "examples" / "kubernetes-devops.yaml"
TEN_MODULES = ROOT / "tests" / "local-aws" / "ten-modules.yaml"
# Module 3 of this outline is refused by the simulator (scripts/local-aws.sh: --refuse-containing).
REFUSED_MODULE = ROOT / "tests" / "local-aws" / "refused-module.yaml"

# DefinitionSubstitutions of template.yaml: placeholder -> function logical id. SAM fills in the
# function ARNs; `sam local start-lambda` finds a function by the name at the end of its ARN.
FUNCTIONS = {
    "PrepareCourseFunctionArn": "PrepareCourseFunction",
    "ContentGenFunctionArn": "ContentGenFunction",
    "VisualPlannerFunctionArn": "VisualPlannerFunction",
    "ImagesGenFunctionArn": "ImagesGenFunction",
    "LabPlannerFunctionArn": "LabPlannerFunction",
    "LabWriterFunctionArn": "LabWriterFunction",
    "BookBuilderFunctionArn": "BookBuilderFunction",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Run:
    """One execution: the outline and request, the provider the functions use, and what to check."""

    name: str
    outline: Path
    modules: str = "all"
    content: str = "theory"
    provider: str = "offline"
    concurrency: int = 4
    project: str | None = None
    checks: list[str] = field(default_factory=list)
    # The module expected to fail for good (the execution then ends in CourseIncomplete).
    refused_module: int | None = None


@dataclass
class Outcome:
    run: Run
    project: str
    status: str
    seconds: float
    containers: int
    max_overlap: dict[str, int]
    course_dir: Path
    error: str | None = None
    cause: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        expected = "FAILED" if self.run.refused_module else "SUCCEEDED"
        return self.status == expected and not self.problems


class Environment:
    """The servers scripts/local-aws.sh started, from its command line."""

    def __init__(self, args: argparse.Namespace):
        self.s3_endpoint = args.s3_endpoint
        self.bucket = args.bucket
        self.lambda_endpoints = {"offline": args.lambda_offline, "bedrock": args.lambda_bedrock}
        self.bedrock_endpoint = args.bedrock_endpoint
        self.events_log = Path(args.events_log)
        self.coursegen = Path(args.coursegen)
        self.out = Path(args.out)

    def lambda_endpoint(self, provider: str) -> str:
        url = self.lambda_endpoints.get(provider)
        if not url:
            raise SystemExit(f"no start-lambda endpoint for provider {provider!r} (scripts/local-aws.sh starts one per provider)")
        return url


def definition_text() -> str:
    text = (ROOT / "statemachine" / "course.asl.json").read_text()
    for placeholder, name in FUNCTIONS.items():
        text = text.replace("${%s}" % placeholder, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
    left = re.findall(r"\$\{([A-Za-z0-9_]+)\}", text)
    if left:
        raise SystemExit(f"statemachine/course.asl.json has placeholders SAM does not fill: {sorted(set(left))}")
    return text


def execution_input(run: Run, project: str) -> dict[str, Any]:
    """The console user's input (events/execution-<content>.json) filled in for this run."""
    body = json.loads((ROOT / "events" / f"execution-{run.content}.json").read_text())
    body.update(
        {
            "project_folder": project,
            "outline_key": f"{project}/course/outline.yaml",
            "modules_to_generate": run.modules,
            "content_type": run.content,
            "max_concurrency": run.concurrency,
        }
    )
    return body


def project_slug(env: Environment, run: Run) -> str:
    """The project folder `coursegen run` would use for this outline (its slug)."""
    proc = subprocess.run(
        [str(env.coursegen), "validate", str(run.outline), "--modules", run.modules, "--content", run.content],
        capture_output=True,
        text=True,
    )
    found = re.search(r"project folder (\S+)", proc.stdout)
    if proc.returncode != 0 or not found:
        raise SystemExit(f"coursegen validate {run.outline} failed:\n{proc.stdout}{proc.stderr}")
    return found.group(1)


class Aws:
    """moto's Step Functions engine in-process; S3 and Lambda requests pass through to the local
    servers (and nowhere else)."""

    def __init__(self, env: Environment, lambda_endpoint: str):
        self.env = env
        self.lambda_endpoint = lambda_endpoint
        self._mock = None

    def __enter__(self) -> "Aws":
        # mock_aws replaces the credentials in the environment; the local S3 server checks them.
        access_key, secret_key = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
        os.environ.update(
            {
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL_LAMBDA": self.lambda_endpoint,
            }
        )
        from moto import mock_aws  # late: the environment above must be in place
        import boto3
        from botocore.config import Config

        # moto rewrites custom S3 endpoints to AWS's domain before matching URLs, so S3 passes
        # through by service; the only S3 and Lambda clients here point at the local servers.
        self._mock = mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                "core": {"passthrough": {"services": ["lambda", "s3"], "urls": []}},
            }
        )
        self._mock.start()
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.s3 = boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=self.env.s3_endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
        return self

    def __exit__(self, *exc) -> None:
        if self._mock is not None:
            self._mock.stop()

    def keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.env.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return sorted(keys)

    def download(self, prefix: str, dest: Path) -> list[str]:
        keys = self.keys(prefix)
        for key in keys:
            path = dest / key
            path.parent.mkdir(parents=True, exist_ok=True)
            self.s3.download_file(self.env.bucket, key, str(path))
        return keys


def container_overlaps(events_log: Path, since_ns: int, until_ns: int) -> tuple[int, dict[str, int]]:
    """From `docker events` JSON lines: the containers started in [since, until] and, per
    function, the largest number whose start..die intervals overlapped."""
    starts: dict[str, tuple[str, int]] = {}
    ends: dict[str, int] = {}
    if events_log.exists():
        for line in events_log.read_text(errors="replace").splitlines():
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue
            attrs = ev.get("Actor", {}).get("Attributes", {})
            fn = attrs.get("sam.cli.function.name")
            when = int(ev.get("timeNano", 0))
            cid = ev.get("Actor", {}).get("ID") or ev.get("id")
            if not fn or not cid:
                continue
            action = ev.get("Action") or ev.get("status")
            if action == "start" and since_ns <= when <= until_ns:
                starts[cid] = (fn, when)
            elif action == "die":
                ends[cid] = when
    per_fn: dict[str, list[tuple[int, int]]] = {}
    for cid, (fn, start) in starts.items():
        per_fn.setdefault(fn, []).append((start, ends.get(cid, until_ns)))
    overlap = {}
    for fn, intervals in per_fn.items():
        points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
        current = best = 0
        for _, step in points:
            current += step
            best = max(best, current)
        overlap[fn.removesuffix("Function")] = best
    return len(starts), dict(sorted(overlap.items()))


@dataclass
class Finished:
    """One execution, waited for: its description, the driver's wall time and the containers."""

    desc: dict
    seconds: float
    containers: int
    max_overlap: dict[str, int]


def run_execution(env: Environment, aws: Aws, project: str, outline: Path, body: dict, label: str,
                  timeout: int) -> Finished:
    """Uploads `outline` under `project` (which must be empty), creates the state machine,
    starts one execution with `body` and waits for it; counts the containers it started."""
    if aws.keys(f"{project}/"):
        raise SystemExit(f"the bucket already holds {project}/: give each run its own --project")
    aws.s3.upload_file(str(outline), env.bucket, f"{project}/course/outline.yaml")
    arn = aws.sfn.create_state_machine(
        name=f"coursegen-{uuid.uuid4().hex[:8]}",
        definition=definition_text(),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/coursegen-state-machine",
    )["stateMachineArn"]
    log(f"{label}: starting {json.dumps(body)}")
    since = time.time_ns()
    started = time.monotonic()
    execution = aws.sfn.start_execution(stateMachineArn=arn, name=f"{project}-{uuid.uuid4().hex[:8]}",
                                        input=json.dumps(body))["executionArn"]
    try:
        desc = wait_for_execution(aws.sfn, execution, timeout=timeout, poll=0.2)
    except TimeoutError as e:
        raise SystemExit(f"{label}: {e}") from e
    seconds = time.monotonic() - started
    # docker may report a container's end a moment after the task saw its answer.
    time.sleep(1.0)
    containers, overlap = container_overlaps(env.events_log, since, time.time_ns())
    return Finished(desc=desc, seconds=seconds, containers=containers, max_overlap=overlap)


def execute(env: Environment, run: Run) -> Outcome:
    project = run.project or project_slug(env, run)
    endpoint = env.lambda_endpoint(run.provider)
    with Aws(env, endpoint) as aws:
        done = run_execution(env, aws, project, run.outline, execution_input(run, project), run.name, timeout=1800)
        course_dir = env.out / project
        aws.download(f"{project}/", env.out)
    desc = done.desc
    outcome = Outcome(
        run=run,
        project=project,
        status=desc["status"],
        seconds=done.seconds,
        containers=done.containers,
        max_overlap=done.max_overlap,
        course_dir=course_dir,
        error=desc.get("error"),
        cause=desc.get("cause"),
    )
    log(
        f"{run.name}: {outcome.status} in {done.seconds:.1f}s, {done.containers} containers, overlap {done.max_overlap}"
        + (f", error {outcome.error}: {(outcome.cause or '')[:300]}" if outcome.error else "")
    )
    return outcome


# ---------------------------------------------------------------- benchmark


def bench_outline(work: Path, modules: int, lessons: int) -> Path:
    """The benchmark's generated course (the same generator and titles as scripts/bench-seed.sh)."""
    path = work / f"outline-{modules}x{lessons}.yaml"
    if not path.exists():
        text = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "generate-outline.py"), str(modules), str(lessons),
             "Kubernetes in Production", "A course sized for the fan-out benchmark."],
            check=True, capture_output=True, text=True,
        ).stdout
        path.write_text(text)
    return path


def sim_request(env: Environment, method: str, path: str) -> dict:
    import urllib.request

    req = urllib.request.Request(f"{env.bedrock_endpoint}{path}", method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def bench(env: Environment, spec: dict, lambdas: dict[str, str]) -> list[dict]:
    """Every (size, design, run) of the benchmark spec, one execution each; a row per execution."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="local-aws-bench-") as tmp:
        work = Path(tmp)
        for modules in spec["sizes"]:
            for design in spec["designs"]:
                name = design["name"]
                if name not in lambdas:
                    raise SystemExit(f"no --lambda-design for design {name!r}")
                for r in range(1, int(spec.get("runs", 1)) + 1):
                    rows.append(bench_run(env, lambdas[name], design, modules, int(spec["lessons"]), r, work))
    return rows


def bench_run(env: Environment, endpoint: str, design: dict, modules: int, lessons: int, r: int, work: Path) -> dict:
    name = design["name"]
    project = f"bench-{name}-{modules}-{r}"
    outline = bench_outline(work, modules, lessons)
    sim_request(env, "POST", "/_sim/reset")
    with Aws(env, endpoint) as aws:
        # The console user's input; the design's concurrency fields, or none (PrepareCourse's
        # estimate) when the design sets none.
        body = {
            "project_folder": project,
            "outline_key": f"{project}/course/outline.yaml",
            "modules_to_generate": "all",
            "content_type": "theory",
            **design.get("request", {}),
        }
        done = run_execution(env, aws, project, outline, body, f"bench {name} x {modules} (run {r})", timeout=3600)
        desc, containers, overlap = done.desc, done.containers, done.max_overlap
        # Step Functions' own start and stop dates: the execution's wall time.
        wall = (desc["stopDate"] - desc["startDate"]).total_seconds()
        problems = []
        if desc["status"] != "SUCCEEDED":
            problems.append(f"status {desc['status']}: {desc.get('error')} {(desc.get('cause') or '')[:300]}")
        else:
            manifest = json.loads(aws.s3.get_object(Bucket=env.bucket, Key=f"{project}/book/manifest.json")["Body"].read())
            if manifest.get("failures"):
                problems.append(f"{len(manifest['failures'])} failure(s) in the manifest")
    stats = sim_request(env, "GET", "/_sim/stats")
    row = {
        "design": name,
        "modules": modules,
        "run": r,
        "ok": not problems,
        "problems": problems,
        "wall_s": round(wall, 2),
        "containers": containers,
        "max_overlap": overlap,
        "calls": {k: v.get("calls") for k, v in stats.get("by_kind", {}).items()},
        "throttled": stats.get("throttled"),
    }
    log(f"bench {name} x {modules} (run {r}): {'ok' if row['ok'] else 'FAILED'} {row['wall_s']} s, "
        f"{containers} containers, overlap {overlap}, calls {row['calls']}" + (f"; {problems}" if problems else ""))
    return row


# ---------------------------------------------------------------- checks


def outline_lessons(outline: Path) -> dict[int, list[str]]:
    """Module number -> lesson titles, from the outline (numbered from 1 in outline order)."""
    import yaml

    doc = yaml.safe_load(outline.read_text())
    return {i: [lesson["title"] for lesson in module.get("lessons", [])] for i, module in enumerate(doc["modules"], 1)}


def selected_modules(spec: str, count: int) -> list[int]:
    if spec == "all":
        return list(range(1, count + 1))
    out: list[int] = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def comparable(manifest: dict) -> dict:
    """A manifest without what legitimately differs between two runs: times, tokens, costs."""
    m = json.loads(json.dumps(manifest))
    m.pop("usage", None)
    m.pop("cost", None)
    m.pop("generated_at", None)
    return m


def embedded_manifest(env: Environment, run: Run, project: str, work: Path) -> dict:
    """`coursegen run` (embedded) for the same outline and request; its book/manifest.json."""
    out = work / f"embedded-{run.name}"
    cmd = [
        str(env.coursegen), "run", str(run.outline), "--out", str(out), "--project", project,
        "--modules", run.modules, "--content", run.content, "--concurrency", str(run.concurrency),
        "--provider", run.provider,
    ]
    extra = {}
    if run.provider == "bedrock":
        extra = {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": env.bedrock_endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local-secret"),
        }
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **extra})
    if proc.returncode != 0:
        raise RuntimeError(f"embedded run failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return json.loads((out / project / "book" / "manifest.json").read_text())


def check(env: Environment, outcome: Outcome, work: Path) -> None:
    """The checklist's assertions for one run; problems are collected, not raised."""
    run, problems = outcome.run, outcome.problems
    if run.refused_module:
        check_incomplete(outcome)
        return
    if outcome.status != "SUCCEEDED":
        problems.append(f"execution {outcome.status}: {outcome.error}: {(outcome.cause or '')[:500]}")
        return
    lessons = outline_lessons(run.outline)
    selected = selected_modules(run.modules, len(lessons))
    course = outcome.course_dir
    manifest_path = course / "book" / "manifest.json"
    if not manifest_path.exists():
        problems.append("book/manifest.json was not downloaded")
        return
    manifest = json.loads(manifest_path.read_text())
    files = sorted(str(p.relative_to(course)) for p in course.rglob("*") if p.is_file())

    # BookBuilder combined exactly the selected modules, in outline order.
    numbers = [m["module_number"] for m in manifest.get("modules", [])]
    theory = run.content in ("theory", "both")
    if theory and numbers != selected:
        problems.append(f"book modules {numbers} != selected {selected} (outline order)")
    if manifest.get("failures"):
        problems.append(f"manifest failures: {manifest['failures']}")

    # The S3 layout per module: every lesson of a selected module, nothing of the others.
    for m in range(1, len(lessons) + 1):
        tag = f"module-{m:02d}"
        present = [f for f in files if f"/{tag}/" in f"/{f}"]
        if m not in selected and present:
            problems.append(f"module {m} was not selected but the bucket holds {present[:3]}")
        if m in selected and theory:
            written = [f for f in present if f.startswith(f"lessons/{tag}/lesson-") and f.endswith(".md")]
            if len(written) != len(lessons[m]):
                problems.append(f"lessons/{tag}/: {len(written)} lessons, the outline has {len(lessons[m])}")
            for image in (i for i in manifest.get("images", []) if i["id"].startswith(f"{m:02d}-")):
                if not image["key"].split("/", 1)[-1].startswith(f"images/{tag}/{image['id']}."):
                    problems.append(f"image {image['id']} is not under images/{tag}/: {image['key']}")
        if m in selected and run.content in ("labs", "both"):
            if not any(f.startswith(f"labs/{tag}/lab-") for f in present):
                problems.append(f"labs/{tag}/ holds no lab guide")
    book_md = course / "book" / "course.md"
    if book_md.exists():
        text = book_md.read_text()
        positions = []
        for m in range(1, len(lessons) + 1):
            first = lessons[m][0] if lessons[m] else None
            if first is None:
                continue
            found = text.find(first)
            if m in selected and theory:
                positions.append(found)
                if found < 0:
                    problems.append(f"the book does not hold module {m} ({first!r})")
            elif m not in selected and found >= 0 and run.content != "labs":
                problems.append(f"the book holds unselected module {m} ({first!r})")
        if positions != sorted(positions):
            problems.append("the book's modules are not in outline order")
    else:
        problems.append("book/course.md was not downloaded")

    # The same manifest as the embedded run, apart from times, tokens and costs.
    if "embedded" in run.checks:
        try:
            diff = first_difference(comparable(manifest), comparable(embedded_manifest(env, run, outcome.project, work)))
        except RuntimeError as e:
            diff = str(e)
        if diff:
            problems.append(f"manifest differs from the embedded run: {diff}")

    # Parallel invocations: at the peak, min(modules, max_concurrency) ContentGen containers.
    if "overlap" in run.checks and theory:
        want = min(len(selected), run.concurrency)
        got = outcome.max_overlap.get("ContentGen", 0)
        if got != want:
            problems.append(f"ContentGen overlap {got}, expected min(modules, max_concurrency) = {want}")


def check_incomplete(outcome: Outcome) -> None:
    """A run with a refused module: the other modules finish, the partial book marks the refused
    one, the manifest lists it, and the execution fails with CourseIncomplete naming it."""
    run, problems = outcome.run, outcome.problems
    refused = run.refused_module
    if (outcome.status, outcome.error) != ("FAILED", "CourseIncomplete"):
        problems.append(f"expected FAILED CourseIncomplete, got {outcome.status} {outcome.error}: {(outcome.cause or '')[:300]}")
        return
    if f"module(s) {refused} not complete" not in (outcome.cause or ""):
        problems.append(f"the cause does not name module {refused}: {(outcome.cause or '')[:300]}")
    manifest_path = outcome.course_dir / "book" / "manifest.json"
    if not manifest_path.exists():
        problems.append("the partial book's manifest was not downloaded")
        return
    manifest = json.loads(manifest_path.read_text())
    lessons = outline_lessons(run.outline)
    others = [m for m in selected_modules(run.modules, len(lessons)) if m != refused]
    numbers = [m["module_number"] for m in manifest.get("modules", [])]
    if numbers != others:
        problems.append(f"book modules {numbers}, expected the others {others}")
    caught = [f for f in manifest.get("failures", []) if f.get("state")]
    if [(f["kind"], f["id"], f.get("error")) for f in caught] != [("module", f"{refused:02d}", "ModelError")]:
        problems.append(f"manifest failures: {manifest.get('failures')}")
    if any(not f["id"].startswith(f"{refused:02d}") for f in manifest.get("failures", [])):
        problems.append(f"failures outside module {refused}: {manifest.get('failures')}")
    book_md = outcome.course_dir / "book" / "course.md"
    if not book_md.exists() or book_md.read_text().count("(not generated)") < len(lessons[refused]):
        problems.append(f"the book does not mark module {refused}'s lessons as not generated")


def checklist_runs(providers: list[str]) -> list[Run]:
    """The testing checklist. Overlap is checked where invocations last long enough to be seen:
    with the bedrock provider every model call takes the simulator's latency, while an offline
    ContentGen finishes in milliseconds, before the next container has started."""
    runs = []
    for provider in providers:
        p = provider[:3]
        overlap = ["overlap"] if provider == "bedrock" else []
        runs += [
            Run(f"{p}-single-module", EXAMPLE, "1", "theory", provider, project=f"ls-{p}-m1", checks=["embedded"]),
            Run(f"{p}-two-modules", EXAMPLE, "1,2", "theory", provider, project=f"ls-{p}-m12", checks=["embedded", *overlap]),
            Run(f"{p}-non-sequential-theory", EXAMPLE, "1,3,4", "theory", provider, project=f"ls-{p}-m134-t", checks=["embedded", *overlap]),
            Run(f"{p}-non-sequential-labs", EXAMPLE, "1,3,4", "labs", provider, project=f"ls-{p}-m134-l", checks=["embedded"]),
            Run(f"{p}-non-sequential-both", EXAMPLE, "1,3,4", "both", provider, project=f"ls-{p}-m134-b", checks=["embedded", *overlap]),
            Run(f"{p}-ten-modules", TEN_MODULES, "all", "both", provider, 10, project=f"ls-{p}-ten", checks=["embedded", *overlap]),
        ]
        if provider == "bedrock":
            runs.append(Run(f"{p}-refused-module", REFUSED_MODULE, "all", "theory", provider, project=f"ls-{p}-refused", refused_module=3))
    return runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outline", nargs="?", help="the outline (not with --checklist)")
    ap.add_argument("--modules", default="all")
    ap.add_argument("--content", default="theory", choices=["theory", "labs", "both"])
    ap.add_argument("--provider", default="offline", choices=["offline", "bedrock"])
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--project")
    ap.add_argument("--checklist", action="store_true")
    ap.add_argument("--plan", help="comma-separated run names to run from the checklist (CI's part of it)")
    ap.add_argument("--providers", default="offline,bedrock")
    ap.add_argument("--out", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--s3-endpoint", required=True)
    ap.add_argument("--lambda-offline")
    ap.add_argument("--lambda-bedrock")
    ap.add_argument("--bedrock-endpoint")
    ap.add_argument("--events-log", required=True)
    ap.add_argument("--coursegen", required=True)
    ap.add_argument("--bench", help="a benchmark spec (JSON, written by scripts/bench-seed.sh)")
    ap.add_argument("--lambda-design", action="append", default=[], metavar="NAME=URL",
                    help="with --bench: the start-lambda endpoint serving design NAME's functions")
    args = ap.parse_args()
    env = Environment(args)

    if args.bench:
        lambdas = dict(item.split("=", 1) for item in args.lambda_design)
        rows = bench(env, json.loads(Path(args.bench).read_text()), lambdas)
        print(json.dumps({"ok": all(r["ok"] for r in rows), "bench": rows}))
        return 0 if all(r["ok"] for r in rows) else 1

    if args.checklist or args.plan:
        runs = checklist_runs(args.providers.split(","))
        if args.plan:
            wanted = args.plan.split(",")
            unknown = sorted(set(wanted) - {r.name for r in runs})
            if unknown:
                raise SystemExit(f"unknown runs {unknown}; known: {[r.name for r in runs]}")
            runs = [r for r in runs if r.name in wanted]
    else:
        if not args.outline:
            ap.error("OUTLINE is required without --checklist")
        runs = [
            Run("run", Path(args.outline).resolve(), args.modules, args.content, args.provider, args.concurrency, args.project)
        ]

    outcomes = []
    with tempfile.TemporaryDirectory(prefix="local-aws-embedded-") as work:
        for run in runs:
            outcome = execute(env, run)
            if run.checks or args.checklist or args.plan:
                check(env, outcome, Path(work))
            for problem in outcome.problems:
                log(f"{run.name}: FAIL {problem}")
            if run.checks:
                log(f"{run.name}: {'PASS' if outcome.ok else 'FAIL'}")
            outcomes.append(outcome)

    def summary(o: Outcome) -> dict:
        return {
            "ok": o.ok,
            "status": o.status,
            "seconds": round(o.seconds, 1),
            "containers": o.containers,
            "max_overlap": o.max_overlap,
            "course": str(o.course_dir),
            **({"error": o.error} if o.error else {}),
            **({"problems": o.problems} if o.problems else {}),
        }

    if len(outcomes) == 1 and not (args.checklist or args.plan):
        print(json.dumps(summary(outcomes[0])))
    else:
        passed = sum(o.ok for o in outcomes)
        print(f"local-aws: {passed} passed, {len(outcomes) - passed} failed")
        print(
            json.dumps(
                {
                    "ok": passed == len(outcomes),
                    "status": "SUCCEEDED" if passed == len(outcomes) else "FAILED",
                    "containers": sum(o.containers for o in outcomes),
                    "max_overlap": {
                        fn: max(o.max_overlap.get(fn, 0) for o in outcomes)
                        for fn in sorted({fn for o in outcomes for fn in o.max_overlap})
                    },
                    "course": str(env.out),
                    "runs": {o.run.name: summary(o) for o in outcomes},
                }
            )
        )
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
