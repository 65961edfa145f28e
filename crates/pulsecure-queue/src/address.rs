//! Where the queue is: a `postgresql://` URL, checked before any socket opens.
//!
//! Two shapes are accepted, the same rule as for the evaluator service: a Unix socket (the
//! `host` is a directory, e.g. `?host=/run/postgresql`), or TCP with `sslmode=verify-full`
//! and the CA that signs the server's certificate (`sslrootcert=FILE`), optionally with a
//! client certificate (`sslcert=FILE&sslkey=FILE`). Plain TCP is refused. A password in the
//! URL is refused too: command lines are readable by every user of the machine, so it comes
//! from `PGPASSWORD` instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_postgres::config::{Host, SslMode};

use crate::error::QueueError;

/// A checked queue address.
#[derive(Clone)]
pub struct QueueAddress {
    config: tokio_postgres::Config,
    tls: Option<TlsFiles>,
    shown: String,
}

/// The files of a verify-full connection.
#[derive(Clone, Debug)]
struct TlsFiles {
    root: PathBuf,
    client: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Debug for QueueAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueAddress")
            .field("at", &self.shown)
            .finish()
    }
}

impl std::fmt::Display for QueueAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

fn invalid(reason: impl Into<String>) -> QueueError {
    QueueError::Address(reason.into())
}

impl QueueAddress {
    /// Parse and check `url`; the password, if any, comes from `PGPASSWORD`.
    pub fn parse(url: &str) -> Result<Self, QueueError> {
        Self::parse_with_password(url, std::env::var("PGPASSWORD").ok())
    }

    /// [`Self::parse`] with the password given (tests).
    pub fn parse_with_password(url: &str, password: Option<String>) -> Result<Self, QueueError> {
        if !(url.starts_with("postgresql://") || url.starts_with("postgres://")) {
            return Err(invalid(
                "the queue must be a postgresql:// URL (e.g. postgresql://pulsecure@db.example/screening?sslmode=verify-full&sslrootcert=ca.pem)",
            ));
        }
        // tokio-postgres knows sslmode disable/prefer/require; verify-full and the files are
        // taken out here and enforced with rustls (certificate chain and host name).
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut sslmode = None;
        let (mut root, mut cert, mut key) = (None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "sslmode" => sslmode = Some(value.to_string()),
                "sslrootcert" => root = Some(PathBuf::from(value)),
                "sslcert" => cert = Some(PathBuf::from(value)),
                "sslkey" => key = Some(PathBuf::from(value)),
                "password" => return Err(password_in_url()),
                _ => kept.push(pair),
            }
        }
        let rebuilt = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: tokio_postgres::Config = rebuilt
            .parse()
            .map_err(|e| invalid(format!("not a PostgreSQL connection URL: {e}")))?;
        if config.get_password().is_some() {
            return Err(password_in_url());
        }
        if let Some(password) = password {
            config.password(password);
        }
        let hosts = config.get_hosts().to_vec();
        if hosts.is_empty() {
            return Err(invalid(
                "the URL names no host: give a TCP host or a Unix socket directory (?host=/run/postgresql)",
            ));
        }
        let unix_only = hosts.iter().all(|h| matches!(h, Host::Unix(_)));
        let tls = match sslmode.as_deref() {
            Some("verify-full") => {
                let root = root.ok_or_else(|| {
                    invalid("sslmode=verify-full needs sslrootcert=FILE, the CA that signs the server's certificate")
                })?;
                let client = match (cert, key) {
                    (Some(c), Some(k)) => Some((c, k)),
                    (None, None) => None,
                    _ => return Err(invalid("give both sslcert and sslkey, or neither")),
                };
                config.ssl_mode(SslMode::Require);
                Some(TlsFiles { root, client })
            }
            None | Some("disable") if unix_only => {
                config.ssl_mode(SslMode::Disable);
                None
            }
            Some(other) if unix_only => {
                return Err(invalid(format!(
                    "sslmode={other} is not supported: a Unix socket needs none, TCP needs verify-full"
                )))
            }
            _ => {
                return Err(invalid(
                    "a TCP queue needs sslmode=verify-full and sslrootcert=FILE: patient ciphertexts and the server key do not cross a network unauthenticated",
                ))
            }
        };
        config.connect_timeout(std::time::Duration::from_secs(10));
        config.keepalives_idle(std::time::Duration::from_secs(30));
        config.application_name("pulsecure");
        let shown = describe(
            &hosts,
            config.get_ports(),
            config.get_dbname(),
            tls.is_some(),
        );
        Ok(QueueAddress { config, tls, shown })
    }

    /// The tokio-postgres configuration.
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The rustls configuration of a verify-full address (None for a Unix socket).
    pub(crate) fn rustls(&self) -> Result<Option<rustls::ClientConfig>, QueueError> {
        let Some(files) = &self.tls else {
            return Ok(None);
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(&files.root)? {
            roots
                .add(cert)
                .map_err(|e| invalid(format!("{}: {e}", files.root.display())))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("TLS set-up: {e}")))?
            .with_root_certificates(roots);
        let config = match &files.client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = read_certs(cert)?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    invalid(format!("{}: not a PEM private key: {e}", key.display()))
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| invalid(format!("client certificate: {e}")))?
            }
        };
        Ok(Some(config))
    }
}

