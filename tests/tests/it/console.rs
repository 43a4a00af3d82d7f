//! The web console in a real browser: headless Chromium (Debian's `chromium`) driven through
//! WebDriver (Debian's `chromium-driver`, with `fantoccini`), against the local server and the
//! SES v2 emulator. A missing browser or driver fails the test with what to install; nothing
//! is skipped. Screenshots of the pages go to `target/console-screenshots/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use integration_tests::*;
use serde_json::{Value, json};
use shared::config as cfg;

const NEW_PASSWORD: &str = "violet-canyon-lantern-91";
const RESET_PASSWORD: &str = "quiet-harbour-meadow-58";

/// A program on `PATH` (or the path in `variable`), or a failure that says what to install.
fn program(variable: &str, names: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "{} not found (or set {variable}): the console's browser tests need Debian's chromium and \
         chromium-driver packages (`apt-get install chromium chromium-driver`; `make test` \
         installs them when it runs as root)",
        names.join(" / ")
    );
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    url: String,
    _child: tokio::process::Child,
}

impl Driver {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(program("CHROMEDRIVER", &["chromedriver"]))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let status = http().get(format!("{url}/status")).send().await;
            if let Ok(response) = status
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { url, _child: child }
    }
}

/// One browser (its own profile: its own cookies) on the console of `base`.
struct Browser {
    client: Client,
    base: String,
}

impl Browser {
    async fn open(driver: &Driver, base: &str) -> Self {
        let chromium = program("CHROME", &["chromium", "chromium-browser", "google-chrome"]);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", "--no-first-run", "--disable-extensions"],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a WebDriver session in headless Chromium");
        Self {
            client,
            base: base.to_owned(),
        }
    }

    /// Opens a console path (or a full URL) and waits until the page is ready.
    async fn goto(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.client.goto(&url).await.expect("navigate");
        self.ready().await;
    }

    /// Waits until the console has no request, action or render under way.
    async fn ready(&self) {
        let started = Instant::now();
        loop {
            let state = self
                .client
                .execute(
                    "return document.body ? document.body.dataset.state : null",
                    vec![],
                )
                .await
                .expect("script");
            if state == "ready" {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the console stayed {state} at {}",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        url.path().to_owned()
    }

    async fn fill(&self, form: &str, values: &[(&str, &str)]) {
        for (name, value) in values {
            let input = self
                .client
                .find(Locator::Css(&format!("#{form} [name=\"{name}\"]")))
                .await
                .unwrap_or_else(|e| panic!("#{form} has no field {name}: {e}"));
            input.clear().await.expect("clear");
            input.send_keys(value).await.expect("type");
        }
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
            .click()
            .await
            .expect("click");
        self.ready().await;
    }

    async fn submit(&self, form: &str, values: &[(&str, &str)]) {
        self.fill(form, values).await;
        self.click(&format!("#{form} button[type=submit]")).await;
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
            .text()
            .await
            .expect("text")
    }

    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .len()
    }

    async fn notice(&self) -> String {
        self.text("#notice").await
    }

    async fn error(&self) -> String {
        self.text("#error").await
    }

    async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/console/signin").await;
        self.submit("signin-form", &[("email", email), ("password", password)])
            .await;
        assert_eq!(
            self.path().await,
            "/console/account",
            "sign-in failed: {}",
            self.error().await
        );
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write the screenshot");
    }

    async fn close(self) {
        self.client.close().await.expect("close the browser");
    }
}

/// The local server as a browser sees it: the issuer and the links' base are its own address
/// (a loopback http issuer, as `make dev`), CORS allows `origins`.
async fn server(origins: &[String]) -> Server {
    let origins = origins.join(",");
    Server::start_at(
        move |base| {
            let mut s: HashMap<String, String> = settings();
            s.insert(cfg::JWT_ISSUER.into(), base.to_owned());
            s.insert(cfg::APP_BASE_URL.into(), format!("{base}/console"));
            s.insert(cfg::CORS_ALLOWED_ORIGINS.into(), origins);
            s
        },
        shared::clock::SystemClock::shared(),
    )
    .await
}

/// The link of the newest mail to `address` whose text has `path`, as the mail has it.
async fn link(address: &str, count: usize, path: &str) -> String {
    let mails = wait_for_mail(address, count).await;
    let mail = mails.last().unwrap();
    let start = mail
        .text
        .find("http")
        .unwrap_or_else(|| panic!("no link in {mail:#?}"));
    let url: String = mail.text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(url.contains(path), "{url} is not a {path} link");
    url
}

