//! Where resources come from: one file (a `Bundle`, or one resource per line) or a Bulk
//! Data export directory (`Patient.ndjson`, `Observation.1.ndjson`, ...). Finds the files
//! and their resource types; reading is [`crate::reader`]'s.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::FhirError;

/// The resource types read from a bulk export (other types' files are skipped).
pub const READ_TYPES: [&str; 5] = [
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
];

/// Longest resource line read (longer lines are skipped with an error, never buffered).
pub const MAX_RESOURCE_LINE: usize = 4 * 1024 * 1024;
/// Largest `Bundle` file read at once (use NDJSON or a bulk export beyond): a Bundle is
/// parsed whole, at several times its size in memory.
pub const MAX_BUNDLE_BYTES: u64 = 64 * 1024 * 1024;

/// One NDJSON file and the resource type its name promises (`None`: any type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NdjsonFile {
    /// Its path.
    pub path: PathBuf,
    /// The type every line must have.
    pub resource_type: Option<&'static str>,
}

/// What to read.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    /// A `Bundle` in one JSON document.
    Bundle(PathBuf),
    /// Resources one per line, file after file (`Patient` files first).
    Ndjson(Vec<NdjsonFile>),
}

impl Source {
    /// The files and their total size in bytes.
    pub fn bytes(&self) -> u64 {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        match self {
            Source::Bundle(p) => size(p),
            Source::Ndjson(files) => files.iter().map(|f| size(&f.path)).sum(),
        }
    }
}

/// The resource type a bulk file's name gives (`Observation.ndjson`, `Observation.2.ndjson`,
/// `1.Observation.ndjson`, `Observation_002.ndjson`), if it is one read here.
pub fn type_of_bulk_file(name: &str) -> Option<&'static str> {
    let cut = name.len().checked_sub(".ndjson".len())?;
    let stem = name
        .get(cut..)
        .filter(|ext| ext.eq_ignore_ascii_case(".ndjson"))
        .and_then(|_| name.get(..cut))?;
    let words: Vec<&str> = stem
        .split(['.', '_', '-'])
        .filter(|part| !part.chars().all(|c| c.is_ascii_digit()))
        .collect();
    match words.as_slice() {
        [word] => READ_TYPES
            .iter()
            .find(|t| t.eq_ignore_ascii_case(word))
            .copied(),
        _ => None,
    }
}

/// The files of a bulk export directory: every `.ndjson` file of a read type, `Patient`
/// files first, each group in name order. The others (Encounter, Practitioner, ...) are
/// returned as skipped names.
pub fn bulk_source(dir: &Path) -> Result<(Source, Vec<String>), FhirError> {
    let io = |source| FhirError::Io {
        name: dir.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut compressed = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Through symbolic links: an export assembled from links is read like any other.
        if !std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
            continue;
        }
        if name.to_ascii_lowercase().ends_with(".ndjson.gz") {
            compressed.push(name);
            continue;
        }
        match type_of_bulk_file(&name) {
            Some(t) => files.push(NdjsonFile {
                path: entry.path(),
                resource_type: Some(t),
            }),
            None => skipped.push(name),
        }
    }
    if !compressed.is_empty() {
        return Err(FhirError::Invalid {
            name: dir.display().to_string(),
            reason: format!(
                "{} compressed file(s) (.ndjson.gz): decompress the export first (gunzip), or its patients would be read without them",
                compressed.len()
            ),
        });
    }
    let rank = |f: &NdjsonFile| (f.resource_type != Some("Patient"), f.path.clone());
    files.sort_by_key(rank);
    skipped.sort();
    if !files.iter().any(|f| f.resource_type == Some("Patient")) {
        return Err(FhirError::Invalid {
            name: dir.display().to_string(),
            reason:
                "no Patient NDJSON file (expected Patient.ndjson, as a Bulk Data export writes it)"
                    .into(),
        });
    }
    Ok((Source::Ndjson(files), skipped))
}

/// One file given with `--fhir`: a `Bundle` (pretty-printed or on one line), or resources
/// one per line. Decided from the first non-blank line: a line that is a whole JSON object
/// other than a Bundle, or that ends like one (`}`), means one resource per line; anything
/// else (`{` alone, a line opening a document) is read as one Bundle document. Only a
/// regular file: a pipe cannot be read twice (detecting, then reading), so it is refused
/// rather than read in part.
pub fn file_source(path: &Path) -> Result<Source, FhirError> {
    let name = path.display().to_string();
    let io = |source| FhirError::Io {
        name: name.clone(),
        source,
    };
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(FhirError::Invalid {
            name: name.clone(),
            reason: "not a regular file (a pipe or a device cannot be read twice): save the input to a file first".into(),
        });
    }
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    skip_bom(&mut reader).map_err(io)?;
    let mut first = Vec::new();
    let complete = loop {
        match pulsecure_batch_input::read_line_within(&mut reader, &mut first, MAX_RESOURCE_LINE)
            .map_err(io)?
        {
            None => {
                return Err(FhirError::Invalid {
                    name,
                    reason: "the file is empty".into(),
                })
            }
            Some(complete) if !complete || !first.iter().all(u8::is_ascii_whitespace) => {
                break complete
            }
            Some(_) => {}
        }
    };
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "resourceType")]
        resource_type: Option<String>,
    }
    let ndjson = Source::Ndjson(vec![NdjsonFile {
        path: path.to_path_buf(),
        resource_type: None,
    }]);
    if !complete {
        // A first line over the limit: a minified Bundle, or one over-long resource line
        // (refused, the rest read). The Bundle says so in its first bytes.
        let mut head = vec![0u8; 4096];
        let mut file = File::open(path).map_err(io)?;
        let n = std::io::Read::read(&mut file, &mut head).map_err(io)?;
        let compact: Vec<u8> = head[..n]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let says_bundle = compact
            .windows(br#""resourceType":"Bundle""#.len())
            .any(|w| w == br#""resourceType":"Bundle""#);
        return Ok(if says_bundle {
            Source::Bundle(path.to_path_buf())
        } else {
            ndjson
        });
    }
    Ok(match serde_json::from_slice::<Head>(&first) {
        Ok(head) if head.resource_type.as_deref() == Some("Bundle") => {
            Source::Bundle(path.to_path_buf())
        }
        Ok(_) => ndjson,
        Err(_) if first.trim_ascii_end().ends_with(b"}") => ndjson,
        Err(_) => Source::Bundle(path.to_path_buf()),
    })
}

/// Skip a UTF-8 byte order mark at the start of a reader.
pub fn skip_bom(reader: &mut impl BufRead) -> std::io::Result<()> {
    if reader.fill_buf()?.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_file_names_give_their_type() {
        assert_eq!(type_of_bulk_file("Patient.ndjson"), Some("Patient"));
        assert_eq!(
            type_of_bulk_file("Observation.2.ndjson"),
            Some("Observation")
        );
        assert_eq!(
            type_of_bulk_file("1.Observation.ndjson"),
            Some("Observation")
        );
        assert_eq!(
            type_of_bulk_file("MedicationRequest_002.ndjson"),
            Some("MedicationRequest")
        );
        assert_eq!(type_of_bulk_file("Encounter.ndjson"), None);
        assert_eq!(type_of_bulk_file("patient.ndjson"), Some("Patient"));
        assert_eq!(type_of_bulk_file("Patient.json"), None);
        assert_eq!(type_of_bulk_file("Patient.Observation.ndjson"), None);
    }
}
