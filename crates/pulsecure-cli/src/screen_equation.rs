//! `pulsecure screen --model ID` for published equations (PREVENT): one patient (`--json`)
//! or a batch, through the workstation; prints or writes one row per patient and model.

use pulsecure_app::equation_screening::{EquationScreener, EquationSink};
use pulsecure_app::{DataDir, EvaluatorChoice, Workstation};
use pulsecure_batch_input::{ColumnSpec, JsonPatient, RawRow};
use pulsecure_core::domain::equation_intake::CholesterolUnits;

use crate::cli::{CholesterolUnitsArg, ScreenArgs};
use crate::equation_sink::EquationCliSink;
use crate::error::CliError;
use crate::fhir_output::{hook_for, FhirOut};
use crate::password;

type Result<T> = std::result::Result<T, CliError>;

pub(crate) fn units(arg: CholesterolUnitsArg) -> CholesterolUnits {
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
    let fhir = crate::screen_fhir::request(args)?;
    if !args.values.is_empty() || args.patient_ref.is_some() {
        return Err(CliError::Usage(
            "a published equation reads one patient from --json (with \"patient_id\") or a --batch file"
                .into(),
        ));
    }
    if let Some(url) = &args.queue {
        return crate::queue_cmd::screen_equations_queued(
            dir,
            args,
            selector,
            url,
            fhir.map(|input| input.request),
            units(args.units),
        );
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
    let mut sink = EquationCliSink::create(args)?;
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
fn finish(
    sink: EquationCliSink,
    summary: pulsecure_app::equation_screening::EquationSummary,
) -> Result<()> {
    sink.finish()?;
    eprintln!(
        "{} screened, {} already stored, {} not eligible, {} rejected, {} refused by the result check",
        summary.screened, summary.resumed, summary.not_eligible, summary.rejected, summary.refused
    );
    eprintln!("{}", crate::equation_sink::SCREENING_AID);
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
    sink: &mut EquationCliSink,
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
