//! Bad input is rejected before anything runs: every outline or request problem is reported
//! at once, with the exact path of the offending field and a message that says what to do.

use std::time::{Duration, Instant};

use coursegen_core::outline::limits;
use coursegen_core::{
    default_project_folder, normalize_request, parse_module_spec, parse_outline, ContentType, Language, Outline,
    Problem, RawRequest, StageError,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// helpers

/// The problems of a result that must fail with `error_type` (`InvalidOutline` or
/// `InvalidRequest`).
fn rejected<T: std::fmt::Debug>(result: Result<T, StageError>, error_type: &str) -> Vec<Problem> {
    let e = match result {
        Ok(v) => panic!("expected {error_type}, got {v:?}"),
        Err(e) => e,
    };
    assert_eq!(e.error_type(), error_type, "{e}");
    match e {
        StageError::InvalidOutline(p) | StageError::InvalidRequest(p) => p.0,
        other => panic!("expected {error_type}, got {other}"),
    }
}

/// The problems of an outline that must be rejected as `InvalidOutline`.
fn outline_problems(doc: &str) -> Vec<Problem> {
    rejected(parse_outline(doc), "InvalidOutline")
}

/// The single problem at `path`, asserting it exists.
fn problem_at<'a>(problems: &'a [Problem], path: &str) -> &'a Problem {
    problems.iter().find(|p| p.path == path).unwrap_or_else(|| panic!("no problem at {path:?} in {problems:#?}"))
}

fn paths(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

/// Assert one problem at `path` whose message contains `needle`.
fn assert_outline_problem(doc: &str, path: &str, needle: &str) -> Vec<Problem> {
    let problems = outline_problems(doc);
    let p = problem_at(&problems, path);
    assert!(p.message.contains(needle), "{path}: {:?} does not contain {needle:?}", p.message);
    problems
}

/// A valid outline with one lesson per module, built from module titles; lesson bodies given as YAML flow.
fn outline_with_modules(n: usize) -> String {
    let mut s = String::from("course:\n  title: Test course\nmodules:\n");
    for i in 1..=n {
        s.push_str(&format!("  - title: Module {i}\n    lessons: [{{title: Lesson {i}.1}}]\n"));
    }
    s
}

/// A five-module outline; only module 2 has lab activities.
fn request_outline() -> Outline {
    parse_outline(
        "course: {title: Networking Basics}\nmodules:\n  - {title: M1, lessons: [{title: L1, topics: [a]}]}\n  \
         - {title: M2, lessons: [{title: L2, lab_activities: [Wire a LAN]}]}\n  - {title: M3, lessons: [{title: L3}]}\n  \
         - {title: M4, lessons: [{title: L4}]}\n  - {title: M5, lessons: [{title: L5}]}\n",
    )
    .unwrap()
}

fn raw(v: Value) -> RawRequest {
    serde_json::from_value(v).unwrap()
}

/// The problems of a request that must be rejected as `InvalidRequest`.
fn request_problems(v: Value) -> Vec<Problem> {
    rejected(normalize_request(&raw(v), &request_outline(), "networking-basics"), "InvalidRequest")
}

fn spec_problems(spec: Value, count: u32) -> Vec<Problem> {
    parse_module_spec(&spec, count).expect_err("the selection should be rejected").0
}

/// Run `f` and assert it finished within `limit` (a guard against hangs).
fn quickly<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    assert!(start.elapsed() < limit, "took {:?}", start.elapsed());
    out
}

// ---------------------------------------------------------------------------------------------
// malformed documents

#[test]
fn malformed_yaml_is_reported_with_line_and_column() {
    let problems = assert_outline_problem("course:\n  title: [unclosed\nmodules: []\n", "", "invalid YAML");
    assert!(problems[0].message.contains("line 3 column"), "{}", problems[0].message);
}

#[test]
fn tab_indentation_is_reported_with_its_position_and_a_hint() {
    let problems = assert_outline_problem("course:\n\ttitle: x\nmodules: []\n", "", "line 2 column 1");
    assert!(problems[0].message.contains("tabs"), "{}", problems[0].message);
}

#[test]
fn empty_or_comment_only_document_is_rejected_as_empty() {
    for doc in ["", "   \n", "# only a comment\n"] {
        assert_outline_problem(doc, "", "the outline is empty");
    }
}

#[test]
fn root_that_is_not_a_mapping_is_rejected() {
    assert_outline_problem("- a\n- b\n", "", "must be a mapping with `course` and `modules`");
    assert_outline_problem("just a sentence\n", "", "found text");
}

