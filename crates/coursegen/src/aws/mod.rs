//! `coursegen aws`: run and follow the deployed course workflow (after `sam deploy`) from the
//! command line: start an execution from an outline, watch it, fetch the course, redrive, list.
//!
//! The AWS clients are built here, at the edge; the logic ([`start`], [`watch`], [`fetch`],
//! [`history`]) works over the small traits of [`api`].

pub(crate) mod api;
pub(crate) mod deploy;
pub(crate) mod fetch;
pub(crate) mod history;
pub(crate) mod sdk;
pub(crate) mod start;
pub(crate) mod watch;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::cli::{AwsCommand, AwsFetchArgs, AwsListArgs, AwsRedriveArgs, AwsStartArgs, Deployment};
use crate::error::Exit;
use crate::input::{load_and_validate, selected_modules, Asked};
use crate::progress::Progress;
use api::{ExecutionInfo, Executions};
use deploy::{DeployError, BUCKET_OUTPUT, STATE_MACHINE_OUTPUT};
use sdk::Clients;

/// Runs one `coursegen aws` command.
pub(crate) async fn main(command: AwsCommand) -> Exit {
    match command {
        AwsCommand::Start(args) => start_command(args).await,
        AwsCommand::Watch(args) => {
            let clients = Clients::load().await;
            watch_command(&clients.sfn(), &args.execution_arn, args.poll, args.json, Default::default()).await
        }
        AwsCommand::Fetch(args) => fetch_command(args).await,
        AwsCommand::Redrive(args) => redrive_command(args).await,
        AwsCommand::List(args) => list_command(args).await,
    }
}

/// The state machine ARN and the bucket name of a deployment.
async fn resolve(clients: &Clients, d: &Deployment) -> Result<(String, String), DeployError> {
    match (&d.stack, &d.state_machine, &d.bucket) {
        (Some(stack), _, _) => {
            let outputs = deploy::stack_outputs(&clients.cloudformation(), stack).await?;
            let sm = deploy::output(stack, &outputs, STATE_MACHINE_OUTPUT)?;
            let bucket = deploy::output(stack, &outputs, BUCKET_OUTPUT)?;
            Ok((sm, bucket))
        }
        (None, Some(sm), Some(bucket)) => {
            deploy::check_state_machine_arn(sm)?;
            Ok((sm.clone(), bucket.clone()))
        }
        _ => Err(DeployError::Unspecified),
    }
}

fn poll_interval(seconds: f64) -> Duration {
    Duration::from_secs_f64(if seconds.is_finite() { seconds.clamp(0.05, 60.0) } else { 2.0 })
}

async fn start_command(args: AwsStartArgs) -> Exit {
    // Checked locally first, with the same errors as `run`: nothing is uploaded or started.
    let asked = Asked::new(&args.outline, &args.request, false);
    let (outline, request, outline_text) = match load_and_validate(&asked) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("nothing was uploaded or started.");
            return Exit::BadInput;
        }
    };
    if request.project_folder == start::INCOMING_FOLDER {
        eprintln!(
            "error: --project {0}: the folder {0}/ is for start by upload (an outline uploaded there starts a course by itself); choose another course folder",
            start::INCOMING_FOLDER
        );
        eprintln!("nothing was uploaded or started.");
        return Exit::BadInput;
    }
    let clients = Clients::load().await;
    let (state_machine, bucket_name) = match resolve(&clients, &args.deployment).await {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("nothing was uploaded or started.");
            return Exit::BadInput;
        }
    };
    let bucket = match clients.bucket(&bucket_name) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    let sfn = clients.sfn();
    let started = match start::start(&sfn, &bucket, &state_machine, &request, &outline_text).await {
        Ok(s) => s,
        Err(e @ start::StartError::Busy { .. }) => {
            eprintln!("error: {e}");
            eprintln!("nothing was uploaded or started.");
            return Exit::BadInput;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Failed;
        }
    };
    match &started {
        start::Started::New { name, .. } => eprintln!(
            "started {name}: {} — {} module(s) {:?}, content {}, outline s3://{bucket_name}/{}",
            outline.course.title,
            request.modules.len(),
            request.modules,
            request.content_type.as_str(),
            request.outline_key
        ),
        start::Started::Attached { name, .. } => {
            eprintln!("the same request is already running as {name}: attached to it (nothing uploaded or started)")
        }
    }
    println!("{}", started.arn());
    eprintln!("console: {}", deploy::console_url(started.arn()));
    if !args.wait {
        eprintln!("follow it: coursegen aws watch {}", started.arn());
        return Exit::Ok;
    }
    let lessons = selected_modules(&outline, &request).map(|(n, m)| (n, m.lessons.len() as u32)).collect();
    let exit = watch_command(&sfn, started.arn(), args.poll, false, lessons).await;
    if exit == Exit::Ok {
        eprintln!("download it: coursegen aws fetch {} --bucket {bucket_name}", request.project_folder);
    }
    exit
}

