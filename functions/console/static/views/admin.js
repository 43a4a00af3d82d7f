// @ts-check
/* The administrators' pages: the users (a page at a time, or one by email), one user (roles,
 * enable or disable, end sessions, delete), and the roles. */

import { control, clearFieldErrors, el, field, heading, link, nextId, section, setNotice, table, when, yesNo } from '../dom.js';
import * as api from '../api.js';
import { ApiError } from '../api.js';
import { act, confirmThen, form } from '../forms.js';
import { go, requireSession } from '../router.js';

/** @import { AdminUser, UserSummary } from '../api.js' */

/** @param {UserSummary} user */
function userRow(user) {
  return el('tr', { data: { userId: user.id } },
    el('td', {}, el('a', { class: 'user-link', href: `/console/admin/users/${encodeURIComponent(user.id)}` }, user.email ?? user.username ?? user.id)),
    el('td', {}, user.name || ''),
    el('td', {}, user.active ? 'active' : 'disabled'),
    el('td', {}, (user.roles || []).join(', ')),
    el('td', {}, when(user.created_at, '')));
}

/** @param {HTMLElement} page */
export async function usersPage(page) {
  if (!(await requireSession())) return;
  const limit = new URLSearchParams(location.search).get('limit');
  const tbody = el('tbody');
  let email = '';
  /** @type {string | null} */
  let current = null; // cursor of the page shown (null: the first)
  /** @type {string | null} */
  let nextCursor = null;
  /** @type {(string | null)[]} */
  let previous = []; // cursors of the pages before it
  const next = el('button', { type: 'button', id: 'next-page', class: 'secondary', hidden: true }, 'Next page');
  const prev = el('button', { type: 'button', id: 'prev-page', class: 'secondary', hidden: true }, 'Previous page');

  /** @param {string | null} cursor */
  async function load(cursor) {
    const query = new URLSearchParams();
    if (limit) query.set('limit', limit);
    if (email) query.set('email', email);
    else if (cursor) query.set('cursor', cursor);
    const data = await api.adminListUsers(query);
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
    const back = previous.pop() ?? null;
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

/**
 * @param {HTMLElement} page
 * @param {string} id
 */
export async function userPage(page, id) {
  if (!(await requireSession())) return;
  const box = el('div');
  page.append(heading('User'), el('p', { class: 'links' }, link('/console/admin/users', '← All users')), box);
  const [first, { roles = [] }] = await Promise.all([api.adminGetUser(id), api.adminListRoles()]);
  if (!page.isConnected) return;

  /**
   * @param {AdminUser} user
   * @param {string} [focusId] the button to focus again once redrawn
   */
  function show(user, focusId) {
    const rolesForm = form('roles-form', [
      el('fieldset', {}, el('legend', {}, 'Roles'), roles.length
        ? roles.map((role) => {
          const cid = `role-${nextId()}`;
          return el('div', { class: 'check' },
            el('input', { type: 'checkbox', id: cid, name: 'role', value: role.name, checked: (user.roles || []).includes(role.name) }),
            el('label', { for: cid }, role.name, role.description && el('span', { class: 'hint' }, ` — ${role.description}`)));
        })
        : el('p', {}, 'No roles exist yet.')),
    ], 'Save roles', async (_values, formNode) => {
      const chosen = new FormData(formNode).getAll('role').filter((role) => typeof role === 'string');
      const updated = await api.adminUpdateUser(id, { roles: chosen });
      show(updated);
      setNotice('Roles saved.');
    }, { aliases: { roles: 'role' } });
    const toggle = el('button', {
      type: 'button', id: 'toggle-active', class: user.active ? 'danger' : null,
      onclick: () => act(async () => {
        const updated = await api.adminUpdateUser(id, { active: !user.active });
        show(updated, 'toggle-active');
        setNotice(updated.active ? 'User enabled.' : 'User disabled.');
      }, toggle),
    }, user.active ? 'Disable' : 'Enable');
    const endSessions = el('button', {
      type: 'button', id: 'end-sessions', class: 'secondary',
      onclick: () => act(async () => {
        await api.adminEndSessions(id);
        show(await api.adminGetUser(id), 'end-sessions');
        setNotice('Every session of this user has ended.');
      }, endSessions),
    }, 'End all sessions');
    const remove = el('button', {
      type: 'button', id: 'delete-user', class: 'danger',
      onclick: () => confirmThen(`Delete ${user.email ?? user.username ?? user.id}? Their account and everything of theirs is erased. This cannot be undone.`,
        'Delete user', async () => {
          // A user with many items is deleted over several calls: 202 until the last.
          while ((await api.adminDeleteUser(id))?.status === 'deleting') { /* go on */ }
          await go('/console/admin/users', { notice: 'User deleted.' });
        }),
    }, 'Delete user');
    box.replaceChildren(
      section('Details', el('dl', { class: 'facts' },
        el('dt', {}, 'Email'), el('dd', { id: 'user-email' }, user.email ?? 'none'),
        ...(user.username === null ? [] : [el('dt', {}, 'Username'), el('dd', { id: 'user-username' }, user.username)]),
        el('dt', {}, 'Name'), el('dd', { id: 'user-name' }, user.name || ''),
        el('dt', {}, 'Status'), el('dd', { id: 'user-active' }, user.active ? 'active' : 'disabled'),
        el('dt', {}, 'Email verified'), el('dd', { id: 'user-verified' }, yesNo(user.email_verified)),
        el('dt', {}, 'Created'), el('dd', {}, when(user.created_at, '')),
        el('dt', {}, 'Last sign-in'), el('dd', {}, when(user.last_login_at)),
        el('dt', {}, 'Direct permissions'), el('dd', { id: 'user-permissions' }, (user.permissions || []).join(', ')),
        el('dt', {}, 'Permissions'), el('dd', { id: 'user-entitlements' }, (user.entitlements || []).join(', ')),
        el('dt', {}, 'Live sessions'), el('dd', { id: 'user-sessions' }, String(user.sessions ?? 0)))),
      section('Roles', el('p', {}, 'A change reaches the user’s tokens at their next refresh.'), rolesForm),
      section('Account', el('div', { class: 'actions' }, toggle, endSessions, remove)));
    if (focusId) document.getElementById(focusId)?.focus();
  }
  show(first);
}

/** @param {HTMLElement} page */
export async function rolesPage(page) {
  if (!(await requireSession())) return;
  const tbody = el('tbody');
  const roleForm = form('role-form', [
    field('Name', 'name', { autocomplete: 'off', spellcheck: 'false', hint: 'Letters, digits, dots, dashes and underscores; saving an existing name replaces that role.' }),
    field('Description (optional)', 'description', { autocomplete: 'off' }),
    field('Permissions', 'permissions', { multiline: true, rows: '5', spellcheck: 'false', hint: 'One per line, or separated by commas, such as articles.publish.' }),
  ], 'Save role', async (values, formNode) => {
    const name = values.name.trim();
    if (!name) throw new ApiError(0, { detail: 'Give the role a name.', errors: [{ field: 'name', message: 'Enter a name.' }] });
    await api.adminPutRole(name, {
      description: values.description.trim() || null,
      permissions: values.permissions.split(/[\s,]+/).filter(Boolean),
    });
    formNode.reset();
    await load();
    setNotice('Role saved.');
  });

  async function load() {
    const { roles = [] } = await api.adminListRoles();
    tbody.replaceChildren(...roles.map((role) => {
      const edit = el('button', { type: 'button', class: 'edit-role secondary' }, 'Edit', el('span', { class: 'sr-only' }, ` ${role.name}`));
      const del = el('button', { type: 'button', class: 'delete-role danger' }, 'Delete', el('span', { class: 'sr-only' }, ` ${role.name}`));
      edit.addEventListener('click', () => {
        control(roleForm, 'name').value = role.name;
        control(roleForm, 'description').value = role.description || '';
        control(roleForm, 'permissions').value = (role.permissions || []).join('\n');
        clearFieldErrors(roleForm);
        control(roleForm, 'name').focus();
      });
      del.addEventListener('click', () => confirmThen(`Delete the role ${role.name}?`, 'Delete role', async () => {
        await api.adminDeleteRole(role.name);
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
