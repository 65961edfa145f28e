//! `pulsecure screen --model ID` for published equations (PREVENT): one patient (`--json`)
//! or a batch, through the workstation; prints or writes one row per patient and model.

use pulsecure_app::equation_screening::{
    EquationOutcome, EquationRowResult, EquationScreener, EquationSink,
};
use pulsecure_app::{DataDir, EvaluatorChoice, Workstation};
use pulsecure_batch::{ColumnSpec, JsonPatient, RawRow, RowError};
use pulsecure_core::domain::assessment::equation_risk_text;
use pulsecure_core::domain::equation_intake::CholesterolUnits;
use serde::Serialize;

use crate::cli::{CholesterolUnitsArg, ScreenArgs};
use crate::error::CliError;
use crate::fhir_output::{hook_for, FhirOut};
use crate::password;
use crate::rejected_rows::RejectedRows;
use crate::results::{choose_format, ResultWriter};
use pulsecure_app::screening::RowStatus;
use pulsecure_fhir::risk_assessment::AssessmentResult;

type Result<T> = std::result::Result<T, CliError>;

/// One output row (a stable interface, listed in `screen --help`).
#[derive(Serialize)]
struct EquationRow<'a> {
    patient_id: &'a str,
    /// `screened`, `already-stored` or `not_eligible` (decided now or stored earlier).
    status: &'static str,
    /// 0-1; empty when not eligible.
    probability: Option<f64>,
    risk_text: String,
    risk_category: String,
    /// Why no estimate was given (not eligible), else empty.
    reason: String,
    model_id: &'a str,
    model_version: u64,
}

const CSV_HEADER: &str =
    "patient_id,status,probability,risk_text,risk_category,reason,model_id,model_version";

fn row<'a>(r: &EquationRowResult<'a>) -> EquationRow<'a> {
    let (status, probability, risk_text, risk_category, reason) = match r.outcome {
        EquationOutcome::Screened {
            assessment,
            category,
            status,
        } => (
            status.as_str(),
            Some(assessment.probability),
            equation_risk_text(assessment.probability),
            category.clone(),
            String::new(),
        ),
        EquationOutcome::NotEligible(decision) => (
            "not_eligible",
            None,
            String::new(),
            String::new(),
            decision.text.clone(),
        ),
    };
    EquationRow {
        patient_id: r.patient_ref.as_str(),
        status,
        probability,
        risk_text,
        risk_category,
        reason,
        model_id: r.model_id,
        model_version: r.model_version,
    }
}

fn table_line(r: &EquationRow<'_>) -> String {
    format!(
        "{:<20} {:<14} {:>8} {:<13} {} v{}{}",
        r.patient_id,
        r.status,
        r.risk_text,
        r.risk_category,
        r.model_id,
        r.model_version,
        if r.reason.is_empty() {
            String::new()
        } else {
            format!("  ({})", r.reason)
        }
    )
}

/// Results to a [`ResultWriter`]; rejected rows to stderr and the `--errors` CSV file.
struct Sink {
    writer: ResultWriter,
    errors: Option<RejectedRows>,
    /// RiskAssessments instead of rows (`--format fhir`).
    fhir: Option<FhirOut>,
}

impl EquationSink for Sink {
    fn result(&mut self, r: EquationRowResult<'_>) -> std::io::Result<()> {
        if let Some(fhir) = &self.fhir {
            let stored_earlier = match r.outcome {
                EquationOutcome::Screened { status, .. } => *status == RowStatus::AlreadyStored,
                EquationOutcome::NotEligible(decision) => {
                    decision.status == RowStatus::AlreadyStored
                }
            };
            if stored_earlier {
                // Not a new assessment: today's inputs were not screened.
                fhir.stored_earlier(r.patient_ref);
                return Ok(());
            }
            let result = match r.outcome {
                EquationOutcome::Screened {
                    assessment,
                    category,
                    ..
                } => AssessmentResult::Predicted {
                    probability: assessment.probability,
                    category,
                },
                EquationOutcome::NotEligible(decision) => AssessmentResult::NotEligible {
                    reason: &decision.text,
                },
            };
            let resource = fhir.resource(r.patient_ref, r.model_id, r.model_version, result);
            return self
                .writer
                .write_resource(&resource)
                .map_err(std::io::Error::other);
        }
        let row = row(&r);
        self.writer
            .write_serialized(&row, &table_line(&row))
            .map_err(std::io::Error::other)
    }

    fn rejected(&mut self, e: &RowError) -> std::io::Result<()> {
        // The basis stays for the patient's other models (one patient is in flight at a
        // time here; the next one's basis replaces it).
        let column = e.column.as_deref().unwrap_or("-");
        eprintln!("row {}, column {column}: {}", e.row, e.reason);
        tracing::warn!(row = e.row, column, "batch row rejected: {}", e.reason);
        if let Some(errors) = &mut self.errors {
            errors.write(e)?;
        }
        Ok(())
    }
}

fn units(arg: CholesterolUnitsArg) -> CholesterolUnits {
    match arg {
        CholesterolUnitsArg::Mg => CholesterolUnits::MgPerDl,
        CholesterolUnitsArg::Si => CholesterolUnits::MmolPerL,
    }
}

