//! Step 5 (first half) under encryption: the segment number of the calibrated table at the
//! encrypted index, in two bootstrapping levels.
//!
//! The table is monotone, so it is a step function; number its constant runs ("segments")
//! `0..=max_segment`. Write the index as `idx = 16 H + L` (`H` its top digits, a "bucket";
//! `L` its low two digits). Then
//!
//! `seg(idx) = A(H) + n_H(L)`, with `A(H)` the segment at the start of bucket `H` and
//! `n_H(L)` the number of segment boundaries inside bucket `H` at or below `L`.
//!
//! Buckets that hold boundaries are put in *groups* of at most three whose boundary
//! positions (within the bucket) take at most three distinct values `p_1 < p_2 < p_3` (a
//! bucket with more boundaries is split into parts counted by different groups).
//! For a group `g`, one bootstrapping of `H` gives a selector `u_g(H)` (0 when `H` is not in
//! the group, else 1, 2 or 3 naming the bucket) and one of `L` gives `v_g(L) = #{p_k <= L}`;
//! together they decide `n_H(L)` for every bucket of the group, so one more bootstrapping of
//! the packed block `4 u_g + v_g` yields the group's term `F_g`, zero outside the group:
//!
//! `seg = A(H) + Σ_g F_g(4 u_g(H) + v_g(L))` — level 1: `A`, every `u_g` and `v_g`;
//! level 2: every `F_g`; the sum is free.
//!
//! When every boundary sits at a multiple of 4 inside its bucket (the training pipeline puts
//! table breaks on such a grid), `v_g(L) = L >> 2` is simply the index's second digit and costs
//! no bootstrapping at all. A sum of more than four terms exceeds the noise budget; the sum is
//! then refreshed by one extra bootstrapping level before the rest is added (no shipped model
//! needs it).

use pulsecure_core::ports::fhe::FheError;
use pulsecure_core::ModelLimit;

use crate::accumulate::IndexBlocks;
use crate::backend::{table, Backend, Table, BLOCK_SPACE, MAX_NOISE_LEVEL, MESSAGE_MODULUS};

/// Width of a bucket: `L` is two base-4 digits.
const BUCKET: usize = 16;
/// Most buckets one selector can name (its value 0 means "none of them").
const BUCKETS_PER_GROUP: usize = 3;
/// Most distinct boundary positions a 2-bit `v_g` can tell apart.
const POSITIONS_PER_GROUP: usize = 3;
/// The positions `v = L >> 2` distinguishes.
const DIGIT_GRID: [u64; 3] = [4, 8, 12];

/// How a group's `v_g` is obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
enum LowDigits {
    /// `v = L >> 2`: the index's second digit as it is (every boundary on the grid of 4).
    SecondDigit,
    /// `v_g` by one bootstrapping of the packed low digits `L`, one table per group.
    Counted(Vec<Table>),
}

/// The segment lookup compiled from a monotone table (plain data, backend independent).
#[derive(Clone, Debug)]
pub struct LookupPlan {
    bucket_start: Table,
    selectors: Vec<Table>,
    terms: Vec<Table>,
    low: LowDigits,
    max_segment: u64,
}

/// Bootstrappings and levels the lookup takes (data independent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupCost {
    /// Bootstrappings.
    pub pbs: usize,
    /// Sequential levels.
    pub levels: usize,
}

