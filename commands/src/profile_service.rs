//! Issuance profile commands: create, update, delete (refused while a CA uses the profile).

use std::sync::Arc;

use async_trait::async_trait;
use shedu_domain::DomainError;
use shedu_domain::ids::{CaId, ProfileId};
use shedu_domain::profile::{self, IssuanceProfile, ProfileCommand, ProfileEvent, ProfileInput, ProfileState};
use uuid::Uuid;

use crate::CommandError;
use crate::ca_service::CommandContext;
use crate::clock::Clock;
use crate::event_store::{AppendRequest, EventStore, ExpectedVersion, StoreError};
use crate::stream::{Loaded, load, new_events};

/// Which CAs name a profile as their default, from a (caught-up) view.
#[async_trait]
pub trait ProfileUsage: Send + Sync {
    async fn cas_using_profile(&self, profile_id: &ProfileId) -> Result<Vec<CaId>, StoreError>;
}

#[derive(Debug, Clone)]
pub struct ProfileOutcome {
    pub profile: ProfileState,
    pub position: i64,
}

pub struct ProfileService {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    usage: Arc<dyn ProfileUsage>,
}

/// The profile `id` as its stream says, if it exists and is not deleted.
pub async fn load_profile(store: &dyn EventStore, id: &ProfileId) -> Result<Loaded<ProfileState>, CommandError> {
    load(store, &id.stream_id(), ProfileEvent::from_stored, profile::evolve).await
}

/// The profile and its stream version, or a 422 naming it: used where a profile is referenced
/// from another resource.
pub async fn existing_profile(store: &dyn EventStore, id: &ProfileId) -> Result<(IssuanceProfile, u64), CommandError> {
    let loaded = load_profile(store, id).await?;
    match loaded.state {
        Some(state) if !state.deleted => Ok((state.profile, loaded.version)),
        _ => Err(DomainError::Rule(format!("issuance profile '{id}' does not exist")).into()),
    }
}

impl ProfileService {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, usage: Arc<dyn ProfileUsage>) -> Self {
        ProfileService { store, clock, usage }
    }

    pub async fn create(&self, ctx: &CommandContext, mut input: ProfileInput) -> Result<ProfileOutcome, CommandError> {
        let id = match input.id.take().filter(|id| !id.is_empty()) {
            Some(id) => ProfileId::parse(&id)?,
            None => ProfileId::parse(&Uuid::new_v4().to_string())?,
        };
        let profile = IssuanceProfile::parse(id.clone(), input)?;
        self.run(ctx, &id, ProfileCommand::Create(profile), |_| Ok(())).await
    }

    pub async fn update(
        &self,
        ctx: &CommandContext,
        id: &ProfileId,
        mut input: ProfileInput,
    ) -> Result<ProfileOutcome, CommandError> {
        if input.id.take().is_some_and(|body_id| body_id != id.as_str()) {
            return Err(DomainError::invalid("id", "does not match the profile in the path").into());
        }
        let profile = IssuanceProfile::parse(id.clone(), input)?;
        self.run(ctx, id, ProfileCommand::Update(profile), |_| Ok(())).await
    }

    pub async fn delete(&self, ctx: &CommandContext, id: &ProfileId) -> Result<ProfileOutcome, CommandError> {
        let users = self.usage.cas_using_profile(id).await?;
        self.run(ctx, id, ProfileCommand::Delete, |_| {
            if users.is_empty() {
                Ok(())
            } else {
                Err(DomainError::Conflict(format!("profile '{id}' is the default profile of CA(s) {users:?}")))
            }
        })
        .await
    }

    pub async fn profile(&self, id: &ProfileId) -> Result<ProfileState, CommandError> {
        match load_profile(self.store.as_ref(), id).await?.state {
            Some(state) if !state.deleted => Ok(state),
            _ => Err(DomainError::NotFound(format!("profile '{id}'")).into()),
        }
    }

    async fn run(
        &self,
        ctx: &CommandContext,
        id: &ProfileId,
        command: ProfileCommand,
        check: impl FnOnce(&ProfileState) -> Result<(), DomainError>,
    ) -> Result<ProfileOutcome, CommandError> {
        let now = self.clock.now();
        let loaded = load_profile(self.store.as_ref(), id).await?;
        if let Some(state) = loaded.state.as_ref().filter(|s| !s.deleted) {
            check(state)?;
        }
        let events = profile::decide(loaded.state.as_ref(), &command, now)?;
        let fold = |state| events.iter().fold(state, profile::evolve);
        if events.is_empty() {
            let profile = loaded.state.ok_or_else(|| DomainError::NotFound(format!("profile '{id}'")))?;
            return Ok(ProfileOutcome { profile, position: loaded.last_position });
        }
        let expected =
            if loaded.version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(loaded.version) };
        let appended = self
            .store
            .append(AppendRequest::single(id.stream_id(), expected, new_events(&events, ctx, None, now)))
            .await?;
        let profile = fold(loaded.state).ok_or_else(|| CommandError::Internal("profile vanished".into()))?;
        Ok(ProfileOutcome { profile, position: appended.last_position })
    }
}
