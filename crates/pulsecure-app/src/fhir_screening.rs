//! Screening patients read from FHIR R4 (a Bundle, resources one per line, or a Bulk Data
//! export): the reader's records become the same batch items a clinic file gives, so they
//! take the same screening path (the evaluator service or the job queue), with the same
//! checks, storage and per-row errors.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use pulsecure_batch_input::Item;
use pulsecure_core::domain::equation_intake::CholesterolUnits;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::PatientRef;
use pulsecure_fhir::map::table;
use pulsecure_fhir::{
    to_item, FhirItem, FhirReader, PatientRecord, Progress, ReadOptions, Source, Target,
};

use crate::equation_screening::{columns, EquationScreener, EquationSink, EquationSummary};
use crate::error::{AppError, Result};
use crate::queue_screening::{QueueSink, QueueStation, Submission};
use crate::row_chunks::Items;
use crate::screening::{BatchSink, BatchSummary};
use crate::workstation::Workstation;

/// What to read and how.
pub struct FhirRequest {
    /// The file or export.
    pub source: Source,
    /// Screening date, look-back window, partitions.
    pub options: ReadOptions,
}

/// Called with each patient's reference and the resources its values came from, before
/// its results (a FHIR writer puts them in `RiskAssessment.basis`).
pub type BasisHook<'a> = &'a mut dyn FnMut(&PatientRef, &[String]);

/// A FHIR input opened and read as batch items for `target`, reporting each record's basis:
/// the items, the input's size for progress (bytes, counted twice: reading, then
/// screening) and the reader's progress as it goes ([`position`]).
type Opened<'a> = (Items<'a>, u64, Rc<Cell<Progress>>);

fn open<'a>(request: FhirRequest, target: Target<'a>, basis: BasisHook<'a>) -> Result<Opened<'a>> {
    target.check(table())?;
    let total = request.source.bytes().saturating_mul(2);
    let mut reader = FhirReader::open(request.source, request.options)?;
    let progress = Rc::new(Cell::new(Progress::default()));
    let shared = Rc::clone(&progress);
    let rows: Items<'a> = Box::new(std::iter::from_fn(move || {
        let next = reader.next();
        shared.set(reader.progress());
        Some(match next? {
            Ok(FhirItem::Record(record)) => Ok(record_item(record, target, &mut *basis)),
            Ok(FhirItem::Rejected(e)) => Ok(Item::Rejected(e)),
            Err(e) => Err(AppError::Fhir(e)),
        })
    }));
    Ok((rows, total, progress))
}

fn record_item(record: PatientRecord, target: Target<'_>, basis: BasisHook<'_>) -> Item {
    if let Ok(patient_ref) = PatientRef::parse(&record.id) {
        basis(&patient_ref, &record.basis);
    }
    to_item(record, target, table())
}

/// Progress over both phases: reading (bytes) then screening (patients), each half.
fn position(p: Progress) -> u64 {
    let per_patient = p.bytes_total as f64 / p.patients_total.max(1) as f64;
    p.bytes_read + (p.patients_done as f64 * per_patient) as u64
}

impl Workstation {
    /// Screen the patients of a FHIR input with the active schema-1 model (cvd-lr), as a
    /// batch file's rows are screened.
    pub fn screen_fhir(
        &self,
        request: FhirRequest,
        basis: BasisHook<'_>,
        sink: &mut dyn BatchSink,
    ) -> Result<BatchSummary> {
        let model = Arc::clone(self.model());
        let (rows, total, progress) = open(request, Target::Model(&model), basis)?;
        self.screen_items(rows, total, &|| position(progress.get()), sink)
    }

    /// Screen the patients of a FHIR input with every model of `screeners` (published
    /// equations), as a clinic file's rows are.
    pub fn screen_equation_fhir(
        &self,
        screeners: &[EquationScreener],
        request: FhirRequest,
        basis: BasisHook<'_>,
        sink: &mut dyn EquationSink,
    ) -> Result<EquationSummary> {
        let models: Vec<Arc<EquationModel>> =
            screeners.iter().map(|s| Arc::clone(s.model())).collect();
        let spec = columns(&models);
        let (rows, total, progress) = open(request, Target::Columns(&spec), basis)?;
        // Values arrive in mg/dL: the reader converts each observation's own unit.
        self.screen_equation_items(
            screeners,
            rows,
            CholesterolUnits::MgPerDl,
            (total, &|| position(progress.get())),
            sink,
        )
    }
}

impl QueueStation {
    /// Submit the patients of a FHIR input to the job queue (the active schema-1 model).
    pub fn submit_fhir(
        &mut self,
        request: FhirRequest,
        sink: &mut dyn QueueSink,
    ) -> Result<Submission> {
        let model = self.model();
        let mut ignore = |_: &PatientRef, _: &[String]| {};
        let (rows, total, progress) = open(request, Target::Model(&model), &mut ignore)?;
        self.submit_items(&model, rows, (total, &|| position(progress.get())), sink)
    }

    /// Submit the patients of a FHIR input to the job queue for the selected published
    /// equations ([`QueueStation::select_equations`]).
    pub fn submit_equation_fhir(
        &mut self,
        request: FhirRequest,
        sink: &mut dyn QueueSink,
    ) -> Result<Submission> {
        let spec = columns(&self.equation_models());
        let mut ignore = |_: &PatientRef, _: &[String]| {};
        let (rows, total, progress) = open(request, Target::Columns(&spec), &mut ignore)?;
        // Values arrive in mg/dL: the reader converts each observation's own unit.
        self.submit_equation_items(
            rows,
            CholesterolUnits::MgPerDl,
            (total, &|| position(progress.get())),
            sink,
        )
    }
}
