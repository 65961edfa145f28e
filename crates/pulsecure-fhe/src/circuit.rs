//! The encrypted evaluation of steps 3-6, compiled from a model into a fixed schedule of
//! programmable bootstrappings (PBS) on 2-bit-message blocks.
//!
//! 1. **Contributions** — each encrypted input digit `d` (one block) goes through one
//!    many-LUT PBS that outputs the base-4 digits of its shifted contribution
//!    `c'(d) = c(d) - min c` (up to 4 digits from a single PBS).
//! 2. **Accumulation** — the digits are summed column by column, carry-save style: blocks of
//!    a column are grouped while their degrees sum to at most 15 and their noise levels to at
//!    most 5, each group is added for free and bootstrapped once into its message and carry
//!    (one many-LUT PBS when the group sum is at most 7, two PBS otherwise). Carries out of the
//!    top column are provably zero (the model proves `logit + offset < 2^accumulator_bits`)
//!    and are never computed. The guard columns below the index are dropped at the end.
//! 3. **Lookup** — with `idx = 16 H + L` (`L` the low 4 bits, `H` the rest), the calibrated
//!    table is a monotone step function of the index, so its segment number is
//!    `seg = A(H) + Σ_r [L ≥ β_r(H)]`, where `A(H)` is the segment at the start of bucket
//!    `H` and `β_r(H)` the positions inside the bucket where a new segment starts. Each
//!    comparison is the carry out of `L + (16 − β_r(H))`, two PBS on digits.
//! 4. **Outputs** — the probability code as 4-bit nibbles of `level[seg]` and the risk class
//!    `seg ≥ s*`, one PBS each.
//!
//! Everything is data-independent: the schedule depends only on the model, so the PBS count
//! is a property of the compiled circuit.

use rayon::prelude::*;

use pulsecure_core::ports::fhe::FheError;
use pulsecure_core::Model;

use crate::backend::{Backend, Table, BLOCK_SPACE, MAX_DEGREE, MAX_NOISE_LEVEL, MESSAGE_MODULUS};

/// Most outputs one many-LUT may have for a full 2-bit input.
const MANY_LUT_MAX_FUNCTIONS: usize = 4;
/// Safety net against a scheduling bug: the accumulation always settles far sooner.
const MAX_ROUNDS: usize = 64;

/// Bootstrappings per stage of one evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PbsCount {
    /// Input digits to contribution digits.
    pub contributions: usize,
    /// Carry-save accumulation.
    pub accumulation: usize,
    /// Index to segment number.
    pub lookup: usize,
    /// Segment number to probability nibbles and class.
    pub outputs: usize,
    /// Sequential PBS levels (the critical path).
    pub depth: usize,
}

impl PbsCount {
    /// All bootstrappings.
    pub fn total(&self) -> usize {
        self.contributions + self.accumulation + self.lookup + self.outputs
    }
}

fn unsupported(reason: impl Into<String>) -> FheError {
    FheError::UnsupportedModel(reason.into())
}

fn table(f: impl Fn(u64) -> u64) -> Table {
    let mut t = [0u64; BLOCK_SPACE as usize];
    for (x, slot) in t.iter_mut().enumerate() {
        *slot = f(x as u64);
    }
    t
}

/// Digits of one input block's contribution, grouped into many-LUT calls.
#[derive(Clone, Debug)]
struct ContributionPlan {
    /// For each many-LUT call: the output tables (one per output digit), lowest column first.
    chunks: Vec<Vec<Table>>,
}

/// The model compiled into lookup tables (plain data, backend independent).
#[derive(Clone, Debug)]
pub struct CircuitPlan {
    contributions: Vec<ContributionPlan>,
    /// Constant added to the accumulator, as base-4 digits (usually 0).
    constant_digits: Vec<u64>,
    columns: usize,
    guard_columns: usize,
    index_digits: usize,
    bucket_start: Table,
    /// For each comparison r: digit 1 and digit 0 of `16 - β_r(H)` as tables of H.
    gamma_hi: Vec<Table>,
    gamma_lo: Vec<Table>,
    nibbles: Vec<Table>,
    class: Table,
    /// Largest segment number: the proven bound of `A(H) + Σ steps`.
    max_segment: u64,
}

