// Shared helpers for the learner-facing checks: failing with a clear message, cleanup that runs
// on every exit path, a static HTTP server bound to 127.0.0.1 and headless Chromium.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import process from 'node:process';

const cleanups = [];
let cleaning = null;

/** Registers an async or sync function to run once before the process exits. */
export function onCleanup(fn) {
  cleanups.push(fn);
}

export async function runCleanups() {
  if (!cleaning) {
    cleaning = (async () => {
      while (cleanups.length) {
        const fn = cleanups.pop();
        try {
          await fn();
        } catch {
          // keep cleaning up
        }
      }
    })();
  }
  return cleaning;
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(signal, () => {
    runCleanups().finally(() => process.exit(code));
  });
}

export class CheckFailure extends Error {}

/** Runs main(); prints "<name>: FAIL: ..." and exits 1 on a failure, always cleaning up. */
export async function runCheck(name, main, { timeoutMs = 0 } = {}) {
  let timer = null;
  if (timeoutMs > 0) {
    timer = setTimeout(() => {
      process.stderr.write(`${name}: FAIL: gave up after ${Math.round(timeoutMs / 1000)} s\n`);
      runCleanups().finally(() => process.exit(1));
    }, timeoutMs);
    timer.unref();
  }
  let code = 0;
  try {
    await main();
  } catch (err) {
    code = 1;
    if (err instanceof CheckFailure) {
      process.stderr.write(`${name}: FAIL: ${err.message}\n`);
    } else {
      process.stderr.write(`${name}: FAIL: ${err && err.stack ? err.stack : err}\n`);
    }
  } finally {
    if (timer) clearTimeout(timer);
    await runCleanups();
  }
  // Exit explicitly: a stray handle must not keep a finished check alive.
  process.exit(code);
}

export function fail(message) {
  throw new CheckFailure(message);
}

/** Minimal argument parsing: positional arguments, --name value / --name=value options, --flag. */
export function parseArgs(argv, { options = [], flags = [], usage }) {
  const positional = [];
  const values = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      if (flags.includes(name) && eq < 0) {
        values[name] = true;
        continue;
      }
      if (!options.includes(name)) fail(`unknown option ${arg}\nusage: ${usage}`);
      let value = eq > 0 ? arg.slice(eq + 1) : argv[i + 1];
      if (eq < 0) i += 1;
      if (value === undefined) fail(`option --${name} needs a value\nusage: ${usage}`);
      values[name] = value;
    } else {
      positional.push(arg);
    }
  }
  return { positional, values };
}

export function parseCount(name, value) {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(String(value))) fail(`--${name} must be a whole number, got ${value}`);
  return Number(value);
}

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.xhtml': 'application/xhtml+xml; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.xsd': 'application/xml; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.mp3': 'audio/mpeg',
  '.mp4': 'video/mp4',
};

/**
 * Serves `root` read-only on 127.0.0.1 (ephemeral port). `routes` maps exact URL paths to
 * {body, type} or {file, type} for files outside `root` (a harness, a library bundle).
 * Returns {origin, close, misses}; misses lists the paths answered with 404.
 */
export async function serveDirectory(root, routes = {}) {
  const base = fs.realpathSync(root);
  const misses = [];
  const server = http.createServer((req, res) => {
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    const route = routes[pathname];
    const send = (status, type, body) => {
      res.writeHead(status, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (route) {
      const body = route.file ? fs.readFileSync(route.file) : route.body;
      send(200, route.type || CONTENT_TYPES[path.extname(pathname)] || 'application/octet-stream', body);
      return;
    }
    let file = path.join(base, pathname);
    if (file !== base && !file.startsWith(base + path.sep)) {
      misses.push(pathname);
      send(404, 'text/plain', 'not found');
      return;
    }
    try {
      if (fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
      const real = fs.realpathSync(file);
      if (real !== base && !real.startsWith(base + path.sep)) throw new Error('outside root');
      const body = fs.readFileSync(real);
      send(200, CONTENT_TYPES[path.extname(real).toLowerCase()] || 'application/octet-stream', body);
    } catch {
      misses.push(pathname);
      send(404, 'text/plain', 'not found');
    }
  });
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  let closed = false;
  const close = () =>
    new Promise((resolve) => {
      if (closed) return resolve();
      closed = true;
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  onCleanup(close);
  const { port } = server.address();
  return { origin: `http://127.0.0.1:${port}`, close, misses };
}

export function chromiumPath() {
  const candidates = [
    process.env.CHROMIUM_PATH,
    process.env.PUPPETEER_EXECUTABLE_PATH,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
  ].filter(Boolean);
  for (const candidate of candidates) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  fail(`no Chromium found (tried ${candidates.join(', ')}); install Debian's chromium or set CHROMIUM_PATH`);
  return undefined;
}

/** Launches headless Chromium through puppeteer-core; it is closed on every exit path. */
export async function launchChromium() {
  const { default: puppeteer } = await import('puppeteer-core');
  const args = [
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-extensions',
    '--metrics-recording-only',
    '--mute-audio',
  ];
  if (typeof process.getuid === 'function' && process.getuid() === 0) {
    args.push('--no-sandbox');
  }
  const browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    args,
    timeout: 60_000,
    protocolTimeout: 120_000,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  onCleanup(async () => {
    const proc = browser.process();
    try {
      await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 10_000))]);
    } finally {
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  });
  return browser;
}

/** A fresh temporary directory, removed on exit. */
export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', prefix));
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function printResult(object) {
  process.stdout.write(`${JSON.stringify(object)}\n`);
}

// Runs a command in its own process group, collecting stdout and stderr together; kills the
// group on timeout and on cleanup. Resolves with {code, signal, output}.
export function runProcess(command, args, options, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const kill = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    onCleanup(() => {
      if (child.exitCode === null && child.signalCode === null) kill();
    });
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`${path.basename(args[0] || command)} gave no answer within ${timeoutMs / 1000} s\n${output.slice(-3000)}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}
