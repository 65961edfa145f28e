//! The encrypted evaluation of a schema-2 model's steps 3-4: the group's coefficients applied
//! to the encrypted term digits, and the carried index digits the client decrypts.
//!
//! 1. **Blocks** — each encrypted block carries one term digit (or two yes/no answers) with the
//!    patient's group in the two bits above it: `v = digits + 4 g`. The evaluator never sees
//!    `g`; one many-LUT bootstrapping of `v` yields the base-4 digits of the contribution
//!    *with the group's coefficient* (2 outputs per bootstrapping for two groups, whose
//!    blocks reach 7; 4 for one group; 1 for three or four).
//! 2. **Accumulation** — the contribution digits are summed column by column, carry-save
//!    ([`crate::accumulate`]): the guard columns below the index give up their carries only,
//!    each index column ends as one block holding its value (at most 15); the client adds the
//!    columns up, so carries are not rippled under encryption.
//! 3. **Outputs** — the index columns, low first. The client reads the probability and the
//!    category from the model's signed table (steps 5-6): a 0.01-point table over thousands
//!    of index values would need far more bootstrappings than the linear part itself.
//!
//! The schedule depends only on the model, so the bootstrapping count is a property of the
//! compiled circuit.

use rayon::prelude::*;

use pulsecure_core::domain::equation_model::{contribution, EquationModel};
use pulsecure_core::ports::fhe::FheError;

use crate::accumulate::{Accumulator, ColumnRole};
use crate::backend::{table, Backend, Table, BLOCK_SPACE, MESSAGE_MODULUS};
use crate::circuit::{unsupported, PbsCount};

/// One digit inside a block: which encrypted digit, and its weight in the block's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigitSlot {
    /// Position among the model's digits ([`EquationModel::digit_positions`]).
    pub digit: usize,
    /// 1, or 2 for the second yes/no answer of a pair.
    pub scale: u8,
}

/// The model compiled into lookup tables (plain data, backend independent).
#[derive(Clone, Debug)]
pub struct EquationPlan {
    blocks: Vec<Vec<DigitSlot>>,
    groups: usize,
    /// For each block: many-LUT calls, each a list of (column, table).
    contributions: Vec<Vec<Vec<(usize, Table)>>>,
    constant_digits: Vec<u64>,
    roles: Vec<ColumnRole>,
    guard_columns: usize,
}

/// Outputs per many-LUT call for blocks whose values reach `4 · groups − 1`.
fn functions_per_call(groups: usize) -> usize {
    (BLOCK_SPACE as usize / (MESSAGE_MODULUS as usize * groups)).clamp(1, 4)
}

