#!/usr/bin/env node
// Checks a book's course.gift (Moodle GIFT) the way a question-bank import would read it.
//
//   node tests/learners/check-gift.mjs BOOK/course.gift [--expect-categories N]
//
// Parses the file with gift-pegjs and fails on: questions or categories not separated by blank
// lines (Moodle reads one per blank-line block), a syntax error (shown with its line), a question
// before the first $CATEGORY, a category with no question, a category path that is not
// course/module/lesson or that holds backslash escapes (Moodle takes the $CATEGORY line
// literally; only "//" stands for a "/" inside a name), a question kind other than multiple
// choice, true/false or short answer, a question without its "::title::" or with a title used
// twice in one category, a multiple-choice question without exactly one correct option or with
// the same option twice, a short-answer question with an answer that is not fully correct, and
// a category count other than --expect-categories.
// Prints one JSON line: {"gift":"ok","categories":n,"questions":n,"by_kind":{...}}.
import fs from 'node:fs';
import gift from 'gift-pegjs';
import { fail, parseArgs, parseCount, printResult, runCheck } from './lib.mjs';

const USAGE = 'check-gift.mjs FILE.gift [--expect-categories N]';
const KIND_NAMES = { MC: 'multiple_choice', TF: 'true_false', Short: 'short_answer' };

function lineContext(text, line, column) {
  const lines = text.split(/\r?\n/);
  const out = [];
  for (let n = Math.max(1, line - 2); n <= Math.min(lines.length, line + 1); n += 1) {
    out.push(`${String(n).padStart(5)} | ${lines[n - 1]}`);
    if (n === line) out.push(`${' '.repeat(5)} | ${' '.repeat(Math.max(0, column - 1))}^`);
  }
  return out.join('\n');
}

// Where a question starts in the file, found by its "::title::" (for messages only).
function locate(text, title, fromOffset) {
  if (!title) return null;
  const at = text.indexOf(`::${title}::`, fromOffset);
  if (at < 0) return null;
  const line = text.slice(0, at).split('\n').length;
  return { at, line };
}

// Moodle splits a GIFT file into blocks at blank lines and reads one question (or one
// $CATEGORY) per block; comment lines do not separate blocks. Finds blocks holding more than one.
function blockProblems(text) {
  const problems = [];
  const lines = text.split(/\r?\n/);
  let block = [];
  const flush = () => {
    const content = block.filter((l) => !l.text.trim().startsWith('//'));
    if (content.length) {
      const first = content[0].text.trim();
      if (first.startsWith('$CATEGORY:') && content.length > 1) {
        problems.push(`line ${content[1].line}: text right after the $CATEGORY line of line ${content[0].line}; a blank line must follow a $CATEGORY line`);
      }
      for (const later of content.slice(1)) {
        const t = later.text.trim();
        if (t.startsWith('::') || t.startsWith('$CATEGORY:')) {
          problems.push(`line ${later.line}: starts a new question or category without a blank line before it`);
        }
      }
    }
    block = [];
  };
  lines.forEach((textLine, i) => {
    if (textLine.trim() === '') flush();
    else block.push({ text: textLine, line: i + 1 });
  });
  flush();
  return problems;
}

function normalizeOption(value) {
  return String(value).normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
}

function describe(question, where) {
  const title = question.title ? `"${question.title}"` : '(untitled question)';
  return `${title}${where ? ` at line ${where.line}` : ''}`;
}

