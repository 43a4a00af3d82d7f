// @ts-check
/* The console's side of the JSON API: the bodies openapi.yaml documents (as JSDoc types), the
 * session (the access token in memory only), the fetch wrapper with its problem+json handling,
 * and one function per call the console makes.
 *
 * - The refresh token is the API's HttpOnly cookie (token_transport "cookie"), so a page load
 *   starts with POST /auth/refresh {}.
 * - Every request sends X-Requested-With: console, Content-Type only with a body, and the Bearer
 *   token on protected routes. A 401, or the gateway's plain-JSON 403, gets one cookie refresh
 *   and one retry; when the refresh fails the session is over (the router then goes to
 *   /console/signin with a notice). A problem+json 403 (`forbidden`, `invalid_credentials`, ...)
 *   is an ordinary error.
 */

import { track } from './dom.js';

// ------------------------------------------------------------------------------------------
// Bodies, as openapi.yaml's components/schemas name them (fields named as the API names them)

/** @typedef {'body' | 'cookie'} TokenTransport */
/** @typedef {{ email: string, password: string, name?: string | null }} RegisterRequest */
/** @typedef {{ email: string, password: string, token_transport?: TokenTransport }} LoginWithEmail */
/** @typedef {{ username: string, password: string, token_transport?: TokenTransport }} LoginWithUsername */
/** @typedef {LoginWithEmail | LoginWithUsername} LoginRequest */
/** @typedef {{ refresh_token?: string }} RefreshRequest */
/** @typedef {{ name: string | null }} ProfileUpdate */
/** @typedef {{ current_password: string, new_password: string }} PasswordChange */
/** @typedef {{ email: string }} ForgotPasswordRequest */
/** @typedef {{ token: string, new_password: string }} PasswordReset */
/** @typedef {{ token: string }} LinkToken */
/** @typedef {{ new_email: string, current_password: string }} EmailChange */
/** @typedef {{ current_password: string }} MfaEnrollRequest */
/** @typedef {{ code: string }} MfaCode */
/** @typedef {{ current_password: string, code: string }} MfaDisableRequest */
/** @typedef {{ mfa_token: string, code: string, token_transport?: TokenTransport }} MfaVerifyWithCode */
/** @typedef {{ mfa_token: string, recovery_code: string, token_transport?: TokenTransport }} MfaVerifyWithRecoveryCode */
/** @typedef {MfaVerifyWithCode | MfaVerifyWithRecoveryCode} MfaVerifyRequest */
/** @typedef {{ secret: string, otpauth_uri: string, qr_svg: string }} MfaEnrollment */
/** @typedef {{ recovery_codes: string[] }} RecoveryCodes */
/** @typedef {{ status: 'accepted' }} Accepted */

/**
 * @typedef {object} Profile
 * @property {string} id
 * @property {string | null} email null for an account without one (imported with a username)
 * @property {string | null} username
 * @property {string | null} name
 * @property {string[]} roles
 * @property {boolean} email_verified
 * @property {string} created_at
 */

/**
 * @typedef {object} TokenPair
 * @property {string} access_token
 * @property {string} refresh_token
 * @property {'Bearer'} token_type
 * @property {number} expires_in
 */
/**
 * The answer in cookie mode: the refresh token is in the Set-Cookie header.
 * @typedef {object} AccessTokenResponse
 * @property {string} access_token
 * @property {'Bearer'} token_type
 * @property {number} expires_in
 */
/** The `Tokens` response: body mode or cookie mode. @typedef {TokenPair | AccessTokenResponse} Tokens */

/**
 * @typedef {object} Session
 * @property {string} id
 * @property {string} created_at
 * @property {string} last_used_at
 * @property {string} expires_at
 * @property {string | null} user_agent
 * @property {string | null} source_ip
 * @property {string[]} amr
 * @property {boolean} current
 */
/** @typedef {{ sessions: Session[] }} SessionList */

/**
 * @typedef {object} UserSummary
 * @property {string} id
 * @property {string | null} email
 * @property {string | null} username
 * @property {string | null} name
 * @property {string[]} roles
 * @property {boolean} active
 * @property {boolean} email_verified
 * @property {string} created_at
 */
/**
 * A UserSummary with the user's permissions, last login and live sessions.
 * @typedef {object} AdminUser
 * @property {string} id
 * @property {string | null} email
 * @property {string | null} username
 * @property {string | null} name
 * @property {string[]} roles
 * @property {boolean} active
 * @property {boolean} email_verified
 * @property {string} created_at
 * @property {string[]} permissions
 * @property {string[]} entitlements
 * @property {string | null} last_login_at
 * @property {number} sessions
 */
