import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { Histogram } from 'prom-client';
import { parse } from 'yaml';
import { Metrics } from '../../src/metrics.js';

/**
 * The alert rules (deploy/prometheus/alerts.yml) and the Grafana dashboard
 * (deploy/grafana/powens-connect-bff.json) query the service by metric and label names: a metric
 * renamed or a label dropped in src/metrics.ts would leave an alert that never fires and a panel
 * that stays empty, silently. Every selector they use must name a series the service exposes,
 * with labels it has. (promtool checks the rules' syntax and behaviour: npm run check:alerts.)
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rules: Rule[] = (parse(readFileSync(join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);
const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/powens-connect-bff.json'), 'utf8')) as unknown;
const runbook = readFileSync(join(ROOT, 'docs/RUNBOOK.md'), 'utf8');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** Labels every scraped series has, whatever the service declares. */
const TARGET_LABELS = ['job', 'instance'];
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

interface Selector {
  name: string;
  labels: string[];
}

/** The series selectors of a PromQL expression (or a Grafana query: its $variables read as values). */
function selectors(expr: string): Selector[] {
  const text = expr
    .replace(/\$__\w+/g, '5m')
    // Ranges and the label lists of aggregations and vector matching name no series.
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const found: Selector[] = [];
  for (const m of text.matchAll(/([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?/g)) {
    const name = m[1] ?? '';
    const after = text.slice((m.index ?? 0) + m[0].length).trimStart();
    if (m[2] === undefined && after.startsWith('(')) continue; // a function
    if (KEYWORDS.has(name.toLowerCase())) continue;
    if (/^[0-9]/.test(name)) continue;
    const labels = [...(m[2] ?? '').matchAll(/(\w+)\s*(?:=~|!~|!=|=)\s*"/g)].map((l) => l[1] ?? '');
    found.push({ name, labels });
  }
  return found;
}

/** Every PromQL expression of the dashboard: panel targets and the variables' queries. */
function dashboardExprs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const item of node) dashboardExprs(item, out);
  } else if (typeof node === 'object' && node !== null) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'expr' && typeof value === 'string') out.push(value);
      else if (key === 'definition' && typeof value === 'string') {
        // label_values(<selector>, <label>): the selector is PromQL, the label is not a series.
        const m = /^label_values\((.*),\s*\w+\)$/.exec(value);
        if (m === null) throw new Error(`a dashboard variable query this test cannot read: ${value}`);
        out.push(m[1] ?? '');
      } else dashboardExprs(value, out);
    }
  }
  return out;
}

/** Series names the service exposes, each with the labels it can carry. */
async function exposedSeries(): Promise<Map<string, string[]>> {
  const metrics = new Metrics();
  const series = new Map<string, string[]>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const metric = metrics.registry.getSingleMetric(m.name);
    const declared = (metric as unknown as { labelNames?: unknown }).labelNames;
    if (!Array.isArray(declared)) throw new Error(`prom-client no longer keeps labelNames on ${m.name}: read the labels another way`);
    const labels = [...(declared as string[]), ...TARGET_LABELS];
    if (metric instanceof Histogram) {
      series.set(`${m.name}_bucket`, [...labels, 'le']);
      series.set(`${m.name}_sum`, labels);
      series.set(`${m.name}_count`, labels);
    } else {
      series.set(m.name, labels);
    }
  }
  return series;
}

function problemsOf(exprs: string[], series: Map<string, string[]>, recorded: Set<string>): string[] {
  const problems: string[] = [];
  for (const expr of exprs) {
    for (const s of selectors(expr)) {
      if (s.name.includes(':')) {
        if (!recorded.has(s.name)) problems.push(`${s.name}: no recording rule of alerts.yml records it (in ${expr})`);
        continue;
      }
      // Prometheus' own series of each target.
      const labels = s.name === 'up' ? TARGET_LABELS : series.get(s.name);
      if (labels === undefined) {
        problems.push(`${s.name}: the service exposes no such series (in ${expr})`);
        continue;
      }
      for (const l of s.labels) if (!labels.includes(l)) problems.push(`${s.name}{${l}}: not one of its labels ${labels.join(', ')} (in ${expr})`);
    }
  }
  return problems;
}

interface Panel {
  id: number;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
}

