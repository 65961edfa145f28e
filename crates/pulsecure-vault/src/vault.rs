//! The vault operations: create, open, change the password.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use aes_gcm::Aes256Gcm;
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::atomic::write_atomic;
use crate::error::VaultError;
use crate::format::{payload_aad, KeySection, VaultFile, FIXED_LEN, MAX_PAYLOAD};
use crate::kdf::KdfParams;
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
pub fn create(
    path: &Path,
    password: &Password,
    kdf: KdfParams,
    entries: &SecretEntries,
) -> Result<(), VaultError> {
    check_new_password(password)?;
    if path.exists() {
        return Err(VaultError::AlreadyExists(path.display().to_string()));
    }
    let dek = DataKey::generate()?;
    let keys = wrap(&dek, password, kdf, random()?)?;
    let plain = entries.encode()?;
    let payload_nonce: [u8; 12] = random()?;
    // Ciphertext length = plaintext + 16-byte tag; it is part of the payload's AAD.
    let payload_len = plain.len() as u64 + 16;
    let aad = payload_aad(&keys.vault_id, payload_len);
    let payload = cipher(&dek)?
        .encrypt(
            &Nonce::<Aes256Gcm>::from(payload_nonce),
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .map_err(|_| VaultError::Crypto("encrypting the payload"))?;
    let file = VaultFile {
        keys,
        payload_nonce,
        payload,
    };
    write_atomic(path, &file.encode())
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
