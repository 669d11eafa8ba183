//! The certificates HTTPS trusts: what podman and skopeo trust.

use anyhow::{bail, Context, Result};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The directory of a registry's own certificates: `--cert-dir` (as
/// podman's and skopeo's), else `/etc/containers/certs.d/REGISTRY/`.
pub fn registry_dir(registry: &str, cert_dir: Option<&Path>) -> PathBuf {
    match cert_dir {
        Some(d) => d.to_owned(),
        None => Path::new("/etc/containers/certs.d").join(registry),
    }
}

/// The files of trusted certificates for a registry: `$SSL_CERT_FILE`
/// or the system bundle, and every `*.crt` in `registry_dir` (its
/// `ca.crt`; see [`registry_dir`]).
pub fn trusted_files(ssl_cert_file: Option<String>, registry_dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![ssl_cert_file
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"))];
    if let Ok(dir) = std::fs::read_dir(registry_dir) {
        let mut extra: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        extra.sort();
        files.extend(extra);
    }
    files
}

/// A TLS configuration trusting the certificates in `files` (missing
/// files are passed over; none at all is an error).
pub fn config(files: &[PathBuf]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for f in files {
        if !f.exists() {
            continue;
        }
        let certs = CertificateDer::pem_file_iter(f)
            .and_then(|i| i.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{}: not a PEM certificate file", f.display()))?;
        roots.add_parsable_certificates(certs);
    }
    if roots.is_empty() {
        bail!(
            "no trusted certificates in {} (set SSL_CERT_FILE, or install ca-certificates)",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // ring (no C toolchain beyond cc, builds static); rustls marks it
    // deprecated only for lacking post-quantum key exchange.
    #[allow(deprecated)]
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS setup")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_bundle_then_the_registry_s_certs_d() -> Result<()> {
        let d = tempfile::tempdir()?;
        let reg = d.path().join("h.io:5000");
        std::fs::create_dir(&reg)?;
        std::fs::write(reg.join("ca.crt"), "")?;
        std::fs::write(reg.join("client.key"), "")?;
        assert_eq!(
            trusted_files(None, &reg),
            [
                PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
                reg.join("ca.crt")
            ]
        );
        assert_eq!(
            trusted_files(Some("/x.pem".into()), &d.path().join("other.io")),
            [PathBuf::from("/x.pem")]
        );
        assert_eq!(
            registry_dir("h.io:5000", None),
            PathBuf::from("/etc/containers/certs.d/h.io:5000")
        );
        assert_eq!(registry_dir("h.io", Some(&reg)), reg);
        let e = format!("{:#}", config(&[reg.join("ca.crt")]).unwrap_err());
        assert!(e.starts_with("no trusted certificates in "), "{e}");
        Ok(())
    }
}
