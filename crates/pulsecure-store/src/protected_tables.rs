//! The tables the sealed integrity state covers, in its order: a leaf read by the integrity
//! records, their sealed state and the database's open-time checks.

/// One protected table and how an error names it.
pub(crate) struct Protected {
    /// Table name.
    pub table: &'static str,
    /// What the table holds, for error messages.
    pub what: &'static str,
}

/// The protected tables.
pub(crate) const PROTECTED: [Protected; 6] = [
    Protected {
        table: "screenings",
        what: "the stored screenings",
    },
    Protected {
        table: "trusted_keys",
        what: "the trusted publisher keys",
    },
    Protected {
        table: "model_state",
        what: "the model anti-rollback state",
    },
    Protected {
        table: "dp_budget",
        what: "the privacy budget",
    },
    Protected {
        table: "dp_releases",
        what: "the privacy ledger",
    },
    Protected {
        table: "audit_log",
        what: "the audit log",
    },
];
