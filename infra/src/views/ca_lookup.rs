//! [`CaLookup`] over any [`Backend`]: the CAs that may have issued a certificate, those whose
//! certificate has a serial number, and those signing with a key.

use async_trait::async_trait;
use shedu_commands::ca_service::CaLookup;
use shedu_commands::event_store::StoreError;
use shedu_domain::ids::{CaId, EngineId, KeyId, SerialNumber};
use shedu_domain::subject::Subject;

use super::Views;
use crate::backend::Backend;
use crate::sql::Sql;

#[async_trait]
impl<B: Backend> CaLookup for Views<B> {
    async fn issuer_candidates(
        &self,
        authority_key_id: Option<&str>,
        issuer: &Subject,
    ) -> Result<Vec<CaId>, StoreError> {
        self.ca_ids(Sql::with(
            B::DIALECT,
            "SELECT id FROM ca_view WHERE subject_key_id = {} OR subject_cn = {}",
            vec![authority_key_id.unwrap_or_default().into(), issuer.common_name.as_str().into()],
        ))
        .await
    }

    async fn cas_with_serial(&self, serial: &SerialNumber) -> Result<Vec<CaId>, StoreError> {
        self.ca_ids(Sql::with(
            B::DIALECT,
            "SELECT id FROM ca_view WHERE serial_number = {}",
            vec![serial.as_str().into()],
        ))
        .await
    }

    async fn orphans(&self) -> Result<Vec<CaId>, StoreError> {
        self.ca_ids(Sql::new(B::DIALECT, "SELECT id FROM ca_view WHERE issuer_id IS NULL ORDER BY id")).await
    }

    async fn cas_using_key(&self, engine_id: &EngineId, key_id: &KeyId) -> Result<Vec<CaId>, StoreError> {
        self.ca_ids(Sql::with(
            B::DIALECT,
            "SELECT id FROM ca_view WHERE engine_id = {} AND key_id = {}",
            vec![engine_id.as_str().into(), key_id.as_str().into()],
        ))
        .await
    }
}
