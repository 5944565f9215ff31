//! Certificates a CA signed: one stream each (`certificate-<serial>`), so that issuance by one CA
//! never contends on the CA's stream (docs/adr/0003).

mod decide;
mod events;
mod state;

pub use decide::{CertificateCommand, decide, evolve, replay};
pub use events::{CertificateEvent, CertificateIssued, CertificateMetadataUpdated, CertificateStatusChanged};
pub use state::{IssuedCertificate, stream_id};
