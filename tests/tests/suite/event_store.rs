//! The event-store conformance suite, run against SQLite and PostgreSQL alike.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use shedu_commands::event_store::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, LogCursor, NewEvent, StoreError, StreamGuard,
    StreamWrite, verify_chain,
};
use shedu_tests::{Backend, TestDb, both_backends, read_log};
use uuid::Uuid;

async fn store(backend: Backend) -> (TestDb, Arc<dyn EventStore>) {
    let db = TestDb::new(backend).await;
    let store = db.open().await.event_store();
    (db, store)
}

fn event(n: u32) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "test.happened".into(),
        schema_version: 1,
        data: json!({ "n": n, "nested": { "b": 1, "a": [1, 2] } }),
        metadata: EventMetadata { actor: "tester".into(), correlation_id: "c-1".into(), causation_id: None },
        recorded_at: shedu_commands::clock::truncate_to_micros(time::OffsetDateTime::now_utc()),
    }
}

fn write(stream: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> StreamWrite {
    StreamWrite { stream_id: stream.into(), expected, events }
}

both_backends!(
    appends_and_reads_a_stream_with_a_hash_chain,
    a_stale_expected_version_conflicts_and_writes_nothing,
    a_multi_stream_append_is_all_or_nothing,
    a_retried_append_is_idempotent,
    a_duplicate_event_id_is_refused_and_writes_nothing,
    guards_hold_without_writing,
    single_writes_at_once_each_get_their_own_result,
    the_global_log_is_read_in_order_after_a_cursor,
    concurrent_writers_never_make_a_reader_skip_or_repeat,
    an_append_of_forty_thousand_streams_commits_whole,
);

/// A revocation cascading to every certificate of a busy CA names one stream per certificate:
/// more than a database takes variables in one statement (SQLite: 32,766).
async fn an_append_of_forty_thousand_streams_commits_whole(backend: Backend) {
    let (_db, store) = store(backend).await;
    let streams: Vec<String> = (0..40_000).map(|n| format!("cert-{n}")).collect();
    let create = |s: &String| write(s, ExpectedVersion::NoStream, vec![event(1)]);
    let created = store.append(AppendRequest { writes: streams.iter().map(create).collect(), guards: vec![] }).await;
    assert!(created.is_ok(), "{created:?}");
    let revoke = |s: &String| write(s, ExpectedVersion::Exact(1), vec![event(2)]);
    let guards = vec![StreamGuard::exact("cert-0-issuer", 0)];
    let mut writes: Vec<StreamWrite> = streams.iter().map(revoke).collect();
    writes.push(write("ca", ExpectedVersion::NoStream, vec![event(3)]));
    let revoked = store.append(AppendRequest { writes, guards }).await.unwrap();
    assert_eq!(revoked.last_position - revoked.first_position, 40_000);
    assert_eq!(store.read_stream("cert-39999").await.unwrap().len(), 2);
}

async fn appends_and_reads_a_stream_with_a_hash_chain(backend: Backend) {
    let (_db, store) = store(backend).await;
    let events = vec![event(1), event(2), event(3)];
    let appended = store.append(AppendRequest::single("s-1", ExpectedVersion::NoStream, events.clone())).await.unwrap();
    assert_eq!(appended.last_position - appended.first_position, 2);
    let read = store.read_stream("s-1").await.unwrap();
    assert_eq!(read.iter().map(|e| e.stream_version).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(read[0].data, events[0].data);
    assert_eq!(read[0].metadata, events[0].metadata);
    assert_eq!(read[0].recorded_at, events[0].recorded_at);
    assert_eq!(read[1].prev_hash, read[0].hash);
    verify_chain(&read).unwrap();
    // Numbers that a normalising store would rewrite must read back as they were hashed.
    let odd = NewEvent { data: json!({ "neg_zero": -0.0, "exp": 1e2, "big": 1.5e300, "u": u64::MAX }), ..event(9) };
    store.append(AppendRequest::single("s-odd", ExpectedVersion::NoStream, vec![odd])).await.unwrap();
    verify_chain(&store.read_stream("s-odd").await.unwrap()).unwrap();
    let mut tampered = read.clone();
    tampered[1].data = json!({ "n": 99 });
    assert!(verify_chain(&tampered).is_err());
    store.append(AppendRequest::single("s-1", ExpectedVersion::Exact(3), vec![event(4)])).await.unwrap();
    verify_chain(&store.read_stream("s-1").await.unwrap()).unwrap();
    let tail = store.read_stream_after("s-1", 2).await.unwrap();
    assert_eq!(tail.iter().map(|e| e.stream_version).collect::<Vec<_>>(), vec![3, 4]);
    assert!(store.read_stream_after("s-1", 4).await.unwrap().is_empty());
    assert!(store.read_stream("missing").await.unwrap().is_empty());
}

async fn a_stale_expected_version_conflicts_and_writes_nothing(backend: Backend) {
    let (_db, store) = store(backend).await;
    store.append(AppendRequest::single("s", ExpectedVersion::NoStream, vec![event(1), event(2)])).await.unwrap();
    let head = store.head().await.unwrap();
    let again = store.append(AppendRequest::single("s", ExpectedVersion::NoStream, vec![event(3)])).await;
    assert!(matches!(again, Err(StoreError::Conflict { actual: 2, .. })), "{again:?}");
    let stale = store.append(AppendRequest::single("s", ExpectedVersion::Exact(1), vec![event(3)])).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{stale:?}");
    assert_eq!(store.head().await.unwrap(), head);
    assert_eq!(store.read_stream("s").await.unwrap().len(), 2);
}

async fn a_multi_stream_append_is_all_or_nothing(backend: Backend) {
    let (_db, store) = store(backend).await;
    store.append(AppendRequest::single("b", ExpectedVersion::NoStream, vec![event(1)])).await.unwrap();
    let request = AppendRequest {
        writes: vec![
            write("a", ExpectedVersion::NoStream, vec![event(2)]),
            write("b", ExpectedVersion::Exact(5), vec![event(3)]),
        ],
        guards: vec![],
    };
    assert!(matches!(store.append(request).await, Err(StoreError::Conflict { stream_id, .. }) if stream_id == "b"));
    assert!(store.read_stream("a").await.unwrap().is_empty());
    let request = AppendRequest {
        writes: vec![
            write("a", ExpectedVersion::NoStream, vec![event(2)]),
            write("b", ExpectedVersion::Exact(1), vec![event(3)]),
        ],
        guards: vec![],
    };
    store.append(request).await.unwrap();
    assert_eq!(store.read_stream("a").await.unwrap().len(), 1);
    assert_eq!(store.read_stream("b").await.unwrap().len(), 2);
}

async fn a_retried_append_is_idempotent(backend: Backend) {
    let (_db, store) = store(backend).await;
    let request = AppendRequest::single("s", ExpectedVersion::NoStream, vec![event(1), event(2)]);
    let first = store.append(request.clone()).await.unwrap();
    let retry = store.append(request.clone()).await.unwrap();
    assert_eq!(first, retry);
    assert_eq!(store.read_stream("s").await.unwrap().len(), 2);
    let mut elsewhere = request.clone();
    elsewhere.writes[0].stream_id = "other".into();
    assert!(matches!(store.append(elsewhere).await, Err(StoreError::DuplicateEvent(_))));
    assert!(store.read_stream("other").await.unwrap().is_empty());
}

/// Only the database can see an event id repeated within one append, as nothing of it is stored:
/// the store must recognise the unique violation by its code, whichever way the append goes
/// (in a commit group, alone, or with several writes).
async fn a_duplicate_event_id_is_refused_and_writes_nothing(backend: Backend) {
    let (_db, store) = store(backend).await;
    let repeated = event(1);
    let twice = AppendRequest::single("twice", ExpectedVersion::NoStream, vec![repeated.clone(), repeated]);
    let result = store.append(twice).await;
    assert!(matches!(result, Err(StoreError::DuplicateEvent(_))), "{result:?}");
    assert!(store.read_stream("twice").await.unwrap().is_empty());

    let stored = event(2);
    store.append(AppendRequest::single("s", ExpectedVersion::NoStream, vec![stored.clone()])).await.unwrap();
    let request = AppendRequest {
        writes: vec![
            write("a", ExpectedVersion::NoStream, vec![event(3)]),
            write("b", ExpectedVersion::NoStream, vec![event(4), stored.clone()]),
        ],
        guards: vec![],
    };
    let result = store.append(request).await;
    assert!(matches!(result, Err(StoreError::DuplicateEvent(_))), "{result:?}");
    assert!(store.read_stream("a").await.unwrap().is_empty());

    // Appends arriving together: the one reusing an id fails alone.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let request = if i == 3 {
                AppendRequest::single("reused", ExpectedVersion::NoStream, vec![event(5), stored.clone()])
            } else {
                AppendRequest::single(format!("fresh-{i}"), ExpectedVersion::NoStream, vec![event(i)])
            };
            let store = store.clone();
            tokio::spawn(async move { store.append(request).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        if i == 3 {
            assert!(matches!(result, Err(StoreError::DuplicateEvent(_))), "{result:?}");
        } else {
            result.unwrap();
        }
    }
    assert_eq!(read_log(store.as_ref()).await.len(), 1 + 7);
}

async fn guards_hold_without_writing(backend: Backend) {
    let (_db, store) = store(backend).await;
    store.append(AppendRequest::single("ca", ExpectedVersion::NoStream, vec![event(1)])).await.unwrap();
    let guarded = |version| AppendRequest {
        writes: vec![write(&format!("cert-{version}-{}", Uuid::new_v4()), ExpectedVersion::NoStream, vec![event(2)])],
        guards: vec![StreamGuard::exact("ca", version)],
    };
    store.append(guarded(1)).await.unwrap();
    store.append(guarded(1)).await.unwrap();
    assert_eq!(store.read_stream("ca").await.unwrap().len(), 1, "a guard does not write its stream");
    store.append(AppendRequest::single("ca", ExpectedVersion::Exact(1), vec![event(3)])).await.unwrap();
    assert!(matches!(store.append(guarded(1)).await, Err(StoreError::Conflict { stream_id, .. }) if stream_id == "ca"));
}

/// Single-write appends (issuances creating a stream under a guard, writers racing on one
/// stream) arriving together, as a commit group takes them: each succeeds or fails on its own,
/// and only the successes are stored.
async fn single_writes_at_once_each_get_their_own_result(backend: Backend) {
    let (_db, store) = store(backend).await;
    store.append(AppendRequest::single("ca", ExpectedVersion::NoStream, vec![event(0)])).await.unwrap();
    store.append(AppendRequest::single("taken", ExpectedVersion::NoStream, vec![event(0)])).await.unwrap();
    store.append(AppendRequest::single("busy", ExpectedVersion::NoStream, vec![event(0)])).await.unwrap();
    let stored = AppendRequest::single("again", ExpectedVersion::NoStream, vec![event(0), event(1)]);
    let first = store.append(stored.clone()).await.unwrap();
    let head = store.head().await.unwrap();
    let create = |stream: String, guard_version: u64, events: usize| AppendRequest {
        writes: vec![write(&stream, ExpectedVersion::NoStream, (0..events as u32).map(event).collect())],
        guards: vec![StreamGuard::exact("ca", guard_version)],
    };
    // (request, what it should come to: Some(stream) for a success, None for a conflict)
    let mut cases: Vec<(AppendRequest, Option<String>)> = Vec::new();
    for i in 0..20 {
        cases.push((create(format!("ok-{i}"), 1, 1 + i % 3), Some(format!("ok-{i}"))));
        cases.push((create(format!("stale-{i}"), 0, 1), None));
        cases.push((create("taken".into(), 1, 1), None));
    }
    for _ in 0..10 {
        // Writers racing on an existing stream from one version: exactly one of them wins.
        let request = AppendRequest::single("busy", ExpectedVersion::Exact(1), vec![event(1), event(2)]);
        cases.push((request, Some("busy".into())));
    }
    for j in 0..10 {
        // Two creators of one stream: exactly one of them wins.
        cases.push((create(format!("pair-{j}"), 1, 1), Some(format!("pair-{j}"))));
        cases.push((create(format!("pair-{j}"), 1, 1), Some(format!("pair-{j}"))));
    }
    let tasks: Vec<_> = cases
        .iter()
        .map(|(request, _)| {
            let (store, request) = (store.clone(), request.clone());
            tokio::spawn(async move { store.append(request).await })
        })
        .chain(std::iter::once({
            let (store, request) = (store.clone(), stored.clone());
            tokio::spawn(async move { store.append(request).await })
        }))
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert_eq!(results.pop().unwrap().unwrap(), first, "a retried creation returns its first positions");
    let mut winners: BTreeMap<String, usize> = BTreeMap::new();
    let mut appended = 0;
    for ((request, expected), result) in cases.iter().zip(&results) {
        match (expected, result) {
            (Some(stream), Ok(positions)) if stream == "busy" => {
                *winners.entry(stream.clone()).or_default() += 1;
                let read = store.read_stream(stream).await.unwrap();
                assert_eq!(read.len(), 3);
                assert_eq!(read[1].event_id, request.writes[0].events[0].event_id, "another writer's events");
                assert_eq!((read[1].position, read[2].position), (positions.first_position, positions.last_position));
                verify_chain(&read).unwrap();
                appended += 2;
            }
            (Some(stream), Err(StoreError::Conflict { stream_id, actual, .. })) if stream == "busy" => {
                assert_eq!((stream_id.as_str(), *actual), ("busy", 3));
            }
            (Some(stream), Ok(positions)) => {
                *winners.entry(stream.clone()).or_default() += 1;
                let read = store.read_stream(stream).await.unwrap();
                assert_eq!(read.len(), request.writes[0].events.len());
                assert_eq!(read.first().map(|e| e.position), Some(positions.first_position));
                assert_eq!(read.last().map(|e| e.position), Some(positions.last_position));
                assert_eq!(read[0].event_id, request.writes[0].events[0].event_id, "another creator's events");
                verify_chain(&read).unwrap();
                appended += read.len() as i64;
            }
            (Some(stream), Err(StoreError::Conflict { stream_id, .. })) if stream.starts_with("pair-") => {
                assert_eq!(stream_id, stream);
            }
            (None, Err(StoreError::Conflict { stream_id, actual, .. })) if stream_id == "ca" => assert_eq!(*actual, 1),
            (None, Err(StoreError::Conflict { stream_id, actual, .. })) if stream_id == "taken" => {
                assert_eq!(*actual, 1)
            }
            (expected, result) => panic!("{expected:?} came to {result:?}"),
        }
    }
    assert!(winners.values().all(|n| *n == 1), "a stream was created twice: {winners:?}");
    assert_eq!(winners.len(), 31);
    let log = read_log(store.as_ref()).await;
    assert_eq!(log.len() as i64, 5 + appended, "events of failed appends were stored");
    assert!(store.read_stream("stale-0").await.unwrap().is_empty());
    assert_eq!(store.read_stream("taken").await.unwrap().len(), 1);
    assert!(store.head().await.unwrap() > head);
}

async fn the_global_log_is_read_in_order_after_a_cursor(backend: Backend) {
    let (_db, store) = store(backend).await;
    assert_eq!(store.head_cursor().await.unwrap(), LogCursor::START);
    for i in 0..5 {
        store
            .append(AppendRequest::single(format!("s{i}"), ExpectedVersion::NoStream, vec![event(i), event(i)]))
            .await
            .unwrap();
    }
    let all = read_log(store.as_ref()).await;
    assert_eq!(all.len(), 10);
    assert!(all.windows(2).all(|w| w[0].cursor() < w[1].cursor()));
    let rest = store.read_all(all[3].cursor(), 100).await.unwrap();
    assert_eq!(rest.len(), 6);
    assert_eq!(rest[0].event_id, all[4].event_id);
    assert_eq!(store.read_all(all[3].cursor(), 2).await.unwrap().len(), 2);
    assert_eq!(store.cursor_of(all[4].position).await.unwrap(), Some(all[4].cursor()));
    assert_eq!(store.cursor_of(9_999).await.unwrap(), None);
    assert_eq!(store.head().await.unwrap(), all.iter().map(|e| e.position).max().unwrap());
    assert_eq!(store.head_cursor().await.unwrap(), all.last().unwrap().cursor());
}

/// Many writers append (with retries on conflict) to a few shared streams while a reader tails
/// the log with a checkpoint. Every event must reach the reader once, in its stream's order.
async fn concurrent_writers_never_make_a_reader_skip_or_repeat(backend: Backend) {
    const WRITERS: usize = 12;
    const APPENDS: usize = 40;
    const STREAMS: usize = 6;
    let (_db, store) = store(backend).await;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..APPENDS {
                let stream = format!("stream-{}", (w + i) % STREAMS);
                let event = event((w * APPENDS + i) as u32);
                loop {
                    let version = store.read_stream(&stream).await.unwrap().len() as u64;
                    let expected =
                        if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
                    match store.append(AppendRequest::single(stream.clone(), expected, vec![event.clone()])).await {
                        Ok(_) => break,
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
                ids.push(event.event_id);
            }
            ids
        }));
    }
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut cursor = LogCursor::START;
            let mut seen = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            while seen.len() < WRITERS * APPENDS && tokio::time::Instant::now() < deadline {
                let batch = store.read_all(cursor, 7).await.unwrap();
                if let Some(last) = batch.last() {
                    cursor = last.cursor();
                } else {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                seen.extend(batch);
            }
            seen
        })
    };
    let mut written = HashSet::new();
    for writer in writers {
        written.extend(writer.await.unwrap());
    }
    let seen = reader.await.unwrap();
    let seen_ids: HashSet<Uuid> = seen.iter().map(|e| e.event_id).collect();
    assert_eq!(seen_ids.len(), seen.len(), "an event was delivered twice");
    assert_eq!(seen_ids, written, "the reader missed events");
    let mut last_version: BTreeMap<&str, u64> = BTreeMap::new();
    for event in &seen {
        let last = last_version.entry(&event.stream_id).or_default();
        assert_eq!(event.stream_version, *last + 1, "stream order broken in {}", event.stream_id);
        *last = event.stream_version;
    }
}

