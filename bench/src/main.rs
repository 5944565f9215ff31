//! Shedu's benchmark harness: `bash scripts/bench.sh [--quick]` (or `cargo run --release -p
//! shedu-bench -- [--quick]`, which builds the server separately and slower).
//!
//! Builds the release `shedu` binary, runs it on SQLite and on PostgreSQL as a child process,
//! signs pre-generated CSRs over HTTP at several concurrencies beside cfssl doing the same work,
//! measures the in-process ceiling of that work, and writes `docs/BENCHMARKS.md` and
//! `docs/benchmarks.json`. It asserts nothing about speed.

mod append;
mod ceiling;
mod crls;
mod engines;
mod events;
mod lists;
mod load;
mod procs;
mod scale;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::load::LoadResult;

const LEVELS: [usize; 4] = [1, 8, 32, 128];
const APPEND_CLIENTS: usize = 32;
/// Signing clients while lists are timed.
const LIST_SIGNERS: usize = 32;

#[derive(Serialize)]
struct Backend {
    name: &'static str,
    ready_after_s: f64,
    idle_rss_mib: f64,
    peak_rss_mib: f64,
    issuance: Vec<LoadResult>,
    append: append::AppendResult,
    lists: lists::ListResult,
    scale: scale::ScaleResult,
}

