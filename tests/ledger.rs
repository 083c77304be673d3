//! The ledger probe against real servers (PostgreSQL behind PgBouncer,
//! Redis with and without persistence, from the locally built datastores
//! image): lost writes counted exactly where the truth is known, none
//! where nothing was lost, every acknowledged write of a Redis without
//! persistence lost on a restart, none with AOF, writes refused (not
//! lost) while the store is down, writes in flight to a frozen database
//! unknown (not lost), the ledger's own table and key gone at the end,
//! and the password in the URL nowhere in what the run prints or keeps.

mod common;

use std::path::Path;
use std::time::Duration;

use common::datastores::{
    PASSWORD, ensure_datastore_image, start_pgbouncer, start_postgres, start_redis_fixed,
};
use common::*;

/// Every file the run left, as text.
fn everything_kept(run: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(run).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    text
}

/// The first ledger audit of scenario `s` for probe `probe`.
fn audit<'r>(result: &'r serde_json::Value, s: usize, probe: &str) -> &'r serde_json::Value {
    result["scenarios"][s]["ledgers"]
        .as_array()
        .unwrap_or_else(|| panic!("no ledgers in scenario {s}: {result:#}"))
        .iter()
        .find(|a| a["probe"] == probe)
        .unwrap_or_else(|| panic!("no audit of {probe} in scenario {s}"))
}

