//! Step 4 under encryption: the carry-save sum of the contribution digits, down to exactly
//! the index blocks the lookup reads — and no further.
//!
//! Column `c` holds blocks of weight `4^c`. Each round, a column that is not yet in its final
//! form has its blocks grouped while their degrees sum to at most 15 and their noise levels to
//! at most 5; each group is added for free and bootstrapped once. What "final" means depends
//! on the column's role:
//!
//! - **Unread** columns (the guard digits below the index, and the index's lowest digit when
//!   the lookup does not read it) matter only through their carries: once a column is one
//!   group, its carry is extracted and nothing else is computed.
//! - **Digit** columns (index digits the lookup reads one by one) end as one fresh block
//!   holding a base-4 digit; their groups yield message and carry.
//! - **Wide** columns (the index digits that make up the lookup's bucket number `H`) never
//!   emit a carry: the model proves the whole accumulator stays below `acc_max`, so column `c`
//!   holds at most `acc_max >> 2c` however its blocks are grouped, and `H = Σ 4^k x_k` is
//!   assembled from one fresh block per wide column with a proven bound. The carry a digit
//!   column would have rippled into the next is simply kept where it is, which shortens the
//!   carry chain by the number of wide columns.

use rayon::prelude::*;

use pulsecure_core::ports::fhe::FheError;

use crate::backend::{table, Backend, BLOCK_SPACE, MAX_DEGREE, MAX_NOISE_LEVEL, MESSAGE_MODULUS};

/// Safety net against a scheduling bug: the accumulation always settles far sooner.
const MAX_ROUNDS: usize = 64;

/// What the lookup needs from one accumulator column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnRole {
    /// Only its carries matter.
    Unread,
    /// A fresh base-4 digit.
    Digit,
    /// Part of the bucket number: one fresh block holding at most `bound`, no carry out.
    Wide {
        /// Proven largest value of the column's whole content.
        bound: u64,
    },
}

/// The index blocks the lookup reads.
pub struct IndexBlocks<Block> {
    /// Index digits 0 and 1 (low first); fresh where the lookup reads them.
    pub low: Vec<Block>,
    /// The bucket number `H` (the index's digits from the third up) as one fresh-enough block
    /// (noise level at most 5; the lookup bootstraps it directly).
    pub high: Block,
}

/// The accumulation's tables prepared for one backend.
pub struct Accumulator<B: Backend> {
    roles: Vec<ColumnRole>,
    /// Index of the first index column (the number of guard columns).
    first_index_column: usize,
    message: B::Lut,
    carry_by_degree: Vec<B::Lut>,
    message_and_carry: B::ManyLut,
    identity_up_to: Vec<B::Lut>,
}

/// One bootstrapped group of a column.
struct Reduced<Block> {
    column: usize,
    /// The group's message digit (or whole value, for a wide column); `None` for an unread
    /// column whose carry was all that was needed.
    message: Option<Block>,
    carry: Option<Block>,
    pbs: usize,
}

impl<B: Backend> Accumulator<B> {
    /// Prepare for columns with the given roles (low first); the index starts at
    /// `first_index_column`.
    pub fn new(backend: &B, roles: Vec<ColumnRole>, first_index_column: usize) -> Self {
        Accumulator {
            roles,
            first_index_column,
            message: backend.lut(&table(|x| x % MESSAGE_MODULUS)),
            // A carry table per input degree keeps the carry's degree tight.
            carry_by_degree: (0..BLOCK_SPACE)
                .map(|deg| backend.lut(&table(|x| x.min(deg) / MESSAGE_MODULUS)))
                .collect(),
            message_and_carry: backend.many_lut(&[
                table(|x| x % MESSAGE_MODULUS),
                table(|x| x / MESSAGE_MODULUS),
            ]),
            identity_up_to: (0..BLOCK_SPACE)
                .map(|bound| backend.lut(&table(|x| x.min(bound))))
                .collect(),
        }
    }