/** @typedef {{ users: UserSummary[], next_cursor: string | null }} UsersPage */
/** At least one member. @typedef {{ name?: string | null, active?: boolean, roles?: string[] }} UserUpdate */
/**
 * DELETE /admin/users/{id}: 202 with this body while the user's items are being erased (the
 * same request again goes on); 204, no body, once the user is gone.
 * @typedef {{ status: 'deleting' }} UserDeletion
 */

/**
 * @typedef {object} Role
 * @property {string} name
 * @property {string | null} description
 * @property {string[]} permissions
 * @property {number} users
 * @property {boolean} builtin
 */
/** @typedef {{ roles: Role[] }} RoleList */
/** @typedef {{ description?: string | null, permissions: string[] }} RoleDefinition */

/**
 * @typedef {object} Jwk
 * @property {'OKP'} kty
 * @property {'Ed25519'} crv
 * @property {string} x
 * @property {string} kid
 * @property {'EdDSA'} alg
 * @property {'sig'} use
 */
/** @typedef {{ keys: Jwk[] }} Jwks */

/**
 * @typedef {'malformed_request' | 'unsupported_media_type' | 'payload_too_large'
 *   | 'validation_failed' | 'weak_password' | 'email_taken' | 'invalid_credentials'
 *   | 'email_not_verified' | 'already_verified' | 'no_email' | 'too_many_attempts' | 'too_many_requests'
 *   | 'invalid_token' | 'token_reused' | 'mfa_required' | 'invalid_code'
 *   | 'mfa_already_enabled' | 'mfa_not_enabled' | 'unauthenticated' | 'user_not_found'
 *   | 'forbidden' | 'account_disabled' | 'unknown_role' | 'role_not_found' | 'role_in_use'
 *   | 'builtin_role' | 'last_admin' | 'self_lockout' | 'session_not_found'
 *   | 'privilege_escalation' | 'token_too_large' | 'catalog_full' | 'admin_mfa_required'
 *   | 'conflict' | 'cross_site_request' | 'service_unavailable' | 'internal_error'} ProblemCode
 */
/** @typedef {{ field: string, message: string }} FieldError */
/**
 * An RFC 9457 problem (application/problem+json); `code` says which.
 * @typedef {object} Problem
 * @property {string} type
 * @property {string} title
 * @property {number} status
 * @property {string} detail
 * @property {ProblemCode} code
 * @property {FieldError[]} [errors]
 * @property {string} [request_id]
 */
/**
 * A login's 401 when two-factor is on: the `mfa_token` for POST /auth/mfa/verify.
 * @typedef {Problem & { code: 'mfa_required', mfa_token: string }} MfaRequired
 */
/** What API Gateway answers itself (401, 403, 404). @typedef {{ message: string }} GatewayMessage */

/**
 * What an ApiError carries: the API's problem (a Problem; an MfaRequired for `mfa_required`), or
 * one the console wrote itself (the network failed, the gateway answered, a check before
 * sending), which has only `detail` and perhaps `errors`.
 * @typedef {Partial<Problem> & { mfa_token?: string }} ProblemBody
 */

/**
 * The access token's claims, read without verifying it (the API verifies): the console only
 * shapes its menu with them and refreshes before `exp`.
 * @typedef {object} Claims
 * @property {string} [sub]
 * @property {string} [sid]
 * @property {number} [exp]
 * @property {string[]} [roles]
 * @property {string[] | string} [entitlements]
 */

// ------------------------------------------------------------------------------------------
// Errors and the session

export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status (0: no answer, or a check before sending)
   * @param {ProblemBody} problem
   * @param {Headers | null} [headers]
   */
  constructor(status, problem, headers = null) {
    super(problem.detail || 'Something went wrong.');
    this.status = status;
    this.problem = problem;
    this.headers = headers;
    this.code = problem.code;
  }
}

/** Thrown after the app has moved to sign-in because the session could not be renewed. */
export class SessionEnded extends Error {}

/**
 * The session: the access token (in memory only) and its claims, the `mfa_token` of a sign-in
 * waiting for its second step, and the move to sign-in once the session could not be renewed.
 * @type {{ access: string | null, claims: Claims, mfaToken: string | null, ending: Promise<void> | null }}
 */
export const session = { access: null, claims: {}, mfaToken: null, ending: null };