#[test]
fn several_documents_in_one_file_are_rejected() {
    assert_outline_problem(&format!("{}---\nmore: 1\n", outline_with_modules(1)), "", "more than one YAML document");
}

#[test]
fn duplicate_keys_are_rejected() {
    assert_outline_problem("course: {title: A}\ncourse: {title: B}\nmodules: []\n", "", "duplicate entry");
}

#[test]
fn unknown_alias_is_rejected() {
    assert_outline_problem("course: *nowhere\nmodules: []\n", "", "unknown anchor");
}

// ---------------------------------------------------------------------------------------------
// structure and types

#[test]
fn missing_course_and_modules_are_reported_together() {
    let problems = outline_problems("title: Orphan\n");
    assert_eq!(paths(&problems), ["course", "modules"]);
    assert!(problems[0].message.contains("is required"));
}

#[test]
fn misspelled_required_keys_still_report_the_missing_field_with_a_hint() {
    let doc = "course: {titel: A}\nmodlues: []\n";
    let problems = outline_problems(doc);
    assert_eq!(paths(&problems), ["course.title", "modules"]);
    assert!(problems[0].message.contains("is required") && problems[0].message.contains("\"titel\""));
    assert!(problems[1].message.contains("did you mean \"modules\""), "{}", problems[1].message);
    let problems = outline_problems("course: {title: A}\nmodules: [{title: M, lesons: [{title: L}]}]\n");
    assert_eq!(paths(&problems), ["modules[0].lessons"]);
    assert!(problems[0].message.contains("did you mean \"lessons\""));
}

#[test]
fn wrong_types_at_each_level_are_reported_with_their_paths() {
    assert_outline_problem(
        "course: [a]\nmodules: [{title: M, lessons: [{title: L}]}]\n",
        "course",
        "must be a mapping",
    );
    assert_outline_problem("course: {title: A}\nmodules: {title: M}\n", "modules", "must be a list of modules");
    assert_outline_problem("course: {title: A}\nmodules: [oops]\n", "modules[0]", "must be a mapping");
    assert_outline_problem(
        "course: {title: A}\nmodules: [{title: M, lessons: L}]\n",
        "modules[0].lessons",
        "list of lessons",
    );
    assert_outline_problem(
        "course: {title: A}\nmodules: [{title: M, lessons: [7]}]\n",
        "modules[0].lessons[0]",
        "mapping",
    );
    assert_outline_problem(
        "course: {title: A}\nmodules: [{title: M, lessons: [{title: L, topics: one}]}]\n",
        "modules[0].lessons[0].topics",
        "must be a list",
    );
    assert_outline_problem(
        "course: {title: A, audience: {a: 1}}\nmodules: [{title: M, lessons: [{title: L}]}]\n",
        "course.audience",
        "list of strings",
    );
    assert_outline_problem(
        "course: {title: A, level: [x]}\nmodules: [{title: M, lessons: [{title: L}]}]\n",
        "course.level",
        "must be text",
    );
    assert_outline_problem(
        "course: {title: 2048}\nmodules: [{title: M, lessons: [{title: L}]}]\n",
        "course.title",
        "put it in quotes",
    );
}

#[test]
fn topic_that_is_neither_string_nor_titled_object_is_reported_at_its_index() {
    let doc =
        "course: {title: A}\nmodules:\n  - title: M\n    lessons:\n      - title: L0\n      - title: L1\n        \
               topics: [a, b, c, [nested]]\n";
    let p =
        assert_outline_problem(doc, "modules[0].lessons[1].topics[3]", "must be a string or an object with a title");
    assert_eq!(p.len(), 1);
    assert_outline_problem(
        "course: {title: A}\nmodules: [{title: M, lessons: [{title: L, lab_activities: [{duration_minutes: 5}]}]}]\n",
        "modules[0].lessons[0].lab_activities[0].title",
        "is required",
    );
}

#[test]
fn course_and_course_metadata_together_are_rejected() {
    let doc = "course: {title: A}\ncourse_metadata: {title: A}\nmodules: [{title: M, lessons: [{title: L}]}]\n";
    assert_outline_problem(doc, "course_metadata", "keep only one");
}

#[test]
fn outline_without_modules_or_lessons_is_rejected() {
    assert_outline_problem("course: {title: A}\nmodules: []\n", "modules", "at least one module");
    assert_outline_problem("course: {title: A}\nmodules:\n", "modules", "at least one module");
    assert_outline_problem(
        "course: {title: A}\nmodules: [{title: M, lessons: []}]\n",
        "modules[0].lessons",
        "at least one lesson",
    );
    assert_outline_problem("course: {title: A}\nmodules: [{title: M}]\n", "modules[0].lessons", "is required");
}