impl CircuitPlan {
    /// Compile a validated model; refuses layouts this circuit cannot evaluate exactly.
    pub fn compile(model: &Model) -> Result<Self, FheError> {
        let linear = model.linear_spec();
        let index = model.index_spec();
        if !linear.accumulator_bits.is_multiple_of(2) || !index.shift.is_multiple_of(2) {
            return Err(unsupported(
                "accumulator and shift must be whole 2-bit digits",
            ));
        }
        if !index.bits.is_multiple_of(2) || !(4..=8).contains(&index.bits) {
            return Err(unsupported("index must have 4, 6 or 8 bits"));
        }
        let columns = (linear.accumulator_bits / 2) as usize;
        let guard_columns = (index.shift / 2) as usize;
        let index_digits = (index.bits / 2) as usize;
        let capacity = 1i64 << linear.accumulator_bits;

        let mut contributions = Vec::new();
        let mut min_sum = 0i64;
        for t in model.digit_tables() {
            let min = t.min();
            min_sum += min;
            let shifted: Vec<u64> = (0..MESSAGE_MODULUS as usize)
                .map(|d| t.values.get(d).map_or(0, |v| (v - min) as u64))
                .collect();
            let top = shifted.iter().copied().max().unwrap_or(0);
            let mut outputs = Vec::new();
            let mut rest = top;
            let mut k = 0u32;
            while rest > 0 {
                let shift = 2 * k;
                outputs.push(table(|d| {
                    if d < MESSAGE_MODULUS {
                        (shifted[d as usize] >> shift) & 3
                    } else {
                        0
                    }
                }));
                rest >>= 2;
                k += 1;
            }
            if outputs.len() > columns {
                return Err(unsupported("a contribution is wider than the accumulator"));
            }
            contributions.push(ContributionPlan {
                chunks: outputs
                    .chunks(MANY_LUT_MAX_FUNCTIONS)
                    .map(<[Table]>::to_vec)
                    .collect(),
            });
        }
        let constant = model.rounded_bias() + min_sum + index.offset;
        if constant < 0 || constant >= capacity {
            return Err(unsupported("accumulator constant out of range"));
        }
        let constant_digits = (0..columns)
            .map(|c| ((constant as u64) >> (2 * c)) & 3)
            .collect();

        // Segment numbers of the monotone table.
        let lut = model.lut();
        let mut levels = vec![lut[0]];
        let mut seg = Vec::with_capacity(lut.len());
        for &p in lut {
            if p != *levels.last().unwrap_or(&p) {
                levels.push(p);
            }
            seg.push(levels.len() as u64 - 1);
        }
        if levels.len() > BLOCK_SPACE as usize {
            return Err(unsupported(format!(
                "the table has {} probability levels; at most 16 fit one block",
                levels.len()
            )));
        }
        let buckets = lut.len() / 16;
        let mut bucket_start = [0u64; BLOCK_SPACE as usize];
        let mut increments: Vec<Vec<u64>> = Vec::new();
        for h in 0..buckets {
            bucket_start[h] = seg[16 * h];
            increments.push(
                (1..16)
                    .filter(|&l| seg[16 * h + l] > seg[16 * h + l - 1])
                    .map(|l| l as u64)
                    .collect(),
            );
        }
        let comparisons = increments.iter().map(Vec::len).max().unwrap_or(0);
        if 1 + comparisons as u64 > MAX_NOISE_LEVEL {
            return Err(unsupported(
                "too many segment boundaries inside one 16-wide index bucket",
            ));
        }
        let gamma = |r: usize, h: u64| -> u64 {
            increments
                .get(h as usize)
                .and_then(|inc| inc.get(r))
                .map_or(0, |&beta| 16 - beta)
        };
        let gamma_hi = (0..comparisons)
            .map(|r| table(|h| gamma(r, h) >> 2))
            .collect();
        let gamma_lo = (0..comparisons)
            .map(|r| table(|h| gamma(r, h) & 3))
            .collect();
        let max_level = levels.iter().copied().max().unwrap_or(0);
        let nibble_count = (32 - max_level.leading_zeros()).div_ceil(4).max(1);
        let level_of = |s: u64| levels.get(s as usize).copied().unwrap_or(0);
        let nibbles = (0..nibble_count)
            .map(|k| table(|s| u64::from((level_of(s) >> (4 * k)) & 15)))
            .collect();
        let threshold = model.threshold();
        let class = table(|s| u64::from((s as usize) < levels.len() && level_of(s) >= threshold));
        Ok(CircuitPlan {
            contributions,
            constant_digits,
            columns,
            guard_columns,
            index_digits,
            bucket_start,
            gamma_hi,
            gamma_lo,
            nibbles,
            class,
            max_segment: levels.len() as u64 - 1,
        })
    }

