//! `gameday recover`: find run journals with faults that were applied and
//! never reverted (the runner was SIGKILLed, the machine rebooted), revert
//! them idempotently, and record that in the same journal.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::claim;
use crate::docker::Engine;
use crate::fault::RevertRecipe;
use crate::gameday::model::EngineSpec;
use crate::record::journal::{self, Journal, JournalEntry};

/// Journals under `out` (one level of run directories) that have
/// unreverted faults, with how many damaged lines each had.
pub(crate) fn find_unfinished(out: &Path) -> Vec<(PathBuf, journal::Unfinished)> {
    read_journals(out, |u| !u.faults.is_empty())
}

/// Journals under `out` of runs that never said they finished (killed),
/// with or without faults left: their claim may be left too.
pub(crate) fn find_unended(out: &Path) -> Vec<(PathBuf, journal::Unfinished)> {
    read_journals(out, |u| !u.finished)
}

fn read_journals(
    out: &Path,
    keep: impl Fn(&journal::Unfinished) -> bool,
) -> Vec<(PathBuf, journal::Unfinished)> {
    let Ok(dirs) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, journal::Unfinished)> = dirs
        .filter_map(Result::ok)
        .map(|d| d.path().join(crate::record::JOURNAL_FILE))
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let (entries, damaged) = journal::read_counting_damage(&p).ok()?;
            let mut u = journal::unfinished(&entries);
            u.damaged_lines = damaged;
            keep(&u).then_some((p, u))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// What recovery did for one fault.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub journal: PathBuf,
    pub fault_id: String,
    pub container: String,
    pub outcome: RecoveryOutcome,
}

/// How recovering one fault went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecoveryOutcome {
    /// Reverted, already fine, or nothing left to revert: the words say which.
    Done(String),
    /// Not reverted: the fault may still be in place (exit 4).
    Failed(String),
    /// Not touched, on purpose: the run that applied it is alive, or cannot
    /// be proved dead (exit 2).
    Refused(String),
}

/// An engine a journal names, connected once per address, with its ID.
struct Reached {
    spec: EngineSpec,
    engine: Result<(Engine, String), String>,
}

