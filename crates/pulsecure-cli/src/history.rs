//! `history`, `export` and `db check`: printing the stored screenings the workstation reads
//! back, each labelled with the feature names of the model it was stored with.

use std::io::Write;

use pulsecure_app::dates::{format_time, parse_date};
use pulsecure_app::history::{damage, HistoryQuery, LabelledScreening};
use pulsecure_app::DataDir;
use pulsecure_core::RiskClass;
use serde::Serialize;

use crate::cli::{ClassFilter, DbCheckArgs, ExportArgs, HistoryArgs, OutputFormat};
use crate::error::CliError;
use crate::password;
use crate::results::{persist, temp_beside};

type Result<T> = std::result::Result<T, CliError>;

/// A screening as exported: clear columns plus the decrypted values, by feature name.
#[derive(Serialize)]
struct ExportRow<'a> {
    id: i64,
    created_at: String,
    patient_id: &'a str,
    model_id: &'a str,
    model_version: u64,
    /// `screened` or `not_eligible`.
    status: &'static str,
    /// Why a `not_eligible` row got no estimate (`known_cvd`, `age_outside_range`).
    reason_code: Option<&'static str>,
    /// Empty (null) for a not-eligible row.
    probability: Option<f64>,
    probability_code: Option<u32>,
    risk_text: String,
    /// cvd-lr: `low`/`high`; a published equation: its category; `not_eligible`.
    risk_class: String,
    /// The stored inputs (none for a not-eligible row).
    features: std::collections::BTreeMap<&'a str, f64>,
}

fn export_row(s: &LabelledScreening) -> ExportRow<'_> {
    let r = &s.stored.record;
    let screened = r.status.is_screened();
    ExportRow {
        id: s.stored.id,
        created_at: format_time(r.created_at),
        patient_id: r.patient_ref.as_str(),
        model_id: &r.assessment.model_id,
        model_version: r.assessment.model_version,
        status: r.status.as_str(),
        reason_code: s.ineligible_reason().map(|why| why.code()),
        probability: screened.then_some(r.assessment.probability),
        probability_code: screened.then_some(r.assessment.probability_code),
        risk_text: s.risk_text(),
        risk_class: s.risk_label(),
        features: s.named_features().filter(|_| screened).collect(),
    }
}

/// `history`.
pub fn history(dir: &DataDir, args: &HistoryArgs) -> Result<()> {
    let query = HistoryQuery {
        since: args
            .since
            .as_deref()
            .map(|d| parse_date(d, "--since"))
            .transpose()
            .map_err(pulsecure_app::AppError::from)?,
        until: args
            .until
            .as_deref()
            .map(|d| parse_date(d, "--until").map(|t| t + 86_400))
            .transpose()
            .map_err(pulsecure_app::AppError::from)?,
        class: args.class.map(|c| match c {
            ClassFilter::Low => RiskClass::Low,
            ClassFilter::High => RiskClass::High,
        }),
    };
    let records = password::open_records(dir, &args.password)?;
    let rows: Vec<LabelledScreening> = match args.show {
        Some(id) => vec![records.screening(id)?],
        None => records.history(&query)?,
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            let doc: Vec<ExportRow> = rows.iter().map(export_row).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        OutputFormat::Csv => write_csv(&mut out, &rows)?,
        OutputFormat::Fhir => {
            return Err(CliError::Usage(
                "--format fhir is written by `screen --fhir`/`--fhir-bulk`; history writes table, json or csv".into(),
            ))
        }
        OutputFormat::Table if args.show.is_some() => {
            for s in &rows {
                let r = &s.stored.record;
                writeln!(out, "screening   {}", s.stored.id)?;
                writeln!(out, "date        {} UTC", format_time(r.created_at))?;
                writeln!(out, "patient     {}", r.patient_ref.as_str())?;
                writeln!(
                    out,
                    "model       {} v{}",
                    r.assessment.model_id, r.assessment.model_version
                )?;
                if let Some(why) = s.ineligible_reason() {
                    writeln!(out, "status      not eligible: {}", why.text())?;
                    continue;
                }
                writeln!(
                    out,
                    "risk        {} ({} / {})",
                    s.risk_text(),
                    r.assessment.probability_code,
                    s.probability_scale()
                )?;
                let label = if s.equation.is_some() {
                    "category  "
                } else {
                    "risk class"
                };
                writeln!(out, "{label}  {}", s.risk_label())?;
                for (name, value) in s.displayed_features() {
                    writeln!(out, "  {name:<24}{value}")?;
                }
            }
        }
        OutputFormat::Table => {
            writeln!(
                out,
                "{:>6}  {:<16}  {:<20} {:>8} {:>5}  model",
                "id", "date (UTC)", "patient", "risk", "class"
            )?;
            for s in &rows {
                let r = &s.stored.record;
                let risk = match s.ineligible_reason() {
                    Some(_) => "-".to_string(),
                    None => s.risk_text(),
                };
                writeln!(
                    out,
                    "{:>6}  {:<16}  {:<20} {:>8} {:>5}  {} v{}",
                    s.stored.id,
                    format_time(r.created_at),
                    r.patient_ref.as_str(),
                    risk,
                    s.risk_label(),
                    r.assessment.model_id,
                    r.assessment.model_version
                )?;
            }
            writeln!(out, "{} screening(s)", rows.len())?;
        }
    }
    Ok(())
}

