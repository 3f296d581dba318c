#!/usr/bin/env node
// Plays a book's course-scorm12.zip the way a SCORM 1.2 LMS would.
//
//   node tests/learners/check-scorm.mjs BOOK/course-scorm12.zip [--expect-scos N]
//
// 1. Unpacks the zip into a temporary folder and validates imsmanifest.xml: well-formed, ADL SCORM
//    1.2 metadata, unique identifiers, every resource href and <file> in the package, every item
//    with an <adlcp:masteryscore>, and every relative src/href of each SCO page in the package.
// 2. Serves the folder on 127.0.0.1 next to a harness page that plays the LMS: a scorm-again
//    Scorm12API exposed as window.API (with the item's masteryscore as
//    cmi.student_data.mastery_score), and the SCO in an iframe; headless Chromium drives it.
//    For every SCO: LMSInitialize is called and the status becomes "incomplete"; every question of
//    the quiz is answered correctly through the form and submitted; the score is 100, the status
//    "passed", one interaction is recorded per question and the explanations are shown; leaving
//    the page calls LMSFinish after setting the session time. The first SCO then runs again
//    answered all wrong (score 0, "failed", exit "suspend"), and once more on its own with no LMS
//    (the quiz still scores locally). A SCO page without a quiz must report "completed".
//    Any failed API call, page error, console error or failed request fails the check, and so
//    does a serious or critical axe-core (WCAG 2.1 A/AA) violation on a SCO page after submitting.
// Prints one JSON line: {"scorm12":"ok","scos":n,"questions":n,...}.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import {
  fail, launchChromium, parseArgs, parseCount, printResult, runCheck, serveDirectory, tempDir,
} from './lib.mjs';
import { missingPageReferences, unzip, validateManifest } from './scorm-package.mjs';

const require = createRequire(import.meta.url);
const USAGE = 'check-scorm.mjs PACKAGE.zip [--expect-scos N]';
const STEP_MS = 20_000;
const HARNESS = '/__coursegen_harness__';
const INTERACTION_TYPES = { choice: 'choice', true_false: 'true-false', short: 'fill-in' };
const TIMESPAN = /^\d{2,4}:\d{2}:\d{2}(\.\d{1,2})?$/;
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

