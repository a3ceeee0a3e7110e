// Starts a live `runnel serve` for conformance tests.
//
//   const srv = await startRunnel(['--config', 'x.yaml'], { OPENAI_BASE_URL: '...' });
//   await fetch(`${srv.baseURL}/v1/models`);
//   await srv.stop();
//
// The binary is $RUNNEL_BIN (scripts/conformance builds it). The server
// listens on a free loopback port and gets a fresh temporary --data-dir; the
// port is read from the ready line it logs on stderr, which contains
// `addr=HOST:PORT`.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const running = new Set();

// A test run that ends without stop() must not leave servers behind.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

// Matches `addr=127.0.0.1:1234` (text log, possibly quoted) or `"addr":"…"`
// (JSON log), but not `remote_addr=…`.
const ADDR_RE = /(?:^|\s)addr="?([^\s"]+:\d+)"?|"addr":"([^"]+:\d+)"/;

/**
 * @param {string[]} args extra arguments after `serve --addr 127.0.0.1:0 --data-dir TMP`
 * @param {Record<string,string>} env extra environment variables (merged over process.env)
 * @returns {Promise<{baseURL: string, addr: string, dataDir: string, logs: string, stop: () => Promise<void>}>}
 *   `logs` is a getter: the server's stderr and stdout so far.
 */
export async function startRunnel(args = [], env = {}) {
  const bin = process.env.RUNNEL_BIN;
  if (!bin) {
    throw new Error('RUNNEL_BIN is not set: build runnel (go build -o bin/runnel ./cmd/runnel) and export RUNNEL_BIN, or run scripts/conformance');
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'runnel-test-'));
  const argv = ['serve', '--addr', '127.0.0.1:0', '--data-dir', dataDir, ...args];
  const child = spawn(bin, argv, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);

  let output = '';
  let exited = null; // {code, signal} once the process is gone
  const exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      resolve(exited);
    });
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s) => { output += s; });

  const addr = await new Promise((resolve, reject) => {
    let pending = '';
    let settled = false;
    const done = (fn, v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn(v);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(reject, new Error(`runnel serve did not log its ready line within ${READY_TIMEOUT_MS} ms; output:\n${output}`));
    }, READY_TIMEOUT_MS);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s) => {
      output += s;
      pending += s;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const m = ADDR_RE.exec(line);
        if (m) done(resolve, m[1] ?? m[2]);
      }
    });
    child.on('error', (err) => done(reject, new Error(`cannot start ${bin}: ${err.message}`)));
    exit.then(({ code, signal }) => done(reject, new Error(`runnel serve exited (code ${code}, signal ${signal}) before it was ready; output:\n${output}`)));
  });

  let stopping = null;
  const stop = () => {
    stopping ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exit;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  return {
    baseURL: `http://${addr}`,
    addr,
    dataDir,
    get logs() { return output; },
    stop,
  };
}