#[tokio::test]
async fn an_account_lives_its_whole_life_in_the_console() {
    let server = server(&[]).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, &server.base).await;
    let email = unique_email();

    // Register.
    browser.goto("/console/register").await;
    browser
        .submit(
            "register-form",
            &[("email", &email), ("password", PASSWORD), ("name", "Ada")],
        )
        .await;
    assert_eq!(
        browser.path().await,
        "/console/signin",
        "{}",
        browser.error().await
    );
    assert!(browser.notice().await.contains("Account created"));

    // Verify the address from the emailed link: opening it does nothing; the button does.
    let verify = link(&email, 1, "/console/verify-email?token=").await;
    browser.goto(&verify).await;
    assert!(browser.notice().await.is_empty());
    browser
        .click("#verify-email-form button[type=submit]")
        .await;
    assert!(
        browser.notice().await.contains("verified"),
        "{} / {}",
        browser.notice().await,
        browser.error().await
    );
    // The token left the address bar.
    let url = browser.client.current_url().await.unwrap();
    assert!(url.query().is_none_or(|q| !q.contains("token")), "{url}");

    // A wrong password shows the problem's detail.
    browser.goto("/console/signin").await;
    browser
        .submit(
            "signin-form",
            &[("email", &email), ("password", "wrong-password-1")],
        )
        .await;
    assert!(!browser.error().await.is_empty());
    assert_eq!(browser.path().await, "/console/signin");

    // Sign in; the page survives a reload (the cookie renews the in-memory access token).
    browser.sign_in(&email, PASSWORD).await;
    assert_eq!(browser.text("#profile-email").await, email);
    assert_eq!(
        browser.text("#profile-verified").await.to_lowercase(),
        "yes"
    );
    browser.goto("/console/account").await;
    assert_eq!(browser.path().await, "/console/account");
    // No token is where a script could read it.
    let stored = browser
        .client
        .execute(
            "return JSON.stringify([document.cookie, Object.keys(localStorage), Object.keys(sessionStorage)])",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(stored, json!("[\"\",[],[]]"));

    // Change the name.
    browser
        .submit("name-form", &[("name", "Ada Lovelace")])
        .await;
    assert!(
        browser.notice().await.contains("Name saved"),
        "{}",
        browser.error().await
    );
    browser.goto("/console/account").await;
    assert_eq!(browser.text("#profile-name").await, "Ada Lovelace");

    // Change the password: the console carries on signed in.
    browser
        .submit(
            "password-form",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert!(
        browser.notice().await.contains("Password changed"),
        "{}",
        browser.error().await
    );
    assert_eq!(browser.path().await, "/console/account");

    // Sessions: a second one from elsewhere, listed, then ended from here.
    let (status, _) = login(&server, &email, NEW_PASSWORD).await;
    assert_eq!(status, 200);
    browser.goto("/console/account").await;
    assert_eq!(browser.count("#sessions tr[data-sid]").await, 2);
    assert_eq!(
        browser.count("#sessions tr[data-current=\"true\"]").await,
        1
    );
    browser.screenshot("account").await;
    browser
        .click("#sessions tr[data-sid]:not([data-current=\"true\"]) .end-session")
        .await;
    assert_eq!(browser.count("#sessions tr[data-sid]").await, 1);

    // Sign out everywhere: back at sign-in, and the cookie no longer signs anyone in.
    browser.click("#signout-everywhere").await;
    assert_eq!(browser.path().await, "/console/signin");
    assert!(browser.notice().await.contains("Signed out everywhere"));
    browser.goto("/console/account").await;
    assert_eq!(browser.path().await, "/console/signin");

    // Forgot → reset from the emailed link → sign in with the new password.
    browser.goto("/console/forgot-password").await;
    browser.submit("forgot-form", &[("email", &email)]).await;
    assert!(browser.notice().await.contains("If an account exists"));
    let reset = link(&email, 2, "/console/reset-password?token=").await;
    browser.goto(&reset).await;
    browser
        .submit("reset-form", &[("password", RESET_PASSWORD)])
        .await;
    assert!(
        browser.notice().await.contains("Password changed"),
        "{}",
        browser.error().await
    );
    assert_eq!(browser.path().await, "/console/signin");
    browser.sign_in(&email, RESET_PASSWORD).await;
    browser.close().await;
}

#[tokio::test]
async fn an_account_without_an_email_signs_in_by_username_and_is_offered_to_add_one() {
    let server = server(&[]).await;
    let store = store().await;
    let name = crate::usernames::unique_username();
    crate::usernames::created(&store, &name, None, &[]).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, &server.base).await;
    // The sign-in field takes a username (no `@`) as well as an email.
    browser.sign_in(&name.to_uppercase(), PASSWORD).await;
    assert_eq!(browser.text("#profile-username").await, name);
    assert!(browser.text("#profile-email").await.starts_with("none"));
    assert_eq!(browser.count("#resend-verification[hidden]").await, 1);
    let new = unique_email();
    browser
        .submit(
            "email-form",
            &[("new_email", &new), ("email_password", PASSWORD)],
        )
        .await;
    assert!(
        browser.notice().await.contains("confirmation link"),
        "{}",
        browser.error().await
    );
    browser.screenshot("account-without-email").await;
    browser.close().await;
}

