//! The FHIR reader: resources are read once, each turned into facts spilled by patient
//! (see [`crate::spill`]); then each partition is read back and every patient reduced to a
//! record. Yields a resource's error as soon as it is met (which file, which line or entry,
//! what was expected) and goes on; memory is bounded by one partition, not by the input.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};

use pulsecure_batch_input::{ClassifyName, RowError};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::extract::{Extractor, Window};
use crate::fact::Fact;
use crate::map::{table, MappingTable};
use crate::record::{reduce, PatientRecord};
use crate::resource::Resource;
use crate::source::{skip_bom, NdjsonFile, Source, MAX_BUNDLE_BYTES, MAX_RESOURCE_LINE};
use crate::spill::Spill;
use crate::FhirError;

/// Input bytes per partition: a partition's facts are a small fraction of this.
const BYTES_PER_PARTITION: u64 = 48 * 1024 * 1024;
/// Most partitions (open temporary files).
const MAX_PARTITIONS: u64 = 512;

/// What the reader yields.
#[derive(Debug)]
pub enum FhirItem {
    /// One patient, read (or why not).
    Record(PatientRecord),
    /// A resource that could not be read (its patient may still be read without it).
    Rejected(RowError),
}

/// How far the reader is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes read (first phase).
    pub bytes_read: u64,
    /// Input bytes in all.
    pub bytes_total: u64,
    /// Patients yielded (second phase).
    pub patients_done: u64,
    /// `Patient` resources read.
    pub patients_total: u64,
    /// Resources read (every line or entry, whatever its type).
    pub resources: u64,
}

/// Options of a read.
#[derive(Clone, Copy, Debug)]
pub struct ReadOptions {
    /// Screening date and look-back window.
    pub window: Window,
    /// Partitions to spill to (`None`: from the input's size).
    pub partitions: Option<usize>,
}

struct NdjsonPhase {
    files: std::vec::IntoIter<NdjsonFile>,
    current: Option<(NdjsonFile, BufReader<File>, usize)>,
    buf: Vec<u8>,
}

struct BundlePhase {
    /// (entry number, fullUrl, resource text).
    entries: std::vec::IntoIter<(usize, Option<String>, Box<RawValue>)>,
    full_urls: HashMap<String, String>,
    name: String,
}

enum Phase {
    Ndjson(NdjsonPhase),
    Bundle(BundlePhase),
    Emitting {
        partition: usize,
        records: std::vec::IntoIter<PatientRecord>,
    },
    Done,
}

/// Reads FHIR resources into patient records.
pub struct FhirReader {
    table: &'static MappingTable,
    window: Window,
    spill: Spill,
    phase: Phase,
    patients: u64,
    progress: Progress,
}

#[derive(Deserialize)]
struct Bundle {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "fullUrl")]
    full_url: Option<String>,
    resource: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    id: Option<String>,
}

impl FhirReader {
    /// Start reading `source`. A `Bundle` is parsed here (a file-level error if it is not
    /// one); NDJSON files are opened one after the other as reading goes.
    pub fn open(source: Source, options: ReadOptions) -> Result<Self, FhirError> {
        let bytes_total = source.bytes();
        let partitions = options.partitions.unwrap_or_else(|| {
            bytes_total
                .div_ceil(BYTES_PER_PARTITION)
                .clamp(1, MAX_PARTITIONS) as usize
        });
        let phase = match source {
            Source::Ndjson(files) => Phase::Ndjson(NdjsonPhase {
                files: files.into_iter(),
                current: None,
                buf: Vec::new(),
            }),
            Source::Bundle(path) => Phase::Bundle(read_bundle(&path)?),
        };
        Ok(FhirReader {
            table: table(),
            window: options.window,
            spill: Spill::new(partitions)?,
            phase,
            patients: 0,
            progress: Progress {
                bytes_total,
                ..Progress::default()
            },
        })
    }