const HARNESS_HTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>SCORM 1.2 test LMS</title>
<link rel="icon" href="data:,">
<script src="${HARNESS}/scorm12.js"></script>
<script src="${HARNESS}/harness.js"></script>
</head>
<body>
<iframe id="sco" title="SCO" style="width:1024px;height:768px;border:0"></iframe>
</body>
</html>
`;

// Runs in the harness page: one fresh LMS API per SCO attempt, every call recorded with its
// result and error code, and scorm-again's own events.
const HARNESS_JS = `(function () {
  'use strict';
  var frame = null;
  window.startAttempt = function (url, masteryScore) {
    var api = new window.Scorm12API({ autocommit: false, lmsCommitUrl: false, logLevel: 4 });
    if (masteryScore !== null && masteryScore !== undefined) {
      api.cmi.student_data.mastery_score = String(masteryScore);
    }
    var record = { url: url, calls: [], events: [], loaded: 0 };
    ['LMSInitialize', 'LMSFinish', 'LMSGetValue', 'LMSSetValue', 'LMSCommit'].forEach(function (name) {
      var original = api[name];
      api[name] = function () {
        var args = Array.prototype.slice.call(arguments);
        var result = original.apply(api, args);
        var code = String(api.LMSGetLastError());
        record.calls.push({ name: name, args: args, result: String(result), error: code });
        return result;
      };
    });
    ['LMSInitialize', 'LMSCommit', 'LMSFinish'].forEach(function (name) {
      api.on(name, function () { record.events.push(name); });
    });
    window.API = api;
    window.attempt = record;
    frame = document.getElementById('sco');
    frame.onload = function () { record.loaded += 1; };
    frame.src = url;
  };
  // Leaving loads a blank page; the next attempt waits for it (window.left), or its navigation
  // would abort the blank page's request.
  window.leaveAttempt = function () {
    window.left = false;
    frame.onload = function () { window.left = true; };
    frame.src = '${HARNESS}/blank.html';
  };
  window.attemptState = function () {
    var api = window.API;
    var cmi = JSON.parse(JSON.stringify(api.cmi));
    return {
      calls: window.attempt.calls,
      events: window.attempt.events,
      loaded: window.attempt.loaded,
      terminated: api.isTerminated(),
      cmi: cmi
    };
  };
}());
`;

const BLANK_HTML = '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Left</title></head><body></body></html>\n';

function lastSet(calls, element) {
  let value;
  for (const call of calls) {
    if (call.name === 'LMSSetValue' && call.args[0] === element && call.result === 'true') value = call.args[1];
  }
  return value;
}

function attrValue(value) {
  return String(value).replace(/["\\]/g, '\\$&');
}

async function waitInPage(page, fn, arg, what) {
  try {
    await page.waitForFunction(fn, { timeout: STEP_MS, polling: 100 }, arg);
  } catch {
    fail(`timed out after ${STEP_MS / 1000} s waiting for ${what}`);
  }
}

async function scoFrame(page) {
  const handle = await page.$('#sco');
  const frame = handle && (await handle.contentFrame());
  if (!frame) fail('the SCO iframe has no document');
  return frame;
}

async function readQuiz(frame, label) {
  return frame.evaluate(() => {
    const data = document.getElementById('coursegen-quiz-data');
    const form = document.getElementById('coursegen-quiz');
    if (!data && !form) return { none: true };
    let quiz = null;
    let error = null;
    try {
      quiz = data ? JSON.parse(data.textContent) : null;
    } catch (err) {
      error = String(err);
    }
    return {
      none: false,
      quiz,
      error,
      hasData: !!data,
      dataType: data ? data.getAttribute('type') : null,
      hasForm: !!form && form.tagName === 'FORM',
      hasSubmit: !!document.getElementById('coursegen-quiz-submit'),
      submitType: document.getElementById('coursegen-quiz-submit') ? document.getElementById('coursegen-quiz-submit').getAttribute('type') : null,
      hasResult: !!document.getElementById('coursegen-quiz-result'),
      scoScript: Array.from(document.scripts).some((s) => /(^|\/)sco\.js$/.test(s.getAttribute('src') || '')),
    };
  }).then((info) => {
    if (info.none) return null;
    const problems = [];
    if (!info.hasData) problems.push('no <script type="application/json" id="coursegen-quiz-data">');
    else if (info.dataType !== 'application/json') problems.push(`#coursegen-quiz-data has type="${info.dataType}"`);
    if (info.error) problems.push(`#coursegen-quiz-data is not JSON: ${info.error}`);
    if (!info.hasForm) problems.push('no <form id="coursegen-quiz">');
    if (!info.hasSubmit) problems.push('no #coursegen-quiz-submit button');
    else if (info.submitType !== 'submit') problems.push(`#coursegen-quiz-submit has type="${info.submitType}"`);
    if (!info.hasResult) problems.push('no #coursegen-quiz-result');
    if (!info.scoScript) problems.push('the page does not include sco.js');
    const quiz = info.quiz;
    if (quiz) {
      if (typeof quiz.mastery !== 'number' || quiz.mastery < 0 || quiz.mastery > 100) problems.push(`quiz mastery is ${JSON.stringify(quiz.mastery)}`);
      if (!Array.isArray(quiz.questions) || !quiz.questions.length) problems.push('the quiz has no questions');
      const ids = new Set();
      for (const q of quiz.questions || []) {
        if (typeof q.id !== 'string' || !/^[A-Za-z][A-Za-z0-9_.\-]*$/.test(q.id)) problems.push(`question id ${JSON.stringify(q.id)} is not a safe name`);
        if (ids.has(q.id)) problems.push(`question id ${q.id} is used twice`);
        ids.add(q.id);
        if (!q.prompt) problems.push(`question ${q.id} has no prompt`);
        if (q.kind === 'choice') {
          if (!Array.isArray(q.options) || q.options.length < 2) problems.push(`choice question ${q.id} has fewer than 2 options`);
          else if (!Number.isInteger(q.answer) || q.answer < 0 || q.answer >= q.options.length) problems.push(`choice question ${q.id} has answer ${JSON.stringify(q.answer)}`);
        } else if (q.kind === 'true_false') {
          if (typeof q.answer !== 'boolean') problems.push(`true/false question ${q.id} has answer ${JSON.stringify(q.answer)}`);
        } else if (q.kind === 'short') {
          if (!Array.isArray(q.answers) || !q.answers.length || q.answers.some((a) => typeof a !== 'string' || !a.trim())) problems.push(`short question ${q.id} has answers ${JSON.stringify(q.answers)}`);
        } else {
          problems.push(`question ${q.id} has the unknown kind ${JSON.stringify(q.kind)}`);
        }
      }
    }
    if (problems.length) fail(`${label}: quiz markup: ${problems.join('; ')}`);
    return quiz;
  });
}

