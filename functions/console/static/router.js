// @ts-check
/* Navigation: the page for location.pathname under /console/ (history.pushState; same-origin
 * <a href="/console/..."> clicks are intercepted, popstate re-renders), the menu, and the
 * moves between signed in and signed out. */

import { $, el, heading, link, setAlert, setNotice, track } from './dom.js';
import { can, logoutCookie, refresh, session, setSessionHooks, setToken } from './api.js';
import { act, clearTimers, closeConfirm, fail } from './forms.js';

/** @import { Tokens } from './api.js' */

/**
 * A page: fills `page` (a fresh element in #page) for the route's captured, decoded parameters.
 * @typedef {(page: HTMLElement, ...params: string[]) => unknown} Page
 */
/** A route: the pathname (without a trailing slash) it matches, and its page. @typedef {[RegExp, Page]} Route */

const ENDED = 'Your session has ended. Sign in again.';

/** @type {Route[]} */
let routes = [];
let renderGen = 0; // bumped by every render; an older render stops touching the page
let booted = false;
let navKey = '';

/** Redraws the menu (when signed in or out, or its rights changed) and marks the current page. */
function renderNav() {
  const nav = $('#nav');
  const admin = !!session.access && can('auth.users.read');
  const key = `${!!session.access}/${admin}`;
  if (key !== navKey) {
    navKey = key;
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

/**
 * Shows the page at `path` (a new history entry, or this one replaced), with a notice.
 * @param {string} path
 * @param {{ notice?: string, replace?: boolean }} [options]
 * @returns {Promise<void>}
 */
export function go(path, { notice = '', replace = false } = {}) {
  history[replace ? 'replaceState' : 'pushState'](null, '', path);
  return track(() => render(notice));
}

/** @param {string} text */
function safeDecode(text) {
  try { return decodeURIComponent(text); } catch { return text; }
}

/** @param {HTMLElement} page */
function notFoundPage(page) {
  page.append(heading('Not found'), el('p', {}, 'There is no page at this address. ',
    link('/console/account', 'Go to your account'), '.'));
}

/** @param {string} [notice] */
async function render(notice = '') {
  const gen = ++renderGen;
  clearTimers();
  closeConfirm();
  setAlert();
  setNotice(notice);
  renderNav();
  const path = location.pathname.replace(/\/+$/, '') || '/';
  if (path !== '/console/signin') session.mfaToken = null;
  /** @type {Page} */
  let view = notFoundPage;
  /** @type {string[]} */
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
  const h1 = page.querySelector('h1');
  document.title = h1 ? `${h1.textContent} · Account console` : 'Account console';
  if (booted) h1?.focus();
}

/** A page that needs a session: without one, go to sign-in. */
export async function requireSession() {
  if (session.access) return true;
  await go('/console/signin', { replace: true });
  return false;
}

/**
 * Signed in (a login or its second step): the token in memory, then to `path`.
 * @param {Tokens} tokens
 * @param {string} [path]
 * @param {string} [notice]
 */
export async function signedIn(tokens, path = '/console/account', notice = '') {
  setToken(tokens.access_token);
  session.mfaToken = null;
  await go(path, { notice });
}

/** Signs out: ends the cookie's session, drops the token, goes to sign-in. */
function signOut() {
  act(async () => {
    await logoutCookie();
    setToken(null);
    await go('/console/signin', { notice: 'You are signed out.' });
  });
}

/**
 * Starts the app: intercepts same-origin links under /console/, renders on popstate, and shows
 * the first page after one cookie refresh.
 * @param {Route[]} table
 */
export function start(table) {
  routes = table;
  setSessionHooks({
    tokenChanged: renderNav,
    sessionEnded: () => go('/console/signin', { notice: ENDED }),
  });

  document.addEventListener('click', (event) => {
    const a = event.target instanceof Element ? event.target.closest('a[href]') : null;
    if (!(a instanceof HTMLAnchorElement) || event.defaultPrevented || event.button !== 0 || a.target
      || a.hasAttribute('download')) return;
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
}