// ---------------------------------------------------------------------------------------------
// titles and text

#[test]
fn empty_titles_at_every_level_are_reported_at_once() {
    let doc = "course: {title: '   '}\nmodules:\n  - title: ''\n    lessons:\n      - title:\n        topics: ['']\n  \
               - title: Fine\n    lessons: [{title: Fine}, {title: ' '}]\n";
    let problems = outline_problems(doc);
    assert_eq!(
        paths(&problems),
        [
            "course.title",
            "modules[0].title",
            "modules[0].lessons[0].title",
            "modules[0].lessons[0].topics[0]",
            "modules[1].lessons[1].title"
        ]
    );
    assert!(problems.iter().all(|p| p.message == "must not be empty"), "{problems:#?}");
}

#[test]
fn titles_longer_than_200_characters_are_rejected_and_200_is_accepted() {
    let ok = "é".repeat(limits::MAX_TITLE_CHARS);
    let long = "é".repeat(limits::MAX_TITLE_CHARS + 1);
    assert!(
        parse_outline(&format!("course: {{title: {ok}}}\nmodules: [{{title: M, lessons: [{{title: L}}]}}]\n")).is_ok()
    );
    let doc = format!("course: {{title: A}}\nmodules: [{{title: M, lessons: [{{title: L}}, {{title: {long}}}]}}]\n");
    assert_outline_problem(&doc, "modules[0].lessons[1].title", "is 201 characters long; the limit is 200");
}

#[test]
fn control_characters_are_rejected_except_tabs_and_newlines_in_descriptions() {
    let doc = "course:\n  title: \"Bell\\u0007\"\n  description: \"Line one\\n\\tindented\"\nmodules:\n  - title: \"Tab\\there\"\n    \
               summary: \"Escape\\u001b[31m\"\n    lessons:\n      - title: L\n        topics: [\"Null\\0byte\"]\n";
    let problems = outline_problems(doc);
    assert_eq!(
        paths(&problems),
        ["course.title", "modules[0].title", "modules[0].summary", "modules[0].lessons[0].topics[0]"]
    );
    assert!(problem_at(&problems, "course.title").message.contains("U+0007"));
    assert!(problem_at(&problems, "modules[0].summary").message.contains("only tabs and line breaks are allowed"));
}

#[test]
fn unsupported_language_names_the_supported_ones() {
    let problems = assert_outline_problem(
        "course: {title: A, language: xx}\nmodules: [{title: M, lessons: [{title: L}]}]\n",
        "course.language",
        "",
    );
    assert_eq!(
        problem_at(&problems, "course.language").message,
        "\"xx\" is not supported; use one of en, es, fr, de, pt, it"
    );
    assert_outline_problem(
        "course: {title: A, language: 3}\nmodules: [{title: M, lessons: [{title: L}]}]\n",
        "course.language",
        "must be a language code",
    );
}

// ---------------------------------------------------------------------------------------------
// numbers

#[test]
fn durations_must_be_positive_whole_numbers() {
    let doc = "course: {title: A, total_duration_minutes: 0}\nmodules:\n  - title: M\n    duration_minutes: -30\n    lessons:\n      \
               - {title: L0, duration_minutes: 12.5}\n      - {title: L1, duration_minutes: an hour}\n      \
               - {title: L2, duration_minutes: true}\n      - {title: L3, duration_minutes: 99999999999}\n";
    let problems = outline_problems(doc);
    assert_eq!(
        paths(&problems),
        [
            "course.total_duration_minutes",
            "modules[0].duration_minutes",
            "modules[0].lessons[0].duration_minutes",
            "modules[0].lessons[1].duration_minutes",
            "modules[0].lessons[2].duration_minutes",
            "modules[0].lessons[3].duration_minutes",
        ]
    );
    assert!(problems.iter().all(|p| p.message.starts_with("must be a positive whole number of minutes")));
    assert!(problem_at(&problems, "modules[0].duration_minutes").message.ends_with("found -30"));
    assert!(problem_at(&problems, "modules[0].lessons[1].duration_minutes").message.contains("\"an hour\""));
}

