#!/usr/bin/env node
// Accessibility checks of a book: axe-core on the HTML book and DAISY Ace on the EPUB.
//
//   node tests/learners/check-a11y.mjs BOOK_DIR [--html-only]
//
// 1. Serves BOOK_DIR on 127.0.0.1 and runs axe-core (WCAG 2.0 and 2.1, levels A and AA) on
//    index.html in headless Chromium; any serious or critical violation fails.
// 2. Runs DAISY Ace (@daisy/ace-cli) on BOOK_DIR/course.epub with the same Chromium and reads its
//    report.json; any failed assertion of serious or critical impact fails. --html-only skips it.
// Prints one JSON line: {"a11y":"ok","axe":{...counts by impact},"ace":{...counts by impact}}.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import {
  chromiumPath, fail, launchChromium, parseArgs, printResult, runCheck, runProcess, serveDirectory, tempDir,
} from './lib.mjs';

const require = createRequire(import.meta.url);
const USAGE = 'check-a11y.mjs BOOK_DIR [--html-only]';
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const BLOCKING = new Set(['serious', 'critical']);
const IMPACTS = ['minor', 'moderate', 'serious', 'critical'];
const ACE_TIMEOUT_MS = 10 * 60_000;

function emptyCounts() {
  return Object.fromEntries(IMPACTS.map((i) => [i, 0]));
}

async function runAxe(bookDir) {
  const index = path.join(bookDir, 'index.html');
  if (!fs.existsSync(index)) fail(`${index} does not exist`);
  const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const axeVersion = require('axe-core/package.json').version;
  const server = await serveDirectory(bookDir, { '/favicon.ico': { body: '', type: 'image/x-icon' } });
  const browser = await launchChromium();
  const page = await browser.newPage();
  page.setDefaultTimeout(120_000);
  await page.setBypassCSP(true);
  await page.setViewport({ width: 1280, height: 900 });
  const response = await page.goto(`${server.origin}/index.html`, { waitUntil: 'load', timeout: 120_000 });
  if (!response || !response.ok()) fail(`could not open index.html (${response ? response.status() : 'no response'})`);
  await page.evaluate(axeSource);
  const results = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
    AXE_TAGS,
  );
  await browser.close();

  const counts = emptyCounts();
  const blocking = [];
  for (const v of results.violations) {
    const impact = v.impact || 'minor';
    counts[impact] = (counts[impact] || 0) + 1;
    if (BLOCKING.has(impact)) {
      const targets = v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ');
      blocking.push(`${v.id} (${impact}, ${v.nodes.length} element(s)): ${v.help} [${targets}] ${v.helpUrl}`);
    }
  }
  return {
    version: axeVersion,
    counts,
    rules: results.violations.map((v) => `${v.id}:${v.impact}`),
    blocking,
  };
}

function lastLog(dir) {
  try {
    const logs = [];
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.log')) logs.push(p);
      }
    };
    walk(dir);
    return logs.map((p) => fs.readFileSync(p, 'utf8')).join('\n').slice(-3000);
  } catch {
    return '';
  }
}

