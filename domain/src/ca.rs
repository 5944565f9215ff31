//! The CA aggregate: one event stream per CA (`ca-<id>`), folded into [`Ca`] by [`evolve`].

mod custody_policy;
mod decide;
mod events;
mod evolve;
mod new;
mod reissue;
mod state;

pub use custody_policy::SecurityPolicy;
pub use decide::{CaCommand, SubordinateLink, decide};
pub use events::{
    CA_CREATE, CA_DELETE, CA_EXPIRATION_WARNING, CA_EXPIRED, CA_IMPORT, CA_KEY_DESTROYED, CA_METADATA_UPDATE,
    CA_PROFILE_UPDATE, CA_REISSUE, CA_REPARENT, CA_STATUS_UPDATE, CA_SUBORDINATE_ADD, CaCreated, CaDeleted, CaEvent,
    CaKeyDestroyed, CaMetadataUpdated, CaProfileAssigned, CaReparented, CaStatusChanged, CaSubordinateAdded,
    IRRELEVANT_TO_ISSUANCE,
};
pub use evolve::{evolve, replay};
pub use new::{
    CaCertificatePlan, Custody, NewCa, Placement, Under, check_can_sign_subordinate, check_id_free,
    ensure_ca_certificate, ensure_importable, place_import, plan_managed,
};
pub use reissue::{
    CaReissued, DEFAULT_REASON, REISSUE_REASON, REISSUED_AT, REISSUED_FROM, Reissue, decide_reissue, ensure_reissuable,
    plan_reissue,
};
pub use state::{Ca, CaType, EarlierCertificate, IssuerMetadata, KeyRef, SecurityLevel};
