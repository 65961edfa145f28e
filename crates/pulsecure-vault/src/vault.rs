//! The vault operations: create, open, change the password.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use aes_gcm::Aes256Gcm;
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::atomic::write_atomic;
use crate::error::VaultError;
use crate::format::{payload_aad, KeySection, VaultFile, FIXED_LEN, MAX_PAYLOAD};
use crate::kdf_params::KdfParams;
use crate::payload::SecretEntries;
use crate::secret::{DataKey, Password, MIN_PASSWORD_CHARS};

fn random<const N: usize>() -> Result<[u8; N], VaultError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| VaultError::Random)?;
    Ok(out)
}

fn cipher(key: &DataKey) -> Result<Aes256Gcm, VaultError> {
    Aes256Gcm::new_from_slice(key.expose()).map_err(|_| VaultError::Crypto("AES-256-GCM key"))
}

fn check_new_password(password: &Password) -> Result<(), VaultError> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(VaultError::PasswordTooShort {
            min: MIN_PASSWORD_CHARS,
        });
    }
    Ok(())
}

/// Wrap `dek` under a fresh salt and nonce derived from `password`.
fn wrap(
    dek: &DataKey,
    password: &Password,
    kdf: KdfParams,
    vault_id: [u8; 16],
) -> Result<KeySection, VaultError> {
    kdf.check()?;
    let mut section = KeySection {
        kdf,
        salt: random()?,
        vault_id,
        wrap_nonce: random()?,
        wrapped_dek: [0u8; 48],
    };
    let kek = kdf.derive(password, &section.salt)?;
    let aad = section.wrap_aad();
    let wrapped = cipher(&kek)?
        .encrypt(
            &Nonce::<Aes256Gcm>::from(section.wrap_nonce),
            Payload {
                msg: dek.expose(),
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Crypto("wrapping the data key"))?;
    section.wrapped_dek = wrapped
        .as_slice()
        .try_into()
        .map_err(|_| VaultError::Crypto("wrapped key length"))?;
    Ok(section)
}

/// Recover the DEK; a tag failure here means the password is wrong (the header checksum
/// already ruled out damage).
fn unwrap(section: &KeySection, password: &Password) -> Result<DataKey, VaultError> {
    let kek = section.kdf.derive(password, &section.salt)?;
    let aad = section.wrap_aad();
    let plain = Zeroizing::new(
        cipher(&kek)?
            .decrypt(
                &Nonce::<Aes256Gcm>::from(section.wrap_nonce),
                Payload {
                    msg: &section.wrapped_dek,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::WrongPassword)?,
    );
    DataKey::from_slice(&plain).ok_or(VaultError::Crypto("unwrapped key length"))
}

/// Create a new vault at `path` holding `entries`, refusing to overwrite an existing file.
/// Returns the updater of the new vault (its data key is already known: no second
/// password derivation to open it).
pub fn create(
    path: &Path,
    password: &Password,
    kdf: KdfParams,
    entries: &SecretEntries,
) -> Result<VaultUpdater, VaultError> {
    check_new_password(password)?;
    if path.exists() {
        return Err(VaultError::AlreadyExists(path.display().to_string()));
    }
    let dek = DataKey::generate()?;
    let keys = wrap(&dek, password, kdf, random()?)?;
    let file = encrypt_payload(keys, &dek, entries)?;
    write_atomic(path, &file.encode())?;
    Ok(VaultUpdater {
        path: path.to_path_buf(),
        dek,
    })
}

/// Encrypt `entries` under `dek` with a fresh nonce, for the vault whose key section is
/// `keys`.
fn encrypt_payload(
    keys: KeySection,
    dek: &DataKey,
    entries: &SecretEntries,
) -> Result<VaultFile, VaultError> {
    let plain = entries.encode()?;
    let payload_nonce: [u8; 12] = random()?;
    // Ciphertext length = plaintext + 16-byte tag; it is part of the payload's AAD.
    let payload_len = plain.len() as u64 + 16;
    let aad = payload_aad(&keys.vault_id, payload_len);
    let payload = cipher(dek)?
        .encrypt(
            &Nonce::<Aes256Gcm>::from(payload_nonce),
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Crypto("encrypting the payload"))?;
    Ok(VaultFile {
        keys,
        payload_nonce,
        payload,
    })
}

/// The right to change an opened vault's entries without asking for the password again:
/// it holds the data key (zeroized on drop, never printed).
pub struct VaultUpdater {
    path: std::path::PathBuf,
    dek: DataKey,
}

impl std::fmt::Debug for VaultUpdater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultUpdater")
            .field("path", &self.path)
            .field("dek", &"<redacted>")
            .finish()
    }
}