/// The PostgreSQL gap: a transaction takes a position, then commits after later positions have
/// committed and been read. A reader checkpointing on position alone would skip it for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_readers_wait_for_a_slow_transaction_instead_of_skipping_it() {
    let db = TestDb::new(Backend::Postgres).await;
    let database = db.open().await;
    let store = database.event_store();
    let shedu_infra::Database::Postgres(pg) = &database else { unreachable!() };

    let mut slow = pg.pool().begin().await.unwrap();
    let (slow_position,): (i64,) = sqlx::query_as(
        "INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, data, metadata, \
         recorded_at_us, prev_hash, hash) VALUES ($1, 'slow', 1, 'test.slow', 1, '{}', \
         '{\"actor\":\"t\",\"correlation_id\":\"c\",\"causation_id\":null}', 0, $2, $2) RETURNING position",
    )
    .bind(Uuid::new_v4())
    .bind(vec![0u8; 32])
    .fetch_one(&mut *slow)
    .await
    .unwrap();

    let fast = store.append(AppendRequest::single("fast", ExpectedVersion::NoStream, vec![event(1)])).await.unwrap();
    assert!(fast.first_position > slow_position);
    let before = store.read_all(LogCursor::START, 100).await.unwrap();
    assert!(before.is_empty(), "nothing may be read past a transaction still in flight: {before:?}");

    slow.commit().await.unwrap();
    let after = read_log(store.as_ref()).await;
    let streams: Vec<&str> = after.iter().map(|e| e.stream_id.as_str()).collect();
    assert_eq!(streams, vec!["slow", "fast"]);
}

