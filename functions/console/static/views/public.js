// @ts-check
/* The pages for the signed out: sign-in (with its two-factor step), registration, the forgotten
 * password, and the pages behind the emailed links (reset, verify, confirm a new address). */

import { el, field, heading, link, setAlert, setNotice, track } from '../dom.js';
import * as api from '../api.js';
import { ApiError, session, setToken } from '../api.js';
import { PASSWORD_HINT, fail, form, waitOut } from '../forms.js';
import { go, signedIn } from '../router.js';

/** @import { LinkToken, LoginRequest, MfaVerifyRequest } from '../api.js' */

export function homePage() {
  return go(session.access ? '/console/account' : '/console/signin', { replace: true });
}

/** @param {HTMLElement} page */
export function signinPage(page) {
  if (session.mfaToken) return mfaStep(page, session.mfaToken);
  page.append(
    heading('Sign in'),
    form('signin-form', [
      field('Email or username', 'email', { type: 'text', autocomplete: 'username', spellcheck: 'false' }),
      field('Password', 'password', { type: 'password', autocomplete: 'current-password' }),
    ], 'Sign in', async (values, _form, button) => {
      try {
        // An `@` makes it an email; anything else is a username (Django's login name).
        const name = values.email.trim();
        /** @type {LoginRequest} */
        const body = name.includes('@')
          ? { email: name, password: values.password, token_transport: 'cookie' }
          : { username: name, password: values.password, token_transport: 'cookie' };
        await signedIn(await api.login(body));
      } catch (err) {
        if (err instanceof ApiError) {
          if (err.code === 'mfa_required' && err.problem.mfa_token) {
            session.mfaToken = err.problem.mfa_token;
            return go('/console/signin', { replace: true });
          }
          if (err.status === 429) return waitOut(button, err);
        }
        throw err;
      }
    }),
    el('p', { class: 'links' },
      link('/console/forgot-password', 'Forgot your password?', 'link-forgot'), ' ',
      link('/console/register', 'Create an account', 'link-register')),
  );
}

/**
 * The second step of a sign-in with two-factor on: a TOTP code or a recovery code.
 * @param {HTMLElement} page
 * @param {string} mfaToken
 */
function mfaStep(page, mfaToken) {
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
      const code = values.code.trim();
      const recovery = values.recovery_code.trim();
      /** @type {MfaVerifyRequest} */
      const body = code || !recovery
        ? { mfa_token: mfaToken, token_transport: 'cookie', code }
        : { mfa_token: mfaToken, token_transport: 'cookie', recovery_code: recovery };
      try {
        await signedIn(await api.mfaVerify(body));
      } catch (err) {
        if (err instanceof ApiError) {
          if (err.status === 429) return waitOut(button, err);
          if (err.code === 'invalid_token') {
            // The challenge is dead (used, expired, too many wrong codes): back to the password.
            session.mfaToken = null;
            await go('/console/signin', { replace: true });
            return fail(err);
          }
        }
        throw err;
      }
    }, { extra: startOver }),
  );
}

/** @param {HTMLElement} page */
export function registerPage(page) {
  page.append(
    heading('Create an account'),
    form('register-form', [
      field('Email', 'email', { type: 'email', autocomplete: 'email', spellcheck: 'false' }),
      field('Password', 'password', { type: 'password', autocomplete: 'new-password', hint: PASSWORD_HINT }),
      field('Display name (optional)', 'name', { autocomplete: 'name' }),
    ], 'Create account', async (values) => {
      await api.register({ email: values.email.trim(), password: values.password, name: values.name.trim() || null });
      await go('/console/signin', { notice: 'Account created. Check your email to verify your address, then sign in.' });
    }),
    el('p', { class: 'links' }, 'Already have an account? ', link('/console/signin', 'Sign in')),
  );
}

/** @param {HTMLElement} page */
export function forgotPage(page) {
  page.append(
    heading('Forgot your password?'),
    el('p', {}, 'Enter your email address and we will send you a link to choose a new password.'),
    form('forgot-form', [field('Email', 'email', { type: 'email', autocomplete: 'email', spellcheck: 'false' })],
      'Send reset link', async (values, formNode) => {
        await api.forgotPassword({ email: values.email.trim() });
        formNode.reset();
        setNotice('If an account exists for that address, we sent a link to reset its password.');
      }),
    el('p', { class: 'links' }, link('/console/signin', 'Back to sign in')),
  );
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

/** @param {HTMLElement} page @param {...Node} more */
function missingToken(page, ...more) {
  setAlert(el('p', {}, 'This link is incomplete. Open the link from your email again.'));
  page.append(...more);
}

/** @param {HTMLElement} page */
export function resetPage(page) {
  page.append(heading('Choose a new password'));
  const token = takeToken();
  if (!token) return missingToken(page, el('p', {}, link('/console/forgot-password', 'Ask for a new link')));
  page.append(form('reset-form', [
    field('New password', 'password', { type: 'password', autocomplete: 'new-password', hint: PASSWORD_HINT }),
  ], 'Change password', async (values) => {
    await api.resetPassword({ token, new_password: values.password });
    setToken(null); // a reset ends every session
    await go('/console/signin', { notice: 'Password changed. Sign in with your new password.' });
  }, { aliases: { new_password: 'password' } }));
}

/**
 * What a page behind an emailed link says and does.
 * @typedef {object} LinkPageSpec
 * @property {string} title
 * @property {string[]} explain what the link will do, before the click
 * @property {string} formId
 * @property {string} button
 * @property {(body: LinkToken) => Promise<unknown>} send the call that spends the token
 * @property {string} notice
 * @property {() => (Node | string)[]} after what the page says once it worked
 */

/**
 * A page behind an emailed link. Opening it spends nothing: it says what the link will do and
 * POSTs the token only on a click of its button, so a mail scanner that opens links (scripts
 * and all) confirms nothing the owner was told to ignore.
 * @param {HTMLElement} page
 * @param {LinkPageSpec} spec
 */
function linkPage(page, { title, explain, formId, button, send, notice, after }) {
  page.append(heading(title));
  const token = takeToken();
  if (!token) return missingToken(page);
  const status = el('div', { id: 'link-status' }, explain.map((text) => el('p', {}, text)));
  const node = form(formId, [], button, async () => {
    try {
      await send({ token });
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

/** @param {HTMLElement} page */
export function verifyEmailPage(page) {
  return linkPage(page, {
    title: 'Verify your email address',
    explain: [
      'Confirm that this address belongs to the account registered with it.',
      'If you did not create an account, do not confirm: use "Forgot your password?" on the sign-in page instead. '
        + 'Resetting the password of an account whose address was never verified removes everything its registrant set up.',
    ],
    formId: 'verify-email-form',
    button: 'Verify this address',
    send: api.verifyEmail,
    notice: 'Your email address is verified.',
    after: () => [session.access ? link('/console/account', 'Go to your account') : link('/console/signin', 'Sign in')],
  });
}

/** @param {HTMLElement} page */
export function confirmEmailPage(page) {
  return linkPage(page, {
    title: 'Confirm your new email address',
    explain: [
      'Confirming moves your account to this address: you sign in with it from now on, and every session of the account ends.',
      'If you did not ask for this change, close this page: nothing changes.',
    ],
    formId: 'confirm-email-form',
    button: 'Move my account to this address',
    send: api.confirmEmailChange,
    notice: 'Your new email address is confirmed.',
    after: () => {
      setToken(null); // the change ended every session
      return ['Every session of your account has ended. ', link('/console/signin', 'Sign in with your new address'), '.'];
    },
  });
}
