//! State machine definitions: the model, load-time validation (every unsupported field or
//! feature is a [`LoadError`] naming the state and field) and `${Name}` placeholder
//! substitution.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use serde_json::{Map, Value};

use crate::choice::ChoiceRule;
use crate::error::{names, LoadError};
use crate::invoker::{is_lambda_function_arn, TaskInvoker, LAMBDA_INVOKE};
use crate::time::parse_timestamp;
use crate::{intrinsics, paths};

/// The state name used in a [`LoadError`] about the top level of a definition.
pub const ROOT: &str = "<root>";

/// Largest integer Step Functions accepts for seconds and attempt counts.
const MAX_SECONDS: u64 = 99_999_999;
/// Largest `MaxDelaySeconds`.
const MAX_DELAY_SECONDS: u64 = 31_622_400;
/// Longest state name.
const MAX_NAME_CHARS: usize = 80;

/// Fields that Step Functions defines but this interpreter does not run.
const UNSUPPORTED_FIELDS: &[(&str, &str)] = &[
    ("Arguments", "JSONata 'Arguments' is not supported; use the JSONPath query language"),
    ("Output", "JSONata 'Output' is not supported; use the JSONPath query language"),
    ("Assign", "variables ('Assign') are not supported"),
    ("Items", "JSONata 'Items' is not supported; use 'ItemsPath'"),
    ("ItemReader", "Distributed Map 'ItemReader' is not supported"),
    ("ResultWriter", "Distributed Map 'ResultWriter' is not supported"),
    ("ItemBatcher", "Distributed Map 'ItemBatcher' is not supported"),
    ("ToleratedFailurePercentage", "tolerated failure thresholds are not supported"),
    ("ToleratedFailurePercentagePath", "tolerated failure thresholds are not supported"),
    ("ToleratedFailureCount", "tolerated failure thresholds are not supported"),
    ("ToleratedFailureCountPath", "tolerated failure thresholds are not supported"),
    ("Label", "Distributed Map 'Label' is not supported"),
    ("Credentials", "cross-account task 'Credentials' are not supported"),
];

/// A loaded, validated state machine, ready for [`crate::Executor::execute`].
#[derive(Debug)]
pub struct StateMachine {
    name: String,
    comment: Option<String>,
    pub(crate) timeout_seconds: Option<u64>,
    pub(crate) root: Scope,
    definition: Value,
}

/// A set of states with a start state: the top level, a Map's item processor or a Parallel
/// branch.
#[derive(Debug)]
pub(crate) struct Scope {
    pub start_at: String,
    pub states: HashMap<String, State>,
}

/// `InputPath` / `OutputPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IoPath {
    /// Absent: `$`.
    Default,
    /// JSON null: `{}`.
    Null,
    /// A path.
    Path(String),
}

/// One state.
#[derive(Debug)]
pub(crate) struct State {
    pub kind: Kind,
    pub input_path: IoPath,
    pub output_path: IoPath,
    pub result_path: Option<Option<String>>,
    pub parameters: Option<Value>,
    pub result_selector: Option<Value>,
    /// `Next`; `None` for `End: true` and for Choice, Succeed and Fail.
    pub next: Option<String>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    /// Whether any field of the state refers to the context object (`$$`).
    pub needs_context: bool,
    /// Whether a context reference may read `$$.Execution.Input` (which can be large).
    pub needs_execution_input: bool,
}

/// A fixed number or a path to read it from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Number {
    Fixed(u64),
    Path(String),
}

/// What a Task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TaskTarget {
    /// `arn:aws:states:::lambda:invoke`.
    LambdaInvoke,
    /// A direct function ARN.
    LambdaArn(String),
    /// Any other resource the invoker declared support for.
    Other(String),
}

/// Task fields.
#[derive(Debug)]
pub(crate) struct TaskSpec {
    pub target: TaskTarget,
    pub timeout: Option<Number>,
}

/// Map fields.
#[derive(Debug)]
pub(crate) struct MapSpec {
    pub items_path: Option<String>,
    pub item_selector: Option<Value>,
    pub processor: Box<Scope>,
    pub max_concurrency: Number,
}

/// Wait fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WaitSpec {
    Seconds(u64),
    SecondsPath(String),
    Timestamp(SystemTime),
    TimestampPath(String),
}

/// Fail `Error` / `Cause`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FailField {
    Absent,
    Literal(String),
    Path(String),
    Intrinsic(String),
}

/// The state-type specific part.
#[derive(Debug)]
pub(crate) enum Kind {
    Pass { result: Option<Value> },
    Task(TaskSpec),
    Map(MapSpec),
    Parallel { branches: Vec<Scope> },
    Choice { rules: Vec<ChoiceRule>, default: Option<String> },
    Wait(WaitSpec),
    Succeed,
    Fail { error: FailField, cause: FailField },
}

