//! `pulsecure bench --fhir-bulk DIR`: the FHIR reader at population scale. Reads a bulk
//! export through the same reader, mapping and validation as `screen --fhir-bulk` (against
//! the embedded cvd-lr model, no encryption: this measures the reading, not the FHE), and
//! reports resources per second and the process's peak resident memory.

use std::path::Path;
use std::time::Instant;

use pulsecure_app::embedded::embedded_model;
use pulsecure_batch_input::Item;
use pulsecure_fhir::map::table;
use pulsecure_fhir::{bulk_source, to_item, FhirItem, FhirReader, ReadOptions, Target, Window};

use crate::error::CliError;

type Result<T> = std::result::Result<T, CliError>;

/// Peak resident set size of this process in KiB (`VmHWM`), if the system tells.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Run the reader benchmark on `dir`.
pub fn run(dir: &Path, json: bool) -> Result<()> {
    let model = embedded_model()?;
    let (source, _) = bulk_source(dir).map_err(pulsecure_app::AppError::from)?;
    let bytes = source.bytes();
    let rss_before = peak_rss_kib();
    let start = Instant::now();
    let mut reader = FhirReader::open(
        source,
        ReadOptions {
            window: Window::new((2026, 6, 30), table().default_lookback_years),
            partitions: None,
        },
    )
    .map_err(pulsecure_app::AppError::from)?;
    let (mut rows, mut not_eligible, mut rejected, mut resource_errors) = (0u64, 0u64, 0u64, 0u64);
    let mut read_done = None;
    while let Some(item) = reader.next() {
        if read_done.is_none() && reader.progress().patients_total > 0 {
            read_done = Some(start.elapsed());
        }
        match item.map_err(pulsecure_app::AppError::from)? {
            FhirItem::Rejected(_) => resource_errors += 1,
            FhirItem::Record(record) => match to_item(record, Target::Model(&model), table()) {
                Item::Row(_) | Item::Raw(_) => rows += 1,
                Item::NotEligible(_) => not_eligible += 1,
                Item::Rejected(_) => rejected += 1,
            },
        }
    }
    let total = start.elapsed();
    let progress = reader.progress();
    let read = read_done.unwrap_or(total);
    let peak = peak_rss_kib();
    let rate = progress.resources as f64 / total.as_secs_f64();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "bytes": bytes,
                "resources": progress.resources,
                "patients": progress.patients_total,
                "rows": rows,
                "not_eligible": not_eligible,
                "rejected_patients": rejected,
                "resource_errors": resource_errors,
                "read_seconds": read.as_secs_f64(),
                "total_seconds": total.as_secs_f64(),
                "resources_per_second": rate,
                "peak_rss_kib": peak,
                "peak_rss_kib_before": rss_before,
            })
        );
    } else {
        println!(
            "FHIR bulk read: {} resources ({:.1} MB) of {} patients in {:.1} s ({:.1} s reading and spilling, {:.1} s joining and mapping)",
            progress.resources,
            bytes as f64 / 1e6,
            progress.patients_total,
            total.as_secs_f64(),
            read.as_secs_f64(),
            (total - read).as_secs_f64()
        );
        println!("  {rate:.0} resources/s; {rows} patients ready to screen, {not_eligible} not eligible, {rejected} rejected, {resource_errors} resource errors");
        match peak {
            Some(kib) => println!("  peak resident memory {:.1} MiB", kib as f64 / 1024.0),
            None => println!("  peak resident memory: not available on this system"),
        }
    }
    Ok(())
}
