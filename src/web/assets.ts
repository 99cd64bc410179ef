/**
 * Static assets served from memory (built into dist/ with the code, no copy step). Each has a
 * fixed content type; nothing here is generated from input. Pages carry no inline style: every
 * look is a class here, so the strict CSP (style-src 'self') holds.
 */
export const APP_CSS = `
:root {
  color-scheme: light dark;
  --bg: #f3f5fa; --surface: #fff; --surface-2: #f7f8fb; --ink: #1b2230; --muted: #5f6b7a; --line: #e3e7ee;
  --accent: #2f5bea; --accent-ink: #fff; --accent-soft: #e8eefe;
  --ok: #137333; --ok-soft: #e3f4e8; --sync: #0b57d0; --sync-soft: #e4edfc;
  --warn: #8a5300; --warn-soft: #fdf1d6; --bad: #b3261e; --bad-soft: #fce8e6; --unknown: #5f6b7a; --unknown-soft: #eceff3;
  --radius: 14px; --shadow: 0 1px 2px rgba(16,24,40,.06), 0 8px 28px rgba(16,24,40,.07);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0e1117; --surface: #161b22; --surface-2: #1c222b; --ink: #e6edf3; --muted: #9aa6b2; --line: #2a313c;
    --accent: #6d8ff5; --accent-ink: #0e1117; --accent-soft: #1f2a4a;
    --ok: #56d37b; --ok-soft: #173524; --sync: #7fb0ff; --sync-soft: #17294a;
    --warn: #f2c060; --warn-soft: #3a2d12; --bad: #ff8a80; --bad-soft: #44201d; --unknown: #aab4bf; --unknown-soft: #262c35;
    --shadow: 0 1px 2px rgba(0,0,0,.4), 0 8px 28px rgba(0,0,0,.35);
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; overflow-wrap: break-word; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; background: var(--bg); color: var(--ink); }
.card { max-width: 46rem; margin: 3rem auto; padding: 2rem 2.25rem; background: var(--surface); border: 1px solid var(--line); border-radius: var(--radius); box-shadow: var(--shadow); }
@media (max-width: 40rem) { .card { margin: 0; min-height: 100vh; border-radius: 0; border: 0; padding: 1.25rem; } }
h1 { font-size: 1.45rem; line-height: 1.25; margin: 0 0 .5rem; letter-spacing: -.01em; }
h2 { font-size: 1.1rem; margin: 0; }
p { margin: .5rem 0 1rem; }
a { color: var(--accent); }
.message { font-size: 1.05rem; }
.actions { display: flex; gap: .75rem; flex-wrap: wrap; margin: 1.25rem 0 0; }
.actions:empty { display: none; }
.reference { color: var(--muted); font-size: .85rem; margin-top: 1.5rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; background: var(--surface-2); border: 1px solid var(--line); border-radius: 6px; padding: .05rem .35rem; }
.muted { color: var(--muted); }
.hidden { display: none !important; }
.row { display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; }

/* Buttons: a.button for navigations (flows), button for API calls. */
a.button, button { display: inline-flex; align-items: center; justify-content: center; gap: .4rem; min-height: 2.5rem; padding: .5rem 1.05rem; border-radius: 10px; border: 1px solid var(--accent); background: var(--accent); color: var(--accent-ink); font: inherit; font-weight: 600; text-decoration: none; cursor: pointer; transition: filter .15s, background .15s; }
a.button:hover, button:hover { filter: brightness(1.08); }
a.button:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid var(--accent-soft); outline-offset: 2px; }
a.button.secondary, button.secondary { background: transparent; color: var(--accent); }
a.button.secondary:hover, button.secondary:hover { background: var(--accent-soft); filter: none; }
button.danger { background: var(--bad); border-color: var(--bad); color: #fff; }
button.danger-link, button.link { background: none; border: 0; color: var(--bad); font-weight: 500; padding: .5rem .25rem; min-height: 0; text-decoration: underline; text-underline-offset: 3px; }
button.link { color: var(--muted); }
a.button.small, button.small { min-height: 2.1rem; padding: .3rem .8rem; font-size: .9rem; border-radius: 8px; }
button[disabled] { opacity: .6; cursor: progress; }
.button-add::before { content: "+"; font-size: 1.2em; line-height: 1; margin-right: .1rem; }

input[type=text] { padding: .65rem .8rem; border-radius: 10px; border: 1px solid var(--line); background: var(--surface); color: inherit; font: inherit; width: 100%; }
label { font-weight: 600; font-size: .92rem; }
form.inline { display: inline; }

/* Every page's header; the demo home adds the signed-in user at its right end. */
.topbar { display: flex; justify-content: space-between; align-items: center; gap: .5rem 1rem; flex-wrap: wrap; padding-bottom: 1.25rem; margin-bottom: 1.5rem; border-bottom: 1px solid var(--line); }
.brand { display: flex; align-items: center; gap: .6rem; font-weight: 700; min-width: 0; }
.brand-mark { width: 1.9rem; height: 1.9rem; border-radius: 9px; background: linear-gradient(135deg, var(--accent), #8a5cf6); box-shadow: inset 0 -6px 0 rgba(255,255,255,.18); }
.pill { font-size: .7rem; font-weight: 700; letter-spacing: .06em; text-transform: uppercase; color: var(--muted); border: 1px solid var(--line); border-radius: 999px; padding: .1rem .55rem; }
/* A long user id shrinks (with an ellipsis) before anything else: "Sign out" always stays on screen. */
.account { display: flex; align-items: center; gap: .5rem; font-size: .92rem; color: var(--muted); min-width: 0; max-width: 100%; }
.account > * { flex: none; }
.account strong { flex: 0 1 auto; min-width: 0; color: var(--ink); font-weight: 600; max-width: 16rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
@media (max-width: 30rem) { .account-label { display: none; } }
.avatar { width: 2rem; height: 2rem; border-radius: 50%; display: inline-flex; align-items: center; justify-content: center; background: var(--accent-soft); color: var(--accent); font-weight: 700; text-transform: uppercase; }
.intro { color: var(--muted); margin-top: 0; }
.section-head { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; margin: 1.5rem 0 .75rem; }
.count { color: var(--muted); font-size: .9rem; }

.notice { display: flex; gap: .6rem; align-items: flex-start; padding: .75rem 1rem; border-radius: 10px; background: var(--ok-soft); color: var(--ink); border: 1px solid transparent; margin: 0 0 1rem; }
.notice::before { content: "\\2713"; color: var(--ok); font-weight: 800; }
.notice.error { background: var(--bad-soft); }
.notice.error::before { content: "!"; color: var(--bad); }
.notice.warn { background: var(--warn-soft); }
.notice.warn::before { content: "!"; color: var(--warn); }

ul.connections { list-style: none; margin: 0; padding: 0; display: grid; gap: .75rem; }
li.connection { display: grid; grid-template-columns: auto 1fr auto; gap: 1rem; align-items: center; padding: 1rem; border: 1px solid var(--line); border-radius: 12px; background: var(--surface); }
li.connection[data-status=action_needed] { border-color: color-mix(in srgb, var(--warn) 45%, var(--line)); background: color-mix(in srgb, var(--warn-soft) 45%, var(--surface)); }
li.connection[data-status=temporary_error] { border-color: color-mix(in srgb, var(--bad) 30%, var(--line)); }
@media (max-width: 36rem) { li.connection { grid-template-columns: auto 1fr; } .connection-actions { grid-column: 1 / -1; } }
.bank-logo { width: 2.75rem; height: 2.75rem; border-radius: 12px; display: inline-flex; align-items: center; justify-content: center; color: #fff; font-weight: 800; font-size: 1.15rem; }
.logo-0 { background: #1f4fb4; } .logo-1 { background: #0f7b6c; } .logo-2 { background: #b3261e; } .logo-3 { background: #7a3fd1; } .logo-4 { background: #c25e00; } .logo-5 { background: #3c4a5c; }
.connection-body { min-width: 0; overflow-wrap: anywhere; }
.connection-title { display: flex; align-items: center; gap: .6rem; flex-wrap: wrap; }
.connection-title strong { font-size: 1.05rem; }
.connection-detail { color: var(--muted); font-size: .9rem; margin-top: .15rem; }
.connection-message { font-size: .92rem; margin-top: .35rem; }
li.connection[data-status=action_needed] .connection-detail { color: var(--ink); }
.connection-actions { display: flex; gap: .5rem; flex-wrap: wrap; justify-content: flex-end; }

.badge { display: inline-flex; align-items: center; gap: .35rem; padding: .12rem .6rem; border-radius: 999px; font-size: .78rem; font-weight: 700; letter-spacing: .01em; white-space: nowrap; }
.badge::before { font-weight: 900; }
.badge.ok { background: var(--ok-soft); color: var(--ok); }
.badge.ok::before { content: "\\2713"; }
.badge.syncing { background: var(--sync-soft); color: var(--sync); }
.badge.syncing::before { content: "\\21BB"; display: inline-block; animation: spin 1.2s linear infinite; }
.badge.action_needed { background: var(--warn-soft); color: var(--warn); }
.badge.action_needed::before { content: "!"; }
.badge.temporary_error { background: var(--bad-soft); color: var(--bad); }
.badge.temporary_error::before { content: "\\26A0"; }
.badge.unknown { background: var(--unknown-soft); color: var(--unknown); }
.badge.unknown::before { content: "?"; }
@keyframes spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .badge.syncing::before { animation: none; } }

.empty { text-align: center; padding: 2.25rem 1rem; border: 1px dashed var(--line); border-radius: 12px; background: var(--surface-2); }
.empty-art { width: 3.5rem; height: 3.5rem; margin: 0 auto .75rem; border-radius: 14px; background: var(--accent-soft); position: relative; }
.empty-art::before { content: ""; position: absolute; inset: 1rem .8rem 1.1rem; border: 3px solid var(--accent); border-top-width: 7px; border-radius: 3px; }
.empty h2 { margin-bottom: .35rem; }
.empty p { color: var(--muted); margin: 0 auto 1.1rem; max-width: 28rem; }
.skeleton { height: 4.8rem; border-radius: 12px; background: linear-gradient(90deg, var(--surface-2), var(--line), var(--surface-2)); background-size: 200% 100%; animation: shimmer 1.4s ease-in-out infinite; }
@keyframes shimmer { to { background-position: -200% 0; } }

.toolbar { display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; margin-top: 1.5rem; padding-top: 1.25rem; border-top: 1px solid var(--line); }
.toolbar .spacer { flex: 1; }
.footnote { color: var(--muted); font-size: .82rem; margin: 1.25rem 0 0; }

dialog { border: 1px solid var(--line); border-radius: var(--radius); padding: 1.5rem; max-width: 26rem; background: var(--surface); color: var(--ink); box-shadow: var(--shadow); }
dialog::backdrop { background: rgba(15, 20, 30, .45); }
dialog h2 { margin-bottom: .5rem; }
dialog p { color: var(--muted); }
dialog .row { justify-content: flex-end; margin-top: 1.25rem; }

/* Sign-in (demo) */
.card:has(.sign-in) { max-width: 27rem; }
.sign-in form p { margin: 0 0 1rem; }
.sign-in button[type=submit] { width: 100%; }
.field-hint { font-size: .85rem; color: var(--muted); margin-top: .35rem; }
.alert { padding: .6rem .8rem; border-radius: 10px; background: var(--bad-soft); color: var(--bad); }
`;