impl Kind {
    /// The `Type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Pass { .. } => "Pass",
            Kind::Task(_) => "Task",
            Kind::Map(_) => "Map",
            Kind::Parallel { .. } => "Parallel",
            Kind::Choice { .. } => "Choice",
            Kind::Wait(_) => "Wait",
            Kind::Succeed => "Succeed",
            Kind::Fail { .. } => "Fail",
        }
    }
}

/// One `Retry` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub full_jitter: bool,
}

/// One `Catch` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: Option<Option<String>>,
}

impl StateMachine {
    /// Parses and validates a definition, accepting only Lambda task resources.
    pub fn from_json(text: &str) -> Result<Self, LoadError> {
        Self::from_value(parse_json(text)?)
    }

    /// Validates a parsed definition, accepting only Lambda task resources.
    pub fn from_value(definition: Value) -> Result<Self, LoadError> {
        Self::load(definition, &crate::invoker::is_lambda_resource)
    }

    /// Parses and validates a definition, accepting the task resources `invoker` supports.
    pub fn from_json_for(text: &str, invoker: &dyn TaskInvoker) -> Result<Self, LoadError> {
        Self::from_value_for(parse_json(text)?, invoker)
    }

    /// Validates a parsed definition, accepting the task resources `invoker` supports.
    pub fn from_value_for(definition: Value, invoker: &dyn TaskInvoker) -> Result<Self, LoadError> {
        Self::load(definition, &|resource: &str| invoker.supports(resource))
    }

    fn load(definition: Value, supports: &dyn Fn(&str) -> bool) -> Result<Self, LoadError> {
        let Some(obj) = definition.as_object() else {
            return Err(LoadError::new(ROOT, "definition", "the definition must be a JSON object"));
        };
        let fields = Fields::new(ROOT, "", obj);
        fields.check_allowed(
            &["StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"],
            "the top level of a state machine",
        )?;
        fields.check_query_language()?;
        let comment = fields.opt_str("Comment")?.map(str::to_string);
        fields.opt_str("Version")?;
        let timeout_seconds = fields.opt_int("TimeoutSeconds", 1, MAX_SECONDS)?;
        let mut loader = Loader { supports, names: HashSet::new() };
        let root = loader.scope(ROOT, "", obj)?;
        Ok(Self { name: "StateMachine".to_string(), comment, timeout_seconds, root, definition })
    }

    /// Sets the machine name used in `$$.StateMachine` and execution ids.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The machine name (default `StateMachine`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The top-level `Comment`.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The top-level `StartAt`.
    pub fn start_at(&self) -> &str {
        &self.root.start_at
    }

    /// The definition as loaded.
    pub fn definition(&self) -> &Value {
        &self.definition
    }

    /// The names of all states at every nesting level, sorted.
    pub fn state_names(&self) -> Vec<String> {
        fn collect(scope: &Scope, out: &mut Vec<String>) {
            for (name, state) in &scope.states {
                out.push(name.clone());
                match &state.kind {
                    Kind::Map(map) => collect(&map.processor, out),
                    Kind::Parallel { branches } => branches.iter().for_each(|b| collect(b, out)),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        collect(&self.root, &mut out);
        out.sort();
        out
    }

    /// The `Type` of the state called `name` at any nesting level.
    pub fn state_type(&self, name: &str) -> Option<&'static str> {
        fn find(scope: &Scope, name: &str) -> Option<&'static str> {
            if let Some(state) = scope.states.get(name) {
                return Some(state.kind.type_name());
            }
            scope.states.values().find_map(|state| match &state.kind {
                Kind::Map(map) => find(&map.processor, name),
                Kind::Parallel { branches } => branches.iter().find_map(|b| find(b, name)),
                _ => None,
            })
        }
        find(&self.root, name)
    }
}

fn parse_json(text: &str) -> Result<Value, LoadError> {
    serde_json::from_str(text)
        .map_err(|e| LoadError::new(ROOT, "definition", format!("the definition is not valid JSON: {e}")))
}

/// Field access on one JSON object with errors naming the state and field.
struct Fields<'a> {
    state: &'a str,
    prefix: String,
    obj: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(state: &'a str, prefix: &str, obj: &'a Map<String, Value>) -> Self {
        Self { state, prefix: prefix.to_string(), obj }
    }

    fn field(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn err(&self, name: &str, message: impl Into<String>) -> LoadError {
        LoadError::new(self.state, self.field(name), message)
    }

    fn has(&self, name: &str) -> bool {
        self.obj.contains_key(name)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name)
    }

