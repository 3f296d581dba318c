//! `coursegen validate`: every problem in an outline and a request, with no model call; with
//! `--estimate`, what the run would cost and how long the quota makes it take.

use serde_json::json;

use crate::cli::ValidateArgs;
use crate::error::{CliError, Exit};
use crate::estimate;
use crate::input::{load_and_validate, selected_modules, Asked};

pub(crate) async fn validate(args: ValidateArgs) -> Exit {
    match checked(&args) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::BadInput
        }
    }
}

fn checked(args: &ValidateArgs) -> Result<Exit, CliError> {
    let asked = Asked::new(&args.outline, &args.request, false);
    let (outline, request, _) = load_and_validate(&asked)?;
    let lessons: usize = selected_modules(&outline, &request).map(|(_, m)| m.lessons.len()).sum();
    let labs: usize =
        selected_modules(&outline, &request).flat_map(|(_, m)| m.lessons.iter()).map(|l| l.lab_activities.len()).sum();
    let estimate = if args.estimate {
        let prices = estimate::load_prices(args.prices.as_deref())?;
        let cfg = estimate::provider_config(&estimate::real_run_provider()).map_err(CliError::Config)?;
        Some(estimate::build(&outline, &request, &cfg, &prices, args.rpm, args.tpm)?)
    } else {
        None
    };
    if args.json {
        let out = json!({
            "ok": true,
            "course": outline.course.title,
            "project_folder": request.project_folder,
            "modules": request.modules,
            "of_modules": outline.modules.len(),
            "lessons": lessons,
            "lab_activities": labs,
            "language": outline.course.language.code(),
            "content": request.content_type.as_str(),
            "estimate": estimate,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(Exit::Ok);
    }
    println!(
        "ok: {} — {} module(s) selected {:?} of {}, {} lessons, {} lab activities, language {}, content {}, project folder {}",
        outline.course.title,
        request.modules.len(),
        request.modules,
        outline.modules.len(),
        lessons,
        labs,
        outline.course.language.code(),
        request.content_type.as_str(),
        request.project_folder
    );
    if let Some(est) = &estimate {
        for line in estimate::lines(est) {
            println!("{line}");
        }
    }
    Ok(Exit::Ok)
}
