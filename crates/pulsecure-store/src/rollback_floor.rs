//! The state floor: what the vault remembers of the database, so that replacing the database
//! with an older copy, or deleting it, cannot lower the model baseline or give back spent
//! privacy budget while the vault lives.
//!
//! The vault keeps the highest model version accepted per model id, the ε spent, the
//! lifetime budget and the generation of the database's integrity state (raised by every
//! write transaction); the database must be at or above it when opened, and its lifetime
//! budget no higher. The generation makes any older copy of the whole file refused, even
//! one where only screenings or audit entries were added since. The floor is written to the vault after the
//! database commits (a crash in between leaves the floor one step behind, never ahead, so it
//! never refuses an honest database).

use pulsecure_core::ports::registry::AcceptedModel;

/// The state the vault records.
#[derive(Clone, Debug, PartialEq)]
pub struct StateFloor {
    /// ε spent so far.
    pub spent_epsilon: f64,
    /// The lifetime budget (carried over to a re-created database).
    pub total_epsilon: f64,
    /// The highest accepted version of each model id.
    pub models: Vec<AcceptedModel>,
    /// The generation of the database's integrity state; 0 when recorded by a build before
    /// generations (whose database may still hold the per-table heads of that build).
    pub generation: u64,
}

/// What opening found about the database's relation to the vault's record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Opened {
    /// The database was missing and was created anew; the vault's floor (model baselines,
    /// spent ε and the budget) was carried over into it and an audit entry says so.
    pub recreated: bool,
    /// The database predates integrity records and the vault had no record either: its
    /// current state was adopted as the trusted one.
    pub adopted: bool,
    /// The database held the unkeyed per-table heads of an earlier build, and the vault
    /// recorded no generation: the heads were verified and replaced by the sealed state.
    pub upgraded: bool,
}

impl StateFloor {
    /// Text encoding kept in the vault: `spent <bits>`, `total <bits>`, `generation <n>`,
    /// then one `model <id> <version> <sha256>` line per model (ε as hex f64 bits, exact).
    /// Floors of earlier builds have no `generation` line (read as 0).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = format!(
            "spent {:016x}\ntotal {:016x}\ngeneration {}\n",
            self.spent_epsilon.to_bits(),
            self.total_epsilon.to_bits(),
            self.generation
        );
        for m in &self.models {
            text.push_str(&format!(
                "model {} {} {}\n",
                m.model_id, m.version, m.sha256
            ));
        }
        text.into_bytes()
    }

    /// The higher of two floors, item by item (two processes may record a floor in either
    /// order; the vault keeps the highest).
    pub fn merged(&self, other: &StateFloor) -> StateFloor {
        let mut models = self.models.clone();
        for m in &other.models {
            match models.iter_mut().find(|x| x.model_id == m.model_id) {
                Some(x) if x.version < m.version => *x = m.clone(),
                Some(_) => {}
                None => models.push(m.clone()),
            }
        }
        models.sort_by(|a, b| a.model_id.cmp(&b.model_id));
        StateFloor {
            spent_epsilon: self.spent_epsilon.max(other.spent_epsilon),
            total_epsilon: other.total_epsilon,
            models,
            generation: self.generation.max(other.generation),
        }
    }

    /// Parse [`StateFloor::to_bytes`]; `None` if malformed.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines().peekable();
        let mut f64_line = |name: &str| -> Option<f64> {
            let (key, value) = lines.next()?.split_once(' ')?;
            (key == name)
                .then(|| u64::from_str_radix(value, 16).ok().map(f64::from_bits))
                .flatten()
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        let spent_epsilon = f64_line("spent")?;
        let total_epsilon = f64_line("total")?;
        let generation = match lines.peek().and_then(|l| l.strip_prefix("generation ")) {
            Some(value) => {
                let generation = value.parse().ok()?;
                lines.next();
                generation
            }
            None => 0,
        };
        let models = lines
            .map(|line| {
                let mut parts = line.split(' ');
                match (
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                ) {
                    (Some("model"), Some(id), Some(version), Some(sha), None) => {
                        Some(AcceptedModel {
                            model_id: id.to_string(),
                            version: version.parse().ok()?,
                            sha256: sha.to_string(),
                        })
                    }
                    _ => None,
                }
            })
            .collect::<Option<Vec<_>>>()?;
        Some(StateFloor {
            spent_epsilon,
            total_epsilon,
            models,
            generation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_round_trips_exactly_and_refuses_junk() {
        let floor = StateFloor {
            spent_epsilon: 0.1 + 0.2,
            total_epsilon: 1.0,
            models: vec![AcceptedModel {
                model_id: "cvd-lr".into(),
                version: 3,
                sha256: "ab".repeat(32),
            }],
            generation: 41,
        };
        assert_eq!(
            StateFloor::from_bytes(&floor.to_bytes()),
            Some(floor.clone())
        );
        // A floor of an earlier build (no generation line) reads as generation 0.
        let earlier = format!(
            "spent {:016x}\ntotal {:016x}\nmodel cvd-lr 3 {}\n",
            floor.spent_epsilon.to_bits(),
            floor.total_epsilon.to_bits(),
            "ab".repeat(32)
        );
        assert_eq!(
            StateFloor::from_bytes(earlier.as_bytes()),
            Some(StateFloor {
                generation: 0,
                ..floor
            })
        );
        assert_eq!(
            StateFloor::from_bytes(b"spent 0\ntotal 0\ngeneration x\n"),
            None
        );
        assert_eq!(StateFloor::from_bytes(b"spent 1\n"), None);
        assert_eq!(StateFloor::from_bytes(b"total 0\nspent 0\n"), None);
        assert_eq!(
            StateFloor::from_bytes(b"spent 0\ntotal 0\nmodel a b c\n"),
            None
        );
    }
}
