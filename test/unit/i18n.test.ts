import { describe, expect, it } from '@jest/globals';
import { catalogue, errorText, type ErrorCode } from '../../src/errors.js';
import { CATALOGUES, LANGS, languageOf, negotiate, t } from '../../src/i18n/index.js';

/** The `{name}` placeholders of a text, sorted. */
function placeholders(text: string): string[] {
  return [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '').sort();
}

describe('the message catalogue', () => {
  it.each(LANGS.flatMap((a) => LANGS.filter((b) => b !== a).map((b) => [a, b] as const)))('has every %s key in %s', (a, b) => {
    const missing = Object.keys(CATALOGUES[a]).filter((key) => !(key in CATALOGUES[b]));
    expect(missing).toEqual([]);
  });

  it('gives each message the same parameters in every language', () => {
    const differing: string[] = [];
    for (const [key, text] of Object.entries(CATALOGUES.en)) {
      for (const lang of LANGS) {
        const other = (CATALOGUES[lang] as Record<string, string>)[key] ?? '';
        if (placeholders(other).join() !== placeholders(text).join())
          differing.push(`${lang} ${key}: {${placeholders(other).join()}} vs {${placeholders(text).join()}}`);
      }
    }
    expect(differing).toEqual([]);
  });

  it('has no empty message and no placeholder left unbalanced', () => {
    for (const lang of LANGS) {
      for (const [key, text] of Object.entries(CATALOGUES[lang])) {
        expect({ key, lang, empty: text.trim() === '' }).toEqual({ key, lang, empty: false });
        expect({ key, lang, stray: text.replace(/\{\w+\}/g, '').match(/[{}]/g) }).toEqual({ key, lang, stray: null });
      }
    }
  });

  it('has a title and a message for every error code, in every language', () => {
    for (const lang of LANGS) {
      for (const code of Object.keys(catalogue) as ErrorCode[]) {
        const text = errorText(code, lang);
        expect(text.title.length).toBeGreaterThan(0);
        expect(text.message.length).toBeGreaterThan(0);
      }
    }
  });

  it('is French in French: a no-break space before the high punctuation, never a plain one', () => {
    const plain = Object.entries(CATALOGUES.fr).filter(([, text]) => / [:;?!]/.test(text) || /[«] | [»]/.test(text));
    expect(plain.map(([key]) => key)).toEqual([]);
    expect(t('fr', 'error.FLOW_CANCELLED.title')).toBe('Annulé');
  });

  it('fills parameters and leaves text that merely looks like one alone', () => {
    expect(t('en', 'demo.notice.connected', { bank: 'Demo Bank' })).toBe('Demo Bank is connected.');
    expect(t('fr', 'demo.notice.connected', { bank: '{n}' })).toBe('La connexion à {n} est établie.');
    expect(t('en', 'demo.count.other', { n: 3 })).toBe('3 banks');
  });
});

describe('the language of pages and messages', () => {
  it.each([
    ['fr-FR,fr;q=0.9,en;q=0.8', 'fr-FR,fr;q=0.9,en;q=0.8', 'fr'],
    ['en-GB,en;q=0.9', 'en-GB,en;q=0.9', 'en'],
    ['de-DE,de;q=0.9,fr;q=0.5', 'de-DE,de;q=0.9,fr;q=0.5', 'fr'],
    ['de,es', 'de,es', undefined],
    ['en;q=0.2, fr;q=0.8', 'en;q=0.2, fr;q=0.8', 'fr'],
    ['fr;q=0, en', 'fr;q=0, en', 'en'],
    ['*', '*', undefined],
    ['FR-ca', 'FR-ca', 'fr'],
    ['a header over 512 characters', `${'x'.repeat(600)},fr`, undefined],
  ] as const)('negotiates %s as the expected language among en and fr', (_name, header, expected) => {
    expect(negotiate(header, LANGS)).toBe(expected);
  });

  it('takes POWENS_WEBVIEW_LANG when the catalogue has it, else the browser, else English', () => {
    const fr = { 'accept-language': 'fr-FR,fr;q=0.9' };
    expect(languageOf('en', fr)).toBe('en');
    expect(languageOf('fr', { 'accept-language': 'en' })).toBe('fr');
    // German webview: the pages follow the browser among the languages they have.
    expect(languageOf('de', fr)).toBe('fr');
    expect(languageOf(undefined, fr)).toBe('fr');
    expect(languageOf(undefined, {})).toBe('en');
    expect(languageOf(undefined, { 'accept-language': 'nl' })).toBe('en');
  });
});
