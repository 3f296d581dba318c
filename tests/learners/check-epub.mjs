#!/usr/bin/env node
// Runs EPUBCheck on a book's EPUB and requires a clean report: no fatal error, no error and no
// warning (usage notes are counted, not fatal).
//
//   node tests/learners/check-epub.mjs BOOK/course.epub
//
// Uses Debian's EPUBCheck (/usr/share/java/epubcheck.jar through java -jar; EPUBCHECK_JAR
// overrides the path) and reads its --json report.
// Prints one JSON line: {"epubcheck":"ok","version":"...","fatal":0,"error":0,"warning":0,"usage":n}.
import fs from 'node:fs';
import path from 'node:path';
import { fail, parseArgs, printResult, runCheck, runProcess, tempDir } from './lib.mjs';

const USAGE = 'check-epub.mjs BOOK/course.epub';
const TIMEOUT_MS = 10 * 60_000;

async function main() {
  const { positional } = parseArgs(process.argv.slice(2), { usage: USAGE });
  if (positional.length !== 1) fail(`expected one EPUB file\nusage: ${USAGE}`);
  const epub = path.resolve(positional[0]);
  if (!fs.existsSync(epub)) fail(`${epub} does not exist`);
  const jar = process.env.EPUBCHECK_JAR || '/usr/share/java/epubcheck.jar';
  if (!fs.existsSync(jar)) fail(`no EPUBCheck at ${jar} (Debian: apt-get install epubcheck; or set EPUBCHECK_JAR)`);

  const reportPath = path.join(tempDir('coursegen-epubcheck-'), 'report.json');
  let result;
  try {
    // Exit status 1 only says that messages were reported; the JSON report is read either way.
    result = await runProcess('java', ['-jar', jar, epub, '--json', reportPath], {}, TIMEOUT_MS);
  } catch (err) {
    fail(`could not run epubcheck: ${err.message}`);
  }
  if (!fs.existsSync(reportPath) || fs.statSync(reportPath).size === 0) {
    fail(`epubcheck wrote no report (exit ${result.code}):\n${result.output.slice(-3000)}`);
  }
  const report = JSON.parse(fs.readFileSync(reportPath, 'utf8'));
  const checker = report.checker || {};
  const counts = {
    fatal: checker.nFatal || 0,
    error: checker.nError || 0,
    warning: checker.nWarning || 0,
    usage: checker.nUsage || 0,
  };
  const blocking = (report.messages || []).filter((m) => ['FATAL', 'ERROR', 'WARNING'].includes(m.severity));
  if (counts.fatal || counts.error || counts.warning || blocking.length) {
    const lines = blocking.map((m) => {
      const where = (m.locations || []).slice(0, 3)
        .map((l) => `${l.path}${l.line > 0 ? `:${l.line}:${l.column}` : ''}`).join(', ');
      return `${m.severity} ${m.ID}: ${m.message}${where ? ` (${where})` : ''}`;
    });
    printResult({ epubcheck: 'fail', version: checker.checkerVersion, ...counts });
    fail(`EPUBCheck ${checker.checkerVersion} on ${path.basename(epub)}: ${counts.fatal} fatal, ${counts.error} error(s), ${counts.warning} warning(s):\n  - ${lines.join('\n  - ')}`);
  }
  printResult({ epubcheck: 'ok', version: checker.checkerVersion, ...counts });
}

runCheck('check-epub', main, { timeoutMs: TIMEOUT_MS + 60_000 });
