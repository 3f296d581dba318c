//! Fixed phrases in the six course languages: offline drafts, lab guide headings, the book's
//! offline notice. Templates use `{name}` placeholders filled by [`fill`].

use coursegen_core::Language;

/// Every fixed phrase one language needs.
pub(crate) struct Phrases {
    pub offline_marker: &'static str,
    pub objectives: &'static str,
    pub objective_templates: [&'static str; 3],
    pub intro: &'static str,
    pub paragraphs: [&'static str; 6],
    pub visual: &'static str,
    pub visual_extra: [&'static str; 3],
    pub visual_illustration: &'static str,
    pub lab_activity: &'static str,
    pub lab_intro: &'static str,
    pub no_lab: &'static str,
    pub summary: &'static str,
    pub summary_text: &'static str,
    pub review: &'static str,
    pub questions: [&'static str; 3],
    pub lab_objectives: &'static str,
    pub lab_prerequisites: &'static str,
    pub lab_time: &'static str,
    pub lab_steps: &'static str,
    pub lab_troubleshooting: &'static str,
    pub lab_cleanup: &'static str,
    pub verify: &'static str,
    pub minutes: &'static str,
    pub step_templates: [&'static str; 4],
    pub verify_templates: [&'static str; 4],
    pub troubleshooting: [&'static str; 2],
    pub cleanup: &'static str,
    pub lab_objective_templates: [&'static str; 3],
    pub lab_prereq_templates: [&'static str; 2],
    pub notice: &'static str,
    /// Appended to the title of a lesson or lab that was not generated (the contents show it).
    pub not_generated: &'static str,
    /// The note standing where a lesson or lab was not generated; `{reason}` is why.
    pub not_generated_note: &'static str,
    pub alt_diagram: &'static str,
    pub alt_illustration: &'static str,
    pub generic_nodes: [&'static str; 3],
}

/// Fill `{name}` placeholders.
pub(crate) fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The phrases of `lang`.
pub(crate) fn phrases(lang: Language) -> &'static Phrases {
    match lang {
        Language::En => &EN,
        Language::Es => &ES,
        Language::Fr => &FR,
        Language::De => &DE,
        Language::Pt => &PT,
        Language::It => &IT,
    }
}

static EN: Phrases = Phrases {
    offline_marker: "Offline draft: written from the course outline without a language model. Review and replace before publishing.",
    objectives: "Learning objectives",
    objective_templates: ["Explain the key ideas of {topic}", "Apply {topic} in a realistic scenario", "Judge when {topic} is the right tool"],
    intro: "This lesson is part of {module} in the course {course}. It covers the following topics: {topics}.",
    paragraphs: [
        "{topic} is one of the building blocks of {lesson}. Before going into detail, it helps to name the problem it solves: without a clear model of {topic}, the rest of {module} is harder to reason about, and small mistakes tend to surface late, when they are expensive to fix.",
        "In practice, {topic} is best understood through the moving parts it involves and the order in which they interact. Start from the inputs, follow what happens to them step by step, and note where decisions are made. This mental model is what you will rely on in the lab and in the rest of {course}.",
        "A common mistake is to treat {topic} as a checklist to memorise. Experienced practitioners instead ask what would break if one piece were missing, and use that question to decide how much detail a situation needs.",
        "Consider a team adopting {topic} for the first time. They begin with the simplest setup that works, observe how it behaves, and only then add the refinements described in this lesson. Working in small, verifiable steps keeps problems visible and easy to explain.",
        "When you review your own work with {topic}, check three things: that the result matches the intent, that someone else can repeat it, and that its limits are written down. These habits carry over to every other lesson in {module}.",
        "{topic} also connects to the other topics of {lesson}. As you read on, notice which ideas reappear: they are the ones worth practising until they feel routine.",
    ],
    visual: "Diagram: {topic} → key concepts → how it works → in practice",
    visual_extra: [
        "Diagram: {lesson} → main ideas → guided practice → outcome",
        "Diagram: {module} → {lesson} → lab activity",
        "Diagram: plan → build → verify → improve",
    ],
    visual_illustration: "Illustration: a learner working through {lesson} at a workstation, following the steps and checking each result",
    lab_activity: "Lab activity",
    lab_intro: "In the activity “{lab}” you put what you learned in {lesson} into practice. Work step by step and check each result before moving on.",
    no_lab: "This lesson has no lab activity; use the review questions to check your understanding.",
    summary: "Summary",
    summary_text: "In this lesson you studied {topics}. You should now be able to explain how they fit into {module} and apply them in simple situations.",
    review: "Review questions",
    questions: [
        "What problem does {topic} solve, and when would you use it?",
        "Which steps would you follow to apply {topic} in a real project?",
        "Which signs tell you that {topic} is not working as expected?",
    ],
    lab_objectives: "Objectives",
    lab_prerequisites: "Prerequisites",
    lab_time: "Estimated time",
    lab_steps: "Steps",
    lab_troubleshooting: "Troubleshooting",
    lab_cleanup: "Cleanup",
    verify: "Verify:",
    minutes: "minutes",
    step_templates: [
        "Prepare the working environment for “{lab}” and open the tools you will use.",
        "Carry out the first part of “{lab}” as explained in {lesson}.",
        "Complete the activity by applying {topic} and note the results.",
        "Review the final result and compare it with the lab objectives.",
    ],
    verify_templates: [
        "the environment responds and the tools print their version without errors.",
        "the result of this step is visible and matches what you expected.",
        "the results you noted are consistent with the lesson.",
        "every lab objective has been met.",
    ],
    troubleshooting: [
        "If a step fails, read the complete error message and repeat the previous step before moving on.",
        "If the results do not match, compare your configuration with the one described in {lesson}.",
    ],
    cleanup: "Remove the resources created during “{lab}” and close any open sessions so the environment is back where it started.",
    lab_objective_templates: ["Carry out “{lab}” step by step", "Check the result of each step of “{lab}”", "Relate “{lab}” to the content of {lesson}"],
    lab_prereq_templates: ["Completed the lesson “{lesson}”", "A workstation with the tools used in {module}"],
    notice: "Offline drafts: the text of this book was generated from the course outline without a language model. Review and replace it before publishing.",
    not_generated: "not generated",
    not_generated_note: "Not generated: {reason}. Running the same request again generates what is missing.",
    alt_diagram: "Diagram “{title}”: {nodes}",
    alt_illustration: "Illustration: {desc}",
    generic_nodes: ["Input", "Process", "Result"],
};

static ES: Phrases = Phrases {
    offline_marker: "Borrador sin conexión: redactado a partir del temario del curso sin un modelo de lenguaje. Revíselo y sustitúyalo antes de publicar.",
    objectives: "Objetivos de aprendizaje",
    objective_templates: ["Explicar las ideas clave de {topic}", "Aplicar {topic} en un escenario realista", "Valorar cuándo {topic} es la herramienta adecuada"],
    intro: "Esta lección forma parte de {module} dentro del curso {course}. Trata los siguientes temas: {topics}.",
    paragraphs: [
        "{topic} es una de las piezas fundamentales de {lesson}. Antes de entrar en detalle, conviene nombrar el problema que resuelve: sin un modelo claro de {topic}, el resto de {module} resulta más difícil de razonar y los pequeños errores suelen aparecer tarde, cuando corregirlos es caro.",
        "En la práctica, {topic} se entiende mejor a través de las piezas que intervienen y del orden en que interactúan. Parta de las entradas, siga paso a paso lo que ocurre con ellas y observe dónde se toman decisiones. Este modelo mental es el que utilizará en el laboratorio y en el resto de {course}.",
        "Un error habitual es tratar {topic} como una lista que hay que memorizar. Los profesionales con experiencia se preguntan qué fallaría si faltara una pieza y usan esa pregunta para decidir cuánto detalle necesita cada situación.",
        "Piense en un equipo que adopta {topic} por primera vez. Empieza con la configuración más sencilla que funciona, observa su comportamiento y solo entonces añade los ajustes descritos en esta lección. Avanzar en pasos pequeños y verificables mantiene los problemas a la vista y fáciles de explicar.",
        "Cuando revise su propio trabajo con {topic}, compruebe tres cosas: que el resultado coincide con la intención, que otra persona puede repetirlo y que sus límites están documentados. Estos hábitos sirven para todas las demás lecciones de {module}.",
        "{topic} también se relaciona con los demás temas de {lesson}. A medida que avance, fíjese en las ideas que reaparecen: son las que merece la pena practicar hasta que resulten rutinarias.",
    ],
    visual: "Diagrama: {topic} → conceptos clave → cómo funciona → en la práctica",
    visual_extra: [
        "Diagrama: {lesson} → ideas principales → práctica guiada → resultado",
        "Diagrama: {module} → {lesson} → actividad de laboratorio",
        "Diagrama: planificar → construir → verificar → mejorar",
    ],
    visual_illustration: "Ilustración: una persona trabajando en {lesson} frente a su equipo, siguiendo los pasos y comprobando cada resultado",
    lab_activity: "Actividad de laboratorio",
    lab_intro: "En la actividad «{lab}» pondrá en práctica lo aprendido en {lesson}. Trabaje paso a paso y compruebe cada resultado antes de continuar.",
    no_lab: "Esta lección no incluye actividad de laboratorio; utilice las preguntas de repaso para comprobar su comprensión.",
    summary: "Resumen",
    summary_text: "En esta lección ha estudiado {topics}. Ahora debería poder explicar cómo encajan en {module} y aplicarlos en situaciones sencillas.",
    review: "Preguntas de repaso",
    questions: [
        "¿Qué problema resuelve {topic} y cuándo lo utilizaría?",
        "¿Qué pasos seguiría para aplicar {topic} en un proyecto real?",
        "¿Qué señales indican que {topic} no está funcionando como se esperaba?",
    ],
    lab_objectives: "Objetivos",
    lab_prerequisites: "Requisitos previos",
    lab_time: "Tiempo estimado",
    lab_steps: "Pasos",
    lab_troubleshooting: "Solución de problemas",
    lab_cleanup: "Limpieza",
    verify: "Verificación:",
    minutes: "minutos",
    step_templates: [
        "Prepare el entorno de trabajo para «{lab}» y abra las herramientas que va a utilizar.",
        "Realice la primera parte de «{lab}» siguiendo lo explicado en {lesson}.",
        "Complete la actividad aplicando {topic} y anote los resultados.",
        "Revise el resultado final y compárelo con los objetivos del laboratorio.",
    ],
    verify_templates: [
        "el entorno responde y las herramientas muestran su versión sin errores.",
        "el resultado de este paso es visible y coincide con lo esperado.",
        "los resultados anotados son coherentes con lo visto en la lección.",
        "cada objetivo del laboratorio se ha cumplido.",
    ],
    troubleshooting: [
        "Si un paso falla, lea el mensaje de error completo y repita el paso anterior antes de continuar.",
        "Si los resultados no coinciden, compare su configuración con la descrita en {lesson}.",
    ],
    cleanup: "Elimine los recursos creados durante «{lab}» y cierre las sesiones abiertas para dejar el entorno como estaba.",
    lab_objective_templates: ["Realizar «{lab}» paso a paso", "Comprobar el resultado de cada paso de «{lab}»", "Relacionar «{lab}» con los contenidos de {lesson}"],
    lab_prereq_templates: ["Haber completado la lección «{lesson}»", "Un equipo con las herramientas utilizadas en {module}"],
    notice: "Borradores sin conexión: el texto de este libro se generó a partir del temario sin un modelo de lenguaje. Revíselo y sustitúyalo antes de publicarlo.",
    not_generated: "no generado",
    not_generated_note: "No generado: {reason}. Al repetir la misma solicitud se genera lo que falta.",
    alt_diagram: "Diagrama «{title}»: {nodes}",
    alt_illustration: "Ilustración: {desc}",
    generic_nodes: ["Entrada", "Proceso", "Resultado"],
};

static FR: Phrases = Phrases {
    offline_marker: "Brouillon hors ligne : rédigé à partir du plan du cours sans modèle de langage. À relire et à remplacer avant publication.",
    objectives: "Objectifs d'apprentissage",
    objective_templates: ["Expliquer les idées clés de {topic}", "Appliquer {topic} dans un scénario réaliste", "Évaluer quand {topic} est l'outil adapté"],
    intro: "Cette leçon fait partie de {module} dans le cours {course}. Elle aborde les thèmes suivants : {topics}.",
    paragraphs: [
        "{topic} est l'un des éléments fondamentaux de {lesson}. Avant d'entrer dans le détail, il est utile de nommer le problème qu'il résout : sans une représentation claire de {topic}, le reste de {module} devient plus difficile à raisonner, et les petites erreurs apparaissent tard, lorsqu'elles coûtent cher à corriger.",
        "En pratique, {topic} se comprend mieux à travers les éléments en jeu et l'ordre dans lequel ils interagissent. Partez des entrées, suivez étape par étape ce qu'elles deviennent et repérez où les décisions sont prises. C'est ce modèle mental que vous utiliserez dans le laboratoire et dans la suite de {course}.",
        "Une erreur fréquente consiste à traiter {topic} comme une liste à mémoriser. Les praticiens expérimentés se demandent plutôt ce qui casserait si un élément manquait, et s'appuient sur cette question pour décider du niveau de détail nécessaire.",
        "Imaginez une équipe qui adopte {topic} pour la première fois. Elle commence par la configuration la plus simple qui fonctionne, observe son comportement, puis ajoute les améliorations décrites dans cette leçon. Avancer par petites étapes vérifiables rend les problèmes visibles et faciles à expliquer.",
        "Lorsque vous relisez votre propre travail avec {topic}, vérifiez trois points : le résultat correspond à l'intention, une autre personne peut le reproduire, et ses limites sont documentées. Ces habitudes s'appliquent à toutes les autres leçons de {module}.",
        "{topic} est aussi lié aux autres thèmes de {lesson}. En poursuivant la lecture, remarquez les idées qui reviennent : ce sont celles qu'il vaut la peine de pratiquer jusqu'à ce qu'elles deviennent naturelles.",
    ],
    visual: "Diagramme : {topic} → concepts clés → fonctionnement → mise en pratique",
    visual_extra: [
        "Diagramme : {lesson} → idées principales → pratique guidée → résultat",
        "Diagramme : {module} → {lesson} → activité de laboratoire",
        "Diagramme : planifier → construire → vérifier → améliorer",
    ],
    visual_illustration: "Illustration : une personne qui travaille sur {lesson} à son poste, suit les étapes et vérifie chaque résultat",
    lab_activity: "Activité de laboratoire",
    lab_intro: "Dans l'activité « {lab} », vous mettez en pratique ce que vous avez appris dans {lesson}. Travaillez étape par étape et vérifiez chaque résultat avant de continuer.",
    no_lab: "Cette leçon ne comporte pas d'activité de laboratoire ; utilisez les questions de révision pour vérifier votre compréhension.",
    summary: "Résumé",
    summary_text: "Dans cette leçon, vous avez étudié {topics}. Vous devriez maintenant pouvoir expliquer leur place dans {module} et les appliquer dans des situations simples.",
    review: "Questions de révision",
    questions: [
        "Quel problème {topic} résout-il, et quand l'utiliseriez-vous ?",
        "Quelles étapes suivriez-vous pour appliquer {topic} dans un projet réel ?",
        "Quels signes indiquent que {topic} ne fonctionne pas comme prévu ?",
    ],
    lab_objectives: "Objectifs",
    lab_prerequisites: "Prérequis",
    lab_time: "Durée estimée",
    lab_steps: "Étapes",
    lab_troubleshooting: "Dépannage",
    lab_cleanup: "Nettoyage",
    verify: "Vérification :",
    minutes: "minutes",
    step_templates: [
        "Préparez l'environnement de travail pour « {lab} » et ouvrez les outils nécessaires.",
        "Réalisez la première partie de « {lab} » en suivant les explications de {lesson}.",
        "Terminez l'activité en appliquant {topic} et notez les résultats.",
        "Examinez le résultat final et comparez-le aux objectifs du laboratoire.",
    ],
    verify_templates: [
        "l'environnement répond et les outils affichent leur version sans erreur.",
        "le résultat de cette étape est visible et conforme à l'attendu.",
        "les résultats notés sont cohérents avec la leçon.",
        "chaque objectif du laboratoire est atteint.",
    ],
    troubleshooting: [
        "Si une étape échoue, lisez le message d'erreur en entier et reprenez l'étape précédente avant de continuer.",
        "Si les résultats ne correspondent pas, comparez votre configuration à celle décrite dans {lesson}.",
    ],
    cleanup: "Supprimez les ressources créées pendant « {lab} » et fermez les sessions ouvertes pour remettre l'environnement dans son état initial.",
    lab_objective_templates: ["Réaliser « {lab} » étape par étape", "Vérifier le résultat de chaque étape de « {lab} »", "Relier « {lab} » aux contenus de {lesson}"],
    lab_prereq_templates: ["Avoir terminé la leçon « {lesson} »", "Un poste de travail avec les outils utilisés dans {module}"],
    notice: "Brouillons hors ligne : le texte de ce livre a été produit à partir du plan du cours sans modèle de langage. Relisez-le et remplacez-le avant publication.",
    not_generated: "non généré",
    not_generated_note: "Non généré : {reason}. Relancer la même demande génère ce qui manque.",
    alt_diagram: "Diagramme « {title} » : {nodes}",
    alt_illustration: "Illustration : {desc}",
    generic_nodes: ["Entrée", "Traitement", "Résultat"],
};

static DE: Phrases = Phrases {
    offline_marker: "Offline-Entwurf: aus der Kursgliederung ohne Sprachmodell erstellt. Vor der Veröffentlichung prüfen und ersetzen.",
    objectives: "Lernziele",
    objective_templates: ["Die zentralen Ideen von {topic} erklären", "{topic} in einem realistischen Szenario anwenden", "Beurteilen, wann {topic} das passende Werkzeug ist"],
    intro: "Diese Lektion gehört zu {module} im Kurs {course}. Sie behandelt folgende Themen: {topics}.",
    paragraphs: [
        "{topic} ist einer der Grundbausteine von {lesson}. Bevor es ins Detail geht, lohnt es sich, das Problem zu benennen, das es löst: Ohne ein klares Modell von {topic} ist der Rest von {module} schwerer nachzuvollziehen, und kleine Fehler zeigen sich oft erst spät, wenn ihre Behebung teuer ist.",
        "In der Praxis versteht man {topic} am besten über die beteiligten Bausteine und die Reihenfolge, in der sie zusammenwirken. Beginnen Sie bei den Eingaben, verfolgen Sie Schritt für Schritt, was mit ihnen geschieht, und achten Sie darauf, wo Entscheidungen fallen. Auf dieses Denkmodell stützen Sie sich im Labor und im weiteren Verlauf von {course}.",
        "Ein häufiger Fehler ist es, {topic} wie eine Checkliste auswendig zu lernen. Erfahrene Fachleute fragen stattdessen, was ohne einen bestimmten Baustein nicht mehr funktionieren würde, und entscheiden danach, wie viel Detail eine Situation braucht.",
        "Stellen Sie sich ein Team vor, das {topic} zum ersten Mal einführt. Es beginnt mit der einfachsten funktionierenden Lösung, beobachtet ihr Verhalten und ergänzt erst dann die in dieser Lektion beschriebenen Verfeinerungen. Kleine, überprüfbare Schritte halten Probleme sichtbar und leicht erklärbar.",
        "Wenn Sie Ihre eigene Arbeit mit {topic} prüfen, achten Sie auf drei Dinge: Das Ergebnis entspricht der Absicht, jemand anderes kann es wiederholen, und seine Grenzen sind dokumentiert. Diese Gewohnheiten helfen in jeder weiteren Lektion von {module}.",
        "{topic} hängt auch mit den anderen Themen von {lesson} zusammen. Achten Sie beim Weiterlesen darauf, welche Ideen wiederkehren: Genau diese lohnt es sich zu üben, bis sie zur Routine werden.",
    ],
    visual: "Diagramm: {topic} → Kernbegriffe → Funktionsweise → Praxis",
    visual_extra: [
        "Diagramm: {lesson} → Hauptideen → angeleitete Übung → Ergebnis",
        "Diagramm: {module} → {lesson} → Laboraufgabe",
        "Diagramm: planen → umsetzen → prüfen → verbessern",
    ],
    visual_illustration: "Illustration: eine Person arbeitet am Rechner {lesson} durch, folgt den Schritten und prüft jedes Ergebnis",
    lab_activity: "Laboraufgabe",
    lab_intro: "In der Aufgabe „{lab}“ wenden Sie an, was Sie in {lesson} gelernt haben. Arbeiten Sie Schritt für Schritt und prüfen Sie jedes Ergebnis, bevor Sie weitermachen.",
    no_lab: "Zu dieser Lektion gehört keine Laboraufgabe; nutzen Sie die Wiederholungsfragen, um Ihr Verständnis zu prüfen.",
    summary: "Zusammenfassung",
    summary_text: "In dieser Lektion haben Sie {topics} kennengelernt. Sie sollten nun erklären können, wie diese Themen in {module} zusammenpassen, und sie in einfachen Situationen anwenden können.",
    review: "Wiederholungsfragen",
    questions: [
        "Welches Problem löst {topic}, und wann würden Sie es einsetzen?",
        "Welche Schritte würden Sie gehen, um {topic} in einem echten Projekt anzuwenden?",
        "Woran erkennen Sie, dass {topic} nicht wie erwartet funktioniert?",
    ],
    lab_objectives: "Ziele",
    lab_prerequisites: "Voraussetzungen",
    lab_time: "Geschätzte Dauer",
    lab_steps: "Schritte",
    lab_troubleshooting: "Fehlerbehebung",
    lab_cleanup: "Aufräumen",
    verify: "Prüfen:",
    minutes: "Minuten",
    step_templates: [
        "Bereiten Sie die Arbeitsumgebung für „{lab}“ vor und öffnen Sie die benötigten Werkzeuge.",
        "Führen Sie den ersten Teil von „{lab}“ wie in {lesson} beschrieben aus.",
        "Schließen Sie die Aufgabe ab, indem Sie {topic} anwenden, und notieren Sie die Ergebnisse.",
        "Prüfen Sie das Endergebnis und vergleichen Sie es mit den Zielen des Labors.",
    ],
    verify_templates: [
        "Die Umgebung reagiert und die Werkzeuge zeigen ihre Version ohne Fehler an.",
        "Das Ergebnis dieses Schritts ist sichtbar und entspricht der Erwartung.",
        "Die notierten Ergebnisse passen zum Inhalt der Lektion.",
        "Jedes Ziel des Labors ist erreicht.",
    ],
    troubleshooting: [
        "Wenn ein Schritt fehlschlägt, lesen Sie die vollständige Fehlermeldung und wiederholen Sie den vorherigen Schritt, bevor Sie weitermachen.",
        "Wenn die Ergebnisse abweichen, vergleichen Sie Ihre Konfiguration mit der in {lesson} beschriebenen.",
    ],
    cleanup: "Entfernen Sie die während „{lab}“ angelegten Ressourcen und schließen Sie offene Sitzungen, damit die Umgebung wieder im Ausgangszustand ist.",
    lab_objective_templates: ["„{lab}“ Schritt für Schritt durchführen", "Das Ergebnis jedes Schritts von „{lab}“ prüfen", "„{lab}“ mit den Inhalten von {lesson} verbinden"],
    lab_prereq_templates: ["Die Lektion „{lesson}“ abgeschlossen", "Ein Arbeitsplatz mit den Werkzeugen aus {module}"],
    notice: "Offline-Entwürfe: Der Text dieses Buches wurde ohne Sprachmodell aus der Kursgliederung erzeugt. Vor der Veröffentlichung prüfen und ersetzen.",
    not_generated: "nicht erzeugt",
    not_generated_note: "Nicht erzeugt: {reason}. Dieselbe Anfrage erneut ausführen erzeugt, was fehlt.",
    alt_diagram: "Diagramm „{title}“: {nodes}",
    alt_illustration: "Illustration: {desc}",
    generic_nodes: ["Eingabe", "Verarbeitung", "Ergebnis"],
};

static PT: Phrases = Phrases {
    offline_marker: "Rascunho offline: redigido a partir do programa do curso sem um modelo de linguagem. Revise e substitua antes de publicar.",
    objectives: "Objetivos de aprendizagem",
    objective_templates: ["Explicar as ideias principais de {topic}", "Aplicar {topic} em um cenário realista", "Avaliar quando {topic} é a ferramenta adequada"],
    intro: "Esta lição faz parte de {module} no curso {course}. Ela aborda os seguintes temas: {topics}.",
    paragraphs: [
        "{topic} é um dos pilares de {lesson}. Antes de entrar nos detalhes, vale a pena nomear o problema que resolve: sem um modelo claro de {topic}, o restante de {module} fica mais difícil de compreender, e pequenos erros tendem a aparecer tarde, quando corrigi-los é caro.",
        "Na prática, {topic} é mais bem compreendido por meio das peças envolvidas e da ordem em que interagem. Comece pelas entradas, acompanhe passo a passo o que acontece com elas e observe onde as decisões são tomadas. É nesse modelo mental que você vai se apoiar no laboratório e no restante de {course}.",
        "Um erro comum é tratar {topic} como uma lista para decorar. Profissionais experientes perguntam o que deixaria de funcionar se uma peça faltasse e usam essa pergunta para decidir quanto detalhe cada situação exige.",
        "Imagine uma equipe que adota {topic} pela primeira vez. Ela começa pela configuração mais simples que funciona, observa o comportamento e só depois acrescenta os ajustes descritos nesta lição. Avançar em passos pequenos e verificáveis mantém os problemas visíveis e fáceis de explicar.",
        "Ao revisar o seu próprio trabalho com {topic}, verifique três coisas: que o resultado corresponde à intenção, que outra pessoa consegue repeti-lo e que os seus limites estão documentados. Esses hábitos valem para todas as outras lições de {module}.",
        "{topic} também se relaciona com os outros temas de {lesson}. Ao continuar a leitura, repare nas ideias que reaparecem: são essas que vale a pena praticar até se tornarem rotina.",
    ],
    visual: "Diagrama: {topic} → conceitos-chave → como funciona → na prática",
    visual_extra: [
        "Diagrama: {lesson} → ideias principais → prática guiada → resultado",
        "Diagrama: {module} → {lesson} → atividade de laboratório",
        "Diagrama: planejar → construir → verificar → melhorar",
    ],
    visual_illustration: "Ilustração: uma pessoa trabalhando em {lesson} no computador, seguindo os passos e conferindo cada resultado",
    lab_activity: "Atividade de laboratório",
    lab_intro: "Na atividade “{lab}”, você coloca em prática o que aprendeu em {lesson}. Trabalhe passo a passo e confira cada resultado antes de continuar.",
    no_lab: "Esta lição não inclui atividade de laboratório; use as questões de revisão para verificar a sua compreensão.",
    summary: "Resumo",
    summary_text: "Nesta lição, você estudou {topics}. Agora deve conseguir explicar como esses temas se encaixam em {module} e aplicá-los em situações simples.",
    review: "Questões de revisão",
    questions: [
        "Que problema {topic} resolve e quando você o usaria?",
        "Que passos seguiria para aplicar {topic} em um projeto real?",
        "Que sinais indicam que {topic} não está funcionando como esperado?",
    ],
    lab_objectives: "Objetivos",
    lab_prerequisites: "Pré-requisitos",
    lab_time: "Tempo estimado",
    lab_steps: "Passos",
    lab_troubleshooting: "Solução de problemas",
    lab_cleanup: "Limpeza",
    verify: "Verificação:",
    minutes: "minutos",
    step_templates: [
        "Prepare o ambiente de trabalho para “{lab}” e abra as ferramentas necessárias.",
        "Execute a primeira parte de “{lab}” seguindo o que foi explicado em {lesson}.",
        "Conclua a atividade aplicando {topic} e anote os resultados.",
        "Revise o resultado final e compare-o com os objetivos do laboratório.",
    ],
    verify_templates: [
        "o ambiente responde e as ferramentas mostram a sua versão sem erros.",
        "o resultado deste passo está visível e corresponde ao esperado.",
        "os resultados anotados são coerentes com a lição.",
        "cada objetivo do laboratório foi alcançado.",
    ],
    troubleshooting: [
        "Se um passo falhar, leia a mensagem de erro completa e repita o passo anterior antes de continuar.",
        "Se os resultados não coincidirem, compare a sua configuração com a descrita em {lesson}.",
    ],
    cleanup: "Remova os recursos criados durante “{lab}” e feche as sessões abertas para deixar o ambiente como estava.",
    lab_objective_templates: ["Realizar “{lab}” passo a passo", "Verificar o resultado de cada passo de “{lab}”", "Relacionar “{lab}” com os conteúdos de {lesson}"],
    lab_prereq_templates: ["Ter concluído a lição “{lesson}”", "Um computador com as ferramentas usadas em {module}"],
    notice: "Rascunhos offline: o texto deste livro foi gerado a partir do programa do curso sem um modelo de linguagem. Revise e substitua antes de publicar.",
    not_generated: "não gerado",
    not_generated_note: "Não gerado: {reason}. Repetir o mesmo pedido gera o que falta.",
    alt_diagram: "Diagrama “{title}”: {nodes}",
    alt_illustration: "Ilustração: {desc}",
    generic_nodes: ["Entrada", "Processamento", "Resultado"],
};

static IT: Phrases = Phrases {
    offline_marker: "Bozza offline: redatta dal programma del corso senza un modello linguistico. Rivedere e sostituire prima della pubblicazione.",
    objectives: "Obiettivi di apprendimento",
    objective_templates: ["Spiegare le idee chiave di {topic}", "Applicare {topic} in uno scenario realistico", "Valutare quando {topic} è lo strumento adatto"],
    intro: "Questa lezione fa parte di {module} nel corso {course}. Tratta i seguenti argomenti: {topics}.",
    paragraphs: [
        "{topic} è uno degli elementi fondamentali di {lesson}. Prima di entrare nei dettagli, conviene dare un nome al problema che risolve: senza un modello chiaro di {topic}, il resto di {module} diventa più difficile da ragionare e i piccoli errori tendono a emergere tardi, quando correggerli è costoso.",
        "In pratica, {topic} si comprende meglio attraverso le parti coinvolte e l'ordine in cui interagiscono. Partite dagli input, seguite passo dopo passo ciò che accade e notate dove vengono prese le decisioni. È su questo modello mentale che farete affidamento nel laboratorio e nel resto di {course}.",
        "Un errore comune è trattare {topic} come una lista da memorizzare. I professionisti esperti si chiedono invece che cosa smetterebbe di funzionare se mancasse un elemento, e usano questa domanda per decidere quanto dettaglio serve in ogni situazione.",
        "Immaginate un team che adotta {topic} per la prima volta. Parte dalla configurazione più semplice che funziona, ne osserva il comportamento e solo dopo aggiunge i perfezionamenti descritti in questa lezione. Procedere a piccoli passi verificabili mantiene i problemi visibili e facili da spiegare.",
        "Quando rivedete il vostro lavoro con {topic}, controllate tre cose: che il risultato corrisponda all'intenzione, che un'altra persona possa ripeterlo e che i suoi limiti siano documentati. Queste abitudini valgono per tutte le altre lezioni di {module}.",
        "{topic} è collegato anche agli altri argomenti di {lesson}. Proseguendo nella lettura, notate quali idee ritornano: sono quelle che vale la pena esercitare finché non diventano abituali.",
    ],
    visual: "Diagramma: {topic} → concetti chiave → come funziona → in pratica",
    visual_extra: [
        "Diagramma: {lesson} → idee principali → pratica guidata → risultato",
        "Diagramma: {module} → {lesson} → attività di laboratorio",
        "Diagramma: pianificare → costruire → verificare → migliorare",
    ],
    visual_illustration: "Illustrazione: una persona che lavora su {lesson} alla propria postazione, segue i passaggi e verifica ogni risultato",
    lab_activity: "Attività di laboratorio",
    lab_intro: "Nell'attività «{lab}» metterete in pratica quanto appreso in {lesson}. Procedete passo dopo passo e verificate ogni risultato prima di continuare.",
    no_lab: "Questa lezione non prevede un'attività di laboratorio; usate le domande di ripasso per verificare la vostra comprensione.",
    summary: "Riepilogo",
    summary_text: "In questa lezione avete studiato {topics}. Ora dovreste saper spiegare come questi argomenti si inseriscono in {module} e applicarli in situazioni semplici.",
    review: "Domande di ripasso",
    questions: [
        "Quale problema risolve {topic} e quando lo usereste?",
        "Quali passaggi seguireste per applicare {topic} in un progetto reale?",
        "Quali segnali indicano che {topic} non funziona come previsto?",
    ],
    lab_objectives: "Obiettivi",
    lab_prerequisites: "Prerequisiti",
    lab_time: "Tempo stimato",
    lab_steps: "Passaggi",
    lab_troubleshooting: "Risoluzione dei problemi",
    lab_cleanup: "Pulizia",
    verify: "Verifica:",
    minutes: "minuti",
    step_templates: [
        "Preparate l'ambiente di lavoro per «{lab}» e aprite gli strumenti necessari.",
        "Eseguite la prima parte di «{lab}» seguendo quanto spiegato in {lesson}.",
        "Completate l'attività applicando {topic} e annotate i risultati.",
        "Esaminate il risultato finale e confrontatelo con gli obiettivi del laboratorio.",
    ],
    verify_templates: [
        "l'ambiente risponde e gli strumenti mostrano la loro versione senza errori.",
        "il risultato di questo passaggio è visibile e corrisponde alle attese.",
        "i risultati annotati sono coerenti con la lezione.",
        "ogni obiettivo del laboratorio è stato raggiunto.",
    ],
    troubleshooting: [
        "Se un passaggio non riesce, leggete il messaggio di errore completo e ripetete il passaggio precedente prima di continuare.",
        "Se i risultati non corrispondono, confrontate la vostra configurazione con quella descritta in {lesson}.",
    ],
    cleanup: "Rimuovete le risorse create durante «{lab}» e chiudete le sessioni aperte per riportare l'ambiente allo stato iniziale.",
    lab_objective_templates: ["Svolgere «{lab}» passo dopo passo", "Verificare il risultato di ogni passaggio di «{lab}»", "Collegare «{lab}» ai contenuti di {lesson}"],
    lab_prereq_templates: ["Aver completato la lezione «{lesson}»", "Una postazione con gli strumenti usati in {module}"],
    notice: "Bozze offline: il testo di questo libro è stato generato dal programma del corso senza un modello linguistico. Rivedere e sostituire prima della pubblicazione.",
    not_generated: "non generato",
    not_generated_note: "Non generato: {reason}. Ripetere la stessa richiesta genera ciò che manca.",
    alt_diagram: "Diagramma «{title}»: {nodes}",
    alt_illustration: "Illustrazione: {desc}",
    generic_nodes: ["Input", "Elaborazione", "Risultato"],
};

/// The phrases of the offline quiz drafts in one language. `{lesson}`, `{module}` and
/// `{topic}` are filled by [`fill`].
pub(crate) struct QuizPhrases {
    /// Multiple choice: which topic the lesson covers.
    pub which_topic: &'static str,
    /// Multiple choice: which of the options is a section of the lesson.
    pub which_section: &'static str,
    /// Multiple choice: which module holds the lesson.
    pub which_module: &'static str,
    /// Multiple choice: which of the options the lesson mentions.
    pub which_mention: &'static str,
    /// True/false: the lesson belongs to the module.
    pub belongs: &'static str,
    /// Short answer: name a topic of the lesson.
    pub name_topic: &'static str,
    /// Explanation of a topic question.
    pub explain_topic: &'static str,
    /// Explanation of a module question.
    pub explain_module: &'static str,
    /// Explanation of the short answer.
    pub explain_short: &'static str,
    /// Wrong options used when the course has too few other topics or modules.
    pub fillers: [&'static str; 4],
}

/// The quiz phrases of `lang`.
pub(crate) fn quiz_phrases(lang: Language) -> &'static QuizPhrases {
    match lang {
        Language::En => &QUIZ_EN,
        Language::Es => &QUIZ_ES,
        Language::Fr => &QUIZ_FR,
        Language::De => &QUIZ_DE,
        Language::Pt => &QUIZ_PT,
        Language::It => &QUIZ_IT,
    }
}

static QUIZ_EN: QuizPhrases = QuizPhrases {
    which_topic: "Which of these topics does the lesson \"{lesson}\" cover?",
    which_section: "Which of these is a section of the lesson \"{lesson}\"?",
    which_module: "Which module is the lesson \"{lesson}\" part of?",
    which_mention: "Which of these does the lesson \"{lesson}\" mention?",
    belongs: "The lesson \"{lesson}\" is part of the module \"{module}\".",
    name_topic: "Name one topic the lesson \"{lesson}\" covers.",
    explain_topic: "The lesson has a section on {topic}.",
    explain_module: "The lesson belongs to the module {module}.",
    explain_short: "Any topic of the lesson is right, for example {topic}.",
    fillers: ["Medieval trade routes", "Marine biology fieldwork", "Watercolour painting", "Classical harmony"],
};

static QUIZ_ES: QuizPhrases = QuizPhrases {
    which_topic: "¿Cuál de estos temas trata la lección «{lesson}»?",
    which_section: "¿Cuál de estas es una sección de la lección «{lesson}»?",
    which_module: "¿De qué módulo forma parte la lección «{lesson}»?",
    which_mention: "¿Cuál de estos elementos menciona la lección «{lesson}»?",
    belongs: "La lección «{lesson}» forma parte del módulo «{module}».",
    name_topic: "Nombre un tema que trate la lección «{lesson}».",
    explain_topic: "La lección tiene una sección sobre {topic}.",
    explain_module: "La lección pertenece al módulo {module}.",
    explain_short: "Cualquier tema de la lección es correcto, por ejemplo {topic}.",
    fillers: ["Rutas comerciales medievales", "Biología marina de campo", "Pintura con acuarela", "Armonía clásica"],
};

static QUIZ_FR: QuizPhrases = QuizPhrases {
    which_topic: "Lequel de ces sujets la leçon « {lesson} » traite-t-elle ?",
    which_section: "Laquelle de ces parties appartient à la leçon « {lesson} » ?",
    which_module: "De quel module la leçon « {lesson} » fait-elle partie ?",
    which_mention: "Lequel de ces éléments la leçon « {lesson} » mentionne-t-elle ?",
    belongs: "La leçon « {lesson} » fait partie du module « {module} ».",
    name_topic: "Citez un sujet traité par la leçon « {lesson} ».",
    explain_topic: "La leçon comporte une partie sur {topic}.",
    explain_module: "La leçon appartient au module {module}.",
    explain_short: "Tout sujet de la leçon est juste, par exemple {topic}.",
    fillers: [
        "Routes commerciales médiévales",
        "Biologie marine de terrain",
        "Peinture à l'aquarelle",
        "Harmonie classique",
    ],
};

static QUIZ_DE: QuizPhrases = QuizPhrases {
    which_topic: "Welches dieser Themen behandelt die Lektion „{lesson}“?",
    which_section: "Welcher dieser Abschnitte gehört zur Lektion „{lesson}“?",
    which_module: "Zu welchem Modul gehört die Lektion „{lesson}“?",
    which_mention: "Welchen dieser Punkte erwähnt die Lektion „{lesson}“?",
    belongs: "Die Lektion „{lesson}“ gehört zum Modul „{module}“.",
    name_topic: "Nennen Sie ein Thema der Lektion „{lesson}“.",
    explain_topic: "Die Lektion hat einen Abschnitt über {topic}.",
    explain_module: "Die Lektion gehört zum Modul {module}.",
    explain_short: "Jedes Thema der Lektion ist richtig, zum Beispiel {topic}.",
    fillers: [
        "Mittelalterliche Handelswege",
        "Meeresbiologische Feldarbeit",
        "Aquarellmalerei",
        "Klassische Harmonielehre",
    ],
};

static QUIZ_PT: QuizPhrases = QuizPhrases {
    which_topic: "Qual destes temas a lição «{lesson}» aborda?",
    which_section: "Qual destas é uma secção da lição «{lesson}»?",
    which_module: "De que módulo faz parte a lição «{lesson}»?",
    which_mention: "Qual destes elementos é mencionado na lição «{lesson}»?",
    belongs: "A lição «{lesson}» faz parte do módulo «{module}».",
    name_topic: "Indique um tema abordado na lição «{lesson}».",
    explain_topic: "A lição tem uma secção sobre {topic}.",
    explain_module: "A lição pertence ao módulo {module}.",
    explain_short: "Qualquer tema da lição está certo, por exemplo {topic}.",
    fillers: ["Rotas comerciais medievais", "Biologia marinha de campo", "Pintura a aguarela", "Harmonia clássica"],
};

static QUIZ_IT: QuizPhrases = QuizPhrases {
    which_topic: "Quale di questi argomenti tratta la lezione «{lesson}»?",
    which_section: "Quale di queste è una sezione della lezione «{lesson}»?",
    which_module: "Di quale modulo fa parte la lezione «{lesson}»?",
    which_mention: "Quale di questi elementi menziona la lezione «{lesson}»?",
    belongs: "La lezione «{lesson}» fa parte del modulo «{module}».",
    name_topic: "Indica un argomento trattato nella lezione «{lesson}».",
    explain_topic: "La lezione ha una sezione su {topic}.",
    explain_module: "La lezione appartiene al modulo {module}.",
    explain_short: "Qualsiasi argomento della lezione è corretto, per esempio {topic}.",
    fillers: ["Rotte commerciali medievali", "Biologia marina sul campo", "Pittura ad acquerello", "Armonia classica"],
};