async function runAce(bookDir) {
  const epub = path.join(bookDir, 'course.epub');
  if (!fs.existsSync(epub)) fail(`${epub} does not exist (use --html-only for a book without an EPUB)`);
  const work = tempDir('coursegen-ace-');
  const outDir = path.join(work, 'report');
  const aceBin = require.resolve('@daisy/ace-cli/bin/ace.js');
  const aceVersion = require('@daisy/ace-cli/package.json').version;
  const env = {
    ...process.env,
    // Ace drives Chromium through puppeteer, which honours this path; Debian's Chromium is used
    // instead of a downloaded browser. Ace itself passes --no-sandbox.
    PUPPETEER_EXECUTABLE_PATH: chromiumPath(),
    PUPPETEER_SKIP_DOWNLOAD: '1',
    // Ace gives the browser 5 s to start by default: too short on a busy two-core machine.
    ACE_TIMEOUT_INITIAL: process.env.ACE_TIMEOUT_INITIAL || '60000',
    // Ace's configuration and logs go to the temporary folder, not the user's home.
    XDG_CONFIG_HOME: path.join(work, 'config'),
    XDG_STATE_HOME: path.join(work, 'state'),
    XDG_DATA_HOME: path.join(work, 'data'),
    XDG_CACHE_HOME: path.join(work, 'cache'),
  };
  const args = [aceBin, '--force', '--silent', '--outdir', outDir, '--tempdir', path.join(work, 'tmp'), path.resolve(epub)];
  fs.mkdirSync(path.join(work, 'tmp'));
  let run;
  try {
    run = await runProcess(process.execPath, args, { cwd: work, env }, ACE_TIMEOUT_MS);
  } catch (err) {
    fail(`Ace did not finish: ${err.message}\n${lastLog(work)}`);
  }
  const reportPath = path.join(outDir, 'report.json');
  if (run.code !== 0 || !fs.existsSync(reportPath)) {
    fail(`Ace exited with ${run.code ?? run.signal} and ${fs.existsSync(reportPath) ? 'a' : 'no'} report\n${run.output.slice(-3000)}\n${lastLog(work)}`);
  }
  const report = JSON.parse(fs.readFileSync(reportPath, 'utf8'));
  const counts = emptyCounts();
  const blocking = [];
  const rules = new Set();
  const visit = (assertion, subject) => {
    const here = (assertion['earl:testSubject'] && assertion['earl:testSubject'].url) || subject;
    const test = assertion['earl:test'];
    const result = assertion['earl:result'];
    if (test && result && result['earl:outcome'] === 'fail') {
      const impact = test['earl:impact'] || 'minor';
      counts[impact] = (counts[impact] || 0) + 1;
      rules.add(`${test['dct:title']}:${impact}`);
      if (BLOCKING.has(impact)) {
        const pointer = result['earl:pointer'] && result['earl:pointer'].css ? ` [${[].concat(result['earl:pointer'].css).slice(0, 3).join(' | ')}]` : '';
        blocking.push(`${here}: ${test['dct:title']} (${impact}): ${result['dct:description'] || test['dct:description']}${pointer}`);
      }
    }
    for (const inner of assertion.assertions || []) visit(inner, here);
  };
  for (const assertion of report.assertions || []) visit(assertion, '');
  return {
    version: aceVersion,
    outcome: report['earl:result'] && report['earl:result']['earl:outcome'],
    counts,
    rules: [...rules],
    blocking,
  };
}

async function main() {
  const { positional, values } = parseArgs(process.argv.slice(2), { flags: ['html-only'], usage: USAGE });
  if (positional.length !== 1) fail(`expected one book folder\nusage: ${USAGE}`);
  const bookDir = path.resolve(positional[0]);
  if (!fs.existsSync(bookDir) || !fs.statSync(bookDir).isDirectory()) fail(`${bookDir} is not a folder`);

  const axe = await runAxe(bookDir);
  const ace = values['html-only'] ? null : await runAce(bookDir);

  const problems = [];
  if (axe.blocking.length) problems.push(`axe-core ${axe.version} on index.html: ${axe.blocking.length} serious or critical violation(s):\n    - ${axe.blocking.join('\n    - ')}`);
  if (ace && ace.blocking.length) problems.push(`Ace ${ace.version} on course.epub: ${ace.blocking.length} serious or critical violation(s):\n    - ${ace.blocking.join('\n    - ')}`);
  const summary = {
    a11y: problems.length ? 'fail' : 'ok',
    axe: { version: axe.version, tags: AXE_TAGS, violations: axe.counts, rules: axe.rules },
    ace: ace ? { version: ace.version, outcome: ace.outcome, violations: ace.counts, rules: ace.rules } : 'skipped',
  };
  if (problems.length) {
    printResult(summary);
    fail(problems.join('\n  '));
  }
  printResult(summary);
}

runCheck('check-a11y', main, { timeoutMs: 20 * 60_000 });