#[derive(Serialize)]
struct Report {
    machine: String,
    date: String,
    commit: String,
    mode: &'static str,
    seconds_per_cell: u64,
    ceiling_certs_per_s: f64,
    ceiling_threads: usize,
    shedu: Vec<Backend>,
    cfssl: Vec<LoadResult>,
    /// pgbench, 32 clients, one event-shaped INSERT per transaction, same PostgreSQL server.
    pgbench_tps: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--scale N [--only sqlite|postgres]`: only the scale phase, with N certificates, printed and
    // not written to docs/; the databases are kept for profiling.
    if let Some(n) = args.iter().position(|a| a == "--scale").and_then(|i| args.get(i + 1)) {
        let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
        return scale_only(n.parse()?, only.as_deref()).await;
    }
    // `--events`: only the relay and scheduler figures (issue 11), printed and written to
    // docs/benchmarks-events.json.
    if args.iter().any(|a| a == "--events") {
        return events_only(quick).await;
    }
    // `--engines`: only the crypto engines' figures (issue 12), printed and written to
    // docs/benchmarks-engines.json.
    if args.iter().any(|a| a == "--engines") {
        return engines_only(quick).await;
    }
    // `--crls`: only revocation publishing (issue 13), printed and written to
    // docs/benchmarks-crls.json.
    if args.iter().any(|a| a == "--crls") {
        return crls_only(quick).await;
    }
    // `--issuance`: only the issuance cells, Shedu on both databases and cfssl, printed
    // (SHEDU_BENCH_SERVER picks the binary, so that two builds can be compared).
    if args.iter().any(|a| a == "--issuance") {
        return issuance_only(Duration::from_secs(if quick { 3 } else { 10 })).await;
    }
    // `--lists`: only list latency under issuance, printed (SHEDU_BENCH_SERVER picks the binary,
    // so that two builds can be compared).
    if args.iter().any(|a| a == "--lists") {
        return lists_only(Duration::from_secs(if quick { 3 } else { 10 })).await;
    }
    let out = args.iter().position(|a| a == "--out").and_then(|i| args.get(i + 1)).map_or("docs".into(), PathBuf::from);
    let cell = Duration::from_secs(if quick { 2 } else { 10 });
    let size = if quick {
        scale::Size { cas: 100, certificates: 10_000, requests_per_query: 100 }
    } else {
        scale::Size { cas: 10_000, certificates: 1_000_000, requests_per_query: 1_000 }
    };
    let scratch = std::env::temp_dir().join(format!("shedu-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&scratch)?;

    eprintln!("generating CSRs");
    let (pems, ders) = csrs(if quick { 64 } else { 512 })?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    eprintln!("measuring the in-process ceiling on {threads} threads");
    let ceiling = ceiling::certs_per_second(Arc::new(ders), threads, cell);

    let binary = procs::build_shedu()?;
    let sign_bodies: Arc<Vec<String>> = Arc::new(pems.iter().map(|p| json!({ "csr": p }).to_string()).collect());
    let mut shedu = Vec::new();
    for name in ["sqlite", "postgres"] {
        eprintln!("shedu on {name}");
        let data_dir = scratch.join(name);
        let database_url = if name == "postgres" { Some(fresh_pg_database().await?) } else { None };
        let server = procs::start_shedu(&binary, &data_dir, database_url.as_deref()).await?;
        setup(&server.base).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = server.rss_mib().0;
        let url = format!("{}/v2/cas/issuing/certificates/sign", server.base);
        let mut issuance = Vec::new();
        for level in LEVELS {
            let result = load::run(&url, sign_bodies.clone(), level, cell, server.pid()).await;
            eprintln!(
                "  {level:>3} clients: {:.0} certs/s, p99 {:.1} ms, server CPU {:.2}",
                result.per_second, result.p99_ms, result.server_cpu
            );
            issuance.push(result);
        }
        let append = append::metadata_patches(&server.base, APPEND_CLIENTS, cell).await?;
        eprintln!("  append, {APPEND_CLIENTS} clients: {:.0} commands/s", append.commands_per_second);
        let lists = lists::under_issuance(&server.base, sign_bodies.clone(), LIST_SIGNERS, cell, server.pid()).await;
        print_lists(&lists);
        let peak = server.rss_mib().1;
        let ready = server.ready_after.as_secs_f64();
        server.stop();
        eprintln!("  scale: {} CAs, {} certificates", size.cas, size.certificates);
        let database_url = if name == "postgres" { Some(fresh_pg_database().await?) } else { None };
        let scale = scale::run(&binary, &scratch.join(format!("{name}-scale")), database_url.as_deref(), size).await?;
        shedu.push(Backend {
            name,
            ready_after_s: ready,
            idle_rss_mib: idle,
            peak_rss_mib: peak,
            issuance,
            append,
            lists,
            scale,
        });
    }

    eprintln!("pgbench");
    let pgbench_tps = append::pgbench(&fresh_pg_database().await?, APPEND_CLIENTS, cell, &scratch)?;
    eprintln!("  {APPEND_CLIENTS} clients: {pgbench_tps:.0} tps");

    eprintln!("cfssl");
    let cfssl_bodies: Arc<Vec<String>> =
        Arc::new(pems.iter().map(|p| json!({ "certificate_request": p }).to_string()).collect());
    let cfssl = procs::start_cfssl(&scratch.join("cfssl")).await?;
    let url = format!("{}/api/v1/cfssl/sign", cfssl.base);
    let mut cfssl_results = Vec::new();
    for level in LEVELS {
        let result = load::run(&url, cfssl_bodies.clone(), level, cell, cfssl.pid()).await;
        eprintln!("  {level:>3} clients: {:.0} certs/s", result.per_second);
        cfssl_results.push(result);
    }
    cfssl.stop();

    let report = Report {
        machine: machine(),
        date: time::OffsetDateTime::now_utc().date().to_string(),
        commit: git_commit(),
        mode: if quick { "quick" } else { "full" },
        seconds_per_cell: cell.as_secs(),
        ceiling_certs_per_s: ceiling,
        ceiling_threads: threads,
        shedu,
        cfssl: cfssl_results,
        pgbench_tps,
    };
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("benchmarks.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(out.join("BENCHMARKS.md"), markdown(&report))?;
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!("wrote {}", out.join("BENCHMARKS.md").display());
    Ok(())
}

async fn scale_only(certificates: usize, only: Option<&str>) -> anyhow::Result<()> {
    let binary = procs::build_shedu()?;
    let scratch = std::env::temp_dir().join(format!("shedu-bench-{}", uuid::Uuid::new_v4().simple()));
    let size = scale::Size { cas: (certificates / 100).max(2), certificates, requests_per_query: 200 };
    for name in ["sqlite", "postgres"].into_iter().filter(|n| only.is_none_or(|o| o == *n)) {
        eprintln!("shedu on {name}");
        let database_url = if name == "postgres" { Some(fresh_pg_database().await?) } else { None };
        scale::run(&binary, &scratch.join(name), database_url.as_deref(), size).await?;
        if let Some(url) = database_url {
            eprintln!("  kept {url}");
        }
    }
    // Kept for profiling (`perf record shedu projections rebuild --data-dir …`).
    eprintln!("kept {}", scratch.display());
    Ok(())
}

async fn events_only(quick: bool) -> anyhow::Result<()> {
    let binary = procs::build_shedu()?;
    let scratch = std::env::temp_dir().join(format!("shedu-bench-{}", uuid::Uuid::new_v4().simple()));
    let (backlog, cell) = if quick { (20_000, Duration::from_secs(3)) } else { (1_000_000, Duration::from_secs(10)) };
    eprintln!("relay and scheduler on sqlite: a backlog of {backlog} issuances");
    let result = events::run(&binary, &scratch, backlog, cell).await?;
    let report = json!({"machine": machine(), "date": time::OffsetDateTime::now_utc().date().to_string(),
        "commit": git_commit(), "mode": if quick { "quick" } else { "full" }, "events": result});
    if !quick {
        std::fs::write("docs/benchmarks-events.json", serde_json::to_string_pretty(&report)?)?;
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

async fn crls_only(quick: bool) -> anyhow::Result<()> {
    let binary = procs::build_shedu()?;
    let scratch = std::env::temp_dir().join(format!("shedu-bench-{}", uuid::Uuid::new_v4().simple()));
    let (revoked, revocations) = if quick { (10_000, 10) } else { (100_000, 50) };
    let mut results = Vec::new();
    for name in ["sqlite", "postgres"] {
        eprintln!("CRLs on {name}: a CA with {revoked} revoked certificates");
        let database_url = if name == "postgres" { Some(fresh_pg_database().await?) } else { None };
        results
            .push(crls::run(&binary, &scratch.join(name), database_url.as_deref(), name, revoked, revocations).await?);
    }
    let report = json!({"machine": machine(), "date": time::OffsetDateTime::now_utc().date().to_string(),
        "commit": git_commit(), "mode": if quick { "quick" } else { "full" }, "crls": results});
    if !quick {
        std::fs::write("docs/benchmarks-crls.json", serde_json::to_string_pretty(&report)?)?;
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

async fn issuance_only(cell: Duration) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("shedu-bench-{}", uuid::Uuid::new_v4().simple()));
    let (pems, _) = csrs(64)?;
    let binary = procs::build_shedu()?;
    let sign_bodies: Arc<Vec<String>> = Arc::new(pems.iter().map(|p| json!({ "csr": p }).to_string()).collect());
    for name in ["sqlite", "postgres"] {
        let database_url = if name == "postgres" { Some(fresh_pg_database().await?) } else { None };
        let server = procs::start_shedu(&binary, &scratch.join(name), database_url.as_deref()).await?;
        setup(&server.base).await?;
        let url = format!("{}/v2/cas/issuing/certificates/sign", server.base);
        for level in LEVELS {
            let r = load::run(&url, sign_bodies.clone(), level, cell, server.pid()).await;
            println!(
                "{name} {level:>3} clients: {:.0} certs/s, p50 {:.1} ms, p99 {:.1} ms",
                r.per_second, r.p50_ms, r.p99_ms
            );
        }
        server.stop();
    }
    let cfssl_bodies: Arc<Vec<String>> =
        Arc::new(pems.iter().map(|p| json!({ "certificate_request": p }).to_string()).collect());
    let cfssl = procs::start_cfssl(&scratch.join("cfssl")).await?;
    let url = format!("{}/api/v1/cfssl/sign", cfssl.base);
    for level in LEVELS {
        let r = load::run(&url, cfssl_bodies.clone(), level, cell, cfssl.pid()).await;
        println!("cfssl {level:>3} clients: {:.0} certs/s", r.per_second);
    }
    cfssl.stop();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

async fn lists_only(cell: Duration) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("shedu-bench-{}", uuid::Uuid::new_v4().simple()));
    let (pems, _) = csrs(64)?;
    let sign_bodies: Arc<Vec<String>> = Arc::new(pems.iter().map(|p| json!({ "csr": p }).to_string()).collect());
    let binary = procs::build_shedu()?;
    for name in ["sqlite", "postgres"] {
        eprintln!("shedu on {name}");
        let database_url = if name == "postgres" { Some(fresh_pg_database().await?) } else { None };
        let server = procs::start_shedu(&binary, &scratch.join(name), database_url.as_deref()).await?;
        setup(&server.base).await?;
        let lists = lists::under_issuance(&server.base, sign_bodies.clone(), LIST_SIGNERS, cell, server.pid()).await;
        print_lists(&lists);
        server.stop();
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn print_lists(l: &lists::ListResult) {
    let line = |what: &str, x: &lists::Latency| {
        eprintln!(
            "  lists {what}: p50 {:.2} ms, p99 {:.2} ms, {} lists, {} stale, {} errors",
            x.p50_ms, x.p99_ms, x.requests, x.stale, x.errors
        )
    };
    line("idle", &l.idle);
    line(&format!("beside {} signers ({:.0} certs/s)", l.signers, l.signing.per_second), &l.under_load);
}

fn csrs(n: usize) -> anyhow::Result<(Vec<String>, Vec<Vec<u8>>)> {
    let mut pems = Vec::with_capacity(n);
    let mut ders = Vec::with_capacity(n);
    for i in 0..n {
        let key = rcgen::KeyPair::generate()?;
        let name = format!("device-{i}.example.test");
        let mut params = rcgen::CertificateParams::new(vec![name.clone()])?;
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let csr = params.serialize_request(&key)?;
        pems.push(csr.pem()?);
        ders.push(csr.der().to_vec());
    }
    Ok((pems, ders))
}

/// A device profile and an ECDSA P-256 root and issuing CA.
async fn engines_only(quick: bool) -> anyhow::Result<()> {
    let cell = Duration::from_secs(if quick { 2 } else { 10 });
    let scratch = std::env::temp_dir().join(format!("shedu-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&scratch)?;
    let (pems, _) = csrs(64)?;
    let bodies: Arc<Vec<String>> = Arc::new(pems.iter().map(|p| json!({ "csr": p }).to_string()).collect());
    let binary = procs::build_shedu()?;
    let results = engines::run(&binary, &scratch, bodies, cell).await?;
    if !quick {
        std::fs::write("docs/benchmarks-engines.json", serde_json::to_string_pretty(&results)?)?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

pub(crate) async fn setup(base: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client.post(format!("{base}{path}")).header("content-type", "application/json").body(body.to_string()).send()
    };
    anyhow::ensure!(post("/v2/profiles", scale::device_profile()).await?.status().is_success(), "profile");
    let ca = |id: &str, parent: Option<&str>, duration: &str| {
        json!({"id": id, "parent_id": parent, "subject": {"common_name": id}, "profile_id": "device-1y",
            "key_metadata": {"type": "ECDSA", "bits": 256}, "ca_expiration": {"type": "Duration", "duration": duration}})
    };
    anyhow::ensure!(post("/v2/cas", ca("root", None, "20y")).await?.status().is_success(), "root");
    anyhow::ensure!(post("/v2/cas", ca("issuing", Some("root"), "10y")).await?.status().is_success(), "issuing");
    Ok(())
}

async fn fresh_pg_database() -> anyhow::Result<String> {
    let admin =
        std::env::var("SHEDU_BENCH_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("shedu_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await?;
    sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base).to_owned();
    Ok(format!("{base}/{name}"))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} vCPU ({cpu}), {mem_gib:.0} GiB RAM")
}

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn markdown(r: &Report) -> String {
    let mut s = String::new();
    s.push_str("# Benchmarks\n\n");
    s.push_str("Produced by `bash scripts/bench.sh` (add `--quick` for a smoke run); raw figures in\n");
    s.push_str("`docs/benchmarks.json`. Client, server and database share the machine's cores.\n\n");
    s.push_str(&format!(
        "Machine: {}. Date: {}. Commit: `{}`. Mode: {} ({} s per cell).\n\n",
        r.machine, r.date, r.commit, r.mode, r.seconds_per_cell
    ));
    s.push_str("## Issuance: CSR → certificate over HTTP, ECDSA P-256 issuing CA\n\n");
    s.push_str("Pre-generated P-256 CSRs, keep-alive connections, closed loop. Each Shedu certificate is durably\n");
    s.push_str("appended to the event log before the response (SQLite `synchronous=FULL`, PostgreSQL defaults).\n\n");
    s.push_str("| clients | Shedu SQLite certs/s (p50 / p99 ms) | Shedu PostgreSQL certs/s (p50 / p99 ms) | cfssl certs/s (p50 / p99 ms) | SQLite ÷ cfssl | PostgreSQL ÷ cfssl | server CPU, cores (SQLite / PG / cfssl) | client CPU, cores |\n");
    s.push_str("|---|---|---|---|---|---|---|---|\n");
    for (i, level) in LEVELS.iter().enumerate() {
        let cell = |l: &LoadResult| format!("{:.0} ({:.1} / {:.1})", l.per_second, l.p50_ms, l.p99_ms);
        let sqlite = &r.shedu[0].issuance[i];
        let pg = &r.shedu[1].issuance[i];
        let cfssl = &r.cfssl[i];
        s.push_str(&format!(
            "| {level} | {} | {} | {} | {:.2} | {:.2} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} |\n",
            cell(sqlite),
            cell(pg),
            cell(cfssl),
            sqlite.per_second / cfssl.per_second.max(1e-9),
            pg.per_second / cfssl.per_second.max(1e-9),
            sqlite.server_cpu,
            pg.server_cpu,
            cfssl.server_cpu,
            sqlite.client_cpu,
            pg.client_cpu,
            cfssl.client_cpu
        ));
    }
    let best = |b: &Backend| b.issuance.iter().map(|l| l.per_second).fold(0.0, f64::max);
    s.push_str(&format!(
        "\nPhysical limit, same run: {:.0} certs/s in-process on {} threads (parse CSR, verify, build, sign; no\n\
         HTTP, no storage). Best Shedu rate as a fraction of it: SQLite {:.1} %, PostgreSQL {:.1} %.\n\n",
        r.ceiling_certs_per_s,
        r.ceiling_threads,
        100.0 * best(&r.shedu[0]) / r.ceiling_certs_per_s.max(1e-9),
        100.0 * best(&r.shedu[1]) / r.ceiling_certs_per_s.max(1e-9)
    ));
    s.push_str(&format!(
        "## Append: raw command throughput, {APPEND_CLIENTS} clients\n\n\
         JSON Patch metadata updates, each client on its own CA (one durable event per command), beside\n\
         pgbench inserting one row per transaction into a table shaped like `events` on the same PostgreSQL.\n\n\
         | Shedu SQLite | Shedu PostgreSQL | pgbench | PostgreSQL ÷ pgbench |\n|---|---|---|---|\n\
         | {:.0} commands/s (p99 {:.1} ms) | {:.0} commands/s (p99 {:.1} ms) | {:.0} tps | {:.2} |\n\n",
        r.shedu[0].append.commands_per_second,
        r.shedu[0].append.p99_ms,
        r.shedu[1].append.commands_per_second,
        r.shedu[1].append.p99_ms,
        r.pgbench_tps,
        r.shedu[1].append.commands_per_second / r.pgbench_tps.max(1e-9)
    ));
    s.push_str(&format!(
        "## Lists under the issuance load\n\n\
         One client patches the root CA's metadata, then lists CAs, and checks that the list shows its own\n\
         write; alone, then beside {LIST_SIGNERS} signing clients. A list waits until the views include every\n\
         write the server had acknowledged when it arrived (docs/adr/0005).\n\n\
         | | SQLite | PostgreSQL |\n|---|---|---|\n"
    ));
    let lat =
        |x: &lists::Latency| format!("{:.2} / {:.2} ms ({} stale of {})", x.p50_ms, x.p99_ms, x.stale, x.requests);
    s.push_str(&format!(
        "| list p50 / p99, idle | {} | {} |\n",
        lat(&r.shedu[0].lists.idle),
        lat(&r.shedu[1].lists.idle)
    ));
    s.push_str(&format!(
        "| list p50 / p99, beside the signers | {} | {} |\n| signing meanwhile | {:.0} certs/s | {:.0} certs/s |\n\n",
        lat(&r.shedu[0].lists.under_load),
        lat(&r.shedu[1].lists.under_load),
        r.shedu[0].lists.signing.per_second,
        r.shedu[1].lists.signing.per_second
    ));
    scale_sections(&mut s, r);
    s.push_str("\nWhere the time goes and what comes next: `docs/PROFILE.md`.\n");
    s
}

fn scale_sections(s: &mut String, r: &Report) {
    let size = &r.shedu[0].scale;
    s.push_str(&format!(
        "## At scale: {} CAs, {} certificates\n\n\
         The CAs (1 root per 100) are created over HTTP; the certificates are appended through the event-log\n\
         port in batches of 1,000: copies of one real issuance event, each with a random serial, its own\n\
         subject, an issue time one second after the previous one, and an issuing CA (one in ten from a busy\n\
         CA, the rest spread evenly); one in 100 is also revoked. Then `shedu projections rebuild` runs as its\n\
         own process, and a restarted server answers queries from one keep-alive client ({} timed requests\n\
         each, after a warm-up; where a query names a CA or a certificate, each request names another).\n\n",
        size.cas,
        size.certificates,
        size.queries.first().map_or(0, |q| q.requests)
    ));
    s.push_str("| | SQLite | PostgreSQL |\n|---|---|---|\n");
    let row = |s: &mut String, label: &str, cell: &dyn Fn(&scale::ScaleResult) -> String| {
        s.push_str(&format!("| {label} | {} | {} |\n", cell(&r.shedu[0].scale), cell(&r.shedu[1].scale)));
    };
    row(s, "events in the log", &|x| x.events.to_string());
    row(s, "seeding (HTTP CAs + batched appends)", &|x| format!("{:.0} s", x.seed_seconds));
    row(s, "projection rebuild", &|x| {
        format!("{:.1} s ({:.0} events/s)", x.rebuild_seconds, x.rebuild_events_per_second)
    });
    row(s, "rebuild process peak RSS", &|x| format!("{:.0} MiB", x.rebuild_peak_rss_mib));
    row(s, "start to ready (views current)", &|x| format!("{:.2} s", x.ready_after_s));
    for (i, q) in size.queries.iter().enumerate() {
        row(s, &format!("{} (`{}`), p50 / p99", q.name, q.path), &|x| {
            x.queries.get(i).map_or("–".into(), |q| format!("{:.2} / {:.2} ms", q.p50_ms, q.p99_ms))
        });
    }
    s.push_str("\n## Footprint\n\n| backend | start to ready, empty log | idle RSS | peak RSS, issuance and append | idle RSS at scale | peak RSS at scale (server / rebuild) |\n|---|---|---|---|---|---|\n");
    for b in &r.shedu {
        s.push_str(&format!(
            "| {} | {:.2} s | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} / {:.1} MiB |\n",
            b.name,
            b.ready_after_s,
            b.idle_rss_mib,
            b.peak_rss_mib,
            b.scale.server_idle_rss_mib,
            b.scale.server_peak_rss_mib,
            b.scale.rebuild_peak_rss_mib
        ));
    }
}
