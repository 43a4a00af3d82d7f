// @ts-check
/* The account page, for every signed-in user: profile and name, password, email address,
 * sessions, two-factor. */

import { $, el, field, heading, qrCode, section, setNotice, table, when, yesNo } from '../dom.js';
import * as api from '../api.js';
import { ApiError, logoutCookie, session, setToken } from '../api.js';
import { PASSWORD_HINT, act, form } from '../forms.js';
import { go, requireSession, signedIn } from '../router.js';

/** @import { Profile, Session } from '../api.js' */
/** @import { FormValues } from '../forms.js' */

/** @param {HTMLElement} page */
export async function accountPage(page) {
  if (!(await requireSession())) return;
  page.append(heading('Your account'));
  const [me, { sessions = [] }] = await Promise.all([api.me(), api.listSessions()]);
  if (!page.isConnected) return;

  const resend = el('button', {
    type: 'button', id: 'resend-verification', class: 'secondary', hidden: me.email_verified || me.email === null,
    onclick: () => act(async () => {
      await api.resendVerification();
      setNotice('We sent a new verification link to your address.');
    }, resend),
  }, 'Resend verification email');

  page.append(
    section('Profile',
      el('dl', { class: 'facts' },
        el('dt', {}, 'Email'), el('dd', { id: 'profile-email' }, me.email ?? 'none: add one below to be able to reset your password'),
        ...(me.username === null ? [] : [el('dt', {}, 'Username'), el('dd', { id: 'profile-username' }, me.username)]),
        el('dt', {}, 'Name'), el('dd', { id: 'profile-name' }, me.name || ''),
        el('dt', {}, 'Email verified'), el('dd', { id: 'profile-verified' }, yesNo(me.email_verified)),
        el('dt', {}, 'Roles'), el('dd', { id: 'profile-roles' }, (me.roles || []).join(', ')),
        el('dt', {}, 'Member since'), el('dd', {}, when(me.created_at, ''))),
      el('div', { class: 'actions' }, resend),
      form('name-form', [field('Display name', 'name', { value: me.name || '', autocomplete: 'name', hint: 'Leave it empty to remove it.' })],
        'Save name', async (values) => {
          const profile = await api.updateProfile({ name: values.name.trim() || null });
          $('#profile-name').textContent = profile.name || '';
          setNotice('Name saved.');
        })),
    section('Password',
      form('password-form', [
        field('Current password', 'current_password', { type: 'password', autocomplete: 'current-password' }),
        field('New password', 'new_password', { type: 'password', autocomplete: 'new-password', hint: PASSWORD_HINT }),
      ], 'Change password', (values) => changePassword(me, values))),
    section('Email address',
      el('p', {}, me.email === null
        ? 'Your account has no email address yet. Add one to be able to reset your password; we send a confirmation link to it.'
        : 'We send a confirmation link to the new address; the change happens when you open it.'),
      form('email-form', [
        field('New email address', 'new_email', { type: 'email', autocomplete: 'email', spellcheck: 'false' }),
        field('Current password', 'email_password', { type: 'password', autocomplete: 'current-password' }),
      ], 'Change email', async (values, formNode) => {
        await api.changeEmail({ new_email: values.new_email.trim(), current_password: values.email_password });
        formNode.reset();
        setNotice('We sent a confirmation link to the new address. Open it to finish the change.');
      }, { aliases: { current_password: 'email_password' } })),
    sessionsSection(sessions),
    twoFactorSection(),
  );
}

/**
 * POST /me/password ends every session, this one too: sign in again with the new password
 * (by the email, or by the username of an account without one).
 * @param {Profile} me
 * @param {FormValues} values
 */
async function changePassword(me, values) {
  await api.changePassword({ current_password: values.current_password, new_password: values.new_password });
  setToken(null);
  try {
    const password = values.new_password;
    const tokens = await api.login(me.email === null && me.username !== null
      ? { username: me.username, password, token_transport: 'cookie' }
      : { email: me.email ?? '', password, token_transport: 'cookie' });
    await signedIn(tokens, '/console/account', 'Password changed.');
  } catch (err) {
    if (err instanceof ApiError && err.code === 'mfa_required' && err.problem.mfa_token) {
      session.mfaToken = err.problem.mfa_token; // the sign-in page opens at the code step
      return go('/console/signin', { notice: 'Password changed.' });
    }
    await go('/console/signin', { notice: 'Password changed. Sign in with your new password.' });
  }
}

/** @param {Session[]} sessions */
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
      await api.endSession(s.id);
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
      await api.revokeSessions();
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
    const setup = await api.mfaEnroll({ current_password: values.mfa_password });
    formNode.reset();
    output.replaceChildren(
      el('p', {}, 'Scan this QR code with your authenticator app, or type the key into it. Then enter the code it shows.'),
      qrCode(setup.qr_svg),
      el('p', {}, 'Key: ', el('code', { id: 'mfa-secret' }, setup.secret)),
      form('mfa-confirm-form', [
        field('Code from the app', 'totp_code', { inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6' }),
      ], 'Turn on two-factor', async (v) => {
        const { recovery_codes: codes = [] } = await api.mfaConfirm({ code: v.totp_code.trim() });
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
    await api.mfaDisable({ current_password: values.mfa_off_password, code: values.mfa_off_code.trim() });
    formNode.reset();
    output.replaceChildren();
    setNotice('Two-factor authentication is off.');
  }, { aliases: { current_password: 'mfa_off_password', code: 'mfa_off_code' } });
  return section('Two-factor authentication',
    el('p', {}, 'With two-factor on, signing in also asks for a code from an authenticator app.'),
    el('details', {}, el('summary', {}, 'Turn on'), enrol, output),
    el('details', {}, el('summary', {}, 'Turn off'), disable));
}
