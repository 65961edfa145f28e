//! Screening with published equations (schema-2 models such as PREVENT): the model(s) a
//! `--model` selector names, the clinic's rows through the core's intake (known CVD and
//! ages outside the equation are `not_eligible`: nothing is encrypted), the encrypted
//! evaluation through the workstation's evaluator, the core's result check against
//! `EquationModel::run` (a refused answer is audited and nothing stored, as for cvd-lr),
//! and storage — through the same ports, result check, refusal record and batch reader as
//! cvd-lr screenings.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use pulsecure_batch_input::{BatchReader, ColumnSpec, RawRow, RowError, PATIENT_ID};
use pulsecure_core::domain::eligibility::{IneligibleReason, NotEligible};
use pulsecure_core::domain::equation::{InputKind, InputValue};
use pulsecure_core::domain::equation_intake::{
    intake, CholesterolUnits, Intake, IntakeError, CLINIC_COLUMNS, EGFR, KNOWN_CVD,
    SERUM_CREATININE,
};
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::catalog::ModelCatalog;
use pulsecure_core::ports::clock::{Clock, SystemClock};
use pulsecure_core::ports::fhe::Evaluator;
use pulsecure_core::ports::registry::{AcceptedModel, ModelRegistry};
use pulsecure_core::ports::store::{RecordStatus, ScreeningRecord, ScreeningStore, StoreError};
use pulsecure_core::usecase::inference::{EquationService, InferenceError, Stage};
use pulsecure_core::usecase::model_service::{InstallOutcome, ModelService};
use pulsecure_core::usecase::result_check::ResultRefused;
use pulsecure_core::{PatientRef, RiskAssessment};
use pulsecure_fhe::{EquationClient, EquationEvaluator};
use pulsecure_signing::verify::sha256_hex;

use crate::byte_count::Counting;
use crate::equation_items::{EquationItem, EquationItems};
use crate::error::{AppError, Result};
use crate::result_refusal::record_refusal;
use crate::row_chunks::{file_items, Items};
use crate::screening::{Ineligible, RowStatus};
use crate::verification::count_verification;
use crate::workstation::Workstation;

/// The selector that screens both PREVENT outputs in one call.
pub const PREVENT: &str = "prevent";
/// The models [`PREVENT`] names, in output order.
pub const PREVENT_MODELS: [&str; 2] = ["prevent-cvd-10y", "prevent-ascvd-10y"];

/// The model ids a `--model` selector names: `prevent` → both PREVENT outputs, else itself.
pub fn selected_ids(selector: &str) -> Vec<String> {
    if selector == PREVENT {
        PREVENT_MODELS.iter().map(|s| s.to_string()).collect()
    } else {
        vec![selector.to_string()]
    }
}

/// The active release of equation model `id`: the highest release accepted here (installed
/// and verified through the catalog), or the one the binary carries — which is then recorded
/// as the anti-rollback baseline, as the embedded cvd-lr release is.
pub fn active_equation_model(
    records: &crate::records::Records,
    id: &str,
) -> Result<Arc<EquationModel>> {
    let db = records.database();
    let carried = pulsecure_signing::embedded::EQUATION_RELEASES
        .iter()
        .find_map(|(json, signature)| {
            let model = EquationModel::from_json(json).ok()?;
            (model.id() == id).then_some((model.version(), *json, *signature))
        });
    let accepted = ModelRegistry::accepted(db, id)?;
    if let Some(a) = accepted.filter(|a| carried.is_none_or(|(v, ..)| a.version >= v)) {
        let model = records.catalog().equation(&a.model_id, a.version)?;
        if records.catalog().sha256_of(&a.model_id, a.version)? != a.sha256 {
            return Err(AppError::Integrity(format!(
                "model {} version {} differs from the release recorded at install",
                a.model_id, a.version
            )));
        }
        return Ok(model);
    }
    let Some((version, json, signature)) = carried else {
        return Err(AppError::UnknownModel(id.to_string()));
    };
    count_verification();
    let keys = pulsecure_signing::PublisherKey::release_keys()?;
    let verified = pulsecure_signing::verify_model(json.as_bytes(), signature, &keys)?;
    let candidate = AcceptedModel {
        model_id: id.to_string(),
        version,
        sha256: sha256_hex(json.as_bytes()),
    };
    if ModelService::new(db).install(&candidate)? == InstallOutcome::Installed {
        db.log_event(
            AuditEvent::ModelInstalled,
            &format!("{id} v{version} (carried)"),
        )?;
    }
    match verified.model.as_equation() {
        Some(m) => Ok(Arc::new(m.clone())),
        None => Err(AppError::UnknownModel(id.to_string())),
    }
}

