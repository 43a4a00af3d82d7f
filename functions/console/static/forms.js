// @ts-check
/* Forms and actions: a submit or a button's action runs tracked (busy), with the alert and
 * notice cleared first, and a failure is shown by fail(): the problem's `detail` in #error
 * (role=alert) and its `errors[]` beside the fields they name (or listed when no field
 * matches). Also the sign-in wait after a 429 and the shared confirmation dialog. */

import { $, clearFieldErrors, el, fieldError, setAlert, setNotice, track } from './dom.js';
import { ApiError, SessionEnded } from './api.js';

/** @import { Child } from './dom.js' */
/** @import { ProblemBody } from './api.js' */

export const PASSWORD_HINT =
  'At least 10 characters. A few unrelated words work well; avoid common passwords and your email address.';

/** A form's values by input name (its inputs are all text). @typedef {Record<string, string>} FormValues */

/**
 * What a form does on submit; a throw is shown by fail().
 * @callback Submit
 * @param {FormValues} values
 * @param {HTMLFormElement} form
 * @param {HTMLButtonElement} button
 * @returns {Promise<unknown> | void}
 */

/**
 * A form whose submit runs `onSubmit(values, form, button)` as a tracked action: the alert and
 * notice are cleared first, the button is disabled meanwhile, and a failure is shown by fail().
 * `aliases` maps an API field name to the input's name when they differ.
 * @param {string} id
 * @param {Child[]} fields
 * @param {string} submitText
 * @param {Submit} onSubmit
 * @param {{ aliases?: Record<string, string>, extra?: Node | null }} [options]
 */
export function form(id, fields, submitText, onSubmit, { aliases = {}, extra = null } = {}) {
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
        /** @type {FormValues} */
        const values = {};
        for (const [name, value] of new FormData(node)) values[name] = String(value);
        await onSubmit(values, node, button);
      } catch (err) {
        fail(err, node, aliases);
      } finally {
        if (!button.dataset.waiting) button.disabled = false;
      }
    });
  });
  return node;
}

/**
 * Runs a button's action like a form submit: tracked, messages cleared, failures shown.
 * @param {() => Promise<unknown>} action
 * @param {HTMLButtonElement | null} [button]
 */
export function act(action, button = null) {
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

/**
 * Shows a failure: the problem's detail in #error, its field errors beside the fields.
 * @param {unknown} err
 * @param {HTMLFormElement | null} [formNode]
 * @param {Record<string, string>} [aliases]
 */
export function fail(err, formNode = null, aliases = {}) {
  if (err instanceof SessionEnded) return;
  if (!(err instanceof ApiError)) console.error(err);
  /** @type {ProblemBody} */
  const problem = err instanceof ApiError ? err.problem : { detail: 'Something went wrong. Try again.' };
  /** @type {string[]} */
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

/** @type {number[]} */
let timers = [];

/** Stops the countdowns of waitOut() (a new page is shown). */
export function clearTimers() {
  timers.forEach(clearInterval);
  timers = [];
}

/**
 * The wait after a 429 at sign-in: a countdown notice, the submit button disabled until it ends.
 * @param {HTMLButtonElement} button
 * @param {ApiError} err
 */
export function waitOut(button, err) {
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

/** The shared <dialog id="confirm"> of index.html. */
const dialog = () => /** @type {HTMLDialogElement} */ ($('#confirm'));

/**
 * Opens the confirmation dialog; `action` runs (tracked) only on #confirm-yes.
 * @param {string} text
 * @param {string} yesText
 * @param {() => Promise<unknown>} action
 */
export function confirmThen(text, yesText, action) {
  const box = dialog();
  $('#confirm-text').textContent = text;
  $('#confirm-yes').textContent = yesText;
  $('#confirm-yes').onclick = () => { box.close(); act(action); };
  $('#confirm-no').onclick = () => box.close();
  box.showModal();
}

/** Closes the confirmation dialog if it is open (a new page is shown). */
export function closeConfirm() {
  const box = dialog();
  if (box.open) box.close();
}
