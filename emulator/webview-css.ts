/** The webview's stylesheet, served at `/static/webview.css`. */
export const WEBVIEW_CSS = `:root {
  --ink: #1b2430;
  --muted: #5d6b7a;
  --line: #dde3ea;
  --brand: #0f62fe;
  --brand-dark: #0b4bc4;
  --bg: #f3f6fa;
  --danger: #b42318;
  --ok: #067647;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: var(--ink);
  background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; flex-direction: column; align-items: center; padding: 2rem 1rem; }
.card { width: 100%; max-width: 30rem; background: #fff; border: 1px solid var(--line); border-radius: 16px; padding: 1.5rem 1.75rem 1.75rem; box-shadow: 0 12px 32px rgba(16, 24, 40, 0.08); }
.brand { display: flex; align-items: center; justify-content: space-between; margin: -0.25rem 0 1.5rem; padding-bottom: 1rem; border-bottom: 1px solid var(--line); }
.logo { display: inline-flex; align-items: center; gap: 0.45rem; font-weight: 800; font-size: 1.3rem; letter-spacing: -0.03em; color: var(--ink); }
.logo-mark { width: 1.35rem; height: 1.35rem; border-radius: 50%; border: 0.3rem solid var(--brand); }
.secure { display: inline-flex; align-items: center; gap: 0.35rem; font-size: 0.78rem; color: var(--ok); font-weight: 600; }
.secure::before { content: ""; width: 0.5rem; height: 0.5rem; border-radius: 50%; background: currentColor; box-shadow: 0 0 0 3px #dcfae6; }
.badge { font-size: 0.7rem; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); border: 1px solid var(--line); border-radius: 999px; padding: 0.15rem 0.6rem; }
h1 { font-size: 1.25rem; margin: 0 0 0.5rem; }
.lead { color: var(--muted); margin: 0 0 1.25rem; }
fieldset { border: 0; padding: 0; margin: 0 0 1.25rem; }
legend { font-weight: 700; margin-bottom: 0.6rem; display: flex; align-items: center; gap: 0.5rem; }
.step { width: 1.4rem; height: 1.4rem; border-radius: 50%; background: var(--brand); color: #fff; font-size: 0.78rem; display: inline-flex; align-items: center; justify-content: center; }
.bank-list { list-style: none; margin: 0; padding: 0; display: grid; gap: 0.5rem; }
.bank { display: flex; align-items: center; gap: 0.75rem; border: 1px solid var(--line); border-radius: 10px; padding: 0.65rem 0.8rem; cursor: pointer; transition: border-color 0.15s, background 0.15s; }
.bank:hover { border-color: var(--brand); }
.bank:has(input:checked) { border-color: var(--brand); background: #f0f5ff; box-shadow: 0 0 0 1px var(--brand); }
.bank:has(input:checked)::after { content: "\\2713"; margin-left: auto; color: var(--brand); font-weight: 800; }
.bank input { accent-color: var(--brand); margin: 0; }
.bank-logo { width: 2.25rem; height: 2.25rem; border-radius: 8px; display: inline-flex; align-items: center; justify-content: center; color: #fff; font-weight: 800; flex: none; }
.bank-text { display: flex; flex-direction: column; line-height: 1.25; }
.bank-logo-0 { background: #0055a4; }
.bank-logo-1 { background: #7a7a7a; }
.bank-logo-2 { background: #c0392b; }
.bank-logo-3 { background: #16a085; }
.bank-name { font-weight: 600; }
.bank-meta { color: var(--muted); font-size: 0.8rem; }
.field { display: flex; flex-direction: column; gap: 0.3rem; margin-bottom: 0.9rem; }
.field label { font-weight: 600; font-size: 0.9rem; }
.field input { font: inherit; padding: 0.65rem 0.75rem; border: 1px solid var(--line); border-radius: 8px; }
.field input:focus { outline: 2px solid var(--brand); outline-offset: 1px; }
.hint, .terms { color: var(--muted); font-size: 0.82rem; margin: 0 0 1rem; }
.actions { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin-top: 1rem; }
.actions-stacked { flex-direction: column; align-items: stretch; }
.actions-secondary { display: flex; justify-content: space-between; align-items: center; }
.btn-block { width: 100%; padding: 0.75rem 1rem; font-size: 1.02rem; }
button { font: inherit; border-radius: 6px; padding: 0.55rem 1.1rem; cursor: pointer; border: 1px solid var(--line); background: #fff; color: var(--ink); }
.btn-primary { background: var(--brand); border-color: var(--brand); color: #fff; font-weight: 600; }
.btn-primary:hover { background: var(--brand-dark); }
.btn-danger { color: var(--danger); border-color: #f3c3bd; }
.btn-link { border: 0; background: none; color: var(--muted); text-decoration: underline; padding-left: 0.25rem; }
.connections { list-style: none; margin: 0 0 1rem; padding: 0; display: grid; gap: 0.5rem; }
.connection { display: flex; align-items: center; gap: 0.75rem; border: 1px solid var(--line); border-radius: 8px; padding: 0.6rem 0.75rem; }
.connection-info { display: flex; flex-direction: column; }
.connection-state { font-size: 0.8rem; color: var(--muted); }
.connection-state-error { color: var(--danger); }
.connection .btn-danger { margin-left: auto; }
.empty { color: var(--muted); }
.notice { color: var(--ok); background: #ecfdf3; border-radius: 6px; padding: 0.5rem 0.75rem; }
.form-error, .error-message { color: var(--danger); background: #fef3f2; border-radius: 6px; padding: 0.5rem 0.75rem; }
.error-status { color: var(--muted); font-size: 0.85rem; }
.emulator-note { margin-top: 1rem; font-size: 0.72rem; color: var(--muted); text-align: center; }
.bank-only { cursor: default; margin-bottom: 1.25rem; }
.bank-only:hover { border-color: var(--line); }
.test-logins { border-top: 1px dashed var(--line); padding-top: 0.75rem; margin-top: 0.25rem; }
ul.hint { padding-left: 1.1rem; }
ul.hint li { margin-bottom: 0.2rem; }
.notice + form, .form-error + form { margin-top: 1rem; }
code { font-size: 0.85em; background: var(--bg); padding: 0.05rem 0.3rem; border-radius: 4px; }
`;
