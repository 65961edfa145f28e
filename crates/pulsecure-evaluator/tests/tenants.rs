//! Tenants under mutual TLS (issue 30, part 5), the real binary and real keys: clinic B,
//! with a certificate of the same CA, can neither see nor delete clinic A's key; the log
//! names each call's certificate; a key beyond an identity's quota, or beyond the store's
//! byte cap, is refused with RESOURCE_EXHAUSTED; the status details are the operator's.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::ports::fhe::{Evaluator, FheClient};
use pulsecure_core::{Model, QuantizedInput};
use pulsecure_evaluator_client::{
    ClientTls, Connection, RemoteConfig, RemoteError, RemoteEvaluator,
};
use pulsecure_fhe::{generate_keys, TfheClient};
use pulsecure_rpc::EvaluatorAddress;
use sha2::{Digest, Sha256};
use support::hostile::{self, Pki};
use tonic::Code;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[String], port: u16, log: &Path) -> Server {
    let child = Command::new(support::binary())
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("start the evaluator");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the evaluator did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child)
}

fn connect(
    port: u16,
    pki: &Pki,
    (cert, key): &(std::path::PathBuf, std::path::PathBuf),
) -> Connection {
    let mut config = RemoteConfig::new(
        EvaluatorAddress::Https(format!("https://127.0.0.1:{port}")),
        Some(ClientTls {
            ca: pki.ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
        }),
    );
    config.retry_for = Duration::from_millis(0);
    Connection::connect(config).expect("connect")
}

/// `spki:HEX` of a certificate file, as the evaluator names identities.
fn spki_identity(cert_pem: &Path) -> String {
    let pem = std::fs::read(cert_pem).expect("cert");
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(&pem).expect("PEM");
    let cert = webpki::EndEntityCert::try_from(&der).expect("parse");
    let hash = Sha256::digest(cert.subject_public_key_info().as_ref());
    format!(
        "spki:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn sha256_fingerprint(cert_pem: &Path) -> String {
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(cert_pem).expect("cert");
    let der = rustls_pki_types::CertificateDer::from_pem_slice(&pem).expect("PEM");
    let hash = Sha256::digest(der.as_ref());
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn refused(e: RemoteError) -> (Code, String) {
    match e {
        RemoteError::Refused { code, message } => (code, message),
        other => panic!("expected a refusal, got {other}"),
    }
}

#[test]
fn keys_belong_to_their_uploader_under_mutual_tls() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let pki = Pki::new(d);
    let clinic_a = pki.client("clinic-A", &["clinic-a"]);
    let clinic_b = pki.client("clinic-B", &["clinic-b"]);
    let operator = pki.client("operator", &["operator"]);
    let port = hostile::free_port();
    let mut args = pki.serve_args(port, &d.join("data"));
    args.extend(
        [
            "--operator",
            &spki_identity(&operator.0),
            "--max-keys-per-identity",
            "1",
        ]
        .map(String::from),
    );
    let log = d.join("evaluator.log");
    let _server = start(&args, port, &log);

    let model = Model::from_json(DEFAULT_MODEL_JSON).expect("model");
    let keys = generate_keys().expect("keygen");
    let key_id = keys.key_id;
    let server_key = Arc::new(keys.server_key_bytes.clone());
    let a = Arc::new(connect(port, &pki, &clinic_a));
    let b = connect(port, &pki, &clinic_b);
    let op = connect(port, &pki, &operator);

    a.put_server_key(Arc::clone(&server_key), &key_id, Arc::new(|_| {}))
        .expect("clinic A uploads its key");
    assert!(a.has_key(&key_id).expect("has_key A"));

    // Clinic B: A's key is, to B, a key not held; deleting it changes nothing.
    assert!(!b.has_key(&key_id).expect("has_key B"), "B sees A's key");
    let deleted = b.delete_key(&key_id).expect("B's delete answered");
    assert!(!deleted, "clinic B deleted clinic A's key");
    assert!(a.has_key(&key_id).expect("has_key A"), "A's key is gone");

    // A evaluates; B cannot use A's key.
    let client = TfheClient::new(&model, keys.client_key, key_id).expect("client");
    let patient = support::varied_patient(&model, 3);
    let request = client
        .encrypt(&QuantizedInput::from_patient(&model, &patient))
        .expect("encrypt");
    RemoteEvaluator::new(Arc::clone(&a), 1)
        .evaluate(&request)
        .expect("A evaluates with its key");
    let b = Arc::new(b);
    assert!(
        RemoteEvaluator::new(Arc::clone(&b), 1)
            .evaluate(&request)
            .is_err(),
        "B evaluated with A's key"
    );

    // Status details (queue depth, cached keys) for the operator only.
    let status_a = a.status().expect("status A");
    let status_op = op.status().expect("status operator");
    assert_eq!(status_op.cached_keys, 1, "the operator sees the cache");
    assert_eq!(
        (status_a.cached_keys, status_a.queue_depth),
        (0, 0),
        "a clinic sees the cache and queue"
    );

    // Quota of one key per identity: a second key of A (one byte of the first flipped: a new
    // key id) is refused before it is received.
    let mut other = keys.server_key_bytes.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    let other_id = pulsecure_fhe::ServerKeyId::of_key(&other);
    let (code, message) = refused(
        a.put_server_key(Arc::new(other), &other_id, Arc::new(|_| {}))
            .expect_err("a second key beyond the quota"),
    );
    assert_eq!(code, Code::ResourceExhausted, "{message}");
    assert!(message.contains("owns 1 server keys"), "{message}");

    // The operator sees and deletes any key.
    assert!(op.has_key(&key_id).expect("has_key operator"));
    assert!(op.delete_key(&key_id).expect("operator delete"));
    assert!(!a.has_key(&key_id).expect("has_key A after"));

    // Each call names its certificate in the log.
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    for (who, name) in [(&clinic_a, "A"), (&clinic_b, "B"), (&operator, "operator")] {
        let fingerprint = sha256_fingerprint(&who.0);
        assert!(
            text.lines()
                .any(|l| l.contains("DeleteKey") && l.contains(&fingerprint))
                || name == "A",
            "no DeleteKey line names {name}'s certificate:\n{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.contains("HasKey") && l.contains(&fingerprint)),
            "no HasKey line names {name}'s certificate:\n{text}"
        );
    }
}

#[test]
fn the_key_store_byte_cap_refuses_a_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let pki = Pki::new(d);
    let clinic = pki.client("clinic", &["clinic"]);
    let port = hostile::free_port();
    let mut args = pki.serve_args(port, &d.join("data"));
    args.extend(["--max-key-store-mib", "1"].map(String::from));
    let _server = start(&args, port, &d.join("evaluator.log"));
    let keys = generate_keys().expect("keygen");
    let connection = connect(port, &pki, &clinic);
    let (code, message) = refused(
        connection
            .put_server_key(
                Arc::new(keys.server_key_bytes.clone()),
                &keys.key_id,
                Arc::new(|_| {}),
            )
            .expect_err("beyond the byte cap"),
    );
    assert_eq!(code, Code::ResourceExhausted, "{message}");
    assert!(message.contains("key store is full"), "{message}");
    assert!(!connection.has_key(&keys.key_id).expect("has_key"));
}
