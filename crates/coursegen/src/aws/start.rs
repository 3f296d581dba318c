//! `coursegen aws start`: one execution per request at a time.
//!
//! An execution is named after its request: `{project}-{fingerprint}` (the first 12 hex digits
//! of a SHA-256 over the project, the outline text and the options), then `-2`, `-3`, ... for
//! later runs of the same request. While one of them runs, `start` attaches to it; once they
//! have all closed, it starts the next generation (Step Functions refuses a closed execution's
//! name). Two `start`s racing to the same new name send the same name and input, which Step
//! Functions answers with the same execution.

use coursegen_core::Request;
use serde_json::{json, Value};

use super::api::{ApiError, Bucket, ExecutionInfo, Executions};

/// The bucket folder whose uploaded outlines start a course by themselves (the template's
/// EventBridge rule); `start` never writes there, so it never starts a second execution.
pub(crate) const INCOMING_FOLDER: &str = "incoming";

/// Step Functions' limit on execution names.
const MAX_NAME: usize = 80;
/// Hex digits of the fingerprint in a name.
const FP_LEN: usize = 12;
/// How much of the project folder a name keeps (room for the fingerprint and a generation).
const PROJECT_IN_NAME: usize = MAX_NAME - 1 - FP_LEN - 6;

/// The fingerprint of a request: project, outline text and options.
pub(crate) fn request_fingerprint(input: &Value, outline_text: &str) -> String {
    let fp = coursegen_core::fingerprint::fingerprint(&json!({ "input": input, "outline": outline_text }));
    fp[..FP_LEN.min(fp.len())].to_string()
}

/// The name every execution of the request starts with: `{project}-{fingerprint}`.
pub(crate) fn base_name(project: &str, fingerprint: &str) -> String {
    let project: String = project.chars().take(PROJECT_IN_NAME).collect();
    format!("{project}-{fingerprint}")
}

/// The name of generation `n` (1, 2, ...) of a request.
pub(crate) fn generation_name(base: &str, n: u32) -> String {
    if n <= 1 {
        base.to_string()
    } else {
        format!("{base}-{n}")
    }
}

/// The generation of `name` when it is one of `base`'s executions.
pub(crate) fn generation_of(name: &str, base: &str) -> Option<u32> {
    let rest = name.strip_prefix(base)?;
    if rest.is_empty() {
        return Some(1);
    }
    rest.strip_prefix('-').and_then(|n| n.parse::<u32>().ok()).filter(|n| *n >= 2)
}

/// The project part of a name `start` gave (`{project}-{12 hex}[-N]`), if it is one.
pub(crate) fn project_of(name: &str) -> Option<&str> {
    let without_gen = match name.rsplit_once('-') {
        Some((head, n)) if !n.is_empty() && n.len() < FP_LEN && n.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => name,
    };
    let (project, fp) = without_gen.rsplit_once('-')?;
    (fp.len() == FP_LEN && fp.bytes().all(|b| b.is_ascii_hexdigit()) && !project.is_empty()).then_some(project)
}

/// What `start` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Started {
    /// A new execution.
    New { arn: String, name: String },
    /// The request was already running: this is its execution.
    Attached { arn: String, name: String },
}

impl Started {
    pub(crate) fn arn(&self) -> &str {
        match self {
            Started::New { arn, .. } | Started::Attached { arn, .. } => arn,
        }
    }
}

/// Why `start` did not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("{0}")]
    Api(#[from] ApiError),
    /// Another request runs on the same course folder: the upload would change its outline.
    #[error("execution {name} is running on the course folder {project} with a different outline or options; wait for it (coursegen aws watch {arn}), stop it (aws stepfunctions stop-execution --execution-arn {arn}), or start into another folder with --project")]
    Busy { project: String, name: String, arn: String },
    #[error("could not find a free execution name after {0} attempts")]
    NoFreeName(u32),
}

/// Every execution of the state machine (all pages), optionally only `status` ones.
pub(crate) async fn all_executions(
    sfn: &dyn Executions,
    state_machine: &str,
    status: Option<&str>,
) -> Result<Vec<ExecutionInfo>, ApiError> {
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let (page, next) = sfn.list(state_machine, status, token).await?;
        all.extend(page);
        match next {
            Some(t) => token = Some(t),
            None => return Ok(all),
        }
    }
}

