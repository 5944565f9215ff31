//! A committed event as NATS carries it: a CloudEvents 1.0 structured JSON message
//! (`../shared/spec/API.md`, "Events on NATS"), its subject and its headers.

use bytes::Bytes;
use serde_json::{Value, json};
use shedu_commands::event_store::{LogCursor, RecordedEvent};
use time::format_description::well_known::Rfc3339;

/// Headers that say where in the log a message comes from, so that a relay can resume after the
/// last message the stream holds (`Nats-Msg-Id` carries the event id).
pub const TX_HEADER: &str = "Shedu-Log-Tx";
pub const POSITION_HEADER: &str = "Shedu-Log-Position";
/// Which relay published a message (`<host>/<pid>/<random>`, as its lease names it).
pub const RELAY_HEADER: &str = "Shedu-Relay";

/// What is published for one event.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Outgoing {
    pub(super) subject: String,
    pub(super) message_id: String,
    pub(super) cursor: LogCursor,
    pub(super) payload: Bytes,
}

/// The kind of aggregate a stream holds (`ca`, `certificate`, `profile`) and its id: the stream id
/// is `<kind>-<id>`.
fn split_stream(stream_id: &str) -> (&str, &str) {
    stream_id.split_once('-').unwrap_or((stream_id, ""))
}

/// `<prefix>.<aggregate>.<type>`, e.g. `shedu.events.ca.ca.create`. Event types are dotted
/// lower-case names, which are valid subject tokens as they are.
pub fn subject(prefix: &str, event: &RecordedEvent) -> String {
    let (kind, _) = split_stream(&event.stream_id);
    format!("{prefix}.{kind}.{}", event.event_type)
}

/// The CloudEvent for `event`. `sequence` is the log position, zero-padded to 20 digits because
/// the CloudEvents sequence extension is compared as a string; it orders the events of one
/// aggregate (on PostgreSQL, events of different aggregates may commit out of position order).
pub fn cloud_event(source: &str, event: &RecordedEvent) -> Value {
    let (kind, id) = split_stream(&event.stream_id);
    let time = event.recorded_at.format(&Rfc3339).unwrap_or_default();
    let mut message = json!({
        "specversion": "1.0",
        "id": event.event_id.to_string(),
        "source": source,
        "type": event.event_type,
        "subject": format!("{kind}/{id}"),
        "time": time,
        "datacontenttype": "application/json",
        "data": event.data,
        "sequence": format!("{:020}", event.position),
        "streamversion": event.stream_version,
        "schemaversion": event.schema_version,
        "actor": event.metadata.actor,
        "correlationid": event.metadata.correlation_id,
    });
    if let (Some(causation), Some(fields)) = (&event.metadata.causation_id, message.as_object_mut()) {
        fields.insert("causationid".into(), Value::String(causation.clone()));
    }
    message
}

pub(super) fn outgoing(prefix: &str, source: &str, event: &RecordedEvent) -> Outgoing {
    Outgoing {
        subject: subject(prefix, event),
        message_id: event.event_id.to_string(),
        cursor: event.cursor(),
        // A `Value` always serialises.
        payload: Bytes::from(serde_json::to_vec(&cloud_event(source, event)).unwrap_or_default()),
    }
}

/// The log cursor a message published by a relay carries, if it carries one.
pub(super) fn cursor_of(tx: Option<&str>, position: Option<&str>) -> Option<LogCursor> {
    Some(LogCursor { tx: tx?.parse().ok()?, position: position?.parse().ok()? })
}

#[cfg(test)]
mod tests {
    use shedu_commands::event_store::EventMetadata;
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;

    fn event(stream_id: &str, event_type: &str) -> RecordedEvent {
        RecordedEvent {
            position: 42,
            tx: 7,
            event_id: Uuid::from_u128(1),
            stream_id: stream_id.into(),
            stream_version: 3,
            event_type: event_type.into(),
            schema_version: 1,
            data: json!({"a": 1}),
            metadata: EventMetadata { actor: "alice".into(), correlation_id: "c1".into(), causation_id: None },
            recorded_at: datetime!(2026-12-02 10:00:00.123456 UTC),
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    #[test]
    fn a_ca_event_becomes_a_structured_cloud_event() {
        let e = event("ca-root-1", "ca.create");
        assert_eq!(subject("shedu.events", &e), "shedu.events.ca.ca.create");
        assert_eq!(
            cloud_event("/shedu/test", &e),
            json!({
                "specversion": "1.0",
                "id": "00000000-0000-0000-0000-000000000001",
                "source": "/shedu/test",
                "type": "ca.create",
                "subject": "ca/root-1",
                "time": "2026-12-02T10:00:00.123456Z",
                "datacontenttype": "application/json",
                "data": {"a": 1},
                "sequence": "00000000000000000042",
                "streamversion": 3,
                "schemaversion": 1,
                "actor": "alice",
                "correlationid": "c1",
            })
        );
    }

    #[test]
    fn certificates_and_profiles_get_their_own_subjects() {
        let issued = event("certificate-0a1b", "ca.sign.certificate");
        assert_eq!(subject("p", &issued), "p.certificate.ca.sign.certificate");
        assert_eq!(cloud_event("s", &issued)["subject"], "certificate/0a1b");
        let profile = event("profile-tls-server", "profile.issuance.create");
        assert_eq!(subject("p", &profile), "p.profile.profile.issuance.create");
        assert_eq!(cloud_event("s", &profile)["subject"], "profile/tls-server");
    }

    #[test]
    fn a_causation_id_is_carried_when_there_is_one() {
        let mut e = event("ca-x", "ca.status.update");
        e.metadata.causation_id = Some("cause".into());
        assert_eq!(cloud_event("s", &e)["causationid"], "cause");
        assert!(cloud_event("s", &event("ca-x", "ca.status.update")).get("causationid").is_none());
    }

    #[test]
    fn the_cursor_headers_read_back() {
        assert_eq!(cursor_of(Some("7"), Some("42")), Some(LogCursor { tx: 7, position: 42 }));
        assert_eq!(cursor_of(None, Some("42")), None);
        assert_eq!(cursor_of(Some("x"), Some("42")), None);
    }
}
