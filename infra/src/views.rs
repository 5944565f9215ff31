//! Query views, checkpoints, lookups and idempotency records, written once for both databases:
//! [`view_store!`] expands to the implementations for SQLite and PostgreSQL, which differ only in
//! types, placeholders and row locking (SQLite's single writer needs none).

use shedu_projections::query::{ListQuery, Page, SortValue};

pub(crate) const VIEWS: &str = "views";

pub(crate) const SAVE_CHECKPOINT: &str = "INSERT INTO checkpoints (name, tx, position, updated_at_us) VALUES ({}, {}, {}, {}) \
     ON CONFLICT (name) DO UPDATE SET tx = excluded.tx, position = excluded.position, updated_at_us = excluded.updated_at_us";

/// Cuts the extra row fetched to detect a next page and makes its bookmark.
pub(crate) fn page<T>(query: &ListQuery, mut items: Vec<T>, key: impl Fn(&T) -> (SortValue, String)) -> Page<T> {
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

/// Expands to the view-store, lookup and idempotency implementations for one database.
macro_rules! view_store {
    ($db:ty, $database:ty, $args:ty, $dialect:expr, $lock:literal) => {
        fn arguments(binds: Vec<Bind>) -> Result<$args, StoreError> {
            let mut args = <$args>::default();
            for bind in binds {
                match bind {
                    Bind::Text(t) => args.add(t),
                    Bind::Int(i) => args.add(i),
                    Bind::MaybeText(t) => args.add(t),
                }
                .map_err(|e| StoreError::InvalidAppend(e.to_string()))?;
            }
            Ok(args)
        }

        /// Writes each row's values through `template`, a group of rows per statement (see
        /// `upsert_groups`).
        async fn upsert_rows(
            tx: &mut sqlx::Transaction<'static, $database>,
            template: &str,
            columns: usize,
            rows: Vec<Vec<Bind>>,
        ) -> Result<(), StoreError> {
            let sizes: Vec<usize> = upsert_groups(&rows).map(<[Vec<Bind>]>::len).collect();
            let mut rows = rows.into_iter();
            for size in sizes {
                let binds: Vec<Bind> = rows.by_ref().take(size).flatten().collect();
                let sql = with_rows($dialect, template, columns, size);
                sqlx::query_with::<$database, _>(sqlx::AssertSqlSafe(sql), arguments(binds)?)
                    .execute(&mut **tx)
                    .await
                    .map_err(classify)?;
            }
            Ok(())
        }

        impl $db {
            async fn docs(&self, sql: Sql) -> Result<Vec<String>, StoreError> {
                let rows: Vec<(String,)> =
                    sqlx::query_as_with::<$database, _, _>(sqlx::AssertSqlSafe(sql.text), arguments(sql.binds)?)
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(classify)?;
                Ok(rows.into_iter().map(|(doc,)| doc).collect())
            }

            /// `SELECT doc FROM table WHERE key IN (...)`, in chunks.
            async fn docs_by_key(&self, table: &str, key: &str, keys: &[String]) -> Result<Vec<String>, StoreError> {
                let mut found = Vec::new();
                for chunk in keys.chunks(500) {
                    let mut sql = Sql::new($dialect, &format!("SELECT doc FROM {table} WHERE {key} IN ("));
                    let placeholders: Vec<String> = chunk.iter().map(|k| sql.bind(Bind::Text(k.clone()))).collect();
                    sql.text.push_str(&placeholders.join(", "));
                    sql.text.push(')');
                    found.extend(self.docs(sql).await?);
                }
                Ok(found)
            }

            async fn checkpoint_of(&self, name: &str) -> Result<LogCursor, StoreError> {
                let row: Option<(i64, i64)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(q($dialect, "SELECT tx, position FROM checkpoints WHERE name = {}")))
                        .bind(name)
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(classify)?;
                Ok(row.map_or(LogCursor::START, |(tx, position)| LogCursor { tx: tx as u64, position }))
            }

            async fn grouped(&self, sql: String, now: OffsetDateTime) -> Result<Vec<(String, i64)>, StoreError> {
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(micros(now)).fetch_all(self.read_pool()).await.map_err(classify)
            }
        }

        #[async_trait]
        impl ViewStore for $db {
            async fn checkpoint(&self) -> Result<LogCursor, StoreError> {
                self.checkpoint_of(VIEWS).await
            }

            async fn load_cas(&self, ids: &[CaId]) -> Result<Vec<Ca>, StoreError> {
                let keys: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
                self.docs_by_key("ca_view", "id", &keys).await?.iter().map(|d| parse_ca(d)).collect()
            }

            async fn load_certificates(&self, serials: &[SerialNumber]) -> Result<Vec<IssuedCertificate>, StoreError> {
                let keys: Vec<String> = serials.iter().map(|s| s.to_string()).collect();
                self.docs_by_key("certificate_view", "serial_number", &keys)
                    .await?
                    .iter()
                    .map(|d| parse_certificate(d))
                    .collect()
            }

            async fn load_profiles(&self, ids: &[ProfileId]) -> Result<Vec<ProfileState>, StoreError> {
                let keys: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
                self.docs_by_key("profile_view", "id", &keys).await?.iter().map(|d| parse_profile(d)).collect()
            }

            async fn commit(&self, batch: ViewBatch) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                // A row to lock even on the first batch: two projectors starting from nothing must still
                // serialise on it. Later batches find it there (or, after a reset, find none and lose).
                if batch.previous == LogCursor::START {
                    sqlx::query(sqlx::AssertSqlSafe(q(
                        $dialect,
                        "INSERT INTO checkpoints (name, tx, position, updated_at_us) VALUES ({}, 0, 0, {}) ON CONFLICT DO NOTHING",
                    )))
                    .bind(VIEWS)
                    .bind(now_us())
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                }
                let row: Option<(i64, i64)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(q($dialect, "SELECT tx, position FROM checkpoints WHERE name = {}") + $lock))
                        .bind(VIEWS)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(classify)?;
                let (t, position) = row.unwrap_or((0, 0));
                let current = LogCursor { tx: t as u64, position };
                if current != batch.previous {
                    tx.rollback().await.map_err(classify)?;
                    return Err(StoreError::Conflict {
                        stream_id: "checkpoint:views".into(),
                        expected: format!("{:?}", batch.previous),
                        actual: current.position.max(0) as u64,
                    });
                }
                let cas = batch.upsert_cas.iter().map(|(ca, position)| Ok(CaRow::new(ca)?.binds(*position)));
                upsert_rows(&mut tx, UPSERT_CA, CA_COLUMNS, cas.collect::<Result<_, StoreError>>()?).await?;
                for id in &batch.delete_cas {
                    sqlx::query(sqlx::AssertSqlSafe(q($dialect, "DELETE FROM ca_view WHERE id = {}")))
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                let certificates =
                    batch.upsert_certificates.iter().map(|(c, position)| Ok(CertificateRow::new(c)?.binds(*position)));
                let certificates = certificates.collect::<Result<_, StoreError>>()?;
                upsert_rows(&mut tx, UPSERT_CERTIFICATE, CERTIFICATE_COLUMNS, certificates).await?;
                let upsert_profile = with_placeholders($dialect, UPSERT_PROFILE, 3);
                for state in &batch.upsert_profiles {
                    let doc = serde_json::to_string(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    sqlx::query(sqlx::AssertSqlSafe(upsert_profile.as_str()))
                        .bind(state.profile.id.as_str())
                        .bind(&state.profile.name)
                        .bind(doc)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                for id in &batch.delete_profiles {
                    sqlx::query(sqlx::AssertSqlSafe(q($dialect, "DELETE FROM profile_view WHERE id = {}")))
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                let add_counter = with_placeholders($dialect, ADD_COUNTER, 2);
                for (key, delta) in &batch.counters {
                    sqlx::query(sqlx::AssertSqlSafe(add_counter.as_str()))
                        .bind(key)
                        .bind(delta)
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                sqlx::query(sqlx::AssertSqlSafe(q($dialect, SAVE_CHECKPOINT)))
                    .bind(VIEWS)
                    .bind(batch.checkpoint.tx as i64)
                    .bind(batch.checkpoint.position)
                    .bind(now_us())
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)
            }

            async fn reset(&self) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                // Hold the checkpoint row first: a live projector's commit then waits for the
                // reset instead of landing between its deletes (counters and rows would drift).
                sqlx::query(sqlx::AssertSqlSafe(q(
                    $dialect,
                    "INSERT INTO checkpoints (name, tx, position, updated_at_us) VALUES ({}, 0, 0, {}) ON CONFLICT DO NOTHING",
                )))
                .bind(VIEWS)
                .bind(now_us())
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                sqlx::query(sqlx::AssertSqlSafe(q($dialect, "SELECT tx FROM checkpoints WHERE name = {}") + $lock))
                    .bind(VIEWS)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                for table in ["ca_view", "certificate_view", "profile_view", "stats"] {
                    sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                        .execute(&mut *tx)
                        .await
                        .map_err(classify)?;
                }
                // Reactors' checkpoints go too: they would otherwise wait on views that start over.
                sqlx::query("DELETE FROM checkpoints").execute(&mut *tx).await.map_err(classify)?;
                tx.commit().await.map_err(classify)
            }

            async fn ca(&self, id: &CaId) -> Result<Option<Ca>, StoreError> {
                Ok(self.load_cas(std::slice::from_ref(id)).await?.pop())
            }

            async fn list_cas(&self, query: &ListQuery, now: OffsetDateTime) -> Result<Page<Ca>, StoreError> {
                let items = self
                    .docs(list($dialect, &CA_VIEW, query, None, now))
                    .await?
                    .iter()
                    .map(|d| parse_ca(d))
                    .collect::<Result<_, _>>()?;
                Ok(page(query, items, |ca| (ca_sort_value(ca, query.sort_by), ca.id.to_string())))
            }

            async fn list_certificates(
                &self,
                query: &ListQuery,
                issuer: Option<&CaId>,
                now: OffsetDateTime,
            ) -> Result<Page<IssuedCertificate>, StoreError> {
                let scope = issuer.map(|id| ("issuer_id", id.as_str()));
                let items = self
                    .docs(list($dialect, &CERTIFICATE_VIEW, query, scope, now))
                    .await?
                    .iter()
                    .map(|d| parse_certificate(d))
                    .collect::<Result<_, _>>()?;
                Ok(page(query, items, |c| (certificate_sort_value(c, query.sort_by), c.serial().to_string())))
            }

            async fn list_profiles(&self, query: &ListQuery) -> Result<Page<ProfileState>, StoreError> {
                let now = OffsetDateTime::now_utc();
                let items = self
                    .docs(list($dialect, &PROFILE_VIEW, query, None, now))
                    .await?
                    .iter()
                    .map(|d| parse_profile(d))
                    .collect::<Result<_, _>>()?;
                Ok(page(query, items, |p| (profile_sort_value(p, query.sort_by), p.profile.id.to_string())))
            }

            async fn counters(&self) -> Result<Counters, StoreError> {
                let rows: Vec<(String, i64)> =
                    sqlx::query_as("SELECT key, value FROM stats").fetch_all(self.read_pool()).await.map_err(classify)?;
                Ok(rows.into_iter().collect::<BTreeMap<_, _>>())
            }

            async fn unrecorded_expiry(&self, now: OffsetDateTime) -> Result<UnrecordedExpiry, StoreError> {
                let (cas, certificates) = tokio::try_join!(
                    self.grouped(unrecorded_expiry($dialect, "ca_view"), now),
                    self.grouped(unrecorded_expiry($dialect, "certificate_view"), now)
                )?;
                Ok(UnrecordedExpiry { cas, certificates })
            }

            async fn named_checkpoint(&self, name: &str) -> Result<LogCursor, StoreError> {
                self.checkpoint_of(name).await
            }

            async fn save_named_checkpoint(&self, name: &str, cursor: LogCursor) -> Result<(), StoreError> {
                sqlx::query(sqlx::AssertSqlSafe(q($dialect, SAVE_CHECKPOINT)))
                    .bind(name)
                    .bind(cursor.tx as i64)
                    .bind(cursor.position)
                    .bind(now_us())
                    .execute(self.write_pool())
                    .await
                    .map_err(classify)?;
                Ok(())
            }
        }

        #[async_trait]
        impl CaLookup for $db {
            async fn issuer_candidates(
                &self,
                authority_key_id: Option<&str>,
                issuer: &Subject,
            ) -> Result<Vec<CaId>, StoreError> {
                let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(q(
                    $dialect,
                    "SELECT id FROM ca_view WHERE subject_key_id = {} OR subject_cn = {}",
                )))
                .bind(authority_key_id.unwrap_or_default())
                .bind(&issuer.common_name)
                .fetch_all(self.read_pool())
                .await
                .map_err(classify)?;
                Ok(rows.into_iter().filter_map(|(id,)| CaId::parse(&id).ok()).collect())
            }

            async fn cas_using_key(&self, engine_id: &EngineId, key_id: &KeyId) -> Result<Vec<CaId>, StoreError> {
                let rows: Vec<(String,)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(q($dialect, "SELECT id FROM ca_view WHERE engine_id = {} AND key_id = {}")))
                        .bind(engine_id.as_str())
                        .bind(key_id.as_str())
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(classify)?;
                Ok(rows.into_iter().filter_map(|(id,)| CaId::parse(&id).ok()).collect())
            }
        }

        #[async_trait]
        impl ProfileUsage for $db {
            async fn cas_using_profile(&self, profile_id: &ProfileId) -> Result<Vec<CaId>, StoreError> {
                let rows: Vec<(String,)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(q($dialect, "SELECT id FROM ca_view WHERE profile_id = {}")))
                        .bind(profile_id.as_str())
                        .fetch_all(self.read_pool())
                        .await
                        .map_err(classify)?;
                Ok(rows.into_iter().filter_map(|(id,)| CaId::parse(&id).ok()).collect())
            }
        }

        #[async_trait]
        impl CertificateLookup for $db {
            async fn revocable_issued_by(&self, issuers: &[CaId]) -> Result<Vec<IssuedCertificate>, StoreError> {
                let mut found = Vec::new();
                for chunk in issuers.chunks(200) {
                    let mut sql = Sql::new($dialect, "SELECT doc FROM certificate_view WHERE issuer_id IN (");
                    let placeholders: Vec<String> = chunk.iter().map(|id| sql.bind(Bind::Text(id.to_string()))).collect();
                    sql.text.push_str(&placeholders.join(", "));
                    sql.text.push_str(") AND (status IN ('ACTIVE', 'INACTIVE') OR (status = 'REVOKED' AND hold = 1))");
                    for doc in self.docs(sql).await? {
                        found.push(parse_certificate(&doc)?);
                    }
                }
                Ok(found)
            }
        }

        #[async_trait]
        impl IdempotencyStore for $db {
            async fn claim(&self, key: &str, request_hash: &str) -> Result<Claim, StoreError> {
                let inserted = sqlx::query(sqlx::AssertSqlSafe(q(
                    $dialect,
                    "INSERT INTO idempotency (key, request_hash, created_at_us) VALUES ({}, {}, {}) \
                     ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, created_at_us = excluded.created_at_us \
                     WHERE idempotency.status IS NULL AND idempotency.created_at_us < {}",
                )))
                .bind(key)
                .bind(request_hash)
                .bind(now_us())
                .bind(now_us() - crate::database::ABANDONED_CLAIM_US)
                .execute(self.write_pool())
                .await
                .map_err(classify)?;
                if inserted.rows_affected() == 1 {
                    return Ok(Claim::Claimed);
                }
                let row: Option<crate::database::IdempotencyRow> = sqlx::query_as(sqlx::AssertSqlSafe(q(
                    $dialect,
                    "SELECT request_hash, status, headers, body FROM idempotency WHERE key = {}",
                )))
                .bind(key)
                .fetch_optional(self.write_pool())
                .await
                .map_err(classify)?;
                crate::database::claim_from_row(row, request_hash)
            }

            async fn complete(&self, key: &str, response: &StoredResponse) -> Result<(), StoreError> {
                let headers = serde_json::to_string(&response.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query(sqlx::AssertSqlSafe(q(
                    $dialect,
                    "UPDATE idempotency SET status = {}, headers = {}, body = {} WHERE key = {}",
                )))
                .bind(i64::from(response.status))
                .bind(headers)
                .bind(&response.body)
                .bind(key)
                .execute(self.write_pool())
                .await
                .map_err(classify)?;
                Ok(())
            }

            async fn release(&self, key: &str) -> Result<(), StoreError> {
                sqlx::query(sqlx::AssertSqlSafe(q($dialect, "DELETE FROM idempotency WHERE key = {}")))
                    .bind(key)
                    .execute(self.write_pool())
                    .await
                    .map_err(classify)?;
                Ok(())
            }
        }
    };
}

pub(crate) use view_store;