    fn check_allowed(&self, allowed: &[&str], what: &str) -> Result<(), LoadError> {
        for key in self.obj.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            if let Some((_, why)) = UNSUPPORTED_FIELDS.iter().find(|(f, _)| f == key) {
                return Err(self.err(key, format!("unsupported field: {why}")));
            }
            return Err(self.err(key, format!("unknown field '{key}' for {what}")));
        }
        Ok(())
    }

    fn check_query_language(&self) -> Result<(), LoadError> {
        match self.opt_str("QueryLanguage")? {
            None | Some("JSONPath") => Ok(()),
            Some("JSONata") => {
                Err(self.err("QueryLanguage", "unsupported query language 'JSONata': only JSONPath is supported"))
            }
            Some(other) => Err(self.err("QueryLanguage", format!("unknown query language '{other}'"))),
        }
    }

    fn opt_str(&self, name: &str) -> Result<Option<&'a str>, LoadError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(name, "must be a string")),
        }
    }

    fn req_str(&self, name: &str) -> Result<&'a str, LoadError> {
        self.opt_str(name)?.ok_or_else(|| self.err(name, "is required"))
    }

    fn opt_int(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, LoadError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => match value.as_u64() {
                Some(n) if n >= min && n <= max => Ok(Some(n)),
                _ => Err(self.err(name, format!("must be an integer between {min} and {max}"))),
            },
        }
    }

    fn opt_path(&self, name: &str) -> Result<Option<String>, LoadError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(path) => {
                paths::validate_path(path).map_err(|m| self.err(name, m.to_string()))?;
                Ok(Some(path.to_string()))
            }
        }
    }

    fn io_path(&self, name: &str) -> Result<IoPath, LoadError> {
        match self.get(name) {
            None => Ok(IoPath::Default),
            Some(Value::Null) => Ok(IoPath::Null),
            Some(Value::String(path)) => {
                paths::validate_path(path).map_err(|m| self.err(name, m.to_string()))?;
                Ok(IoPath::Path(path.clone()))
            }
            Some(_) => Err(self.err(name, "must be a path string or null")),
        }
    }

    fn result_path(&self, name: &str) -> Result<Option<Option<String>>, LoadError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(path)) => {
                paths::validate_reference_path(path).map_err(|m| self.err(name, m.to_string()))?;
                Ok(Some(Some(path.clone())))
            }
            Some(_) => Err(self.err(name, "must be a reference path string or null")),
        }
    }

    fn template(&self, name: &str) -> Result<Option<Value>, LoadError> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => {
                paths::validate_template(value)
                    .map_err(|e| self.err(&format!("{name}{}", e.location), e.problem.to_string()))?;
                Ok(Some(value.clone()))
            }
        }
    }

    /// `Next` / `End`: exactly one of them.
    fn transition(&self) -> Result<Option<String>, LoadError> {
        let next = self.opt_str("Next")?;
        let end = match self.get("End") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(self.err("End", "must be a boolean")),
        };
        match (next, end) {
            (Some(_), true) => Err(self.err("Next", "a state must not have both 'Next' and 'End: true'")),
            (Some(next), false) => Ok(Some(next.to_string())),
            (None, true) => Ok(None),
            (None, false) => Err(self.err("Next", "a state must have exactly one of 'Next' or 'End: true'")),
        }
    }

    fn error_equals(&self, name: &str) -> Result<Vec<String>, LoadError> {
        let Some(Value::Array(items)) = self.get(name) else {
            return Err(self.err(name, "is required and must be a non-empty array of error names"));
        };
        if items.is_empty() {
            return Err(self.err(name, "must not be empty"));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item.as_str() {
                Some(s) if !s.is_empty() => out.push(s.to_string()),
                _ => return Err(self.err(name, "must contain only non-empty strings")),
            }
        }
        if out.len() > 1 && out.iter().any(|e| e == names::ALL) {
            return Err(self.err(name, "'States.ALL' must appear alone in 'ErrorEquals'"));
        }
        Ok(out)
    }

    /// The elements of the array field `name` (else `not_array`), in order, each an object
    /// (else "`what` must be an object") seen as fields named `name[i].…`.
    fn objects(
        &self,
        name: &'a str,
        not_array: &str,
        what: &'a str,
    ) -> Result<impl ExactSizeIterator<Item = Result<Fields<'a>, LoadError>> + 'a, LoadError> {
        let Some(Value::Array(items)) = self.get(name) else {
            return Err(self.err(name, not_array));
        };
        let (state, parent) = (self.state, self.prefix.clone());
        Ok(items.iter().enumerate().map(move |(i, item)| match item.as_object() {
            Some(obj) => Ok(Fields::new(state, &format!("{name}[{i}]."), obj)),
            None => Err(LoadError::new(state, format!("{parent}{name}[{i}]"), format!("{what} must be an object"))),
        }))
    }

    /// `ErrorEquals` of retrier or catcher `i` of `count` (`what`): `States.ALL` only in the last.
    fn error_equals_at(&self, i: usize, count: usize, what: &str) -> Result<Vec<String>, LoadError> {
        let error_equals = self.error_equals("ErrorEquals")?;
        if error_equals.iter().any(|e| e == names::ALL) && i + 1 != count {
            return Err(self.err("ErrorEquals", format!("{what} with 'States.ALL' must be the last one")));
        }
        Ok(error_equals)
    }
}

