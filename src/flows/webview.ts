import type { Request } from 'express';
import { WEBVIEW_LANGS, type Config, type WebviewLang } from '../config.js';
import { negotiate } from '../i18n/index.js';
import type { FlowKind } from '../storage/flows.js';

/**
 * The webview language: POWENS_WEBVIEW_LANG, else the browser's Accept-Language among those
 * Powens offers, else English. The segment is always sent: the bare path has been seen failing.
 * Pages and messages choose theirs the same way among the catalogue's (i18n `languageOf`).
 */
export function webviewLang(config: Config, req: Request): WebviewLang {
  return config.powens.webviewLang ?? negotiate(req.headers['accept-language'], WEBVIEW_LANGS) ?? 'en';
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