/// The columns a batch for `models` holds: `patient_id`, every input of the models,
/// `known_cvd`, and `serum_creatinine` as an alternative to `egfr`; every other clinic column
/// ([`CLINIC_COLUMNS`]: one file serves every equation) is accepted and ignored.
pub fn columns(models: &[Arc<EquationModel>]) -> ColumnSpec {
    let mut accepted: Vec<String> = Vec::new();
    let mut required: Vec<Vec<String>> = Vec::new();
    for model in models {
        for input in &model.equation().inputs {
            if accepted.contains(&input.name) {
                continue;
            }
            accepted.push(input.name.clone());
            if input.name == EGFR {
                accepted.push(SERUM_CREATININE.into());
                required.push(vec![EGFR.into(), SERUM_CREATININE.into()]);
            } else {
                required.push(vec![input.name.clone()]);
            }
        }
    }
    accepted.push(KNOWN_CVD.into());
    required.push(vec![KNOWN_CVD.into()]);
    for column in CLINIC_COLUMNS {
        if !accepted.iter().any(|a| a == column) {
            accepted.push(column.into());
        }
    }
    ColumnSpec { accepted, required }
}

/// `name (unit, range)` for every column of `models`, for help and error texts.
pub fn column_help(model: &EquationModel) -> Vec<String> {
    model
        .equation()
        .inputs
        .iter()
        .map(|i| match &i.kind {
            InputKind::Number { unit, min, max } => format!("{} ({unit}, {min}-{max})", i.name),
            InputKind::Binary => format!("{} (0|1)", i.name),
            InputKind::Choice { levels } => format!("{} ({})", i.name, levels.join("|")),
        })
        .collect()
}

/// One model's screener: its client (secret key side) and an evaluator for it.
pub struct EquationScreener {
    model: Arc<EquationModel>,
    client: EquationClient,
    /// Only for the in-process evaluator; a remote one is shared with the workstation.
    own_evaluator: Option<EquationEvaluator>,
}

impl EquationScreener {
    /// The model.
    pub fn model(&self) -> &Arc<EquationModel> {
        &self.model
    }
}

/// How one patient ended for one model.
#[derive(Clone, Debug, PartialEq)]
pub enum EquationOutcome {
    /// Screened (now, or by an earlier run), checked, stored.
    Screened {
        /// The result.
        assessment: RiskAssessment,
        /// Its category's name.
        category: String,
        /// New or resumed.
        status: RowStatus,
    },
    /// No estimate for this patient; nothing was encrypted. Stored as such.
    NotEligible(Ineligible),
}

/// A fresh or stored result as an outcome.
pub(crate) fn screened(
    model: &EquationModel,
    assessment: RiskAssessment,
    status: RowStatus,
) -> EquationOutcome {
    let category = model.output().categories[model.category_of(assessment.probability_code)]
        .name
        .clone();
    EquationOutcome::Screened {
        assessment,
        category,
        status,
    }
}

/// What a row stored by an earlier run says, as an outcome of this one.
pub(crate) fn stored_outcome(model: &EquationModel, record: ScreeningRecord) -> EquationOutcome {
    match record.status {
        RecordStatus::Screened => screened(model, record.assessment, RowStatus::AlreadyStored),
        RecordStatus::NotEligible(reason) => {
            let mut decision = Ineligible::stored(reason);
            if reason == IneligibleReason::AgeOutsideRange {
                // The row stores the kind; the model holds the range it was decided by.
                let eligibility = model.eligibility();
                decision.text = NotEligible::Age {
                    min: eligibility.min_age,
                    max: eligibility.max_age,
                }
                .reason();
            }
            EquationOutcome::NotEligible(decision)
        }
    }
}

/// A decided outcome not stored yet.
enum PendingOutcome {
    /// An earlier run stored this patient for this model version: nothing to store.
    Stored(EquationOutcome),
    /// To store: the row and what it means.
    New(Box<ScreeningRecord>, EquationOutcome),
}

/// One batch row's outcome for one model.
pub struct EquationRowResult<'a> {
    /// 1-based row number.
    pub row: usize,
    /// Its reference.
    pub patient_ref: &'a PatientRef,
    /// The model.
    pub model_id: &'a str,
    /// Its version.
    pub model_version: u64,
    /// What happened.
    pub outcome: &'a EquationOutcome,
}