impl LookupPlan {
    /// Compile the lookup for a table of `lut.len()` entries (a multiple of 16, at most 256).
    /// Returns the plan and the table's distinct levels (segment `s` has value `levels[s]`).
    pub fn compile(lut: &[u32]) -> Result<(Self, Vec<u32>), FheError> {
        if lut.is_empty() || !lut.len().is_multiple_of(BUCKET) || lut.len() > BUCKET * BUCKET {
            return Err(FheError::model_limit(
                ModelLimit::TableLength,
                "the table must have 16, 32, ... or 256 entries",
            ));
        }
        let mut levels = vec![lut[0]];
        let mut seg = Vec::with_capacity(lut.len());
        for &p in lut {
            if Some(&p) != levels.last() {
                levels.push(p);
            }
            seg.push(levels.len() as u64 - 1);
        }
        if levels.len() > BLOCK_SPACE as usize {
            return Err(FheError::model_limit(
                ModelLimit::ProbabilityLevels,
                format!(
                    "the table has {} probability levels; at most 16 fit one block",
                    levels.len()
                ),
            ));
        }
        let buckets = lut.len() / BUCKET;
        let mut bucket_start = [0u64; BLOCK_SPACE as usize];
        // Boundary positions inside each bucket that holds any, in parts of at most three (a
        // bucket with more is counted by several groups, each adding its part's boundaries).
        let mut inside: Vec<(usize, Vec<u64>)> = Vec::new();
        for h in 0..buckets {
            bucket_start[h] = seg[BUCKET * h];
            let positions: Vec<u64> = (1..BUCKET)
                .filter(|&l| seg[BUCKET * h + l] > seg[BUCKET * h + l - 1])
                .map(|l| l as u64)
                .collect();
            for part in positions.chunks(POSITIONS_PER_GROUP) {
                inside.push((h, part.to_vec()));
            }
        }
        let on_grid = inside
            .iter()
            .all(|(_, ps)| ps.iter().all(|p| DIGIT_GRID.contains(p)));
        let groups = group_buckets(&inside, on_grid);
        let selectors = groups
            .iter()
            .map(|g| {
                table(|h| {
                    g.parts
                        .iter()
                        .position(|(b, _)| *b as u64 == h)
                        .map_or(0, |i| i as u64 + 1)
                })
            })
            .collect();
        let terms = groups
            .iter()
            .map(|g| {
                table(|x| {
                    let (u, v) = (x / MESSAGE_MODULUS, x % MESSAGE_MODULUS);
                    // The named part's boundaries whose rank among the group's positions is <= v.
                    u.checked_sub(1)
                        .and_then(|i| g.parts.get(i as usize))
                        .map_or(0, |(_, ps)| {
                            ps.iter()
                                .filter(|p| g.rank(**p).is_some_and(|r| r <= v))
                                .count() as u64
                        })
                })
            })
            .collect();
        let low = if on_grid {
            LowDigits::SecondDigit
        } else {
            LowDigits::Counted(
                groups
                    .iter()
                    .map(|g| table(|l| g.positions.iter().filter(|&&p| p <= l).count() as u64))
                    .collect(),
            )
        };
        let plan = LookupPlan {
            bucket_start,
            selectors,
            terms,
            low,
            max_segment: levels.len() as u64 - 1,
        };
        Ok((plan, levels))
    }

    /// Bootstrappings and levels of one lookup.
    pub fn cost(&self) -> LookupCost {
        let groups = self.terms.len();
        let counted = match &self.low {
            LowDigits::SecondDigit => 0,
            LowDigits::Counted(t) => t.len(),
        };
        let refreshes = refresh_points(groups).len();
        LookupCost {
            pbs: 1 + 2 * groups + counted + refreshes,
            levels: if groups == 0 { 1 } else { 2 + refreshes },
        }
    }

    /// Largest segment number.
    pub fn max_segment(&self) -> u64 {
        self.max_segment
    }

    /// Whether index digit `i` (low first) is read by the lookup and so must arrive fresh
    /// (noise level at most 1, to be packed). The lowest digit is not read when every
    /// boundary sits on the grid of 4: it then matters only through its carry.
    pub fn reads_digit(&self, i: usize) -> bool {
        i > 0 || matches!(self.low, LowDigits::Counted(_))
    }
}

/// Bucket parts sharing one selector and one `v`.
struct Group {
    /// (bucket, its boundary positions counted by this group), named 1, 2, 3 by the selector.
    parts: Vec<(usize, Vec<u64>)>,
    /// Distinct boundary positions, ascending (the grid itself when `v` is the second digit).
    positions: Vec<u64>,
}

impl Group {
    /// 1-based rank of a boundary position among the group's positions.
    fn rank(&self, p: u64) -> Option<u64> {
        self.positions
            .iter()
            .position(|&q| q == p)
            .map(|i| i as u64 + 1)
    }
}

fn group_buckets(inside: &[(usize, Vec<u64>)], on_grid: bool) -> Vec<Group> {
    // First fit: each part joins the first group it fits in (at most three parts of distinct
    // buckets, at most three distinct positions), else opens a new one.
    let mut groups: Vec<Group> = Vec::new();
    for (h, ps) in inside {
        let union_with = |g: &Group| {
            let mut union = g.positions.clone();
            union.extend(ps);
            union.sort_unstable();
            union.dedup();
            union
        };
        let slot = groups.iter_mut().find(|g| {
            g.parts.len() < BUCKETS_PER_GROUP
                && g.parts.iter().all(|(b, _)| b != h)
                && union_with(g).len() <= POSITIONS_PER_GROUP
        });
        match slot {
            Some(g) => {
                g.positions = union_with(g);
                g.parts.push((*h, ps.clone()));
            }
            None => groups.push(Group {
                parts: vec![(*h, ps.clone())],
                positions: if on_grid {
                    DIGIT_GRID.to_vec()
                } else {
                    ps.clone()
                },
            }),
        }
    }
    groups
}