async fn reach<'a>(
    cache: &'a mut Vec<Reached>,
    spec: &EngineSpec,
) -> &'a Result<(Engine, String), String> {
    if let Some(i) = cache.iter().position(|r| &r.spec == spec) {
        return &cache[i].engine;
    }
    let engine = match Engine::connect_spec(spec).await {
        Ok(engine) => match engine.engine_id().await {
            Ok(id) => Ok((engine, id)),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    cache.push(Reached {
        spec: spec.clone(),
        engine,
    });
    &cache.last().expect("just pushed").engine
}

/// Revert every unfinished fault of every journal under `out` (only those of
/// `scope` when given), each on the engine its journal names (reached the
/// same way, TLS included, and checked to be the same engine by its ID),
/// else on `fallback` for journals written before engines were recorded.
/// A journal whose run holds its scope's claim and is alive, or cannot be
/// proved dead, is refused.
pub(crate) async fn recover(fallback: &Engine, out: &Path, scope: Option<&str>) -> Vec<Recovered> {
    let mut report = Vec::new();
    let mut cache: Vec<Reached> = Vec::new();
    // A runner that just died: its watchdog reverts what it left; wait
    // for it, then say what it did.
    wait_for_watchdogs(fallback, &mut cache, out, scope).await;
    // What watchdogs did on their own first: a remote one's record is
    // fetched from its container into the journal, then said.
    let mut watched = find_unended(out);
    for (path, u) in find_unfinished(out) {
        if !watched.iter().any(|(p, _)| p == &path) {
            watched.push((path, u));
        }
    }
    for (path, run) in watched {
        if scope.is_some_and(|s| s != run.scope) {
            continue;
        }
        fetch_watchdog_records(fallback, &mut cache, &path, &run).await;
        report.extend(watchdog_reverts(&path));
    }
    // Runs killed before any fault: nothing to revert, only their claim.
    for (path, unended) in find_unended(out) {
        if !unended.faults.is_empty() || scope.is_some_and(|s| s != unended.scope) {
            continue;
        }
        if let Some(holder) = release_claim(fallback, &mut cache, &unended).await
            && let Ok(mut j) = Journal::create(&path)
        {
            let _ = j.append(&JournalEntry::Observation {
                scenario: None,
                kind: Default::default(),
                by: "recover".into(),
                text: format!("released the claim left by {holder}"),
                at: Utc::now(),
            });
        }
    }
    for (path, unfinished) in find_unfinished(out) {
        if scope.is_some_and(|s| s != unfinished.scope) {
            continue;
        }
        if let Some(refusal) = busy(fallback, &mut cache, &unfinished).await {
            for (fault_id, recipe) in &unfinished.faults {
                report.push(Recovered {
                    journal: path.clone(),
                    fault_id: fault_id.clone(),
                    container: recipe.container_name().to_string(),
                    outcome: RecoveryOutcome::Refused(refusal.clone()),
                });
            }
            continue;
        }
        let mut journal = Journal::create(&path).ok();
        for (fault_id, recipe) in &unfinished.faults {
            let host = unfinished
                .fault_hosts
                .get(fault_id)
                .map_or(crate::gameday::decode::DEFAULT_HOST, String::as_str);
            let spec = unfinished
                .fault_engines
                .get(fault_id)
                .or(unfinished.engine.as_ref());
            let expected_id = unfinished.engine_ids.get(host);
            let requested_at = Utc::now();
            let settle = unfinished.unconfirmed.get(fault_id).copied();
            let executed = match spec {
                None => crate::fault::revert(fallback, recipe, settle).await,
                Some(spec) => match reach(&mut cache, spec).await {
                    Err(e) => Err(format!(
                        "cannot reach the engine the journal names ({}): {e}",
                        spec.host
                            .as_deref()
                            .unwrap_or("DOCKER_HOST or the local socket")
                    )),
                    Ok((_, id)) if expected_id.is_some_and(|want| want != id) => Err(format!(
                        "the engine at {} is not the one the run used (its ID is {id}, the journal's {})",
                        spec.host.as_deref().unwrap_or("the default address"),
                        expected_id.map_or("", String::as_str)
                    )),
                    Ok((engine, _)) => crate::fault::revert(engine, recipe, settle).await,
                },
            };
            let outcome = match executed {
                Ok((confirmed, words)) => {
                    if let Some(j) = journal.as_mut() {
                        let _ = j.append(&JournalEntry::FaultReverted {
                            fault_id: fault_id.clone(),
                            // Who reverted it; how, when it is not a plain revert.
                            by: if confirmed.is_some() || words == "was already reverted" {
                                "recover".to_string()
                            } else {
                                format!("recover ({words})")
                            },
                            requested_at,
                            confirmed_at: confirmed,
                        });
                    }
                    RecoveryOutcome::Done(words)
                }
                Err(e) => {
                    // The intent stays open: a later `recover` tries again.
                    if let Some(j) = journal.as_mut() {
                        let _ = j.append(&JournalEntry::FaultRevertFailed {
                            fault_id: fault_id.clone(),
                            error: e.clone(),
                            by_hand: recipe.by_hand(),
                        });
                    }
                    RecoveryOutcome::Failed(format!("{e}; by hand: {}", recipe.by_hand()))
                }
            };
            report.push(Recovered {
                journal: path.clone(),
                fault_id: fault_id.clone(),
                container: recipe.container_name().to_string(),
                outcome,
            });
        }
        // The run is dead and its faults are dealt with: its claim goes too.
        let all_done = report
            .iter()
            .filter(|r| r.journal == path)
            .all(|r| matches!(r.outcome, RecoveryOutcome::Done(_)));
        if all_done
            && let Some(holder) = release_claim(fallback, &mut cache, &unfinished).await
            && let Some(j) = journal.as_mut()
        {
            let _ = j.append(&JournalEntry::Observation {
                scenario: None,
                kind: Default::default(),
                by: "recover".into(),
                text: format!("released the claim left by {holder}"),
                at: Utc::now(),
            });
        }
    }
    report
}

/// The engines a journal names: its default one and those its faults went to.
fn engines_of(unfinished: &journal::Unfinished) -> Vec<Option<EngineSpec>> {
    let mut specs = vec![unfinished.engine.clone()];
    for spec in unfinished.fault_engines.values() {
        if !specs.iter().any(|s| s.as_ref() == Some(spec)) {
            specs.push(Some(spec.clone()));
        }
    }
    specs
}

/// A watchdog container of the run that fired kept its record in its
/// logs: append it to the journal and remove the container.
async fn fetch_watchdog_records(
    fallback: &Engine,
    cache: &mut Vec<Reached>,
    path: &Path,
    unended: &journal::Unfinished,
) {
    for spec in engines_of(unended) {
        let engine = match &spec {
            Some(spec) => match reach(cache, spec).await {
                Ok((engine, _)) => engine.clone(),
                Err(_) => continue,
            },
            None => fallback.clone(),
        };
        let Ok(ids) = engine
            .containers_labelled(super::watchdog::RUN_LABEL, &unended.run_id)
            .await
        else {
            continue;
        };
        for id in ids {
            // A watchdog whose runner is gone fires and ends; one that does
            // not end in time is left (it may still be guarding faults).
            let Ok(Ok(output)) = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                engine.finish(&id, false),
            )
            .await
            else {
                continue;
            };
            let Ok(mut j) = Journal::create(path) else {
                continue;
            };
            for line in output.stdout.lines() {
                if let Ok(super::watchdog::FromWatchdog::Journal(entry)) =
                    serde_json::from_str(line.trim())
                {
                    let _ = j.append(&entry);
                }
            }
        }
    }
}