/// Receives an equation batch's outcomes.
pub trait EquationSink {
    /// One row's outcome for one model.
    fn result(&mut self, result: EquationRowResult<'_>) -> std::io::Result<()>;
    /// A rejected row (which row, which column, why — never the value).
    fn rejected(&mut self, error: &RowError) -> std::io::Result<()>;
    /// Before the first row: the input's size in the units [`EquationSink::progress`]
    /// reports (bytes of a file; for FHIR, bytes read and then patients screened).
    fn start(&mut self, _total: u64) {}
    /// After each patient: how far into the input the batch is.
    fn progress(&mut self, _position: u64) {}
}

/// Counts of a finished equation batch (per model outcome).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EquationSummary {
    /// Screened now.
    pub screened: usize,
    /// Already stored.
    pub resumed: usize,
    /// Not eligible (decided now or stored by an earlier run).
    pub not_eligible: usize,
    /// Rejected rows.
    pub rejected: usize,
    /// Results refused by the check.
    pub refused: usize,
}

/// A row refused by intake, as a per-row error.
pub(crate) fn intake_error(row: usize, patient_ref: &PatientRef, e: &IntakeError) -> RowError {
    RowError {
        row,
        patient_ref: Some(patient_ref.clone()),
        column: e.field().map(str::to_string),
        reason: e.to_string(),
    }
}

impl Workstation {
    /// Screeners for the models `selector` names (see [`selected_ids`]).
    pub fn equation_screeners(&self, selector: &str) -> Result<Vec<EquationScreener>> {
        let records = self.records();
        let key_id = records.unlocked.server_key_id()?;
        // The key itself only for an in-process evaluator.
        let server_key = if self.is_in_process() {
            Some(records.unlocked.server_key_bytes(records.dir())?)
        } else {
            None
        };
        selected_ids(selector)
            .iter()
            .map(|id| {
                let model = active_equation_model(records, id)?;
                let client = records.unlocked.equation_client(&model, key_id)?;
                let own_evaluator = match &server_key {
                    Some(bytes) => Some(EquationEvaluator::new(bytes, &model)?),
                    None => None,
                };
                Ok(EquationScreener {
                    model,
                    client,
                    own_evaluator,
                })
            })
            .collect()
    }

    fn equation_evaluator<'a>(&'a self, screener: &'a EquationScreener) -> &'a dyn Evaluator {
        match &screener.own_evaluator {
            Some(e) => e,
            None => self.evaluator(),
        }
    }

