/* Account console for auth-service, served under /console/ by the `console` function.
 *
 * Design, in brief:
 * - One static page: index.html loads this module, which routes on location.pathname under
 *   /console/ (history.pushState; same-origin <a href="/console/..."> clicks are intercepted,
 *   popstate re-renders). No build step, no dependencies.
 * - Same-origin JSON API. The access token lives only in memory (`session.access`); the refresh
 *   token is the API's HttpOnly cookie (token_transport "cookie"), so a page load starts with
 *   POST /auth/refresh {}.
 * - api() always sends X-Requested-With: console, Content-Type only with a body, and the Bearer
 *   token on protected routes. A 401, or the gateway's plain-JSON 403, gets one cookie refresh and
 *   one retry; when the refresh fails the session is over: to /console/signin with a notice.
 *   A problem+json 403 (`forbidden`, `invalid_credentials`, ...) is an ordinary error.
 * - Errors show the problem's `detail` in #error (role=alert) and its `errors[]` beside the
 *   fields they name (or listed when no field matches).
 * - The DOM is built with el() (createElement + text nodes): API data never reaches innerHTML.
 * - body[data-state] is "busy" while a request, an action or a page render runs (track()), and
 *   "ready" otherwise; the browser tests wait for it.
 */

const ENDED = 'Your session has ended. Sign in again.';
const PASSWORD_HINT =
  'At least 10 characters. A few unrelated words work well; avoid common passwords and your email address.';
const $ = (selector, root = document) => root.querySelector(selector);
const enc = encodeURIComponent;

const session = { access: null, claims: {}, navKey: '', mfaToken: null, ending: null };
let pending = 0; // requests, actions and renders under way
let renderGen = 0; // bumped by every render; an older render stops touching the page
let booted = false;
let uid = 0;
let refreshing = null;
let timers = [];

class ApiError extends Error {
  constructor(status, problem, headers = null) {
    super(problem.detail || 'Something went wrong.');
    Object.assign(this, { status, problem, headers, code: problem.code });
  }
}
/** Thrown after the app has moved to sign-in because the session could not be renewed. */
class SessionEnded extends Error {}

// ------------------------------------------------------------------------------------------
// DOM helpers

/** createElement with attributes, `on<event>` listeners, `data` (dataset) and children. */
function el(tag, props = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'data') {
      for (const [k, v] of Object.entries(value)) if (v != null) node.dataset[k] = v;
    } else node.setAttribute(key, value === true ? '' : String(value));
  }
  node.append(...kids.flat(Infinity).filter((kid) => kid != null && kid !== false && kid !== ''));
  return node;
}

const heading = (text) => el('h1', { tabindex: '-1' }, text);
const section = (title, ...kids) => el('section', {}, el('h2', {}, title), ...kids);
const link = (href, text, id) => el('a', { href, id }, text);
const yesNo = (flag) => (flag ? 'yes' : 'no');

function when(iso, missing = 'never') {
  if (!iso) return missing;
  const date = new Date(iso);
  return el('time', { datetime: iso }, Number.isNaN(date.getTime()) ? iso : date.toLocaleString());
}

/** A table in a horizontally scrollable, focusable region. */
function table(id, label, headers, tbody) {
  const head = el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)));
  return el('div', { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: '0' },
    el('table', { id }, el('thead', {}, head), tbody));
}

/** A labelled input (or textarea), its hint, and room for its field error. */
function field(label, name, opts = {}) {
  const { value = '', hint, multiline, type = 'text', ...attrs } = opts;
  const id = `f${++uid}-${name}`;
  const hintId = hint ? `${id}-hint` : null;
  const input = el(multiline ? 'textarea' : 'input',
    { id, name, type: multiline ? null : type, 'aria-describedby': hintId, ...attrs });
  input.value = value;
  return el('div', { class: 'field' },
    el('label', { for: id }, label), hint && el('p', { class: 'hint', id: hintId }, hint), input);
}

/**
 * A form whose submit runs `onSubmit(values, form, button)` as a tracked action: the alert and
 * notice are cleared first, the button is disabled meanwhile, and a failure is shown by fail().
 * `aliases` maps an API field name to the input's name when they differ.
 */
function form(id, fields, submitText, onSubmit, { aliases = {}, extra = null } = {}) {
  const button = el('button', { type: 'submit' }, submitText);
  const node = el('form', { id, novalidate: true }, fields, el('div', { class: 'actions' }, button, extra));
  node.addEventListener('submit', (event) => {
    event.preventDefault();
    if (button.disabled) return;
    clearFieldErrors(node);
    setAlert();
    setNotice();
    button.disabled = true;
    track(async () => {
      try {
        await onSubmit(Object.fromEntries(new FormData(node)), node, button);
      } catch (err) {
        fail(err, node, aliases);
      } finally {
        if (!button.dataset.waiting) button.disabled = false;
      }
    });
  });
  return node;
}

