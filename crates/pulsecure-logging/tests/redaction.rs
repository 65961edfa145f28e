//! The real subscriber, fed events carrying every PII pattern: none survives in the output,
//! events with patient or secret fields are not written at all, and ordinary lines are.

use std::io::Write;
use std::sync::{Arc, Mutex};

use pulsecure_logging::{redact, subscriber};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Sink;
    fn make_writer(&'a self) -> Sink {
        Sink(self.0.clone())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf8")
    }
}

const UUID: &str = "3f2b8c1e-9a4d-4e7f-b6c5-0d1e2f3a4b5c";
const EMAIL: &str = "jane.doe+cardio@clinic.example.org";
const SSN: &str = "123-45-6789";
const HEX_KEY: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const BASE64_KEY: &str = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3";
const PEM: &str =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIOxzLrVNFwQ\n-----END PRIVATE KEY-----";

fn log_everything() -> String {
    let out = Captured::default();
    let sub = subscriber("trace", vec!["systolic_bp".into()], out.clone());
    tracing::subscriber::with_default(sub, || {
        tracing::info!("request {UUID} from {EMAIL}");
        tracing::warn!(ssn = SSN, "odd field");
        tracing::error!(digest = HEX_KEY, token = BASE64_KEY, "material");
        tracing::debug!(pem = PEM, "a pem block in a field");
        tracing::info!("inline pem: {PEM} end");
        tracing::info!(rows = 12, rejected = 1, "batch finished");
        // Protected fields: the whole event is dropped.
        tracing::info!(systolic_bp = 165.25, "model feature as a field");
        tracing::info!(password = "hunter2-horse", "secret as a field");
        tracing::info!(patient_ref = "P-0007", "pseudonym as a field");
    });
    out.text()
}

#[test]
fn no_pii_pattern_survives_the_real_subscriber() {
    let text = log_everything();
    for secret in [
        UUID,
        EMAIL,
        SSN,
        HEX_KEY,
        BASE64_KEY,
        "MC4CAQAwBQYDK2VwBCIEIOxzLrVNFwQ",
        "BEGIN PRIVATE KEY",
    ] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
    for marker in [
        "[redacted uuid]",
        "[redacted email]",
        "[redacted ssn]",
        "[redacted hex]",
        "[redacted base64]",
        "[redacted pem]",
    ] {
        assert!(text.contains(marker), "{marker} missing:\n{text}");
    }
}

#[test]
fn events_with_patient_or_secret_fields_are_not_written() {
    let text = log_everything();
    assert!(text.contains("batch finished rows=12 rejected=1"), "{text}");
    for gone in [
        "165.25",
        "model feature",
        "hunter2",
        "secret as a field",
        "P-0007",
    ] {
        assert!(!text.contains(gone), "{gone} was logged:\n{text}");
    }
}

#[test]
fn ordinary_text_is_left_alone() {
    let line = "vault unlocked in 0.58 s; model cvd-lr v1; 6 screened, 0 rejected";
    assert_eq!(redact(line), line);
    assert_eq!(pulsecure_logging::redact::rule_count(), 6);
}
