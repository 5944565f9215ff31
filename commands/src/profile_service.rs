//! Issuance profile commands: create, update, delete (refused while a CA uses the profile).

use std::sync::Arc;

use async_trait::async_trait;
use shedu_domain::ids::{CaId, ProfileId};
use shedu_domain::profile::{IssuanceProfile, ProfileCommand, ProfileInput, ProfileState};
use shedu_domain::{DomainError, Resource};
use uuid::Uuid;

use crate::CommandError;
use crate::clock::Clock;
use crate::context::{CommandContext, Outcome};
use crate::event_store::{EventStore, StoreError};
use crate::runner::{Runner, read};

/// Which CAs name a profile as their default, from a (caught-up) view.
#[async_trait]
pub trait ProfileUsage: Send + Sync {
    async fn cas_using_profile(&self, profile_id: &ProfileId) -> Result<Vec<CaId>, StoreError>;
}

/// How many profiles the service keeps as last read.
const CACHED_PROFILES: usize = 256;

pub struct ProfileService {
    profiles: Runner<ProfileState>,
    usage: Arc<dyn ProfileUsage>,
}

/// A stored profile and the version of its stream.
pub struct ExistingProfile {
    pub profile: IssuanceProfile,
    pub version: u64,
}

/// The profile `id` as its stream says, or a 422 naming it: used where a profile is referenced
/// from another resource (a CA's default, a signing request).
pub async fn existing_profile(store: &dyn EventStore, id: &ProfileId) -> Result<ExistingProfile, CommandError> {
    let loaded = read::<ProfileState>(store, id).await?;
    match loaded.state {
        Some(state) if !state.deleted => Ok(ExistingProfile { profile: state.profile, version: loaded.version }),
        _ => Err(DomainError::UnknownProfile(id.clone()).into()),
    }
}

impl ProfileService {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, usage: Arc<dyn ProfileUsage>) -> Self {
        ProfileService { profiles: Runner::new(store, clock, CACHED_PROFILES), usage }
    }

    pub async fn create(
        &self,
        ctx: &CommandContext,
        mut input: ProfileInput,
    ) -> Result<Outcome<ProfileState>, CommandError> {
        let id = match input.id.take().filter(|id| !id.is_empty()) {
            Some(id) => ProfileId::parse(&id)?,
            None => ProfileId::parse(&Uuid::new_v4().to_string())?,
        };
        let profile = IssuanceProfile::parse(id.clone(), input)?;
        self.profiles.execute(ctx, &id, &ProfileCommand::Create(profile)).await
    }

    pub async fn update(
        &self,
        ctx: &CommandContext,
        id: &ProfileId,
        mut input: ProfileInput,
    ) -> Result<Outcome<ProfileState>, CommandError> {
        if input.id.take().is_some_and(|body_id| body_id != id.as_str()) {
            return Err(DomainError::invalid("id", "does not match the profile in the path").into());
        }
        let profile = IssuanceProfile::parse(id.clone(), input)?;
        self.profiles.execute(ctx, id, &ProfileCommand::Update(profile)).await
    }

    pub async fn delete(&self, ctx: &CommandContext, id: &ProfileId) -> Result<Outcome<ProfileState>, CommandError> {
        let used_by = self.usage.cas_using_profile(id).await?;
        self.profiles.execute(ctx, id, &ProfileCommand::Delete { used_by }).await
    }

    pub async fn profile(&self, id: &ProfileId) -> Result<ProfileState, CommandError> {
        let loaded = self.profiles.load(id).await?;
        loaded.require(id).cloned().map_err(|_| DomainError::NotFound(Resource::Profile(id.clone())).into())
    }
}