#[tokio::test]
async fn a_locked_out_sign_in_is_shown_as_a_wait() {
    let server = server(&[]).await;
    let email = registered(&server).await;
    for _ in 0..5 {
        let (status, _) = login(&server, &email, "wrong-password-1").await;
        assert_eq!(status, 401);
    }
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, &server.base).await;
    browser.goto("/console/signin").await;
    browser
        .submit("signin-form", &[("email", &email), ("password", PASSWORD)])
        .await;
    assert!(
        browser.notice().await.contains("Try again in"),
        "{} / {}",
        browser.notice().await,
        browser.error().await
    );
    assert!(
        browser.error().await.is_empty(),
        "{}",
        browser.error().await
    );
    let disabled = browser
        .client
        .execute(
            "return document.querySelector('#signin-form button[type=submit]').disabled",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(disabled, json!(true));
    browser.close().await;
}

#[tokio::test]
async fn an_administrator_manages_users_and_roles_and_a_disabled_user_is_signed_out() {
    let server = server(&[]).await;
    let (admin_email, _) = crate::admin::new_admin(&settings()).await;
    let user_email = registered(&server).await;
    let driver = Driver::start().await;
    let (admin, user) = tokio::join!(
        Browser::open(&driver, &server.base),
        Browser::open(&driver, &server.base)
    );

    // The user has the console open; a plain user sees no admin pages.
    user.sign_in(&user_email, PASSWORD).await;
    assert_eq!(user.count("#nav-admin-users").await, 0);

    // The administrator finds the user.
    admin.sign_in(&admin_email, PASSWORD).await;
    admin.click("#nav-admin-users").await;
    assert_eq!(admin.path().await, "/console/admin/users");
    admin.screenshot("admin-users").await;
    admin.submit("user-search", &[("email", &user_email)]).await;
    assert_eq!(admin.count("#users tr[data-user-id]").await, 1);
    admin.click("#users a.user-link").await;
    assert!(admin.path().await.starts_with("/console/admin/users/"));
    assert_eq!(admin.text("#user-email").await, user_email);
    assert_eq!(admin.text("#user-active").await, "active");

    // Disable: the user's open console is signed out on its next call.
    admin.click("#toggle-active").await;
    assert_eq!(
        admin.text("#user-active").await,
        "disabled",
        "{}",
        admin.error().await
    );
    user.submit("name-form", &[("name", "Still here?")]).await;
    assert_eq!(user.path().await, "/console/signin");
    assert!(user.notice().await.contains("Your session has ended"));
    admin.click("#toggle-active").await;
    assert_eq!(admin.text("#user-active").await, "active");

    // Roles: create one, grant it, see it on the user.
    admin.click("#nav-admin-roles").await;
    admin
        .submit(
            "role-form",
            &[
                ("name", "support"),
                ("permissions", "tickets.read\ntickets.write"),
            ],
        )
        .await;
    assert_eq!(
        admin.count("#roles tr[data-role=\"support\"]").await,
        1,
        "{}",
        admin.error().await
    );
    admin.screenshot("admin-roles").await;
    admin.goto("/console/admin/users").await;
    admin.submit("user-search", &[("email", &user_email)]).await;
    admin.click("#users a.user-link").await;
    admin
        .click("#roles-form input[name=role][value=support]")
        .await;
    admin.click("#roles-form button[type=submit]").await;
    assert!(
        admin.notice().await.contains("Roles saved"),
        "{}",
        admin.error().await
    );
    let (status, body) = login(&server, &user_email, PASSWORD).await;
    assert_eq!(status, 200);
    let claims =
        jsonwebtoken::dangerous::insecure_decode::<Value>(body["access_token"].as_str().unwrap())
            .unwrap()
            .claims;
    assert!(
        claims["entitlements"].to_string().contains("tickets.write"),
        "{claims}"
    );

    // A role in use cannot be deleted; the refusal's detail is shown.
    admin.goto("/console/admin/roles").await;
    admin
        .click("#roles tr[data-role=\"support\"] .delete-role")
        .await;
    admin.click("#confirm-yes").await;
    assert!(
        admin.error().await.contains("support"),
        "{}",
        admin.error().await
    );

    // Delete the user, after confirming.
    admin.goto("/console/admin/users").await;
    admin.submit("user-search", &[("email", &user_email)]).await;
    admin.click("#users a.user-link").await;
    admin.click("#delete-user").await;
    admin.click("#confirm-yes").await;
    assert_eq!(admin.path().await, "/console/admin/users");
    assert!(
        admin.notice().await.contains("User deleted"),
        "{}",
        admin.error().await
    );
    let (status, _) = login(&server, &user_email, PASSWORD).await;
    assert_eq!(status, 401);
    tokio::join!(admin.close(), user.close());
}