impl VaultUpdater {
    /// Re-read the vault, let `change` edit its entries, and write it back atomically with
    /// a fresh payload nonce. The key section is taken from the file as it is now, so a
    /// password changed by another process meanwhile is kept; a vault whose data key was
    /// replaced meanwhile (key rotation) fails authentication and is left untouched.
    pub fn update(
        &self,
        change: impl FnOnce(&mut SecretEntries) -> Result<(), VaultError>,
    ) -> Result<(), VaultError> {
        let bytes = read_bounded(&self.path)?;
        let file = VaultFile::parse(&bytes)?;
        let mut entries = decrypt_payload(&file, &self.dek)?;
        change(&mut entries)?;
        let updated = encrypt_payload(file.keys, &self.dek, &entries)?;
        write_atomic(&self.path, &updated.encode())
    }

    /// Replace the data key and every entry (key rotation): the new data key is wrapped
    /// under `password` with the file's Argon2id parameters and a fresh salt. The file is
    /// replaced atomically; this updater holds the new key afterwards.
    pub fn rotate(
        &mut self,
        password: &Password,
        entries: &SecretEntries,
    ) -> Result<(), VaultError> {
        let bytes = read_bounded(&self.path)?;
        let file = VaultFile::parse(&bytes)?;
        // The password must open the file as it is now (not merely the one read earlier).
        let current = unwrap(&file.keys, password)?;
        decrypt_payload(&file, &current)?;
        let dek = DataKey::generate()?;
        let keys = wrap(&dek, password, file.keys.kdf, file.keys.vault_id)?;
        let updated = encrypt_payload(keys, &dek, entries)?;
        write_atomic(&self.path, &updated.encode())?;
        self.dek = dek;
        Ok(())
    }
}

/// Read and decrypt the vault at `path`, keeping the data key for later updates.
pub fn open_for_update(
    path: &Path,
    password: &Password,
) -> Result<(SecretEntries, VaultUpdater), VaultError> {
    let bytes = read_bounded(path)?;
    let file = VaultFile::parse(&bytes)?;
    let dek = unwrap(&file.keys, password)?;
    let entries = decrypt_payload(&file, &dek)?;
    Ok((
        entries,
        VaultUpdater {
            path: path.to_path_buf(),
            dek,
        },
    ))
}

/// Decrypt a vault held in memory.
pub fn open_bytes(bytes: &[u8], password: &Password) -> Result<SecretEntries, VaultError> {
    let file = VaultFile::parse(bytes)?;
    let dek = unwrap(&file.keys, password)?;
    decrypt_payload(&file, &dek)
}

fn decrypt_payload(file: &VaultFile, dek: &DataKey) -> Result<SecretEntries, VaultError> {
    let aad = payload_aad(&file.keys.vault_id, file.payload.len() as u64);
    let plain = Zeroizing::new(
        cipher(dek)?
            .decrypt(
                &Nonce::<Aes256Gcm>::from(file.payload_nonce),
                Payload {
                    msg: &file.payload,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::PayloadCorrupted)?,
    );
    SecretEntries::decode(&plain)
}

/// Read a vault file, at most one byte more than the largest valid vault, so a huge or
/// endless file (a FIFO, /dev/zero behind a link) is refused without reading it whole.
fn read_bounded(path: &Path) -> Result<Vec<u8>, VaultError> {
    use std::io::Read;
    let limit = FIXED_LEN as u64 + MAX_PAYLOAD;
    let file = std::fs::File::open(path).map_err(|e| VaultError::io("reading vault", path, e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| VaultError::io("reading vault", path, e))?;
    if bytes.len() as u64 > limit {
        return Err(VaultError::BadLength {
            expected: limit,
            found: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// Read and decrypt the vault at `path`.
pub fn open(path: &Path, password: &Password) -> Result<SecretEntries, VaultError> {
    open_bytes(&read_bounded(path)?, password)
}

/// Re-wrap the DEK under `new_password` (and optionally new Argon2id parameters). The
/// payload bytes are kept as they are; the file is replaced atomically, so any failure
/// leaves the old vault byte-identical.
pub fn change_password(
    path: &Path,
    old_password: &Password,
    new_password: &Password,
    new_kdf: Option<KdfParams>,
) -> Result<(), VaultError> {
    check_new_password(new_password)?;
    let bytes = read_bounded(path)?;
    let file = VaultFile::parse(&bytes)?;
    let dek = unwrap(&file.keys, old_password)?;
    // Authenticate the payload too, so a damaged vault is reported now, not after re-keying.
    decrypt_payload(&file, &dek)?;
    let keys = wrap(
        &dek,
        new_password,
        new_kdf.unwrap_or(file.keys.kdf),
        file.keys.vault_id,
    )?;
    let updated = VaultFile { keys, ..file };
    write_atomic(path, &updated.encode())
}