/// Follows an execution with the progress display; Ctrl-C stops following, not the execution.
async fn watch_command(
    sfn: &dyn Executions,
    arn: &str,
    poll: f64,
    json_out: bool,
    lessons: std::collections::HashMap<u32, u32>,
) -> Exit {
    let progress = Arc::new(Progress::new(lessons).with_event_times());
    let mut reducer = history::Reducer::default();
    let followed = tokio::select! {
        r = watch::follow(sfn, arn, poll_interval(poll), &mut reducer, progress.as_ref()) => r,
        _ = tokio::signal::ctrl_c() => {
            progress.finish();
            eprintln!("\nstopped watching; the execution goes on. Follow it again: coursegen aws watch {arn}");
            return Exit::Interrupted;
        }
    };
    progress.finish();
    match followed {
        Ok(info) => watch::report(&info, &reducer, json_out),
        Err(e) if e.is("ExecutionDoesNotExist") || e.is("InvalidArn") => {
            eprintln!("error: {e}");
            Exit::BadInput
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Failed
        }
    }
}

/// The course folder of an execution: its input's `project_folder`, else PrepareCourse's output.
async fn project_of_execution(sfn: &dyn Executions, arn: &str) -> Result<String, String> {
    let info = sfn.describe(arn).await.map_err(|e| e.to_string())?;
    let input: Value = info.input.as_deref().and_then(|i| serde_json::from_str(i).ok()).unwrap_or(Value::Null);
    if let Some(p) = input["project_folder"].as_str().filter(|p| !p.is_empty()) {
        return Ok(p.to_string());
    }
    let mut reducer = history::Reducer::default();
    struct Quiet;
    impl asl_interpreter::history::Observer for Quiet {
        fn on_event(&self, _: &asl_interpreter::history::HistoryEvent) {}
    }
    watch::read_new(sfn, arn, &mut watch::Cursor::default(), &mut reducer, &Quiet).await.map_err(|e| e.to_string())?;
    reducer.project().ok_or_else(|| {
        format!("execution {arn} names no project_folder and its PrepareCourse has not finished; give the course folder instead")
    })
}

async fn fetch_command(args: AwsFetchArgs) -> Exit {
    let clients = Clients::load().await;
    let bucket_name = match (&args.stack, &args.bucket) {
        (_, Some(b)) => b.clone(),
        (Some(stack), None) => {
            match deploy::stack_outputs(&clients.cloudformation(), stack)
                .await
                .and_then(|o| deploy::output(stack, &o, BUCKET_OUTPUT))
            {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::BadInput;
                }
            }
        }
        (None, None) => {
            eprintln!("error: {}", DeployError::Unspecified);
            return Exit::BadInput;
        }
    };
    let project = if args.target.starts_with("arn:") {
        match project_of_execution(&clients.sfn(), &args.target).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::BadInput;
            }
        }
    } else {
        args.target.clone()
    };
    if !coursegen_core::keys::is_valid_project_folder(&project) {
        eprintln!(
            "error: {project:?} is not a course folder (lowercase letters, digits and dashes) nor an execution ARN"
        );
        return Exit::BadInput;
    }
    let bucket = match clients.bucket(&bucket_name) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    match fetch::fetch(&bucket, &project, &args.out, args.book_only).await {
        Ok(done) => {
            let folder = args.out.join(&project);
            eprintln!(
                "fetched s3://{bucket_name}/{project}/{}: {} file(s) downloaded ({} bytes), {} already current",
                if args.book_only { "book/" } else { "" },
                done.downloaded,
                done.bytes,
                done.skipped
            );
            println!("{}", folder.join("book").join("index.html").display());
            Exit::Ok
        }
        Err(fetch::FetchError::Empty { bucket, prefix }) => {
            eprintln!("error: s3://{bucket}/{prefix} holds no files: check the course folder (coursegen aws list shows the executions)");
            Exit::BadInput
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Failed
        }
    }
}

