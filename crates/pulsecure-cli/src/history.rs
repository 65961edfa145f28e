//! `history`, `export` and `db check`: reading the stored screenings back.

use std::io::Write;

use anyhow::{bail, Result};
use pulsecure_core::ports::audit::{AuditEvent, AuditLog};
use pulsecure_core::ports::store::StoredScreening;
use pulsecure_core::RiskClass;
use pulsecure_store::ScreeningFilter;
use serde::Serialize;

use crate::cli::{ClassFilter, DbCheckArgs, ExportArgs, HistoryArgs, OutputFormat};
use crate::dates::{format_time, parse_date};
use crate::embedded::default_model;
use crate::password;
use crate::results::{persist, temp_beside};
use crate::session::{open_database, DataDir, Unlocked};

/// Integrity problems found by `db check` (exit code 4).
#[derive(Debug)]
pub struct DatabaseDamaged(pub String);

impl std::fmt::Display for DatabaseDamaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database check failed: {}", self.0)
    }
}

impl std::error::Error for DatabaseDamaged {}

/// A screening as exported: clear columns plus the decrypted values, by feature name.
#[derive(Serialize)]
struct ExportRow {
    id: i64,
    created_at: String,
    patient_id: String,
    model_id: String,
    model_version: u64,
    probability: f64,
    probability_code: u32,
    risk_class: &'static str,
    features: std::collections::BTreeMap<String, f64>,
}

fn export_row(s: &StoredScreening, names: &[String]) -> ExportRow {
    let r = &s.record;
    ExportRow {
        id: s.id,
        created_at: format_time(r.created_at),
        patient_id: r.patient_ref.clone(),
        model_id: r.assessment.model_id.clone(),
        model_version: r.assessment.model_version,
        probability: r.assessment.probability,
        probability_code: r.assessment.probability_code,
        risk_class: r.assessment.class.as_str(),
        features: names
            .iter()
            .cloned()
            .zip(r.features.iter().copied())
            .collect(),
    }
}

fn feature_names() -> Result<Vec<String>> {
    Ok(default_model()?
        .features()
        .iter()
        .map(|f| f.name.clone())
        .collect())
}

/// `history`.
pub fn history(dir: &DataDir, args: &HistoryArgs) -> Result<()> {
    let filter = ScreeningFilter {
        since: args
            .since
            .as_deref()
            .map(|d| parse_date(d, "--since"))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|d| parse_date(d, "--until").map(|t| t + 86_400))
            .transpose()?,
        class: args.class.map(|c| match c {
            ClassFilter::Low => RiskClass::Low,
            ClassFilter::High => RiskClass::High,
        }),
    };
    let password = password::current(&args.password)?;
    let unlocked = Unlocked::open(dir, &password)?;
    let db = open_database(dir, &unlocked)?;
    let names = feature_names()?;
    let rows: Vec<StoredScreening> = match args.show {
        Some(id) => vec![db.screening(id)?],
        None => db.history(&filter)?,
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            let doc: Vec<ExportRow> = rows.iter().map(|s| export_row(s, &names)).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        OutputFormat::Csv => write_csv(&mut out, &rows, &names)?,
        OutputFormat::Table if args.show.is_some() => {
            for s in &rows {
                let r = &s.record;
                writeln!(out, "screening   {}", s.id)?;
                writeln!(out, "date        {} UTC", format_time(r.created_at))?;
                writeln!(out, "patient     {}", r.patient_ref)?;
                writeln!(
                    out,
                    "model       {} v{}",
                    r.assessment.model_id, r.assessment.model_version
                )?;
                writeln!(
                    out,
                    "probability {:.3} ({} / 4096)",
                    r.assessment.probability, r.assessment.probability_code
                )?;
                writeln!(out, "risk class  {}", r.assessment.class.as_str())?;
                for (name, value) in names.iter().zip(&r.features) {
                    writeln!(out, "  {name:<24}{value}")?;
                }
            }
        }
        OutputFormat::Table => {
            writeln!(
                out,
                "{:>6}  {:<16}  {:<20} {:>11} {:>5}  model",
                "id", "date (UTC)", "patient", "probability", "risk"
            )?;
            for s in &rows {
                let r = &s.record;
                writeln!(
                    out,
                    "{:>6}  {:<16}  {:<20} {:>11.3} {:>5}  {} v{}",
                    s.id,
                    format_time(r.created_at),
                    r.patient_ref,
                    r.assessment.probability,
                    r.assessment.class.as_str(),
                    r.assessment.model_id,
                    r.assessment.model_version
                )?;
            }
            writeln!(out, "{} screening(s)", rows.len())?;
        }
    }
    Ok(())
}

fn write_csv(out: &mut impl Write, rows: &[StoredScreening], names: &[String]) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec![
        "id",
        "created_at",
        "patient_id",
        "model_id",
        "model_version",
        "probability",
        "probability_code",
        "risk_class",
    ];
    header.extend(names.iter().map(String::as_str));
    w.write_record(&header)?;
    for s in rows {
        let e = export_row(s, names);
        let mut record = vec![
            e.id.to_string(),
            e.created_at,
            e.patient_id,
            e.model_id,
            e.model_version.to_string(),
            e.probability.to_string(),
            e.probability_code.to_string(),
            e.risk_class.to_string(),
        ];
        record.extend(s.record.features.iter().map(f64::to_string));
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(())
}

/// `export`: every screening, decrypted, for the data owner.
pub fn export(dir: &DataDir, args: &ExportArgs) -> Result<()> {
    if args.format == OutputFormat::Table {
        bail!("export writes csv or json");
    }
    let password = password::current(&args.password)?;
    let unlocked = Unlocked::open(dir, &password)?;
    let db = open_database(dir, &unlocked)?;
    let rows = db.history(&ScreeningFilter::default())?;
    let names = feature_names()?;
    let mut buffer = Vec::new();
    if args.format == OutputFormat::Json {
        let doc: Vec<ExportRow> = rows.iter().map(|s| export_row(s, &names)).collect();
        serde_json::to_writer_pretty(&mut buffer, &doc)?;
        buffer.push(b'\n');
    } else {
        write_csv(&mut buffer, &rows, &names)?;
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
    db.log_event(
        AuditEvent::DataExported,
        &format!("{} screening(s)", rows.len()),
    )?;
    Ok(())
}

/// `db check`.
pub fn db_check(dir: &DataDir, args: &DbCheckArgs) -> Result<()> {
    let password = password::current(&args.password)?;
    let unlocked = Unlocked::open(dir, &password)?;
    let db = open_database(dir, &unlocked)?;
    let report = db.check()?;
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
    if !report.is_ok() {
        return Err(DatabaseDamaged(format!(
            "{} damaged row(s), integrity: {}",
            report.corrupt_ids.len(),
            report.integrity.join("; ")
        ))
        .into());
    }
    println!("ok");
    Ok(())
}
