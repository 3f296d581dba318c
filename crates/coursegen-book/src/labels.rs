//! Fixed labels in the languages the book supports.

/// The fixed words a rendered book uses around the generated content.
#[derive(Debug)]
pub(crate) struct Labels {
    pub contents: &'static str,
    pub module: &'static str,
    pub lesson: &'static str,
    pub labs: &'static str,
    pub lab: &'static str,
    pub prerequisites: &'static str,
    pub learning_outcomes: &'static str,
    pub audience: &'static str,
    pub figure: &'static str,
    pub level: &'static str,
    pub note: &'static str,
    pub missing_visual: &'static str,
    pub untitled: &'static str,
    /// The heading of a lesson's quiz.
    pub quiz: &'static str,
    /// The summary of a revealed answer.
    pub show_answer: &'static str,
    /// Before the right answer.
    pub answer: &'static str,
    /// The heading of a module's answer key.
    pub answer_key: &'static str,
    pub true_: &'static str,
    pub false_: &'static str,
    /// Before a short answer's other accepted answers.
    pub also_accepted: &'static str,
    /// The quiz's submit button (SCORM package).
    pub check_answers: &'static str,
    /// The score line (`{score}` is the percentage).
    pub score: &'static str,
    pub passed: &'static str,
    pub failed: &'static str,
    pub correct: &'static str,
    pub wrong: &'static str,
    /// The label of a short-answer input.
    pub your_answer: &'static str,
}

const EN: Labels = Labels {
    contents: "Contents",
    module: "Module",
    lesson: "Lesson",
    labs: "Labs",
    lab: "Lab",
    prerequisites: "Prerequisites",
    learning_outcomes: "Learning outcomes",
    audience: "Audience",
    figure: "Figure",
    level: "Level",
    note: "Note",
    missing_visual: "missing visual",
    untitled: "Untitled course",
    quiz: "Check your understanding",
    show_answer: "Show answer",
    answer: "Answer",
    answer_key: "Answer key",
    true_: "True",
    false_: "False",
    also_accepted: "also accepted",
    check_answers: "Check my answers",
    score: "Score: {score}%",
    passed: "Passed",
    failed: "Not passed yet: review the lesson and try again",
    correct: "Correct",
    wrong: "Not quite",
    your_answer: "Your answer",
};

const ES: Labels = Labels {
    contents: "Contenido",
    module: "Módulo",
    lesson: "Lección",
    labs: "Laboratorios",
    lab: "Laboratorio",
    prerequisites: "Requisitos previos",
    learning_outcomes: "Resultados de aprendizaje",
    audience: "Público",
    figure: "Figura",
    level: "Nivel",
    note: "Nota",
    missing_visual: "falta el elemento visual",
    untitled: "Curso sin título",
    quiz: "Compruebe lo aprendido",
    show_answer: "Mostrar respuesta",
    answer: "Respuesta",
    answer_key: "Clave de respuestas",
    true_: "Verdadero",
    false_: "Falso",
    also_accepted: "también se acepta",
    check_answers: "Comprobar mis respuestas",
    score: "Puntuación: {score} %",
    passed: "Aprobado",
    failed: "Aún no aprobado: repase la lección e inténtelo de nuevo",
    correct: "Correcto",
    wrong: "No exactamente",
    your_answer: "Su respuesta",
};

const FR: Labels = Labels {
    contents: "Sommaire",
    module: "Module",
    lesson: "Leçon",
    labs: "Travaux pratiques",
    lab: "Atelier",
    prerequisites: "Prérequis",
    learning_outcomes: "Objectifs d’apprentissage",
    audience: "Public",
    figure: "Figure",
    level: "Niveau",
    note: "Remarque",
    missing_visual: "visuel manquant",
    untitled: "Cours sans titre",
    quiz: "Vérifiez vos acquis",
    show_answer: "Afficher la réponse",
    answer: "Réponse",
    answer_key: "Corrigé",
    true_: "Vrai",
    false_: "Faux",
    also_accepted: "également accepté",
    check_answers: "Vérifier mes réponses",
    score: "Score : {score} %",
    passed: "Réussi",
    failed: "Pas encore réussi : relisez la leçon et réessayez",
    correct: "Correct",
    wrong: "Pas tout à fait",
    your_answer: "Votre réponse",
};