/// What the watchdogs of the journal's run reverted, once: said until
/// `recover` has said it (an observation by `recover` marks it). A run on
/// several engines has a watchdog on each, and each that fired says so:
/// every one since `recover` last spoke is reported, each revert with the
/// reason of the watchdog that made it.
fn watchdog_reverts(path: &Path) -> Vec<Recovered> {
    let Ok(entries) = journal::read(path) else {
        return Vec::new();
    };
    let said = entries
        .iter()
        .rposition(|e| {
            matches!(e, JournalEntry::Observation { by, text, .. } if by == "recover" && text.starts_with("the watchdog"))
        })
        .map_or(0, |at| at + 1);
    let container_of = |fault: &str| {
        entries.iter().find_map(|e| {
            let JournalEntry::FaultIntent {
                fault_id, recipe, ..
            } = e
            else {
                return None;
            };
            (fault_id == fault).then(|| recipe.container_name().to_string())
        })
    };
    let mut reasons: Vec<&str> = Vec::new();
    let mut reverted: Vec<Recovered> = Vec::new();
    for e in &entries[said..] {
        if let JournalEntry::WatchdogFired { reason, .. } = e {
            reasons.push(reason);
        } else if let JournalEntry::FaultReverted {
            fault_id,
            by,
            requested_at,
            ..
        } = e
            && by.starts_with("watchdog")
            && let Some(reason) = reasons.last()
        {
            reverted.push(Recovered {
                journal: path.to_path_buf(),
                fault_id: fault_id.clone(),
                container: container_of(fault_id).unwrap_or_default(),
                outcome: RecoveryOutcome::Done(format!(
                    "already reverted by the run's watchdog at {} ({reason})",
                    requested_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                )),
            });
        }
    }
    if reasons.is_empty() {
        return Vec::new();
    }
    if let Ok(mut j) = Journal::create(path) {
        let _ = j.append(&JournalEntry::Observation {
            scenario: None,
            kind: Default::default(),
            by: "recover".into(),
            text: format!(
                "the watchdog had reverted {} fault(s): {}",
                reverted.len(),
                reasons.join("; ")
            ),
            at: Utc::now(),
        });
    }
    reverted
}

/// Each engine the journal names, connected (the fallback for a journal
/// written before engines were recorded); those unreachable are left out
/// (each of their faults says so when it is reverted).
async fn reached_engines(
    fallback: &Engine,
    cache: &mut Vec<Reached>,
    unfinished: &journal::Unfinished,
) -> Vec<Engine> {
    let mut engines = Vec::new();
    for spec in engines_of(unfinished) {
        match &spec {
            Some(spec) => {
                if let Ok((engine, _)) = reach(cache, spec).await {
                    engines.push(engine.clone());
                }
            }
            None => engines.push(fallback.clone()),
        }
    }
    engines
}

