//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Turn a course outline into a finished course book, locally or on AWS.
#[derive(Debug, Parser)]
#[command(name = "coursegen", version, about)]
pub(crate) struct Cli {
    /// More logging on stderr (-v info, -vv debug). `COURSEGEN_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the course workflow (statemachine/course.asl.json) on an outline and build the book.
    Run(RunArgs),
    /// Check an outline and a request; reports every problem, calls no model, writes nothing.
    Validate(ValidateArgs),
    /// Run Step Functions definitions locally.
    Sfn {
        #[command(subcommand)]
        command: SfnCommand,
    },
    /// Run and follow the deployed course workflow: start, watch, fetch, redrive, list.
    ///
    /// The flow, after `sam build && sam deploy --guided` (stack `coursegen`):
    ///   coursegen aws start OUTLINE --stack coursegen   validate, upload, start; prints the ARN
    ///   coursegen aws watch ARN                          progress, then the summary (or: start --wait)
    ///   coursegen aws fetch PROJECT --stack coursegen   the course folder to out/PROJECT/
    ///
    /// Exit codes as `run`: 0 ok, 1 the execution failed, 2 bad input, 130 Ctrl-C (stops
    /// watching, never the execution). Uses the standard AWS configuration (AWS_PROFILE,
    /// AWS_REGION, credentials, AWS_ENDPOINT_URL_SFN / _S3 / _CLOUDFORMATION).
    #[command(verbatim_doc_comment)]
    Aws {
        #[command(subcommand)]
        command: AwsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AwsCommand {
    /// Validate an outline, upload it and start an execution (or attach to the running one of
    /// the same request); prints the execution ARN.
    Start(AwsStartArgs),
    /// Follow an execution: progress per module, then the summary (exit codes as `run`).
    /// Ctrl-C stops watching, never the execution.
    Watch(AwsWatchArgs),
    /// Download a course folder (or only its book) from the course bucket.
    Fetch(AwsFetchArgs),
    /// Redrive a failed, aborted or timed-out execution from where it stopped.
    Redrive(AwsRedriveArgs),
    /// List the executions of the course state machine, newest first.
    List(AwsListArgs),
}

/// Where the deployment is: a stack's outputs, or the state machine and bucket themselves.
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub(crate) struct Deployment {
    /// The stack `sam deploy` created; its outputs name the state machine and the bucket.
    #[arg(long, conflicts_with_all = ["state_machine", "bucket"])]
    pub(crate) stack: Option<String>,
    /// The course state machine's ARN (with --bucket, instead of --stack).
    #[arg(long, requires = "bucket")]
    pub(crate) state_machine: Option<String>,
    /// The course bucket (with --state-machine, instead of --stack).
    #[arg(long)]
    pub(crate) bucket: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AwsStartArgs {
    /// The outline YAML.
    pub(crate) outline: PathBuf,
    #[command(flatten)]
    pub(crate) deployment: Deployment,
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    /// Follow the execution until it ends (as `coursegen aws watch`).
    #[arg(long)]
    pub(crate) wait: bool,
    /// Seconds between polls while following.
    #[arg(long, default_value = "2", value_name = "SECONDS")]
    pub(crate) poll: f64,
}

#[derive(Debug, Args)]
pub(crate) struct AwsWatchArgs {
    /// The execution's ARN (as `start` printed it).
    pub(crate) execution_arn: String,
    /// Seconds between polls.
    #[arg(long, default_value = "2", value_name = "SECONDS")]
    pub(crate) poll: f64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct AwsFetchArgs {
    /// A course folder (project) or an execution ARN whose course to download.
    pub(crate) target: String,
    /// The stack `sam deploy` created (its outputs name the bucket).
    #[arg(long, conflicts_with = "bucket", required_unless_present = "bucket")]
    pub(crate) stack: Option<String>,
    /// The course bucket.
    #[arg(long)]
    pub(crate) bucket: Option<String>,
    /// Directory to download into; files land in OUT/PROJECT as `run` lays them out.
    #[arg(long, default_value = "out")]
    pub(crate) out: PathBuf,
    /// Only the book (OUT/PROJECT/book/).
    #[arg(long)]
    pub(crate) book_only: bool,
}

#[derive(Debug, Args)]
pub(crate) struct AwsRedriveArgs {
    /// The failed execution's ARN.
    pub(crate) execution_arn: String,
    /// Follow the redriven execution until it ends.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Seconds between polls while following.
    #[arg(long, default_value = "2", value_name = "SECONDS")]
    pub(crate) poll: f64,
}

#[derive(Debug, Args)]
pub(crate) struct AwsListArgs {
    /// The stack `sam deploy` created (default: every state machine whose name contains `Course`).
    #[arg(long, conflicts_with = "state_machine")]
    pub(crate) stack: Option<String>,
    /// The course state machine's ARN.
    #[arg(long)]
    pub(crate) state_machine: Option<String>,
    /// At most this many executions.
    #[arg(long, default_value = "20")]
    pub(crate) max: usize,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SfnCommand {
    /// Run any ASL definition; prints the output JSON alone on stdout.
    Run(SfnRunArgs),
}

/// Text/image providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Provider {
    /// Deterministic drafts built from the outline; no model, no network.
    Offline,
    /// Amazon Bedrock (Converse for text, InvokeModel for images).
    Bedrock,
    /// Any OpenAI-compatible chat completions server (text); images stay offline.
    Openai,
}

impl Provider {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Provider::Offline => "offline",
            Provider::Bedrock => "bedrock",
            Provider::Openai => "openai",
        }
    }
}

/// How Task function names are spelled when calling a Lambda endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FunctionNames {
    /// Binary names (`content-gen`), as `cargo lambda watch` serves them.
    Binary,
    /// Template logical ids (`ContentGenFunction`), as `sam local start-lambda` serves them.
    Logical,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The outline YAML.
    pub(crate) outline: PathBuf,
    /// Store root directory; the book lands at OUT/PROJECT/book/index.html.
    #[arg(long, default_value = "out", conflicts_with = "store")]
    pub(crate) out: PathBuf,
    /// Use an S3 bucket instead of a directory: `s3://BUCKET`.
    #[arg(long)]
    pub(crate) store: Option<String>,
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    /// Text and image provider.
    #[arg(long, value_enum, default_value = "offline")]
    pub(crate) provider: Provider,
    /// Regenerate outputs even when they exist with the same fingerprint.
    #[arg(long)]
    pub(crate) force: bool,
    /// Invoke the functions through the Lambda Invoke API at this endpoint
    /// (`sam local start-lambda`: http://127.0.0.1:3001, `cargo lambda watch`: http://127.0.0.1:9000).
    #[arg(long)]
    pub(crate) lambda_endpoint: Option<String>,
    /// Function naming at the Lambda endpoint.
    #[arg(long, value_enum, default_value = "binary")]
    pub(crate) function_names: FunctionNames,
    /// Override a placeholder of the definition, e.g. a deployed function's name for real Lambda:
    /// `--set ContentGenFunctionArn=coursegen-ContentGenFunction-AbC123`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub(crate) set: Vec<String>,
    /// Use another definition file instead of the built-in statemachine/course.asl.json.
    #[arg(long)]
    pub(crate) definition: Option<PathBuf>,
    /// Write the execution history (GetExecutionHistory-like JSON) to this file.
    #[arg(long)]
    pub(crate) history: Option<PathBuf>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Open the finished book in the default browser (prints its path when none is available).
    #[arg(long)]
    pub(crate) open: bool,
    /// Prices to use over the built-in table (a JSON file of its shape: the whole table or some
    /// models; see docs/cost.md), for the estimate and the manifest's cost. Wins over
    /// COURSEGEN_PRICES.
    #[arg(long, value_name = "FILE")]
    pub(crate) prices: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// The outline YAML.
    pub(crate) outline: PathBuf,
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    /// Also predict the run: calls, tokens, images and cost per stage, and the time the quota
    /// allows. No model is called. Models from COURSEGEN_PROVIDER (default bedrock),
    /// TEXT_MODEL_ID and IMAGE_MODEL_ID.
    #[arg(long)]
    pub(crate) estimate: bool,
    /// Requests per minute of the text model's quota, for the estimate's time (default:
    /// BEDROCK_RPM when set).
    #[arg(long, value_name = "N", requires = "estimate", value_parser = per_minute::<u32>("--rpm", "requests"))]
    pub(crate) rpm: Option<u32>,
    /// Tokens per minute of the text model's quota, for the estimate's time (default:
    /// BEDROCK_TPM when set).
    #[arg(long, value_name = "N", requires = "estimate", value_parser = per_minute::<u64>("--tpm", "tokens"))]
    pub(crate) tpm: Option<u64>,
    /// Print the result and the estimate as JSON on stdout.
    #[arg(long, requires = "estimate")]
    pub(crate) json: bool,
    /// Prices to use over the built-in table (see `run --prices`).
    #[arg(long, value_name = "FILE", requires = "estimate")]
    pub(crate) prices: Option<PathBuf>,
}

/// A parser for a per-minute quota: a whole number ≥ 1, with a message that says so.
fn per_minute<T>(flag: &'static str, what: &'static str) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: std::str::FromStr + PartialOrd + From<u8>,
{
    move |s: &str| match s.trim().parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        Ok(_) => Err(format!(
            "{flag} is {what} per minute and must be at least 1; leave {flag} out when the quota sets no such limit"
        )),
        Err(_) => Err(format!("{flag} takes a whole number of {what} per minute, e.g. {flag} 200")),
    }
}

