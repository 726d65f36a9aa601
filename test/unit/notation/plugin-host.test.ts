// PluginHost runs real processes: each test writes small shell-script plugins into its own plugins
// directory (notation's layout) and checks what vouch does with them: where it looks, what it refuses to
// run, what a plugin sees (request, environment, working directory), and every way a plugin can fail
// (crash, hang, garbage, too much output, its own error answer) as PLUGIN_ERROR with its reason.

import test, { type ExecutionContext } from 'ava';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VouchError, type ErrorCode, type ErrorReason } from '../../../src/core/index.js';
import { PluginHost, pluginEnvironment, pluginVersionAtLeast, type PluginHostOptions } from '../../../src/notation/index.js';

const METADATA = {
  name: 'demo',
  description: 'a test plugin',
  version: '1.2.3',
  url: 'https://example.com/demo',
  supportedContractVersions: ['1.0'],
  capabilities: ['SIGNATURE_VERIFIER.TRUSTED_IDENTITY'],
};

interface Plugins {
  directory: string;
  /** Writes `<directory>/<name>/notation-<name>` with a /bin/sh body; returns its folder. */
  install(name: string, body: string, mode?: number): Promise<string>;
  host(options?: Partial<PluginHostOptions>): PluginHost;
}

async function plugins(t: ExecutionContext): Promise<Plugins> {
  const directory = await mkdtemp(join(tmpdir(), 'vouch-plugins-'));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  return {
    directory,
    async install(name, body, mode = 0o755) {
      const folder = join(directory, name);
      await mkdir(folder, { recursive: true, mode: 0o755 });
      await chmod(folder, 0o755);
      const file = join(folder, `notation-${name}`);
      await writeFile(file, `#!/bin/sh\n${body}\n`);
      await chmod(file, mode);
      return folder;
    },
    host: (options = {}) => new PluginHost({ directory, timeoutMs: 3000, ...options }),
  };
}

/** A script answering `answer` (JSON) to get-plugin-metadata and counting its runs in ./runs. */
const answering = (answer: unknown): string => `echo run >> runs\ncat > /dev/null\nprintf '%s' '${JSON.stringify(answer)}'`;

async function rejects(
  t: ExecutionContext,
  promise: Promise<unknown>,
  reason: ErrorReason,
  code: ErrorCode = 'PLUGIN_ERROR',
): Promise<VouchError> {
  const error = await t.throwsAsync(promise);
  t.true(error instanceof VouchError, String(error));
  t.is((error as VouchError).code, code, error?.message);
  t.is((error as VouchError).reason, reason, error?.message);
  return error as VouchError;
}

test('metadata: validated, then cached per configuration until the executable changes', async (t) => {
  const p = await plugins(t);
  const folder = await p.install('demo', answering(METADATA));
  const host = p.host();
  t.deepEqual(await host.metadata('demo', undefined), METADATA);
  await host.metadata('demo', undefined);
  t.is((await readFile(join(folder, 'runs'), 'utf8')).trim().split('\n').length, 1);
  await host.metadata('demo', { region: 'eu' });
  t.is((await readFile(join(folder, 'runs'), 'utf8')).trim().split('\n').length, 2, 'another configuration asks again');
  await p.install('demo', `${answering({ ...METADATA, version: '2.0.0' })}\n# replaced`);
  t.is((await host.metadata('demo', undefined)).version, '2.0.0', 'a replaced executable is asked again');
});

test('metadata: a plugin naming itself otherwise, or without contract 1.0, is refused', async (t) => {
  const p = await plugins(t);
  await p.install('demo', answering({ ...METADATA, name: 'other' }));
  await rejects(t, p.host().metadata('demo', undefined), 'BAD_OUTPUT');
  await p.install('demo', answering({ ...METADATA, supportedContractVersions: ['2.0'] }));
  await rejects(t, p.host().metadata('demo', undefined), 'PLUGIN_VERSION');
});