/// CSV with one column per feature name of every model present (rows stored under a model
/// without that feature leave it empty).
fn write_csv(out: &mut impl Write, rows: &[LabelledScreening]) -> Result<()> {
    let mut names: Vec<&str> = Vec::new();
    for s in rows {
        for name in s.features.iter().map(|f| &f.name) {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec![
        "id",
        "created_at",
        "patient_id",
        "model_id",
        "model_version",
        "status",
        "reason_code",
        "probability",
        "probability_code",
        "risk_class",
    ];
    header.extend(names.iter().copied());
    w.write_record(&header)?;
    for s in rows {
        let e = export_row(s);
        let mut record = vec![
            e.id.to_string(),
            e.created_at.clone(),
            e.patient_id.to_string(),
            e.model_id.to_string(),
            e.model_version.to_string(),
            e.status.to_string(),
            e.reason_code.unwrap_or_default().to_string(),
            e.probability.map_or(String::new(), |p| p.to_string()),
            e.probability_code.map_or(String::new(), |c| c.to_string()),
            e.risk_class.to_string(),
        ];
        record.extend(
            names
                .iter()
                .map(|n| e.features.get(n).map_or(String::new(), f64::to_string)),
        );
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(())
}

/// `export`: every screening, decrypted, for the data owner.
pub fn export(dir: &DataDir, args: &ExportArgs) -> Result<()> {
    if args.format == OutputFormat::Table {
        return Err(CliError::Input("export writes csv or json".into()));
    }
    let records = password::open_records(dir, &args.password)?;
    let rows = records.export()?;
    let mut buffer = Vec::new();
    if args.format == OutputFormat::Json {
        let doc: Vec<ExportRow> = rows.iter().map(export_row).collect();
        serde_json::to_writer_pretty(&mut buffer, &doc)?;
        buffer.push(b'\n');
    } else {
        write_csv(&mut buffer, &rows)?;
    }
    match &args.out {
        Some(dest) => {
            let mut tmp = temp_beside(dest)?;
            tmp.write_all(&buffer)?;
            persist(tmp, dest)?;
            eprintln!("{} screening(s) written to {}", rows.len(), dest.display());
        }
        None => std::io::stdout().write_all(&buffer)?,
    }
    Ok(())
}

/// `db check`.
pub fn db_check(dir: &DataDir, args: &DbCheckArgs) -> Result<()> {
    let records = password::open_records(dir, &args.password)?;
    let report = records.check()?;
    println!("integrity_check: {}", report.integrity.join("; "));
    println!(
        "screenings: {} checked, {} fail to decrypt",
        report.rows,
        report.corrupt_ids.len()
    );
    if !report.corrupt_ids.is_empty() {
        println!(
            "damaged or altered ids: {}",
            report
                .corrupt_ids
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !report.altered.is_empty() {
        println!("altered outside Pulsecure: {}", report.altered.join(", "));
    }
    if let Some(e) = damage(&report) {
        return Err(e.into());
    }
    println!("ok");
    Ok(())
}
