//! fhe
pub use tfhe;
