//! The sealed part of a screening row, in a fixed-width binary encoding: every payload of a
//! model (a given feature count) has the same length, so the ciphertext length — which
//! AES-GCM keeps — says nothing about the reference, the class, the probability or the
//! values.
//!
//! Layout (little-endian), tag `0x04`: exact time (i64 Unix seconds) · reference length
//! (u16) · reference bytes zero-padded to [`REF_CAPACITY`] · status (u8: 0 screened, else
//! the not-eligible reason's byte) · feature count (u8) · each feature (f64) · probability
//! (f64) · probability code (u32) · class (u8: 0 low, 1 high). Length 282 + 8n, whatever the
//! status: a not-eligible row stores n NaN values, so the length does not tell it either.
//!
//! Schema 6 wrote tag `0x03`, the same without the status byte (every such row is a
//! screened one); it is still read.
//!
//! Rows written by schema 4 and before held the reference and time in clear columns and
//! sealed only the outcome, as tag `0x02` (layout as above from the feature count on) or as
//! JSON; [`Outcome::decode_legacy`] reads both when those rows are moved to schema 5.

use pulsecure_core::domain::equation_intake::IneligibleReason;
use pulsecure_core::ports::store::RecordStatus;
use pulsecure_core::{PatientRef, RiskClass};
use serde::Deserialize;

/// First byte of the current encoding.
const TAG: u8 = 0x04;
/// First byte of schema 6's encoding (no status byte: screened rows only).
const TAG_V6: u8 = 0x03;
/// First byte of schema 4's outcome-only encoding (JSON payloads start with `{`).
const LEGACY_TAG: u8 = 0x02;
/// Bytes reserved for the reference: the longest reference (64 characters) in UTF-8.
pub(crate) const REF_CAPACITY: usize = 4 * pulsecure_core::domain::patient_ref::MAX_REF_CHARS;
const HEADER: usize = 1 + 8 + 2 + REF_CAPACITY;
const OUTCOME_FIXED: usize = 1 + 8 + 4 + 1;

/// The result part of a payload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Outcome {
    pub features: Vec<f64>,
    pub probability_code: u32,
    pub probability: f64,
    pub class: RiskClass,
}

/// Everything a row seals.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Payload {
    pub patient_ref: String,
    pub created_at: i64,
    pub status: RecordStatus,
    pub outcome: Outcome,
}

/// The JSON payload of rows sealed before the fixed-width encoding.
#[derive(Deserialize)]
struct LegacyJson {
    features: Vec<f64>,
    probability_code: u32,
    probability: f64,
    class: RiskClass,
}

impl Outcome {
    fn encode_into(&self, out: &mut Vec<u8>) -> Option<()> {
        out.push(u8::try_from(self.features.len()).ok()?);
        for v in &self.features {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.probability.to_le_bytes());
        out.extend_from_slice(&self.probability_code.to_le_bytes());
        out.push(u8::from(self.class == RiskClass::High));
        Some(())
    }

    /// Decode an outcome filling `bytes` exactly.
    fn decode_exact(bytes: &[u8]) -> Option<Self> {
        let count = usize::from(*bytes.first()?);
        if bytes.len() != OUTCOME_FIXED + 8 * count {
            return None;
        }
        let f64_at = |at: usize| -> Option<f64> {
            Some(f64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
        };
        let features = (0..count)
            .map(|i| f64_at(1 + 8 * i))
            .collect::<Option<Vec<_>>>()?;
        let at = 1 + 8 * count;
        let probability = f64_at(at)?;
        let probability_code = u32::from_le_bytes(bytes.get(at + 8..at + 12)?.try_into().ok()?);
        let class = match bytes.get(at + 12)? {
            0 => RiskClass::Low,
            1 => RiskClass::High,
            _ => return None,
        };
        Some(Outcome {
            features,
            probability_code,
            probability,
            class,
        })
    }

    /// Decode a schema-4 payload (tag `0x02` or JSON); `None` for anything malformed.
    pub fn decode_legacy(bytes: &[u8]) -> Option<Self> {
        match bytes.first()? {
            &LEGACY_TAG => Self::decode_exact(&bytes[1..]),
            b'{' => {
                let p: LegacyJson = serde_json::from_slice(bytes).ok()?;
                Some(Outcome {
                    features: p.features,
                    probability_code: p.probability_code,
                    probability: p.probability,
                    class: p.class,
                })
            }
            _ => None,
        }
    }
}

impl Payload {
    /// What a stored screening seals of `record`.
    pub fn of_record(record: &pulsecure_core::ports::store::ScreeningRecord) -> Self {
        let a = &record.assessment;
        Payload {
            patient_ref: record.patient_ref.as_str().to_string(),
            created_at: record.created_at,
            status: record.status,
            outcome: Outcome {
                features: record.features.clone(),
                probability_code: a.probability_code,
                probability: a.probability,
                class: a.class,
            },
        }
    }

    /// The fixed-width encoding (`None` above 255 features, which no model has, or for a
    /// reference longer than [`REF_CAPACITY`] bytes, which `PatientRef` never is).
    pub fn encode(&self) -> Option<Vec<u8>> {
        let reference = self.patient_ref.as_bytes();
        if reference.len() > REF_CAPACITY {
            return None;
        }
        let mut out =
            Vec::with_capacity(HEADER + 1 + OUTCOME_FIXED + 8 * self.outcome.features.len());
        out.push(TAG);
        out.extend_from_slice(&self.created_at.to_le_bytes());
        out.extend_from_slice(&(reference.len() as u16).to_le_bytes());
        out.extend_from_slice(reference);
        out.resize(HEADER, 0);
        out.push(match self.status {
            RecordStatus::Screened => 0,
            RecordStatus::NotEligible(reason) => reason.byte(),
        });
        self.outcome.encode_into(&mut out)?;
        Some(out)
    }