/// Builds scopes, tracking state names across the whole machine.
struct Loader<'s> {
    supports: &'s dyn Fn(&str) -> bool,
    names: HashSet<String>,
}

/// The fields a state of type `type_name` may have besides `Type`, `Comment` and
/// `QueryLanguage`; `None` for an unknown type.
fn allowed_fields(type_name: &str) -> Option<&'static [&'static str]> {
    Some(match type_name {
        "Pass" => &["InputPath", "OutputPath", "Parameters", "ResultPath", "Result", "Next", "End"],
        "Task" => &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Retry",
            "Catch",
            "Next",
            "End",
        ],
        "Map" => &[
            "InputPath",
            "OutputPath",
            "ItemsPath",
            "ItemSelector",
            "Parameters",
            "Iterator",
            "ItemProcessor",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
            "Next",
            "End",
        ],
        "Parallel" => &[
            "InputPath",
            "OutputPath",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Branches",
            "Retry",
            "Catch",
            "Next",
            "End",
        ],
        "Choice" => &["InputPath", "OutputPath", "Choices", "Default"],
        "Wait" => &["InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Next", "End"],
        "Succeed" => &["InputPath", "OutputPath"],
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        _ => return None,
    })
}

/// The states `state` can transition to, each with the field naming it.
fn transition_targets(state: &State) -> Vec<(String, &str)> {
    let mut targets: Vec<(String, &str)> = Vec::new();
    if let Some(next) = &state.next {
        targets.push(("Next".to_string(), next));
    }
    if let Kind::Choice { rules, default } = &state.kind {
        for (i, rule) in rules.iter().enumerate() {
            if let Some(next) = rule.next() {
                targets.push((format!("Choices[{i}].Next"), next));
            }
        }
        if let Some(default) = default {
            targets.push(("Default".to_string(), default));
        }
    }
    for (i, catcher) in state.catch.iter().enumerate() {
        targets.push((format!("Catch[{i}].Next"), &catcher.next));
    }
    targets
}

/// Every transition target exists in the same scope.
fn check_targets_exist(states: &HashMap<String, State>) -> Result<(), LoadError> {
    for (name, state) in states {
        for (field, target) in transition_targets(state) {
            if !states.contains_key(target) {
                return Err(LoadError::new(
                    name.as_str(),
                    field,
                    format!("the target state '{target}' does not exist in the same scope"),
                ));
            }
        }
    }
    Ok(())
}

/// Every state is reachable from `start_at`; the first unreachable one by name is reported.
fn check_reachable(start_at: &str, states: &HashMap<String, State>) -> Result<(), LoadError> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack = vec![start_at];
    while let Some(name) = stack.pop() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(state) = states.get(name) {
            stack.extend(transition_targets(state).into_iter().map(|(_, target)| target));
        }
    }
    let mut unreachable: Vec<&String> = states.keys().filter(|n| !seen.contains(n.as_str())).collect();
    unreachable.sort();
    match unreachable.first() {
        Some(name) => {
            Err(LoadError::new(name.as_str(), "Type", format!("the state '{name}' is not reachable from '{start_at}'")))
        }
        None => Ok(()),
    }
}