/// What a course request asks for, the same for `validate`, `run` and `aws start`.
#[derive(Debug, Args)]
pub(crate) struct RequestArgs {
    /// Course folder (default: a slug of the course title).
    #[arg(long)]
    pub(crate) project: Option<String>,
    /// Modules to generate: `all`, `1,3-5` (default all).
    #[arg(long)]
    pub(crate) modules: Option<String>,
    /// theory, labs or both.
    #[arg(long, default_value = "theory")]
    pub(crate) content: String,
    /// Modules processed at once (1-40; default every selected module: the model quota, not
    /// this number, bounds the calls).
    #[arg(long)]
    pub(crate) concurrency: Option<u32>,
    /// Lessons of one module processed at once (1-40; default every lesson of the largest
    /// selected module).
    #[arg(long)]
    pub(crate) lesson_concurrency: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct SfnRunArgs {
    /// The state machine definition (ASL JSON). `${Name}` placeholders may be filled with --set.
    pub(crate) definition: PathBuf,
    /// Execution input JSON file (`-` for stdin). Default `{}`.
    #[arg(long)]
    pub(crate) input: Option<PathBuf>,
    /// Fill a placeholder: `--set ContentGenFunctionArn=ContentGen`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub(crate) set: Vec<String>,
    /// Invoke Lambda tasks through the Lambda Invoke API at this endpoint.
    #[arg(long)]
    pub(crate) lambda_endpoint: Option<String>,
    /// Store root for in-process coursegen stage functions.
    #[arg(long, default_value = "out")]
    pub(crate) out: PathBuf,
    /// Write the execution history JSON to this file.
    #[arg(long)]
    pub(crate) history: Option<PathBuf>,
    /// Execution name (default: a timestamped one).
    #[arg(long)]
    pub(crate) name: Option<String>,
}
