//! `coursegen validate`: every problem in an outline and a request, with no model call.

use crate::cli::ValidateArgs;
use crate::exit;
use crate::run::load_and_validate;

pub async fn validate(args: ValidateArgs) -> i32 {
    match load_and_validate(&args.outline, args.project.as_deref(), args.modules.as_deref(), &args.content, None, false)
    {
        Ok((outline, request, _)) => {
            let lessons: usize =
                request.modules.iter().filter_map(|m| outline.module(*m)).map(|m| m.lessons.len()).sum();
            let labs: usize = request
                .modules
                .iter()
                .filter_map(|m| outline.module(*m))
                .flat_map(|m| m.lessons.iter())
                .map(|l| l.lab_activities.len())
                .sum();
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
            exit::OK
        }
        Err(msg) => {
            eprintln!("error: {msg}");
            exit::BAD_INPUT
        }
    }
}
