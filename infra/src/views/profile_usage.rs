//! [`ProfileUsage`] over any [`Backend`]: the CAs that issue under a profile.

use async_trait::async_trait;
use shedu_commands::event_store::StoreError;
use shedu_commands::profile_service::ProfileUsage;
use shedu_domain::ids::{CaId, ProfileId};

use super::Views;
use crate::backend::Backend;
use crate::sql::Sql;

#[async_trait]
impl<B: Backend> ProfileUsage for Views<B> {
    async fn cas_using_profile(&self, profile_id: &ProfileId) -> Result<Vec<CaId>, StoreError> {
        self.ca_ids(Sql::with(
            B::DIALECT,
            "SELECT id FROM ca_view WHERE profile_id = {}",
            vec![profile_id.as_str().into()],
        ))
        .await
    }
}
