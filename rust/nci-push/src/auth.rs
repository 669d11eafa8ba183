//! Credentials, from the auth files podman, skopeo and docker read (never
//! from the Nix store: the image's script carries none), and the
//! registry's `WWW-Authenticate` challenge.

use anyhow::{Context, Result};
use base64::Engine;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// The auth file they come from (named in errors).
    pub file: PathBuf,
}

/// The auth files, in the order containers' tools read them.
pub fn auth_files(explicit: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    if let Some(f) = explicit {
        return vec![f.to_owned()];
    }
    if let Some(f) = env("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        return vec![PathBuf::from(f)];
    }
    let mut files = Vec::new();
    if let Some(d) = env("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        files.push(Path::new(&d).join("containers/auth.json"));
    }
    let home = env("HOME").filter(|h| !h.is_empty());
    match env("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        Some(c) => files.push(Path::new(&c).join("containers/auth.json")),
        None => files.extend(
            home.iter()
                .map(|h| Path::new(h).join(".config/containers/auth.json")),
        ),
    }
    files.extend(
        home.iter()
            .map(|h| Path::new(h).join(".docker/config.json")),
    );
    files
}

/// The credentials for `registry` (`host[:port]`) in the first of
/// `files` that has them; files that do not exist are passed over.
pub fn lookup(registry: &str, files: &[PathBuf]) -> Result<Option<Credentials>> {
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("{}: cannot read", file.display())),
        };
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a JSON auth file", file.display()))?;
        let auths = &json["auths"];
        let keys = [
            registry.to_owned(),
            format!("https://{registry}"),
            format!("http://{registry}"),
            format!("https://{registry}/v1/"),
            format!("https://{registry}/v2/"),
        ];
        let Some(entry) = keys.iter().find_map(|k| auths.get(k)) else {
            continue;
        };
        let Some(auth) = entry["auth"].as_str() else {
            continue;
        };
        let bad = || {
            format!(
                "{}: the \"auth\" of {registry} is not base64 of USER:PASSWORD",
                file.display()
            )
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .with_context(bad)?;
        let (user, password) = decoded.split_once(':').with_context(bad)?;
        return Ok(Some(Credentials {
            user: user.to_owned(),
            password: password.to_owned(),
            file: file.clone(),
        }));
    }
    Ok(None)
}

/// What a registry's `WWW-Authenticate` header asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    /// A token from `realm` (the distribution token protocol).
    Bearer {
        realm: String,
        service: Option<String>,
    },
    Other(String),
}

/// Parses `Basic realm="x"` or `Bearer realm="https://…",service="…"`.
pub fn parse_challenge(header: &str) -> Challenge {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let param = |name: &str| {
        params.split(',').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_owned())
        })
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Challenge::Basic
    } else if scheme.eq_ignore_ascii_case("bearer") {
        match param("realm") {
            Some(realm) => Challenge::Bearer {
                realm,
                service: param("service"),
            },
            None => Challenge::Other(header.to_owned()),
        }
    } else {
        Challenge::Other(header.to_owned())
    }
}

/// The `Authorization` value of basic authentication.
pub fn basic(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.user, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_in_the_order_podman_reads_them() {
        let env = |k: &str| match k {
            "XDG_RUNTIME_DIR" => Some("/run/user/1".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        assert_eq!(
            auth_files(None, env),
            [
                "/run/user/1/containers/auth.json",
                "/home/u/.config/containers/auth.json",
                "/home/u/.docker/config.json"
            ]
            .map(PathBuf::from)
        );
        let env2 = |k: &str| (k == "REGISTRY_AUTH_FILE").then(|| "/a.json".to_owned());
        assert_eq!(auth_files(None, env2), [PathBuf::from("/a.json")]);
        assert_eq!(
            auth_files(Some(Path::new("/b.json")), env2),
            [PathBuf::from("/b.json")]
        );
    }

    #[test]
    fn credentials_from_the_first_file_that_has_the_registry() -> Result<()> {
        let d = tempfile::tempdir()?;
        let a = d.path().join("a.json");
        let b = d.path().join("b.json");
        std::fs::write(&a, r#"{"auths":{"other.io":{"auth":"eDp5"}}}"#)?;
        // "u:p:w" — the password may hold colons.
        std::fs::write(&b, r#"{"auths":{"https://h.io:5000":{"auth":"dTpwOnc="}}}"#)?;
        let files = [d.path().join("missing.json"), a.clone(), b.clone()];
        let c = lookup("h.io:5000", &files)?.ok_or_else(|| anyhow::anyhow!("none"))?;
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u", "p:w"));
        assert_eq!(c.file, b);
        assert_eq!(basic(&c), "Basic dTpwOnc=");
        assert_eq!(lookup("nowhere.io", &files)?, None);
        std::fs::write(&a, "{")?;
        let e = format!("{:#}", lookup("h.io:5000", &files).unwrap_err());
        assert!(
            e.starts_with(&format!("{}: not a JSON auth file", a.display())),
            "{e}"
        );
        Ok(())
    }

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge("Basic realm=\"Registry Realm\""),
            Challenge::Basic
        );
        assert_eq!(
            parse_challenge(
                "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\""
            ),
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            }
        );
        assert_eq!(
            parse_challenge("Negotiate"),
            Challenge::Other("Negotiate".into())
        );
    }
}
