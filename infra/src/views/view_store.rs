//! [`ViewStore`] over any [`Backend`]: loading and listing the views, their statistics and the
//! checkpoints. Committing a batch and resetting the views are in `view_commit.rs`.

use async_trait::async_trait;
use shedu_commands::event_store::{LogCursor, StoreError};
use shedu_domain::ca::Ca;
use shedu_domain::ids::{CaId, ProfileId, SerialNumber};
use shedu_domain::issued::IssuedCertificate;
use shedu_domain::profile::ProfileState;
use shedu_projections::ca_projection::{ca_sort_value, certificate_sort_value, profile_sort_value};
use shedu_projections::counters::Counters;
use shedu_projections::query::{ListQuery, Page, SortValue};
use shedu_projections::store::{Scheduled, UnrecordedExpiry, ViewBatch, ViewStore};
use time::OffsetDateTime;

use super::{VIEWS, Views, save_checkpoint, view_commit};
use crate::backend::{Backend, Column, Statements};
use crate::sql::list::{CA_VIEW, CERTIFICATE_VIEW, PROFILE_VIEW, list};
use crate::sql::rows::from_doc;
use crate::sql::{Bind, Sql};
use crate::timestamps::{from_micros, micros};
use shedu_domain::expiry::Trigger;

#[async_trait]
impl<B: Backend> ViewStore for Views<B> {
    async fn checkpoint(&self) -> Result<LogCursor, StoreError> {
        self.checkpoint_of(VIEWS).await
    }

    async fn load_cas(&self, ids: &[CaId]) -> Result<Vec<Ca>, StoreError> {
        let docs = self.docs_by_key("ca_view", "id", ids.iter().map(|id| id.to_string())).await?;
        docs.iter().map(|doc| from_doc("CA view", doc)).collect()
    }

    async fn load_certificates(&self, serials: &[SerialNumber]) -> Result<Vec<IssuedCertificate>, StoreError> {
        let keys = serials.iter().map(|serial| serial.to_string());
        let docs = self.docs_by_key("certificate_view", "serial_number", keys).await?;
        docs.iter().map(|doc| from_doc("certificate view", doc)).collect()
    }

    async fn load_profiles(&self, ids: &[ProfileId]) -> Result<Vec<ProfileState>, StoreError> {
        let docs = self.docs_by_key("profile_view", "id", ids.iter().map(|id| id.to_string())).await?;
        docs.iter().map(|doc| from_doc("profile view", doc)).collect()
    }

    async fn commit(&self, batch: ViewBatch) -> Result<(), StoreError> {
        view_commit::commit(&self.0, batch).await
    }

    async fn reset(&self) -> Result<(), StoreError> {
        view_commit::reset(&self.0).await
    }

    async fn ca(&self, id: &CaId) -> Result<Option<Ca>, StoreError> {
        Ok(self.load_cas(std::slice::from_ref(id)).await?.pop())
    }

    async fn list_cas(&self, query: &ListQuery, now: OffsetDateTime) -> Result<Page<Ca>, StoreError> {
        let docs = self.docs(list(B::DIALECT, &CA_VIEW, query, None, now)).await?;
        let items = docs.iter().map(|doc| from_doc("CA view", doc)).collect::<Result<_, _>>()?;
        Ok(page(query, items, |ca| (ca_sort_value(ca, query.sort_by), ca.id.to_string())))
    }

    async fn list_certificates(
        &self,
        query: &ListQuery,
        issuer: Option<&CaId>,
        now: OffsetDateTime,
    ) -> Result<Page<IssuedCertificate>, StoreError> {
        let scope = issuer.map(|id| ("issuer_id", id.as_str()));
        let docs = self.docs(list(B::DIALECT, &CERTIFICATE_VIEW, query, scope, now)).await?;
        let items = docs.iter().map(|doc| from_doc("certificate view", doc)).collect::<Result<_, _>>()?;
        Ok(page(query, items, |c| (certificate_sort_value(c, query.sort_by), c.serial().to_string())))
    }

