// The container files docs/REFERENCE.md ("Operations") and README ("Deployment") promise: Dockerfile, .dockerignore and
// docker-compose.yml, read as text and checked for what they do, not for their exact wording.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (name: string): string => readFileSync(join(root, name), 'utf8');

// ---------------------------------------------------------------- Dockerfile

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped, grouped by FROM. */
function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#')) continue; // comments (and parser directives), also inside continuations
    if (line === '' && pending === '') continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const match = /^(\S+)\s*(.*)$/s.exec(full);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim() });
  }
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((word) => !word.startsWith('--'));
      const asIndex = words.findIndex((word) => word.toUpperCase() === 'AS');
      stages.push({
        base: words[0] ?? '',
        name: asIndex >= 0 ? words[asIndex + 1]?.toLowerCase() : undefined,
        instructions: [],
      });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** The image a stage finally starts from, following `FROM <earlier stage>` links. */
function resolveBase(stages: Stage[], stage: Stage): string {
  let base = stage.base;
  for (let hops = 0; hops < stages.length; hops += 1) {
    const parent = stages.find((candidate) => candidate.name === base.toLowerCase());
    if (!parent) return base;
    base = parent.base;
  }
  return base;
}

const ofKind = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((instruction) => instruction.keyword === keyword);

/** An npm install command (`npm ci`, `npm install`, `npm i`) in a RUN line. */
const npmInstalls = (run: string): string[] =>
  run
    .split(/&&|;|\|\|/)
    .map((part) => part.trim())
    .filter((part) => /^npm\s+(ci|install|i)\b/.test(part));
const omitsDev = (command: string): boolean => /--omit[= ]dev\b|--only[= ]prod(uction)?\b|--production\b/.test(command);