    /// Decode the current encoding or schema 6's; `None` for anything malformed, including
    /// a reference that is not a valid `PatientRef` or an unknown status.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < HEADER || !matches!(bytes[0], TAG | TAG_V6) {
            return None;
        }
        let created_at = i64::from_le_bytes(bytes.get(1..9)?.try_into().ok()?);
        let ref_len = usize::from(u16::from_le_bytes(bytes.get(9..11)?.try_into().ok()?));
        if ref_len > REF_CAPACITY || bytes[11 + ref_len..HEADER].iter().any(|&b| b != 0) {
            return None;
        }
        let patient_ref = std::str::from_utf8(&bytes[11..11 + ref_len]).ok()?;
        PatientRef::parse(patient_ref).ok()?;
        let (status, outcome) = if bytes[0] == TAG {
            let status = match *bytes.get(HEADER)? {
                0 => RecordStatus::Screened,
                b => RecordStatus::NotEligible(IneligibleReason::from_byte(b)?),
            };
            (status, &bytes[HEADER + 1..])
        } else {
            (RecordStatus::Screened, &bytes[HEADER..])
        };
        Some(Payload {
            patient_ref: patient_ref.to_string(),
            created_at,
            status,
            outcome: Outcome::decode_exact(outcome)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(reference: &str, class: RiskClass, code: u32, features: Vec<f64>) -> Payload {
        Payload {
            patient_ref: reference.to_string(),
            created_at: 1_700_000_000,
            status: RecordStatus::Screened,
            outcome: Outcome {
                features,
                probability_code: code,
                probability: f64::from(code) / 4096.0,
                class,
            },
        }
    }

    #[test]
    fn same_length_whatever_the_reference_result_or_values() {
        let low = payload("a", RiskClass::Low, 0, vec![20.0; 9]);
        let high = payload(
            &"é".repeat(64),
            RiskClass::High,
            1982,
            vec![120.0, 1.0, 260.0, 1.0, 20.0, 200.0, 1.0, 600.0, 1.0],
        );
        let odd = payload(
            "MRN-4711",
            RiskClass::High,
            4096,
            vec![18.123456789, 0.0, 61.5, 0.0, 0.1, 40.0, 0.0, 50.0, 0.0],
        );
        let mut not_eligible = payload("MRN-1", RiskClass::Low, 0, vec![f64::NAN; 9]);
        not_eligible.status = RecordStatus::NotEligible(IneligibleReason::KnownCvd);
        let lengths: Vec<usize> = [low, high, odd, not_eligible]
            .iter()
            .map(|p| p.encode().expect("encodes").len())
            .collect();
        assert_eq!(lengths, vec![282 + 8 * 9; 4]);
    }

    #[test]
    fn the_status_round_trips_and_schema_6_rows_read_as_screened() {
        for reason in IneligibleReason::ALL {
            let mut p = payload("p-2", RiskClass::Low, 0, vec![0.0; 3]);
            p.status = RecordStatus::NotEligible(reason);
            let bytes = p.encode().expect("encodes");
            assert_eq!(Payload::decode(&bytes), Some(p));
        }
        let p = payload("p-3", RiskClass::High, 2000, vec![63.0, 1.0]);
        let mut v6 = p.encode().expect("encodes");
        v6.remove(HEADER);
        v6[0] = TAG_V6;
        assert_eq!(Payload::decode(&v6), Some(p.clone()));
        let mut unknown = p.encode().expect("encodes");
        unknown[HEADER] = 9;
        assert_eq!(Payload::decode(&unknown), None);
    }

    #[test]
    fn round_trips_and_refuses_malformed_bytes() {
        let p = payload("p-1", RiskClass::High, 1439, vec![63.0, 1.0, 151.5]);
        let bytes = p.encode().expect("encodes");
        assert_eq!(Payload::decode(&bytes), Some(p));
        assert_eq!(Payload::decode(&bytes[..bytes.len() - 1]), None);
        let mut bad_class = bytes.clone();
        *bad_class.last_mut().expect("non-empty") = 7;
        assert_eq!(Payload::decode(&bad_class), None);
        let mut junk_padding = bytes.clone();
        junk_padding[HEADER - 1] = 1;
        assert_eq!(Payload::decode(&junk_padding), None);
        assert_eq!(Payload::decode(&[]), None);
        assert_eq!(Payload::decode(b"x"), None);
        assert!(
            payload(&"x".repeat(REF_CAPACITY + 1), RiskClass::Low, 0, vec![])
                .encode()
                .is_none()
        );
    }

    #[test]
    fn schema_4_payloads_are_still_read() {
        let json = br#"{"features":[63.0,1.0],"probability_code":44,"probability":0.0107421875,"class":"low"}"#;
        let outcome = Outcome::decode_legacy(json).expect("decodes");
        assert_eq!(outcome.probability_code, 44);
        assert_eq!(outcome.class, RiskClass::Low);
        let mut fixed = vec![LEGACY_TAG];
        outcome.encode_into(&mut fixed).expect("encodes");
        assert_eq!(Outcome::decode_legacy(&fixed), Some(outcome));
    }
}
