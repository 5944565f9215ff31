//! [`CrlStore`] over any [`Backend`]: the revocation view CRLs are built from, the signed CRLs
//! kept for serving, and what the CRL publisher has to do.

use std::time::Duration;

use async_trait::async_trait;
use shedu_commands::crl_service::{CrlDocument, CrlStore, PendingCrl};
use shedu_commands::event_store::StoreError;
use shedu_domain::crl::{Covered, CrlKind, RevocationRecord};
use shedu_domain::ids::{CaId, SerialNumber};
use shedu_domain::status::{Revocation, RevocationReason};
use time::OffsetDateTime;

use super::{VIEWS, Views};
use crate::backend::{Backend, Column, Row, Statements};
use crate::sql::Sql;
use crate::timestamps::{from_micros, micros};

/// Whether a CA gets CRLs: it holds a key and is neither expired nor deleted (a deleted CA leaves
/// the view). A revoked CA keeps publishing: its last CRLs list what its revocation cascaded to.
const ELIGIBLE: &str = "c.key_id IS NOT NULL AND c.status <> 'EXPIRED' AND c.valid_to_us > {}";

#[async_trait]
impl<B: Backend> CrlStore for Views<B> {
    async fn revocations(
        &self,
        issuer: &CaId,
        since: Option<Covered>,
        valid_at: OffsetDateTime,
    ) -> Result<(Covered, Vec<RevocationRecord>), StoreError> {
        let checkpoint = self.checkpoint_of(VIEWS).await?;
        let covers = Covered { tx: checkpoint.tx, position: checkpoint.position };
        let mut sql = Sql::with(
            B::DIALECT,
            "SELECT serial_number, revoked, reason, revoked_at_us, invalidity_at_us, valid_to_us, changed_tx, \
             changed_position FROM revocation_view WHERE issuer_id = {} AND valid_to_us >= {}",
            vec![issuer.as_str().into(), micros(valid_at).into()],
        );
        match since {
            None => sql.push(" AND revoked = 1"),
            Some(base) => {
                let (tx, position) = (sql.bind(base.tx as i64), sql.bind(base.position));
                sql.push(&format!(" AND (changed_tx, changed_position) > ({tx}, {position})"));
            }
        }
        let columns =
            [Column::Text, Column::Int, Column::Int, Column::Int, Column::Int, Column::Int, Column::Int, Column::Int];
        let rows = self.0.readers().fetch(sql, &columns).await?;
        let records = rows.into_iter().map(|row| record(issuer, row)).collect::<Result<_, _>>()?;
        Ok((covers, records))
    }

    async fn save_crl(&self, document: &CrlDocument) -> Result<(), StoreError> {
        let sql = Sql::with(
            B::DIALECT,
            "INSERT INTO crl_documents (ca_id, kind, number, base_number, this_update_us, next_update_us, covers_tx, \
             covers_position, der) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) \
             ON CONFLICT (ca_id, kind) DO UPDATE SET number = excluded.number, base_number = excluded.base_number, \
             this_update_us = excluded.this_update_us, next_update_us = excluded.next_update_us, \
             covers_tx = excluded.covers_tx, covers_position = excluded.covers_position, der = excluded.der \
             WHERE excluded.number > crl_documents.number",
            vec![
                document.ca_id.as_str().into(),
                document.kind.as_str().into(),
                (document.number as i64).into(),
                document.base_number.map(|n| n as i64).into(),
                micros(document.this_update).into(),
                micros(document.next_update).into(),
                (document.covers.tx as i64).into(),
                document.covers.position.into(),
                document.der.clone().into(),
            ],
        );
        self.0.writer().execute(sql).await
    }

    async fn crl(&self, ca: &CaId, kind: CrlKind) -> Result<Option<CrlDocument>, StoreError> {
        let sql = Sql::with(
            B::DIALECT,
            "SELECT number, base_number, this_update_us, next_update_us, covers_tx, covers_position, der \
             FROM crl_documents WHERE ca_id = {} AND kind = {}",
            vec![ca.as_str().into(), kind.as_str().into()],
        );
        let columns = [Column::Int, Column::Int, Column::Int, Column::Int, Column::Int, Column::Int, Column::Bytes];
        let Some(mut row) = self.0.readers().fetch(sql, &columns).await?.into_iter().next() else {
            return Ok(None);
        };
        Ok(Some(CrlDocument {
            ca_id: ca.clone(),
            kind,
            number: row.int()? as u64,
            base_number: row.optional_int()?.map(|n| n as u64),
            this_update: from_micros(row.int()?)?,
            next_update: from_micros(row.int()?)?,
            covers: Covered { tx: row.int()? as u64, position: row.int()? },
            der: row.optional_bytes()?.unwrap_or_default(),
        }))
    }