#[test]
fn durations_written_as_integer_strings_are_accepted() {
    let o = parse_outline("course: {title: A}\nmodules: [{title: M, duration_minutes: '90', lessons: [{title: L, duration_minutes: 45}]}]\n").unwrap();
    assert_eq!(o.modules[0].duration_minutes, Some(90));
    assert_eq!(o.modules[0].lessons[0].duration_minutes, Some(45));
}

// ---------------------------------------------------------------------------------------------
// limits

#[test]
fn too_many_modules_is_reported_with_the_limit() {
    let problems = outline_problems(&outline_with_modules(limits::MAX_MODULES + 1));
    assert_eq!(paths(&problems), ["modules"]);
    assert_eq!(problems[0].message, "201 modules exceed the limit of 200; split the course");
    assert!(parse_outline(&outline_with_modules(limits::MAX_MODULES)).is_ok());
}

#[test]
fn too_many_lessons_topics_and_lab_activities_are_all_reported() {
    let lessons = (0..51).map(|i| format!("{{title: L{i}}}")).collect::<Vec<_>>().join(", ");
    let topics = (0..31).map(|i| format!("t{i}")).collect::<Vec<_>>().join(", ");
    let doc = format!(
        "course: {{title: A}}\nmodules:\n  - {{title: M0, lessons: [{lessons}]}}\n  \
         - {{title: M1, lessons: [{{title: L, topics: [{topics}], lab_activities: [{topics}]}}]}}\n"
    );
    let problems = outline_problems(&doc);
    assert_eq!(
        paths(&problems),
        ["modules[0].lessons", "modules[1].lessons[0].topics", "modules[1].lessons[0].lab_activities"]
    );
    assert!(problems[0].message.contains("51 lessons exceed the limit of 50"));
    assert!(problems[1].message.contains("31 topics exceed the limit of 30"));
}

#[test]
fn oversized_file_is_rejected_before_parsing() {
    let mut doc = outline_with_modules(1);
    doc.push('#');
    doc.push_str(&"x".repeat(limits::MAX_BYTES));
    let problems = quickly(Duration::from_secs(2), || outline_problems(&doc));
    assert_eq!(paths(&problems), [""]);
    assert!(problems[0].message.contains("the limit is 1048576 bytes"), "{}", problems[0].message);
}

#[test]
fn problems_beyond_one_hundred_are_summarised() {
    let lessons = (0..50).map(|_| "{title: ''}").collect::<Vec<_>>().join(", ");
    let mut doc = String::from("course: {title: A}\nmodules:\n");
    for _ in 0..3 {
        doc.push_str(&format!("  - {{title: M, lessons: [{lessons}]}}\n"));
    }
    let problems = outline_problems(&doc);
    assert_eq!(problems.len(), 101);
    assert_eq!(problems[100].path, "");
    assert!(problems[100].message.starts_with("50 more problems not shown"));
}

// ---------------------------------------------------------------------------------------------
// alias bombs and deep nesting

#[test]
fn billion_laughs_alias_bomb_is_rejected_quickly() {
    let mut doc = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    for w in names.windows(2) {
        doc.push_str(&format!("{}: &{} [{}]\n", w[1], w[1], vec![format!("*{}", w[0]); 10].join(", ")));
    }
    doc.push_str("course: {title: *j}\nmodules: *j\n");
    assert_outline_problem_quickly(&doc, "alias bomb");
}

#[test]
fn wide_alias_bomb_that_slips_past_repetition_limits_is_rejected_quickly() {
    let mut doc = String::from("big: &a [");
    doc.push_str(&vec!["x"; 60_000].join(","));
    doc.push_str("]\nmany: [");
    doc.push_str(&vec!["*a"; 60_000].join(","));
    doc.push_str("]\n");
    assert!(doc.len() < limits::MAX_BYTES);
    assert_outline_problem_quickly(&doc, "expands to more than 1000000 nodes");
}

#[test]
fn alias_that_contains_itself_is_rejected() {
    assert_outline_problem_quickly(
        "course: &c {title: A, again: *c}\nmodules: []\n",
        "refers to a node that contains it",
    );
}

#[test]
fn deeply_nested_flow_documents_are_rejected_quickly_without_overflowing_the_stack() {
    let n = 100_000;
    for doc in ["[".repeat(n), format!("{}{}", "[".repeat(n), "]".repeat(n)), "{a: ".repeat(n), "- ".repeat(n)] {
        let problems = assert_outline_problem_quickly(&doc, "nested more than 32 levels deep");
        assert!(problems[0].message.contains("line 1 column"), "{}", problems[0].message);
    }
}

