//! The few FHIR R4 resources and elements Pulsecure reads, as serde types holding only the
//! fields it uses (every other field, extension or contained resource is skipped unread).
//!
//! Hand-written rather than a generated R4 model crate: five resources and a dozen elements
//! are read, a full model compiles the whole specification (hundreds of thousands of lines)
//! into the binary facing patient files, and strict full models refuse the extensions EHRs
//! add; the shapes below follow the R4 specification (hl7.org/fhir/R4).

use serde::Deserialize;

/// `Coding`.
#[derive(Default, Deserialize)]
pub struct Coding {
    /// Code system URI.
    pub system: Option<String>,
    /// The code.
    pub code: Option<String>,
}

/// `CodeableConcept`.
#[derive(Default, Deserialize)]
pub struct CodeableConcept {
    /// Codings, in any order.
    #[serde(default)]
    pub coding: Vec<Coding>,
}

impl CodeableConcept {
    /// The codes of `system`.
    pub fn codes<'a>(&'a self, system: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.coding
            .iter()
            .filter(move |c| c.system.as_deref() == Some(system))
            .filter_map(|c| c.code.as_deref())
    }

    /// Every `(system, code)` pair.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.coding
            .iter()
            .filter_map(|c| Some((c.system.as_deref()?, c.code.as_deref()?)))
    }

    /// The first coding's code, whatever its system (status concepts).
    pub fn first_code(&self) -> Option<&str> {
        self.coding.iter().find_map(|c| c.code.as_deref())
    }
}

/// `Reference`.
#[derive(Default, Deserialize)]
pub struct Reference {
    /// Literal reference (`Patient/123`, an absolute URL or `urn:uuid:...`).
    pub reference: Option<String>,
}

/// `Quantity`.
#[derive(Default, Deserialize)]
pub struct Quantity {
    /// The number (kept as JSON: a string where a number belongs blocks the measurement
    /// instead of losing the resource).
    pub value: Option<serde_json::Value>,
    /// `<`, `<=`, `>=` or `>`: the value is a bound, not a measurement.
    pub comparator: Option<String>,
    /// Human-readable unit.
    pub unit: Option<String>,
    /// Coded unit (UCUM when `system` is unitsofmeasure.org).
    pub code: Option<String>,
}

impl Quantity {
    /// The unit the table is looked up with: the coded unit, else the text.
    pub fn unit_key(&self) -> Option<&str> {
        self.code.as_deref().or(self.unit.as_deref())
    }
}

/// `Extension` (only the parts the US Core race extension uses).
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// What the extension is.
    pub url: Option<String>,
    /// Nested extensions.
    #[serde(default)]
    pub extension: Vec<Extension>,
    /// A coded value.
    pub value_coding: Option<Coding>,
}

/// `Period`.
#[derive(Default, Deserialize)]
pub struct Period {
    /// Start.
    pub start: Option<String>,
    /// End.
    pub end: Option<String>,
}

/// `Patient`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// Logical id.
    pub id: Option<String>,
    /// `male | female | other | unknown`.
    pub gender: Option<String>,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// Deceased (boolean form).
    pub deceased_boolean: Option<bool>,
    /// Deceased (date form).
    pub deceased_date_time: Option<String>,
    /// Extensions (race).
    #[serde(default)]
    pub extension: Vec<Extension>,
}

/// `Observation.component`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// What the component measures.
    #[serde(default)]
    pub code: CodeableConcept,
    /// Its value, when a quantity.
    pub value_quantity: Option<Quantity>,
}

/// `Observation`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// Logical id.
    pub id: Option<String>,
    /// `registered | preliminary | final | amended | corrected | cancelled |
    /// entered-in-error | unknown`.
    pub status: Option<String>,
    /// What was observed.
    #[serde(default)]
    pub code: CodeableConcept,
    /// Whom.
    pub subject: Option<Reference>,
    /// When (date or date-time).
    pub effective_date_time: Option<String>,
    /// When, as a period.
    pub effective_period: Option<Period>,
    /// When, as an instant.
    pub effective_instant: Option<String>,
    /// When it was made available (used only without an effective time).
    pub issued: Option<String>,
    /// A numeric value.
    pub value_quantity: Option<Quantity>,
    /// A coded value (smoking status).
    pub value_codeable_concept: Option<CodeableConcept>,
    /// Components (blood-pressure panels).
    #[serde(default)]
    pub component: Vec<Component>,
}

impl Observation {
    /// The clinically relevant date as written (`YYYY-MM-DD...`): the effective time, else
    /// the end (or start) of the effective period, else `issued`.
    pub fn when(&self) -> Option<&str> {
        self.effective_date_time
            .as_deref()
            .or(self.effective_instant.as_deref())
            .or_else(|| {
                self.effective_period
                    .as_ref()
                    .and_then(|p| p.end.as_deref().or(p.start.as_deref()))
            })
            .or(self.issued.as_deref())
    }
}

/// `Condition`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Logical id.
    pub id: Option<String>,
    /// `active | recurrence | relapse | inactive | remission | resolved`.
    pub clinical_status: Option<CodeableConcept>,
    /// `unconfirmed | provisional | differential | confirmed | refuted | entered-in-error`.
    pub verification_status: Option<CodeableConcept>,
    /// The condition.
    #[serde(default)]
    pub code: CodeableConcept,
    /// Whom.
    pub subject: Option<Reference>,
    /// When it began.
    pub onset_date_time: Option<String>,
    /// When it was recorded.
    pub recorded_date: Option<String>,
}

/// `MedicationRequest` or `MedicationStatement` (the fields read are the same).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationUse {
    /// Logical id.
    pub id: Option<String>,
    /// Request: `active | on-hold | cancelled | completed | entered-in-error | stopped |
    /// draft | unknown`; statement: `active | completed | entered-in-error | intended |
    /// stopped | on-hold | unknown | not-taken`.
    pub status: Option<String>,
    /// Request only: `proposal | plan | order | original-order | reflex-order |
    /// filler-order | instance-order | option`.
    pub intent: Option<String>,
    /// The drug, when coded inline (a `medicationReference` is not followed).
    pub medication_codeable_concept: Option<CodeableConcept>,
    /// Whom.
    pub subject: Option<Reference>,
    /// Request only: an order NOT to give the drug.
    pub do_not_perform: Option<bool>,
    /// Request only: when it was written.
    pub authored_on: Option<String>,
}

/// A resource of a type Pulsecure reads, or another one (skipped).
#[derive(Deserialize)]
#[serde(tag = "resourceType")]
pub enum Resource {
    /// A patient.
    Patient(Patient),
    /// A measurement or smoking status (boxed: by far the largest).
    Observation(Box<Observation>),
    /// A diagnosis.
    Condition(Box<Condition>),
    /// A prescription.
    MedicationRequest(MedicationUse),
    /// A reported medication.
    MedicationStatement(MedicationUse),
    /// Any other resource type (skipped).
    #[serde(other)]
    Other,
}

impl Resource {
    /// The resource type's name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Resource::Patient(_) => "Patient",
            Resource::Observation(_) => "Observation",
            Resource::Condition(_) => "Condition",
            Resource::MedicationRequest(_) => "MedicationRequest",
            Resource::MedicationStatement(_) => "MedicationStatement",
            Resource::Other => "other",
        }
    }
}