impl EquationPlan {
    /// Compile a validated schema-2 model.
    pub fn compile(model: &EquationModel) -> Result<Self, FheError> {
        let groups = model.group_count();
        if groups == 0 || groups > 4 {
            return Err(unsupported("one to four coefficient sets"));
        }
        let linear = model.linear();
        let index = model.index();
        let positions = model.digit_positions();
        let blocks = layout(&positions);
        let bias_min = linear.bias.iter().copied().min().unwrap_or(0);
        let mut constant = bias_min + index.offset;
        let mut top_sum = 0i64;
        let mut contributions = Vec::with_capacity(blocks.len());
        for (b, slots) in blocks.iter().enumerate() {
            // The block's value for v = digits + 4 g; None where v is no valid block.
            let value = |v: u64| -> Option<i64> {
                let g = (v / MESSAGE_MODULUS) as usize;
                let low = v % MESSAGE_MODULUS;
                let digits: Vec<(usize, u64)> = match slots.as_slice() {
                    [one] if low as i64 <= positions[one.digit].2 => vec![(one.digit, low)],
                    [first, second] => vec![(first.digit, low & 1), (second.digit, low >> 1)],
                    _ => return None,
                };
                if g >= groups {
                    return None;
                }
                let row = &linear.weights[g];
                let mut c = if b == 0 { linear.bias[g] - bias_min } else { 0 };
                for (digit, d) in digits {
                    let (t, j, _) = positions[digit];
                    c += contribution(row[t], d as i64, j, linear.weight_bits);
                }
                Some(c)
            };
            let values: Vec<Option<i64>> = (0..BLOCK_SPACE).map(value).collect();
            let min = values.iter().flatten().copied().min().unwrap_or(0);
            let max = values.iter().flatten().copied().max().unwrap_or(0);
            constant += min;
            let top = (max - min) as u64;
            top_sum += top as i64;
            let shifted: Vec<u64> = values
                .iter()
                .map(|v| v.map_or(0, |v| (v - min) as u64))
                .collect();
            let mut outputs = Vec::new();
            let mut k = 0u32;
            while top >> (2 * k) > 0 {
                let t = table(|v| {
                    if v < BLOCK_SPACE {
                        (shifted[v as usize] >> (2 * k)) & 3
                    } else {
                        0
                    }
                });
                if t.iter().any(|&x| x > 0) {
                    outputs.push((k as usize, t));
                }
                k += 1;
            }
            contributions.push(
                outputs
                    .chunks(functions_per_call(groups))
                    .map(<[(usize, Table)]>::to_vec)
                    .collect(),
            );
        }
        let acc_max = constant + top_sum;
        if constant < 0 {
            return Err(unsupported("accumulator constant below zero"));
        }
        let bits = 64 - (acc_max as u64).leading_zeros();
        let columns = (bits.div_ceil(2) as usize).max(1);
        let guard_columns = (index.shift / 2) as usize;
        if guard_columns >= columns {
            return Err(unsupported("the index must have at least one digit"));
        }
        let widest = contributions
            .iter()
            .flatten()
            .flatten()
            .map(|(c, _): &(usize, Table)| *c)
            .max();
        if widest.is_some_and(|c| c >= columns) {
            return Err(unsupported("a contribution is wider than the accumulator"));
        }
        let roles = (0..columns)
            .map(|c| {
                if c < guard_columns {
                    ColumnRole::Unread
                } else {
                    ColumnRole::Sum
                }
            })
            .collect();
        let constant_digits = (0..columns)
            .map(|c| ((constant as u64) >> (2 * c)) & 3)
            .collect();
        Ok(EquationPlan {
            blocks,
            groups,
            contributions,
            constant_digits,
            roles,
            guard_columns,
        })
    }

    /// Which digits each encrypted block carries.
    pub fn blocks(&self) -> &[Vec<DigitSlot>] {
        &self.blocks
    }

    /// Number of encrypted input blocks.
    pub fn input_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Number of index columns (sent or constant; see [`output_columns`]).
    pub fn index_columns(&self) -> usize {
        self.roles.len() - self.guard_columns
    }

    /// Number of coefficient sets; with more than one, a request carries a group block.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// Pack one patient's digits into the values of the input blocks (yes/no pairs share one
    /// block). The group travels in its own block and is added on the evaluator (`4 g`).
    pub fn pack(&self, digits: &[u8]) -> Result<Vec<u8>, FheError> {
        self.blocks
            .iter()
            .map(|slots| {
                let mut v = 0u8;
                for s in slots {
                    let d = *digits.get(s.digit).ok_or_else(|| FheError::Mismatch {
                        what: "patient",
                        reason: "fewer digits than the model has".into(),
                    })?;
                    v += d * s.scale;
                }
                Ok(v)
            })
            .collect()
    }

    /// The index from the decrypted values of the sent columns (low first) and the constant
    /// ones: each column holds its value (at most 15; carries are added here rather than
    /// propagated under encryption). `None` when the count of values does not match.
    pub fn index_from_columns(columns: &[OutputColumn], sent: &[u64]) -> Option<u64> {
        let mut sent = sent.iter();
        let mut values = Vec::with_capacity(columns.len());
        for c in columns {
            values.push(match c {
                OutputColumn::Sent { .. } => *sent.next()? & 15,
                OutputColumn::Constant(v) => *v & 15,
            });
        }
        if sent.next().is_some() {
            return None;
        }
        Some(
            values
                .iter()
                .rev()
                .fold(0u64, |acc, &v| acc.saturating_mul(4).saturating_add(v)),
        )
    }
}

