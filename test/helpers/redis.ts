// Starts a real redis-server (Debian package redis-server) on a free loopback port, with no persistence
// (`--save '' --appendonly no`), for the shared result cache's tests; stops, kills and restarts it on the
// same port. A missing binary is an error, never a silent skip, like docker-registry
// (test/helpers/registries.ts): `bash scripts/tools.sh redis-server` installs it.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './registries.js';

export interface RunningRedis {
  port: number;
  /** redis://127.0.0.1:PORT (rediss:// when started with `tls`) */
  url: string;
  /** Sends one command (RESP) on a fresh connection and returns the raw reply, e.g. to write forged entries. */
  command(...args: string[]): Promise<string>;
  /** SIGKILL, as a crash would: no reply to anything in flight. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after kill or stop), empty. */
  restart(): Promise<void>;
  /** SIGTERM and wait. Idempotent. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const live = new Set<ChildProcess>();
let exitHook = false;

/** Path of redis-server; throws naming the install command when it is missing. */
export function redisServerPath(): string {
  for (const dir of ['/usr/bin', ...(process.env['PATH'] ?? '').split(delimiter)]) {
    if (dir === '') continue;
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error(
    'required tool "redis-server" (Debian package redis-server) is not on PATH; `bash scripts/tools.sh redis-server` installs it (as root: apt-get install -y redis-server)',
  );
}

/**
 * Starts redis-server; `args` are more command-line options (e.g. `--requirepass`, `secret`). With
 * `tls` it serves TLS only (no client certificates required), with that certificate and key.
 */
export async function startRedis(
  options: { args?: string[]; tls?: { certFile: string; keyFile: string; caFile: string } } = {},
): Promise<RunningRedis> {
  const binary = redisServerPath();
  const extra = options.args ?? [];
  const password = extra.includes('--requirepass') ? extra[extra.indexOf('--requirepass') + 1] : undefined;
  const tls = options.tls;
  const ca = tls === undefined ? undefined : readFileSync(tls.caFile, 'utf8');
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const child of live) child.kill('SIGKILL');
    });
  }
  let port = 0;
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const listen = tls
      ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile]
      : ['--port', String(port)];
    const tlsArgs = tls ? ['--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no'] : [];
    const args = [...listen, ...tlsArgs, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...extra];
    const started = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    started.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4096)));
    started.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4096)));
    live.add(started);
    started.once('exit', () => live.delete(started));
    child = started;
    const end = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (started.exitCode !== null || started.signalCode !== null) throw new Error(`redis-server exited at start:\n${output}`);
      try {
        if ((await send(port, ['PING'], password, ca)).startsWith('+PONG')) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > end) throw new Error(`redis-server not ready on port ${port} in time:\n${output}`);
      await sleep(20);
    }
  };
  const stopChild = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(signal);
    await exited;
  };
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      await stopChild('SIGKILL');
      if (attempt >= 3) throw error;
    }
  }
  return {
    port,
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    command: (...args) => send(port, args, password, ca),
    kill: () => stopChild('SIGKILL'),
    restart: async () => {
      await stopChild('SIGKILL');
      await launch();
    },
    stop: () => stopChild('SIGTERM'),
  };
}

/** One RESP command on a new connection (after AUTH when `password`); resolves with the (last) reply once complete. */
function send(port: number, args: string[], password?: string, ca?: string): Promise<string> {
  const encode = (command: string[]) => `*${command.length}\r\n${command.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  let request = encode(args);
  let replies = 1;
  if (password !== undefined) {
    request = encode(['AUTH', password]) + request;
    replies = 2;
  }
  return new Promise((resolve, reject) => {
    const socket = ca === undefined ? connect(port, '127.0.0.1') : connectTls({ port, host: '127.0.0.1', ca });
    let reply = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('redis command timed out')));
    socket.on(ca === undefined ? 'connect' : 'secureConnect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (replies === 2 && reply.startsWith('+OK\r\n')) {
        reply = reply.slice(5);
        replies = 1;
      }
      if (replies === 1 && complete(reply)) {
        socket.end();
        resolve(reply);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('connection closed before a reply')));
  });
}

/** Whether `reply` holds one whole RESP2 reply of the simple kinds tests use (+, -, :, $). */
function complete(reply: string): boolean {
  const lineEnd = reply.indexOf('\r\n');
  if (lineEnd === -1) return false;
  if (reply[0] !== '$') return true;
  const length = Number(reply.slice(1, lineEnd));
  return length < 0 || reply.length >= lineEnd + 2 + length + 2;
}

/** The bulk string of a `$` reply, or undefined for a null reply. */
export function bulkString(reply: string): string | undefined {
  if (reply.startsWith('$-1')) return undefined;
  const lineEnd = reply.indexOf('\r\n');
  const length = Number(reply.slice(1, lineEnd));
  return Buffer.from(reply.slice(lineEnd + 2, lineEnd + 2 + length), 'latin1').toString('utf8');
}