/// With autovacuum off or behind, Shedu analyses the log itself once it has changed by more than
/// a tenth: a plan made for an empty log read a CA's stream by scanning every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_statistics_follow_a_growing_log() {
    let db = TestDb::new(Backend::Postgres).await;
    let database = db.open().await;
    let store = database.event_store();
    let shedu_infra::Database::Postgres(pg) = &database else { unreachable!() };
    // Whatever the cluster's setting, autovacuum must not analyse the log behind the test's back.
    sqlx::query("ALTER TABLE events SET (autovacuum_enabled = off)").execute(pg.pool()).await.unwrap();
    let writes: Vec<StreamWrite> =
        (0..1_500).map(|i| write(&format!("grow-{i}"), ExpectedVersion::NoStream, vec![event(i)])).collect();
    store.append(AppendRequest { writes, guards: vec![] }).await.unwrap();
    let events_stat = |column: &'static str| async move {
        let sql = format!("SELECT ({column})::bigint FROM pg_stat_user_tables WHERE relname = 'events'");
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(pg.pool()).await.unwrap();
        n
    };
    let changed_since_analysis = || events_stat("n_mod_since_analyze");
    // Backends report their counts to the statistics system a moment after they commit.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while changed_since_analysis().await < 1_500 {
        assert!(tokio::time::Instant::now() < deadline, "the 1,500 inserts were never counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    database.refresh_statistics().await.unwrap();
    while changed_since_analysis().await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the log was not analysed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Analysed, the table is left alone until it changes again.
    let analyses = events_stat("analyze_count + autoanalyze_count").await;
    database.refresh_statistics().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let again = events_stat("analyze_count + autoanalyze_count").await;
    assert_eq!(again, analyses, "an unchanged table was analysed again");
}