test('the request goes to stdin, the command is the one argument, cwd is the plugin folder, env is scrubbed', async (t) => {
  const p = await plugins(t);
  const folder = await p.install(
    'demo',
    `cat > request.json\necho "$1" > argument\npwd > cwd\nenv | sort > environment\nprintf '%s' '${JSON.stringify({ keyId: 'k1', keySpec: 'EC-256' })}'`,
  );
  const environment = pluginEnvironment(['VOUCH_TEST_PASSED', 'VOUCH_TEST_UNSET'], {
    VOUCH_TEST_PASSED: 'yes',
    VOUCH_TEST_SECRET: 'no',
    HOME: '/root',
  });
  const request = { contractVersion: '1.0', keyId: 'k1', pluginConfig: { a: 'b' } };
  const answer = await p.host({ environment }).run('demo', 'describe-key', request);
  t.deepEqual(answer, { keyId: 'k1', keySpec: 'EC-256' });
  t.deepEqual(JSON.parse(await readFile(join(folder, 'request.json'), 'utf8')), request);
  t.is((await readFile(join(folder, 'argument'), 'utf8')).trim(), 'describe-key');
  t.is((await readFile(join(folder, 'cwd'), 'utf8')).trim(), folder);
  const seen = (await readFile(join(folder, 'environment'), 'utf8')).trim().split('\n');
  // sh itself adds PWD (and maybe SHLVL); nothing of the caller's environment but what was passed.
  const names = seen.map((line) => line.split('=')[0]).filter((name) => !['PWD', 'SHLVL', '_', 'OLDPWD'].includes(name!));
  t.deepEqual(names.sort(), ['PATH', 'VOUCH_TEST_PASSED']);
  t.true(seen.includes('VOUCH_TEST_PASSED=yes'));
});

test('where vouch looks: the directory only, by a valid name', async (t) => {
  const p = await plugins(t);
  await rejects(t, p.host().metadata('absent', undefined), 'PLUGIN_NOT_FOUND');
  await rejects(t, p.host().metadata('../etc', undefined), 'PLUGIN_NOT_FOUND');
  await rejects(t, p.host().metadata('a/b', undefined), 'PLUGIN_NOT_FOUND');
  await rejects(t, new PluginHost({ directory: join(p.directory, 'missing') }).metadata('demo', undefined), 'PLUGIN_NOT_FOUND');
});

test('what vouch refuses to run: links out of the folder, non-executables, writable files and folders', async (t) => {
  const p = await plugins(t);
  const outside = await mkdtemp(join(tmpdir(), 'vouch-outside-'));
  t.teardown(() => rm(outside, { recursive: true, force: true }));
  await writeFile(join(outside, 'notation-demo'), `#!/bin/sh\n${answering(METADATA)}\n`, { mode: 0o755 });
  await mkdir(join(p.directory, 'demo'), { mode: 0o755 });
  await symlink(join(outside, 'notation-demo'), join(p.directory, 'demo', 'notation-demo'));
  await rejects(t, p.host().metadata('demo', undefined), 'PLUGIN_UNSAFE');

  // A link that stays inside the plugin's folder is fine (a versioned binary next to it).
  await rm(join(p.directory, 'demo', 'notation-demo'));
  await writeFile(join(p.directory, 'demo', 'demo-1.2.3'), `#!/bin/sh\n${answering(METADATA)}\n`, { mode: 0o755 });
  await symlink('demo-1.2.3', join(p.directory, 'demo', 'notation-demo'));
  t.is((await p.host().metadata('demo', undefined)).version, '1.2.3');

  const folder = await p.install('plain', answering({ ...METADATA, name: 'plain' }), 0o644);
  await rejects(t, p.host().metadata('plain', undefined), 'PLUGIN_UNSAFE');
  await chmod(join(folder, 'notation-plain'), 0o775);
  await rejects(t, p.host().metadata('plain', undefined), 'PLUGIN_UNSAFE');
  await chmod(join(folder, 'notation-plain'), 0o755);
  await chmod(folder, 0o777);
  await rejects(t, p.host().metadata('plain', undefined), 'PLUGIN_UNSAFE');
  await chmod(folder, 0o755);
  t.is((await p.host().metadata('plain', undefined)).name, 'plain');
});

