"""Fidelity suite: every fixture runs through the coursegen interpreter and through moto's Step
Functions engine; outputs must be equal (JSON equality) and failing fixtures must fail with the
same error name. Cases listed in KNOWN_DIFFERENCES.md still run; a difference there is an
expected failure (xfail) with the documented reason.

Needs a Lambda Invoke API endpoint serving the coursegen-lambda binaries (scripts/fidelity.sh
starts `cargo lambda watch`) and the store directory that server uses:
  FIDELITY_LAMBDA_ENDPOINT (default http://127.0.0.1:9000)
  FIDELITY_STORE_DIR       (the server's COURSEGEN_STORE_DIR)
  COURSEGEN_BIN            (default target/debug/coursegen)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
import zipfile
from pathlib import Path

import pytest

from engines import (
    FIDELITY_DIR,
    FIXTURES_DIR,
    ROOT,
    MotoEngine,
    Outcome,
    endpoint,
    first_difference,
    replace_strings,
    run_ours,
    substitute,
)

KNOWN_DIFFERENCES_FILE = FIDELITY_DIR / "KNOWN_DIFFERENCES.md"
COURSE_DEFINITION = ROOT / "statemachine" / "course.asl.json"
OUTLINE = FIDELITY_DIR / "outline.yaml"
TASK_PROJECT = "fidelity-tasks"
COURSE_CASE = "course_definition"


def known_differences() -> dict[str, str]:
    """``## `name` `` headings of KNOWN_DIFFERENCES.md, each with its first line of text as the reason."""
    if not KNOWN_DIFFERENCES_FILE.exists():
        return {}
    found: dict[str, str] = {}
    current = None
    for line in KNOWN_DIFFERENCES_FILE.read_text().splitlines():
        heading = re.match(r"^##\s+`([A-Za-z0-9_\-]+)`\s*$", line)
        if heading:
            current = heading.group(1)
            found[current] = ""
        elif current and line.strip() and not found[current]:
            found[current] = line.strip()
    return found


KNOWN = known_differences()


def fixture_names() -> list[str]:
    return sorted(p.name[: -len(".asl.json")] for p in FIXTURES_DIR.glob("*.asl.json"))


def store_dir() -> Path:
    value = os.environ.get("FIDELITY_STORE_DIR")
    if not value:
        pytest.skip("FIDELITY_STORE_DIR is not set (run scripts/fidelity.sh)")
    return Path(value)


def put_outline(project: str) -> None:
    target = store_dir() / project / "course" / "outline.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(OUTLINE, target)


@pytest.fixture(scope="session")
def moto_engine():
    with MotoEngine(lambda_endpoint=endpoint()) as engine:
        yield engine


@pytest.fixture(scope="session")
def task_store():
    put_outline(TASK_PROJECT)
    return store_dir()


def compare(name: str, ours: Outcome, moto: Outcome) -> str | None:
    """None when the engines agree, else a description of the difference."""
    if ours.status != moto.status:
        return f"status differs: ours {ours.summary()} | moto {moto.summary()}"
    if ours.status == "SUCCEEDED":
        diff = first_difference(ours.output, moto.output)
        if diff:
            return f"outputs differ at {diff}\n  ours: {ours.summary()}\n  moto: {moto.summary()}"
        return None
    if ours.error != moto.error:
        return f"error names differ: ours {ours.error!r} (cause {ours.cause!r:.300}) | moto {moto.error!r} (cause {moto.cause!r:.300})"
    return None


def judge(name: str, difference: str | None) -> None:
    if difference is None:
        if name in KNOWN:
            print(f"note: {name} is listed in KNOWN_DIFFERENCES.md but the engines now agree")
        return
    if name in KNOWN:
        pytest.xfail(f"known moto difference: {KNOWN[name]}")
    pytest.fail(difference)


def check_expectation(name: str, ours: Outcome) -> None:
    """The fixture's `.expect.json` (status and, for failures, the error name) holds for ours."""
    expect_file = FIXTURES_DIR / f"{name}.expect.json"
    if not expect_file.exists():
        return
    expect = json.loads(expect_file.read_text())
    assert ours.status == expect["status"], f"{name}: expected {expect}, ours {ours.summary()}"
    if "error" in expect:
        assert ours.error == expect["error"], f"{name}: expected error {expect['error']}, ours {ours.summary()}"