    /// Number of encrypted input blocks expected.
    pub fn input_blocks(&self) -> usize {
        self.contributions.len()
    }

    /// Number of output blocks: probability nibbles, then the class bit.
    pub fn output_blocks(&self) -> usize {
        self.nibbles.len() + 1
    }

    /// Number of probability nibbles among the outputs.
    pub fn nibble_count(&self) -> usize {
        self.nibbles.len()
    }

    /// Expected degree of each output block (nibbles, then class), for conformance checks.
    pub fn output_degrees(&self) -> Vec<u64> {
        self.nibbles
            .iter()
            .chain(std::iter::once(&self.class))
            .map(|t| t.iter().copied().max().unwrap_or(0))
            .collect()
    }
}

/// The plan's tables prepared for one backend (done once per evaluator).
pub struct Circuit<B: Backend> {
    plan: CircuitPlan,
    contributions: Vec<Vec<ContributionLut<B>>>,
    message: B::Lut,
    carry_by_degree: Vec<B::Lut>,
    message_and_carry: B::ManyLut,
    bucket_start: B::Lut,
    gamma_hi: Vec<B::Lut>,
    gamma_lo: Vec<B::Lut>,
    at_least_four: B::Lut,
    nibbles: Vec<B::Lut>,
    class: B::Lut,
}

enum ContributionLut<B: Backend> {
    Single(B::Lut),
    Many(B::ManyLut),
}

/// One bootstrapped group of a column: its message digit and the carry for the next column.
struct Reduced<Block> {
    column: usize,
    message: Block,
    carry: Option<Block>,
    pbs: usize,
}

/// Result blocks of one evaluation.
pub struct Outputs<Block> {
    /// Probability code nibbles, least significant first.
    pub nibbles: Vec<Block>,
    /// Risk class bit.
    pub class: Block,
}

impl<B: Backend> Circuit<B> {
    /// Prepare every table of `plan` on `backend`.
    pub fn new(backend: &B, plan: CircuitPlan) -> Self {
        let contributions = plan
            .contributions
            .iter()
            .map(|c| {
                c.chunks
                    .iter()
                    .map(|chunk| {
                        if chunk.len() == 1 {
                            ContributionLut::Single(backend.lut(&chunk[0]))
                        } else {
                            ContributionLut::Many(backend.many_lut(chunk))
                        }
                    })
                    .collect()
            })
            .collect();
        // A carry table per input degree keeps the carry's degree tight.
        let carry_by_degree = (0..BLOCK_SPACE)
            .map(|deg| backend.lut(&table(|x| x.min(deg) / MESSAGE_MODULUS)))
            .collect();
        Circuit {
            contributions,
            message: backend.lut(&table(|x| x % MESSAGE_MODULUS)),
            carry_by_degree,
            message_and_carry: backend.many_lut(&[
                table(|x| x % MESSAGE_MODULUS),
                table(|x| x / MESSAGE_MODULUS),
            ]),
            bucket_start: backend.lut(&plan.bucket_start),
            gamma_hi: plan.gamma_hi.iter().map(|t| backend.lut(t)).collect(),
            gamma_lo: plan.gamma_lo.iter().map(|t| backend.lut(t)).collect(),
            at_least_four: backend.lut(&table(|x| u64::from(x >= MESSAGE_MODULUS))),
            nibbles: plan.nibbles.iter().map(|t| backend.lut(t)).collect(),
            class: backend.lut(&plan.class),
            plan,
        }
    }

