//! The encrypted evaluation of steps 3-6, compiled from a model into a fixed schedule of
//! programmable bootstrappings (PBS) on 2-bit-message blocks.
//!
//! 1. **Contributions** — each encrypted input block (one feature digit, or two yes/no
//!    answers: [`crate::layout`]) goes through one many-LUT PBS that outputs the base-4 digits
//!    of its shifted contribution `c'(x) = c(x) - min c` (up to 4 digits from a single PBS).
//! 2. **Accumulation** — the digits are summed column by column, carry-save style, each
//!    column only as far as the lookup needs it ([`crate::accumulate`]): guard digits give up
//!    their carries, read digits end fresh, the bucket-number digits never carry (the model
//!    proves `logit + offset < 2^accumulator_bits`).
//! 3. **Lookup** — the calibrated table is a monotone step function of the index; its
//!    segment number comes out of two levels of PBS ([`crate::lookup`]).
//! 4. **Result** — the segment block itself: the evaluator sends it keyswitched and
//!    modulus-switched ([`crate::result_switch`], no bootstrapping) and the client maps the
//!    decrypted segment to the probability code `level[seg]` and the risk class with the
//!    plan's plain [`SegmentResults`] (earlier builds spent four more PBS turning the segment
//!    into three probability nibbles and a class bit, and sent those, 16.5 KB each).
//!
//! Everything is data-independent: the schedule depends only on the model, so the PBS count
//! is a property of the compiled circuit.

use rayon::prelude::*;

use pulsecure_core::ports::fhe::{DecryptedResult, FheError};
use pulsecure_core::{Model, ModelLimit};

use crate::accumulate::{Accumulator, ColumnRole, IndexBlocks};
use crate::backend::{table, Backend, Table, MESSAGE_MODULUS};
use crate::layout::InputLayout;
use crate::lookup::{Lookup, LookupPlan};

/// Most outputs one many-LUT may have for a full 2-bit input.
const MANY_LUT_MAX_FUNCTIONS: usize = 4;

/// Bootstrappings per stage of one evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PbsCount {
    /// Input digits to contribution digits.
    pub contributions: usize,
    /// Carry-save accumulation.
    pub accumulation: usize,
    /// Index to segment number.
    pub lookup: usize,
    /// Sequential PBS levels (the critical path), all stages.
    pub depth: usize,
    /// Levels of the contributions stage.
    pub contribution_levels: usize,
    /// Levels of the accumulation.
    pub accumulation_levels: usize,
    /// Levels of the lookup.
    pub lookup_levels: usize,
}

impl PbsCount {
    /// All bootstrappings.
    pub fn total(&self) -> usize {
        self.contributions + self.accumulation + self.lookup
    }
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
    layout: InputLayout,
    contributions: Vec<ContributionPlan>,
    /// Constant added to the accumulator, as base-4 digits (usually 0).
    constant_digits: Vec<u64>,
    /// What the lookup needs from each accumulator column (low first).
    roles: Vec<ColumnRole>,
    guard_columns: usize,
    lookup: LookupPlan,
    results: SegmentResults,
}

/// What each segment number means: the calibrated table's distinct probability codes (segment
/// `s` has code `levels[s]`) and the high-risk threshold. Plain, public data of the model:
/// the client applies it to the segment it decrypts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentResults {
    levels: Vec<u32>,
    threshold: u32,
}

impl SegmentResults {
    /// The probability code and class of segment `segment`; `None` for a number that is not
    /// a segment of this model (an honest evaluation never yields one).
    pub fn result(&self, segment: u64) -> Option<DecryptedResult> {
        let code = *self.levels.get(usize::try_from(segment).ok()?)?;
        Some(DecryptedResult {
            probability_code: code,
            high_risk: code >= self.threshold,
        })
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// Whether the model has no segment (never, for a compiled plan).
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
}

impl CircuitPlan {
    /// Compile a validated model; refuses layouts this circuit cannot evaluate exactly,
    /// naming the limit. The contract's circuit limits ([`Model::check_circuit_limits`]) come
    /// first; the checks below re-prove, for the layout actually built, what the loader's
    /// limits already guarantee (they cannot fire for a model that passed both).
    pub fn compile(model: &Model) -> Result<Self, FheError> {
        model
            .check_circuit_limits()
            .map_err(|e| FheError::UnsupportedModel(e.to_string()))?;
        let linear = model.linear_spec();
        let index = model.index_spec();
        let columns = (linear.accumulator_bits / 2) as usize;
        let guard_columns = (index.shift / 2) as usize;
        let index_digits = (index.bits / 2) as usize;
        let capacity = 1i64 << linear.accumulator_bits;

        let tables = model.digit_tables();
        let layout = InputLayout::of(tables);
        let mut contributions = Vec::new();
        let mut min_sum = 0i64;
        let mut max_sum = 0i64;
        for block in 0..layout.block_count() {
            let values: Vec<i64> = (0..MESSAGE_MODULUS)
                .map(|x| layout.contribution(tables, block, x))
                .collect();
            let min = values.iter().copied().min().unwrap_or(0);
            min_sum += min;
            let shifted: Vec<u64> = values.iter().map(|v| (v - min) as u64).collect();
            let top = shifted.iter().copied().max().unwrap_or(0);
            max_sum += top as i64;
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
                // Implied by `accumulator_overflow`: one contribution spans part of the
                // accumulator's range.
                return Err(FheError::model_limit(
                    ModelLimit::AccumulatorOverflow,
                    "a contribution is wider than the accumulator",
                ));
            }
            contributions.push(ContributionPlan {
                chunks: outputs
                    .chunks(MANY_LUT_MAX_FUNCTIONS)
                    .map(<[Table]>::to_vec)
                    .collect(),
            });
        }
        let constant = model.rounded_bias() + min_sum + index.offset;
        if constant < 0 {
            return Err(FheError::model_limit(
                ModelLimit::AccumulatorConstant,
                "the accumulator constant is negative",
            ));
        }
        if constant >= capacity {
            return Err(FheError::model_limit(
                ModelLimit::AccumulatorOverflow,
                "the accumulator constant does not fit the accumulator",
            ));
        }
        let constant_digits = (0..columns)
            .map(|c| ((constant as u64) >> (2 * c)) & 3)
            .collect();