    /// How far reading is.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    fn spill_facts(&mut self, facts: Vec<Fact>) -> Result<(), FhirError> {
        for fact in &facts {
            self.spill.push(fact)?;
        }
        Ok(())
    }

    /// The next line of the NDJSON files: `Ok(Some(Ok(())))` after spilling one resource,
    /// `Ok(Some(Err(e)))` for a resource error, `Ok(None)` at the end of the last file.
    fn ndjson_step(&mut self) -> Result<Option<Result<(), RowError>>, FhirError> {
        let Phase::Ndjson(state) = &mut self.phase else {
            return Ok(None);
        };
        loop {
            if state.current.is_none() {
                let Some(file) = state.files.next() else {
                    return Ok(None);
                };
                let name = file.path.display().to_string();
                let handle = File::open(&file.path).map_err(|source| FhirError::Io {
                    name: name.clone(),
                    source,
                })?;
                let mut reader = BufReader::new(handle);
                skip_bom(&mut reader).map_err(|source| FhirError::Io { name, source })?;
                state.current = Some((file, reader, 0));
            }
            let Some((file, reader, line)) = &mut state.current else {
                continue;
            };
            let read =
                pulsecure_batch_input::read_line_within(reader, &mut state.buf, MAX_RESOURCE_LINE)
                    .map_err(|source| FhirError::Io {
                        name: file.path.display().to_string(),
                        source,
                    })?;
            *line += 1;
            let location = || {
                format!(
                    "{} line {line}",
                    file.path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                )
            };
            let row_error = |reason: String| RowError {
                row: *line,
                patient_ref: None,
                column: None,
                reason: format!("{}: {reason}", location()),
            };
            match read {
                None => {
                    state.current = None;
                    continue;
                }
                Some(false) => {
                    self.progress.bytes_read += MAX_RESOURCE_LINE as u64;
                    return Ok(Some(Err(row_error(format!(
                        "longer than {} MiB; skipped",
                        MAX_RESOURCE_LINE / (1024 * 1024)
                    )))));
                }
                Some(true) => {}
            }
            self.progress.bytes_read += state.buf.len() as u64 + 1;
            if state.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.progress.resources += 1;
            let expected = file.resource_type;
            let parsed = parse_resource(&state.buf, expected);
            let resource = match parsed {
                Ok(r) => r,
                Err(reason) => {
                    let error = row_error(reason);
                    let bytes = std::mem::take(&mut state.buf);
                    block_subject(&mut self.spill, self.table, self.window, &bytes, None)?;
                    return Ok(Some(Err(error)));
                }
            };
            let extractor = Extractor::new(self.table, self.window, None);
            return match extractor.facts(resource, None, &mut self.patients) {
                Ok(facts) => {
                    self.spill_facts(facts)?;
                    Ok(Some(Ok(())))
                }
                Err(reason) => Ok(Some(Err(row_error(reason)))),
            };
        }
    }

    fn bundle_step(&mut self) -> Result<Option<Result<(), RowError>>, FhirError> {
        let Phase::Bundle(state) = &mut self.phase else {
            return Ok(None);
        };
        let Some((number, full_url, raw)) = state.entries.next() else {
            return Ok(None);
        };
        self.progress.resources += 1;
        let row_error = |reason: String| RowError {
            row: number,
            patient_ref: None,
            column: None,
            reason: format!("{} entry {number}: {reason}", state.name),
        };
        let resource = match parse_resource(raw.get().as_bytes(), None) {
            Ok(r) => r,
            Err(reason) => {
                let error = row_error(reason);
                block_subject(
                    &mut self.spill,
                    self.table,
                    self.window,
                    raw.get().as_bytes(),
                    Some(&state.full_urls),
                )?;
                return Ok(Some(Err(error)));
            }
        };
        let fallback = full_url
            .as_deref()
            .and_then(|u| state.full_urls.get(u))
            .cloned();
        let extractor = Extractor::new(self.table, self.window, Some(&state.full_urls));
        match extractor.facts(resource, fallback.as_deref(), &mut self.patients) {
            Ok(facts) => {
                self.spill_facts(facts)?;
                Ok(Some(Ok(())))
            }
            Err(reason) => Ok(Some(Err(row_error(reason)))),
        }
    }

    /// Read partition `p` back and reduce its patients, in input order.
    fn partition_records(&mut self, p: usize) -> Result<Vec<PatientRecord>, FhirError> {
        let facts = self.spill.read_partition(p)?;
        self.spill.drop_partition(p)?;
        let mut order: Vec<String> = Vec::new();
        let mut by_patient: HashMap<String, Vec<Fact>> = HashMap::new();
        for fact in facts {
            let id = fact.patient().to_string();
            by_patient
                .entry(id.clone())
                .or_insert_with(|| {
                    order.push(id);
                    Vec::new()
                })
                .push(fact);
        }
        let mut records: Vec<PatientRecord> = order
            .iter()
            .map(|id| {
                let facts = by_patient.remove(id).unwrap_or_default();
                reduce(id, &facts, self.table, self.window)
            })
            .collect();
        records.sort_by_key(|r| r.ordinal);
        Ok(records)
    }
}