    /// The compiled plan.
    pub fn plan(&self) -> &CircuitPlan {
        &self.plan
    }

    /// Evaluate on encrypted input digits (in the model's digit-table order).
    pub fn evaluate(
        &self,
        backend: &B,
        inputs: &[B::Block],
    ) -> Result<(Outputs<B::Block>, PbsCount), FheError> {
        if inputs.len() != self.plan.input_blocks() {
            return Err(FheError::Mismatch {
                what: "request",
                reason: format!(
                    "{} input blocks, the model needs {}",
                    inputs.len(),
                    self.plan.input_blocks()
                ),
            });
        }
        let mut count = PbsCount::default();
        let index = self.linear_part(backend, inputs, &mut count)?;
        let seg = self.lookup(backend, &index, &mut count)?;
        let outputs = self.outputs(backend, &seg, &mut count);
        Ok((outputs, count))
    }

    /// Steps 3-4: contributions and carry-save sum, down to the index digits (low first).
    pub fn linear_part(
        &self,
        backend: &B,
        inputs: &[B::Block],
        count: &mut PbsCount,
    ) -> Result<Vec<B::Block>, FheError> {
        let columns = self.contributions_stage(backend, inputs, count);
        self.accumulate(backend, columns, count)
    }

    fn contributions_stage(
        &self,
        backend: &B,
        inputs: &[B::Block],
        count: &mut PbsCount,
    ) -> Vec<Vec<B::Block>> {
        let jobs: Vec<(&B::Block, &ContributionLut<B>, usize)> = inputs
            .iter()
            .zip(&self.contributions)
            .flat_map(|(block, luts)| {
                luts.iter()
                    .enumerate()
                    .map(move |(i, lut)| (block, lut, i * MANY_LUT_MAX_FUNCTIONS))
            })
            .collect();
        count.contributions += jobs.len();
        count.depth += usize::from(!jobs.is_empty());
        let results: Vec<(usize, Vec<B::Block>)> = jobs
            .par_iter()
            .map(|(block, lut, first_column)| {
                let out = match lut {
                    ContributionLut::Single(l) => vec![backend.apply(block, l)],
                    ContributionLut::Many(l) => backend.apply_many(block, l),
                };
                (*first_column, out)
            })
            .collect();
        let mut columns: Vec<Vec<B::Block>> = vec![Vec::new(); self.plan.columns];
        for (c, digit) in self.plan.constant_digits.iter().enumerate() {
            if *digit > 0 {
                columns[c].push(backend.trivial(*digit));
            }
        }
        for (first, blocks) in results {
            for (k, b) in blocks.into_iter().enumerate() {
                columns[first + k].push(b);
            }
        }
        columns
    }