// axe-core (WCAG 2.1 A/AA) on the SCO page as the learner sees it; serious or critical
// violations fail.
let axeSource = null;
async function runAxe(frame, label) {
  if (!axeSource) axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await frame.evaluate(axeSource);
  const violations = await frame.evaluate(async (tags) => {
    const results = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return results.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  }, AXE_TAGS);
  const blocking = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (blocking.length) {
    fail(`${label}: axe-core found ${blocking.length} serious or critical violation(s):\n  - ${blocking.map((v) => `${v.id} (${v.impact}, ${v.nodes} element(s)): ${v.help} [${v.targets.join(' | ')}]`).join('\n  - ')}`);
  }
  return violations.map((v) => `${v.id}:${v.impact}`);
}

function wrongChoice(q) {
  return q.answer === 0 ? 1 : 0;
}

async function answerQuestion(frame, q, correct, label) {
  const fieldset = await frame.evaluate((id) => {
    const sets = Array.from(document.querySelectorAll('#coursegen-quiz fieldset.question'));
    const set = sets.find((s) => s.getAttribute('data-id') === id);
    if (!set) return null;
    const legend = set.querySelector('legend');
    return { legend: legend ? legend.textContent.trim() : null };
  }, q.id);
  if (!fieldset) fail(`${label}: no <fieldset class="question" data-id="${q.id}">`);
  if (!fieldset.legend) fail(`${label}: the fieldset of ${q.id} has no <legend>`);

  const scope = `#coursegen-quiz fieldset.question[data-id="${attrValue(q.id)}"]`;
  if (q.kind === 'choice' || q.kind === 'true_false') {
    let value;
    if (q.kind === 'choice') value = String(correct ? q.answer : wrongChoice(q));
    else value = String(correct ? q.answer : !q.answer);
    const selector = `${scope} input[type="radio"][name="${attrValue(q.id)}"][value="${attrValue(value)}"]`;
    const radio = await frame.$(selector);
    if (!radio) fail(`${label}: no radio ${selector}`);
    try {
      await radio.click();
    } catch {
      // A radio styled out of view: click it the way a label would.
      await radio.evaluate((el) => el.click());
    }
    const checked = await radio.evaluate((el) => el.checked);
    if (!checked) fail(`${label}: clicking ${selector} did not check it`);
  } else {
    const selector = `${scope} input[type="text"][name="${attrValue(q.id)}"]`;
    const input = await frame.$(selector);
    if (!input) fail(`${label}: no text input ${selector}`);
    await input.click({ count: 3 });
    // Extra spaces, doubled inner spaces and another letter case: answers compare after
    // trimming and collapsing white space, case-insensitively.
    const answer = q.answers[0];
    const recased = answer.toUpperCase().toLowerCase() === answer.toLowerCase() ? answer.toUpperCase() : answer;
    const typed = correct ? `  ${recased.replace(/ /g, '  ')} ` : 'zz-not-an-accepted-answer';
    await input.type(typed);
  }
}

async function submitQuiz(frame, label) {
  const before = frame.url();
  const button = await frame.$('#coursegen-quiz-submit');
  await button.click();
  try {
    await frame.waitForFunction(
      () => {
        const out = document.getElementById('coursegen-quiz-result');
        return out && out.textContent.trim() !== '';
      },
      { timeout: STEP_MS, polling: 100 },
    );
  } catch {
    if (frame.isDetached() || frame.url() !== before) fail(`${label}: submitting navigated away from the page (the submit event was not prevented)`);
    fail(`${label}: #coursegen-quiz-result stayed empty ${STEP_MS / 1000} s after submitting`);
  }
  if (frame.url() !== before) fail(`${label}: submitting navigated the page to ${frame.url()}`);
}