impl Loader<'_> {
    /// Loads `StartAt` + `States` of `obj`; errors name `owner` and fields under `prefix`.
    fn scope(&mut self, owner: &str, prefix: &str, obj: &Map<String, Value>) -> Result<Scope, LoadError> {
        let fields = Fields::new(owner, prefix, obj);
        let start_at = fields.req_str("StartAt")?.to_string();
        let Some(states_value) = obj.get("States") else {
            return Err(fields.err("States", "is required"));
        };
        let Some(states_obj) = states_value.as_object() else {
            return Err(fields.err("States", "must be an object"));
        };
        if states_obj.is_empty() {
            return Err(fields.err("States", "must contain at least one state"));
        }
        let mut states = HashMap::with_capacity(states_obj.len());
        for (name, value) in states_obj {
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                return Err(LoadError::new(
                    name.as_str(),
                    fields.field("States"),
                    format!("state names must be 1 to {MAX_NAME_CHARS} characters long"),
                ));
            }
            if !self.names.insert(name.clone()) {
                return Err(LoadError::new(
                    name.as_str(),
                    fields.field("States"),
                    "state names must be unique within the whole state machine",
                ));
            }
            let Some(state_obj) = value.as_object() else {
                return Err(LoadError::new(name.as_str(), "Type", "a state must be a JSON object"));
            };
            states.insert(name.clone(), self.state(name, state_obj)?);
        }
        if !states.contains_key(&start_at) {
            return Err(fields.err("StartAt", format!("the start state '{start_at}' does not exist")));
        }
        check_targets_exist(&states)?;
        check_reachable(&start_at, &states)?;
        Ok(Scope { start_at, states })
    }

    fn state(&mut self, name: &str, obj: &Map<String, Value>) -> Result<State, LoadError> {
        let f = Fields::new(name, "", obj);
        let type_name = f.req_str("Type")?;
        let common: &[&str] = &["Type", "Comment", "QueryLanguage"];
        let Some(allowed) = allowed_fields(type_name) else {
            return Err(f.err("Type", format!("unknown state type '{type_name}'")));
        };
        let all_allowed: Vec<&str> = common.iter().chain(allowed.iter()).copied().collect();
        f.check_allowed(&all_allowed, &format!("a {type_name} state"))?;
        f.check_query_language()?;
        f.opt_str("Comment")?;

        let input_path = f.io_path("InputPath")?;
        let output_path = f.io_path("OutputPath")?;
        let result_path = f.result_path("ResultPath")?;
        let parameters = if type_name == "Map" { None } else { f.template("Parameters")? };
        let result_selector = f.template("ResultSelector")?;
        let next = match type_name {
            "Choice" | "Succeed" | "Fail" => None,
            _ => f.transition()?,
        };
        let retry = if f.has("Retry") { self.retriers(&f)? } else { Vec::new() };
        let catch = if f.has("Catch") { self.catchers(&f)? } else { Vec::new() };

        let kind = match type_name {
            "Pass" => Kind::Pass { result: f.get("Result").cloned() },
            "Task" => Kind::Task(self.task(&f, parameters.as_ref())?),
            "Map" => Kind::Map(self.map(&f)?),
            "Parallel" => Kind::Parallel { branches: self.branches(&f)? },
            "Choice" => choice(&f)?,
            "Wait" => Kind::Wait(wait(&f)?),
            "Succeed" => Kind::Succeed,
            _ => Kind::Fail {
                error: fail_field(&f, "Error", "ErrorPath")?,
                cause: fail_field(&f, "Cause", "CausePath")?,
            },
        };
        let mut context_use = ContextUse::default();
        obj.iter().filter(|(k, _)| !matches!(k.as_str(), "Iterator" | "ItemProcessor" | "Branches")).for_each(
            |(k, v)| {
                context_use.scan_str(k);
                context_use.scan(v);
            },
        );
        Ok(State {
            kind,
            input_path,
            output_path,
            result_path,
            parameters,
            result_selector,
            next,
            retry,
            catch,
            needs_context: context_use.any,
            needs_execution_input: context_use.execution_input,
        })
    }

    fn retriers(&self, f: &Fields<'_>) -> Result<Vec<Retrier>, LoadError> {
        let items = f.objects("Retry", "must be an array of retriers", "a retrier")?;
        let count = items.len();
        let mut out = Vec::with_capacity(count);
        for (i, r) in items.enumerate() {
            let r = r?;
            r.check_allowed(
                &[
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                ],
                "a retrier",
            )?;
            r.opt_str("Comment")?;
            let error_equals = r.error_equals_at(i, count, "a retrier")?;
            let backoff_rate = match r.get("BackoffRate") {
                None => 2.0,
                Some(v) => match v.as_f64() {
                    Some(rate) if rate >= 1.0 && rate.is_finite() => rate,
                    _ => return Err(r.err("BackoffRate", "must be a number greater than or equal to 1.0")),
                },
            };
            let full_jitter = match r.opt_str("JitterStrategy")? {
                None | Some("NONE") => false,
                Some("FULL") => true,
                Some(other) => return Err(r.err("JitterStrategy", format!("must be 'FULL' or 'NONE', not '{other}'"))),
            };
            out.push(Retrier {
                error_equals,
                interval_seconds: r.opt_int("IntervalSeconds", 1, MAX_SECONDS)?.unwrap_or(1),
                max_attempts: r.opt_int("MaxAttempts", 0, MAX_SECONDS)?.unwrap_or(3),
                backoff_rate,
                max_delay_seconds: r.opt_int("MaxDelaySeconds", 1, MAX_DELAY_SECONDS)?,
                full_jitter,
            });
        }
        Ok(out)
    }

    fn catchers(&self, f: &Fields<'_>) -> Result<Vec<Catcher>, LoadError> {
        let items = f.objects("Catch", "must be an array of catchers", "a catcher")?;
        let count = items.len();
        let mut out = Vec::with_capacity(count);
        for (i, c) in items.enumerate() {
            let c = c?;
            c.check_allowed(&["ErrorEquals", "Next", "ResultPath", "Comment"], "a catcher")?;
            c.opt_str("Comment")?;
            let error_equals = c.error_equals_at(i, count, "a catcher")?;
            out.push(Catcher {
                error_equals,
                next: c.req_str("Next")?.to_string(),
                result_path: c.result_path("ResultPath")?,
            });
        }
        Ok(out)
    }

    fn task(&self, f: &Fields<'_>, parameters: Option<&Value>) -> Result<TaskSpec, LoadError> {
        let resource = f.req_str("Resource")?;
        let target = if resource == LAMBDA_INVOKE {
            check_lambda_invoke_parameters(f, parameters)?;
            TaskTarget::LambdaInvoke
        } else if is_lambda_function_arn(resource) {
            TaskTarget::LambdaArn(resource.to_string())
        } else if (self.supports)(resource) {
            TaskTarget::Other(resource.to_string())
        } else {
            return Err(f.err(
                "Resource",
                format!(
                    "the resource '{resource}' is not supported: only '{LAMBDA_INVOKE}' and Lambda function ARNs \
                     are, unless the task invoker declares support"
                ),
            ));
        };
        if f.has("TimeoutSeconds") && f.has("TimeoutSecondsPath") {
            return Err(f.err("TimeoutSecondsPath", "must not be combined with 'TimeoutSeconds'"));
        }
        if f.has("HeartbeatSeconds") && f.has("HeartbeatSecondsPath") {
            return Err(f.err("HeartbeatSecondsPath", "must not be combined with 'HeartbeatSeconds'"));
        }
        let timeout = match (f.opt_int("TimeoutSeconds", 1, MAX_SECONDS)?, f.opt_path("TimeoutSecondsPath")?) {
            (Some(n), _) => Some(Number::Fixed(n)),
            (None, Some(path)) => Some(Number::Path(path)),
            (None, None) => None,
        };
        let heartbeat = f.opt_int("HeartbeatSeconds", 1, MAX_SECONDS)?;
        f.opt_path("HeartbeatSecondsPath")?;
        if let (Some(hb), Some(Number::Fixed(to))) = (heartbeat, &timeout) {
            if hb >= *to {
                return Err(f.err("HeartbeatSeconds", "must be smaller than 'TimeoutSeconds'"));
            }
        }
        Ok(TaskSpec { target, timeout })
    }

    fn map(&mut self, f: &Fields<'_>) -> Result<MapSpec, LoadError> {
        let items_path = match f.opt_str("ItemsPath")? {
            None => None,
            Some(path) => {
                paths::validate_reference_path(path).map_err(|m| f.err("ItemsPath", m.to_string()))?;
                Some(path.to_string())
            }
        };
        if f.has("ItemSelector") && f.has("Parameters") {
            return Err(f.err("Parameters", "must not be combined with 'ItemSelector' (use 'ItemSelector')"));
        }
        let item_selector = match f.template("ItemSelector")? {
            Some(t) => Some(t),
            None => f.template("Parameters")?,
        };
        if f.has("MaxConcurrency") && f.has("MaxConcurrencyPath") {
            return Err(f.err("MaxConcurrencyPath", "must not be combined with 'MaxConcurrency'"));
        }
        let max_concurrency =
            match (f.opt_int("MaxConcurrency", 0, u64::from(u32::MAX))?, f.opt_path("MaxConcurrencyPath")?) {
                (Some(n), _) => Number::Fixed(n),
                (None, Some(path)) => Number::Path(path),
                (None, None) => Number::Fixed(0),
            };
        let processor = match (f.get("Iterator"), f.get("ItemProcessor")) {
            (Some(_), Some(_)) => {
                return Err(f.err("Iterator", "must not be combined with 'ItemProcessor'"));
            }
            (Some(Value::Object(obj)), None) => {
                let it = Fields::new(f.state, "Iterator.", obj);
                it.check_allowed(&["StartAt", "States", "Comment"], "an Iterator")?;
                self.scope(f.state, "Iterator.", obj)?
            }
            (None, Some(Value::Object(obj))) => {
                let ip = Fields::new(f.state, "ItemProcessor.", obj);
                ip.check_allowed(&["StartAt", "States", "Comment", "ProcessorConfig"], "an ItemProcessor")?;
                if let Some(config) = obj.get("ProcessorConfig") {
                    let Some(config) = config.as_object() else {
                        return Err(ip.err("ProcessorConfig", "must be an object"));
                    };
                    let pc = Fields::new(f.state, "ItemProcessor.ProcessorConfig.", config);
                    pc.check_allowed(&["Mode", "ExecutionType"], "a ProcessorConfig")?;
                    match pc.opt_str("Mode")? {
                        None | Some("INLINE") => {}
                        Some("DISTRIBUTED") => {
                            return Err(pc.err("Mode", "unsupported: Distributed Map ('DISTRIBUTED') is not supported"))
                        }
                        Some(other) => return Err(pc.err("Mode", format!("unknown mode '{other}'"))),
                    }
                    if pc.has("ExecutionType") {
                        return Err(pc.err("ExecutionType", "unsupported: only valid for Distributed Map"));
                    }
                }
                self.scope(f.state, "ItemProcessor.", obj)?
            }
            (Some(_), None) => return Err(f.err("Iterator", "must be an object")),
            (None, Some(_)) => return Err(f.err("ItemProcessor", "must be an object")),
            (None, None) => return Err(f.err("ItemProcessor", "is required (or the legacy 'Iterator')")),
        };
        Ok(MapSpec { items_path, item_selector, processor: Box::new(processor), max_concurrency })
    }

    fn branches(&mut self, f: &Fields<'_>) -> Result<Vec<Scope>, LoadError> {
        let items = f.objects("Branches", "is required and must be an array", "a branch")?;
        let count = items.len();
        if count == 0 {
            return Err(f.err("Branches", "must contain at least one branch"));
        }
        let mut out = Vec::with_capacity(count);
        for branch in items {
            let branch = branch?;
            branch.check_allowed(&["StartAt", "States", "Comment"], "a branch")?;
            out.push(self.scope(f.state, &branch.prefix, branch.obj)?);
        }
        Ok(out)
    }
}