#[test]
fn nesting_hidden_behind_an_alias_is_rejected() {
    let inner = format!("{}x{}", "[".repeat(20), "]".repeat(20));
    let doc = format!("a: &deep {inner}\nb: {}*deep{}\n", "[".repeat(20), "]".repeat(20));
    assert_outline_problem_quickly(&doc, "through an alias");
}

fn assert_outline_problem_quickly(doc: &str, needle: &str) -> Vec<Problem> {
    quickly(Duration::from_secs(10), || assert_outline_problem(doc, "", needle))
}

// ---------------------------------------------------------------------------------------------
// modules_to_generate

#[test]
fn module_zero_is_rejected() {
    let p = spec_problems(json!([0, 1]), 5);
    assert_eq!(paths(&p), ["modules_to_generate[0]"]);
    assert!(p[0].message.contains("start at 1"));
    assert_eq!(paths(&spec_problems(json!("0-2"), 5)), ["modules_to_generate"]);
}

#[test]
fn out_of_range_modules_are_rejected_with_the_module_count() {
    let p = spec_problems(json!([1, 6]), 5);
    assert_eq!(paths(&p), ["modules_to_generate[1]"]);
    assert_eq!(p[0].message, "module 6 does not exist; the outline has 5 modules");
    let p = spec_problems(json!("2-9"), 5);
    assert!(p[0].message.contains("goes past the last module"));
    assert_eq!(paths(&spec_problems(json!("99999999999999999999999"), 5)), ["modules_to_generate"]);
}

#[test]
fn duplicate_modules_are_rejected_in_lists_and_overlapping_ranges() {
    let p = spec_problems(json!([1, 3, 1]), 5);
    assert_eq!(paths(&p), ["modules_to_generate[2]"]);
    assert!(p[0].message.contains("module 1 is selected more than once"));
    let p = spec_problems(json!("1-3,2"), 5);
    assert_eq!(paths(&p), ["modules_to_generate"]);
    assert!(p[0].message.contains("module 2"));
}

#[test]
fn reversed_range_is_rejected_with_the_fix() {
    let p = spec_problems(json!("5-3"), 5);
    assert_eq!(paths(&p), ["modules_to_generate"]);
    assert_eq!(p[0].message, "range \"5-3\" is reversed; write \"3-5\"");
}

#[test]
fn garbage_and_empty_selections_are_rejected() {
    // Each bad part of a string is its own problem.
    assert_eq!(paths(&spec_problems(json!("one,two"), 5)), ["modules_to_generate", "modules_to_generate"]);
    for spec in [json!("1;2"), json!("-3"), json!("1,,2"), json!("3-"), json!("")] {
        let p = spec_problems(spec.clone(), 5);
        assert_eq!(paths(&p), ["modules_to_generate"], "{spec}");
    }
    for spec in [json!([]), json!(true), json!({"a": 1}), json!(null), json!(2.5), json!(-1)] {
        let p = spec_problems(spec.clone(), 5);
        assert_eq!(paths(&p), ["modules_to_generate"], "{spec}");
    }
    let p = spec_problems(json!([1, "x", 2.5, -2, null]), 5);
    assert_eq!(
        paths(&p),
        ["modules_to_generate[1]", "modules_to_generate[2]", "modules_to_generate[3]", "modules_to_generate[4]"]
    );
}

#[test]
fn every_module_selection_form_is_accepted_and_sorted() {
    for (spec, want) in [
        (json!([4, 1, 3]), vec![1, 3, 4]),
        (json!(["1", " 3 "]), vec![1, 3]),
        (json!("all"), vec![1, 2, 3, 4, 5]),
        (json!(" ALL "), vec![1, 2, 3, 4, 5]),
        (json!("1,3-5"), vec![1, 3, 4, 5]),
        (json!(" 5 , 1 - 2 "), vec![1, 2, 5]),
        (json!("2"), vec![2]),
        (json!(2), vec![2]),
        (json!("3-3"), vec![3]),
    ] {
        assert_eq!(parse_module_spec(&spec, 5).unwrap(), want, "{spec}");
    }
}

// ---------------------------------------------------------------------------------------------
// requests