/// Remove the claim on the journal's scope, on every engine it names,
/// where its holder is that run and provably dead; returns the holder
/// removed.
async fn release_claim(
    fallback: &Engine,
    cache: &mut Vec<Reached>,
    unfinished: &journal::Unfinished,
) -> Option<claim::Holder> {
    let mut released = None;
    for engine in reached_engines(fallback, cache, unfinished).await {
        let Ok(Some(holder)) = claim::holder(&engine, &unfinished.scope).await else {
            continue;
        };
        if holder.run_id != unfinished.run_id {
            continue;
        }
        if let Ok(Some(holder)) = claim::release_dead(&engine, &unfinished.scope).await {
            released = Some(holder);
        }
    }
    released
}

/// Why the faults of `unfinished` must not be touched now, if they must
/// not: on one of the engines its journal names, its scope's claim is held
/// by a run that is alive, whose watchdog is still reverting, or that
/// cannot be proved dead (reverting would undo a live run's fault mid-hold).
async fn busy(
    fallback: &Engine,
    cache: &mut Vec<Reached>,
    unfinished: &journal::Unfinished,
) -> Option<String> {
    for engine in reached_engines(fallback, cache, unfinished).await {
        let Ok(Some(holder)) = claim::holder(&engine, &unfinished.scope).await else {
            continue;
        };
        if let Some(why) = refusal(&holder, unfinished, &engine) {
            return Some(why);
        }
    }
    None
}

/// The run that holds the scope of `unfinished` on one of the engines its
/// journal names and cannot be proved dead, if there is one: the engine's
/// address, the holder and how alive it is. (A second run on the same
/// `--out` finds a live run's journal with faults open: that run holds
/// them, nothing was left.)
pub(crate) async fn live_holder(
    fallback: &Engine,
    unfinished: &journal::Unfinished,
) -> Option<(String, claim::Holder, claim::Liveness)> {
    let mut cache = Vec::new();
    for engine in reached_engines(fallback, &mut cache, unfinished).await {
        let Ok(Some(holder)) = claim::holder(&engine, &unfinished.scope).await else {
            continue;
        };
        let liveness = holder.liveness();
        if !liveness.is_dead() {
            return Some((engine.host().to_string(), holder, liveness));
        }
    }
    None
}

/// Why `holder`'s claim on `engine` forbids touching the faults of
/// `unfinished`, unless it is provably dead.
fn refusal(
    holder: &claim::Holder,
    unfinished: &journal::Unfinished,
    engine: &Engine,
) -> Option<String> {
    let whose = if holder.run_id == unfinished.run_id {
        "its run"
    } else {
        "another run"
    };
    let scope = &unfinished.scope;
    let on = engine.host();
    match holder.liveness() {
        claim::Liveness::Dead(_) => None,
        claim::Liveness::Alive => Some(format!(
            "{whose} is alive and holds compose project `{scope}` on {on}: {holder}; it reverts its own faults (Ctrl-C or `gameday halt` stops it)"
        )),
        claim::Liveness::Reverting => Some(format!(
            "{whose} holds compose project `{scope}` on {on}: {holder}; its runner is gone and its watchdog is still reverting what it left after recover waited for it; run `gameday recover` again once it is done"
        )),
        claim::Liveness::Unknown(why) => Some(format!(
            "{whose} holds compose project `{scope}` on {on} and cannot be proved dead from here ({why}): {holder}; run `gameday recover` where it ran, or, if that run is gone for good, remove its claim with `docker rm -f {marker}; docker volume rm {marker}` and run recover again",
            marker = claim::name(scope)
        )),
    }
}

