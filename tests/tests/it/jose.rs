//! A JWT library that is not ours (jose, for Node.js) verifies an access token against the
//! served `/.well-known/jwks.json`.

use std::process::Command;

use integration_tests::{AUDIENCE, ISSUER, Server, logged_in};

#[tokio::test]
async fn jose_verifies_our_access_tokens_against_the_served_jwks() {
    let server = Server::start().await;
    let (_, access, _) = logged_in(&server).await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/jose-verify.mjs");
    let jwks_url = server.url("/.well-known/jwks.json");
    let run = |token: String| {
        let script = script.clone();
        let jwks_url = jwks_url.clone();
        tokio::task::spawn_blocking(move || {
            Command::new("node")
                .arg(script)
                .args([jwks_url.as_str(), token.as_str(), ISSUER, AUDIENCE])
                .output()
                .unwrap_or_else(|e| panic!("cannot run node ({e}): install Node.js 20+"))
        })
    };
    let output = run(access.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "jose refused our token: {stdout}{stderr}"
    );
    let verified: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(verified["protectedHeader"]["typ"], "at+jwt");
    assert_eq!(verified["protectedHeader"]["alg"], "EdDSA");
    assert_eq!(verified["payload"]["aud"], AUDIENCE);

    // And jose refuses a tampered one, so the check above can fail.
    let mut tampered = access;
    tampered.push('A');
    let output = run(tampered).await.unwrap();
    assert!(!output.status.success(), "jose accepted a tampered token");
}
