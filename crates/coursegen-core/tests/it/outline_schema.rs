//! `schemas/outline.schema.json` and `parse_outline` agree: every example outline (the
//! repository's `examples/*.yaml` and the two realistic outlines below) validates against the
//! schema and parses, and a few invalid documents fail both.

use std::path::PathBuf;

use coursegen_core::{parse_outline, Language};

const ENGLISH: &str = r#"
course:
  title: PostgreSQL for Application Developers
  description: |
    A practical course for developers who use PostgreSQL every day but have never
    looked under the hood: schema design, queries that scale, and safe operations.
  language: en
  level: intermediate
  audience: [Backend developers, Full-stack developers]
  prerequisites: [Basic SQL, One programming language]
  total_duration_minutes: 960
  learning_outcomes:
    - Design normalised schemas with the right constraints
    - Read query plans and fix slow queries with indexes
    - Run migrations and backups without downtime
modules:
  - title: Module 1 — Schemas that last
    summary: Tables, types and constraints that keep data correct.
    duration_minutes: 240
    bloom_level: Understand / Apply
    lessons:
      - title: Choosing column types
        duration_minutes: 45
        bloom_level: Understand
        topics:
          - Text, numeric and temporal types
          - {title: "UUIDs versus identity columns", duration_minutes: 10, bloom_level: Analyze}
        lab_activities:
          - "Model a small shop schema"
      - title: Constraints and keys
        duration_minutes: 45
        topics:
          - Primary, unique and foreign keys
          - Check constraints and NOT NULL
        lab_activities:
          - {title: "Reject bad orders with constraints", duration_minutes: 30, bloom_level: Apply}
      - title: Normalisation in practice
        duration_minutes: 50
        topics: [First to third normal form, When to denormalise]
  - title: Module 2 — Queries that scale
    summary: Joins, aggregates and window functions, and what they cost.
    duration_minutes: 240
    lessons:
      - title: Joins and subqueries
        topics:
          - Inner, outer and lateral joins
          - {title: Correlated subqueries, duration_minutes: 15}
      - title: Aggregates and window functions
        topics: [GROUP BY and HAVING, Running totals with window functions]
        lab_activities:
          - {title: "Build a monthly revenue report", duration_minutes: 40, bloom_level: Apply}
      - title: Common table expressions
        topics: [Readable queries with WITH, Recursive CTEs for trees]
  - title: Module 3 — Indexes and query plans
    duration_minutes: 240
    bloom_level: Analyze
    lessons:
      - title: Reading EXPLAIN ANALYZE
        topics: [Sequential versus index scans, Estimates versus actual rows]
        lab_activities: ["Find the slowest query in a sample workload"]
      - title: B-tree, GIN and BRIN indexes
        topics:
          - {title: Multicolumn index order, bloom_level: Analyze}
          - Partial and expression indexes
      - title: Statistics and the planner
        topics: [ANALYZE and autovacuum, Extended statistics]
  - title: Module 4 — Safe operations
    duration_minutes: 240
    lessons:
      - title: Migrations without downtime
        topics: [Adding columns safely, Building indexes concurrently]
        lab_activities:
          - {title: "Ship a zero-downtime migration", duration_minutes: 45, bloom_level: Apply}
      - title: Backups and point-in-time recovery
        topics: [pg_dump versus base backups, WAL archiving]
      - title: Connection pooling
        topics: [Why connections are expensive, PgBouncer modes]
        lab_activities: ["Put PgBouncer in front of an application"]
"#;

const SPANISH: &str = r#"
course_metadata:
  title: Introducción a la ciberseguridad para equipos de desarrollo
  description: Fundamentos de seguridad aplicados al ciclo de vida del software.
  language: es
  level: principiante
  audience: [Desarrolladores, Líderes técnicos]
  prerequisites: [Programación básica]
  total_duration_minutes: 900
  learning_outcomes:
    - Identificar las amenazas más comunes en aplicaciones web
    - Aplicar controles de seguridad en el código y en la infraestructura
modules:
  - title: Módulo 1 — Amenazas y riesgos
    summary: "Cómo piensa un atacante y cómo se mide el riesgo."
    duration_minutes: 225
    bloom_level: Recordar / Comprender
    lessons:
      - title: El modelo de amenazas
        duration_minutes: 45
        topics:
          - Activos, amenazas y vulnerabilidades
          - {title: "STRIDE paso a paso", duration_minutes: 20, bloom_level: Aplicar}
        lab_activities:
          - "Dibujar el modelo de amenazas de una tienda en línea"
      - title: OWASP Top 10
        topics: [Inyección, Control de acceso roto, Configuración insegura]
      - title: Gestión del riesgo
        topics: [Probabilidad e impacto, Priorizar la corrección]
  - title: Módulo 2 — Código seguro
    duration_minutes: 225
    lessons:
      - title: Validación de entradas
        topics: [Listas de permitidos, Codificación de salidas]
        lab_activities:
          - {title: "Corregir una inyección SQL", duration_minutes: 40, bloom_level: Aplicar}
      - title: Autenticación y sesiones
        topics:
          - Contraseñas y funciones de derivación
          - {title: Autenticación multifactor}
      - title: Gestión de secretos
        topics: [Variables de entorno frente a bóvedas, Rotación de credenciales]
  - title: Módulo 3 — Infraestructura
    duration_minutes: 225
    lessons:
      - title: Redes y cortafuegos
        topics: [Segmentación, Principio de mínimo privilegio]
      - title: Contenedores seguros
        topics: [Imágenes mínimas, Escaneo de vulnerabilidades]
        lab_activities: ["Escanear una imagen con una herramienta de código abierto"]
      - title: Registro y monitorización
        topics: [Qué registrar, Alertas útiles]
  - title: Módulo 4 — Respuesta a incidentes
    duration_minutes: 225
    lessons:
      - title: Preparación
        topics: [Plan de respuesta, Roles y comunicación]
      - title: Detección y contención
        topics: [Indicadores de compromiso, Aislar sistemas afectados]
        lab_activities:
          - {title: "Simulacro de incidente", duration_minutes: 60, bloom_level: Evaluar}
      - title: Lecciones aprendidas
        topics: [Análisis post mortem sin culpables, Mejora continua]
