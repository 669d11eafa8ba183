//! `docker://HOST[:PORT]/REPOSITORY[:TAG]`, the destination form skopeo
//! and podman use.

use anyhow::{bail, Result};

#[derive(Debug, PartialEq, Eq)]
pub struct Destination {
    /// `host` or `host:port`, as the auth file keys it.
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

impl Destination {
    /// Parses `text`; `default_tag` is used when it names no tag.
    pub fn parse(text: &str, default_tag: &str) -> Result<Self> {
        let Some(rest) = text.strip_prefix("docker://") else {
            bail!(
                "{text}: the destination must start with docker:// (docker://HOST/REPOSITORY:TAG)"
            );
        };
        let Some((registry, path)) = rest.split_once('/') else {
            bail!("{text}: the destination names no repository (docker://HOST/REPOSITORY:TAG)");
        };
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            bail!("{text}: the destination must name its registry host first (docker://{registry}.example.com/... or docker://localhost:5000/...), as no default registry is assumed");
        }
        if path.contains('@') {
            bail!("{text}: push to a tag, not a digest");
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t),
            _ => (path, default_tag),
        };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.as_bytes()[0].is_ascii_alphanumeric()
        };
        if !repository.split('/').all(component_ok) {
            bail!("{text}: the repository '{repository}' is not a valid name (lowercase letters, digits and . _ - between slashes)");
        }
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && tag.as_bytes()[0] != b'.'
            && tag.as_bytes()[0] != b'-';
        if !tag_ok {
            bail!("{text}: the tag '{tag}' is not valid (letters, digits, . _ -, at most 128)");
        }
        Ok(Destination {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.to_owned(),
        })
    }

    /// The host without the port.
    pub fn host(&self) -> &str {
        if let Some(rest) = self.registry.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        self.registry.split(':').next().unwrap_or(&self.registry)
    }

    /// Whether the registry is this machine (plain HTTP is allowed).
    pub fn is_loopback(&self) -> bool {
        matches!(self.host(), "localhost" | "::1") || self.host().starts_with("127.")
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "docker://{}/{}:{}",
            self.registry, self.repository, self.tag
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        format!("{:#}", Destination::parse(text, "t").unwrap_err())
    }

    #[test]
    fn host_port_repository_and_tag() -> Result<()> {
        let d = Destination::parse("docker://127.0.0.1:5000/team/hello:1.0", "t")?;
        assert_eq!(d.registry, "127.0.0.1:5000");
        assert_eq!(d.repository, "team/hello");
        assert_eq!(d.tag, "1.0");
        assert!(d.is_loopback());
        assert_eq!(d.to_string(), "docker://127.0.0.1:5000/team/hello:1.0");
        let d = Destination::parse("docker://registry.example.com/hello", "abc")?;
        assert_eq!((d.host(), d.tag.as_str()), ("registry.example.com", "abc"));
        assert!(!d.is_loopback());
        assert!(Destination::parse("docker://[::1]:5000/x", "t")?.is_loopback());
        Ok(())
    }

    #[test]
    fn bad_destinations_are_explained() {
        assert_eq!(
            err("127.0.0.1/x"),
            "127.0.0.1/x: the destination must start with docker:// (docker://HOST/REPOSITORY:TAG)"
        );
        assert_eq!(
            err("docker://hello"),
            "docker://hello: the destination names no repository (docker://HOST/REPOSITORY:TAG)"
        );
        assert!(err("docker://library/hello:1").contains("must name its registry host first"));
        assert!(err("docker://h.io/Hello:1").contains("the repository 'Hello' is not a valid name"));
        assert!(err("docker://h.io/hello:-x").contains("the tag '-x' is not valid"));
        assert_eq!(
            err("docker://h.io/hello@sha256:00"),
            "docker://h.io/hello@sha256:00: push to a tag, not a digest"
        );
    }
}