#[test]
fn module_number_that_disagrees_with_modules_to_generate_is_rejected() {
    let p = request_problems(json!({"modules_to_generate": [1, 2], "module_number": 3}));
    assert_eq!(paths(&p), ["module_number"]);
    assert!(p[0].message.contains("give only modules_to_generate"));
    let r = normalize_request(&raw(json!({"modules_to_generate": "2", "module_number": 2})), &request_outline(), "p")
        .unwrap();
    assert_eq!(r.modules, [2]);
    let r = normalize_request(&raw(json!({"module_number": "4"})), &request_outline(), "p").unwrap();
    assert_eq!(r.modules, [4]);
    assert_eq!(paths(&request_problems(json!({"module_number": 9}))), ["module_number"]);
}

#[test]
fn unsafe_project_folders_are_rejected_with_the_rule_and_a_suggestion() {
    for (folder, suggestion) in [
        ("../x", Some("x")),
        ("A", Some("a")),
        ("a/b", Some("a-b")),
        ("-lead", Some("lead")),
        ("under_score", Some("under-score")),
        ("", None),
    ] {
        let p = request_problems(json!({ "project_folder": folder }));
        assert_eq!(paths(&p), ["project_folder"], "{folder:?}");
        assert!(p[0].message.contains("[a-z0-9][a-z0-9-]{0,62}"), "{}", p[0].message);
        if let Some(s) = suggestion {
            assert!(p[0].message.contains(&format!("try \"{s}\"")), "{}", p[0].message);
        }
    }
    let long = "a".repeat(64);
    let p = request_problems(json!({ "project_folder": long }));
    assert!(p[0].message.contains(&format!("try \"{}\"", "a".repeat(63))));
}

#[test]
fn invalid_default_project_folder_is_rejected() {
    let e = normalize_request(&RawRequest::default(), &request_outline(), "Not Valid").unwrap_err();
    assert_eq!(e.error_type(), "InvalidRequest");
    let StageError::InvalidRequest(p) = e else { unreachable!() };
    assert_eq!(paths(&p.0), ["project_folder"]);
}

#[test]
fn unsafe_outline_keys_are_rejected() {
    for key in ["../outline.yaml", "/etc/outline.yaml", "a//b.yaml", "", "a\\b.yaml"] {
        let p = request_problems(json!({ "outline_key": key }));
        assert_eq!(paths(&p), ["outline_key"], "{key:?}");
        assert!(p[0].message.contains("not a safe store key"));
    }
}

#[test]
fn bad_content_type_is_rejected() {
    let p = request_problems(json!({"content_type": "video"}));
    assert_eq!(paths(&p), ["content_type"]);
    assert_eq!(p[0].message, "\"video\" is not a content type; use theory, labs or both");
    assert_eq!(paths(&request_problems(json!({"content_type": 1}))), ["content_type"]);
}

#[test]
fn labs_requested_for_modules_without_lab_activities_is_rejected() {
    for ct in ["labs", "both"] {
        let p = request_problems(json!({"content_type": ct, "modules_to_generate": "3-5"}));
        assert_eq!(paths(&p), ["content_type"]);
        assert!(p[0].message.contains("(3, 4, 5) have no lab_activities"), "{}", p[0].message);
    }
    let r = normalize_request(
        &raw(json!({"content_type": "labs", "modules_to_generate": [1, 2]})),
        &request_outline(),
        "p",
    )
    .unwrap();
    assert_eq!(r.content_type, ContentType::Labs);
}

#[test]
fn max_concurrency_outside_one_to_forty_or_not_a_number_is_rejected() {
    for v in [json!(0), json!(41), json!("ten"), json!(2.5), json!(-1), json!(true)] {
        let p = request_problems(json!({ "max_concurrency": v }));
        assert_eq!(paths(&p), ["max_concurrency"], "{v}");
    }
    assert!(request_problems(json!({"max_concurrency": 41}))[0].message.contains("use 1 to 40"));
}

#[test]
fn force_that_is_not_a_boolean_is_rejected() {
    for v in [json!("maybe"), json!(1), json!([true])] {
        let p = request_problems(json!({ "force": v }));
        assert_eq!(paths(&p), ["force"], "{v}");
    }
    assert_eq!(request_problems(json!({"force": "maybe"}))[0].message, "must be true or false, found \"maybe\"");
}

#[test]
fn every_request_problem_is_reported_at_once() {
    let p = request_problems(json!({
        "project_folder": "../etc",
        "modules_to_generate": "0,7",
        "content_type": "video",
        "max_concurrency": 0,
        "force": "maybe",
    }));
    assert_eq!(
        paths(&p),
        ["project_folder", "modules_to_generate", "modules_to_generate", "content_type", "max_concurrency", "force"]
    );
}

