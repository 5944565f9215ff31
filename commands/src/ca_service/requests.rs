//! What the CA commands take, as the API hands them over: parsed, not yet decided.

use std::fmt;

use shedu_domain::duration::Validity;
use shedu_domain::ids::{CaId, EngineId, ProfileId};
use shedu_domain::key::KeySpec;
use shedu_domain::metadata::Metadata;
use shedu_domain::profile::ProfileInput;
use shedu_domain::subject::Subject;
use zeroize::Zeroizing;

/// Create a managed CA: a root when `parent_id` is `None`.
#[derive(Debug, Clone)]
pub struct CreateCa {
    pub id: Option<CaId>,
    pub parent_id: Option<CaId>,
    pub subject: Subject,
    pub key: KeySpec,
    pub validity: Validity,
    pub engine_id: Option<EngineId>,
    pub profile_id: Option<ProfileId>,
    pub metadata: Metadata,
}

/// Import an existing CA certificate, with or without its private key.
#[derive(Clone)]
pub struct ImportCa {
    pub id: Option<CaId>,
    pub certificate_pem: String,
    /// Certificates of the CAs above it: those Shedu does not hold are imported first, as trust
    /// anchors, so that this one finds its parent.
    pub chain_pem: Option<String>,
    /// PEM PKCS#8, PKCS#1 or SEC1. Handed to the engine and wiped when dropped; never logged or
    /// recorded.
    pub private_key_pem: Option<Zeroizing<String>>,
    pub engine_id: Option<EngineId>,
    pub profile_id: Option<ProfileId>,
    pub metadata: Metadata,
}

impl fmt::Debug for ImportCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportCa")
            .field("id", &self.id)
            .field("private_key_pem", &self.private_key_pem.as_ref().map(|_| "<redacted>"))
            .field("engine_id", &self.engine_id)
            .finish_non_exhaustive()
    }
}

/// Sign a CSR.
#[derive(Debug, Clone)]
pub struct SignRequest {
    pub csr: String,
    pub profile_id: Option<ProfileId>,
    /// An inline profile; wins over `profile_id` and the CA's default.
    pub profile: Option<ProfileInput>,
    pub metadata: Metadata,
}

/// Reissue a CA's certificate: same id and subject, new serial; a new key when `rekey`.
#[derive(Debug, Clone)]
pub struct ReissueCa {
    pub reason: Option<String>,
    pub rekey: bool,
    /// The new key's type and size (rekey only); the current key's when absent.
    pub key: Option<KeySpec>,
    /// The new certificate's lifetime from now; as long as the current one's when absent.
    pub validity: Option<Validity>,
    /// The engine for the new key (rekey only); the current key's when absent.
    pub engine_id: Option<EngineId>,
}