async function quizDisplay(frame, quiz) {
  return frame.evaluate((questions) => {
    const form = document.getElementById('coursegen-quiz');
    const labels = {
      correct: form.getAttribute('data-label-correct') || 'Correct',
      wrong: form.getAttribute('data-label-wrong') || 'Incorrect',
    };
    const shown = (el) => !!el && !el.hidden && getComputedStyle(el).display !== 'none';
    return {
      result: document.getElementById('coursegen-quiz-result').textContent.trim(),
      questions: questions.map((q) => {
        const set = Array.from(form.querySelectorAll('fieldset.question')).find((s) => s.getAttribute('data-id') === q.id);
        const explanation = document.getElementById(`${q.id}-explanation`);
        const textOf = set ? set.innerText : '';
        return {
          id: q.id,
          explanation: explanation ? (shown(explanation) ? 'shown' : 'hidden') : 'missing',
          markedCorrect: textOf.includes(labels.correct),
          markedWrong: textOf.includes(labels.wrong),
        };
      }),
    };
  }, quiz.questions);
}

function checkCalls(state, label) {
  const failed = state.calls.filter((c) => c.result === 'false' || (c.error !== '0' && c.name !== 'LMSGetValue'));
  const failedGets = state.calls.filter((c) => c.name === 'LMSGetValue' && c.error !== '0');
  const problems = [...failed, ...failedGets].map((c) => `${c.name}(${c.args.map((a) => JSON.stringify(a)).join(', ')}) -> ${c.result}, error ${c.error}`);
  if (problems.length) fail(`${label}: the SCO made API calls the LMS refused:\n  - ${problems.join('\n  - ')}`);
}

async function runAttempt(page, origin, sco, mode) {
  const label = `${sco.href} (${mode})`;
  const url = `${origin}/${sco.href}${sco.parameters ? (sco.parameters.startsWith('?') ? sco.parameters : `?${sco.parameters}`) : ''}`;
  await page.evaluate((u, m) => window.startAttempt(u, m), url, sco.mastery);
  await waitInPage(page, () => window.attempt && window.attempt.loaded > 0, undefined, `${label} to load`);
  await waitInPage(page, () => window.attempt.events.includes('LMSInitialize'), undefined, `${label} to call LMSInitialize`);
  const frame = await scoFrame(page);
  const quiz = await readQuiz(frame, label);

  let state = await page.evaluate(() => window.attemptState());
  checkCalls(state, label);
  const setStatuses = state.calls.filter((c) => c.name === 'LMSSetValue' && c.args[0] === 'cmi.core.lesson_status').map((c) => c.args[1]);
  const result = { href: sco.href, mode: quiz ? mode : 'no-quiz', questions: quiz ? quiz.questions.length : 0 };

  if (!quiz) {
    if (state.cmi.core.lesson_status !== 'completed') fail(`${label}: a page without a quiz left lesson_status "${state.cmi.core.lesson_status}", expected "completed"`);
    if (mode === 'all-correct') result.axe = await runAxe(frame, label);
  } else {
    if (!setStatuses.includes('incomplete') || state.cmi.core.lesson_status !== 'incomplete') {
      fail(`${label}: after LMSInitialize lesson_status is "${state.cmi.core.lesson_status}" (set: ${JSON.stringify(setStatuses)}), expected "incomplete"`);
    }
    if (lastSet(state.calls, 'cmi.core.score.min') !== '0' || lastSet(state.calls, 'cmi.core.score.max') !== '100') {
      fail(`${label}: cmi.core.score.min/max were not set to 0/100`);
    }
    if (sco.mastery !== null && quiz.mastery !== sco.mastery) {
      fail(`${label}: the quiz data says mastery ${quiz.mastery} but the manifest's masteryscore is ${sco.mastery}`);
    }
    const correct = mode !== 'all-wrong';
    for (const q of quiz.questions) await answerQuestion(frame, q, correct, label);
    const commitsBefore = state.events.filter((e) => e === 'LMSCommit').length;
    await submitQuiz(frame, label);
    state = await page.evaluate(() => window.attemptState());
    checkCalls(state, label);
    const expectedScore = correct ? '100' : '0';
    const expectedStatus = correct ? 'passed' : 'failed';
    if (state.cmi.core.score.raw !== expectedScore) fail(`${label}: cmi.core.score.raw is "${state.cmi.core.score.raw}", expected ${expectedScore}`);
    if (state.cmi.core.lesson_status !== expectedStatus) fail(`${label}: lesson_status is "${state.cmi.core.lesson_status}", expected "${expectedStatus}"`);
    if (state.events.filter((e) => e === 'LMSCommit').length <= commitsBefore) fail(`${label}: no LMSCommit after submitting`);
    const interactions = Object.values(state.cmi.interactions || {});
    if (interactions.length !== quiz.questions.length) {
      fail(`${label}: ${interactions.length} interactions recorded for ${quiz.questions.length} questions`);
    }
    quiz.questions.forEach((q, i) => {
      const it = interactions[i];
      const want = { id: q.id, type: INTERACTION_TYPES[q.kind], result: correct ? 'correct' : 'wrong' };
      for (const [key, value] of Object.entries(want)) {
        if (it[key] !== value) fail(`${label}: interaction ${i} has ${key} "${it[key]}", expected "${value}"`);
      }
      const pattern = it.correct_responses && it.correct_responses['0'] && it.correct_responses['0'].pattern;
      if (!pattern) fail(`${label}: interaction ${i} (${q.id}) has no correct_responses.0.pattern`);
    });
    const display = await quizDisplay(frame, quiz);
    if (!display.result.includes(expectedScore)) fail(`${label}: the result text "${display.result}" does not show the score ${expectedScore}`);
    for (const q of display.questions) {
      if (q.explanation !== 'shown') fail(`${label}: the explanation of ${q.id} is ${q.explanation} after submitting`);
      if (correct ? !q.markedCorrect : !q.markedWrong) fail(`${label}: question ${q.id} is not marked ${correct ? 'correct' : 'wrong'} in text`);
    }
    result.result_text = display.result;
    if (mode === 'all-correct') result.axe = await runAxe(frame, label);
  }

  // Leave the SCO: pagehide must record the session and call LMSFinish.
  await page.evaluate(() => window.leaveAttempt());
  await waitInPage(page, () => window.attempt.events.includes('LMSFinish'), undefined, `${label} to call LMSFinish when the page is left`);
  await waitInPage(page, () => window.left === true, undefined, `${label}: the blank page to load after leaving`);
  state = await page.evaluate(() => window.attemptState());
  checkCalls(state, label);
  if (!state.terminated) fail(`${label}: the LMS API is not terminated after leaving the page`);
  const finishes = state.calls.filter((c) => c.name === 'LMSFinish').length;
  if (finishes !== 1) fail(`${label}: LMSFinish called ${finishes} times`);
  const sessionTime = lastSet(state.calls, 'cmi.core.session_time');
  if (!sessionTime || !TIMESPAN.test(sessionTime)) fail(`${label}: cmi.core.session_time was ${JSON.stringify(sessionTime)}, expected HHHH:MM:SS.SS`);
  const exit = lastSet(state.calls, 'cmi.core.exit');
  const expectedExit = mode === 'all-wrong' ? 'suspend' : '';
  if (exit !== expectedExit) fail(`${label}: cmi.core.exit was ${JSON.stringify(exit)}, expected ${JSON.stringify(expectedExit)}`);
  const order = state.calls.map((c) => c.name);
  if (order.lastIndexOf('LMSCommit') > order.lastIndexOf('LMSFinish')) fail(`${label}: LMSCommit after LMSFinish`);
  result.status = state.cmi.core.lesson_status;
  result.score = state.cmi.core.score.raw;
  result.session_time = sessionTime;
  return { result, quiz };
}

