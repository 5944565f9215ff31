//! Issuance profiles: what a CA puts in the certificates it signs. One stream per profile
//! (`profile-<id>`).

mod decide;
mod definition;

pub use decide::{ProfileCommand, ProfileDeleted, ProfileEvent, ProfileSaved, decide, evolve, replay};
pub use definition::{CryptoEnforcement, IssuanceProfile, ProfileInput, ProfileState};
