//! `s3-local`: the test S3 server as a program, for scripts whose clients live in other
//! processes (the `sam local` containers of scripts/local-aws.sh reach it on the docker bridge).
//!
//!   s3-local --listen ADDR:PORT --dir DIR --bucket NAME [--access-key K --secret-key S]
//!
//! Objects are files below DIR/NAME/. It prints `listening on http://ADDR:PORT` once it accepts
//! connections and serves until interrupted (SIGINT or SIGTERM).

use std::path::PathBuf;
use std::process::ExitCode;

use s3_local::Credentials;

struct Args {
    listen: String,
    dir: PathBuf,
    bucket: String,
    credentials: Credentials,
}

const USAGE: &str = "usage: s3-local --listen ADDR:PORT --dir DIR --bucket NAME [--access-key K --secret-key S]";

/// Why the command line cannot be used; each message ends with the usage line.
#[derive(Debug, thiserror::Error)]
enum ArgsError {
    #[error("{0} needs a value\n{usage}", usage = USAGE)]
    MissingValue(String),
    #[error("{usage}", usage = USAGE)]
    Help,
    #[error("unknown argument {0:?}\n{usage}", usage = USAGE)]
    Unknown(String),
    #[error("--listen, --dir and --bucket are required\n{usage}", usage = USAGE)]
    MissingRequired,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, ArgsError> {
    let (mut listen, mut dir, mut bucket) = (None, None, None);
    let mut credentials = Credentials { access_key: "local".into(), secret_key: "local-secret".into() };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| ArgsError::MissingValue(flag.clone()));
        match flag.as_str() {
            "--listen" => listen = Some(value()?),
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--bucket" => bucket = Some(value()?),
            "--access-key" => credentials.access_key = value()?,
            "--secret-key" => credentials.secret_key = value()?,
            "-h" | "--help" => return Err(ArgsError::Help),
            other => return Err(ArgsError::Unknown(other.to_string())),
        }
    }
    match (listen, dir, bucket) {
        (Some(listen), Some(dir), Some(bucket)) => Ok(Args { listen, dir, bucket, credentials }),
        _ => Err(ArgsError::MissingRequired),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("s3-local: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or(args.listen.clone());
    let server = match s3_local::serve(listener, args.dir, args.bucket, args.credentials) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("s3-local: {e}");
            return ExitCode::from(1);
        }
    };
    println!("listening on http://{address}");
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            eprintln!("s3-local: {e}");
            return ExitCode::from(1);
        }
    };
    tokio::select! {
        _ = server => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    ExitCode::SUCCESS
}
