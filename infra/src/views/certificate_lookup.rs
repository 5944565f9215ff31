//! [`CertificateLookup`] over any [`Backend`]: the certificates a revocation of their issuers
//! reaches.

use async_trait::async_trait;
use shedu_commands::certificate_service::CertificateLookup;
use shedu_commands::event_store::StoreError;
use shedu_domain::ids::CaId;
use shedu_domain::issued::IssuedCertificate;

use super::Views;
use crate::backend::Backend;
use crate::sql::rows::from_doc;
use crate::sql::{Bind, Sql};

#[async_trait]
impl<B: Backend> CertificateLookup for Views<B> {
    /// Certificates still valid or on hold, by issuer, in chunks of issuers.
    async fn revocable_issued_by(&self, issuers: &[CaId]) -> Result<Vec<IssuedCertificate>, StoreError> {
        let mut found = Vec::new();
        for chunk in issuers.chunks(200) {
            let mut sql = Sql::new(B::DIALECT, "SELECT doc FROM certificate_view WHERE issuer_id IN ");
            sql.push_list(chunk.iter().map(|id| Bind::Text(id.to_string())));
            sql.push(" AND (status IN ('ACTIVE', 'INACTIVE') OR (status = 'REVOKED' AND hold = 1))");
            for doc in self.docs(sql).await? {
                found.push(from_doc("certificate view", &doc)?);
            }
        }
        Ok(found)
    }
}
