//! `GET /console/{proxy+}`: the web console, static files compiled into the binary (no build
//! step, no CDN). The files of [`FILES`] (the ES modules of the single-page app, `app.js` its
//! entry, some under `views/`; `style.css`; `favicon.svg`) are served as themselves; every other
//! path without a dot is a page of the single-page app and gets `index.html`; anything else is
//! 404.
//!
//! Every answer carries a strict Content-Security-Policy (scripts and styles from this origin
//! only, nothing inline, no framing), `Referrer-Policy: no-referrer` (a page opened from an
//! emailed link has the link's token in its URL) and `nosniff`.

use lambda_http::http::HeaderValue;
use lambda_http::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use lambda_http::{Body, Request, Response};
use shared::clock::SharedClock;
use shared::config::Source;
use shared::error::ApiError;
use shared::http;
use shared::runtime::InitError;

/// The policy of every console response.
pub const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

const INDEX: &str = include_str!("../static/index.html");

const JS: &str = "text/javascript; charset=utf-8";

/// A file of `static/`, served at its own path there with `media`.
macro_rules! served {
    ($media:expr, $name:literal) => {
        ($name, $media, include_str!(concat!("../static/", $name)))
    };
}

/// Every file served as itself: its path under `/console/` (the route's `proxy` parameter, which
/// keeps the slashes of a subfolder), media type and contents. A module added to `static/` is
/// served only once it is here (the tests check that every file on disk and every `import` of
/// a module is).
pub const FILES: &[(&str, &str, &str)] = &[
    served!(JS, "app.js"),
    served!(JS, "api.js"),
    served!(JS, "dom.js"),
    served!(JS, "forms.js"),
    served!(JS, "router.js"),
    served!(JS, "views/account.js"),
    served!(JS, "views/admin.js"),
    served!(JS, "views/public.js"),
    served!("text/css; charset=utf-8", "style.css"),
    served!("image/svg+xml", "favicon.svg"),
];

/// The console has no state: its files are in the binary.
#[derive(Debug, Clone, Copy)]
pub struct State;

/// Builds the state once per cold start (the same signature in every function crate).
pub async fn state(_src: &dyn Source, _clock: SharedClock) -> Result<State, InitError> {
    Ok(State)
}

/// The file a path under `/console/` names, with its media type.
pub fn file(path: &str) -> Option<(&'static str, &'static str)> {
    if let Some((_, media, body)) = FILES.iter().find(|(name, _, _)| *name == path) {
        return Some((media, body));
    }
    (!path.is_empty() && !path.contains('.')).then_some(("text/html; charset=utf-8", INDEX))
}