const DE: Labels = Labels {
    contents: "Inhalt",
    module: "Modul",
    lesson: "Lektion",
    labs: "Übungen",
    lab: "Übung",
    prerequisites: "Voraussetzungen",
    learning_outcomes: "Lernziele",
    audience: "Zielgruppe",
    figure: "Abbildung",
    level: "Niveau",
    note: "Hinweis",
    missing_visual: "fehlende Abbildung",
    untitled: "Unbenannter Kurs",
    quiz: "Überprüfen Sie Ihr Wissen",
    show_answer: "Antwort anzeigen",
    answer: "Antwort",
    answer_key: "Lösungen",
    true_: "Wahr",
    false_: "Falsch",
    also_accepted: "ebenfalls richtig",
    check_answers: "Antworten prüfen",
    score: "Ergebnis: {score} %",
    passed: "Bestanden",
    failed: "Noch nicht bestanden: Lektion wiederholen und erneut versuchen",
    correct: "Richtig",
    wrong: "Nicht ganz",
    your_answer: "Ihre Antwort",
};

const PT: Labels = Labels {
    contents: "Sumário",
    module: "Módulo",
    lesson: "Lição",
    labs: "Laboratórios",
    lab: "Laboratório",
    prerequisites: "Pré-requisitos",
    learning_outcomes: "Resultados de aprendizagem",
    audience: "Público-alvo",
    figure: "Figura",
    level: "Nível",
    note: "Nota",
    missing_visual: "elemento visual em falta",
    untitled: "Curso sem título",
    quiz: "Verifique o que aprendeu",
    show_answer: "Mostrar resposta",
    answer: "Resposta",
    answer_key: "Chave de respostas",
    true_: "Verdadeiro",
    false_: "Falso",
    also_accepted: "também aceite",
    check_answers: "Verificar as minhas respostas",
    score: "Pontuação: {score} %",
    passed: "Aprovado",
    failed: "Ainda não aprovado: reveja a lição e tente de novo",
    correct: "Correto",
    wrong: "Não exatamente",
    your_answer: "A sua resposta",
};

const IT: Labels = Labels {
    contents: "Indice",
    module: "Modulo",
    lesson: "Lezione",
    labs: "Laboratori",
    lab: "Laboratorio",
    prerequisites: "Prerequisiti",
    learning_outcomes: "Risultati di apprendimento",
    audience: "Destinatari",
    figure: "Figura",
    level: "Livello",
    note: "Nota",
    missing_visual: "elemento visivo mancante",
    untitled: "Corso senza titolo",
    quiz: "Verifica le conoscenze",
    show_answer: "Mostra la risposta",
    answer: "Risposta",
    answer_key: "Soluzioni",
    true_: "Vero",
    false_: "Falso",
    also_accepted: "accettato anche",
    check_answers: "Verifica le risposte",
    score: "Punteggio: {score}%",
    passed: "Superato",
    failed: "Non ancora superato: rivedi la lezione e riprova",
    correct: "Corretto",
    wrong: "Non proprio",
    your_answer: "La tua risposta",
};

/// The labels for a language tag (`es`, `es-MX`, `PT_br`, ...); English for anything unknown.
pub(crate) fn labels_for(language: &str) -> &'static Labels {
    let primary: String =
        language.trim().chars().take_while(|c| c.is_ascii_alphabetic()).map(|c| c.to_ascii_lowercase()).collect();
    match primary.as_str() {
        "es" | "spa" => &ES,
        "fr" | "fra" | "fre" => &FR,
        "de" | "deu" | "ger" => &DE,
        "pt" | "por" => &PT,
        "it" | "ita" => &IT,
        _ => &EN,
    }
}

/// A BCP 47-looking language tag safe for `lang`, `xml:lang` and `dc:language`; `en` when unusable.
pub(crate) fn language_tag(language: &str) -> String {
    let tag = language.trim().replace('_', "-");
    let valid = !tag.is_empty()
        && tag.len() <= 35
        && tag
            .split('-')
            .all(|part| !part.is_empty() && part.len() <= 8 && part.chars().all(|c| c.is_ascii_alphanumeric()))
        && tag.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if valid {
        tag
    } else {
        "en".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_to_english() {
        assert_eq!(labels_for("xx").contents, "Contents");
        assert_eq!(labels_for("").contents, "Contents");
        assert_eq!(labels_for("es-MX").contents, "Contenido");
        assert_eq!(labels_for("DE").module, "Modul");
    }

    #[test]
    fn sanitises_language_tags() {
        assert_eq!(language_tag("pt_BR"), "pt-BR");
        assert_eq!(language_tag("en\" onload=\"x"), "en");
        assert_eq!(language_tag(""), "en");
        assert_eq!(language_tag("-es"), "en");
    }
}
