//! X.509: building CA certificates signed through a crypto engine, and reading certificates.

pub mod build;
pub mod crl;
pub mod csr;
pub(crate) mod der_out;
pub mod keys;
pub mod parse;
pub mod pem_text;
pub mod signer;
mod splice;
pub mod verify;
