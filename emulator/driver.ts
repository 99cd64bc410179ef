/**
 * A programmatic "browser" for the emulator's webview: opens the page, fills and submits its
 * forms like a browser would, through every step the bank asks for (a refused password, a
 * one-time code, an approval in the banking app, a question), and returns where the webview
 * redirects to (the callback URL). It reads the HTML the emulator itself renders; it is not a
 * general HTML parser.
 */
import { DEMO_BANK_ID } from './connectors.js';
import { OTP_CODE } from './logins.js';

/** The steps a sign-in may meet after the credentials (the `data-step` of their pages start with these). */
export type WebviewStepName = 'wrongpass' | 'otp' | 'decoupled' | 'question';

/** How the "user" answers the steps; by default, right and at once. */
export interface WebviewSteps {
  /** Passwords typed, in order, after the bank refuses one; then the first one again. */
  retryPasswords?: string[];
  /** One-time codes typed, in order (a wrong one is asked again); then the right one. */
  otp?: string[];
  /** Presses of Continue before approving in the banking app (each answered "not yet"). Default 0. */
  continueBeforeApproval?: number;
  /** The answer to the bank's question. Default `01/01/1990`. */
  answer?: string;
  /** Press Cancel on this step's page instead of answering it. */
  cancelAt?: WebviewStepName;
}

export type WebviewAction =
  | { kind: 'connect'; connectorId?: number; login?: string; password?: string; steps?: WebviewSteps }
  | { kind: 'cancel' }
  | { kind: 'decline' }
  | { kind: 'reconnect'; login?: string; password?: string; steps?: WebviewSteps }
  | { kind: 'manage-done' }
  | { kind: 'manage-delete'; connectionId: number };

/** What a walk through the webview met. */
export interface WebviewWalk {
  /** Where the webview redirected to at the end. */
  location: URL;
  /** The `data-step` of the first page, then of every page after it, in order (e.g. `credentials`, `wrongpass`, `otp`). */
  steps: string[];
  /** The `lang` of the first page. */
  lang: string;
}

interface ParsedControl {
  tag: 'input' | 'button';
  attrs: Map<string, string>;
}

export interface ParsedForm {
  action: string;
  method: string;
  /** What the page asks (`data-step`): credentials, wrongpass, otp, decoupled, question, reconnect, manage. */
  step: string | undefined;
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
    forms.push({ action: attrs.get('action') ?? '', method: (attrs.get('method') ?? 'get').toLowerCase(), step: attrs.get('data-step'), controls });
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

function hasField(forms: ParsedForm[], name: string, type?: string): boolean {
  return forms.some((f) =>
    f.controls.some((c) => c.tag === 'input' && c.attrs.get('name') === name && (type === undefined || (c.attrs.get('type') ?? 'text').toLowerCase() === type)),
  );
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

/** Presses the submit button of value `value` with the fields of `fill`, as a browser would. */
async function press(pageUrl: URL, html: string, value: string, fill: Map<string, string> = new Map()): Promise<SubmitResult> {
  const found = findButton(parseForms(html), value);
  if (found === undefined) {
    const what = value.startsWith('remove:') ? `no connection ${value.slice(7)} to remove` : `no "${value}" button`;
    throw new Error(`The webview page has ${what} (${pageErrorText(html)})`);
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

/** The credentials of the first page, filled only where the page has the fields. */
function credentialsFill(html: string, action: WebviewAction, password?: string): Map<string, string> {
  const fill = new Map<string, string>();
  if (action.kind !== 'connect' && action.kind !== 'reconnect') return fill;
  const forms = parseForms(html);
  if (action.kind === 'connect' && (action.connectorId !== undefined || hasField(forms, 'connector_id', 'radio'))) {
    fill.set('connector_id', String(action.connectorId ?? DEMO_BANK_ID));
  }
  if (hasField(forms, 'login')) {
    fill.set('login', action.login ?? 'demo-user');
    fill.set('password', password ?? action.password ?? 'demo-password');
  }
  return fill;
}

function stepOf(html: string): string {
  return parseForms(html).find((f) => f.step !== undefined)?.step ?? 'unknown';
}

/** At most this many pages in one walk: a webview that keeps asking is a failure, not a hang. */
const MAX_PAGES = 20;

/**
 * Opens the webview at `webviewLocation` (e.g. the `Location` our service redirected to), performs
 * `action`, answers every step the bank asks for (as `action.steps` says; by default rightly),
 * and returns where the webview redirects to, with the pages met on the way. `manage-delete`
 * removes the connection then presses "Done", or ends on the manage page when it has no "Done"
 * button (no redirect_uri). Throws when the webview answers an error page.
 */
export async function walkWebview(webviewLocation: string, action: WebviewAction): Promise<WebviewWalk> {
  const pageUrl = new URL(webviewLocation);
  const first = await getPage(pageUrl);
  const lang = /<html[^>]*\blang="([^"]*)"/i.exec(first)?.[1] ?? '';
  const steps = [stepOf(first)];
  const answers = (action.kind === 'connect' || action.kind === 'reconnect' ? action.steps : undefined) ?? {};
  const retryPasswords = [...(answers.retryPasswords ?? [])];
  const codes = [...(answers.otp ?? [])];
  let continues = answers.continueBeforeApproval ?? 0;

  let result = await press(pageUrl, first, submitButtonValue(action), credentialsFill(first, action));
  while (result.kind === 'page') {
    const { url, html } = result;
    const step = stepOf(html);
    steps.push(step);
    if (steps.length > MAX_PAGES) throw new Error(`The webview kept asking: ${steps.join(' > ')}`);
    if (answers.cancelAt !== undefined && step.startsWith(answers.cancelAt)) {
      result = await press(url, html, 'cancel');
    } else if (step === 'wrongpass') {
      const password = retryPasswords.shift();
      result = await press(url, html, submitButtonValue(action), credentialsFill(html, action, password));
    } else if (step.startsWith('otp')) {
      result = await press(url, html, 'otp', new Map([['otp', codes.shift() ?? OTP_CODE]]));
    } else if (step === 'decoupled-approved') {
      result = await press(url, html, 'decoupled-continue');
    } else if (step.startsWith('decoupled')) {
      result = continues > 0 ? await press(url, html, 'decoupled-continue') : await press(url, html, 'decoupled-approve');
      continues -= 1;
    } else if (step === 'question') {
      result = await press(url, html, 'answer', new Map([['answer', answers.answer ?? '01/01/1990']]));
    } else if (step === 'manage' && action.kind === 'manage-delete') {
      if (findButton(parseForms(html), 'done') === undefined) return { location: url, steps, lang };
      result = await press(url, html, 'done');
    } else {
      throw new Error(`Webview answered 200 without redirecting: ${pageErrorText(html)}`);
    }
  }
  return { location: result.location, steps, lang };
}

/** `walkWebview`, for the URL the webview redirects to. */
export async function completeWebview(webviewLocation: string, action: WebviewAction): Promise<URL> {
  return (await walkWebview(webviewLocation, action)).location;
}
