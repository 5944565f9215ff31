//! Test fixtures and the given/when/then vocabulary shared by the domain's tests.

use time::OffsetDateTime;
use time::macros::datetime;

use crate::DomainError;
use crate::aggregate::Aggregate;
use crate::ca::{Ca, CaCommand, CaEvent, CaType, KeyRef, NewCa, SecurityLevel};
use crate::certificate::CertificateInfo;
use crate::ids::{CaId, EngineId, KeyId, SerialNumber};
use crate::key::{KeyMetadata, KeyType};
use crate::metadata::Metadata;
use crate::subject::Subject;

pub(crate) const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

/// A CA certificate valid from 1 January 2026 until `valid_to`.
pub(crate) fn ca_certificate(valid_to: OffsetDateTime) -> CertificateInfo {
    let subject = Subject { common_name: "Root".into(), ..Subject::default() };
    CertificateInfo {
        serial_number: SerialNumber::parse("4a01").unwrap(),
        pem: "-----BEGIN CERTIFICATE-----".into(),
        subject: subject.clone(),
        issuer: subject,
        subject_key_id: "aa".into(),
        authority_key_id: None,
        valid_from: datetime!(2026-01-01 0:00 UTC),
        valid_to,
        key_metadata: KeyMetadata::new(KeyType::Ecdsa, 256),
        key_usage: vec!["CertSign".into(), "CRLSign".into()],
        extended_key_usage: vec![],
        is_ca: true,
        path_len_constraint: None,
    }
}

/// A managed root valid until 2046, with a software key.
pub(crate) fn new_ca(id: &str) -> NewCa {
    NewCa {
        id: CaId::parse(id).unwrap(),
        ca_type: CaType::Managed,
        level: 0,
        issuer_metadata: None,
        certificate: ca_certificate(datetime!(2046-01-01 0:00 UTC)),
        key: Some(KeyRef { engine_id: EngineId::parse("sw").unwrap(), key_id: KeyId::parse("ab").unwrap() }),
        security_level: Some(SecurityLevel::SL0),
        profile_id: None,
        metadata: Metadata::new(),
        max_path_len: None,
    }
}

pub(crate) fn ca_created(id: &str) -> CaEvent {
    let new = new_ca(id);
    crate::ca::decide(&new.id.clone(), None, &CaCommand::Create(new), NOW).unwrap().remove(0)
}

/// The state of a CA after `events`.
pub(crate) fn ca_after(events: &[CaEvent]) -> Ca {
    Ca::replay(events).expect("the events create a CA")
}

/// A stream's history, to decide a command against.
pub(crate) struct Given<A: Aggregate> {
    id: A::Id,
    events: Vec<A::Event>,
}

pub(crate) fn given<A: Aggregate>(id: A::Id, events: impl IntoIterator<Item = A::Event>) -> Given<A> {
    Given { id, events: events.into_iter().collect() }
}

impl<A: Aggregate> Given<A> {
    pub(crate) fn when(&self, command: A::Command) -> Decided<A::Event> {
        self.when_at(command, NOW)
    }

    pub(crate) fn when_at(&self, command: A::Command, now: OffsetDateTime) -> Decided<A::Event> {
        let state = A::replay(&self.events);
        Decided(A::decide(&self.id, state.as_ref(), &command, now))
    }

    pub(crate) fn state(&self) -> Option<A> {
        A::replay(&self.events)
    }
}

/// What a command decided.
#[derive(Debug)]
pub(crate) struct Decided<E>(pub(crate) Result<Vec<E>, DomainError>);

impl<E: std::fmt::Debug + PartialEq> Decided<E> {
    pub(crate) fn then(self, expected: impl IntoIterator<Item = E>) {
        assert_eq!(self.0, Ok(expected.into_iter().collect::<Vec<_>>()));
    }

    pub(crate) fn then_nothing(self) {
        self.then([]);
    }

    pub(crate) fn then_err(self, expected: DomainError) {
        assert_eq!(self.0, Err(expected));
    }

    /// The decided events, for assertions on what they carry.
    pub(crate) fn events(self) -> Vec<E> {
        match self.0 {
            Ok(events) => events,
            Err(e) => panic!("refused: {e}"),
        }
    }
}

/// `then_err` for plain decisions (functions over values rather than streams).
pub(crate) trait ThenErr {
    fn then_err(self, expected: DomainError);
}

impl<T: std::fmt::Debug> ThenErr for Result<T, DomainError> {
    fn then_err(self, expected: DomainError) {
        match self {
            Err(e) => assert_eq!(e, expected),
            Ok(value) => panic!("expected {expected:?}, decided {value:?}"),
        }
    }
}