pub async fn handle(_state: &State, req: Request) -> Response<Body> {
    let path = http::path_param(&req, "proxy").unwrap_or_default();
    let mut response = match file(&path) {
        Some((media, body)) => http::ok_static(media, body),
        None => http::respond(&req, Err(ApiError::NotFound)),
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Revalidated on every load, so a deploy is seen at once.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The module specifiers `source` names after `from` or `import` (static imports, re-exports,
    /// `import('...')`, and JSDoc `@import` types, which name modules too).
    fn specifiers(source: &str) -> Vec<&str> {
        let mut found = Vec::new();
        for keyword in ["from", "import"] {
            for (at, _) in source.match_indices(keyword) {
                let rest = source[at + keyword.len()..].trim_start();
                let rest = rest.strip_prefix('(').unwrap_or(rest).trim_start();
                let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                    continue;
                };
                let inner = &rest[1..];
                let end = inner.find(quote).expect("a closed string");
                found.push(&inner[..end]);
            }
        }
        found.sort_unstable();
        found
    }

    /// `specifier` resolved against the module `name` (both under `/console/`), as the browser
    /// resolves it; `None` when it is not relative or climbs out of `/console/`.
    fn resolve(name: &str, specifier: &str) -> Option<String> {
        if !specifier.starts_with("./") && !specifier.starts_with("../") {
            return None;
        }
        let mut path: Vec<&str> = name.split('/').collect();
        path.pop();
        for segment in specifier.split('/') {
            match segment {
                "." => {}
                ".." => {
                    path.pop()?;
                }
                _ => path.push(segment),
            }
        }
        Some(path.join("/"))
    }

    #[test]
    fn resolving_follows_the_folders() {
        assert_eq!(
            resolve("app.js", "./router.js").as_deref(),
            Some("router.js")
        );
        assert_eq!(
            resolve("app.js", "./views/admin.js").as_deref(),
            Some("views/admin.js")
        );
        assert_eq!(
            resolve("views/admin.js", "../dom.js").as_deref(),
            Some("dom.js")
        );
        assert_eq!(resolve("views/admin.js", "../../x.js"), None);
        assert_eq!(resolve("app.js", "dom.js"), None);
        assert_eq!(resolve("app.js", "/console/dom.js"), None);
        assert_eq!(
            specifiers(
                "import { a } from './a.js';\nimport * as b from \"../b.js\";\nimport './c.js';\n/** @import { D } from './d.js' */ import('./e.js')"
            ),
            ["../b.js", "./a.js", "./c.js", "./d.js", "./e.js"]
        );
    }

    #[test]
    fn every_import_of_a_module_names_a_served_module() {
        let mut checked = 0;
        for (name, media, source) in FILES {
            if !name.ends_with(".js") {
                continue;
            }
            assert_eq!(*media, JS, "{name}");
            assert!(
                source.starts_with("// @ts-check\n"),
                "{name} is not type-checked"
            );
            for specifier in specifiers(source) {
                let target = resolve(name, specifier).unwrap_or_else(|| {
                    panic!("{name} imports {specifier:?}: not a relative path under /console/")
                });
                assert!(
                    FILES
                        .iter()
                        .any(|(served, media, _)| *served == target && *media == JS),
                    "{name} imports {specifier:?}, but {target} is not in FILES"
                );
                checked += 1;
            }
        }
        assert!(checked > 10, "only {checked} imports found");
    }

    /// Every file under `dir` (its path relative to `static/`).
    fn files_under(dir: &Path, prefix: &str, into: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("static/") {
            let entry = entry.expect("a directory entry");
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().expect("a file type").is_dir() {
                files_under(&entry.path(), &format!("{name}/"), into);
            } else {
                into.push(name);
            }
        }
    }

    #[test]
    fn every_file_on_disk_is_served() {
        let mut on_disk = Vec::new();
        files_under(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("static"),
            "",
            &mut on_disk,
        );
        for name in &on_disk {
            if name != "index.html" {
                assert!(
                    FILES.iter().any(|(served, _, _)| served == name),
                    "static/{name} is not in FILES"
                );
            }
        }
        assert_eq!(on_disk.len(), FILES.len() + 1, "{on_disk:?}");
    }

    #[test]
    fn the_page_names_only_served_files() {
        let mut names = 0;
        for attribute in ["src=\"/console/", "href=\"/console/"] {
            for (at, _) in INDEX.match_indices(attribute) {
                let rest = &INDEX[at + attribute.len()..];
                let name = &rest[..rest.find('"').expect("a closed attribute")];
                assert!(file(name).is_some(), "index.html names {name}");
                names += 1;
            }
        }
        assert!(INDEX.contains("<script type=\"module\" src=\"/console/app.js\">"));
        assert!(names >= 3, "{names}");
        // The modules app.js imports are preloaded: all fetched at once.
        for (name, media, _) in FILES {
            if *media == JS && *name != "app.js" {
                let preload = format!("<link rel=\"modulepreload\" href=\"/console/{name}\">");
                assert!(
                    INDEX.contains(&preload),
                    "index.html does not preload {name}"
                );
            }
        }
    }

    #[test]
    fn paths_find_files_pages_or_nothing() {
        assert_eq!(file("views/admin.js").map(|(media, _)| media), Some(JS));
        assert_eq!(file("app.js").map(|(media, _)| media), Some(JS));
        assert_eq!(
            file("style.css").map(|(media, _)| media),
            Some("text/css; charset=utf-8")
        );
        for page in ["account", "admin/users/some-id", "views/admin"] {
            assert_eq!(
                file(page),
                Some(("text/html; charset=utf-8", INDEX)),
                "{page}"
            );
        }
        for missing in [
            "",
            "secret.env",
            "index.html",
            "views/missing.js",
            "admin.js",
            "tsconfig.json",
        ] {
            assert_eq!(file(missing), None, "{missing}");
        }
    }
}