    /// Carry-save accumulation down to one clean block per index column.
    fn accumulate(
        &self,
        backend: &B,
        mut columns: Vec<Vec<B::Block>>,
        count: &mut PbsCount,
    ) -> Result<Vec<B::Block>, FheError> {
        let top = self.plan.columns - 1;
        for _ in 0..MAX_ROUNDS {
            let settled = columns.iter().all(|col| {
                col.len() <= 1 && col.iter().all(|b| backend.degree(b) < MESSAGE_MODULUS)
            });
            if settled {
                break;
            }
            // Plan the round: groups that fit the degree and noise budgets.
            let mut next: Vec<Vec<B::Block>> = vec![Vec::new(); self.plan.columns];
            let mut jobs: Vec<(usize, B::Block)> = Vec::new();
            for (c, col) in columns.into_iter().enumerate() {
                if col.len() <= 1 && col.iter().all(|b| backend.degree(b) < MESSAGE_MODULUS) {
                    next[c].extend(col);
                    continue;
                }
                let mut col = col;
                col.sort_by_key(|b| std::cmp::Reverse(backend.degree(b)));
                let mut groups: Vec<B::Block> = Vec::new();
                for block in col {
                    let slot = groups.iter_mut().find(|g| {
                        backend.degree(g) + backend.degree(&block) <= MAX_DEGREE
                            && backend.noise(g) + backend.noise(&block) <= MAX_NOISE_LEVEL
                    });
                    match slot {
                        Some(g) => backend.add_assign(g, &block)?,
                        None => groups.push(block),
                    }
                }
                let single = groups.len() == 1;
                for g in groups {
                    if single && backend.degree(&g) < MESSAGE_MODULUS {
                        next[c].push(g); // the column is already one digit: nothing to do
                    } else {
                        // Several groups that cannot be added (noise budget) are refreshed so
                        // the next round can merge them.
                        jobs.push((c, g));
                    }
                }
            }
            let results: Vec<Reduced<B::Block>> = jobs
                .par_iter()
                .map(|(c, g)| {
                    let degree = backend.degree(g);
                    if *c == top || degree < MESSAGE_MODULUS {
                        // No carry: the top column's is provably zero, a digit has none.
                        Reduced {
                            column: *c,
                            message: backend.apply(g, &self.message),
                            carry: None,
                            pbs: 1,
                        }
                    } else if degree < BLOCK_SPACE / 2 {
                        let mut out = backend.apply_many(g, &self.message_and_carry);
                        let carry = out.pop();
                        let msg = out.pop().unwrap_or_else(|| backend.trivial(0));
                        Reduced {
                            column: *c,
                            message: msg,
                            carry,
                            pbs: 1,
                        }
                    } else {
                        let msg = backend.apply(g, &self.message);
                        let carry = backend.apply(g, &self.carry_by_degree[degree as usize]);
                        Reduced {
                            column: *c,
                            message: msg,
                            carry: Some(carry),
                            pbs: 2,
                        }
                    }
                })
                .collect();
            count.depth += usize::from(!results.is_empty());
            for r in results {
                count.accumulation += r.pbs;
                next[r.column].push(r.message);
                if let Some(carry) = r.carry {
                    if backend.degree(&carry) > 0 {
                        next[r.column + 1].push(carry);
                    }
                }
            }
            columns = next;
        }
        let settled = columns
            .iter()
            .all(|col| col.len() <= 1 && col.iter().all(|b| backend.degree(b) < MESSAGE_MODULUS));
        if !settled {
            return Err(FheError::Evaluation("accumulation did not settle".into()));
        }
        // Index digits must be fresh enough to be combined (x4) for the lookup.
        let mut index: Vec<B::Block> = Vec::with_capacity(self.plan.index_digits);
        let mut refresh = Vec::new();
        for (i, col) in columns
            .into_iter()
            .skip(self.plan.guard_columns)
            .enumerate()
        {
            let block = col.into_iter().next().unwrap_or_else(|| backend.trivial(0));
            if backend.noise(&block) > 1 {
                refresh.push(i);
            }
            index.push(block);
        }
        if !refresh.is_empty() {
            let fresh: Vec<B::Block> = refresh
                .par_iter()
                .map(|&i| backend.apply(&index[i], &self.message))
                .collect();
            count.accumulation += fresh.len();
            count.depth += 1;
            for (i, b) in refresh.into_iter().zip(fresh) {
                index[i] = b;
            }
        }
        Ok(index)
    }

    fn combine(
        &self,
        backend: &B,
        low: &B::Block,
        high: Option<&B::Block>,
    ) -> Result<B::Block, FheError> {
        let mut out = low.clone();
        if let Some(high) = high {
            let mut h = high.clone();
            backend.scale_assign(&mut h, MESSAGE_MODULUS as u8)?;
            backend.add_assign(&mut out, &h)?;
        }
        Ok(out)
    }

