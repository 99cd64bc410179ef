/**
 * A programmatic "browser" for the emulator's webview: opens the page, fills and submits its
 * form like a browser would, and returns where the webview redirects to (the callback URL).
 * It reads the HTML the emulator itself renders; it is not a general HTML parser.
 */
import { DEMO_BANK_ID } from './connectors.js';

export type WebviewAction =
  | { kind: 'connect'; connectorId?: number; login?: string; password?: string }
  | { kind: 'cancel' }
  | { kind: 'decline' }
  | { kind: 'reconnect' }
  | { kind: 'manage-done' }
  | { kind: 'manage-delete'; connectionId: number };

interface ParsedControl {
  tag: 'input' | 'button';
  attrs: Map<string, string>;
}

export interface ParsedForm {
  action: string;
  method: string;
  controls: ParsedControl[];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, entity: string) => {
    if (entity.startsWith('#x') || entity.startsWith('#X')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    return ENTITIES[entity.toLowerCase()] ?? whole;
  });
}

function parseAttributes(source: string): Map<string, string> {
  const attrs = new Map<string, string>();
  const re = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  for (let m = re.exec(source); m !== null; m = re.exec(source)) {
    const name = (m[1] ?? '').toLowerCase();
    if (name === '' || attrs.has(name)) continue;
    attrs.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return attrs;
}

/** The forms of a page, with their inputs and buttons in document order. */
export function parseForms(html: string): ParsedForm[] {
  const forms: ParsedForm[] = [];
  const formRe = /<form\b([^>]*)>([\s\S]*?)<\/form>/gi;
  for (let f = formRe.exec(html); f !== null; f = formRe.exec(html)) {
    const attrs = parseAttributes(f[1] ?? '');
    const inner = f[2] ?? '';
    const controls: ParsedControl[] = [];
    const controlRe = /<(input|button)\b([^>]*)>/gi;
    for (let c = controlRe.exec(inner); c !== null; c = controlRe.exec(inner)) {
      const tag = (c[1] ?? '').toLowerCase() === 'button' ? 'button' : 'input';
      controls.push({ tag, attrs: parseAttributes(c[2] ?? '') });
    }
    forms.push({ action: attrs.get('action') ?? '', method: (attrs.get('method') ?? 'get').toLowerCase(), controls });
  }
  return forms;
}

/** The text of the page's error element (or its title), for error messages. */
export function pageErrorText(html: string): string {
  const strip = (s: string): string =>
    decodeEntities(s.replace(/<[^>]*>/g, ''))
      .replace(/\s+/g, ' ')
      .trim();
  const error = /<[a-z]+\b[^>]*\bid="error"[^>]*>([\s\S]*?)<\/[a-z]+>/i.exec(html);
  if (error?.[1] !== undefined) return strip(error[1]);
  const title = /<title>([\s\S]*?)<\/title>/i.exec(html);
  if (title?.[1] !== undefined) return strip(title[1]);
  return strip(html).slice(0, 200);
}

function submitButtonValue(action: WebviewAction): string {
  switch (action.kind) {
    case 'connect':
      return 'connect';
    case 'cancel':
      return 'cancel';
    case 'decline':
      return 'decline';
    case 'reconnect':
      return 'reconnect';
    case 'manage-done':
      return 'done';
    case 'manage-delete':
      return `remove:${action.connectionId}`;
  }
}

function findButton(forms: ParsedForm[], value: string): { form: ParsedForm; button: ParsedControl } | undefined {
  for (const form of forms) {
    for (const control of form.controls) {
      const type = control.attrs.get('type') ?? 'submit';
      if (control.tag === 'button' && type === 'submit' && control.attrs.get('value') === value) return { form, button: control };
    }
  }
  return undefined;
}

/** The form data a browser would send for `form` submitted with `button`, with `fill` overrides. */
function formData(form: ParsedForm, button: ParsedControl, fill: Map<string, string>): URLSearchParams {
  const data = new URLSearchParams();
  const used = new Set<string>();
  for (const control of form.controls) {
    if (control.tag !== 'input') continue;
    const name = control.attrs.get('name');
    if (name === undefined || name === '' || control.attrs.has('disabled')) continue;
    const type = (control.attrs.get('type') ?? 'text').toLowerCase();
    const value = control.attrs.get('value') ?? (type === 'checkbox' || type === 'radio' ? 'on' : '');
    if (type === 'radio' || type === 'checkbox') {
      const wanted = fill.get(name);
      const on = wanted === undefined ? control.attrs.has('checked') : wanted === value;
      if (on) {
        data.append(name, value);
        used.add(name);
      }
      continue;
    }
    if (type === 'submit' || type === 'button' || type === 'image' || type === 'reset' || type === 'file') continue;
    const filled = fill.get(name);
    data.append(name, filled ?? value);
    used.add(name);
  }
  for (const [name, value] of fill) {
    if (!used.has(name)) throw new Error(`The webview form has no field ${name}=${value}`);
  }
  const buttonName = button.attrs.get('name');
  if (buttonName !== undefined && buttonName !== '') data.append(buttonName, button.attrs.get('value') ?? '');
  return data;
}

async function getPage(url: URL): Promise<string> {
  const res = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
  const html = await res.text();
  if (res.status !== 200) throw new Error(`Webview answered ${res.status}: ${pageErrorText(html)}`);
  return html;
}

type SubmitResult = { kind: 'redirect'; location: URL } | { kind: 'page'; url: URL; html: string };

async function submitForm(pageUrl: URL, html: string, action: WebviewAction): Promise<SubmitResult> {
  const forms = parseForms(html);
  const value = submitButtonValue(action);
  const found = findButton(forms, value);
  if (found === undefined) {
    const what = action.kind === 'manage-delete' ? `no connection ${action.connectionId} to remove` : `no "${value}" button`;
    throw new Error(`The webview page has ${what} (${pageErrorText(html)})`);
  }
  const fill = new Map<string, string>();
  if (action.kind === 'connect') {
    fill.set('connector_id', String(action.connectorId ?? DEMO_BANK_ID));
    fill.set('login', action.login ?? 'demo-user');
    fill.set('password', action.password ?? 'demo-password');
  }
  const body = formData(found.form, found.button, fill);
  const target = new URL(found.form.action === '' ? pageUrl.href : found.form.action, pageUrl);
  const res = await fetch(target, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: body.toString(),
  });
  const location = res.headers.get('location');
  if (res.status >= 300 && res.status < 400 && location !== null) {
    await res.body?.cancel();
    return { kind: 'redirect', location: new URL(location, target) };
  }
  const text = await res.text();
  if (res.status === 200) return { kind: 'page', url: target, html: text };
  throw new Error(`Webview answered ${res.status}: ${pageErrorText(text)}`);
}

/**
 * Opens the webview at `webviewLocation` (e.g. the `Location` our service redirected to), performs
 * `action` and returns the URL the webview redirects to. `manage-delete` removes the connection
 * then presses "Done" (returning its redirect), or returns the manage page's URL when it has no
 * "Done" button (no redirect_uri). Throws when the webview answers an error page.
 */
export async function completeWebview(webviewLocation: string, action: WebviewAction): Promise<URL> {
  const pageUrl = new URL(webviewLocation);
  const html = await getPage(pageUrl);
  const result = await submitForm(pageUrl, html, action);
  if (result.kind === 'redirect') return result.location;
  if (action.kind !== 'manage-delete') {
    throw new Error(`Webview answered 200 without redirecting: ${pageErrorText(result.html)}`);
  }
  if (findButton(parseForms(result.html), 'done') === undefined) return result.url;
  const done = await submitForm(result.url, result.html, { kind: 'manage-done' });
  if (done.kind === 'redirect') return done.location;
  throw new Error(`Webview answered 200 without redirecting: ${pageErrorText(done.html)}`);
}
