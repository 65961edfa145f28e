//! [`Backend`] on real TFHE ciphertexts: tfhe's shortint blocks and bootstrappings.

use tfhe::shortint::ciphertext::{Degree, MaxDegree};
use tfhe::shortint::server_key::{LookupTableOwned, ManyLookupTableOwned};
use tfhe::shortint::{Ciphertext, ServerKey};

use pulsecure_core::ports::fhe::FheError;

use crate::backend::{Backend, Table};

/// Runs the circuit with an explicitly passed server key (no thread-local state).
pub struct ShortintBackend {
    key: ServerKey,
}

impl ShortintBackend {
    /// Backend owning one evaluator's server key.
    ///
    /// A key taken from tfhe's integer layer keeps 3 values of each block in reserve for radix
    /// carries (max degree 12). This circuit tracks every block's bound itself and needs the
    /// whole 4-bit space, so the full shortint bound (15) is restored; the noise budget, which
    /// is what bootstrapping correctness depends on, is untouched.
    pub fn new(mut key: ServerKey) -> Self {
        key.max_degree = MaxDegree::from_msg_carry_modulus(key.message_modulus, key.carry_modulus);
        ShortintBackend { key }
    }

    /// The shortint server key (for the result's keyswitch and modulus switch).
    pub fn server_key(&self) -> &ServerKey {
        &self.key
    }
}

fn budget_error(what: &str) -> FheError {
    FheError::Evaluation(format!(
        "{what} would exceed the block's degree or noise budget"
    ))
}

impl Backend for ShortintBackend {
    type Block = Ciphertext;
    type Lut = LookupTableOwned;
    type ManyLut = ManyLookupTableOwned;

    fn lut(&self, table: &Table) -> LookupTableOwned {
        self.key.generate_lookup_table(|x| table[x as usize])
    }

    fn many_lut(&self, tables: &[Table]) -> ManyLookupTableOwned {
        let fns: Vec<Box<dyn Fn(u64) -> u64>> = tables
            .iter()
            .map(|t| {
                let t = *t;
                Box::new(move |x: u64| t[x as usize]) as Box<dyn Fn(u64) -> u64>
            })
            .collect();
        let refs: Vec<&dyn Fn(u64) -> u64> = fns.iter().map(|f| f.as_ref()).collect();
        self.key.generate_many_lookup_table(&refs)
    }

    fn apply(&self, block: &Ciphertext, lut: &LookupTableOwned) -> Ciphertext {
        self.key.apply_lookup_table(block, lut)
    }

    fn apply_many(&self, block: &Ciphertext, lut: &ManyLookupTableOwned) -> Vec<Ciphertext> {
        self.key.apply_many_lookup_table(block, lut)
    }

    fn add_assign(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<(), FheError> {
        self.key
            .is_add_possible(a.noise_degree(), b.noise_degree())
            .map_err(|_| budget_error("addition"))?;
        self.key.unchecked_add_assign(a, b);
        Ok(())
    }

    fn add_assign_bounded(
        &self,
        a: &mut Ciphertext,
        b: &Ciphertext,
        bound: u64,
    ) -> Result<(), FheError> {
        let noise_ok =
            a.noise_level().get() + b.noise_level().get() <= self.key.max_noise_level.get();
        if bound > self.key.max_degree.get() || !noise_ok {
            return Err(budget_error("bounded addition"));
        }
        self.key.unchecked_add_assign(a, b);
        a.degree = Degree::new(bound);
        Ok(())
    }

    fn scale_assign(&self, a: &mut Ciphertext, k: u8) -> Result<(), FheError> {
        let k64 = u64::from(k);
        let degree_ok = a.degree.get() * k64 <= self.key.max_degree.get();
        let noise_ok = a.noise_level().get() * k64 <= self.key.max_noise_level.get();
        if !(degree_ok && noise_ok) {
            return Err(budget_error("scalar multiplication"));
        }
        self.key.unchecked_scalar_mul_assign(a, k);
        Ok(())
    }

    fn trivial(&self, value: u64) -> Ciphertext {
        let mut ct = self.key.unchecked_create_trivial(value);
        ct.degree = Degree::new(value);
        ct
    }

    fn degree(&self, block: &Ciphertext) -> u64 {
        block.degree.get()
    }

    fn noise(&self, block: &Ciphertext) -> u64 {
        block.noise_level().get()
    }
}