async fn redrive_command(args: AwsRedriveArgs) -> Exit {
    let clients = Clients::load().await;
    let sfn = clients.sfn();
    match sfn.redrive(&args.execution_arn).await {
        Ok(at) => {
            let when = at.map(format_time).unwrap_or_else(|| "now".into());
            eprintln!("redriven at {when}: the execution resumes from the states that did not succeed");
            println!("{}", args.execution_arn);
            eprintln!("console: {}", deploy::console_url(&args.execution_arn));
        }
        Err(e) if e.is("ExecutionDoesNotExist") || e.is("InvalidArn") => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
        Err(e) if e.is("ExecutionNotRedrivable") => {
            eprintln!("error: {e}");
            eprintln!("only a FAILED, ABORTED or TIMED_OUT execution of a Standard state machine, closed less than 14 days ago, can be redriven; start it again instead (coursegen aws start ...): finished outputs are reused.");
            return Exit::Failed;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Failed;
        }
    }
    if !args.wait {
        return Exit::Ok;
    }
    watch_command(&sfn, &args.execution_arn, args.poll, false, Default::default()).await
}

async fn list_command(args: AwsListArgs) -> Exit {
    let clients = Clients::load().await;
    let sfn = clients.sfn();
    let machines: Vec<String> = match (&args.stack, &args.state_machine) {
        (_, Some(sm)) => vec![sm.clone()],
        (Some(stack), None) => match deploy::stack_outputs(&clients.cloudformation(), stack)
            .await
            .and_then(|o| deploy::output(stack, &o, STATE_MACHINE_OUTPUT))
        {
            Ok(sm) => vec![sm],
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::BadInput;
            }
        },
        (None, None) => match sfn.state_machines().await {
            Ok(all) => {
                all.into_iter().filter(|(_, name)| name.starts_with("CourseStateMachine")).map(|(a, _)| a).collect()
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Failed;
            }
        },
    };
    if machines.is_empty() {
        eprintln!("no course state machine in this region (give --stack NAME or --state-machine ARN)");
        return Exit::Ok;
    }
    for sm in machines {
        let mut shown: Vec<ExecutionInfo> = Vec::new();
        let mut token = None;
        loop {
            match sfn.list(&sm, None, token).await {
                Ok((page, next)) => {
                    shown.extend(page);
                    if shown.len() >= args.max || next.is_none() {
                        break;
                    }
                    token = next;
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::Failed;
                }
            }
        }
        shown.truncate(args.max);
        println!("{sm}");
        for e in &shown {
            let started = e.start.map(format_time).unwrap_or_default();
            let redriven = e.redrive_count.filter(|n| *n > 0).map(|n| format!(" (redriven {n}×)")).unwrap_or_default();
            println!("  {:<16} {started}  {}{redriven}", e.status, e.name);
            println!("    {}", e.arn);
        }
        if shown.is_empty() {
            println!("  (no executions)");
        }
    }
    Exit::Ok
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC.
pub(crate) fn format_time(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(format_time(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_651_600);
        assert_eq!(format_time(t), "2025-12-02T05:00:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(format_time(leap), "2000-02-29T00:00:00Z");
    }
}
