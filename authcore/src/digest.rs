//! The one fast digest the rules and the store key by.

use sha2::{Digest, Sha256};

/// SHA-256 of `raw`, lower-case hex. Right for values that carry 256 random bits (refresh
/// tokens, emailed links, challenges: nothing to brute-force) and for keying by an address
/// without storing it.
pub fn sha256_hex(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_the_lower_case_hex_sha256() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