    /// One patient's row (every column but `patient_id`) through one model: intake, then
    /// the encrypted screening, checked and stored. An intake refusal is returned as an
    /// error; a refused result is audited, nothing stored.
    pub fn screen_equation(
        &self,
        screener: &EquationScreener,
        patient_ref: &PatientRef,
        row: &BTreeMap<String, InputValue>,
        units: CholesterolUnits,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<std::result::Result<EquationOutcome, IntakeError>> {
        match self.prepare_equation(screener, patient_ref, row, units, progress)? {
            Ok(pending) => Ok(Ok(self.commit_equation(pending)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// One patient through every model of `screeners` as one unit (the terminal UI's
    /// form): every model is decided and evaluated first; then, unless `cancelled()` says
    /// so (nothing is stored then: [`AppError::Cancelled`]), every outcome is stored. An
    /// intake refusal (the same inputs fail every model alike) stores nothing either.
    pub fn screen_equation_patient(
        &self,
        screeners: &[EquationScreener],
        patient_ref: &PatientRef,
        row: &BTreeMap<String, InputValue>,
        progress: &mut dyn FnMut(Stage),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<std::result::Result<Vec<EquationOutcome>, IntakeError>> {
        let mut pending = Vec::with_capacity(screeners.len());
        for screener in screeners {
            match self.prepare_equation(
                screener,
                patient_ref,
                row,
                CholesterolUnits::MgPerDl,
                progress,
            )? {
                Ok(p) => pending.push(p),
                Err(e) => return Ok(Err(e)),
            }
        }
        if cancelled() {
            return Err(AppError::Cancelled);
        }
        let outcomes = pending
            .into_iter()
            .map(|p| self.commit_equation(p))
            .collect::<Result<Vec<_>>>()?;
        self.records().record_state()?;
        Ok(Ok(outcomes))
    }

    /// Intake, then either the row an earlier run stored, a not-eligible decision, or the
    /// encrypted screening checked against the reference engine — nothing stored yet. A
    /// refused result is audited here.
    fn prepare_equation(
        &self,
        screener: &EquationScreener,
        patient_ref: &PatientRef,
        row: &BTreeMap<String, InputValue>,
        units: CholesterolUnits,
        progress: &mut dyn FnMut(Stage),
    ) -> Result<std::result::Result<PendingOutcome, IntakeError>> {
        let model = &screener.model;
        let db = &self.records().db;
        let decision = match intake(model, row, units) {
            Ok(d) => d,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(stored) = db.find(model.id(), model.version(), patient_ref)? {
            return Ok(Ok(PendingOutcome::Stored(stored_outcome(
                model,
                stored.record,
            ))));
        }
        let inputs = match decision {
            Intake::Eligible(inputs) => inputs,
            Intake::NotEligible(why) => {
                let (record, outcome) = not_eligible_record(model, patient_ref, &why);
                return Ok(Ok(PendingOutcome::New(Box::new(record), outcome)));
            }
        };
        let service =
            EquationService::equation(model, &screener.client, self.equation_evaluator(screener));
        let screening = match service.screen(&inputs, progress) {
            Ok(s) => s,
            Err(InferenceError::ResultRefused(refusal)) => {
                record_refusal(db, model.id(), model.version(), &refusal)?;
                return Err(AppError::ResultRefused(refusal));
            }
            Err(e) => return Err(e.into()),
        };
        let record = ScreeningRecord {
            patient_ref: patient_ref.clone(),
            created_at: SystemClock.now_unix_seconds(),
            features: model.stored_values(&inputs),
            assessment: screening.assessment.clone(),
            status: RecordStatus::Screened,
        };
        let outcome = screened(model, screening.assessment, RowStatus::Screened);
        Ok(Ok(PendingOutcome::New(Box::new(record), outcome)))
    }

    /// Store a prepared outcome (nothing to do for one an earlier run stored).
    fn commit_equation(&self, pending: PendingOutcome) -> Result<EquationOutcome> {
        match pending {
            PendingOutcome::Stored(outcome) => Ok(outcome),
            PendingOutcome::New(record, outcome) => {
                self.records().db.save(&record)?;
                Ok(outcome)
            }
        }
    }

    /// Screen rows already read (one patient from `--json`, for instance) with every model
    /// of `screeners`.
    pub fn screen_equation_rows(
        &self,
        screeners: &[EquationScreener],
        rows: Vec<RawRow>,
        units: CholesterolUnits,
        sink: &mut dyn EquationSink,
    ) -> Result<EquationSummary> {
        let mut summary = EquationSummary::default();
        for raw in rows {
            self.screen_raw_row(screeners, &raw, units, sink, &mut summary)?;
        }
        self.records().record_state()?;
        Ok(summary)
    }

    fn screen_raw_row(
        &self,
        screeners: &[EquationScreener],
        raw: &RawRow,
        units: CholesterolUnits,
        sink: &mut dyn EquationSink,
        summary: &mut EquationSummary,
    ) -> Result<()> {
        let out = AppError::Output;
        for screener in screeners {
            let outcome = match self.screen_equation(
                screener,
                &raw.patient_ref,
                &raw.values,
                units,
                &mut |_| {},
            ) {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => {
                    summary.rejected += 1;
                    sink.rejected(&intake_error(raw.row, &raw.patient_ref, &e))
                        .map_err(out)?;
                    // The same inputs fail every model's intake alike.
                    break;
                }
                Err(AppError::ResultRefused(refusal)) => {
                    summary.refused += 1;
                    sink.rejected(&refused_row(raw.row, &raw.patient_ref, &refusal))
                        .map_err(out)?;
                    continue;
                }
                Err(AppError::Store(StoreError::Duplicate)) => {
                    summary.rejected += 1;
                    sink.rejected(&RowError {
                        row: raw.row,
                        patient_ref: Some(raw.patient_ref.clone()),
                        column: Some(PATIENT_ID.into()),
                        reason: "duplicated patient_id".into(),
                    })
                    .map_err(out)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match &outcome {
                EquationOutcome::Screened { status, .. } => match status {
                    RowStatus::Screened => summary.screened += 1,
                    RowStatus::AlreadyStored => summary.resumed += 1,
                },
                EquationOutcome::NotEligible(_) => summary.not_eligible += 1,
            }
            sink.result(EquationRowResult {
                row: raw.row,
                patient_ref: &raw.patient_ref,
                model_id: screener.model.id(),
                model_version: screener.model.version(),
                outcome: &outcome,
            })
            .map_err(out)?;
        }
        Ok(())
    }

    /// Screen the batch at `path` (CSV, JSON Lines or a JSON array with the clinic
    /// columns) with every model of `screeners`; bad rows are reported and the rest goes on.
    pub fn screen_equation_batch(
        &self,
        screeners: &[EquationScreener],
        path: &Path,
        units: CholesterolUnits,
        sink: &mut dyn EquationSink,
    ) -> Result<EquationSummary> {
        let models: Vec<Arc<EquationModel>> =
            screeners.iter().map(|s| Arc::clone(&s.model)).collect();
        let spec = columns(&models);
        let file = std::fs::File::open(path).map_err(|e| AppError::io("reading", path, e))?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (file, read) = Counting::new(file);
        let reader = BatchReader::with_columns(file, &spec, path.display().to_string())?;
        self.screen_equation_items(
            screeners,
            file_items(reader),
            units,
            (total, &|| read.get()),
            sink,
        )
    }

    /// Screen a stream of items (a clinic file's rows, or patients read from FHIR) with
    /// every model of `screeners`: as [`Workstation::screen_equation_batch`]; `position()`
    /// out of `total` is the progress reported after each item.
    pub(crate) fn screen_equation_items(
        &self,
        screeners: &[EquationScreener],
        items: Items<'_>,
        units: CholesterolUnits,
        (total, position): (u64, &dyn Fn() -> u64),
        sink: &mut dyn EquationSink,
    ) -> Result<EquationSummary> {
        let mut summary = EquationSummary::default();
        sink.start(total);
        for item in EquationItems::new(items) {
            sink.progress(position());
            match item? {
                EquationItem::Raw(raw) => {
                    self.screen_raw_row(screeners, &raw, units, sink, &mut summary)?;
                }
                EquationItem::NotEligible(decided) => self.not_eligible_row(
                    screeners,
                    decided.row,
                    &decided.patient_ref,
                    &decided.why,
                    sink,
                    &mut summary,
                )?,
                EquationItem::Rejected(e) => {
                    summary.rejected += 1;
                    sink.rejected(&e).map_err(AppError::Output)?;
                }
            }
        }
        tracing::info!(
            screened = summary.screened,
            resumed = summary.resumed,
            not_eligible = summary.not_eligible,
            rejected = summary.rejected,
            refused = summary.refused,
            "equation batch finished"
        );
        self.records().record_state()?;
        Ok(summary)
    }

    /// A patient decided not eligible before intake (a FHIR record's sex): stored as such
    /// for every model, or the decision an earlier run stored.
    fn not_eligible_row(
        &self,
        screeners: &[EquationScreener],
        row: usize,
        patient_ref: &PatientRef,
        why: &NotEligible,
        sink: &mut dyn EquationSink,
        summary: &mut EquationSummary,
    ) -> Result<()> {
        for screener in screeners {
            let model = &screener.model;
            let db = &self.records().db;
            let outcome = match db.find(model.id(), model.version(), patient_ref)? {
                Some(stored) => stored_outcome(model, stored.record),
                None => {
                    let (record, outcome) = not_eligible_record(model, patient_ref, why);
                    self.commit_equation(PendingOutcome::New(Box::new(record), outcome))?
                }
            };
            match &outcome {
                EquationOutcome::Screened { .. } => summary.resumed += 1,
                EquationOutcome::NotEligible(_) => summary.not_eligible += 1,
            }
            sink.result(EquationRowResult {
                row,
                patient_ref,
                model_id: model.id(),
                model_version: model.version(),
                outcome: &outcome,
            })
            .map_err(AppError::Output)?;
        }
        Ok(())
    }
}

/// The row storing a not-eligible decision for `model`, and the outcome it means.
pub(crate) fn not_eligible_record(
    model: &EquationModel,
    patient_ref: &PatientRef,
    why: &NotEligible,
) -> (ScreeningRecord, EquationOutcome) {
    let record = ScreeningRecord::not_eligible(
        patient_ref.clone(),
        SystemClock.now_unix_seconds(),
        model.id(),
        model.version(),
        model.equation().inputs.len(),
        why.kind(),
    );
    (
        record,
        EquationOutcome::NotEligible(Ineligible::decided(why)),
    )
}

fn refused_row(row: usize, patient_ref: &PatientRef, refusal: &ResultRefused) -> RowError {
    RowError {
        row,
        patient_ref: Some(patient_ref.clone()),
        column: None,
        reason: refusal.to_string(),
    }
}