/// Starts the request (or attaches to its running execution): uploads the outline to
/// `request.outline_key` first, unless attaching.
pub(crate) async fn start(
    sfn: &dyn Executions,
    bucket: &dyn Bucket,
    state_machine: &str,
    request: &Request,
    outline_text: &str,
) -> Result<Started, StartError> {
    let input = crate::run::execution_input(request);
    let base = base_name(&request.project_folder, &request_fingerprint(&input, outline_text));
    let project_in_name: String = request.project_folder.chars().take(PROJECT_IN_NAME).collect();
    for running in all_executions(sfn, state_machine, Some("RUNNING")).await? {
        if generation_of(&running.name, &base).is_some() {
            return Ok(Started::Attached { arn: running.arn, name: running.name });
        }
        if project_of(&running.name) == Some(project_in_name.as_str()) {
            return Err(StartError::Busy {
                project: request.project_folder.clone(),
                name: running.name,
                arn: running.arn,
            });
        }
    }
    let newest = all_executions(sfn, state_machine, None)
        .await?
        .iter()
        .filter_map(|e| generation_of(&e.name, &base))
        .max()
        .unwrap_or(0);
    bucket.put(&request.outline_key, outline_text.as_bytes().to_vec(), "application/yaml").await?;
    let input_text = input.to_string();
    const ATTEMPTS: u32 = 5;
    for n in (newest + 1)..=(newest + ATTEMPTS) {
        let name = generation_name(&base, n);
        match sfn.start(state_machine, &name, &input_text).await {
            Ok(arn) => return Ok(Started::New { arn, name }),
            // Another start took this name since the listing, and it has closed already.
            Err(e) if e.is("ExecutionAlreadyExists") => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StartError::NoFreeName(ATTEMPTS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::api::{ApiResult, HistoryPage, ObjectInfo};
    use async_trait::async_trait;
    use coursegen_core::ContentType;
    use std::sync::Mutex;
    use std::time::SystemTime;

    /// Step Functions as far as naming goes: executions by name, idempotent start while
    /// running, `ExecutionAlreadyExists` for a closed name.
    #[derive(Default)]
    struct Fake {
        executions: Mutex<Vec<(String, String, String)>>, // name, status, input
        starts: Mutex<u32>,
        /// Closed executions a listing does not show yet (started by a racing `start`).
        unlisted: Vec<String>,
    }

    impl Fake {
        fn close_all(&self) {
            for e in self.executions.lock().unwrap().iter_mut() {
                e.1 = "SUCCEEDED".into();
            }
        }
    }

    fn arn(name: &str) -> String {
        format!("arn:aws:states:us-east-1:123456789012:execution:Course:{name}")
    }

    #[async_trait]
    impl Executions for Fake {
        async fn start(&self, _sm: &str, name: &str, input: &str) -> ApiResult<String> {
            *self.starts.lock().unwrap() += 1;
            if self.unlisted.iter().any(|n| n == name) {
                return Err(ApiError {
                    operation: "StartExecution",
                    code: Some("ExecutionAlreadyExists".into()),
                    message: name.into(),
                });
            }
            let mut all = self.executions.lock().unwrap();
            if let Some((_, status, old)) = all.iter().find(|(n, _, _)| n == name) {
                if status == "RUNNING" && old == input {
                    return Ok(arn(name));
                }
                return Err(ApiError {
                    operation: "StartExecution",
                    code: Some("ExecutionAlreadyExists".into()),
                    message: name.into(),
                });
            }
            all.push((name.into(), "RUNNING".into(), input.into()));
            Ok(arn(name))
        }
        async fn describe(&self, _e: &str) -> ApiResult<ExecutionInfo> {
            unreachable!()
        }
        async fn list(
            &self,
            _sm: &str,
            status: Option<&str>,
            token: Option<String>,
        ) -> ApiResult<(Vec<ExecutionInfo>, Option<String>)> {
            // Pages of one, to exercise the paging.
            let all: Vec<ExecutionInfo> = self
                .executions
                .lock()
                .unwrap()
                .iter()
                .rev()
                .filter(|(_, s, _)| status.is_none_or(|want| want == s))
                .map(|(n, s, _)| ExecutionInfo {
                    arn: arn(n),
                    name: n.clone(),
                    status: s.clone(),
                    start: Some(SystemTime::now()),
                    stop: None,
                    input: None,
                    output: None,
                    error: None,
                    cause: None,
                    redrive_count: None,
                })
                .collect();
            let at: usize = token.map(|t| t.parse().unwrap()).unwrap_or(0);
            let next = (at + 1 < all.len()).then(|| (at + 1).to_string());
            Ok((all.into_iter().skip(at).take(1).collect(), next))
        }
        async fn history(&self, _e: &str, _t: Option<String>) -> ApiResult<HistoryPage> {
            unreachable!()
        }
        async fn redrive(&self, _e: &str) -> ApiResult<Option<SystemTime>> {
            unreachable!()
        }
        async fn state_machines(&self) -> ApiResult<Vec<(String, String)>> {
            unreachable!()
        }
    }

    #[derive(Default)]
    struct Uploads(Mutex<Vec<String>>);

    #[async_trait]
    impl Bucket for Uploads {
        fn name(&self) -> &str {
            "course-bucket"
        }
        async fn put(&self, key: &str, _body: Vec<u8>, _ct: &str) -> ApiResult<()> {
            self.0.lock().unwrap().push(key.to_string());
            Ok(())
        }
        async fn list(&self, _prefix: &str) -> ApiResult<Vec<ObjectInfo>> {
            Ok(vec![])
        }
        async fn get(&self, _key: &str) -> ApiResult<Vec<u8>> {
            unreachable!()
        }
    }

    fn request(project: &str, modules: Vec<u32>) -> Request {
        Request {
            project_folder: project.into(),
            outline_key: coursegen_core::keys::outline_key(project),
            modules,
            content_type: ContentType::Theory,
            max_concurrency: 10,
            lesson_concurrency: 3,
            force: false,
        }
    }

    const SM: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Course";

    #[test]
    fn names_carry_project_fingerprint_and_generation_and_fit_step_functions() {
        let input = crate::run::execution_input(&request("k8s", vec![1, 2]));
        let fp = request_fingerprint(&input, "outline");
        assert_eq!(fp.len(), FP_LEN);
        assert_eq!(fp, request_fingerprint(&input, "outline"), "stable");
        assert_ne!(fp, request_fingerprint(&input, "outline 2"), "the outline text counts");
        let other = crate::run::execution_input(&request("k8s", vec![1]));
        assert_ne!(fp, request_fingerprint(&other, "outline"), "the options count");

        let base = base_name("k8s", &fp);
        assert_eq!(generation_of(&base, &base), Some(1));
        assert_eq!(generation_of(&generation_name(&base, 3), &base), Some(3));
        assert_eq!(generation_of(&format!("{base}x"), &base), None);
        assert_eq!(project_of(&generation_name(&base, 12)), Some("k8s"));
        assert_eq!(project_of(&base), Some("k8s"));
        assert_eq!(project_of("manual-run-from-the-console"), None);

        let long = "a".repeat(63);
        let name = generation_name(&base_name(&long, &fp), 99_999);
        assert!(name.len() <= MAX_NAME, "{} > {MAX_NAME}", name.len());
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }

    #[tokio::test]
    async fn the_same_request_attaches_while_running_and_starts_a_new_generation_once_closed() {
        let sfn = Fake::default();
        let bucket = Uploads::default();
        let req = request("k8s", vec![1, 2]);
        let first = start(&sfn, &bucket, SM, &req, "outline").await.unwrap();
        assert!(matches!(first, Started::New { .. }), "{first:?}");
        let again = start(&sfn, &bucket, SM, &req, "outline").await.unwrap();
        assert_eq!(again, Started::Attached { arn: first.arn().into(), name: generation_name(&base_of(&first), 1) });
        assert_eq!(*sfn.starts.lock().unwrap(), 1, "attaching starts nothing");
        assert_eq!(bucket.0.lock().unwrap().len(), 1, "attaching uploads nothing");

        sfn.close_all();
        let second = start(&sfn, &bucket, SM, &req, "outline").await.unwrap();
        let Started::New { name, .. } = &second else { panic!("{second:?}") };
        assert_eq!(generation_of(name, &base_of(&first)), Some(2));
        assert_eq!(bucket.0.lock().unwrap().as_slice(), ["k8s/course/outline.yaml", "k8s/course/outline.yaml"]);
    }

    fn base_of(s: &Started) -> String {
        match s {
            Started::New { name, .. } | Started::Attached { name, .. } => name.clone(),
        }
    }

    #[tokio::test]
    async fn a_different_request_on_a_running_course_folder_is_refused_before_uploading() {
        let sfn = Fake::default();
        let bucket = Uploads::default();
        start(&sfn, &bucket, SM, &request("k8s", vec![1, 2]), "outline").await.unwrap();
        let err = start(&sfn, &bucket, SM, &request("k8s", vec![1]), "outline").await.unwrap_err();
        assert!(matches!(err, StartError::Busy { .. }), "{err}");
        assert!(err.to_string().contains("--project"), "{err}");
        assert_eq!(bucket.0.lock().unwrap().len(), 1, "nothing uploaded for the refused start");
        // Another folder is independent.
        let other = start(&sfn, &bucket, SM, &request("k8s-2", vec![1]), "outline").await.unwrap();
        assert!(matches!(other, Started::New { .. }));
    }

    #[tokio::test]
    async fn a_name_taken_by_a_closed_execution_moves_on_to_the_next_generation() {
        let req = request("k8s", vec![1]);
        let input = crate::run::execution_input(&req);
        let base = base_name("k8s", &request_fingerprint(&input, "outline"));
        // Generation 1 closed and listed; generation 2 closed but not listed yet (a racing start).
        let sfn = Fake { unlisted: vec![generation_name(&base, 2)], ..Fake::default() };
        sfn.executions.lock().unwrap().push((base.clone(), "FAILED".into(), input.to_string()));
        let started = start(&sfn, &Uploads::default(), SM, &req, "outline").await.unwrap();
        assert_eq!(base_of(&started), generation_name(&base, 3));
    }
}
