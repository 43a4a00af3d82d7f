//! `openapi.yaml` describes exactly the routes the local server serves, which are the routes
//! of the SAM template.

use std::collections::BTreeSet;

use devserver::{OPENAPI, ROUTES};
use integration_tests::{Server, http};

#[test]
fn every_served_route_is_documented_and_vice_versa() {
    let document: serde_norway::Value = serde_norway::from_str(OPENAPI).unwrap();
    assert_eq!(document["openapi"].as_str(), Some("3.1.0"));
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_mapping().unwrap() {
        for (method, operation) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap().to_uppercase();
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
    let served: BTreeSet<_> = ROUTES
        .iter()
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