#[test]
fn request_defaults_are_filled_in() {
    let r = normalize_request(&RawRequest::default(), &request_outline(), "networking-basics").unwrap();
    assert_eq!(r.project_folder, "networking-basics");
    assert_eq!(r.outline_key, "networking-basics/course/outline.yaml");
    assert_eq!(r.modules, [1, 2, 3, 4, 5]);
    assert_eq!(r.content_type, ContentType::Theory);
    // No concurrency given: PrepareCourse's estimate, the whole fan-out of the selection.
    assert_eq!((r.max_concurrency, r.lesson_concurrency), (5, 1));
    assert!(!r.force);
    let nulls = json!({"project_folder": null, "modules_to_generate": null, "content_type": null, "force": null});
    assert_eq!(normalize_request(&raw(nulls), &request_outline(), "networking-basics").unwrap(), r);
}

#[test]
fn concurrency_estimates_follow_the_selection_and_stop_at_forty() {
    let outline = |modules: usize, lessons: usize| {
        let lesson_list = (1..=lessons).map(|l| format!("{{title: L{l}}}")).collect::<Vec<_>>().join(", ");
        let yaml = (1..=modules)
            .map(|m| {
                format!("  - {{title: M{m}, lessons: [{}]}}\n", if m == 2 { "{title: only}" } else { &lesson_list })
            })
            .collect::<String>();
        parse_outline(&format!("course: {{title: Big}}\nmodules:\n{yaml}")).unwrap()
    };
    let r = normalize_request(&RawRequest::default(), &outline(45, 7), "big").unwrap();
    assert_eq!((r.max_concurrency, r.lesson_concurrency), (40, 7), "every module, capped at the Map's 40");
    let r = normalize_request(&raw(json!({"modules_to_generate": "2"})), &outline(45, 7), "big").unwrap();
    assert_eq!((r.max_concurrency, r.lesson_concurrency), (1, 1), "module 2 alone has one lesson");
    let r = normalize_request(&raw(json!({"modules_to_generate": "1-3"})), &outline(3, 50), "big").unwrap();
    assert_eq!((r.max_concurrency, r.lesson_concurrency), (3, 40));
    let given = json!({"max_concurrency": 2, "lesson_concurrency": "3"});
    let r = normalize_request(&raw(given), &outline(10, 7), "big").unwrap();
    assert_eq!((r.max_concurrency, r.lesson_concurrency), (2, 3), "what the request gives wins");
}

#[test]
fn lesson_concurrency_outside_one_to_forty_or_not_a_number_is_rejected() {
    for v in [json!(0), json!(41), json!(-1), json!(2.5), json!("many"), json!([4])] {
        let p = request_problems(json!({ "lesson_concurrency": v }));
        assert_eq!(paths(&p), ["lesson_concurrency"], "{v}");
    }
    assert!(request_problems(json!({"lesson_concurrency": 41}))[0].message.contains("leave it out"));
}

#[test]
fn request_values_given_as_strings_are_accepted() {
    let r = normalize_request(
        &raw(json!({"project_folder": "net-101", "outline_key": "uploads/net.yaml", "modules_to_generate": "1,2",
                    "content_type": " Both ", "max_concurrency": "40", "force": "TRUE"})),
        &request_outline(),
        "unused",
    )
    .unwrap();
    assert_eq!((r.project_folder.as_str(), r.outline_key.as_str()), ("net-101", "uploads/net.yaml"));
    assert_eq!((r.modules, r.content_type, r.max_concurrency, r.force), (vec![1, 2], ContentType::Both, 40, true));
    let r = normalize_request(&raw(json!({"force": "false", "max_concurrency": 1})), &request_outline(), "p").unwrap();
    assert_eq!((r.force, r.max_concurrency), (false, 1));
}

#[test]
fn default_project_folder_is_a_valid_slug_of_the_course_title() {
    let mut o = request_outline();
    assert_eq!(default_project_folder(&o), "networking-basics");
    o.course.title = "Introducción a la Ciberseguridad — Nivel 1".into();
    assert_eq!(default_project_folder(&o), "introduccion-a-la-ciberseguridad-nivel-1");
    o.course.title = "¿?".into();
    assert_eq!(default_project_folder(&o), "untitled");
    o.course.title = "word ".repeat(40);
    let slug = default_project_folder(&o);
    assert!(coursegen_core::keys::is_valid_project_folder(&slug), "{slug}");
}

// ---------------------------------------------------------------------------------------------
// accepted outlines

