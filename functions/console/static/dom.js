// @ts-check
/* DOM helpers of the console: elements built with el() (createElement and text nodes, so API
 * data never reaches innerHTML), the page's alert and notice, field errors beside the fields,
 * and the busy state the browser tests wait for. Imports nothing. */

/**
 * An attribute's value: `true` sets it empty; `null`, `undefined` and `false` leave it out.
 * @typedef {string | number | boolean | null | undefined} AttrValue
 */
/**
 * What el() takes besides the tag: attributes, `on<event>` listeners, and `data` (dataset
 * entries; a `null` one is left out).
 * @typedef {{ [key: string]: AttrValue | EventListener | Record<string, string | null | undefined> }} Props
 */
/**
 * A child of el(): a node or text; `null`, `undefined`, `false` and `''` are left out, arrays
 * are flattened.
 * @typedef {Node | string | null | undefined | false | Children} Child
 */
/** @typedef {Child[]} Children */

let uid = 0;

/** A number for an element id, new on every call. */
export function nextId() {
  uid += 1;
  return uid;
}

/**
 * An element of index.html, or of a page just built, that is there.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {HTMLElement}
 */
export function $(selector, root = document) {
  const node = root.querySelector(selector);
  if (!(node instanceof HTMLElement)) throw new Error(`${selector} is missing`);
  return node;
}

/**
 * @param {Child[]} kids
 * @param {(Node | string)[]} into
 * @returns {(Node | string)[]}
 */
function flatten(kids, into) {
  for (const kid of kids) {
    if (Array.isArray(kid)) flatten(kid, into);
    else if (kid != null && kid !== false && kid !== '') into.push(kid);
  }
  return into;
}

/**
 * createElement with attributes, `on<event>` listeners, `data` (dataset) and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {...Child} kids
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, props = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) {
      if (typeof value === 'function') node.addEventListener(key.slice(2), value);
    } else if (key === 'data') {
      if (typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) if (v != null) node.dataset[k] = v;
      }
    } else node.setAttribute(key, value === true ? '' : String(value));
  }
  node.append(...flatten(kids, []));
  return node;
}

/** @param {string} text */
export const heading = (text) => el('h1', { tabindex: '-1' }, text);
/** @param {string} title @param {...Child} kids */
export const section = (title, ...kids) => el('section', {}, el('h2', {}, title), ...kids);
/** @param {string} href @param {string} text @param {string} [id] */
export const link = (href, text, id) => el('a', { href, id }, text);
/** @param {boolean} flag */
export const yesNo = (flag) => (flag ? 'yes' : 'no');

/**
 * A timestamp in the reader's locale (the ISO text if it does not parse), or `missing`.
 * @param {string | null | undefined} iso
 * @param {string} [missing]
 * @returns {HTMLTimeElement | string}
 */
export function when(iso, missing = 'never') {
  if (!iso) return missing;
  const date = new Date(iso);
  return el('time', { datetime: iso }, Number.isNaN(date.getTime()) ? iso : date.toLocaleString());
}

/**
 * A table in a horizontally scrollable, focusable region.
 * @param {string} id
 * @param {string} label
 * @param {string[]} headers
 * @param {HTMLTableSectionElement} tbody
 */
export function table(id, label, headers, tbody) {
  const head = el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)));
  return el('div', { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: '0' },
    el('table', { id }, el('thead', {}, head), tbody));
}

/**
 * What field() takes: the input's value, a hint below its label, a textarea instead of an
 * input, the input's type (`text` unless given), and any other attribute of the input.
 * @typedef {{ value?: string, hint?: string, multiline?: boolean, type?: string, [attr: string]: AttrValue }} FieldOptions
 */

/**
 * A labelled input (or textarea), its hint, and room for its field error.
 * @param {string} label
 * @param {string} name
 * @param {FieldOptions} [opts]
 */
export function field(label, name, opts = {}) {
  const { value = '', hint, multiline, type = 'text', ...attrs } = opts;
  const id = `f${nextId()}-${name}`;
  const hintId = hint ? `${id}-hint` : null;
  const input = el(multiline ? 'textarea' : 'input',
    { id, name, type: multiline ? null : type, 'aria-describedby': hintId, ...attrs });
  input.value = value;
  return el('div', { class: 'field' },
    el('label', { for: id }, label), hint && el('p', { class: 'hint', id: hintId }, hint), input);
}

/**
 * The text input or textarea named `name` in a form built with field().
 * @param {HTMLFormElement} formNode
 * @param {string} name
 * @returns {HTMLInputElement | HTMLTextAreaElement}
 */
export function control(formNode, name) {
  const input = formNode.elements.namedItem(name);
  if (input instanceof HTMLInputElement || input instanceof HTMLTextAreaElement) return input;
  throw new Error(`no field ${name}`);
}

/** @param {...(Node | null)} nodes */
export function setAlert(...nodes) {
  $('#error').replaceChildren(...nodes.filter((node) => node !== null));
}

/** @param {string} [text] @param {...(Node | string)} more */
export function setNotice(text = '', ...more) {
  $('#notice').replaceChildren(...(text ? [el('p', {}, text, ...more)] : []));
}

/**
 * Shows `message` beside an input built with field().
 * @param {Element} input
 * @param {string} message
 */
export function fieldError(input, message) {
  const id = `${input.id}-error`;
  let note = document.getElementById(id);
  if (!note) {
    note = el('p', { class: 'field-error', id });
    input.closest('.field')?.append(note);
    input.setAttribute('aria-describedby',
      [input.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
  }
  note.textContent = note.textContent ? `${note.textContent} ${message}` : message;
  input.setAttribute('aria-invalid', 'true');
}

/** @param {HTMLFormElement} formNode */
export function clearFieldErrors(formNode) {
  for (const input of formNode.querySelectorAll('[aria-invalid]')) {
    input.removeAttribute('aria-invalid');
    const rest = (input.getAttribute('aria-describedby') || '').split(' ').filter((t) => t && !t.endsWith('-error'));
    if (rest.length) input.setAttribute('aria-describedby', rest.join(' '));
    else input.removeAttribute('aria-describedby');
  }
  for (const note of formNode.querySelectorAll('.field-error')) note.remove();
}

/**
 * Parses the QR code's SVG (from our own API) into nodes, without scripts, styles or links.
 * @param {string} svgText
 * @returns {Element}
 */
export function qrCode(svgText) {
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

// ------------------------------------------------------------------------------------------
// Busy state: body[data-state] is "busy" while a request, an action or a page render runs, and
// "ready" otherwise; the browser tests wait for it.

let pending = 0; // requests, actions and renders under way

function setState() {
  document.body.dataset.state = pending > 0 ? 'busy' : 'ready';
}

/**
 * Counts `work` (a function or a promise) as busy until it settles.
 * @template T
 * @param {(() => Promise<T> | T) | Promise<T>} work
 * @returns {Promise<T>}
 */
export async function track(work) {
  pending += 1;
  setState();
  try {
    return await (typeof work === 'function' ? work() : work);
  } finally {
    pending -= 1;
    setState();
  }
}
