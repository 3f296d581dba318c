/*
 * coursegen SCORM 1.2 runtime for one SCO page (one course module).
 *
 * Included at the end of the body of every mNN/index.html in course-scorm12.zip as
 * <script src="../sco.js"></script>. Plain ES5 with no dependencies, so that it runs in old LMS
 * frames as well as in current browsers.
 *
 * What it does:
 * - finds the LMS's SCORM 1.2 API (an object named API in a parent frame or in the opener),
 *   calls LMSInitialize and marks a first attempt "incomplete" (score range 0..100);
 * - a page without a quiz is marked "completed" as soon as it loads;
 * - on quiz submit it scores the answers (100 x correct / total, rounded), records one
 *   cmi.interactions entry per question when the LMS supports them, sets "passed" or "failed"
 *   against the mastery score (the LMS's cmi.student_data.mastery_score when it gives one, else
 *   the one in the quiz data), commits, shows the score, marks every question right or wrong in
 *   text and reveals the explanations;
 * - when the page goes away it records the session time and the exit mode, commits and calls
 *   LMSFinish, once.
 * Every API call is guarded: a missing or failing LMS never stops the quiz from working locally.
 *
 * The page contract (written by coursegen-book):
 *   <script type="application/json" id="coursegen-quiz-data">{"mastery": 80, "questions": [...]}</script>
 *   <form id="coursegen-quiz" data-label-score=".." data-label-passed=".." data-label-failed=".."
 *         data-label-correct=".." data-label-wrong="..">
 *     <fieldset class="question" data-id="ID"><legend>prompt</legend> inputs named ID
 *       <p class="explanation" id="ID-explanation" hidden>..</p></fieldset>
 *     <button type="submit" id="coursegen-quiz-submit">..</button>
 *   </form>
 *   <p id="coursegen-quiz-result" role="status" aria-live="polite"></p>
 * Question kinds: "choice" (radios valued with the option index, "answer" is that index),
 * "true_false" (radios valued "true"/"false", "answer" is a boolean) and "short" (a text input,
 * "answers" lists the accepted answers, compared case-insensitively after trimming and
 * collapsing white space).
 * A score label may hold "{score}" where the number goes; otherwise "<label>: <score>%" is shown.
 */
