//! The registry side of a push (the OCI distribution API): which blobs
//! the registry has (`HEAD /v2/NAME/blobs/DIGEST`), uploads of the others
//! (`POST` then one `PUT` with the whole blob), then the manifest under
//! the tag, last, so that a failed push leaves no tag.

use crate::auth::{self, Challenge, Credentials};
use crate::destination::Destination;
use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;

pub struct Registry {
    agent: ureq::Agent,
    /// `http://host:port` or `https://host:port`.
    base: String,
    dest: Destination,
    credentials: Option<Credentials>,
    /// Where credentials were looked for (named when none were found).
    searched: String,
    authorization: Option<String>,
}

/// Reads the registry's error (`{"errors":[{"code","message"}]}`).
fn explain(code: u16, resp: ureq::Response) -> String {
    let status = resp.status_text().to_owned();
    let body = resp.into_string().unwrap_or_default();
    let details = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let errs = v["errors"].as_array()?.clone();
            Some(
                errs.iter()
                    .map(|e| {
                        let mut m = format!(
                            "{}: {}",
                            e["code"].as_str().unwrap_or("?"),
                            e["message"].as_str().unwrap_or("")
                        );
                        // The distribution registry says why a write
                        // failed there ("no space left on device").
                        if let Some(d) = e["detail"].as_str().filter(|d| !d.is_empty()) {
                            m.push_str(": ");
                            m.push_str(d);
                        }
                        m
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })
        .filter(|s| !s.is_empty());
    match details {
        Some(d) => format!("{code} {status} ({d})"),
        None => format!("{code} {status}"),
    }
}

impl Registry {
    pub fn new(
        dest: Destination,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
        credentials: Option<Credentials>,
        searched: String,
    ) -> Self {
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(std::time::Duration::from_secs(30))
            .redirects(0);
        let scheme = match tls {
            Some(t) => {
                builder = builder.tls_config(t);
                "https"
            }
            None => "http",
        };
        Registry {
            agent: builder.build(),
            base: format!("{scheme}://{}", dest.registry),
            dest,
            credentials,
            searched,
            authorization: None,
        }
    }

    fn request(&self, method: &str, url: &str) -> ureq::Request {
        let r = self.agent.request(method, url);
        match &self.authorization {
            Some(a) => r.set("Authorization", a),
            None => r,
        }
    }

    /// Sends a request; turns failures into messages naming the registry.
    fn call(
        &self,
        what: &str,
        sent: std::result::Result<ureq::Response, ureq::Error>,
    ) -> Result<ureq::Response> {
        match sent {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(401, _)) => Err(self.refused()),
            Err(ureq::Error::Status(code, resp)) => {
                bail!("{what}: the registry answered {}", explain(code, resp))
            }
            Err(ureq::Error::Transport(t)) => {
                bail!("cannot reach {} ({what}): {t}", self.dest.registry)
            }
        }
    }

    fn refused(&self) -> anyhow::Error {
        match &self.credentials {
            Some(c) => anyhow!(
                "{} refused the credentials of {} (from {})",
                self.dest.registry,
                c.user,
                c.file.display()
            ),
            None => anyhow!(
                "{} asks for credentials and there are none for it in {} (log in with `podman login {}`, or name an auth file with --authfile)",
                self.dest.registry,
                self.searched,
                self.dest.registry
            ),
        }
    }

    /// `GET /v2/`: checks the registry answers, and authenticates.
    pub fn login(&mut self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let challenge = match self.agent.get(&url).call() {
            Ok(_) => return Ok(()),
            Err(ureq::Error::Status(401, resp)) => {
                auth::parse_challenge(resp.header("www-authenticate").unwrap_or(""))
            }
            Err(ureq::Error::Status(code, resp)) => {
                bail!(
                    "GET /v2/: not a registry? It answered {}",
                    explain(code, resp)
                )
            }
            Err(ureq::Error::Transport(t)) => {
                bail!("cannot reach {}: {t}", self.dest.registry)
            }
        };
        let Some(creds) = self.credentials.clone() else {
            return Err(self.refused());
        };
        match challenge {
            Challenge::Basic => self.authorization = Some(auth::basic(&creds)),
            Challenge::Bearer { realm, service } => {
                let scope = format!("repository:{}:pull,push", self.dest.repository);
                let mut req = self
                    .agent
                    .get(&realm)
                    .set("Authorization", &auth::basic(&creds))
                    .query("scope", &scope);
                if let Some(s) = &service {
                    req = req.query("service", s);
                }
                let resp = self.call("the token request", req.call())?;
                let json: serde_json::Value = resp
                    .into_string()
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .context("the token service's answer is not JSON")?;
                let token = json["token"]
                    .as_str()
                    .or_else(|| json["access_token"].as_str())
                    .context("the token service's answer has no token")?;
                self.authorization = Some(format!("Bearer {token}"));
            }
            Challenge::Other(h) => {
                bail!(
                    "{} asks for an authentication this tool does not speak: {h}",
                    self.dest.registry
                )
            }
        }
        let req = self.request("GET", &url);
        self.call("GET /v2/", req.call())?;
        Ok(())
    }

    /// Whether the repository has the blob `digest` (`sha256:HEX`).
    pub fn has_blob(&self, digest: &str) -> Result<bool> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.dest.repository);
        match self.request("HEAD", &url).call() {
            Ok(_) => Ok(true),
            Err(ureq::Error::Status(404, _)) => Ok(false),
            Err(ureq::Error::Status(401, _)) => Err(self.refused()),
            Err(ureq::Error::Status(code, resp)) => {
                bail!(
                    "HEAD blob {digest}: the registry answered {}",
                    explain(code, resp)
                )
            }
            Err(ureq::Error::Transport(t)) => {
                bail!("cannot reach {}: {t}", self.dest.registry)
            }
        }
    }

    /// Uploads `size` bytes of `body` as the blob `digest` (one PUT).
    pub fn upload(&self, digest: &str, size: u64, body: impl Read) -> Result<()> {
        let url = format!("{}/v2/{}/blobs/uploads/", self.base, self.dest.repository);
        let what = format!("upload of {digest}");
        let req = self.request("POST", &url).set("Content-Length", "0");
        let resp = self.call(&what, req.call())?;
        let location = resp
            .header("location")
            .with_context(|| format!("{what}: the registry gave no upload location"))?;
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location.to_owned()
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={}", digest.replace(':', "%3A"));
        let req = self
            .request("PUT", &put)
            .set("Content-Type", "application/octet-stream")
            .set("Content-Length", &size.to_string());
        match req.send(body) {
            Err(ureq::Error::Status(code, resp)) if code >= 500 => bail!(
                "{what}: the registry could not store it (is its storage full or read-only? its log says why): it answered {}",
                explain(code, resp)
            ),
            sent => self.call(&what, sent)?,
        };
        Ok(())
    }

    /// Puts the manifest under the destination's tag.
    pub fn put_manifest(&self, manifest: &str, media_type: &str) -> Result<()> {
        self.put_manifest_as(&self.dest.tag, manifest, media_type)
    }

    /// Puts the manifest under `reference`: a tag, or its own digest
    /// (`sha256:HEX`, an index's member, which gets no tag).
    pub fn put_manifest_as(&self, reference: &str, manifest: &str, media_type: &str) -> Result<()> {
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            self.base, self.dest.repository
        );
        let req = self.request("PUT", &url).set("Content-Type", media_type);
        self.call("the manifest", req.send_string(manifest))?;
        Ok(())
    }
}