/**
 * What the app does when the token changes (redraw its menu) and when the session cannot be
 * renewed (go to sign-in): set by the router at start.
 * @typedef {{ tokenChanged: () => void, sessionEnded: () => Promise<void> }} SessionHooks
 */
/** @type {SessionHooks} */
const hooks = { tokenChanged: () => {}, sessionEnded: () => Promise.resolve() };

/** @param {SessionHooks} given */
export function setSessionHooks(given) {
  Object.assign(hooks, given);
}

/**
 * @param {string} token
 * @returns {Claims}
 */
function claimsOf(token) {
  try {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    /** @type {unknown} */
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' ? /** @type {Claims} */ (claims) : {};
  } catch {
    return {};
  }
}

/**
 * Whether the access token carries `permission`.
 * @param {string} permission
 */
export function can(permission) {
  const list = session.claims.entitlements;
  return (Array.isArray(list) ? list : String(list || '').split(/[\s,]+/)).includes(permission);
}

/** @param {string | null | undefined} token */
export function setToken(token) {
  session.access = token || null;
  session.claims = token ? claimsOf(token) : {};
  if (token) session.ending = null;
  hooks.tokenChanged();
}

const expiresSoon = () =>
  typeof session.claims.exp === 'number' && session.claims.exp * 1000 < Date.now() + 10_000;

// ------------------------------------------------------------------------------------------
// Requests

/**
 * An answer: the response, its parsed JSON (null when none), and whether it is a problem.
 * @typedef {{ res: Response, data: unknown, problem: boolean }} Answer
 */

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} body sent as JSON; `undefined`: no body
 * @param {string | null} [token]
 * @returns {Promise<Answer>}
 */
async function request(method, path, body, token) {
  /** @type {Record<string, string>} */
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
  /** @type {unknown} */
  let data = null;
  const text = res.status === 204 ? '' : await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  return { res, data, problem: type.includes('problem+json') && data !== null };
}

/**
 * A member of parsed JSON, if it is an object.
 * @param {unknown} data
 * @param {string} key
 * @returns {unknown}
 */
function member(data, key) {
  return data !== null && typeof data === 'object' ? /** @type {Record<string, unknown>} */ (data)[key] : undefined;
}

/**
 * The answer's body, or an ApiError.
 * @param {Answer} answer
 * @returns {unknown}
 */
function unwrap({ res, data, problem }) {
  if (res.ok) return data ?? {};
  let body = problem ? /** @type {ProblemBody} */ (data) : null;
  if (!body) {
    const message = member(data, 'message');
    const detail = res.status === 403 ? 'You are not allowed to do this.'
      : res.status === 404 ? 'Not found.'
        : message ? `The request failed: ${message}.` : `The request failed (HTTP ${res.status}).`;
    body = { detail };
  }
  throw new ApiError(res.status, body, res.headers);
}

/**
 * A 401, or the gateway's own 403 (`{"message":"Forbidden"}`, not problem+json).
 * @param {Answer} answer
 */
const denied = ({ res, problem }) => res.status === 401 || (res.status === 403 && !problem);

/** @type {Promise<boolean> | null} */
let refreshing = null;

/**
 * One cookie refresh at a time; resolves true when a new access token is in memory.
 * @returns {Promise<boolean>}
 */
export function refresh() {
  refreshing ??= request('POST', '/auth/refresh', {})
    .then(({ res, data }) => {
      const token = member(data, 'access_token');
      const ok = res.ok && typeof token === 'string';
      setToken(ok ? token : null);
      return ok;
    })
    .catch(() => false)
    .finally(() => { refreshing = null; });
  return track(refreshing);
}

/**
 * The session could not be renewed: drop it, go to sign-in (once), stop the caller.
 * @returns {Promise<never>}
 */
async function ended() {
  if (!session.ending) {
    setToken(null);
    session.ending = hooks.sessionEnded();
  }
  await session.ending;
  throw new SessionEnded();
}

/**
 * Calls the API; protected calls (auth) carry the token and survive one refresh. The answer is
 * the body openapi.yaml documents for the call (`T`): the API's word, not checked here.
 * @template T
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {{ auth?: boolean }} [options]
 * @returns {Promise<T>}
 */