fn count(audit: &serde_json::Value, field: &str) -> u64 {
    audit[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {audit:#}"))
}

#[test]
fn rows_deleted_behind_the_ledger_are_lost_and_a_frozen_database_loses_nothing() {
    if !docker_available() {
        return;
    }
    ensure_datastore_image();
    let project = Project::new("ledger-pg");
    let db = start_postgres(&project, "db", &[]);
    let pool = start_pgbouncer(&project, "pool", "db");
    let file = format!(
        r#"gameday: ledger through a pool
scope: {{ compose_project: {scope} }}
defaults: {{ baseline: 4s, cooldown: 2s }}
probes:
  orders:
    ledger:
      postgres: {{ url: "postgres://app:{PASSWORD}@127.0.0.1:{port}/app", table: gameday_ledger }}
    every: 50ms
    timeout: 500ms
scenarios:
  - name: database frozen behind the pool
    fault: {{ pause: {{ service: db }} }}
    duration: 2s
    expect:
      - {{ probe: orders, lost: 0 }}
      - {{ probe: orders, duplicated: 0 }}
      - {{ probe: orders, rpo: "< 1s" }}
      - {{ probe: orders, success_rate: "< 50%" }}
"#,
        scope = project.name,
        port = pool.host_port,
    );
    let (_dir, path) = gameday_file(&file);
    let out = tempfile::tempdir().unwrap();
    // The most connections the ledger has open through the pool at once,
    // as PgBouncer counts its clients, polled through the run.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let most = {
        let (stop, pool) = (stop.clone(), pool.id.clone());
        std::thread::spawn(move || {
            let mut most = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let password = format!("PGPASSWORD={PASSWORD}");
                let clients = std::process::Command::new("docker")
                    .args(["exec", "-e", &password, &pool, "psql", "-h", "127.0.0.1"])
                    .args(["-p", "6432", "-U", "app", "-d", "pgbouncer", "-AtX"])
                    .args(["-c", "SHOW CLIENTS"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                    .unwrap_or_default();
                let ledger = clients
                    .lines()
                    .filter(|l| l.ends_with("|gameday-ledger"))
                    .count();
                most = most.max(ledger);
                std::thread::sleep(Duration::from_millis(100));
            }
            most
        })
    };
    let child = spawn_run(&path, out.path());
    // In the baseline, with 30 writes in: three acknowledged rows deleted
    // behind the ledger's back (the truth: exactly 3 lost).
    let rows = || {
        db.try_psql("SELECT count(*) FROM gameday_ledger")
            .is_ok_and(|n| n.trim().parse::<u64>().is_ok_and(|n| n >= 30))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !rows() {
        if std::time::Instant::now() > deadline {
            let output = finish(child, Duration::from_secs(60));
            panic!(
                "no 30 rows in the ledger's table within 20s: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let deleted = db.psql(
        "WITH d AS (DELETE FROM gameday_ledger WHERE seq IN (10, 11, 12) RETURNING 1) SELECT count(*) FROM d",
    );
    assert_eq!(deleted.trim(), "3", "{deleted}");
    let output = finish(child, Duration::from_secs(90));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let most = most.join().unwrap();
    // Frozen, every write waits on a connection of its own: more than one
    // open, never more than the ledger's 8.
    assert!((2..=8).contains(&most), "{most} ledger connections at once");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let run = run_dir(out.path());
    let result = result_json(&run);
    let a = audit(&result, 0, "orders");
    assert_eq!(count(a, "lost"), 3, "{a:#}\n{printed}");
    assert_eq!(a["lost_seqs"], serde_json::json!([[10, 12]]), "{a:#}");
    assert_eq!(count(a, "duplicated"), 0, "{a:#}");
    // Frozen: writes time out (refused or unknown), none acknowledged lost
    // but the three deleted; a write in flight may commit after the thaw.
    assert!(
        count(a, "failed") + count(a, "unknown") >= 2,
        "the pause refused nothing: {a:#}"
    );
    assert!(count(a, "acknowledged") >= 60, "{a:#}");
    let checks = expectations(&result);
    let verdict = |text: &str| {
        checks
            .iter()
            .find(|c| c.0.contains(text))
            .unwrap_or_else(|| panic!("{text}: {checks:?}"))
            .clone()
    };
    let lost = verdict("lost writes");
    assert_eq!(
        (lost.1.as_str(), lost.3),
        ("not_met", Some(3.0)),
        "{lost:?}"
    );
    assert_eq!(verdict("duplicated").1, "met");
    assert_eq!(verdict("success_rate").1, "met", "{checks:?}");
    // The table is gone (this run created it), and the password is in
    // nothing printed or kept.
    let table = db.psql("SELECT to_regclass('gameday_ledger') IS NULL");
    assert_eq!(table.trim(), "t", "the ledger's table is still there");
    assert!(!printed.contains(PASSWORD), "{printed}");
    assert!(!everything_kept(&run).contains(PASSWORD));
}

#[test]
fn redis_without_persistence_loses_every_acknowledged_write_on_a_restart_and_aof_none() {
    if !docker_available() {
        return;
    }
    ensure_datastore_image();
    let project = Project::new("ledger-redis");
    // Restarted by the gameday: published at ports a restart keeps.
    let cache = start_redis_fixed(&project, "cache", &["--save", "", "--appendonly", "no"]);
    let aof = start_redis_fixed(
        &project,
        "cache-aof",
        &["--appendonly", "yes", "--appendfsync", "always"],
    );
    let file = format!(
        r#"gameday: ledger in redis
scope: {{ compose_project: {scope} }}
defaults: {{ baseline: 2s, cooldown: 2s }}
probes:
  volatile:
    ledger: {{ redis: {{ url: "redis://127.0.0.1:{volatile}", key: "gameday:ledger" }} }}
    every: 50ms
    timeout: 500ms
  durable:
    ledger: {{ redis: {{ url: "redis://127.0.0.1:{durable}", key: "gameday:ledger" }} }}
    every: 50ms
    timeout: 500ms
scenarios:
  - name: restart without persistence
    fault: {{ restart: {{ service: cache }} }}
    duration: 1s
    expect:
      - {{ probe: volatile, lost: 0 }}
  - name: stopped with AOF
    fault: {{ stop: {{ service: cache-aof }} }}
    duration: 2s
    expect:
      - {{ probe: durable, lost: 0 }}
      - {{ probe: durable, success_rate: "<= 10%" }}
"#,
        scope = project.name,
        volatile = cache.host_port,
        durable = aof.host_port,
    );
    let (_dir, path) = gameday_file(&file);
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &path, 120);
    let run = run_dir(out.path());
    let result = result_json(&run);
    let printed = String::from_utf8_lossy(&output.stdout).to_string();
    // Every write acknowledged before the restart is gone: the lost ones
    // are one run from the very first write.
    let volatile = audit(&result, 0, "volatile");
    let lost = count(volatile, "lost");
    assert!(lost >= 30, "{volatile:#}\n{printed}");
    assert_eq!(volatile["lost_seqs"][0][0], 1, "{volatile:#}");
    assert_eq!(
        volatile["lost_seqs"].as_array().unwrap().len(),
        1,
        "{volatile:#}"
    );
    assert_eq!(count(volatile, "duplicated"), 0);
    // With AOF every acknowledged write is there after the stop; the
    // writes while it was down were refused, never counted as lost.
    let durable = audit(&result, 1, "durable");
    assert_eq!(count(durable, "lost"), 0, "{durable:#}\n{printed}");
    assert!(count(durable, "failed") >= 10, "{durable:#}");
    assert_eq!(count(durable, "failed_present"), 0, "{durable:#}");
    let checks = expectations(&result);
    let verdicts: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| (c.0.as_str(), c.1.as_str()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("volatile: lost writes <= 0", "not_met"),
            ("durable: lost writes <= 0", "met"),
            ("durable: success_rate <= 10% during fault", "met"),
        ],
        "{checks:?}"
    );
    // Both lists were deleted at the end.
    assert_eq!(cache.redis(&["KEYS", "gameday:*"]).trim(), "");
    assert_eq!(aof.redis(&["KEYS", "gameday:*"]).trim(), "");
}

/// A service's own API on 127.0.0.1 for an http ledger: `POST /orders`
/// with `{"id": "..."}` keeps the id and answers 201, except that it
/// answers 201 for sequence numbers 5 to 7 without keeping them (the truth:
/// 3 lost) and 503 for 60, after the baseline (refused, not lost); `GET /orders/<id>` answers
/// 200 or 404. Ends with the test process.
fn orders_api() -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let kept = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let kept = kept.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let body = String::from_utf8_lossy(&body).to_string();
                let seq = |id: &str| id.rsplit('-').next().and_then(|s| s.parse::<u64>().ok());
                let status = match line.split_whitespace().collect::<Vec<_>>()[..] {
                    ["POST", "/orders", ..] => {
                        let id = body.split('"').nth(3).unwrap_or_default().to_string();
                        match seq(&id) {
                            Some(60) => 503,
                            Some(5..=7) => 201,
                            _ => {
                                kept.lock().unwrap().insert(id);
                                201
                            }
                        }
                    }
                    ["GET", path, ..] => match path.strip_prefix("/orders/") {
                        Some(id) if kept.lock().unwrap().contains(id) => 200,
                        _ => 404,
                    },
                    _ => 400,
                };
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            });
        }
    });
    port
}

