import { CONTAINER_DEMO_ENV, EMULATOR_VARIABLES, SECTION_NOTES, SECTIONS, SERVICE_VARIABLES, type Section, type Variable } from '../src/config/variables.js';

/**
 * The two documents rendered from the declarations in src/config/variables.ts: the variable table of
 * README.md (between the markers below) and `.env.example`. `npm run docs:env`
 * (tools/env-docs.ts) writes them; test/unit/env-docs.test.ts fails when they differ.
 */

export const TABLE_START = '<!-- env-table:start -->';
export const TABLE_END = '<!-- env-table:end -->';
const WIDTH = 100;

type Entry = [name: string, v: Variable];

function bySection(variables: Record<string, Variable>): [Section, Entry[]][] {
  return SECTIONS.map((s): [Section, Entry[]] => [s, Object.entries(variables).filter(([, v]) => v.section === s)]).filter(([, entries]) => entries.length > 0);
}

function example(name: string, v: Variable): string {
  const value = v.example ?? v.default;
  if (value === undefined) throw new Error(`${name}: declare an example or a default`);
  return value;
}

// --- README.md ---------------------------------------------------------------------------------

/** A table cell: `|` escaped; outside code spans, `<` and `>` as entities (else read as HTML). */
function cell(s: string): string {
  return s
    .split('`')
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('`')
    .replace(/\|/g, '\\|');
}

/** A placeholder to fill in, not an example worth showing. */
const placeholder = (value: string): boolean => value.includes('<');

function defaultCell(v: Variable): string {
  const parts: string[] = [];
  if (v.required === 'always') parts.push('**required**');
  if (v.required === 'production') parts.push('**required (P)**');
  if (v.default !== undefined) parts.push(`\`${v.default}\``);
  if (v.defaultNote !== undefined) parts.push(v.required === 'production' ? `else ${v.defaultNote}` : v.defaultNote);
  return parts.length === 0 ? 'unset' : parts.join('; ');
}

function row([name, v]: Entry): string {
  const value = v.example ?? v.default;
  const eg = value !== undefined && value !== v.default && !placeholder(value) ? ` E.g. \`${value}\`.` : '';
  const variable = `\`${name}\`${v.secret === true ? ' (secret)' : ''}`;
  return `| ${cell(variable)} | ${cell(defaultCell(v))} | ${cell(v.description + eg)} |`;
}

/** The README's table, markers included. */
export function renderReadmeTable(): string {
  const lines = [TABLE_START, '<!-- Generated from src/config/variables.ts by `npm run docs:env`: edit there, not here. -->'];
  for (const [section, entries] of bySection({ ...SERVICE_VARIABLES, ...EMULATOR_VARIABLES })) {
    lines.push('', `**${section}**`);
    const note = SECTION_NOTES[section];
    if (note !== undefined) lines.push('', cell(note).replace(/\\\|/g, '|'));
    lines.push('', '| variable | default | meaning |', '| --- | --- | --- |', ...entries.map(row));
  }
  lines.push(TABLE_END);
  return lines.join('\n');
}

/** README.md with its table replaced; throws when the markers are missing. */
export function withReadmeTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start === -1 || end < start) throw new Error(`README.md has no ${TABLE_START} ... ${TABLE_END} block`);
  return readme.slice(0, start) + renderReadmeTable() + readme.slice(end + TABLE_END.length);
}

// --- .env.example --------------------------------------------------------------------------------

/** `# `-prefixed lines of at most WIDTH characters (a longer word stays whole). */
function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  // "(P): required" stays on one line.
  for (const word of text
    .replace(/\(P\): /g, '(P):\u00a0')
    .split(/[ \n\t]+/)
    .filter((w) => w !== '')) {
    if (line !== '#' && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word.replace(/\u00a0/g, ' ')}`;
  }
  if (line !== '#') lines.push(line);
  return lines;
}

/** `# --- Title ----`, 96 wide (the width the container demo's heading has always had). */
function heading(title: string): string {
  const start = `# --- ${title} `;
  return start + '-'.repeat(Math.max(3, 96 - start.length));
}

const HEADER = [
  '# powens-connect-bff configuration.',
  '#',
  '# Generated from src/config/variables.ts by `npm run docs:env`: edit there, not here.',
  '#',
  '# Copy to .env and fill in the values in <angle brackets>. Lines starting with # are comments or',
  '# optional variables shown with their default or an example: remove the # to set one. Keep',
  '# comments on their own lines and leave values unquoted: docker-compose v1 keeps a trailing',
  '# comment or quotes as part of the value. An empty value (NAME=) counts as unset.',
  '# A bad value stops start-up with one line per problem; secrets are never printed.',
  '#',
  '# Marked (P): enforced when NODE_ENV=production.',
];

/** The prefix of the demo block's lines: `sed -n 's/^# demo: //p' .env.example > .env` makes a demo .env. */
export const DEMO_LINE_PREFIX = '# demo: ';

const CONTAINER_DEMO_NOTE = [
  "The service against the built-in Powens emulator, all on this machine; open http://localhost:3000. Make a .env of these lines alone with: sed -n 's/^# demo: //p' .env.example > .env",
  "Then either `npm run emulator` and, beside it, `npm run build && npm start` (with a redis-server on the machine); or `docker compose --profile demo up --build` (the emulator then shares the service's network, so http://localhost:4010 is the emulator for the browser and the service alike; docker-compose.yml sets REDIS_URL, HOST and PORT itself).",
  "The client, its secret, the domain and the callback are the emulator's defaults (EMULATOR_* above). SESSION_SECRET and TOKEN_ENCRYPTION_KEYS are random per process outside production: links do not survive a restart.",
];

function envEntry([name, v]: Entry): string[] {
  let text = v.description;
  if (v.required === 'always') text += ' Required.';
  if (v.required === 'production') text += ' (P): required.';
  if (v.defaultNote !== undefined) text += ` ${v.required === 'production' ? 'Else' : 'Default'}: ${v.defaultNote}.`;
  const assignment = `${name}=${example(name, v)}`;
  return [...comment(text), v.required === undefined ? `# ${assignment}` : assignment];
}

/** The whole of `.env.example`: the service's variables, the emulator's, then the demo block. */
export function renderEnvExample(): string {
  const lines = [...HEADER];
  for (const [section, entries] of bySection({ ...SERVICE_VARIABLES, ...EMULATOR_VARIABLES })) {
    lines.push('', heading(section), '');
    const note = SECTION_NOTES[section];
    if (note !== undefined) lines.push(...comment(note), '');
    lines.push(...entries.flatMap((entry, i) => [...(i === 0 ? [] : ['']), ...envEntry(entry)]));
  }
  lines.push('', heading('Demo: npm run emulator + npm start, or docker compose --profile demo up'));
  for (const paragraph of CONTAINER_DEMO_NOTE) lines.push(...comment(paragraph));
  lines.push(...CONTAINER_DEMO_ENV.map(([name, value]) => `${DEMO_LINE_PREFIX}${name}=${value}`));
  return `${lines.join('\n')}\n`;
}