test('an executable owned by another user is refused', async (t) => {
  if (process.getuid?.() !== 0) {
    t.pass('needs root to give a file away');
    return;
  }
  const p = await plugins(t);
  const folder = await p.install('demo', answering(METADATA));
  await chown(join(folder, 'notation-demo'), 65534, 65534);
  await rejects(t, p.host().metadata('demo', undefined), 'PLUGIN_UNSAFE');
});

test('failures: crash, signal, error answer, garbage, wrong shape, too much output', async (t) => {
  const p = await plugins(t);
  const cases: Array<[string, string, ErrorReason | 'OK']> = [
    ['crash', 'cat >/dev/null; echo "panic: boom" >&2; exit 3', 'PLUGIN_CRASHED'],
    ['killed', 'cat >/dev/null; kill -9 $$', 'PLUGIN_CRASHED'],
    ['refuses', `cat >/dev/null; printf '%s' '{"errorCode":"ACCESS_DENIED","errorMessage":"no"}' >&2; exit 1`, 'PLUGIN_REFUSED'],
    ['garbage', 'cat >/dev/null; echo "this is not json"', 'BAD_OUTPUT'],
    ['shape', `cat >/dev/null; printf '%s' '{"keyId":"k1","keySpec":"DSA-1024"}'`, 'BAD_OUTPUT'],
    ['huge', 'cat >/dev/null; head -c 3000000 /dev/zero', 'BAD_OUTPUT'],
    ['hugeerr', 'cat >/dev/null; head -c 3000000 /dev/zero >&2; exit 1', 'BAD_OUTPUT'],
    ['ignores', `printf '%s' '{"keyId":"k1","keySpec":"EC-256"}'`, 'OK'],
  ];
  const host = p.host({ maxOutputBytes: 64 * 1024 });
  for (const [name, body, reason] of cases) {
    await p.install(name, body);
    const running = host.run(name, 'describe-key', { contractVersion: '1.0', keyId: 'k1' });
    if (reason === 'OK') t.is((await running).keySpec, 'EC-256', 'a plugin that never reads its request still answers');
    else await rejects(t, running, reason);
  }
  t.deepEqual(host.load, { running: 0, waiting: 0 });
});

test('a hanging plugin is killed at the time limit, with what it started', async (t) => {
  const p = await plugins(t);
  const folder = await p.install('hang', 'sleep 30 &\necho $! > child\nwait');
  const started = Date.now();
  await rejects(t, p.host({ timeoutMs: 300 }).run('hang', 'describe-key', { contractVersion: '1.0', keyId: 'k' }), 'TIMEOUT');
  t.true(Date.now() - started < 2500);
  const child = Number((await readFile(join(folder, 'child'), 'utf8')).trim());
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Gone, or a zombie waiting for its reaper (PID 1 of a container may never reap it): not running.
  const state = await readFile(`/proc/${child}/stat`, 'utf8').then(
    (stat) => stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0],
    () => 'gone',
  );
  t.true(state === 'gone' || state === 'Z', `the plugin's own child was killed with it (state ${state})`);
});

test('the caller’s deadline ends a command as DEADLINE_EXCEEDED, not as a plugin failure', async (t) => {
  const p = await plugins(t);
  await p.install('slow', 'sleep 5');
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  await rejects(
    t,
    p.host().run('slow', 'describe-key', { contractVersion: '1.0', keyId: 'k' }, { signal: controller.signal }),
    'ABORTED',
    'DEADLINE_EXCEEDED',
  );
});

