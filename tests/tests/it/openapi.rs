//! `openapi.yaml` describes exactly the routes the local server serves, which are the routes
//! of the SAM template.

use std::collections::BTreeSet;

use devserver::{OPENAPI, ROUTES};
use integration_tests::{Server, http};
use serde_json::Value;

/// The keys of a path item that are operations (the others: `parameters`, `summary`, ...).
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document as JSON (YAML's keys here are all strings).
fn document() -> Value {
    serde_norway::from_str(OPENAPI).expect("openapi.yaml is YAML")
}

/// `value`, or what its `$ref` points at.
fn resolved<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{reference} is not a local $ref"));
            document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} resolves to nothing"))
        }
        None => value,
    }
}

/// Every operation: (path, method, path item, operation).
fn operations(document: &Value) -> Vec<(&str, &str, &Value, &Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (key, operation) in item.as_object().expect("a path item") {
            if METHODS.contains(&key.as_str()) {
                found.push((path.as_str(), key.as_str(), item, operation));
            }
        }
    }
    found
}

#[test]
fn every_served_route_is_documented_and_vice_versa() {
    let document: serde_norway::Value = serde_norway::from_str(OPENAPI).unwrap();
    assert_eq!(document["openapi"].as_str(), Some("3.1.0"));
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_mapping().unwrap() {
        for (method, operation) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if !METHODS.contains(&method) {
                continue;
            }
            let method = method.to_uppercase();
            let path = path.as_str().unwrap();
            let protected = operation.get("security").is_some();
            let route = ROUTES.iter().find(|r| r.method == method && r.path == path);
            let route =
                route.unwrap_or_else(|| panic!("{method} {path} is documented but not served"));
            assert_eq!(
                route.protected, protected,
                "{method} {path}: security differs"
            );
            documented.insert((method, path.to_owned()));
        }
    }
    // The web console's pages are not part of the JSON API.
    let served: BTreeSet<_> = ROUTES
        .iter()
        .filter(|r| r.function != devserver::Function::Console)
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(served, documented);
}

#[tokio::test]
async fn the_local_server_serves_the_document() {
    let server = Server::start().await;
    let response = http()
        .get(server.url("/openapi.yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), OPENAPI);
}

/// Every `{name}` of a path is one required path parameter (of the path item or the
/// operation) and every path parameter is in the path; operation ids are unique.
#[test]
fn path_parameters_match_the_path_templates() {
    let document = document();
    let mut ids = BTreeSet::new();
    for (path, method, item, operation) in operations(&document) {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        let in_path: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let mut documented = BTreeSet::new();
        for parameter in item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(operation["parameters"].as_array().into_iter().flatten())
        {
            let parameter = resolved(&document, parameter);
            let name = parameter["name"].as_str().expect("a parameter's name");
            if parameter["in"] == "path" {
                assert_eq!(
                    parameter["required"], true,
                    "{method} {path}: path parameter {name} must be required"
                );
                assert!(
                    resolved(&document, &parameter["schema"]).is_object(),
                    "{method} {path}: {name} has no schema"
                );
                documented.insert(name);
            }
        }
        assert_eq!(
            in_path, documented,
            "{method} {path}: the path's {{parameters}} and the documented path parameters differ"
        );
    }
}

/// What any input can make a route answer is documented (schemathesis checks the same against
/// the running server): the gateway's 401 and 403 on protected routes, 400, 413 and 415 where a
/// body is read, 503 wherever the table is read, and on routes with a path parameter the
/// gateway's 404 (`application/json`): an empty parameter, or a `.` or `..` one a client
/// resolved away, names no route.
#[test]
fn every_operation_documents_what_any_input_can_answer() {
    let document = document();
    for (path, method, _, operation) in operations(&document) {
        let responses = &operation["responses"];
        let documented = |status: &str| resolved(&document, &responses[status]).clone();
        let route = format!("{} {path}", method.to_uppercase());
        if operation.get("security").is_some() {
            for status in ["401", "403"] {
                assert!(
                    documented(status)["content"]["application/json"]["schema"].is_object(),
                    "{route}: no gateway {status} (application/json)"
                );
            }
            assert!(documented("503").is_object(), "{route}: no 503");
        }
        if operation.get("requestBody").is_some() {
            // simplejwt's routes answer in DRF's shapes, as `application/json`; and while
            // `SIMPLEJWT_COMPAT` is off, the gateway's 404.
            let simplejwt = operation["tags"]
                .as_array()
                .is_some_and(|tags| tags.iter().any(|t| t == "simplejwt"));
            let media = if simplejwt {
                "application/json"
            } else {
                "application/problem+json"
            };
            for status in ["400", "413", "415"] {
                assert!(
                    documented(status)["content"][media].is_object(),
                    "{route}: no {status} {media}"
                );
            }
            if simplejwt {
                assert!(
                    documented("404")["content"]["application/json"]["schema"].is_object(),
                    "{route}: no gateway 404 for SIMPLEJWT_COMPAT off"
                );
            }
        }
        if path.contains('{') {
            assert!(
                documented("404")["content"]["application/json"]["schema"].is_object(),
                "{route}: no gateway 404 (application/json) for a path naming no route"
            );
        }
    }
}
