#!/usr/bin/env python3
"""Offline checks of template.yaml, statemachine/*.asl.json and events/*.json.

Run from the repository root with the tooling venv: `.venv/bin/python tests/template_checks.py`
(scripts/offline-checks.sh does). Needs PyYAML only.

What is checked:
- placeholders: every `${...}` in a definition has a DefinitionSubstitutions entry, every entry
  is used, and every entry points at a function of this template (which the state machine may
  invoke);
- functions: one per stage binary of coursegen-lambda, built with cargo-lambda;
- every Task: lambda:invoke, ResultSelector, no Catch; TimeoutSeconds a little above its
  function's Timeout; the retriers Lambda needs (service errors: short; throttling: its own,
  long one; function timeouts and crashes, Lambda.Unknown / Sandbox.Timedout); exactly the error
  types that `StageError::is_retryable` (crates/coursegen-core/src/error.rs) calls retryable are
  retried, the permanent ones never;
- the "both" route runs the same states as the single routes;
- data flow: a small JSONPath interpreter runs the definition with fake stages that check every
  input against the structs in crates/coursegen-core/src/contracts.rs and answer with
  contract-shaped outputs; it measures every state's input and output against the 256 KiB
  payload limit, up to a 200-module x 50-lesson course;
- events/*.json match the contracts;
- start by upload: the EventBridge rule matches an outline uploaded under incoming/ (and no key
  `coursegen aws start` or a stage writes), and its input transformation turns the sample S3
  event (events/s3-outline-uploaded.json) into `{"outline_key": KEY}`; its role may only start
  the course state machine.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
DEFINITION = ROOT / "statemachine" / "course.asl.json"
CONTRACTS = ROOT / "crates" / "coursegen-core" / "src" / "contracts.rs"
REQUEST = ROOT / "crates" / "coursegen-core" / "src" / "request.rs"
ERRORS = ROOT / "crates" / "coursegen-core" / "src" / "error.rs"
EVENTS = ROOT / "events"

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
PAYLOAD_LIMIT = 262_144
# "Far below" the limit: the largest state of the largest course must stay under a quarter.
PAYLOAD_BUDGET = PAYLOAD_LIMIT // 4

# Stage -> (binary, input struct, output struct).
STAGES = {
    "PrepareCourse": ("prepare-course", "RawRequest", "PrepareCourseOutput"),
    "ContentGen": ("content-gen", "ContentGenInput", "ContentGenOutput"),
    "VisualPlanner": ("visual-planner", "VisualPlannerInput", "VisualPlannerOutput"),
    "ImagesGen": ("images-gen", "ImagesGenInput", "ImagesGenOutput"),
    "LabPlanner": ("lab-planner", "LabPlannerInput", "LabPlannerOutput"),
    "LabWriter": ("lab-writer", "LabWriterInput", "LabWriterOutput"),
    "BookBuilder": ("book-builder", "BookBuilderInput", "BookBuilderOutput"),
}
EVENT_FILES = {
    "PrepareCourse": "prepare-course.json",
    "ContentGen": "content-gen.json",
    "VisualPlanner": "visual-planner.json",
    "ImagesGen": "images-gen.json",
    "LabPlanner": "lab-planner.json",
    "LabWriter": "lab-writer.json",
    "BookBuilder": "book-builder.json",
}
# Lambda Invoke API errors that pass quickly: a short retrier (at most SHORT_RETRY_MAX in all).
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
}
SHORT_RETRY_MAX = 300
# Lambda throttling (a new account's low concurrency against the fan-out): a retrier of its own
# that keeps trying for at least this long (with full jitter the expected wait is half).
LAMBDA_THROTTLED = "Lambda.TooManyRequestsException"
THROTTLE_RETRY_MIN = 15 * 60
# How Lambda reports a function that timed out or ran out of memory; the stages are idempotent
# (finished outputs are reused), so running them again is safe.
LAMBDA_CRASHES = {"Lambda.Unknown", "Sandbox.Timedout"}
# TimeoutSeconds of a Task: above its function's Timeout (Lambda stops the function first and
# reports Sandbox.Timedout), but only a little.
TASK_TIMEOUT_MAX_MARGIN = 120


# --------------------------------------------------------------------------- loading


class CfnLoader(yaml.SafeLoader):
    """PyYAML loader that turns CloudFormation short tags into their long form."""


def _cfn_tag(loader: CfnLoader, tag_suffix: str, node: yaml.Node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template() -> dict:
    with TEMPLATE.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)


def load_definition() -> dict:
    with DEFINITION.open(encoding="utf-8") as f:
        return json.load(f)


def resources_of_type(template: dict, type_name: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == type_name}


# Tasks whose failure (after their retriers) is recorded by a Catch and ends only their module
# or lab iteration (the same names prefixed "Both" in the both route).
CAUGHT_STATES = ["ContentGen", "LessonsMap", "ImagesGen", "LabWriter"]


def walk_states(states: dict):
    """Yields (name, state) for every state, nested ones included."""
    for name, state in states.items():
        yield name, state
        if state["Type"] == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            yield from walk_states(processor["States"])
        elif state["Type"] == "Parallel":
            for branch in state["Branches"]:
                yield from walk_states(branch["States"])


# --------------------------------------------------------------------------- contracts


class Field:
    def __init__(self, name: str, rust_type: str, required: bool):
        self.name = name
        self.rust_type = rust_type
        self.required = required


def parse_structs(*paths: Path) -> dict[str, list[Field]]:
    """`pub struct X { pub a: T, ... }` -> fields; `#[serde(default)]` and Option<...> are optional."""
    structs: dict[str, list[Field]] = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"pub struct (\w+) \{\n(.*?)\n\}", text, re.S):
            fields = []
            pending_default = False
            for line in m.group(2).splitlines():
                line = line.strip()
                if line.startswith("#[serde(") and "default" in line:
                    pending_default = True
                    continue
                fm = re.match(r"pub (\w+): (.+),$", line)
                if fm:
                    rust_type = fm.group(2)
                    optional = pending_default or rust_type.startswith("Option<")
                    fields.append(Field(fm.group(1), rust_type, not optional))
                    pending_default = False
            structs[m.group(1)] = fields
    return structs


def type_ok(rust_type: str, value) -> bool:
    if rust_type.startswith("Option<"):
        return value is None or type_ok(rust_type[7:-1], value)
    if rust_type == "String":
        return isinstance(value, str)
    if rust_type in ("u32", "u64", "usize"):
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if rust_type == "bool":
        return isinstance(value, bool)
    if rust_type == "ContentType":
        return value in ("theory", "labs", "both")
    if rust_type.startswith("Vec<"):
        inner = rust_type[4:-1]
        return isinstance(value, list) and all(type_ok(inner, v) for v in value)
    if rust_type.startswith("BTreeMap<String, String>"):
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if rust_type == "serde_json::Value":
        return True
    return isinstance(value, dict)  # a nested struct: checked by its own name where needed


def contract_problems(structs: dict, struct_name: str, value) -> list[str]:
    if not isinstance(value, dict):
        return [f"{struct_name}: expected a JSON object, got {type(value).__name__}"]
    problems = []
    for field in structs[struct_name]:
        if field.name not in value:
            if field.required:
                problems.append(f"{struct_name}.{field.name} is missing")
            continue
        if not type_ok(field.rust_type, value[field.name]):
            problems.append(f"{struct_name}.{field.name}: {value[field.name]!r} is not a {field.rust_type}")
        inner = field.rust_type[4:-1] if field.rust_type.startswith("Vec<") else field.rust_type
        if inner in structs and isinstance(value.get(field.name), (list, dict)):
            items = value[field.name] if isinstance(value[field.name], list) else [value[field.name]]
            for item in items:
                problems.extend(contract_problems(structs, inner, item))
    return problems


# --------------------------------------------------------------------------- retry policy


def stage_error_types(path: Path = ERRORS) -> tuple[set[str], set[str]]:
    """(retryable, permanent) error type names of `StageError`, read from its `error_type()`
    arms and the variants `is_retryable()` lists."""
    text = path.read_text(encoding="utf-8")
    body = re.search(r"fn error_type\(&self\).*?\{(.*?)\n    \}", text, re.S)
    assert body, "StageError::error_type not found"
    names = dict(re.findall(r'StageError::(\w+)\b[^=]*=>\s*"([^"]+)"', body.group(1)))
    assert names, "no error types found in StageError::error_type"
    retryable_body = re.search(r"fn is_retryable\(&self\).*?\{(.*?)\n    \}", text, re.S)
    assert retryable_body, "StageError::is_retryable not found"
    retryable_variants = set(re.findall(r"StageError::(\w+)", retryable_body.group(1)))
    unknown = retryable_variants - set(names)
    assert not unknown, f"is_retryable names variants without an error type: {unknown}"
    retryable = {names[v] for v in retryable_variants}
    return retryable, set(names.values()) - retryable


def retry_budget(retrier: dict) -> float:
    """The longest a retrier keeps retrying: the sum of its back-off intervals before jitter
    (JitterStrategy FULL draws each one between 0 and that value)."""
    interval = retrier.get("IntervalSeconds", 1)
    rate = retrier.get("BackoffRate", 2.0)
    cap = retrier.get("MaxDelaySeconds")
    total = 0.0
    for attempt in range(retrier.get("MaxAttempts", 3)):
        delay = interval * rate**attempt
        total += min(delay, cap) if cap is not None else delay
    return total


def function_timeouts(template: dict) -> dict[str, int]:
    """`${XFunctionArn}` placeholder name -> the Timeout (seconds) of the function it names."""
    default = template.get("Globals", {}).get("Function", {}).get("Timeout", 3)
    machine = next(iter(resources_of_type(template, "AWS::Serverless::StateMachine").values()))["Properties"]
    functions = resources_of_type(template, "AWS::Serverless::Function")
    out = {}
    for name, value in machine["DefinitionSubstitutions"].items():
        logical_id = value["Fn::GetAtt"][0]
        out[name] = functions[logical_id]["Properties"].get("Timeout", default)
    return out


def task_policy_problems(definition: dict, template: dict, error_types=None) -> list[str]:
    """What every Task of `definition` lacks of the retry and timeout policy, empty when none."""
    retryable, permanent = error_types or stage_error_types()
    timeouts = function_timeouts(template)
    problems = []
    tasks = [(n, s) for n, s in walk_states(definition["States"]) if s["Type"] == "Task"]
    if not tasks:
        problems.append("the definition has no Task")
    for name, state in tasks:
        # The retrier Step Functions uses for an error: the first one whose ErrorEquals names it.
        first: dict[str, dict] = {}
        for retrier in state.get("Retry", []):
            for error in retrier["ErrorEquals"]:
                first.setdefault(error, retrier)
        for error in ("States.ALL", "States.TaskFailed"):
            if error in first:
                problems.append(f"{name}: retries {error}, which would retry permanent errors too")
        for error in sorted(LAMBDA_SERVICE_ERRORS):
            if error not in first:
                problems.append(f"{name}: {error} is not retried")
            elif retry_budget(first[error]) > SHORT_RETRY_MAX:
                problems.append(f"{name}: the {error} retrier should be short (<= {SHORT_RETRY_MAX} s)")
        throttled = first.get(LAMBDA_THROTTLED)
        if throttled is None:
            problems.append(f"{name}: {LAMBDA_THROTTLED} is not retried")
        else:
            if throttled["ErrorEquals"] != [LAMBDA_THROTTLED]:
                problems.append(f"{name}: {LAMBDA_THROTTLED} needs a retrier of its own")
            if retry_budget(throttled) < THROTTLE_RETRY_MIN:
                problems.append(
                    f"{name}: the {LAMBDA_THROTTLED} retrier gives up after {retry_budget(throttled):.0f} s "
                    f"(< {THROTTLE_RETRY_MIN} s)"
                )
        for error in sorted(LAMBDA_CRASHES | retryable):
            if error not in first:
                problems.append(f"{name}: {error} is not retried")
        for error in sorted(permanent):
            if error in first:
                problems.append(f"{name}: {error} is permanent (StageError::is_retryable) but retried")
        for error, retrier in first.items():
            if retrier.get("MaxAttempts", 3) < 1:
                problems.append(f"{name}: the retrier of {error} never retries (MaxAttempts < 1)")
            if retrier.get("JitterStrategy") != "FULL" or "MaxDelaySeconds" not in retrier:
                problems.append(f"{name}: the retrier of {error} needs JitterStrategy FULL and MaxDelaySeconds")
            if retrier.get("BackoffRate") != 2:
                problems.append(f"{name}: the retrier of {error} must back off exponentially (BackoffRate 2)")
        placeholder = re.fullmatch(r"\$\{(\w+)\}", state.get("Parameters", {}).get("FunctionName", ""))
        function_timeout = timeouts.get(placeholder.group(1)) if placeholder else None
        task_timeout = state.get("TimeoutSeconds")
        if function_timeout is None:
            problems.append(f"{name}: no function of the template behind its FunctionName")
        elif not isinstance(task_timeout, int):
            problems.append(f"{name}: TimeoutSeconds is missing (its function's Timeout is {function_timeout} s)")
        elif not function_timeout < task_timeout <= function_timeout + TASK_TIMEOUT_MAX_MARGIN:
            problems.append(
                f"{name}: TimeoutSeconds {task_timeout} must be a little above its function's Timeout "
                f"{function_timeout} (by 1..{TASK_TIMEOUT_MAX_MARGIN} s)"
            )
    return problems


# --------------------------------------------------------------------------- a small ASL interpreter


class StatesError(Exception):
    def __init__(self, error: str, cause: str):
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


def _path_tokens(path: str):
    tokens = []
    i = 0
    while i < len(path):
        if path[i] == ".":
            m = re.match(r"\.([A-Za-z_][A-Za-z0-9_]*|\*)", path[i:])
            if not m:
                raise ValueError(f"unsupported path {path!r}")
            tokens.append("*" if m.group(1) == "*" else ("key", m.group(1)))
            i += m.end()
        elif path[i] == "[":
            m = re.match(r"\[(\*|-?\d+)\]", path[i:])
            if not m:
                raise ValueError(f"unsupported path {path!r}")
            tokens.append("*" if m.group(1) == "*" else ("index", int(m.group(1))))
            i += m.end()
        else:
            raise ValueError(f"unsupported path {path!r}")
    return tokens


def select(path: str, data, context):
    """Step Functions JSONPath: a definite path yields one value (error when missing); an
    indefinite path (with [*]) yields the list of all matches, possibly empty."""
    if path.startswith("$$"):
        doc, rest = context, path[2:]
    elif path.startswith("$"):
        doc, rest = data, path[1:]
    else:
        raise ValueError(f"not a path: {path!r}")
    tokens = _path_tokens(rest)
    nodes = [doc]
    for token in tokens:
        nxt = []
        for node in nodes:
            if token == "*":
                if isinstance(node, list):
                    nxt.extend(node)
                elif isinstance(node, dict):
                    nxt.extend(node.values())
            elif token[0] == "key" and isinstance(node, dict) and token[1] in node:
                nxt.append(node[token[1]])
            elif token[0] == "index" and isinstance(node, list) and -len(node) <= token[1] < len(node):
                nxt.append(node[token[1]])
        nodes = nxt
    if "*" in tokens:
        return nodes
    if not nodes:
        raise StatesError("States.Runtime", f"The JSONPath {path!r} could not be found")
    return nodes[0]


def evaluate(expr: str, data, context):
    m = re.fullmatch(r"States\.ArrayLength\((\$[^)]*)\)", expr)
    if m:
        value = select(m.group(1), data, context)
        if not isinstance(value, list):
            raise StatesError("States.IntrinsicFailure", f"{expr}: not an array")
        return len(value)
    if expr.startswith("States."):
        raise ValueError(f"intrinsic not supported by this checker: {expr}")
    return select(expr, data, context)


def expand(template, data, context):
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = evaluate(value, data, context)
            else:
                out[key] = expand(value, data, context)
        return out
    if isinstance(template, list):
        return [expand(v, data, context) for v in template]
    return copy.deepcopy(template)


def apply_result_path(data, result_path, result):
    if result_path is None:
        return data
    if result_path == "$":
        return result
    tokens = _path_tokens(result_path[1:])
    out = copy.deepcopy(data)
    node = out
    for token in tokens[:-1]:
        node = node.setdefault(token[1], {})
    node[tokens[-1][1]] = result
    return out


class Interpreter:
    def __init__(self, definition: dict, handlers: dict):
        self.definition = definition
        self.handlers = handlers
        self.sizes: list[tuple[int, str]] = []
        self.invocations: dict[str, int] = {}

    def measure(self, state_name: str, what: str, value):
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        self.sizes.append((size, f"{state_name} {what}"))
        if size > PAYLOAD_LIMIT:
            raise StatesError("States.DataLimitExceeded", f"{state_name} {what} is {size} bytes")

    def run(self, execution_input):
        return self.run_scope(self.definition, execution_input, {})

    def run_scope(self, scope: dict, data, context):
        name = scope["StartAt"]
        while True:
            state = scope["States"][name]
            data, name = self.run_state(name, state, data, context)
            if name is None:
                return data

    def run_state(self, name: str, state: dict, data, context):
        try:
            return self.run_state_uncaught(name, state, data, context)
        except StatesError as e:
            for catcher in state.get("Catch", []):
                if "States.ALL" in catcher["ErrorEquals"] or e.error in catcher["ErrorEquals"]:
                    error_output = {"Error": e.error, "Cause": e.cause}
                    return apply_result_path(data, catcher.get("ResultPath", "$"), error_output), catcher["Next"]
            raise

    def run_state_uncaught(self, name: str, state: dict, data, context):
        kind = state["Type"]
        self.measure(name, "input", data)
        effective = select(state["InputPath"], data, context) if "InputPath" in state else data
        if kind == "Choice":
            for rule in state["Choices"]:
                value = select(rule["Variable"], effective, context)
                if "StringEquals" in rule and value == rule["StringEquals"]:
                    return data, rule["Next"]
                if "NumericGreaterThan" in rule and value > rule["NumericGreaterThan"]:
                    return data, rule["Next"]
            if "Default" not in state:
                raise StatesError("States.NoChoiceMatched", name)
            return data, state["Default"]
        if kind == "Fail":
            cause = select(state["CausePath"], effective, context) if "CausePath" in state else state.get("Cause", "")
            raise StatesError(state.get("Error", "States.Fail"), cause)
        if kind == "Succeed":
            return data, None
        if kind == "Pass":
            if "Parameters" in state:
                result = expand(state["Parameters"], effective, context)
            else:
                result = state.get("Result", effective)
        elif kind == "Task":
            params = expand(state["Parameters"], effective, context)
            result = self.invoke(name, params)
        elif kind == "Map":
            items = select(state.get("ItemsPath", "$"), effective, context)
            processor = state.get("ItemProcessor") or state["Iterator"]
            result = []
            for index, item in enumerate(items):
                item_context = {"Map": {"Item": {"Index": index, "Value": item}}}
                selector = state.get("ItemSelector") or state.get("Parameters")
                item_input = expand(selector, effective, item_context) if selector else item
                result.append(self.run_scope(processor, item_input, item_context))
            if "MaxConcurrencyPath" in state:
                concurrency = select(state["MaxConcurrencyPath"], effective, context)
                assert isinstance(concurrency, int), f"{name}: MaxConcurrencyPath must be an integer"
        elif kind == "Parallel":
            result = [self.run_scope(branch, copy.deepcopy(effective), context) for branch in state["Branches"]]
        else:
            raise ValueError(f"state type {kind} not supported by this checker")
        if "ResultSelector" in state:
            result = expand(state["ResultSelector"], result, context)
        output = apply_result_path(data, state.get("ResultPath", "$"), result)
        if "OutputPath" in state:
            output = select(state["OutputPath"], output, context)
        self.measure(name, "output", output)
        return output, (None if state.get("End") else state["Next"])

    def invoke(self, state_name: str, params: dict):
        function = params["FunctionName"]
        m = re.fullmatch(r"\$\{(\w+)FunctionArn\}", function)
        assert m, f"{state_name}: FunctionName {function!r} is not a placeholder"
        stage = m.group(1)
        payload = params["Payload"]
        self.measure(state_name, "payload", payload)
        self.invocations[stage] = self.invocations.get(stage, 0) + 1
        response = self.handlers[stage](payload)
        self.measure(state_name, "function result", response)
        return {"ExecutedVersion": "$LATEST", "Payload": response, "StatusCode": 200}


class FakeCourse:
    """Contract-checking fake stages over an outline of `modules` x `lessons` with `visuals`
    visuals per lesson and `labs` labs per lesson; keys as long as the real layout allows."""

    SLUG = "x" * 48  # keys::slugify caps slugs at 48 characters

    def __init__(self, structs, modules: int, lessons: int, visuals: int, labs: int, project="kubernetes-for-devops"):
        self.structs = structs
        self.modules = modules
        self.lessons = lessons
        self.visuals = visuals
        self.labs = labs
        self.project = project
        self.book_inputs: list[dict] = []
        self.failing_modules: set[int] = set()
        self.failure_message_chars = 0
        self.failing_labs: set[str] = set()

    def check(self, struct: str, value):
        problems = contract_problems(self.structs, struct, value)
        if problems:
            raise AssertionError("; ".join(problems))

    def handlers(self):
        return {
            "PrepareCourse": self.prepare_course,
            "ContentGen": self.content_gen,
            "VisualPlanner": self.visual_planner,
            "ImagesGen": self.images_gen,
            "LabPlanner": self.lab_planner,
            "LabWriter": self.lab_writer,
            "BookBuilder": self.book_builder,
        }

    def _reply(self, struct: str, value: dict) -> dict:
        self.check(struct, value)
        return value

    def prepare_course(self, event):
        self.check("RawRequest", event)
        numbers = list(range(1, self.modules + 1))
        return self._reply("PrepareCourseOutput", {
            "project_folder": event["project_folder"],
            "outline_key": event["outline_key"],
            "request_key": f"{event['project_folder']}/course/request.json",
            "content_type": event.get("content_type", "theory"),
            "modules": [{"module_number": n, "lesson_count": self.lessons} for n in numbers],
            "module_numbers": numbers,
            "max_concurrency": event.get("max_concurrency", min(self.modules, 40)),
            "lesson_concurrency": event.get("lesson_concurrency", min(self.lessons, 40)),
            "force": bool(event.get("force", False)),
            "course_title": "Kubernetes for DevOps Engineers",
        })

    def lesson_key(self, m, l):
        return f"{self.project}/lessons/module-{m:02}/lesson-{l:02}-{self.SLUG}.md"

    def content_gen(self, event):
        self.check("ContentGenInput", event)
        m = event["module_number"]
        if m in self.failing_modules:
            message = f"module {m} refused".ljust(self.failure_message_chars, ".")
            raise StatesError("ModelError", json.dumps({"errorType": "ModelError", "errorMessage": message}))
        lessons = [
            {"lesson_number": l, "title": "T" * 60, "key": self.lesson_key(m, l), "words": 2500}
            for l in range(1, self.lessons + 1)
        ]
        return self._reply("ContentGenOutput", {
            "module_number": m,
            "lesson_keys": [x["key"] for x in lessons],
            "lessons": lessons,
            "reused": 0,
        })

    def visual_planner(self, event):
        self.check("VisualPlannerInput", event)
        m, l = event["module_number"], event["lesson_number"]
        assert event["lesson_key"] == self.lesson_key(m, l), "lesson key of another lesson"
        keys = [f"{self.project}/prompts/module-{m:02}/lesson-{l:02}/visual-{n:02}.json" for n in range(1, self.visuals + 1)]
        return self._reply("VisualPlannerOutput", {"lesson_key": event["lesson_key"], "prompt_keys": keys, "visuals": len(keys)})

    def images_gen(self, event):
        self.check("ImagesGenInput", event)
        m = event["module_number"]
        expected = self.lessons * self.visuals
        assert len(event["prompt_keys"]) == expected, f"module {m}: {len(event['prompt_keys'])} prompts, expected {expected}"
        assert all(f"/module-{m:02}/" in k for k in event["prompt_keys"]), "prompts of another module"
        mappings = {}
        for key in event["prompt_keys"]:
            l, n = re.search(r"lesson-(\d+)/visual-(\d+)", key).groups()
            vid = f"{m:02}-{int(l):02}-{int(n):02}"
            mappings[vid] = f"{self.project}/images/module-{m:02}/{vid}.png"
        return self._reply("ImagesGenOutput", {"module_number": m, "image_mappings": mappings})

    def lab_planner(self, event):
        self.check("LabPlannerInput", event)
        ids = [
            f"{m:02}-{l:02}-{k:02}"
            for m in event["modules"]
            for l in range(1, self.lessons + 1)
            for k in range(1, self.labs + 1)
        ]
        return self._reply("LabPlannerOutput", {"plan_key": f"{event['project_folder']}/labs/plan.json", "lab_ids": ids})

    def lab_writer(self, event):
        self.check("LabWriterInput", event)
        lab = event["lab_id"]
        if lab in self.failing_labs:
            raise StatesError("ModelError", json.dumps({"errorType": "ModelError", "errorMessage": f"lab {lab} refused"}))
        return self._reply("LabWriterOutput", {
            "lab_id": lab,
            "lab_key": f"{self.project}/labs/module-{lab[:2]}/lab-{lab}-{self.SLUG}.md",
        })

    def book_builder(self, event):
        self.check("BookBuilderInput", event)
        self.book_inputs.append(event)
        failed_modules = [r["module_number"] for r in event.get("module_results", []) if "error" in r]
        failed_labs = [r["lab_id"] for r in event.get("lab_results", []) if isinstance(r, dict)]
        failed = len(failed_modules) + len(failed_labs)
        incomplete = f"modules {failed_modules} labs {failed_labs} incomplete" if failed else ""
        return self._reply("BookBuilderOutput", {
            "book_keys": [f"{self.project}/book/{n}" for n in ("index.html", "course.epub", "course.md")],
            "manifest_key": f"{self.project}/book/manifest.json",
            "module_count": self.modules,
            "lesson_count": self.modules * self.lessons,
            "word_count": self.modules * self.lessons * 2500,
            "image_count": self.modules * self.lessons * self.visuals,
            "lab_count": self.modules * self.lessons * self.labs,
            "failed": failed,
            "incomplete": incomplete,
        })


def execution_input(content_type: str) -> dict:
    return {
        "project_folder": "kubernetes-for-devops",
        "outline_key": "kubernetes-for-devops/course/outline.yaml",
        "modules_to_generate": "all",
        "content_type": content_type,
        "max_concurrency": 10,
    }


# --------------------------------------------------------------------------- tests


class Checks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = load_template()
        cls.definition_text = DEFINITION.read_text(encoding="utf-8")
        cls.definition = load_definition()
        cls.structs = parse_structs(CONTRACTS, REQUEST)
        machines = resources_of_type(cls.template, "AWS::Serverless::StateMachine")
        assert len(machines) == 1, "expected exactly one state machine"
        cls.machine = next(iter(machines.values()))["Properties"]
        cls.functions = resources_of_type(cls.template, "AWS::Serverless::Function")

    # -- placeholders and wiring

    def test_every_placeholder_has_a_substitution_and_every_substitution_is_used(self):
        self.assertEqual(self.machine["DefinitionUri"], "statemachine/course.asl.json")
        placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", self.definition_text))
        substitutions = set(self.machine["DefinitionSubstitutions"])
        self.assertEqual(placeholders - substitutions, set(), "placeholders without a DefinitionSubstitutions entry")
        self.assertEqual(substitutions - placeholders, set(), "DefinitionSubstitutions entries the definition never uses")
        self.assertEqual(placeholders, {f"{stage}FunctionArn" for stage in STAGES})

    def test_every_substitution_is_the_arn_of_a_function_of_this_template(self):
        for name, value in self.machine["DefinitionSubstitutions"].items():
            self.assertIsInstance(value, dict, name)
            self.assertIn("Fn::GetAtt", value, f"{name} must be !GetAtt <Function>.Arn")
            logical_id, attribute = value["Fn::GetAtt"]
            self.assertEqual(attribute, "Arn", name)
            self.assertTrue(logical_id in self.functions, f"{name} -> {logical_id} is not an AWS::Serverless::Function")
            self.assertEqual(name, f"{logical_id}Arn", "substitution names follow the function names")

    def test_the_state_machine_may_invoke_exactly_its_functions(self):
        invokable = set()
        for policy in self.machine["Policies"]:
            if isinstance(policy, dict) and "LambdaInvokePolicy" in policy:
                invokable.add(policy["LambdaInvokePolicy"]["FunctionName"]["Ref"])
        self.assertEqual(invokable, set(self.functions))

    def test_one_function_per_stage_binary(self):
        # Either layout: one binary per stage (BuildProperties.Binary is the stage binary, the
        # Handler the `bootstrap` default), or one `bootstrap` serving the stage its Handler names.
        global_handler = self.template["Globals"]["Function"].get("Handler", "bootstrap")
        stages = {}
        for logical_id, resource in self.functions.items():
            meta = resource.get("Metadata", {})
            self.assertEqual(meta.get("BuildMethod"), "rust-cargolambda", logical_id)
            self.assertEqual(resource["Properties"].get("CodeUri"), ".", logical_id)
            binary = meta["BuildProperties"]["Binary"]
            handler = resource["Properties"].get("Handler", global_handler)
            if binary == "bootstrap":
                stages[logical_id] = handler
            else:
                self.assertEqual(handler, "bootstrap", logical_id)
                stages[logical_id] = binary
        expected = {f"{stage}Function": binary for stage, (binary, _, _) in STAGES.items()}
        self.assertEqual(stages, expected)

    def test_function_globals(self):
        g = self.template["Globals"]["Function"]
        self.assertEqual(g["Runtime"], "provided.al2023")
        architectures = g["Architectures"]
        if architectures != ["arm64"]:
            # A parameter that deploys arm64 unless told otherwise.
            self.assertEqual(len(architectures), 1)
            parameter = self.template["Parameters"][architectures[0]["Ref"]]
            self.assertEqual(parameter["Default"], "arm64")
        self.assertEqual(g["LoggingConfig"]["LogFormat"], "JSON")
        self.assertEqual(g["Tracing"], "Active")
        for var in ("COURSE_BUCKET", "COURSEGEN_PROVIDER", "TEXT_MODEL_ID", "IMAGE_MODEL_ID",
                    "BEDROCK_RPM", "BEDROCK_TPM", "QUOTA_TABLE", "OPENAI_BASE_URL",
                    "OPENAI_API_KEY_SECRET_ARN", "RUST_LOG"):
            self.assertIn(var, g["Environment"]["Variables"])
        # The optional ceilings are declared empty: no ceiling unless an operator sets one.
        for var in ("LESSON_CONCURRENCY", "IMAGE_CONCURRENCY", "BEDROCK_MAX_CONCURRENCY",
                    "BEDROCK_IMAGE_MAX_CONCURRENCY"):
            self.assertEqual(g["Environment"]["Variables"][var], "", var)
        for logical_id, resource in self.functions.items():
            timeout = resource["Properties"].get("Timeout", g.get("Timeout", 3))
            self.assertLess(timeout, 900, logical_id)
            deadline = resource["Properties"].get("Environment", {}).get("Variables", {}).get("MODEL_DEADLINE_SECONDS")
            if deadline is not None:
                self.assertLess(int(deadline), timeout, f"{logical_id}: a model call must give up before the function times out")

    def test_the_quota_table_is_on_demand_and_only_model_callers_may_use_it(self):
        table = self.template["Resources"]["QuotaTable"]
        self.assertEqual(table["Type"], "AWS::DynamoDB::Table")
        props = table["Properties"]
        self.assertEqual(props["BillingMode"], "PAY_PER_REQUEST")
        self.assertEqual(props["KeySchema"], [{"AttributeName": "pk", "KeyType": "HASH"}])
        self.assertEqual(props["AttributeDefinitions"], [{"AttributeName": "pk", "AttributeType": "S"}])
        env = self.template["Globals"]["Function"]["Environment"]["Variables"]
        self.assertEqual(env["QUOTA_TABLE"], {"Ref": "QuotaTable"})
        policy = self.template["Resources"]["QuotaTablePolicy"]
        [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
        self.assertEqual(sorted(statement["Action"]), ["dynamodb:GetItem", "dynamodb:UpdateItem"])
        self.assertEqual(statement["Resource"], {"Fn::GetAtt": ["QuotaTable", "Arn"]})
        attached = set()
        for logical_id, resource in self.functions.items():
            for p in resource["Properties"].get("Policies", []):
                if isinstance(p, dict) and "Fn::If" in p and p["Fn::If"][1] == {"Ref": "QuotaTablePolicy"}:
                    attached.add(logical_id)
        self.assertEqual(attached, {f"{s}Function" for s in ("ContentGen", "VisualPlanner", "ImagesGen",
                                                             "LabPlanner", "LabWriter")})

    def test_no_wildcard_resources_for_s3_bedrock_or_secrets(self):
        def statements(node):
            if isinstance(node, dict):
                if "Effect" in node and "Action" in node:
                    yield node
                for v in node.values():
                    yield from statements(v)
            elif isinstance(node, list):
                for v in node:
                    yield from statements(v)

        for stmt in statements(self.template["Resources"]):
            if stmt["Effect"] != "Allow":
                continue
            actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            if any(a.split(":")[0] in ("s3", "bedrock", "secretsmanager", "dynamodb") for a in actions):
                self.assertNotEqual(stmt.get("Resource"), "*", f"{actions} on '*'")

    # -- the definition

    def test_every_task_invokes_lambda_with_result_selector_and_only_iterations_catch(self):
        tasks = [(n, s) for n, s in walk_states(self.definition["States"]) if s["Type"] == "Task"]
        self.assertGreaterEqual(len(tasks), 7)
        for name, state in tasks:
            with self.subTest(state=name):
                self.assertEqual(state["Resource"], LAMBDA_INVOKE)
                self.assertRegex(state["Parameters"]["FunctionName"], r"^\$\{\w+FunctionArn\}$")
                self.assertIn("ResultSelector", state)
                if name.removeprefix("Both") not in CAUGHT_STATES:
                    self.assertNotIn("Catch", state, "a course-level failure fails the execution")

    def test_every_task_has_the_retriers_and_a_timeout_above_its_functions(self):
        self.assertEqual(task_policy_problems(self.definition, self.template), [])

    def test_the_error_types_split_into_retryable_and_permanent(self):
        retryable, permanent = stage_error_types()
        self.assertIn("ThrottlingException", retryable)
        self.assertIn("StoreError", retryable)
        self.assertIn("StoreAccessDenied", permanent)
        self.assertIn("InvalidRequest", permanent)

    def test_the_policy_check_fails_when_a_task_loses_a_retrier_or_its_timeout(self):
        def nested_task(definition, name):
            return next(s for n, s in walk_states(definition["States"]) if n == name)

        def drop(definition, name, error):
            state = nested_task(definition, name)
            for retrier in state["Retry"]:
                retrier["ErrorEquals"] = [e for e in retrier["ErrorEquals"] if e != error]
            state["Retry"] = [r for r in state["Retry"] if r["ErrorEquals"]]

        cases = {
            "BothVisualPlanner loses Lambda.Unknown": lambda d: drop(d, "BothVisualPlanner", "Lambda.Unknown"),
            "LabWriter loses Sandbox.Timedout": lambda d: drop(d, "LabWriter", "Sandbox.Timedout"),
            "BothLabWriter loses Lambda throttling": lambda d: drop(d, "BothLabWriter", LAMBDA_THROTTLED),
            "ImagesGen loses StoreError": lambda d: drop(d, "ImagesGen", "StoreError"),
            "ContentGen throttling retrier shrinks": lambda d: next(
                r for r in nested_task(d, "ContentGen")["Retry"] if LAMBDA_THROTTLED in r["ErrorEquals"]
            ).update(MaxAttempts=3),
            "throttling shares the short retrier": lambda d: nested_task(d, "BookBuilder")["Retry"][0][
                "ErrorEquals"
            ].append(LAMBDA_THROTTLED),
            "StoreAccessDenied retried": lambda d: nested_task(d, "PrepareCourse")["Retry"][-1]["ErrorEquals"].append(
                "StoreAccessDenied"
            ),
            "BothImagesGen loses TimeoutSeconds": lambda d: nested_task(d, "BothImagesGen").pop("TimeoutSeconds"),
            "VisualPlanner TimeoutSeconds at the function's Timeout": lambda d: nested_task(
                d, "VisualPlanner"
            ).update(TimeoutSeconds=function_timeouts(self.template)["VisualPlannerFunctionArn"]),
        }
        for case, mutate in cases.items():
            with self.subTest(case=case):
                broken = copy.deepcopy(self.definition)
                mutate(broken)
                self.assertNotEqual(task_policy_problems(broken, self.template), [], case)

    def test_module_and_lab_iterations_catch_everything_into_a_record_and_nothing_else_catches(self):
        states = dict(walk_states(self.definition["States"]))
        caught = sorted(n for n, s in states.items() if "Catch" in s)
        self.assertEqual(caught, sorted(CAUGHT_STATES + ["Both" + n for n in CAUGHT_STATES]))
        for name in caught:
            with self.subTest(state=name):
                (catcher,) = states[name]["Catch"]
                self.assertEqual(catcher["ErrorEquals"], ["States.ALL"])
                self.assertEqual(catcher["ResultPath"], "$.failure", "the iteration input (its number or id) is kept")
                record = states[catcher["Next"]]
                self.assertEqual(record["Type"], "Pass")
                self.assertTrue(record.get("End"))
                params = record["Parameters"]
                self.assertEqual(params["state"], name)
                self.assertEqual((params["error.$"], params["cause.$"]), ("$.failure.Error", "$.failure.Cause"))
                self.assertIn("lab_id.$" if "Lab" in name else "module_number.$", params)

    def test_a_book_with_missing_parts_ends_in_course_incomplete_with_the_book_builders_cause(self):
        choice = self.definition["States"][self.definition["States"]["BookBuilder"]["Next"]]
        self.assertEqual(choice["Type"], "Choice")
        (rule,) = choice["Choices"]
        self.assertEqual((rule["Variable"], rule["NumericGreaterThan"]), ("$.failed", 0))
        fail = self.definition["States"][rule["Next"]]
        self.assertEqual((fail["Type"], fail["Error"], fail["CausePath"]), ("Fail", "CourseIncomplete", "$.incomplete"))
        self.assertEqual(self.definition["States"][choice["Default"]]["Type"], "Succeed")

    def test_both_route_runs_the_same_states_as_the_single_routes(self):
        both = self.definition["States"]["TheoryAndLabs"]["Branches"]

        def normalise(states: dict, prefix: str) -> str:
            text = json.dumps(states, sort_keys=True)
            return re.sub(rf'"{prefix}(\w+)"', r'"\1"', text)

        top = self.definition["States"]
        theory_names = ["ModulesMap", "CombineResults"]
        labs_names = ["LabPlanner", "LabsMap", "LabsResults"]
        single_theory = {n: {k: v for k, v in top[n].items() if k not in ("Next", "End")} for n in theory_names}
        single_labs = {n: {k: v for k, v in top[n].items() if k not in ("Next", "End")} for n in labs_names}
        branch_theory = {n: {k: v for k, v in s.items() if k not in ("Next", "End")} for n, s in both[0]["States"].items()}
        branch_labs = {n: {k: v for k, v in s.items() if k not in ("Next", "End")} for n, s in both[1]["States"].items()}
        self.assertEqual(normalise(branch_theory, "Both"), normalise(single_theory, ""))
        self.assertEqual(normalise(branch_labs, "Both"), normalise(single_labs, ""))

    def test_module_map_reads_concurrency_from_the_request(self):
        modules_map = self.definition["States"]["ModulesMap"]
        self.assertEqual(modules_map["MaxConcurrencyPath"], "$.course.max_concurrency")
        self.assertEqual(modules_map["ItemsPath"], "$.course.modules")
        self.assertEqual(modules_map["ItemProcessor"]["ProcessorConfig"]["Mode"], "INLINE")
        self.assertEqual(modules_map["ResultPath"], "$.all_modules_results")
        lessons_map = modules_map["ItemProcessor"]["States"]["LessonsMap"]
        self.assertEqual(lessons_map["MaxConcurrencyPath"], "$.lesson_concurrency")
        self.assertNotIn("MaxConcurrency", lessons_map)
        self.assertEqual(modules_map["ItemSelector"]["lesson_concurrency.$"], "$.course.lesson_concurrency")

    def test_no_path_indexes_an_array_and_then_selects_a_field(self):
        # moto's engine (the fidelity suite) evaluates `$[0].x` and `$.a[0].x` to lists where Step
        # Functions selects the value; tests/fidelity/KNOWN_DIFFERENCES.md.
        offending = re.findall(r'"(\$[^"]*\[\d+\]\.[^"]*)"', self.definition_text)
        self.assertEqual(offending, [])

    def test_both_keeps_the_course_and_names_the_branch_outputs(self):
        parallel = self.definition["States"]["TheoryAndLabs"]
        self.assertEqual(parallel["ResultSelector"], {"theory.$": "$[0]", "labs.$": "$[1]"})
        self.assertEqual(parallel["ResultPath"], "$.branches")

    # -- data flow through the definition

    def run_course(self, content_type, modules, lessons, visuals, labs):
        course = FakeCourse(self.structs, modules, lessons, visuals, labs)
        interpreter = Interpreter(self.definition, course.handlers())
        output = interpreter.run(execution_input(content_type))
        course.check("BookBuilderOutput", output)
        self.assertEqual(len(course.book_inputs), 1)
        return course, interpreter, output

    def test_theory_course_reaches_book_builder_with_a_valid_input(self):
        course, interpreter, output = self.run_course("theory", 4, 3, 2, 1)
        book_input = course.book_inputs[0]
        self.assertEqual(book_input["content_type"], "theory")
        self.assertEqual(book_input["module_numbers"], [1, 2, 3, 4])
        self.assertEqual(book_input["module_results"], [{"module_number": m, "lesson_count": 3} for m in (1, 2, 3, 4)])
        self.assertEqual(interpreter.invocations, {"PrepareCourse": 1, "ContentGen": 4, "VisualPlanner": 12, "ImagesGen": 4, "BookBuilder": 1})
        self.assertEqual(output["lesson_count"], 12)

    def test_labs_course_skips_theory(self):
        course, interpreter, _ = self.run_course("labs", 4, 3, 2, 2)
        self.assertEqual(interpreter.invocations, {"PrepareCourse": 1, "LabPlanner": 1, "LabWriter": 24, "BookBuilder": 1})
        self.assertEqual(course.book_inputs[0]["lab_count"], 24)
        self.assertEqual(course.book_inputs[0]["content_type"], "labs")

    def test_both_course_merges_theory_and_labs(self):
        course, interpreter, _ = self.run_course("both", 4, 3, 2, 1)
        self.assertEqual(
            interpreter.invocations,
            {"PrepareCourse": 1, "ContentGen": 4, "VisualPlanner": 12, "ImagesGen": 4, "LabPlanner": 1, "LabWriter": 12, "BookBuilder": 1},
        )
        book_input = course.book_inputs[0]
        self.assertEqual(book_input["content_type"], "both")
        self.assertEqual(book_input["lab_count"], 12)
        self.assertEqual(len(book_input["module_results"]), 4)

    def test_lessons_without_visuals_and_lessons_without_labs(self):
        # Empty prompt lists and an empty lab list must flow through as [] and 0.
        course, interpreter, _ = self.run_course("both", 2, 3, 0, 0)
        self.assertEqual(interpreter.invocations.get("LabWriter", 0), 0)
        self.assertEqual(course.book_inputs[0]["lab_count"], 0)

    def test_a_failed_module_or_lab_lets_the_others_finish_and_reaches_book_builder(self):
        for content_type in ("theory", "labs", "both"):
            with self.subTest(content_type=content_type):
                course = FakeCourse(self.structs, 4, 3, 2, 1)
                course.failing_modules = {2}
                course.failing_labs = {"03-01-01"}
                interpreter = Interpreter(self.definition, course.handlers())
                with self.assertRaises(StatesError) as ctx:
                    interpreter.run(execution_input(content_type))
                self.assertEqual(ctx.exception.error, "CourseIncomplete")
                self.assertEqual(interpreter.invocations["BookBuilder"], 1)
                book_input = course.book_inputs[0]
                if content_type != "labs":
                    self.assertIn("modules [2]", ctx.exception.cause)
                    self.assertEqual(interpreter.invocations["ContentGen"], 4)
                    self.assertEqual(interpreter.invocations["ImagesGen"], 3, "the failed module stops, the others finish")
                    failed = [r for r in book_input["module_results"] if "error" in r]
                    self.assertEqual(len(failed), 1)
                    self.assertEqual(failed[0]["module_number"], 2)
                    self.assertEqual(failed[0]["state"], "BothContentGen" if content_type == "both" else "ContentGen")
                    self.assertEqual(failed[0]["error"], "ModelError")
                    self.assertIn("module 2 refused", failed[0]["cause"])
                if content_type != "theory":
                    self.assertIn("03-01-01", ctx.exception.cause)
                    self.assertEqual(interpreter.invocations["LabWriter"], 12)
                    self.assertEqual(book_input["lab_count"], 12)
                    (failed_lab,) = [r for r in book_input["lab_results"] if isinstance(r, dict)]
                    self.assertEqual((failed_lab["lab_id"], failed_lab["error"]), ("03-01-01", "ModelError"))
                    self.assertEqual(len([r for r in book_input["lab_results"] if isinstance(r, str)]), 11)

    def test_unknown_content_type_fails(self):
        course = FakeCourse(self.structs, 1, 1, 0, 0)
        handlers = course.handlers()
        handlers["PrepareCourse"] = lambda event: dict(course.prepare_course(event), content_type="poetry")
        with self.assertRaises(StatesError) as ctx:
            Interpreter(self.definition, handlers).run(execution_input("theory"))
        self.assertEqual(ctx.exception.error, "InvalidRequest")

    def test_payloads_stay_far_below_256_kib_for_the_largest_courses(self):
        for content_type, modules, lessons, visuals, labs in (
            ("theory", 200, 10, 5, 0),
            ("both", 200, 10, 3, 1),
            ("theory", 200, 50, 5, 0),
        ):
            with self.subTest(content_type=content_type, modules=modules, lessons=lessons):
                _, interpreter, _ = self.run_course(content_type, modules, lessons, visuals, labs)
                size, where = max(interpreter.sizes)
                self.assertLess(size, PAYLOAD_BUDGET, f"largest payload {size} bytes at {where}")

    def test_payloads_stay_below_half_the_limit_when_every_module_fails_with_the_longest_message(self):
        # StageError::wire_message clips a message to WIRE_MESSAGE_CHARS; each failed module's
        # Catch record carries one.
        chars = int(re.search(r"pub const WIRE_MESSAGE_CHARS: usize = (\d+);", ERRORS.read_text(encoding="utf-8")).group(1))
        course = FakeCourse(self.structs, 200, 10, 5, 0)
        course.failing_modules = set(range(1, 201))
        course.failure_message_chars = chars
        interpreter = Interpreter(self.definition, course.handlers())
        with self.assertRaises(StatesError) as ctx:
            interpreter.run(execution_input("theory"))
        self.assertEqual(ctx.exception.error, "CourseIncomplete")
        size, where = max(interpreter.sizes)
        self.assertLess(size, PAYLOAD_LIMIT // 2, f"largest payload {size} bytes at {where}")

    # -- events

    def test_function_events_match_the_contracts(self):
        for stage, filename in EVENT_FILES.items():
            with self.subTest(event=filename):
                event = json.loads((EVENTS / filename).read_text(encoding="utf-8"))
                _, input_struct, _ = STAGES[stage]
                self.assertEqual(contract_problems(self.structs, input_struct, event), [])
                if "project_folder" in event:
                    self.assertEqual(event["project_folder"], "kubernetes-for-devops")
                if "outline_key" in event:
                    self.assertEqual(event["outline_key"], "kubernetes-for-devops/course/outline.yaml")

    def test_execution_inputs_are_requests_the_definition_runs(self):
        files = sorted(EVENTS.glob("execution-*.json"))
        self.assertGreaterEqual(len(files), 4)
        known = {f.name for f in self.structs["RawRequest"]}
        for path in files:
            with self.subTest(event=path.name):
                request = json.loads(path.read_text(encoding="utf-8"))
                self.assertEqual(set(request) - known, set(), "fields PrepareCourse does not know")
                self.assertEqual(request["outline_key"], "kubernetes-for-devops/course/outline.yaml")
                course = FakeCourse(self.structs, 4, 3, 1, 1)
                Interpreter(self.definition, course.handlers()).run(request)

    # -- start by upload (EventBridge)

    def test_an_outline_uploaded_under_incoming_starts_the_course_with_its_key(self):
        rules = resources_of_type(self.template, "AWS::Events::Rule")
        self.assertEqual(len(rules), 1)
        rule = next(iter(rules.values()))["Properties"]
        bucket = self.template["Resources"]["CourseBucket"]["Properties"]
        self.assertTrue(bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"])
        event = json.loads((EVENTS / "s3-outline-uploaded.json").read_text(encoding="utf-8"))
        name = event["detail"]["bucket"]["name"]
        pattern = rule["EventPattern"]
        self.assertTrue(event_matches(pattern, event, {"CourseBucket": name}))

        (target,) = rule["Targets"]
        self.assertEqual(target["Arn"], {"Ref": "CourseStateMachine"})
        request = json.loads(transform_input(target["InputTransformer"], event))
        self.assertEqual(request, {"outline_key": "incoming/kubernetes-devops.yaml"})
        self.assertEqual(contract_problems(self.structs, "RawRequest", request), [])

        def uploaded(key: str, bucket_name: str = name, detail_type: str = "Object Created") -> bool:
            other = copy.deepcopy(event)
            other["detail"]["object"]["key"] = key
            other["detail"]["bucket"]["name"] = bucket_name
            other["detail-type"] = detail_type
            return event_matches(pattern, other, {"CourseBucket": name})

        self.assertTrue(uploaded("incoming/team/rust.yml"))
        # `coursegen aws start` uploads here; the stages write JSON, Markdown, images and the book.
        for key in ["k8s/course/outline.yaml", "incoming/course/request.json", "incoming/book/index.html",
                    "incoming/lessons/module-01/lesson-01-intro.md", "outline.yaml"]:
            with self.subTest(key=key):
                self.assertFalse(uploaded(key))
        self.assertFalse(uploaded("incoming/x.yaml", bucket_name="another-bucket"))
        self.assertFalse(uploaded("incoming/x.yaml", detail_type="Object Deleted"))

    def test_the_upload_rule_may_only_start_the_course_state_machine(self):
        rule = next(iter(resources_of_type(self.template, "AWS::Events::Rule").values()))["Properties"]
        role_id = rule["Targets"][0]["RoleArn"]["Fn::GetAtt"][0]
        role = self.template["Resources"][role_id]["Properties"]
        principals = [s["Principal"]["Service"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
        self.assertEqual(principals, ["events.amazonaws.com"])
        statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
        self.assertEqual(
            [(s["Effect"], s["Action"], s["Resource"]) for s in statements],
            [("Allow", "states:StartExecution", {"Ref": "CourseStateMachine"})],
        )
        # An upload whose execution could not be started lands in a dead-letter queue.
        queue_id = rule["Targets"][0]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        self.assertEqual(self.template["Resources"][queue_id]["Type"], "AWS::SQS::Queue")


def event_matches(pattern, event, refs: dict) -> bool:
    """EventBridge pattern matching for what the template uses: exact values (a `Ref` resolved
    through `refs`), `wildcard` (`*` matches any characters) and nested objects."""
    if isinstance(pattern, dict):
        return all(isinstance(event, dict) and field in event and event_matches(sub, event[field], refs)
                   for field, sub in pattern.items())
    for option in pattern:
        if isinstance(option, dict) and "Ref" in option:
            option = refs[option["Ref"]]
        if isinstance(option, dict) and "wildcard" in option:
            regex = "".join(".*" if c == "*" else re.escape(c) for c in option["wildcard"])
            if isinstance(event, str) and re.fullmatch(regex, event, flags=re.DOTALL):
                return True
        elif option == event:
            return True
    return False


def transform_input(transformer: dict, event: dict) -> str:
    """An EventBridge input transformer: each `<name>` of the template replaced by the value at
    its path; a bare placeholder whose value is a string becomes a JSON string."""
    values = {}
    for name, path in transformer["InputPathsMap"].items():
        value = event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        values[name] = value

    return re.sub(r"<([A-Za-z0-9_.-]+)>", lambda m: json.dumps(values[m.group(1)]), transformer["InputTemplate"])


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)