    fn settled(&self, backend: &B, role: ColumnRole, column: &[B::Block]) -> bool {
        match (role, column) {
            (_, []) => true,
            (ColumnRole::Unread, [b]) => backend.degree(b) < MESSAGE_MODULUS,
            (ColumnRole::Digit, [b]) => {
                backend.degree(b) < MESSAGE_MODULUS && backend.noise(b) <= 1
            }
            (ColumnRole::Wide { .. }, [b]) => backend.noise(b) <= 1,
            _ => false,
        }
    }

    /// Group a column's blocks within the budgets (a wide column's sums use its proven bound).
    fn group(
        &self,
        backend: &B,
        role: ColumnRole,
        mut column: Vec<B::Block>,
    ) -> Result<Vec<B::Block>, FheError> {
        column.sort_by_key(|b| std::cmp::Reverse(backend.degree(b)));
        let mut groups: Vec<B::Block> = Vec::new();
        for block in column {
            let slot = groups.iter_mut().find(|g| {
                let degree_ok = match role {
                    ColumnRole::Wide { .. } => true,
                    _ => backend.degree(g) + backend.degree(&block) <= MAX_DEGREE,
                };
                degree_ok && backend.noise(g) + backend.noise(&block) <= MAX_NOISE_LEVEL
            });
            match (slot, role) {
                (Some(g), ColumnRole::Wide { bound }) => {
                    backend.add_assign_bounded(g, &block, bound)?
                }
                (Some(g), _) => backend.add_assign(g, &block)?,
                (None, _) => groups.push(block),
            }
        }
        Ok(groups)
    }

    /// Bootstrap one group. `alone`: the group is its column's whole content and no carry
    /// can arrive from below any more (so an unread column may drop its message).
    fn reduce(
        &self,
        backend: &B,
        column: usize,
        role: ColumnRole,
        g: &B::Block,
        alone: bool,
    ) -> Reduced<B::Block> {
        let degree = backend.degree(g);
        let top = column + 1 == self.roles.len();
        // An unread column's message is needed only while other groups remain to be added.
        let role = match role {
            ColumnRole::Unread if !alone => ColumnRole::Digit,
            other => other,
        };
        match role {
            ColumnRole::Wide { bound } => Reduced {
                column,
                message: Some(backend.apply(g, &self.identity_up_to[bound as usize])),
                carry: None,
                pbs: 1,
            },
            _ if top || degree < MESSAGE_MODULUS => Reduced {
                // No carry: the top column's is provably zero, a digit has none.
                column,
                message: Some(backend.apply(g, &self.message)),
                carry: None,
                pbs: 1,
            },
            ColumnRole::Unread => Reduced {
                column,
                message: None,
                carry: Some(backend.apply(g, &self.carry_by_degree[degree as usize])),
                pbs: 1,
            },
            ColumnRole::Digit if degree < BLOCK_SPACE / 2 => {
                let mut out = backend.apply_many(g, &self.message_and_carry);
                let carry = out.pop();
                Reduced {
                    column,
                    message: out.pop(),
                    carry,
                    pbs: 1,
                }
            }
            ColumnRole::Digit => Reduced {
                column,
                message: Some(backend.apply(g, &self.message)),
                carry: Some(backend.apply(g, &self.carry_by_degree[degree as usize])),
                pbs: 2,
            },
        }
    }

    /// Sum `columns` (low first) down to the index blocks. Adds bootstrappings to `pbs` and
    /// rounds to `levels`.
    pub fn run(
        &self,
        backend: &B,
        columns: Vec<Vec<B::Block>>,
        pbs: &mut usize,
        levels: &mut usize,
    ) -> Result<IndexBlocks<B::Block>, FheError> {
        let settled = self.settle(backend, columns, pbs, levels)?;
        self.index_blocks(backend, settled)
    }