/// Before which terms (1-based among the group terms) the running sum must be refreshed: the
/// sum `A + F_1 + ...` may hold at most `MAX_NOISE_LEVEL` fresh blocks.
fn refresh_points(groups: usize) -> Vec<usize> {
    let per_sum = MAX_NOISE_LEVEL as usize - 1;
    (1..=groups)
        .filter(|&k| k > per_sum && (k - 1) % per_sum == 0)
        .collect()
}

/// The lookup's tables prepared for one backend.
pub struct Lookup<B: Backend> {
    bucket_start: B::Lut,
    selectors: Vec<B::Lut>,
    terms: Vec<B::Lut>,
    counted: Vec<B::Lut>,
    identity: B::Lut,
    max_segment: u64,
}

impl<B: Backend> Lookup<B> {
    /// Prepare every table of `plan` on `backend`.
    pub fn new(backend: &B, plan: &LookupPlan) -> Self {
        Lookup {
            bucket_start: backend.lut(&plan.bucket_start),
            selectors: plan.selectors.iter().map(|t| backend.lut(t)).collect(),
            terms: plan.terms.iter().map(|t| backend.lut(t)).collect(),
            counted: match &plan.low {
                LowDigits::SecondDigit => Vec::new(),
                LowDigits::Counted(ts) => ts.iter().map(|t| backend.lut(t)).collect(),
            },
            identity: backend.lut(&table(|x| x.min(plan.max_segment))),
            max_segment: plan.max_segment,
        }
    }

    /// The segment number of the index given as its bucket number `H` (one block) and its
    /// low digits (fresh where [`LookupPlan::reads_digit`] says they are read). Adds the
    /// bootstrappings it runs to `pbs`, its levels to `levels`.
    pub fn segment(
        &self,
        backend: &B,
        index: &IndexBlocks<B::Block>,
        pbs: &mut usize,
        levels: &mut usize,
    ) -> Result<B::Block, FheError> {
        use rayon::prelude::*;

        let zero = backend.trivial(0);
        let digit = |i: usize| index.low.get(i).unwrap_or(&zero);
        let high = &index.high;
        let counted = !self.counted.is_empty();
        let low = if counted {
            Some(pack(backend, digit(0), digit(1))?)
        } else {
            None
        };
        // Level 1: A(H), every selector u_g(H) and, when needed, every v_g(L).
        let jobs: Vec<(&B::Block, &B::Lut)> = std::iter::once((high, &self.bucket_start))
            .chain(self.selectors.iter().map(|l| (high, l)))
            .chain(
                low.iter()
                    .flat_map(|l| self.counted.iter().map(move |t| (l, t))),
            )
            .collect();
        let level1: Vec<B::Block> = jobs.par_iter().map(|(b, l)| backend.apply(b, l)).collect();
        *pbs += level1.len();
        *levels += 1;
        let groups = self.terms.len();
        let mut level1 = level1.into_iter();
        let mut seg = level1.next().unwrap_or_else(|| backend.trivial(0));
        if groups == 0 {
            return Ok(seg);
        }
        let selectors: Vec<B::Block> = level1.by_ref().take(groups).collect();
        let vs: Vec<B::Block> = if counted {
            level1.collect()
        } else {
            vec![digit(1).clone(); groups]
        };
        // Level 2: F_g(4 u_g + v_g) for every group.
        let packed: Vec<B::Block> = selectors
            .iter()
            .zip(&vs)
            .map(|(u, v)| pack(backend, v, u))
            .collect::<Result<_, _>>()?;
        let terms: Vec<B::Block> = packed
            .par_iter()
            .zip(self.terms.par_iter())
            .map(|(x, l)| backend.apply(x, l))
            .collect();
        *pbs += terms.len();
        *levels += 1;
        let refresh_before = refresh_points(groups);
        for (k, term) in terms.iter().enumerate() {
            if refresh_before.contains(&(k + 1)) {
                seg = backend.apply(&seg, &self.identity);
                *pbs += 1;
                *levels += 1;
            }
            // Every partial sum is a segment number, so at most max_segment.
            backend.add_assign_bounded(&mut seg, term, self.max_segment)?;
        }
        Ok(seg)
    }
}