@pytest.mark.parametrize("name", fixture_names())
def test_fixture(name: str, moto_engine: MotoEngine, task_store: Path) -> None:
    definition = FIXTURES_DIR / f"{name}.asl.json"
    execution_input = json.loads((FIXTURES_DIR / f"{name}.input.json").read_text())
    ours = run_ours(definition, execution_input, timeout=600)
    moto = moto_engine.run(substitute(definition.read_text()), execution_input, timeout=600)
    print(f"{name}: ours {ours.seconds:.2f}s {ours.summary()[:300]}")
    print(f"{name}: moto {moto.seconds:.2f}s {moto.summary()[:300]}")
    check_expectation(name, ours)
    judge(name, compare(name, ours, moto))


# EPUB metadata date: derived per book (it differs between two project folders even with the
# same content), so it is not part of the comparison.
VOLATILE = [re.compile(rb'<meta property="dcterms:modified">[^<]*</meta>')]
# Per file: a lab guide's sidecar fingerprint hashes the lab's spec, which holds the guide's key
# and so the project folder; two folders give two fingerprints for the same lab. The guide
# itself and the rest of the sidecar are compared.
VOLATILE_IN = [(re.compile(r"^labs/module-\d+/.+\.meta\.json$"), re.compile(rb'"fingerprint": "[0-9a-f]+"'))]


def normalise(content: bytes, project: str, placeholder: str, key: str = "") -> bytes:
    content = content.replace(project.encode(), placeholder.encode())
    for pattern in VOLATILE:
        content = pattern.sub(b"<volatile/>", content)
    for key_pattern, pattern in VOLATILE_IN:
        if key_pattern.match(key):
            content = pattern.sub(b'"fingerprint": "<volatile>"', content)
    return content


def store_files(project_root: Path, project: str, placeholder: str) -> dict[str, bytes]:
    """Every file under the project folder, keyed by relative path, contents normalised; a zip
    container (the EPUB) is compared member by member, since its compressed bytes hold the
    project folder name."""
    files: dict[str, bytes] = {}
    for path in sorted(project_root.rglob("*")):
        if not path.is_file():
            continue
        key = str(path.relative_to(project_root))
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    files[f"{key}!{member}"] = normalise(archive.read(member), project, placeholder)
        else:
            files[key] = normalise(path.read_bytes(), project, placeholder, key)
    return files


def run_course_in_both_engines(
    case: str, prefix: str, content_type: str, moto_engine: MotoEngine
) -> tuple[dict[str, str], dict[str, Outcome]]:
    """Modules 1 and 3 of the fidelity outline through statemachine/course.asl.json, once per
    engine (one after the other) into its own project folder PREFIX-ENGINE-RUN of the server's
    store; returns the project folders and the outcomes, by engine."""
    run_id = uuid.uuid4().hex[:8]
    projects = {engine: f"{prefix}-{engine}-{run_id}" for engine in ("ours", "moto")}
    outcomes: dict[str, Outcome] = {}
    for engine, project in projects.items():
        put_outline(project)
        execution_input = {
            "project_folder": project,
            "outline_key": f"{project}/course/outline.yaml",
            "modules_to_generate": [1, 3],
            "content_type": content_type,
            "max_concurrency": 2,
        }
        if engine == "ours":
            outcome = run_ours(COURSE_DEFINITION, execution_input, timeout=1200)
        else:
            outcome = moto_engine.run(substitute(COURSE_DEFINITION.read_text()), execution_input, timeout=1200)
        print(f"{case}: {engine} {outcome.seconds:.2f}s {outcome.summary()[:600]}")
        outcomes[engine] = outcome
    return projects, outcomes


