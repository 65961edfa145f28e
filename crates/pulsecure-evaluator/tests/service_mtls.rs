//! The evaluator over TCP with mutual TLS, with certificates made here (rcgen): a client
//! with a certificate from the evaluator's client CA is served; a client without a
//! certificate, with one from another CA, or that does not trust the evaluator's CA is
//! refused; the evaluation equals the reference engine.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::ports::fhe::{Evaluator, FheClient};
use pulsecure_core::{Model, PatientFeatures, QuantizedInput, ReferenceEngine};
use pulsecure_evaluator_client::{ClientTls, Connection, RemoteConfig, RemoteEvaluator};
use pulsecure_fhe::{generate_keys, TfheClient};
use pulsecure_rpc::EvaluatorAddress;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A CA and a certificate it signed, written as PEM files under `dir`.
struct Pki {
    ca: std::path::PathBuf,
}

fn ca(dir: &Path, name: &str) -> (Pki, CertifiedIssuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} CA"));
    let issuer =
        CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
    let path = dir.join(format!("{name}-ca.pem"));
    std::fs::write(&path, issuer.pem()).expect("write CA");
    (Pki { ca: path }, issuer)
}

/// A leaf certificate for `names`, signed by `issuer`; returns (cert, key) paths.
fn leaf(
    dir: &Path,
    name: &str,
    names: &[&str],
    issuer: &CertifiedIssuer<'static, KeyPair>,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = KeyPair::generate().expect("key");
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name.to_string());
    let cert = params.signed_by(&key, issuer).expect("sign");
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connect(url: &str, ca: &Path, cert: &Path, key: &Path) -> Result<Connection, String> {
    let mut config = RemoteConfig::new(
        url.parse::<EvaluatorAddress>().expect("address"),
        Some(ClientTls {
            ca: ca.to_path_buf(),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }),
    );
    config.retry_for = Duration::from_millis(0);
    Connection::connect(config).map_err(|e| e.to_string())
}

#[test]
fn mutual_tls_serves_only_clients_of_its_ca() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (clinic, clinic_issuer) = ca(d, "clinic");
    let (other, other_issuer) = ca(d, "other");
    let (server_cert, server_key) =
        leaf(d, "evaluator", &["127.0.0.1", "localhost"], &clinic_issuer);
    let (client_cert, client_key) = leaf(d, "workstation", &["workstation"], &clinic_issuer);
    let (rogue_cert, rogue_key) = leaf(d, "rogue", &["rogue"], &other_issuer);

    let port = free_port();
    let log = std::fs::File::create(d.join("evaluator.log")).expect("log");
    let _server = Server(
        Command::new(support::binary())
            .args(["serve", "--listen", &format!("tcp:127.0.0.1:{port}")])
            .arg("--tls-cert")
            .arg(&server_cert)
            .arg("--tls-key")
            .arg(&server_key)
            .arg("--client-ca")
            .arg(&clinic.ca)
            .arg("--data-dir")
            .arg(d.join("data"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the evaluator did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("https://127.0.0.1:{port}");

    // Refused: a certificate from another CA; a client that trusts another CA.
    let refused = connect(&url, &clinic.ca, &rogue_cert, &rogue_key).expect_err("rogue client");
    assert!(
        refused.contains("cannot reach") || refused.contains("refused"),
        "{refused}"
    );
    let refused = connect(&url, &other.ca, &client_cert, &client_key).expect_err("wrong server CA");
    assert!(!refused.is_empty());
    // Refused: no client certificate at all (a bare TLS client).
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let bare = runtime.block_on(async {
        let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(
            tonic::transport::Certificate::from_pem(std::fs::read(&clinic.ca).expect("ca")),
        );
        let channel = tonic::transport::Endpoint::from_shared(url.clone())
            .expect("url")
            .tls_config(tls)
            .expect("tls")
            .connect()
            .await;
        match channel {
            Err(e) => Err(e.to_string()),
            Ok(channel) => pulsecure_rpc::v1::evaluator_client::EvaluatorClient::new(channel)
                .get_status(pulsecure_rpc::v1::GetStatusRequest {})
                .await
                .map(|_| ())
                .map_err(|s| s.to_string()),
        }
    });
    assert!(bare.is_err(), "a client without a certificate was served");

    // Served: the clinic's workstation certificate; an evaluation equals the reference.
    let connection =
        Arc::new(connect(&url, &clinic.ca, &client_cert, &client_key).expect("served"));
    let model = Model::from_json(DEFAULT_MODEL_JSON).expect("model");
    let keys = generate_keys().expect("keygen");
    let client = TfheClient::new(&model, keys.client_key, keys.key_id).expect("client");
    connection
        .put_server_key(
            Arc::new(keys.server_key_bytes),
            &keys.key_id,
            Arc::new(|_| {}),
        )
        .expect("upload over mTLS");
    let patient =
        PatientFeatures::from_ordered(model.features(), &[58.0, 0.0, 131.0, 0.0, 1.0, 1.0])
            .expect("patient");
    let remote = RemoteEvaluator::new(Arc::clone(&connection), 2);
    let request = client
        .encrypt(&QuantizedInput::from_patient(&model, &patient))
        .expect("encrypt");
    let result = client
        .decrypt(&remote.evaluate(&request).expect("evaluate"))
        .expect("decrypt");
    let expected = ReferenceEngine::new(&model).evaluate(&patient);
    assert_eq!(result.probability_code, expected.probability_code);
    assert_eq!(result.high_risk, expected.high_risk);
}
