//! Profile commands and events: `profile.issuance.create|update|delete`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::definition::{IssuanceProfile, ProfileState};
use crate::DomainError;
use crate::aggregate::{Aggregate, DomainEvent, UnknownEvent};
use crate::error::Resource;
use crate::ids::{CaId, ProfileId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileCommand {
    Create(IssuanceProfile),
    Update(IssuanceProfile),
    /// `used_by`: the CAs whose default profile this is, as far as the caller knows.
    Delete {
        used_by: Vec<CaId>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSaved {
    pub profile: IssuanceProfile,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileDeleted {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileEvent {
    Created(ProfileSaved),
    Updated(ProfileSaved),
    Deleted(ProfileDeleted),
}

const CREATE: &str = "profile.issuance.create";
const UPDATE: &str = "profile.issuance.update";
const DELETE: &str = "profile.issuance.delete";

impl DomainEvent for ProfileEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ProfileEvent::Created(_) => CREATE,
            ProfileEvent::Updated(_) => UPDATE,
            ProfileEvent::Deleted(_) => DELETE,
        }
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn to_data(&self) -> Value {
        let data = match self {
            ProfileEvent::Created(e) | ProfileEvent::Updated(e) => serde_json::to_value(e),
            ProfileEvent::Deleted(e) => serde_json::to_value(e),
        };
        data.unwrap_or(Value::Null)
    }

    fn from_stored(event_type: &str, schema_version: u32, data: &Value) -> Result<Self, UnknownEvent> {
        let unknown = |reason: String| UnknownEvent::new(event_type, schema_version, reason);
        if schema_version != 1 {
            return Err(unknown("no upcaster for this schema version".into()));
        }
        let event = match event_type {
            CREATE => ProfileSaved::deserialize(data).map(ProfileEvent::Created),
            UPDATE => ProfileSaved::deserialize(data).map(ProfileEvent::Updated),
            DELETE => ProfileDeleted::deserialize(data).map(ProfileEvent::Deleted),
            _ => return Err(unknown("not a profile event".into())),
        };
        event.map_err(|e| unknown(e.to_string()))
    }
}

impl Aggregate for ProfileState {
    type Id = ProfileId;
    type Command = ProfileCommand;
    type Event = ProfileEvent;

    fn stream_id(id: &ProfileId) -> String {
        id.stream_id()
    }

    fn resource(id: &ProfileId) -> Resource {
        Resource::Profile(id.clone())
    }

    fn is_deleted(&self) -> bool {
        self.deleted
    }

    fn decide(
        id: &ProfileId,
        state: Option<&ProfileState>,
        command: &ProfileCommand,
        now: OffsetDateTime,
    ) -> Result<Vec<ProfileEvent>, DomainError> {
        decide(id, state, command, now)
    }

    fn evolve(state: Option<ProfileState>, event: &ProfileEvent) -> Option<ProfileState> {
        evolve(state, event)
    }
}

pub fn decide(
    id: &ProfileId,
    state: Option<&ProfileState>,
    command: &ProfileCommand,
    now: OffsetDateTime,
) -> Result<Vec<ProfileEvent>, DomainError> {
    let what = || Resource::Profile(id.clone());
    match (state, command) {
        // A deleted profile's id stays taken: its history stays under it.
        (Some(_), ProfileCommand::Create(_)) => Err(DomainError::AlreadyExists(what())),
        (None, ProfileCommand::Create(p)) if p.id != *id => {
            Err(DomainError::BrokenInvariant("a profile is created on its own stream"))
        }
        (None, ProfileCommand::Create(p)) => {
            Ok(vec![ProfileEvent::Created(ProfileSaved { profile: p.clone(), at: now })])
        }
        (Some(s), _) if s.deleted => Err(DomainError::NotFound(what())),
        (None, _) => Err(DomainError::NotFound(what())),
        (Some(s), ProfileCommand::Update(p)) if s.profile == *p => Ok(vec![]),
        (Some(_), ProfileCommand::Update(p)) => {
            Ok(vec![ProfileEvent::Updated(ProfileSaved { profile: p.clone(), at: now })])
        }
        (Some(_), ProfileCommand::Delete { used_by }) if !used_by.is_empty() => {
            Err(DomainError::ProfileInUse { id: id.clone(), cas: used_by.clone() })
        }
        (Some(_), ProfileCommand::Delete { .. }) => Ok(vec![ProfileEvent::Deleted(ProfileDeleted { at: now })]),
    }
}

pub fn evolve(state: Option<ProfileState>, event: &ProfileEvent) -> Option<ProfileState> {
    match (state, event) {
        (None, ProfileEvent::Created(e)) => Some(ProfileState {
            profile: e.profile.clone(),
            deleted: false,
            created_at: e.at,
            updated_at: e.at,
            version: 1,
        }),
        (Some(mut s), ProfileEvent::Updated(e)) => {
            s.profile = e.profile.clone();
            s.updated_at = e.at;
            s.version += 1;
            Some(s)
        }
        (Some(mut s), ProfileEvent::Deleted(e)) => {
            s.deleted = true;
            s.updated_at = e.at;
            s.version += 1;
            Some(s)
        }
        (Some(mut s), ProfileEvent::Created(_)) => {
            s.version += 1;
            Some(s)
        }
        (None, _) => None,
    }
}

pub fn replay<'a>(events: impl IntoIterator<Item = &'a ProfileEvent>) -> Option<ProfileState> {
    events.into_iter().fold(None, evolve)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::profile::ProfileInput;
    use crate::testing::{Given, NOW, given};

    fn id() -> ProfileId {
        ProfileId::parse("device-1y").unwrap()
    }

    fn definition(duration: &str) -> IssuanceProfile {
        let input: ProfileInput = serde_json::from_value(json!({
            "name": "Device", "validity": {"type": "Duration", "duration": duration},
            "key_usage": ["DigitalSignature"], "extended_key_usages": ["ClientAuth"],
        }))
        .unwrap();
        IssuanceProfile::parse(id(), input).unwrap()
    }

    fn created() -> ProfileEvent {
        ProfileEvent::Created(ProfileSaved { profile: definition("1y"), at: NOW })
    }

    fn profile(events: impl IntoIterator<Item = ProfileEvent>) -> Given<ProfileState> {
        given(id(), events)
    }

    fn deleted() -> ProfileEvent {
        ProfileEvent::Deleted(ProfileDeleted { at: NOW })
    }

    #[test]
    fn a_profile_is_created_once_and_its_id_never_reused() {
        profile([]).when(ProfileCommand::Create(definition("1y"))).then([created()]);
        profile([created()])
            .when(ProfileCommand::Create(definition("1y")))
            .then_err(DomainError::AlreadyExists(Resource::Profile(id())));
        profile([created(), deleted()])
            .when(ProfileCommand::Create(definition("1y")))
            .then_err(DomainError::AlreadyExists(Resource::Profile(id())));
    }

    #[test]
    fn an_update_records_only_a_change() {
        profile([created()]).when(ProfileCommand::Update(definition("1y"))).then_nothing();
        let changed = profile([created()]).when(ProfileCommand::Update(definition("2y"))).events();
        assert!(matches!(&changed[..], [ProfileEvent::Updated(e)] if e.profile == definition("2y")));
    }

    #[test]
    fn a_profile_in_use_is_not_deleted() {
        let users = vec![CaId::parse("issuing").unwrap()];
        profile([created()])
            .when(ProfileCommand::Delete { used_by: users.clone() })
            .then_err(DomainError::ProfileInUse { id: id(), cas: users });
        profile([created()]).when(ProfileCommand::Delete { used_by: vec![] }).then([deleted()]);
    }

    #[test]
    fn a_deleted_or_unknown_profile_is_not_found() {
        let update = ProfileCommand::Update(definition("2y"));
        profile([created(), deleted()]).when(update.clone()).then_err(DomainError::NotFound(Resource::Profile(id())));
        profile([]).when(update).then_err(DomainError::NotFound(Resource::Profile(id())));
    }
}