/// Run `screen --model ID` for a published-equation model (or `prevent`).
pub fn run(
    dir: &DataDir,
    args: &ScreenArgs,
    selector: &str,
    evaluator: EvaluatorChoice,
) -> Result<()> {
    if args.queue.is_some() {
        return Err(CliError::Usage(
            "--queue screens cvd-lr only for now; screen published equations without --queue"
                .into(),
        ));
    }
    let fhir = crate::screen_fhir::request(args)?;
    if !args.values.is_empty() || args.patient_ref.is_some() {
        return Err(CliError::Usage(
            "a published equation reads one patient from --json (with \"patient_id\") or a --batch file"
                .into(),
        ));
    }
    let single = match (&args.batch, &args.json) {
        _ if fhir.is_some() => None,
        (Some(_), _) => None,
        (None, Some(json)) => Some(crate::single_input::json_patient(json)?),
        (None, None) => {
            return Err(CliError::Usage(
                "give --json (one patient), --batch FILE, --fhir FILE or --fhir-bulk DIR".into(),
            ))
        }
    };
    let password = password::current(&args.password)?;
    let workstation = password::open_workstation(dir, &password, evaluator)?;
    let screeners = workstation.equation_screeners(selector)?;
    let format = choose_format(args.format, args.out.as_deref());
    let writer = ResultWriter::create_with(
        format,
        args.out.as_deref(),
        CSV_HEADER,
        &format!(
            "{:<20} {:<14} {:>8} {:<13} model",
            "patient", "status", "risk", "category"
        ),
    )?;
    let errors = args
        .errors
        .as_deref()
        .map(RejectedRows::create)
        .transpose()?;
    let mut sink = Sink {
        writer,
        errors,
        fhir: None,
    };
    if let Some(crate::screen_fhir::FhirInput {
        request,
        ndjson,
        as_of,
    }) = fhir
    {
        if sink.writer.is_fhir() {
            if ndjson {
                sink.writer.use_ndjson();
            }
            sink.fhir = Some(FhirOut::new(screeners.len(), as_of).one_patient_at_a_time());
        }
        let mut hook = hook_for(sink.fhir.as_ref());
        let summary =
            workstation.screen_equation_fhir(&screeners, request, &mut *hook, &mut sink)?;
        return finish(sink, summary);
    }
    if sink.writer.is_fhir() {
        return Err(CliError::Usage(
            "--format fhir writes RiskAssessments for FHIR input: give --fhir FILE or --fhir-bulk DIR".into(),
        ));
    }
    let summary = match (&args.batch, single) {
        (Some(path), _) => {
            workstation.screen_equation_batch(&screeners, path, units(args.units), &mut sink)?
        }
        (None, Some(patient)) => single_patient(
            &workstation,
            &screeners,
            &patient,
            units(args.units),
            &mut sink,
        )?,
        (None, None) => unreachable_usage()?,
    };
    finish(sink, summary)
}

/// Close the outputs and print the summary.
fn finish(sink: Sink, summary: pulsecure_app::equation_screening::EquationSummary) -> Result<()> {
    if let Some(fhir) = &sink.fhir {
        crate::fhir_output::report_stored_earlier(fhir);
    }
    sink.writer.finish()?;
    if let Some(errors) = sink.errors {
        errors.finish()?;
    }
    eprintln!(
        "{} screened, {} already stored, {} not eligible, {} rejected, {} refused by the result check",
        summary.screened, summary.resumed, summary.not_eligible, summary.rejected, summary.refused
    );
    eprintln!(
        "A screening aid, NOT a diagnosis: 10-year risk from the published equation, computed under encryption."
    );
    CliError::rows_outcome(summary.rejected, summary.refused)
}

fn unreachable_usage() -> Result<pulsecure_app::equation_screening::EquationSummary> {
    Err(CliError::Usage(
        "give --json (one patient) or --batch FILE".into(),
    ))
}

/// One patient from `--json`, read by the rule of JSON batch rows (unknown keys by
/// position, levels as text; see [`JsonPatient`]); without a reference, one is generated.
fn single_patient(
    workstation: &Workstation,
    screeners: &[EquationScreener],
    patient: &JsonPatient,
    units: CholesterolUnits,
    sink: &mut Sink,
) -> Result<pulsecure_app::equation_screening::EquationSummary> {
    let models: Vec<_> = screeners.iter().map(|s| s.model().clone()).collect();
    let spec: ColumnSpec = pulsecure_app::equation_screening::columns(&models);
    let mut summary = pulsecure_app::equation_screening::EquationSummary::default();
    match patient.column_values(&spec) {
        Ok(cells) => {
            let patient_ref = match &patient.patient_ref {
                Some(r) => r.clone(),
                None => pulsecure_app::screening::generated_ref()?,
            };
            let raw = RawRow {
                row: patient.row,
                patient_ref,
                values: cells.into_iter().collect(),
            };
            summary = workstation.screen_equation_rows(screeners, vec![raw], units, sink)?;
        }
        Err(e) => {
            summary.rejected += 1;
            sink.rejected(&e)?;
        }
    }
    Ok(summary)
}
