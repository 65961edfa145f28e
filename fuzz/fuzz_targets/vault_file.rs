//! Vault file parser: everything an attacker-supplied vault meets before the password
//! (magic, version, checksum, KDF bounds, lengths). Never a panic, never an allocation
//! driven by a length field beyond the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = pulsecure_vault::inspect(data) {
        assert_eq!(info.payload_bytes + 166, data.len() as u64);
    }
});
