// `npm run check:compose`: docker-compose.yml as docker-compose itself reads it. Not part of
// `npm test` (it needs docker-compose, which a machine with Node.js and redis-server alone does
// not have); .ci/run installs it and runs this. It fails, never skips, when the tool is missing.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function dockerCompose(): string {
  const binary = ['/usr/bin/docker-compose', ...(process.env['PATH'] ?? '').split(delimiter).map((dir) => join(dir, 'docker-compose'))].find((candidate) =>
    existsSync(candidate),
  );
  if (!binary) {
    throw new Error(
      'docker-compose is not installed, so docker-compose.yml cannot be validated. ' +
        'Install the Debian package: apt-get install -y --no-install-recommends docker-compose (.ci/run does).',
    );
  }
  return binary;
}

/** `docker-compose [profile] config` in a scratch copy (the file needs a .env; the tree stays untouched). */
function config(profile: string[], dotEnv: string): { status: number | null; stdout: string; stderr: string; error?: Error } {
  const dir = mkdtempSync(join(tmpdir(), 'compose-config-'));
  try {
    for (const name of ['docker-compose.yml', 'Dockerfile', '.dockerignore']) copyFileSync(join(root, name), join(dir, name));
    writeFileSync(join(dir, '.env'), dotEnv);
    const env = { PATH: process.env['PATH'] ?? '', HOME: dir }; // no COMPOSE_* from the caller
    return spawnSync(dockerCompose(), [...profile, '-f', 'docker-compose.yml', 'config'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('docker-compose.yml is accepted by `docker-compose config`, with and without the demo profile, without a warning', () => {
  for (const profile of [[], ['--profile', 'demo']]) {
    const result = config(profile, '');
    // A warning (an unset variable, say) fails too: users would meet it on every command.
    if (result.status !== 0 || /warn|not set/i.test(result.stderr)) {
      const how = result.error ? String(result.error) : `exit ${result.status}`;
      throw new Error(`docker-compose ${profile.join(' ')} config: ${how}\n${result.stderr}`);
    }
    // Published on loopback only, by default.
    expect(result.stdout).toMatch(/- 127\.0\.0\.1:3000:3000/);
    expect(result.stdout).not.toMatch(/- (0\.0\.0\.0:)?\d+:\d+/);
  }
});

test('BFF_PUBLISH publishes the service on another address when the operator says so', () => {
  const result = config([], 'BFF_PUBLISH=0.0.0.0:8080\n');
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/- 0\.0\.0\.0:8080:3000/);
});
