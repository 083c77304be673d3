//! The datastores image's servers behave as configured, observed as a
//! client sees them (psql and redis-cli in their containers, HTTP through
//! the published port), against the real Docker engine: what a restart or a
//! kill keeps or loses, the asynchronous PostgreSQL's setting, PgBouncer
//! failing fast in front of a frozen database, HAProxy routing around a
//! killed replica. These are the behaviours gamedays/datastores.yaml
//! rehearses; each test is bounded in time.

mod common;

use std::time::{Duration, Instant};

use common::datastores::*;
use common::*;

/// The number of keys a Redis holds.
fn dbsize(cache: &Server) -> u64 {
    cache
        .redis(&["dbsize"])
        .parse()
        .expect("DBSIZE is a number")
}

/// 100 keys, each set and acknowledged on its own.
fn set_keys(cache: &Server) {
    for i in 0..100 {
        assert_eq!(cache.redis(&["set", &format!("k{i}"), "v"]), "OK");
    }
    assert_eq!(dbsize(cache), 100);
}

#[test]
fn redis_without_persistence_loses_every_key_on_restart() {
    if !docker_available() {
        return;
    }
    let project = Project::new("ds-cache");
    let mut cache = start_redis(&project, "cache", &["--save", "", "--appendonly", "no"]);
    assert_eq!(
        cache.redis(&["config", "get", "appendonly"]),
        "appendonly\nno"
    );
    set_keys(&cache);
    cache.restart();
    assert_eq!(
        dbsize(&cache),
        0,
        "a Redis without persistence kept keys across a restart"
    );
}

#[test]
fn redis_with_an_append_only_file_keeps_every_key_on_restart_and_kill() {
    if !docker_available() {
        return;
    }
    let project = Project::new("ds-aof");
    let args = [
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let mut cache = start_redis(&project, "cache-aof", &args);
    set_keys(&cache);
    cache.restart();
    assert_eq!(dbsize(&cache), 100, "keys lost across a restart");
    // Acknowledged, then SIGKILL at once: appendfsync always wrote it first.
    assert_eq!(cache.redis(&["set", "last", "v"]), "OK");
    cache.kill_and_start();
    assert_eq!(dbsize(&cache), 101, "keys lost across a kill");
    assert!(
        cache.logs().contains("DB loaded from append only file"),
        "Redis did not say it read its append-only file:\n{}",
        cache.logs()
    );
}

/// What PostgreSQL says when it starts after a crash (a SIGKILL).
const RECOVERY: &str = "database system was not properly shut down; automatic recovery in progress";

#[test]
fn postgres_keeps_committed_rows_across_restart_and_kill() {
    if !docker_available() {
        return;
    }
    let project = Project::new("ds-db");
    let mut db = start_postgres(&project, "db", &["-c", "synchronous_commit=on"]);
    assert_eq!(db.psql("show synchronous_commit"), "on");
    db.psql("create table ledger (id int primary key)");
    // 500 transactions, each committed (and acknowledged) on its own.
    let commit_each = |db: &Server, from: u32, to: u32| {
        db.psql(&format!(
            "do $$ begin for i in {from}..{to} loop insert into ledger values (i); commit; end loop; end $$"
        ));
    };
    commit_each(&db, 1, 500);

    // A restart is PostgreSQL's fast shutdown (stop signal SIGINT), not
    // Docker's 10s timeout and a SIGKILL: no crash recovery follows.
    let restart = db.restart();
    assert!(
        restart < Duration::from_secs(8),
        "docker restart took {restart:?}"
    );
    let logs = db.logs();
    assert!(
        logs.contains("received fast shutdown request"),
        "no fast shutdown:\n{logs}"
    );
    assert!(
        !logs.contains(RECOVERY),
        "a crash recovery after a restart:\n{logs}"
    );
    assert_eq!(
        db.psql("select count(*) from ledger"),
        "500",
        "committed rows lost"
    );

    commit_each(&db, 501, 1000);
    db.kill_and_start();
    assert_eq!(
        db.psql("select count(*) from ledger"),
        "1000",
        "committed rows lost"
    );
    let logs = db.logs();
    assert!(
        logs.contains(RECOVERY),
        "no crash recovery after the kill:\n{logs}"
    );
}

#[test]
fn asynchronous_postgres_says_synchronous_commit_off() {
    if !docker_available() {
        return;
    }
    let project = Project::new("ds-async");
    let args = [
        "-c",
        "synchronous_commit=off",
        "-c",
        "wal_writer_delay=1000ms",
    ];
    let db = start_postgres(&project, "db-async", &args);
    assert_eq!(db.psql("show synchronous_commit"), "off");
    assert_eq!(db.psql("show wal_writer_delay"), "1s");
    // The server's own setting, from its command line, not a session's.
    assert_eq!(
        db.psql("select setting, source from pg_settings where name = 'synchronous_commit'"),
        "off|command line"
    );
}

#[test]
fn pgbouncer_answers_and_fails_fast_while_its_database_is_paused() {
    if !docker_available() {
        return;
    }
    let project = Project::new("ds-pool");
    let db = start_postgres(&project, "db", &[]);
    let pool = start_pgbouncer(&project, "pool", "db");
    pool.psql("create table if not exists t (x int)");
    pool.psql("insert into t values (1)");
    assert_eq!(pool.psql("select count(*) from t"), "1");

    {
        let _paused = db.pause();
        // Each query through the pool fails, and says why, within seconds:
        // the first on a server connection that never answers
        // (query_timeout), the next ones waiting for one (server login,
        // query_wait_timeout).
        for attempt in 1..=3 {
            let start = Instant::now();
            let result = pool.try_psql("select count(*) from t");
            let took = start.elapsed();
            let error = result
                .expect_err("a query through the pool succeeded while the database was paused");
            assert!(
                took < Duration::from_secs(6),
                "attempt {attempt}: the query failed only after {took:?}: {error}"
            );
            assert!(
                error.contains("timeout") || error.contains("server_login_retry"),
                "attempt {attempt}: the error does not say the database is not answering: {error}"
            );
        }
    }

    // Unpaused: the pool serves again within seconds (a failed login is
    // retried after 1s).
    let back = Instant::now();
    pool.wait_until("the pool serves again", || {
        pool.try_psql("select count(*) from t")
            .is_ok_and(|n| n == "1")
    });
    assert!(
        back.elapsed() < Duration::from_secs(10),
        "the pool took {:?} to serve again",
        back.elapsed()
    );
}

#[test]
fn haproxy_keeps_answering_when_one_of_two_replicas_is_killed() {
    if !docker_available() {
        return;
    }
    let project = Project::new("ds-lb");
    project.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let api = ["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"];
    let web1 = project.service("web1", &api, None);
    project.service("web2", &api, None);
    let lb = start_haproxy(&project, "lb", &["web1:8080", "web2:8080"]);
    let status = || http_status(lb.host_port, "/health", Duration::from_secs(3));
    lb.wait_until("the lb answers 200", || status() == Some(200));
    for _ in 0..10 {
        assert_eq!(status(), Some(200));
    }

    docker(&["kill", &web1.id]);
    lb.wait_until("the health check marks web1 down", || {
        lb.logs().contains("Server web/web1 is DOWN")
    });
    let answers: Vec<Option<u16>> = (0..20).map(|_| status()).collect();
    assert!(
        answers.iter().all(|s| *s == Some(200)),
        "with web1 down, the lb answered {answers:?}"
    );
}