fn password_in_url() -> QueueError {
    invalid("a password in the queue URL would be readable by every user of this machine (ps, shell history): set PGPASSWORD or use client certificates (sslcert/sslkey)")
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, QueueError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(format!("{}: not PEM certificates: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(invalid(format!("{}: no certificate in it", path.display())));
    }
    Ok(certs)
}

fn describe(hosts: &[Host], ports: &[u16], db: Option<&str>, tls: bool) -> String {
    let host = match hosts.first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(dir)) => format!("unix:{}", dir.display()),
        None => String::new(),
    };
    let port = ports.first().copied().unwrap_or(5432);
    format!(
        "postgresql {host}:{port}/{}{}",
        db.unwrap_or("(default database)"),
        if tls { " (TLS verify-full)" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unix_socket_is_accepted_without_tls() {
        let a = QueueAddress::parse_with_password(
            "postgresql://pulsecure@/screening?host=/run/postgresql&port=5433",
            None,
        )
        .expect("unix");
        assert!(a.tls.is_none());
        assert_eq!(
            a.to_string(),
            "postgresql unix:/run/postgresql:5433/screening"
        );
    }

    #[test]
    fn plain_tcp_is_refused() {
        for url in [
            "postgresql://pulsecure@db.example/screening",
            "postgresql://pulsecure@db.example/screening?sslmode=require",
            "postgresql://pulsecure@127.0.0.1/screening?sslmode=disable",
        ] {
            let e = QueueAddress::parse_with_password(url, None).expect_err(url);
            assert!(e.to_string().contains("verify-full"), "{e}");
        }
    }

    #[test]
    fn verify_full_needs_its_root() {
        let e = QueueAddress::parse_with_password(
            "postgresql://p@db.example/s?sslmode=verify-full",
            None,
        )
        .expect_err("no root");
        assert!(e.to_string().contains("sslrootcert"), "{e}");
        let ok = QueueAddress::parse_with_password(
            "postgresql://p@db.example:6543/s?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            None,
        )
        .expect("verify-full");
        assert_eq!(
            ok.to_string(),
            "postgresql db.example:6543/s (TLS verify-full)"
        );
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_echoed() {
        for url in [
            "postgresql://p:hunter2@/s?host=/run/postgresql",
            "postgresql://p@/s?host=/run/postgresql&password=hunter2",
        ] {
            let e = QueueAddress::parse_with_password(url, None).expect_err(url);
            assert!(e.to_string().contains("PGPASSWORD"), "{e}");
            assert!(!e.to_string().contains("hunter2"));
        }
        let a = QueueAddress::parse_with_password(
            "postgresql://p@/s?host=/run/postgresql",
            Some("hunter2".into()),
        )
        .expect("password from the environment");
        assert!(!format!("{a:?} {a}").contains("hunter2"));
    }

    #[test]
    fn other_schemes_are_refused() {
        assert!(QueueAddress::parse_with_password("mysql://x/y", None).is_err());
    }
}
