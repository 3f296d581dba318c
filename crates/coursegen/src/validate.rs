//! `coursegen validate`: every problem in an outline and a request, with no model call.

use crate::cli::ValidateArgs;
use crate::error::Exit;
use crate::input::{load_and_validate, selected_modules, Asked};

pub(crate) async fn validate(args: ValidateArgs) -> Exit {
    let asked = Asked::new(&args.outline, &args.request, false);
    let (outline, request, _) = match load_and_validate(&asked) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    let lessons: usize = selected_modules(&outline, &request).map(|(_, m)| m.lessons.len()).sum();
    let labs: usize =
        selected_modules(&outline, &request).flat_map(|(_, m)| m.lessons.iter()).map(|l| l.lab_activities.len()).sum();
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
    Exit::Ok
}