/** Runs a button's action like a form submit: tracked, messages cleared, failures shown. */
function act(action, button = null) {
  setAlert();
  setNotice();
  if (button) button.disabled = true;
  return track(async () => {
    try {
      await action();
    } catch (err) {
      fail(err);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

function setAlert(...nodes) {
  $('#error').replaceChildren(...nodes.filter(Boolean));
}

function setNotice(text = '', ...more) {
  $('#notice').replaceChildren(...(text ? [el('p', {}, text, ...more)] : []));
}

function fieldError(input, message) {
  const id = `${input.id}-error`;
  let note = document.getElementById(id);
  if (!note) {
    note = el('p', { class: 'field-error', id });
    input.closest('.field').append(note);
    input.setAttribute('aria-describedby',
      [input.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
  }
  note.textContent = note.textContent ? `${note.textContent} ${message}` : message;
  input.setAttribute('aria-invalid', 'true');
}

function clearFieldErrors(formNode) {
  for (const input of formNode.querySelectorAll('[aria-invalid]')) {
    input.removeAttribute('aria-invalid');
    const rest = (input.getAttribute('aria-describedby') || '').split(' ').filter((t) => t && !t.endsWith('-error'));
    if (rest.length) input.setAttribute('aria-describedby', rest.join(' '));
    else input.removeAttribute('aria-describedby');
  }
  for (const note of formNode.querySelectorAll('.field-error')) note.remove();
}

/** Shows a failure: the problem's detail in #error, its field errors beside the fields. */
function fail(err, formNode = null, aliases = {}) {
  if (err instanceof SessionEnded) return;
  if (!(err instanceof ApiError)) console.error(err);
  const problem = err instanceof ApiError ? err.problem : { detail: 'Something went wrong. Try again.' };
  const loose = [];
  for (const { field: name = '', message = '' } of problem.errors || []) {
    const base = String(name).split(/[.[]/)[0];
    const input = formNode?.elements.namedItem(aliases[base] || base);
    if (input instanceof Element && input.closest('.field')) fieldError(input, message);
    else loose.push(name ? `${name}: ${message}` : message);
  }
  setAlert(el('p', {}, problem.detail || problem.title || 'Something went wrong.'),
    loose.length ? el('ul', {}, loose.map((text) => el('li', {}, text))) : null);
}

/** The wait after a 429 at sign-in: a countdown notice, the submit button disabled until it ends. */
function waitOut(button, err) {
  let left = Math.max(1, parseInt(err.headers?.get('retry-after') || '', 10) || 60);
  const count = el('span', { 'aria-live': 'off' });
  const show = () => { count.textContent = `${left} second${left === 1 ? '' : 's'}`; };
  show();
  setNotice('Too many attempts. Try again in ', count, '.');
  button.disabled = true;
  button.dataset.waiting = 'true';
  const timer = setInterval(() => {
    left -= 1;
    if (left > 0 && button.isConnected) return show();
    clearInterval(timer);
    delete button.dataset.waiting;
    button.disabled = false;
    if (count.isConnected) setNotice();
  }, 1000);
  timers.push(timer);
}

/** Parses the QR code's SVG (from our own API) into nodes, without scripts, styles or links. */
function qrCode(svgText) {
  const svg = new DOMParser().parseFromString(String(svgText), 'image/svg+xml').documentElement;
  if (svg.localName !== 'svg') return el('p', {}, 'The QR code could not be shown; type the key instead.');
  for (const bad of svg.querySelectorAll('script, style, foreignObject, a, use, image')) bad.remove();
  for (const node of [svg, ...svg.querySelectorAll('*')]) {
    for (const attr of [...node.attributes]) {
      if (/^on|href$|^style$/i.test(attr.name)) node.removeAttribute(attr.name);
    }
  }
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'QR code for your authenticator app');
  svg.setAttribute('class', 'qr');
  return document.importNode(svg, true);
}

/** The shared <dialog id="confirm">; `action` runs (tracked) only on #confirm-yes. */
function confirmThen(text, yesText, action) {
  const dialog = $('#confirm');
  $('#confirm-text').textContent = text;
  $('#confirm-yes').textContent = yesText;
  $('#confirm-yes').onclick = () => { dialog.close(); act(action); };
  $('#confirm-no').onclick = () => dialog.close();
  dialog.showModal();
}

// ------------------------------------------------------------------------------------------
// Busy state, session and API

function setState() {
  document.body.dataset.state = pending > 0 ? 'busy' : 'ready';
}

/** Counts `work` (a function or a promise) as busy until it settles. */
async function track(work) {
  pending += 1;
  setState();
  try {
    return await (typeof work === 'function' ? work() : work);
  } finally {
    pending -= 1;
    setState();
  }
}

function claimsOf(token) {
  try {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) || {};
  } catch {
    return {};
  }
}

function can(permission) {
  const list = session.claims.entitlements;
  return (Array.isArray(list) ? list : String(list || '').split(/[\s,]+/)).includes(permission);
}

function setToken(token) {
  session.access = token || null;
  session.claims = token ? claimsOf(token) : {};
  if (token) session.ending = null;
  renderNav();
}

const expiresSoon = () =>
  typeof session.claims.exp === 'number' && session.claims.exp * 1000 < Date.now() + 10_000;

async function request(method, path, body, token) {
  const headers = { 'X-Requested-With': 'console' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, { detail: 'The service could not be reached. Check your connection and try again.' });
  }
  const type = res.headers.get('content-type') || '';
  let data = null;
  const text = res.status === 204 ? '' : await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  return { res, data, problem: type.includes('problem+json') && data !== null };
}

function unwrap({ res, data, problem }) {
  if (res.ok) return data ?? {};
  let body = problem ? data : null;
  if (!body) {
    const detail = res.status === 403 ? 'You are not allowed to do this.'
      : res.status === 404 ? 'Not found.'
        : data?.message ? `The request failed: ${data.message}.` : `The request failed (HTTP ${res.status}).`;
    body = { detail };
  }
  throw new ApiError(res.status, body, res.headers);
}

/** A 401, or the gateway's own 403 (`{"message":"Forbidden"}`, not problem+json). */
const denied = ({ res, problem }) => res.status === 401 || (res.status === 403 && !problem);

/** One cookie refresh at a time; resolves true when a new access token is in memory. */
function refresh() {
  refreshing ??= request('POST', '/auth/refresh', {})
    .then(({ res, data }) => {
      const ok = res.ok && typeof data?.access_token === 'string';
      setToken(ok ? data.access_token : null);
      return ok;
    })
    .catch(() => false)
    .finally(() => { refreshing = null; });
  return track(refreshing);
}

/** The session could not be renewed: drop it, go to sign-in (once), stop the caller. */
async function ended() {
  if (!session.ending) {
    setToken(null);
    session.ending = go('/console/signin', { notice: ENDED });
  }
  await session.ending;
  throw new SessionEnded();
}

/** Calls the API; protected calls (auth) carry the token and survive one refresh. */
function api(method, path, body, { auth = true } = {}) {
  return track(async () => {
    if (!auth) return unwrap(await request(method, path, body));
    if (!session.access || expiresSoon()) await refresh();
    if (!session.access) return ended();
    const sent = session.access;
    let result = await request(method, path, body, sent);
    if (denied(result)) {
      // Another call may have refreshed meanwhile: then retry with its token.
      if (session.access === sent && !(await refresh())) return ended();
      if (!session.access) return ended();
      result = await request(method, path, body, session.access);
    }
    return unwrap(result);
  });
}

/** Ends the cookie's session and clears the cookie; never fails. */
async function logoutCookie() {
  try {
    await api('POST', '/auth/logout', {}, { auth: false });
  } catch {
    /* 204 whatever the token; nothing to tell the user */
  }
}

async function signedIn(tokens, path = '/console/account', notice = '') {
  setToken(tokens.access_token);
  session.mfaToken = null;
  await go(path, { notice });
}

function signOut() {
  act(async () => {
    await logoutCookie();
    setToken(null);
    await go('/console/signin', { notice: 'You are signed out.' });
  });
}

// ------------------------------------------------------------------------------------------
// Navigation

function renderNav() {
  const nav = $('#nav');
  const admin = !!session.access && can('auth.users.read');
  const key = `${!!session.access}/${admin}`;
  if (key !== session.navKey) {
    session.navKey = key;
    const items = session.access
      ? [
        link('/console/account', 'Account', 'nav-account'),
        admin && link('/console/admin/users', 'Users', 'nav-admin-users'),
        admin && link('/console/admin/roles', 'Roles', 'nav-admin-roles'),
        el('button', { type: 'button', id: 'signout', class: 'link', onclick: signOut }, 'Sign out'),
      ]
      : [link('/console/signin', 'Sign in', 'nav-signin'), link('/console/register', 'Create account', 'nav-register')];
    nav.replaceChildren(el('ul', {}, items.filter(Boolean).map((item) => el('li', {}, item))));
  }
  for (const a of nav.querySelectorAll('a')) {
    const here = location.pathname === a.pathname || location.pathname.startsWith(`${a.pathname}/`);
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function go(path, { notice = '', replace = false } = {}) {
  history[replace ? 'replaceState' : 'pushState'](null, '', path);
  return track(() => render(notice));
}

function safeDecode(text) {
  try { return decodeURIComponent(text); } catch { return text; }
}

async function render(notice = '') {
  const gen = ++renderGen;
  timers.forEach(clearInterval);
  timers = [];
  if ($('#confirm').open) $('#confirm').close();
  setAlert();
  setNotice(notice);
  renderNav();
  const path = location.pathname.replace(/\/+$/, '') || '/';
  if (path !== '/console/signin') session.mfaToken = null;
  let view = notFoundPage;
  let params = [];
  for (const [pattern, page] of routes) {
    const match = pattern.exec(path);
    if (match) {
      view = page;
      params = match.slice(1).map(safeDecode);
      break;
    }
  }
  const page = el('div', { class: 'page' });
  $('#page').replaceChildren(page);
  try {
    await view(page, ...params);
  } catch (err) {
    if (gen === renderGen) fail(err);
  }
  if (gen !== renderGen) return;
  const h1 = $('h1', page);
  document.title = h1 ? `${h1.textContent} · Account console` : 'Account console';
  if (booted) h1?.focus();
}

/** A page that needs a session: without one, go to sign-in. */
async function requireSession() {
  if (session.access) return true;
  await go('/console/signin', { replace: true });
  return false;
}

/** The `token` of an emailed link, removed from the address bar at once. */
function takeToken() {
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  if (params.has('token')) {
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : ''));
  }
  return token;
}

function missingToken(page, ...more) {
  setAlert(el('p', {}, 'This link is incomplete. Open the link from your email again.'));
  page.append(...more);
}

// ------------------------------------------------------------------------------------------
// Pages: signed out

function homePage() {
  return go(session.access ? '/console/account' : '/console/signin', { replace: true });
}

function signinPage(page) {
  if (session.mfaToken) return mfaStep(page);
  page.append(
    heading('Sign in'),
    form('signin-form', [
      field('Email', 'email', { type: 'email', autocomplete: 'username', spellcheck: 'false' }),
      field('Password', 'password', { type: 'password', autocomplete: 'current-password' }),
    ], 'Sign in', async (values, _form, button) => {
      try {
        const body = { email: values.email.trim(), password: values.password, token_transport: 'cookie' };
        await signedIn(await api('POST', '/auth/login', body, { auth: false }));
      } catch (err) {
        if (err.code === 'mfa_required' && err.problem.mfa_token) {
          session.mfaToken = err.problem.mfa_token;
          return go('/console/signin', { replace: true });
        }
        if (err.status === 429) return waitOut(button, err);
        throw err;
      }
    }),
    el('p', { class: 'links' },
      link('/console/forgot-password', 'Forgot your password?', 'link-forgot'), ' ',
      link('/console/register', 'Create an account', 'link-register')),
  );
}

/** The second step of a sign-in with two-factor on: a TOTP code or a recovery code. */
function mfaStep(page) {
  const startOver = el('button', {
    type: 'button', id: 'mfa-cancel', class: 'secondary',
    onclick: () => { session.mfaToken = null; track(() => go('/console/signin', { replace: true })); },
  }, 'Start over');
  page.append(
    heading('Two-factor authentication'),
    el('p', {}, 'Enter the six-digit code from your authenticator app. If you lost it, use one of your recovery codes instead.'),
    form('mfa-form', [
      field('Authentication code', 'code', { inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6' }),
      field('Or a recovery code', 'recovery_code', { autocomplete: 'off', spellcheck: 'false', hint: 'Like abcd-efgh-jkmn. Each works once.' }),
    ], 'Verify', async (values, _form, button) => {
      const body = { mfa_token: session.mfaToken, token_transport: 'cookie' };
      const code = values.code.trim();
      const recovery = values.recovery_code.trim();
      if (code || !recovery) body.code = code;
      else body.recovery_code = recovery;
      try {
        await signedIn(await api('POST', '/auth/mfa/verify', body, { auth: false }));
      } catch (err) {
        if (err.status === 429) return waitOut(button, err);
        if (err.code === 'invalid_token') {
          // The challenge is dead (used, expired, too many wrong codes): back to the password.
          session.mfaToken = null;
          await go('/console/signin', { replace: true });
          return fail(err);
        }
        throw err;
      }
    }, { extra: startOver }),
  );
}

function registerPage(page) {
  page.append(
    heading('Create an account'),
    form('register-form', [
      field('Email', 'email', { type: 'email', autocomplete: 'email', spellcheck: 'false' }),
      field('Password', 'password', { type: 'password', autocomplete: 'new-password', hint: PASSWORD_HINT }),
      field('Display name (optional)', 'name', { autocomplete: 'name' }),
    ], 'Create account', async (values) => {
      const body = { email: values.email.trim(), password: values.password, name: values.name.trim() || null };
      await api('POST', '/auth/register', body, { auth: false });
      await go('/console/signin', { notice: 'Account created. Check your email to verify your address, then sign in.' });
    }),
    el('p', { class: 'links' }, 'Already have an account? ', link('/console/signin', 'Sign in')),
  );
}

function forgotPage(page) {
  page.append(
    heading('Forgot your password?'),
    el('p', {}, 'Enter your email address and we will send you a link to choose a new password.'),
    form('forgot-form', [field('Email', 'email', { type: 'email', autocomplete: 'email', spellcheck: 'false' })],
      'Send reset link', async (values, formNode) => {
        await api('POST', '/auth/password/forgot', { email: values.email.trim() }, { auth: false });
        formNode.reset();
        setNotice('If an account exists for that address, we sent a link to reset its password.');
      }),
    el('p', { class: 'links' }, link('/console/signin', 'Back to sign in')),
  );
}

function resetPage(page) {
  page.append(heading('Choose a new password'));
  const token = takeToken();
  if (!token) return missingToken(page, el('p', {}, link('/console/forgot-password', 'Ask for a new link')));
  page.append(form('reset-form', [
    field('New password', 'password', { type: 'password', autocomplete: 'new-password', hint: PASSWORD_HINT }),
  ], 'Change password', async (values) => {
    await api('POST', '/auth/password/reset', { token, new_password: values.password }, { auth: false });
    setToken(null); // a reset ends every session
    await go('/console/signin', { notice: 'Password changed. Sign in with your new password.' });
  }, { aliases: { new_password: 'password' } }));
}

/**
 * A page behind an emailed link. Opening it spends nothing: it says what the link will do and
 * POSTs the token only on a click of its button, so a mail scanner that opens links (scripts
 * and all) confirms nothing the owner was told to ignore.
 */
function linkPage(page, { title, explain, formId, button, path, notice, after }) {
  page.append(heading(title));
  const token = takeToken();
  if (!token) return missingToken(page);
  const status = el('div', { id: 'link-status' }, explain.map((text) => el('p', {}, text)));
  const node = form(formId, [], button, async () => {
    try {
      await api('POST', path, { token }, { auth: false });
    } catch (err) {
      status.replaceChildren(el('p', {}, 'This link did not work. It may have expired, or been used already.'));
      throw err;
    }
    node.remove();
    status.replaceChildren(el('p', {}, ...after()));
    setNotice(notice);
  });
  page.append(status, node);
}

function verifyEmailPage(page) {
  return linkPage(page, {
    title: 'Verify your email address',
    explain: [
      'Confirm that this address belongs to the account registered with it.',
      'If you did not create an account, do not confirm: use "Forgot your password?" on the sign-in page instead. '
        + 'Resetting the password of an account whose address was never verified removes everything its registrant set up.',
    ],
    formId: 'verify-email-form',
    button: 'Verify this address',
    path: '/auth/email/verify',
    notice: 'Your email address is verified.',
    after: () => [session.access ? link('/console/account', 'Go to your account') : link('/console/signin', 'Sign in')],
  });
}

function confirmEmailPage(page) {
  return linkPage(page, {
    title: 'Confirm your new email address',
    explain: [
      'Confirming moves your account to this address: you sign in with it from now on, and every session of the account ends.',
      'If you did not ask for this change, close this page: nothing changes.',
    ],
    formId: 'confirm-email-form',
    button: 'Move my account to this address',
    path: '/auth/email/confirm-change',
    notice: 'Your new email address is confirmed.',
    after: () => {
      setToken(null); // the change ended every session
      return ['Every session of your account has ended. ', link('/console/signin', 'Sign in with your new address'), '.'];
    },
  });
}

function notFoundPage(page) {
  page.append(heading('Not found'), el('p', {}, 'There is no page at this address. ',
    link('/console/account', 'Go to your account'), '.'));
}

// ------------------------------------------------------------------------------------------
// Pages: your account

async function accountPage(page) {
  if (!(await requireSession())) return;
  page.append(heading('Your account'));
  const [me, { sessions = [] }] = await Promise.all([api('GET', '/me'), api('GET', '/me/sessions')]);
  if (!page.isConnected) return;

  const resend = el('button', {
    type: 'button', id: 'resend-verification', class: 'secondary', hidden: me.email_verified,
    onclick: () => act(async () => {
      await api('POST', '/me/email/verification');
      setNotice('We sent a new verification link to your address.');
    }, resend),
  }, 'Resend verification email');

  page.append(
    section('Profile',
      el('dl', { class: 'facts' },
        el('dt', {}, 'Email'), el('dd', { id: 'profile-email' }, me.email),
        el('dt', {}, 'Name'), el('dd', { id: 'profile-name' }, me.name || ''),
        el('dt', {}, 'Email verified'), el('dd', { id: 'profile-verified' }, yesNo(me.email_verified)),
        el('dt', {}, 'Roles'), el('dd', { id: 'profile-roles' }, (me.roles || []).join(', ')),
        el('dt', {}, 'Member since'), el('dd', {}, when(me.created_at, ''))),
      el('div', { class: 'actions' }, resend),
      form('name-form', [field('Display name', 'name', { value: me.name || '', autocomplete: 'name', hint: 'Leave it empty to remove it.' })],
        'Save name', async (values) => {
          const profile = await api('PATCH', '/me', { name: values.name.trim() || null });
          $('#profile-name').textContent = profile.name || '';
          setNotice('Name saved.');
        })),
    section('Password',
      form('password-form', [
        field('Current password', 'current_password', { type: 'password', autocomplete: 'current-password' }),
        field('New password', 'new_password', { type: 'password', autocomplete: 'new-password', hint: PASSWORD_HINT }),
      ], 'Change password', (values) => changePassword(me.email, values))),
    section('Email address',
      el('p', {}, 'We send a confirmation link to the new address; the change happens when you open it.'),
      form('email-form', [
        field('New email address', 'new_email', { type: 'email', autocomplete: 'email', spellcheck: 'false' }),
        field('Current password', 'email_password', { type: 'password', autocomplete: 'current-password' }),
      ], 'Change email', async (values, formNode) => {
        await api('POST', '/me/email', { new_email: values.new_email.trim(), current_password: values.email_password });
        formNode.reset();
        setNotice('We sent a confirmation link to the new address. Open it to finish the change.');
      }, { aliases: { current_password: 'email_password' } })),
    sessionsSection(sessions),
    twoFactorSection(),
  );
}

/** POST /me/password ends every session, this one too: sign in again with the new password. */
async function changePassword(email, values) {
  await api('POST', '/me/password', { current_password: values.current_password, new_password: values.new_password });
  setToken(null);
  try {
    const body = { email, password: values.new_password, token_transport: 'cookie' };
    const tokens = await api('POST', '/auth/login', body, { auth: false });
    await signedIn(tokens, '/console/account', 'Password changed.');
  } catch (err) {
    if (err.code === 'mfa_required' && err.problem.mfa_token) {
      session.mfaToken = err.problem.mfa_token; // the sign-in page opens at the code step
      return go('/console/signin', { notice: 'Password changed.' });
    }
    await go('/console/signin', { notice: 'Password changed. Sign in with your new password.' });
  }
}

function sessionsSection(sessions) {
  const tbody = el('tbody');
  for (const s of sessions) {
    const end = el('button', { type: 'button', class: 'end-session secondary' }, 'End session');
    const row = el('tr', { data: { sid: s.id, current: s.current ? 'true' : null } },
      el('td', {}, s.user_agent || 'Unknown device', s.current && el('span', { class: 'tag' }, 'This session')),
      el('td', {}, s.source_ip || 'unknown'),
      el('td', {}, when(s.created_at, 'unknown')),
      el('td', {}, when(s.last_used_at, 'unknown')),
      el('td', {}, end));
    end.addEventListener('click', () => act(async () => {
      await api('DELETE', `/me/sessions/${enc(s.id)}`);
      if (s.current) {
        await logoutCookie();
        setToken(null);
        return go('/console/signin', { notice: 'You are signed out.' });
      }
      row.remove();
      setNotice('Session ended.');
    }, end));
    tbody.append(row);
  }
  const everywhere = el('button', {
    type: 'button', id: 'signout-everywhere', class: 'danger',
    onclick: () => act(async () => {
      await api('DELETE', '/me/sessions');
      await logoutCookie();
      setToken(null);
      await go('/console/signin', { notice: 'Signed out everywhere.' });
    }, everywhere),
  }, 'Sign out everywhere');
  return section('Sessions',
    el('p', {}, 'Where your account is signed in. Ending a session signs that device out.'),
    table('sessions', 'Sessions', ['Device', 'IP address', 'Signed in', 'Last used', 'Action'], tbody),
    el('div', { class: 'actions' }, everywhere));
}

function twoFactorSection() {
  const output = el('div', { id: 'mfa-output' });
  const enrol = form('mfa-enrol-form', [
    field('Current password', 'mfa_password', { type: 'password', autocomplete: 'current-password' }),
  ], 'Set up an authenticator app', async (values, formNode) => {
    const setup = await api('POST', '/me/mfa/totp', { current_password: values.mfa_password });
    formNode.reset();
    output.replaceChildren(
      el('p', {}, 'Scan this QR code with your authenticator app, or type the key into it. Then enter the code it shows.'),
      qrCode(setup.qr_svg),
      el('p', {}, 'Key: ', el('code', { id: 'mfa-secret' }, setup.secret)),
      form('mfa-confirm-form', [
        field('Code from the app', 'totp_code', { inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6' }),
      ], 'Turn on two-factor', async (v) => {
        const { recovery_codes: codes = [] } = await api('POST', '/me/mfa/totp/confirm', { code: v.totp_code.trim() });
        output.replaceChildren(
          el('p', {}, 'Save these recovery codes somewhere safe. Each works once, and they are shown only now.'),
          el('ul', { id: 'recovery-codes', class: 'codes' }, codes.map((c) => el('li', {}, el('code', {}, c)))));
        setNotice('Two-factor authentication is on.');
      }, { aliases: { code: 'totp_code' } }));
  }, { aliases: { current_password: 'mfa_password' } });
  const disable = form('mfa-disable-form', [
    field('Current password', 'mfa_off_password', { type: 'password', autocomplete: 'current-password' }),
    field('Code from the app', 'mfa_off_code', { inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6' }),
  ], 'Turn off two-factor', async (values, formNode) => {
    await api('DELETE', '/me/mfa/totp', { current_password: values.mfa_off_password, code: values.mfa_off_code.trim() });
    formNode.reset();
    output.replaceChildren();
    setNotice('Two-factor authentication is off.');
  }, { aliases: { current_password: 'mfa_off_password', code: 'mfa_off_code' } });
  return section('Two-factor authentication',
    el('p', {}, 'With two-factor on, signing in also asks for a code from an authenticator app.'),
    el('details', {}, el('summary', {}, 'Turn on'), enrol, output),
    el('details', {}, el('summary', {}, 'Turn off'), disable));
}

// ------------------------------------------------------------------------------------------
// Pages: administration

function userRow(user) {
  return el('tr', { data: { userId: user.id } },
    el('td', {}, el('a', { class: 'user-link', href: `/console/admin/users/${enc(user.id)}` }, user.email)),
    el('td', {}, user.name || ''),
    el('td', {}, user.active ? 'active' : 'disabled'),
    el('td', {}, (user.roles || []).join(', ')),
    el('td', {}, when(user.created_at, '')));
}

async function usersPage(page) {
  if (!(await requireSession())) return;
  const limit = new URLSearchParams(location.search).get('limit');
  const tbody = el('tbody');
  let email = '';
  let current = null; // cursor of the page shown (null: the first)
  let nextCursor = null;
  let previous = []; // cursors of the pages before it
  const next = el('button', { type: 'button', id: 'next-page', class: 'secondary', hidden: true }, 'Next page');
  const prev = el('button', { type: 'button', id: 'prev-page', class: 'secondary', hidden: true }, 'Previous page');

  async function load(cursor) {
    const query = new URLSearchParams();
    if (limit) query.set('limit', limit);
    if (email) query.set('email', email);
    else if (cursor) query.set('cursor', cursor);
    const text = query.toString();
    const data = await api('GET', `/admin/users${text ? `?${text}` : ''}`);
    current = cursor;
    nextCursor = data.next_cursor || null;
    const users = data.users || [];
    tbody.replaceChildren(...(users.length ? users.map(userRow) : [el('tr', {}, el('td', { colspan: '5' }, 'No users found.'))]));
    next.hidden = !nextCursor;
    prev.hidden = previous.length === 0;
  }
  next.addEventListener('click', () => act(async () => {
    previous.push(current);
    try { await load(nextCursor); } catch (err) { previous.pop(); throw err; }
  }, next));
  prev.addEventListener('click', () => act(async () => {
    const back = previous.pop();
    try { await load(back); } catch (err) { previous.push(back); throw err; }
  }, prev));

  page.append(
    heading('Users'),
    form('user-search', [
      field('Email', 'email', { type: 'search', inputmode: 'email', spellcheck: 'false', autocomplete: 'off', hint: 'An exact address; leave it empty to list everyone.' }),
    ], 'Search', async (values) => {
      email = values.email.trim();
      previous = [];
      await load(null);
    }),
    table('users', 'Users', ['Email', 'Name', 'Status', 'Roles', 'Created'], tbody),
    el('div', { class: 'actions pager' }, prev, next),
  );
  await load(null);
}

async function userPage(page, id) {
  if (!(await requireSession())) return;
  const path = `/admin/users/${enc(id)}`;
  const box = el('div');
  page.append(heading('User'), el('p', { class: 'links' }, link('/console/admin/users', '← All users')), box);
  const [first, { roles = [] }] = await Promise.all([api('GET', path), api('GET', '/admin/roles')]);
  if (!page.isConnected) return;

  function show(user, focusId) {
    const rolesForm = form('roles-form', [
      el('fieldset', {}, el('legend', {}, 'Roles'), roles.length
        ? roles.map((role) => {
          const cid = `role-${++uid}`;
          return el('div', { class: 'check' },
            el('input', { type: 'checkbox', id: cid, name: 'role', value: role.name, checked: (user.roles || []).includes(role.name) }),
            el('label', { for: cid }, role.name, role.description && el('span', { class: 'hint' }, ` — ${role.description}`)));
        })
        : el('p', {}, 'No roles exist yet.')),
    ], 'Save roles', async (_values, formNode) => {
      const updated = await api('PATCH', path, { roles: new FormData(formNode).getAll('role') });
      show(updated);
      setNotice('Roles saved.');
    }, { aliases: { roles: 'role' } });
    const toggle = el('button', {
      type: 'button', id: 'toggle-active', class: user.active ? 'danger' : null,
      onclick: () => act(async () => {
        const updated = await api('PATCH', path, { active: !user.active });
        show(updated, 'toggle-active');
        setNotice(updated.active ? 'User enabled.' : 'User disabled.');
      }, toggle),
    }, user.active ? 'Disable' : 'Enable');
    const endSessions = el('button', {
      type: 'button', id: 'end-sessions', class: 'secondary',
      onclick: () => act(async () => {
        await api('DELETE', `${path}/sessions`);
        show(await api('GET', path), 'end-sessions');
        setNotice('Every session of this user has ended.');
      }, endSessions),
    }, 'End all sessions');
    const remove = el('button', {
      type: 'button', id: 'delete-user', class: 'danger',
      onclick: () => confirmThen(`Delete ${user.email}? Their account and everything of theirs is erased. This cannot be undone.`,
        'Delete user', async () => {
          // A user with many items is deleted over several calls: 202 until the last.
          while ((await api('DELETE', path))?.status === 'deleting') { /* go on */ }
          await go('/console/admin/users', { notice: 'User deleted.' });
        }),
    }, 'Delete user');
    box.replaceChildren(
      section('Details', el('dl', { class: 'facts' },
        el('dt', {}, 'Email'), el('dd', { id: 'user-email' }, user.email),
        el('dt', {}, 'Name'), el('dd', { id: 'user-name' }, user.name || ''),
        el('dt', {}, 'Status'), el('dd', { id: 'user-active' }, user.active ? 'active' : 'disabled'),
        el('dt', {}, 'Email verified'), el('dd', { id: 'user-verified' }, yesNo(user.email_verified)),
        el('dt', {}, 'Created'), el('dd', {}, when(user.created_at, '')),
        el('dt', {}, 'Last sign-in'), el('dd', {}, when(user.last_login_at)),
        el('dt', {}, 'Permissions'), el('dd', { id: 'user-entitlements' }, (user.entitlements || []).join(', ')),
        el('dt', {}, 'Live sessions'), el('dd', { id: 'user-sessions' }, String(user.sessions ?? 0)))),
      section('Roles', el('p', {}, 'A change reaches the user’s tokens at their next refresh.'), rolesForm),
      section('Account', el('div', { class: 'actions' }, toggle, endSessions, remove)));
    if (focusId) document.getElementById(focusId)?.focus();
  }
  show(first);
}

async function rolesPage(page) {
  if (!(await requireSession())) return;
  const tbody = el('tbody');
  const roleForm = form('role-form', [
    field('Name', 'name', { autocomplete: 'off', spellcheck: 'false', hint: 'Letters, digits, dots, dashes and underscores; saving an existing name replaces that role.' }),
    field('Description (optional)', 'description', { autocomplete: 'off' }),
    field('Permissions', 'permissions', { multiline: true, rows: '5', spellcheck: 'false', hint: 'One per line, or separated by commas, such as articles.publish.' }),
  ], 'Save role', async (values, formNode) => {
    const name = values.name.trim();
    if (!name) throw new ApiError(0, { detail: 'Give the role a name.', errors: [{ field: 'name', message: 'Enter a name.' }] });
    const body = { description: values.description.trim() || null, permissions: values.permissions.split(/[\s,]+/).filter(Boolean) };
    await api('PUT', `/admin/roles/${enc(name)}`, body);
    formNode.reset();
    await load();
    setNotice('Role saved.');
  });

  async function load() {
    const { roles = [] } = await api('GET', '/admin/roles');
    tbody.replaceChildren(...roles.map((role) => {
      const edit = el('button', { type: 'button', class: 'edit-role secondary' }, 'Edit', el('span', { class: 'sr-only' }, ` ${role.name}`));
      const del = el('button', { type: 'button', class: 'delete-role danger' }, 'Delete', el('span', { class: 'sr-only' }, ` ${role.name}`));
      edit.addEventListener('click', () => {
        roleForm.elements.name.value = role.name;
        roleForm.elements.description.value = role.description || '';
        roleForm.elements.permissions.value = (role.permissions || []).join('\n');
        clearFieldErrors(roleForm);
        roleForm.elements.name.focus();
      });
      del.addEventListener('click', () => confirmThen(`Delete the role ${role.name}?`, 'Delete role', async () => {
        await api('DELETE', `/admin/roles/${enc(role.name)}`);
        await load();
        setNotice('Role deleted.');
      }));
      return el('tr', { data: { role: role.name } },
        el('td', {}, role.name),
        el('td', {}, (role.permissions || []).join(', ')),
        el('td', {}, String(role.users ?? 0)),
        el('td', {}, [role.builtin ? 'Built-in. ' : '', role.description || ''].join('')),
        el('td', {}, el('div', { class: 'row-actions' }, edit, del)));
    }));
  }

  page.append(
    heading('Roles'),
    table('roles', 'Roles', ['Name', 'Permissions', 'Holders', 'Description', 'Actions'], tbody),
    section('Create or change a role', roleForm),
  );
  await load();
}

// ------------------------------------------------------------------------------------------
// Routes and start

const routes = [
  [/^\/console$/, homePage],
  [/^\/console\/signin$/, signinPage],
  [/^\/console\/register$/, registerPage],
  [/^\/console\/forgot-password$/, forgotPage],
  [/^\/console\/reset-password$/, resetPage],
  [/^\/console\/verify-email$/, verifyEmailPage],
  [/^\/console\/confirm-email$/, confirmEmailPage],
  [/^\/console\/account$/, accountPage],
  [/^\/console\/admin\/users$/, usersPage],
  [/^\/console\/admin\/users\/([^/]+)$/, userPage],
  [/^\/console\/admin\/roles$/, rolesPage],
];

document.addEventListener('click', (event) => {
  const a = event.target.closest?.('a[href]');
  if (!a || event.defaultPrevented || event.button !== 0 || a.target || a.hasAttribute('download')) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !/^\/console(\/|$)/.test(url.pathname)) return;
  event.preventDefault();
  go(url.pathname + url.search);
});

addEventListener('popstate', () => track(() => render()));

track(async () => {
  await refresh();
  await render();
  booted = true;
});