#[test]
fn an_api_that_acknowledges_and_forgets_loses_exactly_those_records() {
    if !docker_available() {
        return;
    }
    let project = Project::new("ledger-http");
    project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let port = orders_api();
    let file = format!(
        r#"gameday: ledger through an API
scope: {{ compose_project: {scope} }}
defaults: {{ baseline: 2s, cooldown: 1s }}
probes:
  orders:
    ledger:
      http:
        write: {{ url: "http://127.0.0.1:{port}/orders", body: '{{"id": "{{{{id}}}}"}}' }}
        read: {{ url: "http://127.0.0.1:{port}/orders/{{{{id}}}}" }}
    every: 50ms
    timeout: 500ms
scenarios:
  - name: store paused
    fault: {{ pause: {{ service: store }} }}
    duration: 1s
    expect:
      - {{ probe: orders, lost: 0 }}
      - {{ probe: orders, rpo: "< 1s" }}
"#,
        scope = project.name,
    );
    let (_dir, path) = gameday_file(&file);
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &path, 60);
    let result = result_json(&run_dir(out.path()));
    let a = audit(&result, 0, "orders");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(count(a, "lost"), 3, "{a:#}\n{printed}");
    assert_eq!(a["lost_seqs"], serde_json::json!([[5, 7]]), "{a:#}");
    assert_eq!(count(a, "failed"), 1, "{a:#}");
    assert_eq!(count(a, "failed_present"), 0, "{a:#}");
    assert!(a["duplicated"].is_null(), "an API cannot tell: {a:#}");
    // From seq 5 sent to seq 7 acknowledged: about two intervals.
    let rpo = a["rpo_ms"].as_f64().unwrap();
    assert!((90.0..400.0).contains(&rpo), "{rpo}: {a:#}");
    let checks = expectations(&result);
    assert_eq!(checks[0].1, "not_met", "{checks:?}");
    assert_eq!(checks[0].3, Some(3.0), "{checks:?}");
    assert_eq!(checks[1].1, "met", "{checks:?}");
}

#[test]
fn a_table_no_ledger_made_is_refused_and_left_as_it_was() {
    if !docker_available() {
        return;
    }
    ensure_datastore_image();
    let project = Project::new("ledger-owned");
    let db = start_postgres(&project, "db", &[]);
    db.psql("CREATE TABLE orders (id int); INSERT INTO orders VALUES (42)");
    let file = format!(
        r#"gameday: a ledger pointed at the team's table
scope: {{ compose_project: {scope} }}
defaults: {{ baseline: 1s, cooldown: 1s }}
probes:
  orders:
    ledger:
      postgres: {{ url: "postgres://app:{PASSWORD}@127.0.0.1:{port}/app", table: orders }}
    every: 100ms
    timeout: 500ms
scenarios:
  - name: never applied
    fault: {{ pause: {{ service: db }} }}
    duration: 1s
    expect:
      - {{ probe: orders, lost: 0 }}
"#,
        scope = project.name,
        port = db.host_port,
    );
    let (_dir, path) = gameday_file(&file);
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &path, 60);
    let printed = String::from_utf8_lossy(&output.stdout).to_string();
    // Every write refused: the steady state is not met, no fault applied.
    assert!(printed.contains("is not a ledger's"), "{printed}");
    assert!(printed.contains("no fault was applied"), "{printed}");
    assert_eq!(db.psql("SELECT count(*) FROM orders").trim(), "1");
    assert_eq!(
        db.psql("SELECT string_agg(column_name, ',') FROM information_schema.columns WHERE table_name = 'orders'")
            .trim(),
        "id",
        "the team's table was changed"
    );
}