    async fn pending_crls(
        &self,
        now: OffsetDateTime,
        refresh_before: Duration,
        delta: bool,
        limit: usize,
    ) -> Result<Vec<PendingCrl>, StoreError> {
        let refresh_at = micros(now + refresh_before);
        // A full CRL: none yet, its refresh is due, or (without deltas) a revocation it lacks.
        let changed = "EXISTS (SELECT 1 FROM crl_dirty x WHERE x.issuer_id = c.id AND \
                       (x.changed_tx, x.changed_position) > ({doc}.covers_tx, {doc}.covers_position))";
        let full = format!(
            "SELECT c.id FROM ca_view c LEFT JOIN crl_documents f ON f.ca_id = c.id AND f.kind = 'FULL' \
             WHERE {ELIGIBLE} AND (f.ca_id IS NULL OR f.next_update_us <= {{}}{}) LIMIT {{}}",
            if delta { String::new() } else { format!(" OR {}", changed.replace("{doc}", "f")) }
        );
        let sql = Sql::with(B::DIALECT, &full, vec![micros(now).into(), refresh_at.into(), (limit as i64).into()]);
        let mut pending = self.pending_of(sql, CrlKind::Full).await?;
        if delta && pending.len() < limit {
            // A delta: none yet, one against an older base, its refresh is due, or a change it lacks.
            let deltas = format!(
                "SELECT c.id FROM ca_view c JOIN crl_documents f ON f.ca_id = c.id AND f.kind = 'FULL' \
                 LEFT JOIN crl_documents d ON d.ca_id = c.id AND d.kind = 'DELTA' \
                 WHERE {ELIGIBLE} AND (d.ca_id IS NULL OR d.base_number < f.number OR d.next_update_us <= {{}} OR {}) \
                 LIMIT {{}}",
                changed.replace("{doc}", "d")
            );
            let binds = vec![micros(now).into(), refresh_at.into(), ((limit - pending.len()) as i64).into()];
            let sql = Sql::with(B::DIALECT, &deltas, binds);
            pending.extend(self.pending_of(sql, CrlKind::Delta).await?);
        }
        Ok(pending)
    }

    async fn next_crl_refresh(
        &self,
        now: OffsetDateTime,
        refresh_before: Duration,
        delta: bool,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let kinds = if delta { "('FULL', 'DELTA')" } else { "('FULL')" };
        let sql = Sql::with(
            B::DIALECT,
            &format!(
                "SELECT MIN(f.next_update_us) FROM crl_documents f JOIN ca_view c ON c.id = f.ca_id \
                 WHERE f.kind IN {kinds} AND {ELIGIBLE}"
            ),
            vec![micros(now).into()],
        );
        let rows = self.0.readers().fetch(sql, &[Column::Int]).await?;
        let Some(soonest) = rows.into_iter().next().map(|mut row| row.optional_int()).transpose()?.flatten() else {
            return Ok(None);
        };
        Ok(Some(from_micros(soonest)? - refresh_before))
    }
}

impl<B: Backend> Views<B> {
    async fn pending_of(&self, sql: Sql, kind: CrlKind) -> Result<Vec<PendingCrl>, StoreError> {
        let ids = self.ca_ids(sql).await?;
        Ok(ids.into_iter().map(|ca_id| PendingCrl { ca_id, kind }).collect())
    }
}

fn record(issuer: &CaId, mut row: Row) -> Result<RevocationRecord, StoreError> {
    let serial = row.text()?;
    let revoked = row.int()? == 1;
    let code = row.int()?;
    let reason = RevocationReason::from_code(code as u8)
        .ok_or_else(|| StoreError::Corrupt(format!("revocation view: reason code {code}")))?;
    let revoked_at = from_micros(row.int()?)?;
    let invalidity_date = row.optional_int()?.map(from_micros).transpose()?;
    Ok(RevocationRecord {
        issuer: issuer.clone(),
        serial: SerialNumber::parse(&serial).map_err(|e| StoreError::Corrupt(format!("revocation view: {e}")))?,
        revoked,
        revocation: Revocation { reason, revoked_at, invalidity_date },
        valid_to: from_micros(row.int()?)?,
        changed: Covered { tx: row.int()? as u64, position: row.int()? },
    })
}
