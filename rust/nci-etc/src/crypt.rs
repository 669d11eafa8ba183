//! Clear-text passwords (`password`, `initialPassword`) become SHA-512
//! crypt hashes (`$6$`), the scheme NixOS' `mkpasswd` default and its
//! activation script use. The salt is derived from the user name and the
//! password instead of drawn at random, so the same configuration gives
//! the same /etc/shadow (the password is in the Nix store anyway: these
//! options are for public accounts, as NixOS warns).

use anyhow::{anyhow, Result};
use sha2::{Digest, Sha256};
use sha_crypt::{sha512_crypt_b64, Sha512Params};

/// The alphabet of crypt salts.
const CRYPT64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn salt_for(user: &str, password: &str) -> String {
    let digest = Sha256::digest(format!("nci-salt:{user}\0{password}").as_bytes());
    digest[..16]
        .iter()
        .map(|b| char::from(CRYPT64[usize::from(b % 64)]))
        .collect()
}

/// `$6$<salt>$<hash>` with the default 5000 rounds.
pub fn hash_with_salt(password: &str, salt: &str) -> Result<String> {
    let hash = sha512_crypt_b64(
        password.as_bytes(),
        salt.as_bytes(),
        &Sha512Params::default(),
    )
    .map_err(|e| anyhow!("hashing a password failed: {e:?}"))?;
    Ok(format!("$6${salt}${hash}"))
}

/// The hash of `password` for `user`, with the deterministic salt.
pub fn hash_password(user: &str, password: &str) -> Result<String> {
    hash_with_salt(password, &salt_for(user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_sha_crypt_reference_vector() {
        // Ulrich Drepper's specification, test 1.
        assert_eq!(
            hash_with_salt("Hello world!", "saltstring").unwrap(),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
    }

    #[test]
    fn same_input_same_hash_and_salts_differ_per_user() {
        let a = hash_password("alice", "secret").unwrap();
        assert_eq!(a, hash_password("alice", "secret").unwrap());
        assert_ne!(a, hash_password("bob", "secret").unwrap());
        let salt = a.split('$').nth(2).unwrap();
        assert_eq!(salt.len(), 16);
    }
}