/// How a state's fields refer to the context object (`$$`).
#[derive(Debug, Default)]
struct ContextUse {
    /// Some string mentions `$$`.
    any: bool,
    /// Some reference may read `$$.Execution.Input`.
    execution_input: bool,
}

impl ContextUse {
    /// Context members that never contain the execution input.
    const SMALL_MEMBERS: &'static [&'static str] = &[
        ".Map.",
        ".State.",
        ".StateMachine.",
        ".Task.",
        ".Execution.Id",
        ".Execution.Name",
        ".Execution.StartTime",
        ".Execution.RoleArn",
        ".Execution.RedriveCount",
    ];

    fn scan(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.scan_str(s),
            Value::Array(items) => items.iter().for_each(|v| self.scan(v)),
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                self.scan_str(k);
                self.scan(v);
            }),
            _ => {}
        }
    }

    fn scan_str(&mut self, text: &str) {
        let mut rest = text;
        while let Some(at) = rest.find("$$") {
            self.any = true;
            rest = &rest[at + 2..];
            if !Self::SMALL_MEMBERS.iter().any(|m| rest.starts_with(m)) {
                self.execution_input = true;
            }
        }
    }
}

fn check_lambda_invoke_parameters(f: &Fields<'_>, parameters: Option<&Value>) -> Result<(), LoadError> {
    let Some(Value::Object(params)) = parameters else {
        return Err(f.err("Parameters", format!("'{LAMBDA_INVOKE}' requires an object with 'FunctionName'")));
    };
    const ALLOWED: &[&str] = &["FunctionName", "Payload", "Qualifier", "InvocationType", "ClientContext", "LogType"];
    for key in params.keys() {
        let base = key.strip_suffix(".$").unwrap_or(key);
        if !ALLOWED.contains(&base) {
            return Err(f.err(&format!("Parameters/{key}"), format!("unknown parameter '{key}' for Lambda Invoke")));
        }
    }
    if !params.contains_key("FunctionName") && !params.contains_key("FunctionName.$") {
        return Err(f.err("Parameters/FunctionName", "is required for Lambda Invoke"));
    }
    if let Some(invocation_type) = params.get("InvocationType") {
        if invocation_type.as_str() != Some("RequestResponse") {
            return Err(
                f.err("Parameters/InvocationType", "unsupported: only 'RequestResponse' invocations are supported")
            );
        }
    }
    Ok(())
}