(function () {
  'use strict';

  var MAX_PARENT_LEVELS = 10;
  var DEFAULT_LABELS = {
    score: 'Score',
    passed: 'Passed',
    failed: 'Not passed',
    correct: 'Correct',
    wrong: 'Incorrect'
  };

  var api = null;
  var initialized = false;
  var finished = false;
  var startedAt = new Date().getTime();
  var lessonStatus = '';
  var reviewOnly = false;

  // ---- API discovery -----------------------------------------------------------------------

  function apiIn(win) {
    try {
      var candidate = win.API;
      if (candidate && (typeof candidate === 'object' || typeof candidate === 'function') &&
          typeof candidate.LMSInitialize !== 'undefined') {
        return candidate;
      }
    } catch (e) {
      // A frame from another origin: no API there.
    }
    return null;
  }

  function searchUp(win) {
    var levels = 0;
    while (win && levels <= MAX_PARENT_LEVELS) {
      var found = apiIn(win);
      if (found) {
        return found;
      }
      var parent = null;
      try {
        parent = win.parent;
      } catch (e) {
        parent = null;
      }
      if (!parent || parent === win) {
        return null;
      }
      win = parent;
      levels += 1;
    }
    return null;
  }

  function findApi() {
    var found = searchUp(window);
    if (!found) {
      var opener = null;
      try {
        opener = window.opener;
      } catch (e) {
        opener = null;
      }
      if (opener) {
        found = searchUp(opener);
      }
    }
    return found;
  }

  // ---- guarded API calls -------------------------------------------------------------------

  function isTrue(value) {
    return value === true || value === 'true';
  }

  function lastErrorCode() {
    try {
      var code = api.LMSGetLastError();
      return code === undefined || code === null || code === '' ? '0' : String(code);
    } catch (e) {
      return 'exception';
    }
  }

  function call(name, args) {
    if (!api) {
      return null;
    }
    try {
      if (typeof api[name] !== 'function' && typeof api[name] !== 'object') {
        return null;
      }
      return api[name].apply(api, args || []);
    } catch (e) {
      return null;
    }
  }

  function getValue(element) {
    if (!initialized || finished) {
      return '';
    }
    var value = call('LMSGetValue', [element]);
    if (value === null || value === undefined || lastErrorCode() !== '0') {
      return '';
    }
    return String(value);
  }

  function setValue(element, value) {
    if (!initialized || finished) {
      return false;
    }
    var result = call('LMSSetValue', [element, String(value)]);
    return isTrue(result) && lastErrorCode() === '0';
  }

  function commit() {
    if (!initialized || finished) {
      return false;
    }
    return isTrue(call('LMSCommit', [''])) && lastErrorCode() === '0';
  }

  // ---- helpers -----------------------------------------------------------------------------

  function on(target, type, handler) {
    if (target.addEventListener) {
      target.addEventListener(type, handler, false);
    } else if (target.attachEvent) {
      target.attachEvent('on' + type, handler);
    }
  }

  function pad(number, width) {
    var text = String(number);
    while (text.length < width) {
      text = '0' + text;
    }
    return text;
  }

  // SCORM 1.2 CMITimespan: HHHH:MM:SS.SS (two to four digits of hours).
  function timespan(milliseconds) {
    var centis = Math.max(0, Math.round(milliseconds / 10));
    var hours = Math.floor(centis / 360000);
    if (hours > 9999) {
      return '9999:59:59.99';
    }
    var minutes = Math.floor((centis % 360000) / 6000);
    var seconds = Math.floor((centis % 6000) / 100);
    return pad(hours, 2) + ':' + pad(minutes, 2) + ':' + pad(seconds, 2) + '.' + pad(centis % 100, 2);
  }

  // SCORM 1.2 CMITime: HH:MM:SS, the learner's local clock.
  function clockTime(date) {
    return pad(date.getHours(), 2) + ':' + pad(date.getMinutes(), 2) + ':' + pad(date.getSeconds(), 2);
  }

  // Trimmed, inner white space collapsed to one space, Unicode NFC where available.
  function tidyAnswer(text) {
    var value = String(text === undefined || text === null ? '' : text);
    if (typeof value.normalize === 'function') {
      try {
        value = value.normalize('NFC');
      } catch (e) {
        // keep the text as typed
      }
    }
    return value.replace(/\s+/g, ' ').replace(/^ +| +$/g, '');
  }

  // Short answers compare case-insensitively after tidying.
  function normalizeAnswer(text) {
    return tidyAnswer(text).toLowerCase();
  }

  // CMIIdentifier: no white space or unprintable characters, at most 255 characters.
  function identifier(text) {
    return String(text).replace(/[^A-Za-z0-9_.\-]/g, '_').substring(0, 255);
  }

  // CMIFeedback for fill-in: at most 255 characters.
  function feedbackText(text) {
    return String(text).substring(0, 255);
  }

  function choiceLetter(index) {
    var letters = 'abcdefghijklmnopqrstuvwxyz';
    return index >= 0 && index < letters.length ? letters.charAt(index) : '';
  }

  function addClass(element, name) {
    var classes = ' ' + (element.className || '') + ' ';
    if (classes.indexOf(' ' + name + ' ') < 0) {
      element.className = (element.className ? element.className + ' ' : '') + name;
    }
  }

  function removeClass(element, name) {
    var classes = ' ' + (element.className || '') + ' ';
    element.className = classes.replace(' ' + name + ' ', ' ').replace(/^ +| +$/g, '');
  }

  function setText(element, text) {
    if (typeof element.textContent !== 'undefined') {
      element.textContent = text;
    } else {
      element.innerText = text;
    }
  }

  function label(form, name) {
    var value = form ? form.getAttribute('data-label-' + name) : null;
    return value ? value : DEFAULT_LABELS[name];
  }

  function scoreText(form, score) {
    var text = label(form, 'score');
    if (text.indexOf('{score}') >= 0) {
      return text.replace('{score}', String(score));
    }
    return text + ': ' + score + '%';
  }

  // ---- quiz data and form ------------------------------------------------------------------

  function readQuiz() {
    var data = document.getElementById('coursegen-quiz-data');
    if (!data) {
      return null;
    }
    try {
      var quiz = JSON.parse(data.text || data.textContent || data.innerHTML);
      if (!quiz || !quiz.questions || !quiz.questions.length) {
        return null;
      }
      return quiz;
    } catch (e) {
      return null;
    }
  }

  function fieldsetFor(form, id) {
    var sets = form.getElementsByTagName('fieldset');
    for (var i = 0; i < sets.length; i += 1) {
      if (sets[i].getAttribute('data-id') === id) {
        return sets[i];
      }
    }
    return null;
  }

  function inputsNamed(scope, name) {
    var found = [];
    var inputs = scope.getElementsByTagName('input');
    for (var i = 0; i < inputs.length; i += 1) {
      if (inputs[i].name === name) {
        found.push(inputs[i]);
      }
    }
    return found;
  }

  function checkedValue(inputs) {
    for (var i = 0; i < inputs.length; i += 1) {
      if (inputs[i].checked) {
        return inputs[i].value;
      }
    }
    return null;
  }

  // Returns {correct, response, pattern, type} for one question.
  function grade(question, scope) {
    var inputs = inputsNamed(scope, String(question.id));
    var kind = question.kind;
    if (kind === 'choice') {
      var chosen = checkedValue(inputs);
      var index = chosen === null ? -1 : parseInt(chosen, 10);
      return {
        type: 'choice',
        correct: index >= 0 && index === Number(question.answer),
        response: index >= 0 ? choiceLetter(index) : '',
        pattern: choiceLetter(Number(question.answer))
      };
    }
    if (kind === 'true_false') {
      var picked = checkedValue(inputs);
      var expected = question.answer === true || question.answer === 'true';
      return {
        type: 'true-false',
        correct: picked !== null && (picked === 'true') === expected,
        response: picked === null ? '' : (picked === 'true' ? 't' : 'f'),
        pattern: expected ? 't' : 'f'
      };
    }
    // short answer
    var typed = '';
    for (var i = 0; i < inputs.length; i += 1) {
      if (inputs[i].type !== 'radio' && inputs[i].type !== 'checkbox') {
        typed = inputs[i].value;
        break;
      }
    }
    var accepted = question.answers || [];
    var given = normalizeAnswer(typed);
    var correct = false;
    for (var j = 0; j < accepted.length; j += 1) {
      if (given !== '' && given === normalizeAnswer(accepted[j])) {
        correct = true;
      }
    }
    return {
      type: 'fill-in',
      correct: correct,
      response: feedbackText(tidyAnswer(typed)),
      pattern: accepted.length ? feedbackText(tidyAnswer(accepted[0])) : ''
    };
  }

  function markQuestion(form, fieldset, question, correct) {
    if (!fieldset) {
      return;
    }
    var markId = String(question.id) + '-mark';
    var mark = document.getElementById(markId);
    if (!mark) {
      mark = document.createElement('p');
      mark.id = markId;
      mark.className = 'question-mark';
      var legend = fieldset.getElementsByTagName('legend')[0];
      if (legend && legend.nextSibling) {
        fieldset.insertBefore(mark, legend.nextSibling);
      } else {
        fieldset.appendChild(mark);
      }
    }
    setText(mark, label(form, correct ? 'correct' : 'wrong'));
    removeClass(fieldset, correct ? 'is-wrong' : 'is-correct');
    addClass(fieldset, correct ? 'is-correct' : 'is-wrong');
    removeClass(mark, correct ? 'is-wrong' : 'is-correct');
    addClass(mark, correct ? 'is-correct' : 'is-wrong');

    var explanation = document.getElementById(String(question.id) + '-explanation');
    if (explanation) {
      explanation.removeAttribute('hidden');
      if (explanation.style && explanation.style.display === 'none') {
        explanation.style.display = '';
      }
    }
  }

  function interactionsSupported() {
    var children = getValue('cmi.interactions._children');
    if (children !== '') {
      return children.indexOf('id') >= 0;
    }
    return /^\d+$/.test(getValue('cmi.interactions._count'));
  }

  function recordInteractions(results) {
    if (!interactionsSupported()) {
      return;
    }
    var count = parseInt(getValue('cmi.interactions._count'), 10);
    var n = isNaN(count) || count < 0 ? 0 : count;
    var now = clockTime(new Date());
    for (var i = 0; i < results.length; i += 1) {
      var r = results[i];
      var prefix = 'cmi.interactions.' + n + '.';
      if (!setValue(prefix + 'id', identifier(r.id))) {
        // The LMS refused the entry (for instance a full interactions list): stop here.
        return;
      }
      setValue(prefix + 'type', r.type);
      setValue(prefix + 'time', now);
      setValue(prefix + 'weighting', '1');
      if (r.response !== '') {
        setValue(prefix + 'student_response', r.response);
      }
      setValue(prefix + 'result', r.correct ? 'correct' : 'wrong');
      if (r.pattern !== '') {
        setValue(prefix + 'correct_responses.0.pattern', r.pattern);
      }
      n += 1;
    }
  }

  function masteryScore(quiz) {
    var fromLms = parseFloat(getValue('cmi.student_data.mastery_score'));
    if (!isNaN(fromLms)) {
      return fromLms;
    }
    var fromQuiz = quiz ? parseFloat(quiz.mastery) : NaN;
    return isNaN(fromQuiz) ? null : fromQuiz;
  }

  function submitQuiz(form, quiz) {
    var results = [];
    var correctCount = 0;
    var questions = quiz.questions;
    for (var i = 0; i < questions.length; i += 1) {
      var question = questions[i];
      var fieldset = fieldsetFor(form, String(question.id));
      var result = grade(question, fieldset || form);
      result.id = question.id;
      if (result.correct) {
        correctCount += 1;
      }
      results.push(result);
      markQuestion(form, fieldset, question, result.correct);
    }
    var score = Math.round((100 * correctCount) / questions.length);
    var mastery = masteryScore(quiz);
    var status = mastery === null ? 'completed' : (score >= mastery ? 'passed' : 'failed');

    if (initialized && !finished && !reviewOnly) {
      setValue('cmi.core.score.raw', score);
      recordInteractions(results);
      if (setValue('cmi.core.lesson_status', status)) {
        lessonStatus = status;
      }
      commit();
    }

    var output = document.getElementById('coursegen-quiz-result');
    if (output) {
      var text = scoreText(form, score);
      if (mastery !== null) {
        text += ' \u2014 ' + label(form, status === 'passed' ? 'passed' : 'failed');
      }
      setText(output, text);
      removeClass(output, status === 'passed' ? 'is-failed' : 'is-passed');
      addClass(output, status === 'passed' ? 'is-passed' : (status === 'failed' ? 'is-failed' : 'is-completed'));
    }
  }

  // ---- session -----------------------------------------------------------------------------

  function start() {
    api = findApi();
    if (api) {
      initialized = isTrue(call('LMSInitialize', [''])) && lastErrorCode() === '0';
    }
    if (initialized) {
      var mode = getValue('cmi.core.lesson_mode');
      reviewOnly = mode === 'review' || mode === 'browse';
      lessonStatus = getValue('cmi.core.lesson_status');
      if (!reviewOnly) {
        if (lessonStatus === '' || lessonStatus === 'not attempted') {
          if (setValue('cmi.core.lesson_status', 'incomplete')) {
            lessonStatus = 'incomplete';
          }
        }
        setValue('cmi.core.score.min', '0');
        setValue('cmi.core.score.max', '100');
      }
    }

    var form = document.getElementById('coursegen-quiz');
    var quiz = form ? readQuiz() : null;
    if (form && quiz) {
      on(form, 'submit', function (event) {
        event = event || window.event;
        if (event.preventDefault) {
          event.preventDefault();
        } else {
          event.returnValue = false;
        }
        try {
          submitQuiz(form, quiz);
        } catch (e) {
          // Never let a scoring problem navigate the page or break the LMS session.
        }
        return false;
      });
    } else if (initialized && !reviewOnly &&
               lessonStatus !== 'passed' && lessonStatus !== 'completed') {
      if (setValue('cmi.core.lesson_status', 'completed')) {
        lessonStatus = 'completed';
      }
      commit();
    }
  }

  function finish() {
    if (!initialized || finished) {
      return;
    }
    if (!reviewOnly) {
      setValue('cmi.core.session_time', timespan(new Date().getTime() - startedAt));
      var done = lessonStatus === 'passed' || lessonStatus === 'completed';
      setValue('cmi.core.exit', done ? '' : 'suspend');
      commit();
    }
    call('LMSFinish', ['']);
    finished = true;
  }

  on(window, 'pagehide', finish);
  on(window, 'beforeunload', finish);

  if (document.readyState === 'loading') {
    on(document, 'DOMContentLoaded', start);
  } else {
    start();
  }
}());
