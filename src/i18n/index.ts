import type { IncomingHttpHeaders } from 'node:http';
import type { WebviewLang } from '../config.js';
import { en } from './en.js';
import { fr } from './fr.js';

/**
 * The one message catalogue of the service (English in ./en.ts, French in ./fr.ts) and the
 * choice of language. Pages, the demo and `message` of GET /me/connections speak the language
 * the webview is opened in, among those this catalogue has: POWENS_WEBVIEW_LANG when it is one
 * of them, else the browser's Accept-Language, else English.
 */

export const LANGS = ['en', 'fr'] as const;
export type Lang = (typeof LANGS)[number];
export type MessageKey = keyof typeof en;

/** The `{name}` placeholders of a message, read from the English text's type. */
type ParamNames<S extends string> = S extends `${string}{${infer P}}${infer Rest}` ? P | ParamNames<Rest> : never;
export type MessageParams<K extends MessageKey> = Record<ParamNames<(typeof en)[K]>, string | number>;
/** A message with placeholders needs its values; one without takes none. */
export type ParamArgs<K extends MessageKey> = [ParamNames<(typeof en)[K]>] extends [never] ? [] : [params: MessageParams<K>];

export const CATALOGUES: Readonly<Record<Lang, Readonly<Record<MessageKey, string>>>> = { en, fr };

const PLACEHOLDER = /\{(\w+)\}/g;

/** The parts of a message: text, and the names of its placeholders in between. */
export function messageParts(lang: Lang, key: MessageKey): { text: string[]; names: string[] } {
  const text: string[] = [];
  const names: string[] = [];
  let last = 0;
  const template = CATALOGUES[lang][key];
  for (const m of template.matchAll(PLACEHOLDER)) {
    text.push(template.slice(last, m.index));
    names.push(m[1] ?? '');
    last = m.index + m[0].length;
  }
  text.push(template.slice(last));
  return { text, names };
}

/** The message `key` in `lang`, its placeholders filled (as text: escaping is the caller's). */
export function t<K extends MessageKey>(lang: Lang, key: K, ...args: ParamArgs<K>): string {
  const params = (args[0] ?? {}) as Record<string, string | number>;
  return CATALOGUES[lang][key].replace(PLACEHOLDER, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** The messages whose key passes `keep`, in `lang`: what a page hands to its script. */
export function messagesWhere(lang: Lang, keep: (key: MessageKey) => boolean): Partial<Record<MessageKey, string>> {
  const out: Partial<Record<MessageKey, string>> = {};
  for (const key of Object.keys(CATALOGUES[lang]) as MessageKey[]) if (keep(key)) out[key] = CATALOGUES[lang][key];
  return out;
}

/**
 * The first of `supported` that an Accept-Language header ranks highest (`q` weights, then
 * order; a region is ignored: `fr-CA` is `fr`), or undefined when none is acceptable.
 */
export function negotiate<L extends string>(header: string | string[] | undefined, supported: readonly L[]): L | undefined {
  if (typeof header !== 'string' || header.length > 512) return undefined;
  const ranked = header
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { lang: tag.trim().toLowerCase().split('-')[0] ?? '', q: q === undefined ? 1 : Number(q), i };
    })
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { lang } of ranked) {
    if ((supported as readonly string[]).includes(lang)) return lang as L;
  }
  return undefined;
}

export function isLang(value: string | undefined): value is Lang {
  return (LANGS as readonly string[]).includes(value ?? '');
}

/** The language of pages and messages: chosen as the webview's is, among the catalogue's languages. */
export function languageOf(forced: WebviewLang | undefined, headers: IncomingHttpHeaders): Lang {
  if (isLang(forced)) return forced;
  return negotiate(headers['accept-language'], LANGS) ?? 'en';
}