    async fn list_profiles(&self, query: &ListQuery) -> Result<Page<ProfileState>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let docs = self.docs(list(B::DIALECT, &PROFILE_VIEW, query, None, now)).await?;
        let items = docs.iter().map(|doc| from_doc("profile view", doc)).collect::<Result<_, _>>()?;
        Ok(page(query, items, |p| (profile_sort_value(p, query.sort_by), p.profile.id.to_string())))
    }

    async fn counters(&self) -> Result<Counters, StoreError> {
        let sql = Sql::new(B::DIALECT, "SELECT key, value FROM stats");
        let rows = self.0.readers().fetch(sql, &[Column::Text, Column::Int]).await?;
        rows.into_iter().map(|mut row| Ok((row.text()?, row.int()?))).collect()
    }

    async fn unrecorded_expiry(&self, now: OffsetDateTime) -> Result<UnrecordedExpiry, StoreError> {
        let (cas, certificates) = tokio::try_join!(
            self.unrecorded_expiry_in("ca_view", now),
            self.unrecorded_expiry_in("certificate_view", now)
        )?;
        Ok(UnrecordedExpiry { cas, certificates })
    }

    async fn next_scheduled(&self, limit: usize) -> Result<Vec<Scheduled>, StoreError> {
        let sql = Sql::with(
            B::DIALECT,
            "SELECT stream_id, trigger, due_at_us FROM expiry_schedule \
             ORDER BY due_at_us, stream_id, trigger LIMIT {}",
            vec![(limit.min(10_000) as i64).into()],
        );
        let rows = self.0.readers().fetch(sql, &[Column::Text, Column::Text, Column::Int]).await?;
        let mut scheduled = Vec::with_capacity(rows.len());
        for mut row in rows {
            let (stream_id, trigger, due_at) = (row.text()?, row.text()?, row.int()?);
            // An entry this version cannot read (none is written) is passed over, not fatal.
            let Some(trigger) = Trigger::from_key(&trigger) else { continue };
            scheduled.push(Scheduled { stream_id, trigger, due_at: from_micros(due_at)? });
        }
        Ok(scheduled)
    }

    async fn named_checkpoint(&self, name: &str) -> Result<LogCursor, StoreError> {
        self.checkpoint_of(name).await
    }

    async fn save_named_checkpoint(&self, name: &str, cursor: LogCursor) -> Result<(), StoreError> {
        self.0.writer().execute(save_checkpoint(B::DIALECT, name, cursor)).await
    }
}

impl<B: Backend> Views<B> {
    /// `SELECT doc FROM table WHERE key IN (...)`, in chunks.
    async fn docs_by_key(
        &self,
        table: &str,
        key: &str,
        keys: impl Iterator<Item = String> + Send,
    ) -> Result<Vec<String>, StoreError> {
        let keys: Vec<Bind> = keys.map(Bind::Text).collect();
        let mut found = Vec::new();
        for chunk in keys.chunks(500) {
            let mut sql = Sql::new(B::DIALECT, &format!("SELECT doc FROM {table} WHERE {key} IN "));
            sql.push_list(chunk.iter().cloned());
            found.extend(self.docs(sql).await?);
        }
        Ok(found)
    }

    pub(super) async fn checkpoint_of(&self, name: &str) -> Result<LogCursor, StoreError> {
        let sql = Sql::with(B::DIALECT, "SELECT tx, position FROM checkpoints WHERE name = {}", vec![name.into()]);
        let rows = self.0.readers().fetch(sql, &[Column::Int, Column::Int]).await?;
        match rows.into_iter().next() {
            Some(mut row) => Ok(LogCursor { tx: row.int()? as u64, position: row.int()? }),
            None => Ok(LogCursor::START),
        }
    }

    /// Expired by time but not yet recorded so, per recorded status: the statistics' correction.
    async fn unrecorded_expiry_in(&self, table: &str, now: OffsetDateTime) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = Sql::with(
            B::DIALECT,
            &format!(
                "SELECT status, COUNT(*) FROM {table} WHERE status IN ('ACTIVE', 'INACTIVE') AND valid_to_us < {{}} \
                 GROUP BY status"
            ),
            vec![micros(now).into()],
        );
        let rows = self.0.readers().fetch(sql, &[Column::Text, Column::Int]).await?;
        rows.into_iter().map(|mut row| Ok((row.text()?, row.int()?))).collect()
    }
}

/// Cuts the extra row fetched to detect a next page and makes its bookmark.
fn page<T>(query: &ListQuery, mut items: Vec<T>, key: impl Fn(&T) -> (SortValue, String)) -> Page<T> {
    let next = if items.len() > query.page_size {
        items.truncate(query.page_size);
        items.last().map(|last| {
            let (value, id) = key(last);
            query.bookmark_after(value, id)
        })
    } else {
        None
    };
    Page { items, next }
}