"#;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validator() -> jsonschema::Validator {
    let path = repo_root().join("schemas/outline.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema compiles")
}

fn as_json(yaml: &str) -> serde_json::Value {
    serde_yaml_ng::from_str(yaml).expect("YAML converts to JSON")
}

fn schema_errors(v: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let instance = as_json(yaml);
    v.iter_errors(&instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

/// Every outline that must be accepted: the embedded two and any `examples/*.yaml`.
fn good_outlines() -> Vec<(String, String)> {
    let mut all =
        vec![("embedded English".to_string(), ENGLISH.to_string()), ("embedded Spanish".into(), SPANISH.into())];
    if let Ok(dir) = std::fs::read_dir(repo_root().join("examples")) {
        let mut files: Vec<PathBuf> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
            all.push((f.display().to_string(), text));
        }
    }
    all
}

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    let path = repo_root().join("schemas/outline.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert!(jsonschema::meta::is_valid(&schema));
}

#[test]
fn every_example_outline_validates_against_the_schema_and_parses() {
    let v = validator();
    for (name, text) in good_outlines() {
        let errors = schema_errors(&v, &text);
        assert!(errors.is_empty(), "{name} breaks the schema: {errors:#?}");
        let outline = parse_outline(&text).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
        assert!(!outline.modules.is_empty(), "{name}");
    }
}

#[test]
fn the_embedded_outlines_are_realistic_and_parse_to_the_expected_shape() {
    for (text, language, title) in [
        (ENGLISH, Language::En, "PostgreSQL for Application Developers"),
        (SPANISH, Language::Es, "Introducción a la ciberseguridad para equipos de desarrollo"),
    ] {
        let o = parse_outline(text).unwrap();
        assert_eq!(o.course.language, language);
        assert_eq!(o.course.title, title);
        assert!(o.modules.len() >= 4);
        assert!(o.modules.iter().all(|m| m.lessons.len() >= 3));
        let items = || o.modules.iter().flat_map(|m| &m.lessons).flat_map(|l| l.topics.iter().chain(&l.lab_activities));
        assert!(items().any(|i| i.duration_minutes.is_some()), "object-form items");
        assert!(items().any(|i| i.duration_minutes.is_none() && i.bloom_level.is_none()), "string-form items");
        assert!(o.modules.iter().flat_map(|m| &m.lessons).any(|l| !l.lab_activities.is_empty()));
    }
}

#[test]
fn invalid_documents_fail_both_the_schema_and_the_parser() {
    let v = validator();
    let long = "x".repeat(201);
    let many_topics = (0..31).map(|i| format!("t{i}")).collect::<Vec<_>>().join(", ");
    let cases = [
        ("no modules", "course: {title: A}\n".to_string()),
        ("empty module list", "course: {title: A}\nmodules: []\n".to_string()),
        ("module without lessons", "course: {title: A}\nmodules: [{title: M, lessons: []}]\n".to_string()),
        ("blank title", "course: {title: '  '}\nmodules: [{title: M, lessons: [{title: L}]}]\n".to_string()),
        ("title too long", format!("course: {{title: {long}}}\nmodules: [{{title: M, lessons: [{{title: L}}]}}]\n")),
        (
            "bad language",
            "course: {title: A, language: xx}\nmodules: [{title: M, lessons: [{title: L}]}]\n".to_string(),
        ),
        (
            "topic of the wrong type",
            "course: {title: A}\nmodules: [{title: M, lessons: [{title: L, topics: [3]}]}]\n".to_string(),
        ),
        (
            "topic object without title",
            "course: {title: A}\nmodules: [{title: M, lessons: [{title: L, topics: [{bloom_level: x}]}]}]\n"
                .to_string(),
        ),
        (
            "negative duration",
            "course: {title: A}\nmodules: [{title: M, duration_minutes: -5, lessons: [{title: L}]}]\n".to_string(),
        ),
        (
            "decimal duration",
            "course: {title: A}\nmodules: [{title: M, duration_minutes: 2.5, lessons: [{title: L}]}]\n".to_string(),
        ),
        (
            "too many topics",
            format!(
                "course: {{title: A}}\nmodules: [{{title: M, lessons: [{{title: L, topics: [{many_topics}]}}]}}]\n"
            ),
        ),
        (
            "control character",
            "course: {title: \"A\\u0007\"}\nmodules: [{title: M, lessons: [{title: L}]}]\n".to_string(),
        ),
        (
            "course and course_metadata",
            "course: {title: A}\ncourse_metadata: {title: A}\nmodules: [{title: M, lessons: [{title: L}]}]\n"
                .to_string(),
        ),
    ];
    for (name, doc) in cases {
        assert!(!schema_errors(&v, &doc).is_empty(), "{name}: the schema accepted it");
        let err = parse_outline(&doc).expect_err(name);
        assert_eq!(err.error_type(), "InvalidOutline", "{name}");
    }
}