/// One block per digit, except yes/no digits (largest value 1), which go in pairs.
fn layout(positions: &[(usize, u32, i64)]) -> Vec<Vec<DigitSlot>> {
    let mut blocks: Vec<Vec<DigitSlot>> = Vec::new();
    let mut open_pair: Option<usize> = None;
    for (digit, &(_, _, top)) in positions.iter().enumerate() {
        if top == 1 {
            if let Some(b) = open_pair.take() {
                blocks[b].push(DigitSlot { digit, scale: 2 });
                continue;
            }
            open_pair = Some(blocks.len());
        }
        blocks.push(vec![DigitSlot { digit, scale: 1 }]);
    }
    blocks
}

/// The plan's tables prepared for one backend.
pub struct EquationCircuit<B: Backend> {
    plan: EquationPlan,
    contributions: Vec<Vec<Call<B>>>,
    accumulator: Accumulator<B>,
}

enum Lut<B: Backend> {
    Single(B::Lut),
    Many(B::ManyLut),
}

/// One many-LUT call: the accumulator columns its outputs go to, and its tables.
type Call<B> = (Vec<usize>, Lut<B>);

impl<B: Backend> EquationCircuit<B> {
    /// Prepare every table of `plan` on `backend`.
    pub fn new(backend: &B, plan: EquationPlan) -> Self {
        let contributions = plan
            .contributions
            .iter()
            .map(|calls| {
                calls
                    .iter()
                    .map(|call| {
                        let columns = call.iter().map(|(c, _)| *c).collect();
                        let lut = if call.len() == 1 {
                            Lut::Single(backend.lut(&call[0].1))
                        } else {
                            let tables: Vec<Table> = call.iter().map(|(_, t)| *t).collect();
                            Lut::Many(backend.many_lut(&tables))
                        };
                        (columns, lut)
                    })
                    .collect()
            })
            .collect();
        EquationCircuit {
            contributions,
            accumulator: Accumulator::new(backend, plan.roles.clone(), plan.guard_columns),
            plan,
        }
    }

    /// The compiled plan.
    pub fn plan(&self) -> &EquationPlan {
        &self.plan
    }

    /// Evaluate on encrypted blocks (the packed digits, and the group block when the model has
    /// more than one coefficient set): the index columns that are sent (low first; see
    /// [`output_columns`]) and the bootstrapping count.
    pub fn evaluate(
        &self,
        backend: &B,
        digits: &[B::Block],
        group: Option<&B::Block>,
    ) -> Result<(Vec<B::Block>, PbsCount), FheError> {
        let (columns, count) = self.run(backend, digits, group)?;
        // A column that only ever held the accumulator's constant is a trivial (keyless)
        // ciphertext: it carries no information (the client knows the constant from the
        // plan) and is not sent. Which columns these are depends on the schedule only.
        let sent = columns
            .into_iter()
            .filter(|b| backend.noise(b) > 0)
            .collect();
        Ok((sent, count))
    }

    /// Every index column (low first), constant ones included.
    fn settle_columns(
        &self,
        backend: &B,
        digits: &[B::Block],
        group: Option<&B::Block>,
    ) -> Result<Vec<B::Block>, FheError> {
        self.run(backend, digits, group).map(|(columns, _)| columns)
    }