async function main() {
  const { positional, values } = parseArgs(process.argv.slice(2), {
    options: ['expect-categories'],
    usage: USAGE,
  });
  if (positional.length !== 1) fail(`expected one GIFT file\nusage: ${USAGE}`);
  const file = positional[0];
  const expectCategories = parseCount('expect-categories', values['expect-categories']);

  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    fail(`cannot read ${file}: ${err.message}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') fail(`${file} is empty`);

  const layout = blockProblems(text);
  if (layout.length) fail(`${file}: questions are not separated the way Moodle reads them:\n  - ${layout.join('\n  - ')}`);

  let items;
  try {
    items = gift.parse(text);
  } catch (err) {
    if (err && err.location) {
      const { line, column } = err.location.start;
      fail(`${file}:${line}:${column}: GIFT syntax error: ${err.message}\n${lineContext(text, line, column)}`);
    }
    throw err;
  }

  const problems = [];
  const categories = [];
  const byKind = { multiple_choice: 0, true_false: 0, short_answer: 0 };
  let current = null;
  let questions = 0;
  let searchFrom = 0;

  for (const item of items) {
    if (item.type === 'Category') {
      const title = String(item.title || '').trim();
      // Moodle splits a category path on single slashes; "//" is a literal slash in a name.
      const parts = title.split(/(?<!\/)\/(?!\/)/).map((p) => p.replace(/\/\//g, '/').trim());
      const catLine = text.indexOf(`$CATEGORY: ${title}`) >= 0
        ? text.slice(0, text.indexOf(`$CATEGORY: ${title}`)).split('\n').length
        : null;
      const where = catLine ? ` (line ${catLine})` : '';
      if (parts.length !== 3 || parts.some((p) => p === '')) {
        problems.push(`category "${title}"${where} is not "course/module/lesson" (${parts.length} non-empty parts expected 3)`);
      }
      if (/\\[~=#{}:]/.test(title)) {
        problems.push(`category "${title}"${where} holds backslash escapes; Moodle reads $CATEGORY lines literally and would keep the backslashes`);
      }
      if (categories.some((c) => c.title === title)) {
        problems.push(`category "${title}"${where} appears twice`);
      }
      current = { title, where, questions: 0, titles: new Set() };
      categories.push(current);
      continue;
    }

    const where = locate(text, item.title, searchFrom);
    if (where) searchFrom = where.at + 1;
    const label = describe(item, where);
    questions += 1;
    if (!current) {
      problems.push(`question ${label} comes before any $CATEGORY line`);
    } else {
      current.questions += 1;
      if (!item.title) {
        problems.push(`question in "${current.title}" has no ::title:: (stem: "${String(item.stem && item.stem.text).slice(0, 60)}")`);
      } else if (current.titles.has(item.title)) {
        problems.push(`question ${label} repeats a title already used in "${current.title}"`);
      } else {
        current.titles.add(item.title);
      }
    }
    const kind = KIND_NAMES[item.type];
    if (!kind) {
      problems.push(`question ${label} parsed as ${item.type}; only multiple choice, true/false and short answer are expected (a lost or unescaped brace?)`);
      continue;
    }
    byKind[kind] += 1;
    if (!item.stem || String(item.stem.text).trim() === '') {
      problems.push(`question ${label} has an empty prompt`);
    }

    if (item.type === 'MC') {
      const choices = item.choices || [];
      const correct = choices.filter((c) => c.isCorrect && (c.weight === null || c.weight === 100));
      const partly = choices.filter((c) => c.weight !== null && c.weight !== 0 && c.weight !== 100);
      if (choices.length < 2) problems.push(`multiple-choice question ${label} has ${choices.length} option(s); at least 2 expected`);
      if (correct.length !== 1) problems.push(`multiple-choice question ${label} has ${correct.length} correct options; exactly 1 expected`);
      if (partly.length) problems.push(`multiple-choice question ${label} uses partial weights (${partly.map((c) => `${c.weight}%`).join(', ')})`);
      const seen = new Map();
      for (const choice of choices) {
        const key = normalizeOption(choice.text && choice.text.text);
        if (key === '') problems.push(`multiple-choice question ${label} has an empty option`);
        else if (seen.has(key)) problems.push(`multiple-choice question ${label} lists the option "${choice.text.text}" twice`);
        seen.set(key, true);
      }
    } else if (item.type === 'Short') {
      const answers = item.choices || [];
      if (!answers.length) problems.push(`short-answer question ${label} has no accepted answer`);
      const seen = new Set();
      for (const answer of answers) {
        const value = normalizeOption(answer.text && answer.text.text);
        if (!answer.isCorrect || (answer.weight !== null && answer.weight !== 100)) {
          problems.push(`short-answer question ${label} has an answer "${answer.text && answer.text.text}" that is not fully correct`);
        }
        if (value === '') problems.push(`short-answer question ${label} has an empty answer`);
        else if (seen.has(value)) problems.push(`short-answer question ${label} lists the answer "${answer.text.text}" twice`);
        seen.add(value);
      }
    }
  }

  for (const category of categories) {
    if (category.questions === 0) problems.push(`category "${category.title}"${category.where} has no question`);
  }
  if (categories.length === 0) problems.push('no $CATEGORY line');
  if (expectCategories !== undefined && categories.length !== expectCategories) {
    problems.push(`${categories.length} categories, expected ${expectCategories} (one per lesson)`);
  }
  if (problems.length) {
    fail(`${file}: ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`);
  }
  printResult({ gift: 'ok', categories: categories.length, questions, by_kind: byKind });
}

runCheck('check-gift', main);
