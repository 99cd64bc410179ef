/**
 * Static assets served from memory (built into dist/ with the code, no copy step). Each has a
 * fixed content type; nothing here is generated from input.
 */
export const APP_CSS = `
:root { color-scheme: light dark; --accent: #2f5bea; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #6e7781; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f4f6fb; color: #1f2328; }
@media (prefers-color-scheme: dark) { body { background: #0d1117; color: #e6edf3; } .card { background: #161b22 !important; } }
.card { max-width: 44rem; margin: 3rem auto; padding: 2rem; background: #fff; border-radius: 12px; box-shadow: 0 2px 16px rgba(0,0,0,.08); }
h1 { font-size: 1.4rem; margin-top: 0; }
.message { font-size: 1.05rem; }
.reference { color: var(--muted); font-size: .85rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
a.button, button { display: inline-block; padding: .55rem 1rem; border-radius: 8px; border: 0; background: var(--accent); color: #fff; font: inherit; text-decoration: none; cursor: pointer; }
button.secondary, a.button.secondary { background: transparent; color: var(--accent); border: 1px solid var(--accent); }
button.danger { background: var(--bad); }
input[type=text] { padding: .5rem; border-radius: 6px; border: 1px solid #c9d1d9; font: inherit; width: 100%; }
form.inline { display: inline; }
.row { display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; }
.muted { color: var(--muted); }
ul.connections { list-style: none; padding: 0; }
ul.connections li { display: flex; justify-content: space-between; align-items: center; gap: 1rem; padding: .75rem 0; border-bottom: 1px solid rgba(127,127,127,.2); }
.badge { display: inline-block; padding: .1rem .6rem; border-radius: 999px; font-size: .8rem; font-weight: 600; color: #fff; }
.badge.ok { background: var(--ok); }
.badge.syncing { background: var(--accent); }
.badge.action_needed { background: var(--warn); }
.badge.temporary_error { background: var(--bad); }
.badge.unknown { background: var(--muted); }
.hidden { display: none; }
`;