/// How long a dead runner's watchdog may take to revert what it left:
/// its lease (it fires at the latest when the lease runs out), each open
/// fault's settle time (an apply in flight is given that to land) and a
/// script's timeout, and a margin per fault for the engine's answers.
fn watchdog_bound(path: &Path, unfinished: &journal::Unfinished) -> std::time::Duration {
    const PER_FAULT: std::time::Duration = std::time::Duration::from_secs(10);
    const MARGIN: std::time::Duration = std::time::Duration::from_secs(10);
    let lease = journal::read(path)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let JournalEntry::WatchdogStarted { lease_ms, .. } = e else {
                return None;
            };
            Some(*lease_ms)
        })
        .max()
        .map_or(std::time::Duration::ZERO, std::time::Duration::from_millis);
    let faults: std::time::Duration = unfinished
        .faults
        .iter()
        .map(|(id, recipe)| {
            let settle = unfinished.unconfirmed.get(id).copied().unwrap_or_default();
            let script = match recipe {
                RevertRecipe::Script { timeout_ms, .. } => {
                    std::time::Duration::from_millis(*timeout_ms)
                }
                // The replacement's stop, then the replica's wait to be ready.
                RevertRecipe::Rollback {
                    timeout_ms,
                    stop_grace_ms,
                    ..
                } => std::time::Duration::from_millis(timeout_ms + stop_grace_ms),
                RevertRecipe::Unpause { .. }
                | RevertRecipe::Start { .. }
                | RevertRecipe::Nothing { .. }
                | RevertRecipe::NetRules { .. }
                | RevertRecipe::Continue { .. }
                | RevertRecipe::Stress { .. }
                | RevertRecipe::Reconnect { .. } => std::time::Duration::ZERO,
            };
            settle + script + PER_FAULT
        })
        .sum();
    lease + faults + MARGIN
}

/// Runs under `out` (of `scope` when given) whose runner is gone and
/// whose watchdog is reverting what it left right now: wait for each
/// watchdog to be done (at most [`watchdog_bound`]), so that what it did
/// is said rather than refused.
async fn wait_for_watchdogs(
    fallback: &Engine,
    cache: &mut Vec<Reached>,
    out: &Path,
    scope: Option<&str>,
) {
    for (path, run) in find_unended(out) {
        if scope.is_some_and(|s| s != run.scope) {
            continue;
        }
        let deadline = tokio::time::Instant::now() + watchdog_bound(&path, &run);
        for engine in reached_engines(fallback, cache, &run).await {
            while tokio::time::Instant::now() < deadline
                && matches!(
                    claim::holder(&engine, &run.scope).await,
                    Ok(Some(h)) if h.run_id == run.run_id && h.liveness() == claim::Liveness::Reverting
                )
            {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(reason: &str) -> JournalEntry {
        JournalEntry::WatchdogFired {
            reason: reason.into(),
            faults: 1,
            at: Utc::now(),
        }
    }

    fn reverted(fault: &str, by: &str) -> JournalEntry {
        JournalEntry::FaultReverted {
            fault_id: fault.into(),
            by: by.into(),
            requested_at: Utc::now(),
            confirmed_at: None,
        }
    }

    /// A run on two engines whose watchdogs both fired: each revert is
    /// said with its own watchdog's reason, once.
    #[test]
    fn every_watchdog_that_fired_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut j = Journal::create(&path).unwrap();
        for e in [
            reverted("f0", "run"),
            fired("lease expired"),
            reverted("f1", "watchdog"),
            fired("link closed"),
            reverted("f2", "watchdog@engine-b"),
        ] {
            j.append(&e).unwrap();
        }
        drop(j);
        let said = watchdog_reverts(&path);
        let outcomes: Vec<(&str, &RecoveryOutcome)> = said
            .iter()
            .map(|r| (r.fault_id.as_str(), &r.outcome))
            .collect();
        assert_eq!(outcomes.len(), 2, "{said:?}");
        assert!(
            matches!(outcomes[0], ("f1", RecoveryOutcome::Done(t)) if t.ends_with("(lease expired)")),
            "{said:?}"
        );
        assert!(
            matches!(outcomes[1], ("f2", RecoveryOutcome::Done(t)) if t.ends_with("(link closed)")),
            "{said:?}"
        );
        let entries = journal::read(&path).unwrap();
        assert!(
            matches!(entries.last(), Some(JournalEntry::Observation { text, .. }) if text == "the watchdog had reverted 2 fault(s): lease expired; link closed"),
            "{entries:?}"
        );
        assert!(watchdog_reverts(&path).is_empty(), "said twice");
    }
}