const REFERENCE_OUTLINE: &str = r#"
course:
  title: Kubernetes for DevOps Engineers
  description: ...
  language: en            # en, es, fr, de, pt, it: lessons are written in this language
  level: intermediate
  audience: [DevOps engineers]
  prerequisites: [Linux command line]
  total_duration_minutes: 1200
  learning_outcomes: [...]
modules:
  - title: Module 1 — Introduction & Setup
    summary: ...
    duration_minutes: 150
    bloom_level: Remember / Understand
    lessons:
      - title: Kubernetes core concepts
        duration_minutes: 50
        bloom_level: Understand
        topics:          # strings or {title, duration_minutes, bloom_level}
          - Containers, images, and runtime concepts
        lab_activities:  # same shape as topics
          - {title: "Hands-on: start a local cluster", duration_minutes: 60, bloom_level: Apply}
"#;

#[test]
fn the_design_example_parses_unchanged() {
    let o = parse_outline(REFERENCE_OUTLINE).unwrap();
    assert_eq!(o.course.title, "Kubernetes for DevOps Engineers");
    assert_eq!(o.course.language, Language::En);
    assert_eq!(o.course.total_duration_minutes, Some(1200));
    assert_eq!(o.course.audience, ["DevOps engineers"]);
    let l = o.lesson(1, 1).unwrap();
    assert_eq!(l.topics[0].title, "Containers, images, and runtime concepts");
    assert_eq!(l.lab_activities[0].title, "Hands-on: start a local cluster");
    assert_eq!(l.lab_activities[0].duration_minutes, Some(60));
    assert_eq!(l.lab_activities[0].bloom_level.as_deref(), Some("Apply"));
}

#[test]
fn course_metadata_is_accepted_as_an_alias_of_course() {
    let doc = REFERENCE_OUTLINE.replacen("course:", "course_metadata:", 1).replace("language: en ", "language: ES ");
    let o = parse_outline(&doc).unwrap();
    assert_eq!(o.course.title, "Kubernetes for DevOps Engineers");
    assert_eq!(o.course.language, Language::Es);
    let problems = outline_problems(&doc.replace("title: Kubernetes for DevOps Engineers", "title: ''"));
    assert_eq!(paths(&problems), ["course_metadata.title"]);
}

#[test]
fn topics_as_strings_and_objects_and_unknown_keys_and_merge_keys_are_accepted() {
    let doc = "x-editor: {version: 3}\ncourse: {title: '  Padded  ', owner: someone}\ndefaults: &lab {duration_minutes: 30, bloom_level: Apply}\n\
               modules:\n  - title: M\n    color: blue\n    lessons:\n      - title: L\n        topics: [plain, {title: object, \
               duration_minutes: 5}]\n        lab_activities: [{<<: *lab, title: Merged lab}]\n";
    let o = parse_outline(doc).unwrap();
    assert_eq!(o.course.title, "Padded");
    let l = o.lesson(1, 1).unwrap();
    assert_eq!((l.topics[0].title.as_str(), l.topics[0].duration_minutes), ("plain", None));
    assert_eq!((l.topics[1].title.as_str(), l.topics[1].duration_minutes), ("object", Some(5)));
    assert_eq!(l.lab_activities[0].duration_minutes, Some(30));
    assert_eq!(l.lab_activities[0].bloom_level.as_deref(), Some("Apply"));
}

#[test]
fn descriptions_keep_tabs_and_newlines() {
    let doc = "course:\n  title: A\n  description: |\n    First line\n    \tSecond line\nmodules: [{title: M, lessons: [{title: L}]}]\n";
    let o = parse_outline(doc).unwrap();
    assert_eq!(o.course.description.as_deref(), Some("First line\n\tSecond line"));
}

#[test]
fn arbitrary_yaml_like_input_never_panics_and_fails_only_as_invalid_outline() {
    const PIECES: &[&str] = &[
        "[", "]", "{", "}", ", ", ": ", "\"", "'", "title", "course", "modules", "lessons", "topics", "- ", "  ", "\n",
        "\n  ", "\n    ", "? ", "#c", "|", ">", "&x ", "*x", "!t ", "<<: ", "\t", "\r\n", "---\n", "-1", "2.5", "é",
        "\u{85}", "\u{feff}", "\\", "null", "~", "true",
    ];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for _ in 0..20_000 {
        let len = 1 + next(60);
        let doc: String = (0..len).map(|_| PIECES[next(PIECES.len())]).collect();
        if let Err(e) = parse_outline(&doc) {
            assert_eq!(e.error_type(), "InvalidOutline", "{doc:?}");
        }
    }
}