fn choice(f: &Fields<'_>) -> Result<Kind, LoadError> {
    let Some(Value::Array(items)) = f.get("Choices") else {
        return Err(f.err("Choices", "is required and must be a non-empty array"));
    };
    if items.is_empty() {
        return Err(f.err("Choices", "must not be empty"));
    }
    let mut rules = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let rule = ChoiceRule::parse(item, true).map_err(|e| {
            let sep = if e.field.is_empty() || e.field.starts_with(['.', '/', '[']) { "" } else { "." };
            f.err(&format!("Choices[{i}]{sep}{}", e.field), e.message)
        })?;
        rules.push(rule);
    }
    let default = f.opt_str("Default")?.map(str::to_string);
    Ok(Kind::Choice { rules, default })
}

fn wait(f: &Fields<'_>) -> Result<WaitSpec, LoadError> {
    let present: Vec<&str> =
        ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"].into_iter().filter(|k| f.has(k)).collect();
    match present.as_slice() {
        ["Seconds"] => Ok(WaitSpec::Seconds(f.opt_int("Seconds", 0, MAX_SECONDS)?.unwrap_or(0))),
        ["SecondsPath"] => Ok(WaitSpec::SecondsPath(f.opt_path("SecondsPath")?.unwrap_or_default())),
        ["Timestamp"] => {
            let text = f.req_str("Timestamp")?;
            parse_timestamp(text)
                .map(WaitSpec::Timestamp)
                .ok_or_else(|| f.err("Timestamp", format!("'{text}' is not an RFC 3339 timestamp")))
        }
        ["TimestampPath"] => Ok(WaitSpec::TimestampPath(f.opt_path("TimestampPath")?.unwrap_or_default())),
        [] => Err(f.err("Seconds", "a Wait state needs one of Seconds, SecondsPath, Timestamp or TimestampPath")),
        [other] => Err(f.err(other, "is not a Wait field")),
        [_, second, ..] => {
            Err(f.err(second, "a Wait state must have exactly one of Seconds, SecondsPath, Timestamp or TimestampPath"))
        }
    }
}