/// Pages of another origin, served by the test on `listener`: `/fetch` calls the API from
/// script with credentials and the custom header; `/form` posts a form to the refresh route.
fn other_origin(listener: tokio::net::TcpListener, api: &str) -> tokio::task::JoinHandle<()> {
    let fetch_page = format!(
        r#"<!doctype html><title>probe</title><script>
fetch("{api}/auth/refresh", {{method: "POST", credentials: "include",
  headers: {{"Content-Type": "application/json", "X-Requested-With": "probe"}}, body: "{{}}"}})
  .then(r => "status " + r.status, () => "blocked")
  .then(s => {{ document.title = "done: " + s; }});
</script>"#
    );
    let form_page = format!(
        r#"<!doctype html><title>form</title>
<form method="post" action="{api}/auth/refresh" enctype="text/plain"><input name='{{"a":"' value='"}}'></form>
<script>document.forms[0].submit();</script>"#
    );
    let app = axum::Router::new()
        .route(
            "/fetch",
            axum::routing::get(move || async move { axum::response::Html(fetch_page) }),
        )
        .route(
            "/form",
            axum::routing::get(move || async move { axum::response::Html(form_page) }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

/// Opens a probe page and waits for its script's verdict.
async fn probe(browser: &Browser, url: &str) -> String {
    browser.client.goto(url).await.expect("navigate");
    let started = Instant::now();
    loop {
        let title = browser.client.title().await.expect("title");
        if let Some(verdict) = title.strip_prefix("done: ") {
            return verdict.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{url}: no verdict"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn other_origins_can_use_neither_the_api_nor_the_cookie() {
    // Two other origins (other ports of the same host: the same site, so SameSite alone would
    // let the cookie through); the server allows only the first.
    let allowed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let allowed_origin = format!("http://{}", allowed.local_addr().unwrap());
    let evil_origin = format!("http://{}", evil.local_addr().unwrap());
    let server = server(std::slice::from_ref(&allowed_origin)).await;
    let _pages = (
        other_origin(allowed, &server.base),
        other_origin(evil, &server.base),
    );
    let email = registered(&server).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, &server.base).await;
    browser.sign_in(&email, PASSWORD).await;

    // A page of an origin CORS does not allow cannot call the API: the preflight is refused.
    assert_eq!(
        probe(&browser, &format!("{evil_origin}/fetch")).await,
        "blocked"
    );
    // The allowed origin can, with the cookie (the control: the probe itself works).
    assert_eq!(
        probe(&browser, &format!("{allowed_origin}/fetch")).await,
        "status 200"
    );

    // A cross-site form post to the refresh route is refused and sets no cookie: the browser
    // lands on the API's problem, and the console's session is still there.
    browser
        .client
        .goto(&format!("{evil_origin}/form"))
        .await
        .expect("navigate");
    let started = Instant::now();
    let answer = loop {
        let text = browser
            .client
            .execute(
                "return document.body ? document.body.innerText : ''",
                vec![],
            )
            .await
            .unwrap();
        if let Some(Ok(problem)) = text.as_str().map(serde_json::from_str::<Value>) {
            break problem;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no answer: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(answer["access_token"].is_null(), "{answer}");
    let code = answer["code"].as_str().unwrap_or_default();
    assert!(
        ["unsupported_media_type", "cross_site_request"].contains(&code),
        "{answer}"
    );
    browser.goto("/console/account").await;
    assert_eq!(browser.path().await, "/console/account");
    assert_eq!(browser.text("#profile-email").await, email);
    browser.close().await;
}

impl Browser {
    /// What has the focus: its `name` or `id`, and whether it draws an outline.
    async fn focused(&self) -> (String, bool) {
        let value = self
            .client
            .execute(
                "const e = document.activeElement; const s = getComputedStyle(e);
                 return [e.name || e.id || e.tagName, s.outlineStyle !== 'none' && s.outlineWidth !== '0px'];",
                vec![],
            )
            .await
            .expect("script");
        (
            value[0].as_str().unwrap_or_default().to_owned(),
            value[1].as_bool().unwrap_or_default(),
        )
    }

    /// Presses keys on whatever has the focus.
    async fn keys(&self, keys: &str) {
        self.client
            .active_element()
            .await
            .expect("a focused element")
            .send_keys(keys)
            .await
            .expect("keys");
    }

    /// Whether the page is wider than the window (a horizontal scroll bar on the page).
    async fn overflows(&self) -> (i64, i64) {
        let value = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                vec![],
            )
            .await
            .expect("script");
        (value[0].as_i64().unwrap(), value[1].as_i64().unwrap())
    }
}

#[tokio::test]
async fn the_console_works_from_the_keyboard_and_fits_a_phone() {
    let server = server(&[]).await;
    let (admin_email, _) = crate::admin::new_admin(&settings()).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, &server.base).await;

    // Sign in with the keyboard alone: Tab to the email field, type, Tab, type, Enter. Every
    // focused control shows its focus.
    browser.goto("/console/signin").await;
    let mut tabs = 0;
    loop {
        browser
            .keys(&char::from(fantoccini::key::Key::Tab).to_string())
            .await;
        let (focused, visible) = browser.focused().await;
        assert!(visible, "{focused} has the focus but no visible outline");
        if focused == "email" {
            break;
        }
        tabs += 1;
        assert!(tabs < 10, "the email field is not reachable with Tab");
    }
    browser.keys(&admin_email).await;
    browser
        .keys(&char::from(fantoccini::key::Key::Tab).to_string())
        .await;
    assert_eq!(browser.focused().await.0, "password");
    browser.keys(PASSWORD).await;
    browser
        .keys(&char::from(fantoccini::key::Key::Enter).to_string())
        .await;
    browser.ready().await;
    assert_eq!(
        browser.path().await,
        "/console/account",
        "{}",
        browser.error().await
    );

    // A phone's width: no page is wider than the screen (tables scroll inside themselves).
    browser
        .client
        .set_window_size(360, 800)
        .await
        .expect("resize");
    for path in [
        "/console/account",
        "/console/admin/users",
        "/console/admin/roles",
        "/console/signin",
        "/console/register",
    ] {
        browser.goto(path).await;
        let (scroll, client) = browser.overflows().await;
        assert!(client <= 400, "the window did not shrink: {client} px");
        assert!(
            scroll <= client,
            "{path} is {scroll} px wide on a {client} px screen"
        );
    }
    browser.goto("/console/admin/users").await;
    browser.screenshot("admin-users-phone").await;
    browser.close().await;
}

#[tokio::test]
async fn opening_a_link_from_a_mail_spends_nothing_until_its_button_is_clicked() {
    let server = server(&[]).await;
    let driver = Driver::start().await;
    let browser = Browser::open(&driver, &server.base).await;
    let (email, access, _) = logged_in(&server).await;
    let verify = link(&email, 1, "/console/verify-email?token=").await;
    let new_email = unique_email();
    let (status, body) = with_bearer(
        &server,
        reqwest::Method::POST,
        "/me/email",
        &access,
        Some(json!({"new_email": new_email, "current_password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 202, "{body}");

    // A scanner opens both links, scripts and all, and follows nothing else.
    browser.goto(&verify).await;
    let (status, profile) = me(&server, Some(&format!("Bearer {access}"))).await;
    assert_eq!((status, &profile["email_verified"]), (200, &json!(false)));
    let confirm = link(&new_email, 1, "/console/confirm-email?token=").await;
    browser.goto(&confirm).await;
    // Nothing was spent: the address is unverified and unchanged, every session alive.
    let (status, profile) = me(&server, Some(&format!("Bearer {access}"))).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(
        (profile["email"].as_str(), &profile["email_verified"]),
        (Some(email.as_str()), &json!(false))
    );
    assert_eq!(login(&server, &email, PASSWORD).await.0, 200);
    // The page says what the button will do.
    assert!(
        browser
            .text("#link-status")
            .await
            .contains("close this page")
    );

    // The owner clicks: the change happens.
    browser
        .click("#confirm-email-form button[type=submit]")
        .await;
    assert!(
        browser.notice().await.contains("confirmed"),
        "{} / {}",
        browser.notice().await,
        browser.error().await
    );
    assert_eq!(browser.count("#confirm-email-form").await, 0);
    assert_eq!(login(&server, &new_email, PASSWORD).await.0, 200);
    assert_eq!(login(&server, &email, PASSWORD).await.0, 401);
    browser.close().await;
}