        let (lookup, levels) = LookupPlan::compile(model.lut())?;
        if guard_columns + index_digits != columns {
            return Err(FheError::model_limit(
                ModelLimit::IndexTopDigits,
                "the index must be the accumulator's top digits",
            ));
        }
        // The largest value the accumulator can reach: every contribution at its maximum.
        let acc_max = constant + max_sum;
        if acc_max >= capacity {
            return Err(FheError::model_limit(
                ModelLimit::AccumulatorOverflow,
                "the accumulator can overflow",
            ));
        }
        let roles = (0..columns)
            .map(|c| match c.checked_sub(guard_columns) {
                None => ColumnRole::Unread,
                Some(0) if !lookup.reads_digit(0) => ColumnRole::Unread,
                Some(0 | 1) => ColumnRole::Digit,
                Some(_) => ColumnRole::Wide {
                    bound: (acc_max >> (2 * c)) as u64,
                },
            })
            .collect();
        let results = SegmentResults {
            levels,
            threshold: model.threshold(),
        };
        Ok(CircuitPlan {
            layout,
            contributions,
            constant_digits,
            roles,
            guard_columns,
            lookup,
            results,
        })
    }

    /// Number of encrypted input blocks expected.
    pub fn input_blocks(&self) -> usize {
        self.contributions.len()
    }

    /// Which input digits each encrypted block carries.
    pub fn layout(&self) -> &InputLayout {
        &self.layout
    }

    /// What each segment number (the circuit's result) means.
    pub fn segment_results(&self) -> &SegmentResults {
        &self.results
    }
}

/// The plan's tables prepared for one backend (done once per evaluator).
pub struct Circuit<B: Backend> {
    plan: CircuitPlan,
    contributions: Vec<Vec<ContributionLut<B>>>,
    accumulator: Accumulator<B>,
    lookup: Lookup<B>,
}

enum ContributionLut<B: Backend> {
    Single(B::Lut),
    Many(B::ManyLut),
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
        Circuit {
            contributions,
            accumulator: Accumulator::new(backend, plan.roles.clone(), plan.guard_columns),
            lookup: Lookup::new(backend, &plan.lookup),
            plan,
        }
    }

    /// The compiled plan.
    pub fn plan(&self) -> &CircuitPlan {
        &self.plan
    }

    /// Evaluate on encrypted input digits (in the model's digit-table order): the segment
    /// block (its value at most the plan's largest segment, within the noise budget).
    pub fn evaluate(
        &self,
        backend: &B,
        inputs: &[B::Block],
    ) -> Result<(B::Block, PbsCount), FheError> {
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
        Ok((seg, count))
    }

    /// Steps 3-4: contributions and carry-save sum, down to the index blocks.
    pub fn linear_part(
        &self,
        backend: &B,
        inputs: &[B::Block],
        count: &mut PbsCount,
    ) -> Result<IndexBlocks<B::Block>, FheError> {
        let columns = self.contributions_stage(backend, inputs, count);
        let (mut pbs, mut levels) = (0, 0);
        let index = self
            .accumulator
            .run(backend, columns, &mut pbs, &mut levels)?;
        count.accumulation += pbs;
        count.accumulation_levels += levels;
        count.depth += levels;
        Ok(index)
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
        let level = usize::from(!jobs.is_empty());
        count.contribution_levels += level;
        count.depth += level;
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
        let mut columns: Vec<Vec<B::Block>> = vec![Vec::new(); self.plan.roles.len()];
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

    /// Step 5: the segment number of the index digits.
    pub fn lookup(
        &self,
        backend: &B,
        index: &IndexBlocks<B::Block>,
        count: &mut PbsCount,
    ) -> Result<B::Block, FheError> {
        let (mut pbs, mut levels) = (0, 0);
        let seg = self.lookup.segment(backend, index, &mut pbs, &mut levels)?;
        count.lookup += pbs;
        count.lookup_levels += levels;
        count.depth += levels;
        Ok(seg)
    }
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