fn fail_field(f: &Fields<'_>, literal: &str, path: &str) -> Result<FailField, LoadError> {
    match (f.opt_str(literal)?, f.opt_str(path)?) {
        (Some(_), Some(_)) => Err(f.err(path, format!("must not be combined with '{literal}'"))),
        (Some(text), None) => Ok(FailField::Literal(text.to_string())),
        (None, Some(expr)) => {
            if intrinsics::is_intrinsic(expr) {
                intrinsics::validate(expr).map_err(|m| f.err(path, m.to_string()))?;
                Ok(FailField::Intrinsic(expr.to_string()))
            } else {
                paths::validate_path(expr).map_err(|m| f.err(path, m.to_string()))?;
                Ok(FailField::Path(expr.to_string()))
            }
        }
        (None, None) => Ok(FailField::Absent),
    }
}

/// Replaces every `${Name}` placeholder (name of ASCII letters, digits and `_`) in a
/// definition's text with its value, like CloudFormation `DefinitionSubstitutions`. Inside a
/// JSON string the value is inserted JSON-escaped; elsewhere it is inserted verbatim. Any
/// placeholder without a value is an error naming all of them.
pub fn substitute(definition_text: &str, values: &HashMap<String, String>) -> Result<String, LoadError> {
    let mut out = String::with_capacity(definition_text.len());
    let mut missing: Vec<String> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = definition_text;
    while let Some(c) = rest.chars().next() {
        if c == '$' && rest[1..].starts_with('{') {
            let body = &rest[2..];
            let name_len = body.find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).unwrap_or(body.len());
            if name_len > 0 && body[name_len..].starts_with('}') {
                let name = &body[..name_len];
                match values.get(name) {
                    Some(value) if in_string => {
                        let quoted = Value::String(value.clone()).to_string();
                        out.push_str(&quoted[1..quoted.len() - 1]);
                    }
                    Some(value) => out.push_str(value),
                    None => {
                        if !missing.iter().any(|m| m == name) {
                            missing.push(name.to_string());
                        }
                    }
                }
                rest = &body[name_len + 1..];
                escaped = false;
                continue;
            }
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        let list: Vec<String> = missing.iter().map(|m| format!("${{{m}}}")).collect();
        Err(LoadError::new(ROOT, missing.join(", "), format!("no value for the placeholder(s) {}", list.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_inside_and_outside_strings() {
        let values: HashMap<String, String> =
            [("Fn".to_string(), "a\"b".to_string()), ("N".to_string(), "3".to_string())].into_iter().collect();
        let text = r#"{"Resource": "x:${Fn}", "MaxConcurrency": ${N}, "Keep": "$${"}"#;
        let out = substitute(text, &values).expect("all filled");
        assert_eq!(out, r#"{"Resource": "x:a\"b", "MaxConcurrency": 3, "Keep": "$${"}"#);
    }
}