const recorded = new Set(rules.flatMap((r) => (r.record === undefined ? [] : [r.record])));
const alerts = rules.filter((r) => r.alert !== undefined);

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      (m[1] ?? '')
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
}

describe('alert rules and dashboard against the metrics the service declares', () => {
  it('reads the selectors of an expression, leaving out functions, ranges and grouping labels', () => {
    expect(selectors('sum by (job, route) (rate(http_request_duration_seconds_count{job="x", status=~"5.."}[5m])) / on (job) up or a:b:c')).toEqual([
      { name: 'http_request_duration_seconds_count', labels: ['job', 'status'] },
      { name: 'up', labels: [] },
      { name: 'a:b:c', labels: [] },
    ]);
  });

  it('every series the alert rules select is one the service exposes, with its labels', async () => {
    const exprs = rules.map((r) => r.expr);
    expect(exprs.flatMap((e) => selectors(e)).map((s) => s.name)).toEqual(expect.arrayContaining(['redis_up', 'service_ready', 'powens_users_deleted_total']));
    expect(problemsOf(exprs, await exposedSeries(), recorded)).toEqual([]);
  });

  it('every series the dashboard queries is one the service exposes or alerts.yml records', async () => {
    const exprs = dashboardExprs(dashboard);
    expect(exprs.length).toBeGreaterThan(30);
    expect(problemsOf(exprs, await exposedSeries(), recorded)).toEqual([]);
  });

  it('the dashboard has a data source variable, unique panel ids and panels that do not overlap', () => {
    const d = dashboard as { schemaVersion: number; templating: { list: { name: string; type: string }[] }; panels: Panel[] };
    expect(d.templating.list.map((v) => `${v.name}:${v.type}`)).toEqual(expect.arrayContaining(['datasource:datasource', 'job:query', 'instance:query']));
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36);
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const overlaps: string[] = [];
    d.panels.forEach((a, i) =>
      d.panels.slice(i + 1).forEach((b) => {
        const g = a.gridPos;
        const h = b.gridPos;
        if (g.x < h.x + h.w && h.x < g.x + g.w && g.y < h.y + h.h && h.y < g.y + g.h) overlaps.push(`${a.title} / ${b.title}`);
      }),
    );
    expect(overlaps).toEqual([]);
    expect(d.panels.every((p) => p.gridPos.x + p.gridPos.w <= 24)).toBe(true);
  });

  it('a misspelt metric or label is reported', async () => {
    expect(problemsOf(['rate(powens_request_errors_total{reason="x"}[5m]) + redis_upp + job:nothing:rate5m'], await exposedSeries(), recorded)).toEqual([
      expect.stringContaining('powens_request_errors_total{reason}'),
      expect.stringContaining('redis_upp: the service exposes no such series'),
      expect.stringContaining('job:nothing:rate5m: no recording rule'),
    ]);
  });

  it('every alert has a severity, a summary, a description and a runbook entry that exists', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    const known = anchors(runbook);
    for (const a of alerts) {
      expect({ alert: a.alert, severity: a.labels?.['severity'] }).toEqual({ alert: a.alert, severity: expect.stringMatching(/^(critical|warning|info)$/) });
      expect({ alert: a.alert, summary: a.annotations?.['summary'], description: a.annotations?.['description'] }).toEqual({
        alert: a.alert,
        summary: expect.any(String),
        description: expect.any(String),
      });
      const anchor = /^docs\/RUNBOOK\.md#(.+)$/.exec(a.annotations?.['runbook_url'] ?? '')?.[1];
      expect({ alert: a.alert, anchor: anchor !== undefined && known.has(anchor) }).toEqual({ alert: a.alert, anchor: true });
    }
  });

  it("the README's alert table names every alert, and its runbook links and the runbook's own lead to entries that exist", () => {
    const known = anchors(runbook);
    const links = [...readme.matchAll(/docs\/RUNBOOK\.md#([\w-]+)/g), ...runbook.matchAll(/\]\(#([\w-]+)\)/g)].map((m) => m[1] ?? '');
    expect(links.length).toBeGreaterThan(alerts.length);
    expect(links.filter((l) => !known.has(l))).toEqual([]);
    expect(alerts.map((a) => a.alert).filter((name) => !readme.includes(`[${name ?? ''}](docs/RUNBOOK.md#`))).toEqual([]);
  });
});
