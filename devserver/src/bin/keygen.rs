//! Makes an Ed25519 signing key.
//!
//! `keygen --private-key-out FILE [--keep-public OLD_JWKS]` writes the PKCS#8 PEM private key
//! to FILE (mode 0600, never to stdout) and prints the public JWK Set to stdout: the new key,
//! plus the keys of OLD_JWKS when given (for rotation: publish the new key beside the old ones).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use shared::keys::{PublicJwkSet, SigningKey, VerificationKeys};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = None;
    let mut keep = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--private-key-out" => out = iter.next().cloned(),
            "--keep-public" => keep = iter.next().cloned(),
            _ => return Err(format!("unknown argument {arg:?}; usage: keygen --private-key-out FILE [--keep-public OLD_JWKS]").into()),
        }
    }
    let out = out.ok_or("usage: keygen --private-key-out FILE [--keep-public OLD_JWKS]")?;
    let (key, pem) = SigningKey::generate()?;
    let mut set = PublicJwkSet {
        keys: vec![key.public_jwk().clone()],
    };
    if let Some(old) = keep {
        let old = VerificationKeys::from_jwks_json(&std::fs::read_to_string(old)?)?;
        set.keys.extend(
            old.published()
                .keys
                .iter()
                .filter(|k| k.common.key_id.as_deref() != Some(key.kid()))
                .cloned(),
        );
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&out)?;
    file.write_all(pem.as_bytes())?;
    println!("{}", serde_json::to_string(&set)?);
    eprintln!("wrote the private key (kid {}) to {out}", key.kid());
    Ok(())
}