// The SCO opened on its own, with no LMS around: the quiz must still score locally.
async function runWithoutLms(browser, origin, sco, quiz, watch) {
  const page = await browser.newPage();
  watch(page);
  const label = `${sco.href} (no LMS)`;
  const response = await page.goto(`${origin}/${sco.href}`, { waitUntil: 'load', timeout: STEP_MS });
  if (!response || !response.ok()) fail(`${label}: could not open the page`);
  const frame = page.mainFrame();
  for (const q of quiz.questions) await answerQuestion(frame, q, true, label);
  await submitQuiz(frame, label);
  const display = await quizDisplay(frame, quiz);
  if (!display.result.includes('100')) fail(`${label}: the result text "${display.result}" does not show the score 100`);
  await page.close({ runBeforeUnload: false });
  return display.result;
}

async function main() {
  const { positional, values } = parseArgs(process.argv.slice(2), { options: ['expect-scos'], usage: USAGE });
  if (positional.length !== 1) fail(`expected one zip file\nusage: ${USAGE}`);
  const zipPath = path.resolve(positional[0]);
  const expectScos = parseCount('expect-scos', values['expect-scos']);
  if (!fs.existsSync(zipPath)) fail(`${zipPath} does not exist`);

  const dir = tempDir('coursegen-scorm-');
  const files = await unzip(zipPath, dir);
  const manifest = validateManifest(dir, files);
  if (expectScos !== undefined && manifest.scos.length !== expectScos) {
    fail(`the manifest launches ${manifest.scos.length} SCOs, expected ${expectScos}`);
  }
  if (!files.has('sco.js')) fail('sco.js is not at the root of the package');
  const staticProblems = [];
  for (const sco of manifest.scos) {
    const { html, missing } = missingPageReferences(dir, files, sco.href);
    if (missing.length) staticProblems.push(`${sco.href} refers to files that are not in the package: ${missing.join(', ')}`);
    if (!/<script[^>]+src\s*=\s*["'][^"']*sco\.js["']/i.test(html)) staticProblems.push(`${sco.href} does not include sco.js`);
  }
  if (staticProblems.length) fail(`${staticProblems.length} page problem(s):\n  - ${staticProblems.join('\n  - ')}`);

  const bundle = require.resolve('scorm-again/scorm12');
  const server = await serveDirectory(dir, {
    [`${HARNESS}/index.html`]: { body: HARNESS_HTML, type: 'text/html; charset=utf-8' },
    [`${HARNESS}/harness.js`]: { body: HARNESS_JS, type: 'text/javascript; charset=utf-8' },
    [`${HARNESS}/blank.html`]: { body: BLANK_HTML, type: 'text/html; charset=utf-8' },
    [`${HARNESS}/scorm12.js`]: { file: bundle, type: 'text/javascript; charset=utf-8' },
    // Chromium asks for it when a SCO page is opened on its own; not part of the package.
    '/favicon.ico': { body: '', type: 'image/x-icon' },
  });

  const browser = await launchChromium();
  const pageProblems = [];
  const watch = (page) => {
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'assert') {
        const where = msg.location() && msg.location().url ? ` (${msg.location().url})` : '';
        pageProblems.push(`console ${msg.type()}: ${msg.text()}${where}`);
      }
    });
    page.on('pageerror', (err) => pageProblems.push(`page error: ${err && err.message ? err.message : err}`));
    page.on('requestfailed', (req) => pageProblems.push(`request failed: ${req.url()} ${req.failure() ? req.failure().errorText : ''}`));
    page.on('response', (res) => {
      if (res.status() >= 400) pageProblems.push(`HTTP ${res.status()} for ${res.url()}`);
    });
  };
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP_MS);
  watch(page);
  await page.setViewport({ width: 1100, height: 900 });
  await page.goto(`${server.origin}${HARNESS}/index.html`, { waitUntil: 'load', timeout: STEP_MS });
  const hasApi = await page.evaluate(() => typeof window.Scorm12API === 'function');
  if (!hasApi) fail('scorm-again did not define Scorm12API in the harness page');

  const checkPage = (label) => {
    if (pageProblems.length) fail(`${label}:\n  - ${pageProblems.join('\n  - ')}`);
  };

  const attempts = [];
  let questions = 0;
  let firstQuiz = null;
  for (const sco of manifest.scos) {
    const { result, quiz } = await runAttempt(page, server.origin, sco, 'all-correct');
    checkPage(`${sco.href}: problems while playing`);
    attempts.push(result);
    if (quiz) {
      questions += quiz.questions.length;
      if (!firstQuiz) firstQuiz = { sco, quiz };
    }
  }
  let localResult = null;
  if (firstQuiz) {
    const { result } = await runAttempt(page, server.origin, firstQuiz.sco, 'all-wrong');
    checkPage(`${firstQuiz.sco.href} (all wrong): problems while playing`);
    attempts.push(result);
    localResult = await runWithoutLms(browser, server.origin, firstQuiz.sco, firstQuiz.quiz, watch);
    checkPage(`${firstQuiz.sco.href} (no LMS): problems while playing`);
  }
  if (server.misses.length) fail(`requests for files not in the package: ${[...new Set(server.misses)].join(', ')}`);

  printResult({
    scorm12: 'ok',
    title: manifest.title,
    scos: manifest.scos.length,
    scos_with_quiz: attempts.filter((a) => a.mode === 'all-correct' && a.questions > 0).length,
    questions,
    files: files.size,
    attempts: attempts.map((a) => `${a.href}:${a.mode}:${a.status}:${a.score}`),
    axe_minor_or_moderate: [...new Set(attempts.flatMap((a) => a.axe || []))],
    without_lms: localResult,
    notes: manifest.notes,
  });
}

runCheck('check-scorm', main, { timeoutMs: 15 * 60_000 });