impl Iterator for FhirReader {
    type Item = Result<FhirItem, FhirError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let step = match &mut self.phase {
                Phase::Ndjson(_) => self.ndjson_step(),
                Phase::Bundle(_) => self.bundle_step(),
                Phase::Emitting { partition, records } => {
                    if let Some(record) = records.next() {
                        self.progress.patients_done += 1;
                        return Some(Ok(FhirItem::Record(record)));
                    }
                    let next = *partition + 1;
                    if next >= self.spill.count() {
                        self.phase = Phase::Done;
                        return None;
                    }
                    match self.partition_records(next) {
                        Ok(records) => {
                            self.phase = Phase::Emitting {
                                partition: next,
                                records: records.into_iter(),
                            }
                        }
                        Err(e) => {
                            self.phase = Phase::Done;
                            return Some(Err(e));
                        }
                    }
                    continue;
                }
                Phase::Done => return None,
            };
            match step {
                Ok(Some(Ok(()))) => continue,
                Ok(Some(Err(e))) => return Some(Ok(FhirItem::Rejected(e))),
                Ok(None) => {
                    // Reading is over: emit partition 0 first.
                    self.progress.patients_total = self.patients;
                    self.progress.bytes_read = self.progress.bytes_total;
                    match self.partition_records(0) {
                        Ok(records) => {
                            self.phase = Phase::Emitting {
                                partition: 0,
                                records: records.into_iter(),
                            }
                        }
                        Err(e) => {
                            self.phase = Phase::Done;
                            return Some(Err(e));
                        }
                    }
                }
                Err(e) => {
                    self.phase = Phase::Done;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// A resource that could not be read but whose subject can: its patient is not screened
/// without it (a Condition or the most recent measurement may be what it held).
fn block_subject(
    spill: &mut Spill,
    table: &MappingTable,
    window: Window,
    bytes: &[u8],
    full_urls: Option<&HashMap<String, String>>,
) -> Result<(), FhirError> {
    #[derive(Deserialize)]
    struct SubjectOnly {
        subject: Option<crate::resource::Reference>,
    }
    let Ok(head) = serde_json::from_slice::<SubjectOnly>(bytes) else {
        return Ok(());
    };
    let extractor = Extractor::new(table, window, full_urls);
    if let Ok(subject) = extractor.subject_of(head.subject.as_ref()) {
        spill.push(&Fact::Unreadable { subject })?;
    }
    Ok(())
}

/// One resource's JSON, checked against the type its file promises.
fn parse_resource(bytes: &[u8], expected: Option<&str>) -> Result<Resource, String> {
    let head: Head = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "not a JSON object (column {}: {})",
            e.column(),
            e.classify_name()
        )
    })?;
    let Some(kind) = head.resource_type.as_deref() else {
        return Err("not a FHIR resource (no resourceType)".into());
    };
    let shown =
        if !kind.is_empty() && kind.len() <= 64 && kind.chars().all(|c| c.is_ascii_alphabetic()) {
            kind
        } else {
            "resource"
        };
    if let Some(expected) = expected {
        if kind != expected {
            let kind = if shown == "resource" {
                "(not a FHIR type name)"
            } else {
                shown
            };
            return Err(format!(
                "a {kind} resource in a file of {expected} resources"
            ));
        }
    }
    serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "not a valid {shown} (column {}: {})",
            e.column(),
            e.classify_name()
        )
    })
}

/// Parse a whole `Bundle` file (at most [`MAX_BUNDLE_BYTES`]) and index its patients'
/// `fullUrl`s.
fn read_bundle(path: &std::path::Path) -> Result<BundlePhase, FhirError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let invalid = |reason: String| FhirError::Invalid {
        name: path.display().to_string(),
        reason,
    };
    let file = File::open(path).map_err(|source| FhirError::Io {
        name: path.display().to_string(),
        source,
    })?;
    let mut bytes = Vec::new();
    let mut reader = BufReader::new(file);
    skip_bom(&mut reader).map_err(|source| FhirError::Io {
        name: path.display().to_string(),
        source,
    })?;
    reader
        .take(MAX_BUNDLE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| FhirError::Io {
            name: path.display().to_string(),
            source,
        })?;
    if bytes.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(invalid(format!(
            "a Bundle larger than {} MiB is not read at once; give one resource per line or a bulk export (--fhir-bulk)",
            MAX_BUNDLE_BYTES / (1024 * 1024)
        )));
    }
    let bundle: Bundle = serde_json::from_slice(&bytes).map_err(|e| {
        invalid(format!(
            "not a FHIR Bundle (line {}, column {}: {})",
            e.line(),
            e.column(),
            e.classify_name()
        ))
    })?;
    if bundle.resource_type.as_deref() != Some("Bundle") {
        return Err(invalid(
            "expected a Bundle (resourceType \"Bundle\") or one resource per line".into(),
        ));
    }
    let mut full_urls = HashMap::new();
    let mut entries = Vec::with_capacity(bundle.entry.len());
    for (i, entry) in bundle.entry.into_iter().enumerate() {
        let Some(resource) = entry.resource else {
            continue;
        };
        if let (Some(url), Ok(head)) = (
            entry.full_url.as_ref(),
            serde_json::from_str::<Head>(resource.get()),
        ) {
            if head.resource_type.as_deref() == Some("Patient") {
                let id = head
                    .id
                    .unwrap_or_else(|| url.rsplit([':', '/']).next().unwrap_or(url).to_string());
                full_urls.insert(url.clone(), id);
            }
        }
        entries.push((i + 1, entry.full_url, resource));
    }
    Ok(BundlePhase {
        entries: entries.into_iter(),
        full_urls,
        name,
    })
}