    /// Step 5 (first half): the segment number of the index digits.
    pub fn lookup(
        &self,
        backend: &B,
        index: &[B::Block],
        count: &mut PbsCount,
    ) -> Result<B::Block, FheError> {
        let e0 = &index[0];
        let e1 = &index[1];
        let high = match index.len() {
            2 => backend.trivial(0),
            3 => index[2].clone(),
            _ => self.combine(backend, &index[2], index.get(3))?,
        };
        let r_count = self.gamma_hi.len();
        // Level 1: every table of H.
        let luts: Vec<&B::Lut> = std::iter::once(&self.bucket_start)
            .chain(self.gamma_hi.iter())
            .chain(self.gamma_lo.iter())
            .collect();
        let level1: Vec<B::Block> = luts.par_iter().map(|l| backend.apply(&high, l)).collect();
        count.lookup += level1.len();
        count.depth += 1;
        let (start, gammas) = level1.split_at(1);
        let (g_hi, g_lo) = gammas.split_at(r_count);
        let mut seg = start[0].clone();
        if r_count > 0 {
            // Level 2: carry out of the low digits of L + gamma.
            let low_sums: Vec<B::Block> = g_lo
                .iter()
                .map(|g| {
                    let mut s = e0.clone();
                    backend.add_assign(&mut s, g).map(|_| s)
                })
                .collect::<Result<_, _>>()?;
            let carries: Vec<B::Block> = low_sums
                .par_iter()
                .map(|s| backend.apply(s, &self.at_least_four))
                .collect();
            // Level 3: carry out of the high digit: [L >= beta].
            let high_sums: Vec<B::Block> = g_hi
                .iter()
                .zip(&carries)
                .map(|(g, c)| {
                    let mut s = e1.clone();
                    backend.add_assign(&mut s, g)?;
                    backend.add_assign(&mut s, c)?;
                    Ok(s)
                })
                .collect::<Result<_, FheError>>()?;
            let steps: Vec<B::Block> = high_sums
                .par_iter()
                .map(|s| backend.apply(s, &self.at_least_four))
                .collect();
            count.lookup += carries.len() + steps.len();
            count.depth += 2;
            // Every partial sum is a segment number, so at most max_segment (degree bookkeeping
            // alone would add 1 per comparison on top of max A(H)).
            for s in &steps {
                backend.add_assign_bounded(&mut seg, s, self.plan.max_segment)?;
            }
        }
        Ok(seg)
    }

    /// Steps 5-6 (second half): probability nibbles and class from the segment number.
    pub fn outputs(&self, backend: &B, seg: &B::Block, count: &mut PbsCount) -> Outputs<B::Block> {
        let luts: Vec<&B::Lut> = self
            .nibbles
            .iter()
            .chain(std::iter::once(&self.class))
            .collect();
        let mut blocks: Vec<B::Block> = luts.par_iter().map(|l| backend.apply(seg, l)).collect();
        count.outputs += blocks.len();
        count.depth += 1;
        let class = blocks.pop().unwrap_or_else(|| backend.trivial(0));
        Outputs {
            nibbles: blocks,
            class,
        }
    }
}

/// Reassemble the probability code from decrypted nibbles.
pub fn probability_from_nibbles(nibbles: &[u64]) -> u32 {
    nibbles
        .iter()
        .enumerate()
        .fold(0u32, |acc, (k, &n)| acc | ((n as u32 & 15) << (4 * k)))
}

/// The bootstrapping count of one evaluation of `model`, from a plaintext run of the same
/// schedule (the count does not depend on the data).
pub fn static_pbs_count(model: &Model) -> Result<PbsCount, FheError> {
    use crate::backend::{PlainBackend, PlainBlock};
    let plan = CircuitPlan::compile(model)?;
    let inputs = vec![
        PlainBlock {
            value: 0,
            degree: MESSAGE_MODULUS - 1,
            noise: 1
        };
        plan.input_blocks()
    ];
    let circuit = Circuit::new(&PlainBackend, plan);
    circuit
        .evaluate(&PlainBackend, &inputs)
        .map(|(_, count)| count)
}
