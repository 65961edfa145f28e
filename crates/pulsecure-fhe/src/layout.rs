//! Which digits of a quantized input each encrypted block carries.
//!
//! A block holds a 2-bit value. A feature digit that can take 3 or 4 values fills one block;
//! a yes/no answer needs one bit, so two of them share a block (`a + 2 b`). One bootstrapping
//! of that block then yields the two answers' joint contribution — one block to encrypt,
//! send, bootstrap and add instead of two. Client and evaluator derive the same layout from
//! the model, so it travels nowhere.

use pulsecure_core::ports::fhe::FheError;
use pulsecure_core::DigitTable;

/// One digit's place inside a block: the digit's index in the model's digit-table order and
/// the bit it starts at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Index into [`pulsecure_core::Model::digit_tables`] (and the input's digits).
    pub digit: usize,
    /// Bit position inside the block's 2-bit value (0 or 1).
    pub shift: u32,
}

/// The blocks of one request, in order, each listing the digits it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputLayout {
    blocks: Vec<Vec<Slot>>,
    digits: usize,
}

impl InputLayout {
    /// Pair up the one-bit digits (in table order); every other digit gets a block of its own.
    pub fn of(tables: &[DigitTable]) -> Self {
        let mut blocks: Vec<Vec<Slot>> = Vec::new();
        let mut waiting_bit: Option<usize> = None;
        for (digit, table) in tables.iter().enumerate() {
            if table.values.len() <= 2 {
                match waiting_bit.take() {
                    Some(block) => blocks[block].push(Slot { digit, shift: 1 }),
                    None => {
                        waiting_bit = Some(blocks.len());
                        blocks.push(vec![Slot { digit, shift: 0 }]);
                    }
                }
            } else {
                blocks.push(vec![Slot { digit, shift: 0 }]);
            }
        }
        InputLayout {
            blocks,
            digits: tables.len(),
        }
    }

    /// Number of encrypted blocks.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// The slots of every block.
    pub fn blocks(&self) -> &[Vec<Slot>] {
        &self.blocks
    }

    /// The block values for an input's digits (in digit-table order).
    pub fn pack(&self, digits: &[u8]) -> Result<Vec<u8>, FheError> {
        if digits.len() != self.digits {
            return Err(FheError::Mismatch {
                what: "input",
                reason: format!("{} digits, the model has {}", digits.len(), self.digits),
            });
        }
        Ok(self
            .blocks
            .iter()
            .map(|slots| {
                slots
                    .iter()
                    .map(|s| digits[s.digit] << s.shift)
                    .fold(0u8, |acc, d| acc | d)
            })
            .collect())
    }

    /// The contribution of a block's value `x` (0..4): the sum of its digits' table entries.
    pub fn contribution(&self, tables: &[DigitTable], block: usize, x: u64) -> i64 {
        self.blocks[block]
            .iter()
            .map(|s| {
                let width = if tables[s.digit].values.len() <= 2 {
                    1
                } else {
                    3
                };
                let d = ((x >> s.shift) & width) as usize;
                tables[s.digit].values.get(d).copied().unwrap_or(0)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(feature: usize, n: usize) -> DigitTable {
        DigitTable {
            feature,
            position: 0,
            values: (0..n as i64)
                .map(|d| 10 * (feature as i64 + 1) * d)
                .collect(),
        }
    }

    #[test]
    fn yes_no_digits_pair_up_and_others_stay_alone() {
        let tables = [
            t(0, 4),
            t(1, 2),
            t(2, 4),
            t(3, 2),
            t(4, 2),
            t(5, 3),
            t(6, 2),
        ];
        let layout = InputLayout::of(&tables);
        // [d0], [d1 + 2 d3], [d2], [d4 + 2 d6], [d5]
        assert_eq!(layout.block_count(), 5);
        assert_eq!(
            layout.pack(&[3, 1, 2, 0, 1, 2, 1]).expect("seven digits"),
            vec![3, 1, 2, 3, 2]
        );
        assert_eq!(layout.contribution(&tables, 1, 3), 20 + 40);
        assert_eq!(layout.contribution(&tables, 1, 2), 40);
        assert_eq!(layout.contribution(&tables, 3, 1), 50);
        assert_eq!(layout.contribution(&tables, 4, 2), 120);
    }

    #[test]
    fn a_lone_yes_no_digit_keeps_its_own_block() {
        let tables = [t(0, 2), t(1, 4)];
        let layout = InputLayout::of(&tables);
        assert_eq!(layout.pack(&[1, 3]).expect("two digits"), vec![1, 3]);
    }

    #[test]
    fn a_wrong_digit_count_is_refused() {
        let layout = InputLayout::of(&[t(0, 2), t(1, 2)]);
        assert!(layout.pack(&[1]).is_err());
    }
}
