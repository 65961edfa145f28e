//! Facts spilled to disk in partitions by patient, so that a population-scale export is
//! joined with bounded memory: every fact of one patient lands in the same partition, and a
//! partition is read back whole. Partitions are anonymous temporary files (removed when
//! closed, whatever happens), encrypted with AES-256-GCM under a key that lives only in this
//! process's memory (zeroized on drop): the extracted values never rest on disk in clear.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use aes_gcm::aead::{Aead, KeyInit, Nonce};
use aes_gcm::Aes256Gcm;
use zeroize::Zeroizing;

use crate::fact::Fact;

/// Plaintext gathered per partition before one encrypted frame is written.
const FRAME_BYTES: usize = 64 * 1024;

/// Errors of the spill files (I/O, or a frame that does not decrypt: the file was changed
/// under us).
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    /// Reading or writing a temporary file.
    #[error("temporary file: {0}")]
    Io(#[from] std::io::Error),
    /// The operating system's random source failed.
    #[error("no randomness for the temporary files' key")]
    Random,
    /// A frame failed authentication.
    #[error("a temporary file was altered while in use")]
    Altered,
}

/// Partitioned, encrypted fact files.
pub struct Spill {
    cipher: Aes256Gcm,
    partitions: Vec<Partition>,
}

struct Partition {
    file: BufWriter<File>,
    pending: Vec<u8>,
    /// Frames written so far (the nonce counter: it never goes back, so a nonce is never
    /// reused under the key, even after the partition was emptied).
    frames: u64,
    /// The first frame the file still holds.
    first_frame: u64,
}

/// The partition of a patient id (stable within one run).
fn partition_of(id: &str, count: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    (h.finish() % count as u64) as usize
}

fn nonce(partition: usize, frame: u64) -> Nonce<Aes256Gcm> {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&(partition as u32).to_be_bytes());
    n[4..].copy_from_slice(&frame.to_be_bytes());
    Nonce::<Aes256Gcm>::from(n)
}

impl Spill {
    /// `count` partitions (at least one) in anonymous temporary files.
    pub fn new(count: usize) -> Result<Self, SpillError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|_| SpillError::Random)?;
        let cipher = Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| SpillError::Random)?;
        let partitions = (0..count.max(1))
            .map(|_| {
                Ok(Partition {
                    file: BufWriter::new(tempfile::tempfile()?),
                    pending: Vec::new(),
                    frames: 0,
                    first_frame: 0,
                })
            })
            .collect::<Result<_, std::io::Error>>()?;
        Ok(Spill { cipher, partitions })
    }

    /// How many partitions.
    pub fn count(&self) -> usize {
        self.partitions.len()
    }

    /// Add a fact to its patient's partition.
    pub fn push(&mut self, fact: &Fact) -> Result<(), SpillError> {
        let p = partition_of(fact.patient(), self.partitions.len());
        let line = serde_json::to_vec(fact).map_err(std::io::Error::other)?;
        self.partitions[p].pending.extend_from_slice(&line);
        self.partitions[p].pending.push(b'\n');
        if self.partitions[p].pending.len() >= FRAME_BYTES {
            self.flush_partition(p)?;
        }
        Ok(())
    }

    fn flush_partition(&mut self, p: usize) -> Result<(), SpillError> {
        let part = &mut self.partitions[p];
        if part.pending.is_empty() {
            return Ok(());
        }
        let plain = Zeroizing::new(std::mem::take(&mut part.pending));
        let sealed = self
            .cipher
            .encrypt(&nonce(p, part.frames), plain.as_slice())
            .map_err(|_| SpillError::Altered)?;
        part.frames += 1;
        part.file.write_all(&(sealed.len() as u32).to_be_bytes())?;
        part.file.write_all(&sealed)?;
        Ok(())
    }

    /// Every fact of partition `p`, in the order pushed. Reads it back whole.
    pub fn read_partition(&mut self, p: usize) -> Result<Vec<Fact>, SpillError> {
        self.flush_partition(p)?;
        let part = &mut self.partitions[p];
        part.file.flush()?;
        let file = part.file.get_mut();
        file.seek(SeekFrom::Start(0))?;
        let mut reader = BufReader::new(&*file);
        let mut facts = Vec::new();
        for frame in part.first_frame..part.frames {
            let mut len = [0u8; 4];
            reader.read_exact(&mut len)?;
            let mut sealed = vec![0u8; u32::from_be_bytes(len) as usize];
            reader.read_exact(&mut sealed)?;
            let plain = Zeroizing::new(
                self.cipher
                    .decrypt(&nonce(p, frame), sealed.as_slice())
                    .map_err(|_| SpillError::Altered)?,
            );
            for line in plain.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                facts.push(serde_json::from_slice(line).map_err(|_| SpillError::Altered)?);
            }
        }
        Ok(facts)
    }

    /// Release partition `p`'s file (its space returns to the disk).
    pub fn drop_partition(&mut self, p: usize) -> Result<(), SpillError> {
        let part = &mut self.partitions[p];
        part.file.flush()?;
        let file = part.file.get_mut();
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        part.first_frame = part.frames;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_come_back_by_partition_and_nothing_is_in_clear_on_disk() {
        let mut spill = Spill::new(3).expect("spill");
        let facts: Vec<Fact> = (0..5000)
            .map(|i| Fact::Smoking {
                subject: format!("patient-{}", i % 97),
                day: 20_000 + i,
                current: Some(i % 2 == 0),
                id: format!("obs-{i}"),
            })
            .collect();
        for f in &facts {
            spill.push(f).expect("push");
        }
        let mut back = Vec::new();
        for p in 0..spill.count() {
            let part = spill.read_partition(p).expect("read");
            for f in &part {
                assert_eq!(partition_of(f.patient(), 3), p);
            }
            back.extend(part);
        }
        assert_eq!(back.len(), facts.len());
        // Within a partition the order pushed is kept.
        let days: Vec<i64> = back
            .iter()
            .filter(|f| f.patient() == "patient-5")
            .map(|f| match f {
                Fact::Smoking { day, .. } => *day,
                _ => 0,
            })
            .collect();
        assert!(days.windows(2).all(|w| w[0] < w[1]));
        // The raw file holds no fact text.
        let file = spill.partitions[0].file.get_mut();
        file.seek(SeekFrom::Start(0)).expect("seek");
        let mut raw = Vec::new();
        file.read_to_end(&mut raw).expect("read raw");
        assert!(!raw.is_empty());
        assert!(!raw.windows(7).any(|w| w == b"patient"));
    }

    #[test]
    fn an_altered_frame_is_refused() {
        let mut spill = Spill::new(1).expect("spill");
        spill
            .push(&Fact::Smoking {
                subject: "p".into(),
                day: 1,
                current: Some(true),
                id: "o".into(),
            })
            .expect("push");
        spill.flush_partition(0).expect("flush");
        let file = spill.partitions[0].file.get_mut();
        file.flush().expect("flush");
        file.seek(SeekFrom::Start(10)).expect("seek");
        file.write_all(&[0xff]).expect("alter");
        assert!(matches!(spill.read_partition(0), Err(SpillError::Altered)));
    }
}