    /// Sum `columns` (low first) until every column is in the final form its role asks for
    /// (at most one block each). Adds bootstrappings to `pbs` and rounds to `levels`.
    fn settle(
        &self,
        backend: &B,
        mut columns: Vec<Vec<B::Block>>,
        pbs: &mut usize,
        levels: &mut usize,
    ) -> Result<Vec<Vec<B::Block>>, FheError> {
        for _ in 0..MAX_ROUNDS {
            let mut next: Vec<Vec<B::Block>> = vec![Vec::new(); columns.len()];
            let mut jobs: Vec<(usize, ColumnRole, B::Block, bool)> = Vec::new();
            // Whether every column below is final, so no carry can arrive any more.
            let mut below_final = true;
            // Carries the column just planned will send up at the end of this round.
            let mut carries_coming = 0;
            for (c, col) in columns.into_iter().enumerate() {
                let role = self.roles[c];
                let incoming = std::mem::take(&mut carries_coming);
                if self.settled(backend, role, &col) {
                    next[c] = col;
                    continue;
                }
                // A wide column that will receive carries at the end of this round would be
                // bootstrapped again next round anyway: it waits, if the carries will fit.
                let noise: u64 = col.iter().map(|b| backend.noise(b)).sum();
                if matches!(role, ColumnRole::Wide { .. })
                    && incoming > 0
                    && noise + incoming <= MAX_NOISE_LEVEL
                {
                    next[c] = col;
                    continue;
                }
                let groups = self.group(backend, role, col)?;
                let single = groups.len() == 1;
                let mut final_now = true;
                for g in groups {
                    if single && self.settled(backend, role, std::slice::from_ref(&g)) {
                        next[c].push(g); // one group already in final form: nothing to do
                    } else {
                        let may_carry = !matches!(role, ColumnRole::Wide { .. })
                            && c + 1 < self.roles.len()
                            && backend.degree(&g) >= MESSAGE_MODULUS;
                        carries_coming += u64::from(may_carry);
                        jobs.push((c, role, g, single && below_final));
                        final_now = false;
                    }
                }
                below_final &= final_now;
            }
            if jobs.is_empty() {
                return Ok(next);
            }
            let results: Vec<Reduced<B::Block>> = jobs
                .par_iter()
                .map(|(c, role, g, alone)| self.reduce(backend, *c, *role, g, *alone))
                .collect();
            *levels += 1;
            for r in results {
                *pbs += r.pbs;
                next[r.column].extend(r.message);
                if let Some(carry) = r.carry {
                    if backend.degree(&carry) > 0 {
                        next[r.column + 1].push(carry);
                    }
                }
            }
            columns = next;
        }
        Err(FheError::Evaluation("accumulation did not settle".into()))
    }

    fn index_blocks(
        &self,
        backend: &B,
        columns: Vec<Vec<B::Block>>,
    ) -> Result<IndexBlocks<B::Block>, FheError> {
        let mut index = columns
            .into_iter()
            .zip(&self.roles)
            .skip(self.first_index_column)
            .map(|(col, role)| {
                let block = col.into_iter().next().unwrap_or_else(|| backend.trivial(0));
                (block, *role)
            });
        let low: Vec<B::Block> = index.by_ref().take(2).map(|(b, _)| b).collect();
        // H = x_2 + 4 x_3 (+ ...), assembled from the top: each partial sum of the columns
        // from c up is at most column c's proven bound.
        let wide: Vec<(B::Block, ColumnRole)> = index.collect();
        let mut high = backend.trivial(0);
        for (x, role) in wide.iter().rev() {
            let ColumnRole::Wide { bound } = role else {
                return Err(FheError::Evaluation(
                    "an index column above the second is not wide".into(),
                ));
            };
            backend.scale_assign(&mut high, MESSAGE_MODULUS as u8)?;
            backend.add_assign_bounded(&mut high, x, *bound)?;
        }
        Ok(IndexBlocks { low, high })
    }
}
