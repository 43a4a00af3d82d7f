// @ts-check
/* Account console for auth-service, served under /console/ by the `console` function.
 *
 * Design, in brief:
 * - One static page: index.html loads this module, which starts the router (router.js) with
 *   the table below. No build step, no dependencies: the browser loads these ES modules as
 *   written, each a file the `console` function serves; `tsc --noEmit -p functions/console`
 *   (make typecheck-console, part of make test) checks their JSDoc types.
 * - api.js: the API's bodies as types, the session (the access token in memory only; the
 *   refresh token is the API's HttpOnly cookie), the fetch wrapper and its problem+json
 *   handling, one function per call. dom.js: el() and the other DOM helpers (API data never
 *   reaches innerHTML) and the busy state. forms.js: forms, actions and how a failure is shown.
 *   views/: the pages.
 * - body[data-state] is "busy" while a request, an action or a page render runs (track()), and
 *   "ready" otherwise; the browser tests wait for it.
 */

import { start } from './router.js';
import {
  confirmEmailPage, forgotPage, homePage, registerPage, resetPage, signinPage, verifyEmailPage,
} from './views/public.js';
import { accountPage } from './views/account.js';
import { rolesPage, userPage, usersPage } from './views/admin.js';

start([
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
]);