    fn run(
        &self,
        backend: &B,
        digits: &[B::Block],
        group: Option<&B::Block>,
    ) -> Result<(Vec<B::Block>, PbsCount), FheError> {
        if digits.len() != self.plan.input_blocks() {
            return Err(FheError::Mismatch {
                what: "request",
                reason: format!(
                    "{} input blocks, the model needs {}",
                    digits.len(),
                    self.plan.input_blocks()
                ),
            });
        }
        let mut count = PbsCount::default();
        let inputs = match (self.plan.groups, group) {
            (1, None) => digits.to_vec(),
            (1, Some(_)) | (_, None) => {
                return Err(FheError::Mismatch {
                    what: "request",
                    reason: "the group block is missing or not expected".into(),
                })
            }
            (_, Some(g)) => {
                // 4 g is added to every block for free. The group block's degree bounds it
                // (a yes/no block for two groups), so every sum stays within the many-LUT's
                // input range; a client that forges a larger value only garbles its own result.
                let mut shifted = g.clone();
                backend.scale_assign(&mut shifted, MESSAGE_MODULUS as u8)?;
                digits
                    .iter()
                    .map(|d| {
                        let mut v = d.clone();
                        backend.add_assign(&mut v, &shifted)?;
                        Ok(v)
                    })
                    .collect::<Result<Vec<_>, FheError>>()?
            }
        };
        let jobs: Vec<(&B::Block, &Call<B>)> = inputs
            .iter()
            .zip(&self.contributions)
            .flat_map(|(block, calls)| calls.iter().map(move |c| (block, c)))
            .collect();
        count.contributions += jobs.len();
        count.contribution_levels += usize::from(!jobs.is_empty());
        let results: Vec<Vec<(usize, B::Block)>> = jobs
            .par_iter()
            .map(|(block, (columns, lut))| {
                let out = match lut {
                    Lut::Single(l) => vec![backend.apply(block, l)],
                    Lut::Many(l) => backend.apply_many(block, l),
                };
                columns.iter().copied().zip(out).collect()
            })
            .collect();
        let mut columns: Vec<Vec<B::Block>> = vec![Vec::new(); self.plan.roles.len()];
        for (c, digit) in self.plan.constant_digits.iter().enumerate() {
            if *digit > 0 {
                columns[c].push(backend.trivial(*digit));
            }
        }
        for (c, b) in results.into_iter().flatten() {
            columns[c].push(b);
        }
        let (mut pbs, mut levels) = (0, 0);
        let settled = self
            .accumulator
            .settle(backend, columns, &mut pbs, &mut levels)?;
        count.accumulation = pbs;
        count.accumulation_levels = levels;
        count.depth = count.contribution_levels + levels;
        let columns: Vec<B::Block> = settled
            .into_iter()
            .skip(self.plan.guard_columns)
            .map(|col| col.into_iter().next().unwrap_or_else(|| backend.trivial(0)))
            .collect();
        Ok((columns, count))
    }
}

/// One index column of a result, as the schedule leaves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputColumn {
    /// Sent as a ciphertext with this degree and noise level (tfhe's conformance check
    /// compares both exactly).
    Sent {
        /// tfhe's degree.
        degree: u64,
        /// tfhe's noise level.
        noise: u64,
    },
    /// Only ever held this part of the accumulator's constant: not sent.
    Constant(u64),
}

/// What each index column of a result is: they follow from the schedule alone, so one
/// plaintext run (with every input zero) gives them.
pub fn output_columns(plan: &EquationPlan) -> Result<Vec<OutputColumn>, FheError> {
    use crate::backend::{PlainBackend, PlainBlock};
    let fresh = |degree| PlainBlock {
        value: 0,
        degree,
        noise: 1,
    };
    let inputs = vec![fresh(MESSAGE_MODULUS - 1); plan.input_blocks()];
    let group = (plan.groups > 1).then(|| fresh(group_block_degree(plan.groups)));
    let circuit = EquationCircuit::new(&PlainBackend, plan.clone());
    let settled = circuit.settle_columns(&PlainBackend, &inputs, group.as_ref())?;
    Ok(settled
        .iter()
        .map(|b| {
            if b.noise == 0 {
                OutputColumn::Constant(b.value)
            } else {
                OutputColumn::Sent {
                    degree: b.degree,
                    noise: b.noise,
                }
            }
        })
        .collect())
}

/// Degree of the group block a client sends: a yes/no block for two groups, a 2-bit block for
/// three or four.
pub fn group_block_degree(groups: usize) -> u64 {
    if groups <= 2 {
        1
    } else {
        MESSAGE_MODULUS - 1
    }
}

/// The bootstrapping count of one evaluation of `model`, from a plaintext run of the same
/// schedule (the count does not depend on the data).
pub fn equation_pbs_count(model: &EquationModel) -> Result<PbsCount, FheError> {
    use crate::backend::{PlainBackend, PlainBlock};
    let plan = EquationPlan::compile(model)?;
    let fresh = |degree| PlainBlock {
        value: 0,
        degree,
        noise: 1,
    };
    let inputs = vec![fresh(MESSAGE_MODULUS - 1); plan.input_blocks()];
    let group = (plan.groups > 1).then(|| fresh(group_block_degree(plan.groups)));
    let circuit = EquationCircuit::new(&PlainBackend, plan);
    circuit
        .evaluate(&PlainBackend, &inputs, group.as_ref())
        .map(|(_, count)| count)
}
