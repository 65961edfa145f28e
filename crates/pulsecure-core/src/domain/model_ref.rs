//! Which release of which model: the pair a screening, a queued job, a refusal and an
//! anti-rollback record are filed under, compared as one value instead of field by field.

/// A model id and one of its release numbers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelRef {
    /// The model id (`cvd-lr`, `prevent-cvd-10y`, …).
    pub id: String,
    /// The release number.
    pub version: u64,
}

impl ModelRef {
    /// Release `version` of model `id`.
    pub fn new(id: impl Into<String>, version: u64) -> Self {
        ModelRef {
            id: id.into(),
            version,
        }
    }

    /// Whether this names release `version` of `id`.
    pub fn is(&self, id: &str, version: u64) -> bool {
        self.id == id && self.version == version
    }
}

/// `id vN`, as messages name a release.
impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} v{}", self.id, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_is_its_id_and_version_together() {
        let v3 = ModelRef::new("cvd-lr", 3);
        assert!(v3.is("cvd-lr", 3));
        assert!(!v3.is("cvd-lr", 2));
        assert!(!v3.is("prevent-cvd-10y", 3));
        assert_eq!(v3.to_string(), "cvd-lr v3");
        assert!(ModelRef::new("cvd-lr", 2) < v3);
    }
}