test('at most maxConcurrent processes; waiting for a slot counts against the time limit', async (t) => {
  const p = await plugins(t);
  await p.install('slow', `cat >/dev/null; sleep 0.4; printf '%s' '{"keyId":"k","keySpec":"EC-256"}'`);
  const request = { contractVersion: '1.0', keyId: 'k' } as const;
  const patient = p.host({ maxConcurrent: 1, timeoutMs: 3000 });
  const both = Promise.all([patient.run('slow', 'describe-key', request), patient.run('slow', 'describe-key', request)]);
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.deepEqual(patient.load, { running: 1, waiting: 1 });
  t.is((await both).length, 2);

  const hurried = p.host({ maxConcurrent: 1, timeoutMs: 250 });
  const first = hurried.run('slow', 'describe-key', request);
  await rejects(t, hurried.run('slow', 'describe-key', request), 'TIMEOUT');
  await rejects(t, first, 'TIMEOUT');
  t.deepEqual(hurried.load, { running: 0, waiting: 0 });
});

test('pluginVersionAtLeast follows SemVer as notation does', (t) => {
  t.true(pluginVersionAtLeast('1.2.0', '1.2.0'));
  t.true(pluginVersionAtLeast('1.10.0', '1.9.0'));
  t.false(pluginVersionAtLeast('1.2.0-rc.1', '1.2.0'));
  t.false(pluginVersionAtLeast('0.9.9', '1.0.0'));
  t.false(pluginVersionAtLeast('v1.2.0', '1.0.0'));
  t.false(pluginVersionAtLeast('latest', '1.0.0'));
});

test('the observer hears every command; a plugin that is not installed is never a label', async (t) => {
  const p = await plugins(t);
  await p.install('demo', answering(METADATA));
  await p.install('crash', 'exit 3');
  const events: Array<{ plugin: string; command: string; outcome: string }> = [];
  const host = p.host({
    observer: {
      commandFinished: ({ plugin, command, outcome }) => {
        events.push({ plugin, command, outcome });
        throw new Error('an observer that throws changes nothing');
      },
    },
  });
  await host.metadata('demo', undefined);
  await t.throwsAsync(host.run('crash', 'describe-key', { contractVersion: '1.0', keyId: 'k' }));
  await t.throwsAsync(host.metadata('attacker-chosen-name', undefined));
  t.deepEqual(events, [
    { plugin: 'demo', command: 'get-plugin-metadata', outcome: 'ok' },
    { plugin: 'crash', command: 'describe-key', outcome: 'PLUGIN_CRASHED' },
    { plugin: '', command: 'get-plugin-metadata', outcome: 'PLUGIN_NOT_FOUND' },
  ]);
});

test('a burst of metadata requests on a cold cache starts one process; a caller giving up does not fail the others', async (t) => {
  const p = await plugins(t);
  const folder = await p.install('demo', `sleep 0.3\n${answering(METADATA)}`);
  const host = p.host();
  const impatient = new AbortController();
  const calls = [
    host.metadata('demo', undefined, { signal: impatient.signal }),
    ...Array.from({ length: 5 }, () => host.metadata('demo', undefined)),
  ];
  setTimeout(() => impatient.abort(), 50);
  const [first, ...rest] = (await Promise.allSettled(calls)) as [
    PromiseSettledResult<unknown>,
    ...Array<PromiseSettledResult<{ version: string }>>,
  ];
  t.is(first.status, 'rejected');
  t.is(((first as PromiseRejectedResult).reason as VouchError).code, 'DEADLINE_EXCEEDED');
  t.true(rest.every((r) => r.status === 'fulfilled' && r.value.version === '1.2.3'));
  t.is((await readFile(join(folder, 'runs'), 'utf8')).trim().split('\n').length, 1);
});

test('what a plugin leaves running when it exits normally is killed with its process group', async (t) => {
  const p = await plugins(t);
  const folder = await p.install('leaver', `sleep 30 >/dev/null 2>&1 &\necho $! > child\n${answering({ ...METADATA, name: 'leaver' })}`);
  t.is((await p.host().metadata('leaver', undefined)).name, 'leaver');
  const child = Number((await readFile(join(folder, 'child'), 'utf8')).trim());
  await new Promise((resolve) => setTimeout(resolve, 100));
  const state = await readFile(`/proc/${child}/stat`, 'utf8').then(
    (stat) => stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0],
    () => 'gone',
  );
  t.true(state === 'gone' || state === 'Z', `the plugin's leftover child was killed (state ${state})`);
});