function send(method, path, body, { auth = true } = {}) {
  const answer = track(async () => {
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
  return /** @type {Promise<T>} */ (answer);
}

const enc = encodeURIComponent;
const PUBLIC = { auth: false };

// ------------------------------------------------------------------------------------------
// The calls the console makes (named as the functions that answer them). Those without a body
// in their answer (204) resolve to `{}`.

/** @param {RegisterRequest} body @returns {Promise<Profile>} */
export const register = (body) => send('POST', '/auth/register', body, PUBLIC);
/** @param {LoginRequest} body @returns {Promise<Tokens>} */
export const login = (body) => send('POST', '/auth/login', body, PUBLIC);
/** @param {MfaVerifyRequest} body @returns {Promise<Tokens>} */
export const mfaVerify = (body) => send('POST', '/auth/mfa/verify', body, PUBLIC);
/** @param {ForgotPasswordRequest} body @returns {Promise<Accepted>} */
export const forgotPassword = (body) => send('POST', '/auth/password/forgot', body, PUBLIC);
/** @param {PasswordReset} body @returns {Promise<unknown>} */
export const resetPassword = (body) => send('POST', '/auth/password/reset', body, PUBLIC);
/** @param {LinkToken} body @returns {Promise<unknown>} */
export const verifyEmail = (body) => send('POST', '/auth/email/verify', body, PUBLIC);
/** @param {LinkToken} body @returns {Promise<unknown>} */
export const confirmEmailChange = (body) => send('POST', '/auth/email/confirm-change', body, PUBLIC);

/** Ends the cookie's session and clears the cookie; never fails. */
export async function logoutCookie() {
  try {
    /** @type {RefreshRequest} */
    const body = {};
    await send('POST', '/auth/logout', body, PUBLIC);
  } catch {
    /* 204 whatever the token; nothing to tell the user */
  }
}

/** @returns {Promise<Profile>} */
export const me = () => send('GET', '/me');
/** @param {ProfileUpdate} body @returns {Promise<Profile>} */
export const updateProfile = (body) => send('PATCH', '/me', body);
/** @param {PasswordChange} body @returns {Promise<unknown>} */
export const changePassword = (body) => send('POST', '/me/password', body);
/** @param {EmailChange} body @returns {Promise<Accepted>} */
export const changeEmail = (body) => send('POST', '/me/email', body);
/** @returns {Promise<Accepted>} */
export const resendVerification = () => send('POST', '/me/email/verification');
/** @param {MfaEnrollRequest} body @returns {Promise<MfaEnrollment>} */
export const mfaEnroll = (body) => send('POST', '/me/mfa/totp', body);
/** @param {MfaCode} body @returns {Promise<RecoveryCodes>} */
export const mfaConfirm = (body) => send('POST', '/me/mfa/totp/confirm', body);
/** @param {MfaDisableRequest} body @returns {Promise<unknown>} */
export const mfaDisable = (body) => send('DELETE', '/me/mfa/totp', body);
/** @returns {Promise<SessionList>} */
export const listSessions = () => send('GET', '/me/sessions');
/** @returns {Promise<unknown>} */
export const revokeSessions = () => send('DELETE', '/me/sessions');
/** @param {string} sid @returns {Promise<unknown>} */
export const endSession = (sid) => send('DELETE', `/me/sessions/${enc(sid)}`);

/**
 * @param {URLSearchParams} query `limit`, and `email` or `cursor`
 * @returns {Promise<UsersPage>}
 */
export const adminListUsers = (query) => {
  const text = query.toString();
  return send('GET', `/admin/users${text ? `?${text}` : ''}`);
};
/** @param {string} id @returns {Promise<AdminUser>} */
export const adminGetUser = (id) => send('GET', `/admin/users/${enc(id)}`);
/** @param {string} id @param {UserUpdate} body @returns {Promise<AdminUser>} */
export const adminUpdateUser = (id, body) => send('PATCH', `/admin/users/${enc(id)}`, body);
/** @param {string} id @returns {Promise<Partial<UserDeletion>>} */
export const adminDeleteUser = (id) => send('DELETE', `/admin/users/${enc(id)}`);
/** @param {string} id @returns {Promise<unknown>} */
export const adminEndSessions = (id) => send('DELETE', `/admin/users/${enc(id)}/sessions`);
/** @returns {Promise<RoleList>} */
export const adminListRoles = () => send('GET', '/admin/roles');
/** @param {string} name @param {RoleDefinition} body @returns {Promise<Role>} */
export const adminPutRole = (name, body) => send('PUT', `/admin/roles/${enc(name)}`, body);
/** @param {string} name @returns {Promise<unknown>} */
export const adminDeleteRole = (name) => send('DELETE', `/admin/roles/${enc(name)}`);
