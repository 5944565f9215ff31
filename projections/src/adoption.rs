//! The adoption reactor: places imported CAs under their issuer whatever order a chain arrives
//! in. On each CA creation or import it adopts the orphans the new CA signed; on each import of
//! an orphan it looks for its issuer once more (committed meanwhile); on each `ca.reparent` it
//! places the CA's subordinates again, so levels follow down the tree. Each step is decided on
//! the aggregates' current state and changes nothing when repeated, so reprocessing after a
//! crash is harmless.

use std::sync::Arc;
use std::time::Duration;

use shedu_commands::CommandError;
use shedu_commands::ca_service::CaService;
use shedu_commands::context::CommandContext;
use shedu_commands::event_store::{EventStore, RecordedEvent};
use shedu_domain::aggregate::DomainEvent;
use shedu_domain::ca::CaEvent;
use shedu_domain::ids::CaId;
use tokio::sync::{Notify, watch};

use crate::progress::Progress;
use crate::reactor_checkpoint::ReactorCheckpoint;
use crate::store::ViewStore;

pub const CHECKPOINT: &str = "adoption";
const BATCH: usize = 500;

pub struct AdoptionReactor {
    store: Arc<dyn EventStore>,
    views: Arc<dyn ViewStore>,
    progress: Progress,
    cas: Arc<CaService>,
    checkpoint: ReactorCheckpoint,
}

impl AdoptionReactor {
    pub fn new(store: Arc<dyn EventStore>, views: Arc<dyn ViewStore>, progress: Progress, cas: Arc<CaService>) -> Self {
        AdoptionReactor { store, views, progress, cas, checkpoint: ReactorCheckpoint::new(CHECKPOINT) }
    }

    pub async fn catch_up(&self) -> Result<(), CommandError> {
        let mut held = self.checkpoint.hold(self.views.as_ref()).await?;
        loop {
            let events = self.store.read_all(held.cursor, BATCH).await?;
            let Some(last) = events.last() else {
                held.finish();
                return Ok(());
            };
            let mut acted = false;
            for event in &events {
                acted |= self.react(event).await?;
            }
            // Saved at once after acting: CAs are few, issuance is passed over.
            self.checkpoint.advance(self.views.as_ref(), &mut held, last.cursor(), acted).await?;
        }
    }

    /// Reacts to one event; true when it was a CA arriving or moving.
    async fn react(&self, event: &RecordedEvent) -> Result<bool, CommandError> {
        let Some(id) = event.stream_id.strip_prefix("ca-") else { return Ok(false) };
        let arrived = matches!(event.event_type.as_str(), "ca.create" | "ca.import");
        if !arrived && event.event_type != "ca.reparent" {
            return Ok(false);
        }
        let id = CaId::parse(id)?;
        let ctx = CommandContext {
            actor: "shedu-adoption".into(),
            correlation_id: event.event_id.to_string(),
            request_key: None,
        };
        // The orphans the views list must include every CA committed before this event.
        while !self
            .progress
            .wait_for(self.store.as_ref(), self.views.as_ref(), event.position, Duration::from_secs(5))
            .await?
        {}
        if arrived {
            if let CaEvent::Imported(imported) =
                CaEvent::from_stored(&event.event_type, event.schema_version, &event.data)?
                && imported.issuer_metadata.is_none()
            {
                self.cas.find_parent(&ctx, &id).await?;
            }
            self.cas.adopt_orphans_of(&ctx, &id).await?;
        } else {
            self.cas.replace_subordinates(&ctx, &id).await?;
        }
        Ok(true)
    }

    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, shutdown: watch::Receiver<bool>, poll: Duration) {
        crate::runner::keep_caught_up("adoption reactor", wake, shutdown, poll, || self.catch_up()).await
    }
}
