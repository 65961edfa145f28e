//! The block-level operations the encrypted circuit is written against.
//!
//! [`crate::circuit`] is generic over a [`Backend`], so the very same schedule runs on TFHE
//! ciphertexts ([`crate::tfhe_backend::ShortintBackend`]) and on [`PlainBackend`], a
//! plaintext model of a 2_2 block that mirrors tfhe's degree and noise-level bookkeeping
//! exactly. The plaintext run makes exhaustive checks of the circuit against the reference
//! engine cheap, and gives the exact, data-independent bootstrapping count.

use pulsecure_core::ports::fhe::FheError;

/// Message modulus of one block (2 bits of message).
pub const MESSAGE_MODULUS: u64 = 4;
/// Whole plaintext space of a block (message and carry bits: 4 bits).
pub const BLOCK_SPACE: u64 = 16;
/// Largest noise level a block may reach before it must be bootstrapped (tfhe's
/// `MaxNoiseLevel` for 2_2 parameters: (16 - 1) / (4 - 1)).
pub const MAX_NOISE_LEVEL: u64 = 5;
/// Largest value a block may hold.
pub const MAX_DEGREE: u64 = BLOCK_SPACE - 1;

/// A lookup table as plain data: `table[x]` for every block value `x` in `0..16`.
pub type Table = [u64; BLOCK_SPACE as usize];

/// The table of `f` over the whole block space.
pub fn table(f: impl Fn(u64) -> u64) -> Table {
    let mut t = [0u64; BLOCK_SPACE as usize];
    for (x, slot) in t.iter_mut().enumerate() {
        *slot = f(x as u64);
    }
    t
}

/// Operations on blocks. Implementations must agree on degrees and noise levels.
pub trait Backend: Sync {
    /// One encrypted (or simulated) block.
    type Block: Clone + Send + Sync;
    /// A prepared univariate lookup table.
    type Lut: Send + Sync;
    /// A prepared many-function lookup table (several outputs from one bootstrapping).
    type ManyLut: Send + Sync;

    /// Prepare a univariate table over the whole block space.
    fn lut(&self, table: &Table) -> Self::Lut;
    /// Prepare `tables.len()` (2..=4) functions of an input of degree `< 16 / tables.len()`.
    fn many_lut(&self, tables: &[Table]) -> Self::ManyLut;
    /// One programmable bootstrapping.
    fn apply(&self, block: &Self::Block, lut: &Self::Lut) -> Self::Block;
    /// One programmable bootstrapping with several outputs.
    fn apply_many(&self, block: &Self::Block, lut: &Self::ManyLut) -> Vec<Self::Block>;
    /// `a += b` without bootstrapping; refuses to exceed the degree or noise budget.
    fn add_assign(&self, a: &mut Self::Block, b: &Self::Block) -> Result<(), FheError>;
    /// `a += b` where the caller has proven `a + b <= bound` (tighter than the sum of the
    /// degrees); the noise budget is still checked, and `bound` must fit the block.
    fn add_assign_bounded(
        &self,
        a: &mut Self::Block,
        b: &Self::Block,
        bound: u64,
    ) -> Result<(), FheError>;
    /// `a *= k` without bootstrapping; refuses to exceed the degree or noise budget.
    fn scale_assign(&self, a: &mut Self::Block, k: u8) -> Result<(), FheError>;
    /// A noiseless constant block.
    fn trivial(&self, value: u64) -> Self::Block;
    /// Upper bound of the block's value (tfhe's degree).
    fn degree(&self, block: &Self::Block) -> u64;
    /// The block's noise level.
    fn noise(&self, block: &Self::Block) -> u64;
}

/// A simulated block: its value and tfhe's bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainBlock {
    /// The value the ciphertext would decrypt to.
    pub value: u64,
    /// tfhe's degree (upper bound of `value`).
    pub degree: u64,
    /// tfhe's noise level.
    pub noise: u64,
}

/// Plaintext model of tfhe's 2_2 shortint blocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainBackend;

/// A plaintext many-LUT: the tables and the input degree they accept.
#[derive(Clone, Debug)]
pub struct PlainManyLut {
    tables: Vec<Table>,
    input_max_degree: u64,
}

fn budget_error(what: &str) -> FheError {
    FheError::Evaluation(format!(
        "{what} would exceed the block's degree or noise budget"
    ))
}

impl Backend for PlainBackend {
    type Block = PlainBlock;
    type Lut = Table;
    type ManyLut = PlainManyLut;

    fn lut(&self, table: &Table) -> Table {
        *table
    }

    fn many_lut(&self, tables: &[Table]) -> PlainManyLut {
        PlainManyLut {
            tables: tables.to_vec(),
            input_max_degree: BLOCK_SPACE / tables.len() as u64 - 1,
        }
    }

    fn apply(&self, block: &PlainBlock, lut: &Table) -> PlainBlock {
        PlainBlock {
            value: lut[block.value as usize],
            // tfhe sets the degree to the table's maximum over the whole space.
            degree: lut.iter().copied().max().unwrap_or(0),
            noise: 1,
        }
    }

    fn apply_many(&self, block: &PlainBlock, lut: &PlainManyLut) -> Vec<PlainBlock> {
        assert!(
            block.degree <= lut.input_max_degree,
            "many-LUT input too wide"
        );
        let span = lut.input_max_degree as usize + 1;
        lut.tables
            .iter()
            .map(|t| PlainBlock {
                value: t[block.value as usize],
                degree: t[..span].iter().copied().max().unwrap_or(0),
                noise: 1,
            })
            .collect()
    }

    fn add_assign(&self, a: &mut PlainBlock, b: &PlainBlock) -> Result<(), FheError> {
        if a.degree + b.degree > MAX_DEGREE || a.noise + b.noise > MAX_NOISE_LEVEL {
            return Err(budget_error("addition"));
        }
        a.value += b.value;
        a.degree += b.degree;
        a.noise += b.noise;
        Ok(())
    }

    fn add_assign_bounded(
        &self,
        a: &mut PlainBlock,
        b: &PlainBlock,
        bound: u64,
    ) -> Result<(), FheError> {
        if bound > MAX_DEGREE || a.noise + b.noise > MAX_NOISE_LEVEL {
            return Err(budget_error("bounded addition"));
        }
        a.value += b.value;
        assert!(a.value <= bound, "proven bound violated");
        a.degree = bound;
        a.noise += b.noise;
        Ok(())
    }

    fn scale_assign(&self, a: &mut PlainBlock, k: u8) -> Result<(), FheError> {
        let k = u64::from(k);
        if a.degree * k > MAX_DEGREE || a.noise * k > MAX_NOISE_LEVEL {
            return Err(budget_error("scalar multiplication"));
        }
        a.value *= k;
        a.degree *= k;
        a.noise *= k;
        Ok(())
    }

    fn trivial(&self, value: u64) -> PlainBlock {
        PlainBlock {
            value,
            degree: value,
            noise: 0,
        }
    }

    fn degree(&self, block: &PlainBlock) -> u64 {
        block.degree
    }

    fn noise(&self, block: &PlainBlock) -> u64 {
        block.noise
    }
}
