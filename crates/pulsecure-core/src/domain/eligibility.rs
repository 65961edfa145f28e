//! Why a patient gets no estimate (a decision, not an input error): known cardiovascular
//! disease, an age outside the model's population, or (from a FHIR record) a sex other than
//! the two the sex-specific coefficients were derived for. Shared by the published equations'
//! intake and the population rule of schema-1 models, and stored with a not-eligible row.

/// The reason given for a patient with known cardiovascular disease.
pub const KNOWN_CVD_REASON: &str = "already diagnosed — secondary prevention; see a clinician";

/// The reason given for a record whose sex is neither female nor male.
pub const SEX_REASON: &str =
    "sex recorded as neither female nor male; the equations are sex-specific; see a clinician";

/// Why a patient gets no estimate from this model (not an input error).
#[derive(Clone, Debug, PartialEq)]
pub enum NotEligible {
    /// Known cardiovascular disease: secondary prevention.
    KnownCvd,
    /// Outside the ages the model was derived for.
    Age {
        /// Youngest eligible age.
        min: f64,
        /// Oldest eligible age.
        max: f64,
    },
    /// The record's sex is neither female nor male (FHIR `Patient.gender` other or
    /// unknown): the equations' coefficients are sex-specific.
    SexNeitherFemaleNorMale,
}

impl NotEligible {
    /// The kind of reason, as a screening row stores it.
    pub fn kind(&self) -> IneligibleReason {
        match self {
            NotEligible::KnownCvd => IneligibleReason::KnownCvd,
            NotEligible::Age { .. } => IneligibleReason::AgeOutsideRange,
            NotEligible::SexNeitherFemaleNorMale => IneligibleReason::SexNeitherFemaleNorMale,
        }
    }

    /// The reason as results show it (the age range included).
    pub fn reason(&self) -> String {
        match self {
            NotEligible::KnownCvd => KNOWN_CVD_REASON.to_string(),
            NotEligible::Age { min, max } => {
                format!("estimates are for ages {min}-{max}; see a clinician")
            }
            NotEligible::SexNeitherFemaleNorMale => SEX_REASON.to_string(),
        }
    }
}

/// Why a patient got no estimate, as stored with the row (the model's age range is the
/// model's, not the row's: it is not stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IneligibleReason {
    /// Known cardiovascular disease: secondary prevention.
    KnownCvd,
    /// Outside the ages the model was derived for.
    AgeOutsideRange,
    /// Sex recorded as neither female nor male.
    SexNeitherFemaleNorMale,
}

impl IneligibleReason {
    /// Every reason, in code order.
    pub const ALL: [IneligibleReason; 3] = [
        IneligibleReason::KnownCvd,
        IneligibleReason::AgeOutsideRange,
        IneligibleReason::SexNeitherFemaleNorMale,
    ];

    /// Stable machine-readable code (CSV/JSON `reason_code`).
    pub fn code(self) -> &'static str {
        match self {
            IneligibleReason::KnownCvd => "known_cvd",
            IneligibleReason::AgeOutsideRange => "age_outside_range",
            IneligibleReason::SexNeitherFemaleNorMale => "sex_not_female_or_male",
        }
    }

    /// The reason in words, without the model's age range.
    pub fn text(self) -> &'static str {
        match self {
            IneligibleReason::KnownCvd => KNOWN_CVD_REASON,
            IneligibleReason::AgeOutsideRange => {
                "outside the ages the model was derived for; see a clinician"
            }
            IneligibleReason::SexNeitherFemaleNorMale => SEX_REASON,
        }
    }

    /// The byte a sealed row stores (never 0, which means "screened").
    pub fn byte(self) -> u8 {
        match self {
            IneligibleReason::KnownCvd => 1,
            IneligibleReason::AgeOutsideRange => 2,
            IneligibleReason::SexNeitherFemaleNorMale => 3,
        }
    }

    /// The reason a stored byte names, if any.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.byte() == byte)
    }
}