@pytest.mark.parametrize("content_type", ["theory", "both"])
def test_course_definition(content_type: str, moto_engine: MotoEngine) -> None:
    """statemachine/course.asl.json for modules 1 and 3 of tests/fidelity/outline.yaml (theory,
    and theory plus labs), once per engine into its own project folder of the server's store
    (run one after the other); outputs must match modulo the project folder, and both folders
    must hold the same files with the same contents (modulo the folder name)."""
    case = f"{COURSE_CASE}_{content_type}"
    store = store_dir()
    placeholder = "<project>"
    projects, outcomes = run_course_in_both_engines(case, f"fidelity-{content_type}", content_type, moto_engine)
    ours, moto = outcomes["ours"], outcomes["moto"]
    assert ours.status == "SUCCEEDED", f"ours: {ours.summary()}"

    normalised = {
        engine: Outcome(
            o.status,
            output=replace_strings(o.output, projects[engine], placeholder),
            error=o.error,
            cause=o.cause,
        )
        for engine, o in outcomes.items()
    }
    difference = compare(case, normalised["ours"], normalised["moto"])

    if difference is None:
        files = {}
        for engine, project in projects.items():
            files[engine] = store_files(store / project, project, placeholder)
        only_ours = sorted(set(files["ours"]) - set(files["moto"]))
        only_moto = sorted(set(files["moto"]) - set(files["ours"]))
        if only_ours or only_moto:
            difference = f"store files differ: only ours {only_ours[:20]}, only moto {only_moto[:20]}"
        else:
            changed = sorted(k for k in files["ours"] if files["ours"][k] != files["moto"][k])
            if changed:
                difference = f"store file contents differ: {changed[:20]}"
            print(f"{case}: {len(files['ours'])} files in each project folder")
    judge(case, difference)


@pytest.mark.parametrize("content_type", ["theory", "both"])
def test_course_definition_with_a_refused_module(content_type: str, moto_engine: MotoEngine) -> None:
    """statemachine/course.asl.json for modules 1 and 3 when every invocation about module 3
    fails for good (the adapter's --refuse-module 3 answers them with a ModelError, as a
    function does after a content-filter refusal): in both engines the other module and its
    labs finish, BookBuilder builds the partial book, and the execution fails with
    CourseIncomplete naming module 3; the causes and the stores match modulo the folder name."""
    case = f"{COURSE_CASE}_refused_{content_type}"
    store = store_dir()
    placeholder = "<project>"
    projects, outcomes = run_course_in_both_engines(case, f"fidelity-refuse-{content_type}", content_type, moto_engine)

    ours = outcomes["ours"]
    assert (ours.status, ours.error) == ("FAILED", "CourseIncomplete"), f"ours: {ours.summary()}"
    assert "module(s) 3 not complete" in (ours.cause or ""), ours.cause
    manifest = json.loads((store / projects["ours"] / "book" / "manifest.json").read_text())
    caught = {(f["kind"], f["id"], f.get("state")) for f in manifest["failures"] if f.get("state")}
    prefix = "Both" if content_type == "both" else ""
    expected = {("module", "03", f"{prefix}ContentGen")}
    if content_type == "both":
        expected |= {("lab", f["id"], "BothLabWriter") for f in manifest["failures"] if f["kind"] == "lab"}
        assert any(kind == "lab" for kind, _, _ in expected), manifest["failures"]
    assert caught == expected, manifest["failures"]
    assert [m["module_number"] for m in manifest["modules"]] == [1], "module 1 is complete"

    difference = compare(case, ours, outcomes["moto"])
    if difference is None:
        causes = {e: replace_strings(o.cause, projects[e], placeholder) for e, o in outcomes.items()}
        if causes["ours"] != causes["moto"]:
            difference = f"causes differ: ours {causes['ours']!r:.600} | moto {causes['moto']!r:.600}"
    if difference is None:
        files = {engine: store_files(store / project, project, placeholder) for engine, project in projects.items()}
        if set(files["ours"]) != set(files["moto"]):
            only_ours = sorted(set(files["ours"]) - set(files["moto"]))
            only_moto = sorted(set(files["moto"]) - set(files["ours"]))
            difference = f"store files differ: only ours {only_ours[:20]}, only moto {only_moto[:20]}"
        else:
            changed = sorted(k for k in files["ours"] if files["ours"][k] != files["moto"][k])
            if changed:
                difference = f"store file contents differ: {changed[:20]}"
    judge(case, difference)
