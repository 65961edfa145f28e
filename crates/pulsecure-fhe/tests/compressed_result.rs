//! The compressed result decrypts exactly as tfhe's own decompression would: for both
//! parameter sets (today's KS32 and the classic set of earlier keys), every message of the
//! 4-bit block space, as a bootstrapping output and as a sum of five of them — the circuit's
//! segment block is such a sum, at the noise budget (noise level 5) —, [`switch_block`] +
//! [`decrypt_block`] (direct decryption with the small key, no bootstrapping) equals
//! `switch_modulus_and_compress` + `decompress` (one bootstrapping with the server key) and
//! the message. The largest phase error measured is printed against the half box it must stay
//! below.

use tfhe::shortint::{gen_keys, Ciphertext, ClientKey, ServerKey};

use pulsecure_fhe::params::{EARLIER_PARAMETERS, PARAMETERS};
use pulsecure_fhe::result_decrypt::{block_shape, box_width, decrypt_block, phase};
use pulsecure_fhe::result_switch::switch_block;

/// `m` as the sum of `terms` bootstrapping outputs (an identity lookup of `m`, then lookups
/// of 0), at noise level `terms`: how the circuit's segment block is made (unchecked
/// additions, as the circuit's bounded ones).
fn noisy(client: &ClientKey, server: &ServerKey, m: u64, terms: u64) -> Ciphertext {
    let identity = server.generate_lookup_table(|x| x);
    let mut ct = server.apply_lookup_table(&client.unchecked_encrypt(m), &identity);
    for _ in 1..terms {
        let zero = server.apply_lookup_table(&client.unchecked_encrypt(0), &identity);
        server.unchecked_add_assign(&mut ct, &zero);
    }
    assert_eq!(ct.noise_level().get(), terms);
    ct
}

fn check(client: &ClientKey, server: &ServerKey, name: &str) {
    let (_, log_modulus) = block_shape(client);
    let delta = box_width(log_modulus);
    let modulus = 1i64 << log_modulus;
    let mut worst = 0i64;
    for m in 0..16u64 {
        for terms in [1u64, 5] {
            for _ in 0..4 {
                let ct = noisy(client, server, m, terms);
                let switched = switch_block(server, &ct).expect("switch");
                let direct = decrypt_block(client, &switched.to_bytes()).expect("decrypt");
                let by_tfhe = client.decrypt_message_and_carry(
                    &server.decompress(&server.switch_modulus_and_compress(&ct)),
                );
                assert_eq!(
                    (direct, by_tfhe),
                    (m, m),
                    "{name}: message {m}, {terms} terms"
                );
                let p = phase(client, &switched.values, log_modulus).expect("phase") as i64;
                let mut e = (p - (m * delta) as i64).rem_euclid(modulus);
                if e >= modulus / 2 {
                    e -= modulus;
                }
                worst = worst.max(e.abs());
            }
        }
    }
    println!(
        "{name}: largest |phase error| {worst} of the {} a decision tolerates (2N = {modulus})",
        delta / 2
    );
    assert!(worst < (delta / 2) as i64);
}

#[test]
fn direct_decryption_equals_tfhe_decompression_for_both_parameter_sets() {
    let (client, server) = gen_keys(PARAMETERS);
    check(&client, &server, "KS32");
    let (client, server) = gen_keys(EARLIER_PARAMETERS);
    check(&client, &server, "classic");
}
