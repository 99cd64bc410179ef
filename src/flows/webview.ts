import type { Request } from 'express';
import { WEBVIEW_LANGS, type Config, type WebviewLang } from '../config.js';
import type { FlowKind } from '../storage/flows.js';

/**
 * The webview language: POWENS_WEBVIEW_LANG, else the browser's Accept-Language among those
 * Powens offers, else English. The segment is always sent: the bare path has been seen failing.
 */
export function webviewLang(config: Config, req: Request): WebviewLang {
  if (config.powens.webviewLang !== undefined) return config.powens.webviewLang;
  const header = req.headers['accept-language'];
  if (typeof header !== 'string' || header.length > 512) return 'en';
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
    if ((WEBVIEW_LANGS as readonly string[]).includes(lang)) return lang as WebviewLang;
  }
  return 'en';
}

export interface WebviewParams {
  state: string;
  code?: string;
  connectionId?: number;
  /** connect: the connectors to offer (one skips Powens' bank chooser). */
  connectorUuids?: readonly string[];
  /** reconnect: ask the user for new credentials. */
  resetCredentials?: boolean;
}

/**
 * `${POWENS_WEBVIEW_URL}/{lang}/{flow}?domain&client_id&redirect_uri&state[&code][&connection_id]`
 * `[&connector_uuids][&reset_credentials=true]` (DOCS webview: `connector_uuids` comma-separated;
 * `reset_credentials` sent only when true, as the SDK does).
 */
export function webviewUrl(config: Config, lang: WebviewLang, kind: FlowKind, p: WebviewParams): string {
  const url = new URL(`${config.powens.webviewUrl}/${lang}/${kind}`);
  // Built apart and assigned once: each url.searchParams.set re-serializes the whole query.
  const query = new URLSearchParams({
    domain: config.powens.domain,
    client_id: config.powens.clientId,
    redirect_uri: config.powens.redirectUri,
    state: p.state,
  });
  if (p.code !== undefined) query.set('code', p.code);
  if (p.connectionId !== undefined) query.set('connection_id', String(p.connectionId));
  if (p.connectorUuids !== undefined && p.connectorUuids.length > 0) query.set('connector_uuids', p.connectorUuids.join(','));
  if (p.resetCredentials === true) query.set('reset_credentials', 'true');
  url.search = query.toString();
  return url.href;
}