/** KEY=value pairs of an ENV or ARG line (`ENV A=1 B=2`, legacy `ENV A 1`, `ARG A` without value). */
function variables(instruction: Instruction): Array<[string, string]> {
  const { args } = instruction;
  if (instruction.keyword === 'ENV' && !/^[^\s=]+=/.test(args)) {
    const [key = '', ...rest] = args.split(/\s+/);
    return [[key, rest.join(' ')]];
  }
  const pairs: Array<[string, string]> = [];
  const token = /([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|'[^']*'|\S*))?/g;
  for (const match of args.matchAll(token)) {
    pairs.push([match[1]!, (match[2] ?? '').replace(/^["']|["']$/g, '')]);
  }
  return pairs;
}

/** The arguments of CMD/ENTRYPOINT in exec form, or undefined for shell form. */
function execForm(args: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) && parsed.every((item) => typeof item === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** A stage's dependencies hold no dev dependency: none installed there, none copied in from a stage that has them. */
function expectNoDevDependencies(stages: Stage[], stage: Stage): void {
  const stageNamed = (name: string): Stage | undefined => stages.find((candidate) => candidate.name === name.toLowerCase());
  // Installs run in the stage itself must omit dev dependencies...
  for (const run of ofKind(stage, 'RUN')) {
    for (const install of npmInstalls(run.args)) expect(omitsDev(install)).toBe(true);
  }
  // ...and node_modules copied in must come from a stage whose every install omitted them.
  const copiedModules = ofKind(stage, 'COPY').filter((copy) => /node_modules/.test(copy.args));
  for (const copy of copiedModules) {
    const from = /--from=(\S+)/.exec(copy.args)?.[1];
    expect(from).toBeDefined(); // node_modules from the build context would be the developer's own
    const source = stageNamed(from!) ?? stages[Number(from)];
    expect(source).toBeDefined();
    const installs = ofKind(source!, 'RUN').flatMap((run) => npmInstalls(run.args));
    expect(installs.length).toBeGreaterThan(0);
    for (const install of installs) expect(omitsDev(install)).toBe(true);
  }
  // ...and the stage gets its dependencies one way or the other.
  const installsHere = ofKind(stage, 'RUN').some((run) => npmInstalls(run.args).length > 0);
  expect(installsHere || copiedModules.length > 0).toBe(true);
}

/** The stages a stage copies files from (`COPY --from=<stage>`), by name or index. */
function copiedFrom(stages: Stage[], stage: Stage): Stage[] {
  return ofKind(stage, 'COPY')
    .map((copy) => /--from=(\S+)/.exec(copy.args)?.[1])
    .filter((from): from is string => from !== undefined)
    .map((from) => stages.find((candidate) => candidate.name === from.toLowerCase()) ?? stages[Number(from)])
    .filter((source): source is Stage => source !== undefined);
}

describe('Dockerfile', () => {
  const stages = parseDockerfile(read('Dockerfile'));
  const final = stages.at(-1)!;

  it('is a multi-stage build', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
  });

  it('builds the final stage on Node 24', () => {
    expect(resolveBase(stages, final)).toMatch(/^(docker\.io\/)?(library\/)?node:24($|[.@-])/);
  });

  it('installs no dev dependencies into the final stage', () => {
    expectNoDevDependencies(stages, final);
  });

  it('runs the final stage as a non-root user', () => {
    const user = ofKind(final, 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it('declares a HEALTHCHECK on /healthz', () => {
    const healthcheck = ofKind(final, 'HEALTHCHECK').at(-1)?.args ?? '';
    expect(healthcheck).toMatch(/\bCMD\b/);
    expect(healthcheck).toContain('/healthz');
  });

  it('starts node directly on dist/main.js, not through npm', () => {
    expect(ofKind(final, 'ENTRYPOINT')).toHaveLength(0);
    const cmd = execForm(ofKind(final, 'CMD').at(-1)?.args ?? '');
    expect(cmd).toBeDefined(); // exec form: node is PID 1 and receives SIGTERM itself
    expect(cmd![0]).toBe('node');
    expect(cmd).toContain('dist/main.js');
    expect(cmd!.join(' ')).not.toMatch(/\bnpm\b/);
  });

  it('bakes no secret into an ENV or ARG line', () => {
    const secretLooking = /SECRET|KEY|TOKEN|PASSWORD|PASSWD/i;
    const offending = stages
      .flatMap((stage) => [...ofKind(stage, 'ENV'), ...ofKind(stage, 'ARG')])
      .flatMap((instruction) => variables(instruction).map(([name, value]) => ({ name, value, instruction })))
      .filter(({ name, value }) => secretLooking.test(name) && value !== '');
    expect(offending.map(({ instruction }) => `${instruction.keyword} ${instruction.args}`)).toEqual([]);
  });

  it('copies no .env file into the image', () => {
    const copies = stages.flatMap((stage) => [...ofKind(stage, 'COPY'), ...ofKind(stage, 'ADD')]);
    for (const copy of copies) expect(copy.args).not.toMatch(/(^|[\s/"])\.env\b/);
  });

  it('builds the service image from src/ alone: no emulator, bench or demo in it or in the stages it copies from', () => {
    const devFolders = /(^|[\s/"])(emulator|bench|demo|test)(\/|\s|"|$)/;
    for (const stage of [final, ...copiedFrom(stages, final)]) {
      for (const copy of [...ofKind(stage, 'COPY'), ...ofKind(stage, 'ADD')]) expect(copy.args).not.toMatch(devFolders);
    }
    // tsconfig files may hold comments: read as TypeScript reads them.
    const tsconfigBuild = ts.parseConfigFileTextToJson('tsconfig.build.json', read('tsconfig.build.json')).config as {
      include?: string[];
      compilerOptions?: { outDir?: string };
    };
    expect(tsconfigBuild.include).toEqual(['src']);
    expect(tsconfigBuild.compilerOptions?.outDir).toBe('dist');
  });
});

describe('Dockerfile, target emulator', () => {
  const stages = parseDockerfile(read('Dockerfile'));
  const emulator = stages.find((stage) => stage.name === 'emulator');

  it('exists, on Node 24, and is not the last stage (a plain build stays the service)', () => {
    expect(emulator).toBeDefined();
    expect(resolveBase(stages, emulator!)).toMatch(/^(docker\.io\/)?(library\/)?node:24($|[.@-])/);
    expect(stages.at(-1)).not.toBe(emulator);
  });

  it('installs no dev dependencies and runs as a non-root user', () => {
    expectNoDevDependencies(stages, emulator!);
    const user = ofKind(emulator!, 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it('is built from emulator/ alone, never from src/', () => {
    const sources = copiedFrom(stages, emulator!);
    expect(sources.length).toBeGreaterThan(0);
    for (const stage of [emulator!, ...sources]) {
      for (const copy of [...ofKind(stage, 'COPY'), ...ofKind(stage, 'ADD')]) expect(copy.args).not.toMatch(/(^|[\s/"])src(\/|\s|"|$)/);
    }
    expect(sources.some((stage) => ofKind(stage, 'COPY').some((copy) => /(^|\s)emulator(\/|\s)/.test(copy.args)))).toBe(true);
  });

  it('declares a HEALTHCHECK on /healthz of its port 4010', () => {
    const healthcheck = ofKind(emulator!, 'HEALTHCHECK').at(-1)?.args ?? '';
    expect(healthcheck).toMatch(/\bCMD\b/);
    expect(healthcheck).toContain('/healthz');
    expect(healthcheck).toContain('4010');
    expect(ofKind(emulator!, 'EXPOSE').map((expose) => expose.args)).toContain('4010');
  });

  it('starts node directly on the emulator, not through npm', () => {
    expect(ofKind(emulator!, 'ENTRYPOINT')).toHaveLength(0);
    const cmd = execForm(ofKind(emulator!, 'CMD').at(-1)?.args ?? '');
    expect(cmd).toBeDefined();
    expect(cmd![0]).toBe('node');
    expect(cmd!.join(' ')).toMatch(/\bemulator\/main\.js\b/);
    expect(cmd!.join(' ')).not.toMatch(/\bnpm\b|dist\//);
  });
});

// ---------------------------------------------------------------- .dockerignore

describe('.dockerignore', () => {
  const patterns = read('.dockerignore')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const excludes = (name: string): boolean =>
    patterns.some((pattern) => [name, `/${name}`, `**/${name}`, `${name}/`, `/${name}/`, `**/${name}/`].includes(pattern)) &&
    !patterns.some((pattern) => pattern.startsWith('!') && pattern.replace(/^!(\*\*)?\/?/, '') === name);

  it.each(['.env', 'node_modules', '.git'])('keeps %s out of the build context', (name) => {
    expect(excludes(name)).toBe(true);
  });

  it('keeps every .env variant out, .env.example included', () => {
    expect(patterns.some((pattern) => /^(\*\*\/|\/)?\.env\.\*$/.test(pattern))).toBe(true);
    expect(patterns.filter((pattern) => pattern.startsWith('!') && pattern.includes('.env'))).toEqual([]);
  });
});

// ---------------------------------------------------------------- docker-compose.yml

type Service = Record<string, unknown> & {
  build?: string | { context?: string; target?: string };
  image?: string;
  command?: string | string[];
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
  profiles?: string[];
};
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const words = (value: string | string[] | undefined): string => (Array.isArray(value) ? value.join(' ') : (value ?? ''));

function hasHealthcheck(service: Service): boolean {
  const test = service.healthcheck?.test;
  return !service.healthcheck?.disable && test !== undefined && !(Array.isArray(test) && test[0] === 'NONE');
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml')) as ComposeFile;
  const { bff, redis, emulator } = compose.services;

  it('defines the bff, redis and emulator services', () => {
    expect(bff).toBeDefined();
    expect(redis).toBeDefined();
    expect(emulator).toBeDefined();
  });

  it('runs redis with append-only persistence', () => {
    expect(words(redis!.command)).toMatch(/--appendonly\s+yes/);
  });

  it('keeps redis data on a named volume mounted at /data', () => {
    const mounts = (redis!.volumes ?? []).map((volume) => {
      if (typeof volume !== 'string') return { source: volume.source ?? '', target: volume.target ?? '' };
      const [source = '', target = ''] = volume.split(':');
      return { source, target };
    });
    const data = mounts.find((mount) => mount.target === '/data');
    expect(data).toBeDefined();
    expect(data!.source).toMatch(/^[A-Za-z0-9][\w.-]*$/); // a name, not a host path
    expect(Object.keys(compose.volumes ?? {})).toContain(data!.source);
  });

  it('gives redis a redis-cli ping healthcheck', () => {
    expect(hasHealthcheck(redis!)).toBe(true);
    expect(words(redis!.healthcheck!.test)).toMatch(/redis-cli.*\bping\b/);
  });

  it('starts the bff only once redis is healthy', () => {
    const dependsOn = bff!.depends_on;
    expect(Array.isArray(dependsOn)).toBe(false);
    expect((dependsOn as Record<string, { condition?: string }>)['redis']?.condition).toBe('service_healthy');
  });

  it('gives the bff a healthcheck', () => {
    expect(hasHealthcheck(bff!)).toBe(true);
    expect(words(bff!.healthcheck!.test)).toContain('/healthz');
  });

  it("builds the bff from the Dockerfile's last stage, the service", () => {
    const stages = parseDockerfile(read('Dockerfile'));
    const target = typeof bff!.build === 'string' ? undefined : bff!.build?.target;
    expect(target === undefined || target === stages.at(-1)!.name).toBe(true);
  });

  it("builds the emulator from the Dockerfile's emulator target, as an image of its own, not dist/emulator", () => {
    const build = emulator!.build;
    expect(typeof build).toBe('object');
    expect((build as { target?: string }).target).toBe('emulator');
    expect(emulator!.image).not.toBe(bff!.image);
    expect(words(emulator!.command)).not.toContain('dist/');
  });

  it('gives the emulator a healthcheck on /healthz of its port 4010', () => {
    expect(hasHealthcheck(emulator!)).toBe(true);
    expect(words(emulator!.healthcheck!.test)).toMatch(/\/\/127\.0\.0\.1:4010\/healthz/);
  });

  it('starts the emulator only with the demo profile, and the rest without one', () => {
    expect(emulator!.profiles).toEqual(['demo']);
    expect(bff!.profiles).toBeUndefined();
    expect(redis!.profiles).toBeUndefined();
  });

  /** `${VAR:-default}` as compose reads it with VAR unset. */
  const withDefaults = (text: string): string => text.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
  const published = (service: Service): string[] => ((service['ports'] as unknown[] | undefined) ?? []).map((p) => withDefaults(String(p)));

  it('binds every published port to 127.0.0.1 unless the operator says otherwise (BFF_PUBLISH, EMULATOR_PUBLISH)', () => {
    const all = Object.values(compose.services).flatMap(published);
    expect(all.length).toBeGreaterThan(0);
    for (const port of all) expect(port).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    expect(words(bff!['ports'] as string[])).toContain('${BFF_PUBLISH:-127.0.0.1:3000}:3000');
  });

  it("publishes the emulator's webview and API port, never its control API nor Redis", () => {
    // The emulator runs in the bff's network: its ports are the bff's.
    expect(emulator!['network_mode']).toBe('service:bff');
    const env = emulator!['environment'] as Record<string, string>;
    const controlPort = env['EMULATOR_CONTROL_PORT'];
    expect(controlPort).toMatch(/^\d+$/);
    expect(env['EMULATOR_CONTROL_HOST']).toBe('127.0.0.1');
    const containerPorts = Object.values(compose.services).flatMap((s) => published(s).map((p) => p.split(':').at(-1)));
    expect(containerPorts).toContain(env['EMULATOR_PORT']);
    expect(containerPorts).not.toContain(controlPort);
    expect(containerPorts).not.toContain('6379');
  });
});