/// `low + 4 high` as one block (both must be fresh 2-bit digits).
fn pack<B: Backend>(backend: &B, low: &B::Block, high: &B::Block) -> Result<B::Block, FheError> {
    let mut out = low.clone();
    let mut h = high.clone();
    backend.scale_assign(&mut h, MESSAGE_MODULUS as u8)?;
    backend.add_assign(&mut out, &h)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{PlainBackend, PlainBlock};

    /// The index as the accumulation hands it over: two fresh low digits and `H` as the
    /// worst-noise sum it can be (`x_2 + 4 x_3`, noise level 5).
    fn digits(idx: usize, count: usize) -> IndexBlocks<PlainBlock> {
        let fresh = |value: u64| PlainBlock {
            value,
            degree: 3,
            noise: 1,
        };
        let low = (0..count.min(2))
            .map(|i| fresh(((idx >> (2 * i)) & 3) as u64))
            .collect();
        let h = (idx >> 4) as u64;
        let high = match count {
            0..=2 => PlainBlock {
                value: 0,
                degree: 0,
                noise: 0,
            },
            3 => fresh(h),
            _ => PlainBlock {
                value: h,
                degree: 15,
                noise: 5,
            },
        };
        IndexBlocks { low, high }
    }

    /// Every index of `lut`: the encrypted-schedule segment's level equals the table entry.
    fn check_every_index(lut: &[u32]) -> LookupCost {
        let (plan, levels) = LookupPlan::compile(lut).expect("compiles");
        let lookup = Lookup::new(&PlainBackend, &plan);
        let count = (lut.len().trailing_zeros() / 2) as usize;
        for (idx, &want) in lut.iter().enumerate() {
            let (mut pbs, mut depth) = (0, 0);
            let seg = lookup
                .segment(&PlainBackend, &digits(idx, count), &mut pbs, &mut depth)
                .expect("within budget");
            assert_eq!(levels[seg.value as usize], want, "index {idx}");
            assert_eq!(
                plan.cost(),
                LookupCost { pbs, levels: depth },
                "static cost"
            );
        }
        plan.cost()
    }

    /// A monotone table of `len` entries with boundaries at `breaks`.
    fn stepped(len: usize, breaks: &[usize]) -> Vec<u32> {
        (0..len)
            .map(|i| 10 * breaks.iter().filter(|&&b| b <= i).count() as u32)
            .collect()
    }

    #[test]
    fn shipped_model_needs_two_levels_and_no_low_digit_bootstrapping() {
        let model =
            pulsecure_core::Model::from_json(pulsecure_core::embedded_model::DEFAULT_MODEL_JSON)
                .expect("valid");
        let cost = check_every_index(model.lut());
        assert_eq!(cost.levels, 2);
        assert!(cost.pbs <= 7, "{cost:?}");
    }

    #[test]
    fn off_grid_boundaries_are_counted_from_the_low_digits() {
        let cost = check_every_index(&stepped(256, &[3, 17, 18, 31, 50, 77, 90, 91, 92, 200]));
        assert_eq!(cost.levels, 2);
    }

    #[test]
    fn more_than_four_groups_refresh_the_sum() {
        // 15 buckets with one off-grid boundary each, positions all different: 5 groups.
        let breaks: Vec<usize> = (0..15).map(|h| 16 * h + 1 + (h % 15)).collect();
        let cost = check_every_index(&stepped(256, &breaks));
        assert_eq!(cost.levels, 3);
    }

    #[test]
    fn small_tables_work() {
        check_every_index(&stepped(16, &[5, 9]));
        check_every_index(&stepped(64, &[0, 20, 40, 44, 48]));
        check_every_index(&[7; 256]);
    }

    #[test]
    fn a_bucket_with_many_boundaries_is_split_across_groups() {
        let cost = check_every_index(&stepped(256, &[33, 35, 37, 39, 40, 41, 47]));
        assert_eq!(cost.levels, 2);
        check_every_index(&stepped(256, &(1..16).collect::<Vec<_>>()));
    }

    #[test]
    fn random_monotone_tables_are_exact() {
        let mut state = 0x2545f4914f6cdd1du64;
        for _ in 0..300 {
            let mut breaks = Vec::new();
            for h in 0..16usize {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let n = (state % 6) as usize;
                for k in 0..n {
                    let on_grid = state & 0x100 != 0;
                    let l = if on_grid {
                        4 * (1 + ((state >> (10 + 2 * k)) % 3) as usize)
                    } else {
                        1 + ((state >> (10 + 4 * k)) % 15) as usize
                    };
                    breaks.push(16 * h + l);
                }
            }
            breaks.sort_unstable();
            breaks.dedup();
            breaks.truncate(15);
            check_every_index(&stepped(256, &breaks));
        }
    }
}
