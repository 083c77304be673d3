//! The run's exclusive claim on its scope, arbitrated by the engine itself:
//! a container that is created and never started, named after the compose
//! project (`gameday-claim-<project>`) and labelled with who holds it,
//! beside a named volume of the same name and labels, its witness, which
//! the container mounts. The engine refuses a second container of that
//! name and creates a volume name once, so two `gameday run`s on one scope
//! cannot both hold it, from one laptop or from two. `docker container
//! prune` (and `system prune`) remove the never-started container; the
//! witness stays, still names the holder and still refuses a second run,
//! and the runner puts the container back within a second ([`Claim::keep`]),
//! so that `volume prune` keeps the witness. A claim left by a runner that
//! died is taken over only when that is provable (see [`super::liveness`]),
//! and the run records that.

use std::collections::HashMap;

pub(crate) use super::liveness::{Gone, Holder, Liveness};
use crate::docker::{DockerError, Engine};

const LABEL: &str = "gameday.claim";
const SCOPE: &str = "gameday.claim.scope";
/// The image the marker is made from: what puts it back after a prune.
const IMAGE: &str = "gameday.claim.image";
const RUN_ID: &str = "gameday.claim.run_id";

/// The name of the claim container (and of its witness) of a scope.
pub(crate) fn name(scope: &str) -> String {
    marker_name("gameday-claim", scope)
}

/// `PREFIX-<scope>`, with what a container name cannot hold made `-`.
pub(crate) fn marker_name(prefix: &str, scope: &str) -> String {
    let safe: String = scope
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{safe}")
}

/// The labels of `holder`'s claim on `scope`, its marker made from `image`.
fn labels(holder: &Holder, scope: &str, image: &str) -> HashMap<String, String> {
    let mut labels = holder.labels();
    labels.extend([
        (LABEL.to_string(), "1".to_string()),
        (SCOPE.to_string(), scope.to_string()),
        (IMAGE.to_string(), image.to_string()),
    ]);
    labels
}

/// Do these labels make a claim of run `run_id`?
fn names_run(labels: &HashMap<String, String>, run_id: &str) -> bool {
    labels.contains_key(LABEL) && labels.get(RUN_ID).is_some_and(|r| r == run_id)
}

/// How a holder's liveness reads after "is held by HOLDER".
pub(crate) fn state_words(liveness: &Liveness) -> String {
    match liveness {
        Liveness::Alive | Liveness::Dead(_) => String::new(),
        Liveness::Reverting => {
            "; its runner is gone and its watchdog is reverting what it left".to_string()
        }
        Liveness::Unknown(why) => format!("; it cannot be proved dead from here: {why}"),
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClaimError {
    #[error("compose project `{scope}` on {engine} is held by {holder}{}", state_words(.liveness))]
    Held {
        scope: String,
        engine: String,
        holder: Holder,
        liveness: Liveness,
    },
    #[error("cannot claim compose project `{scope}` on {engine}: {source}")]
    Docker {
        scope: String,
        engine: String,
        #[source]
        source: DockerError,
    },
}

/// A claim held on one engine; [`Claim::release`] gives it back.
#[derive(Debug)]
#[must_use = "a claim must be released"]
pub(crate) struct Claim {
    engine: Engine,
    scope: String,
    image: String,
    holder: Holder,
}

/// The claim's labels: its container's, else (the container pruned) its
/// witness's; with the container's id when it is there.
async fn claim_labels(
    engine: &Engine,
    scope: &str,
) -> Result<Option<(Option<String>, HashMap<String, String>)>, DockerError> {
    if let Some((id, labels)) = engine.labels_of(&name(scope)).await?
        && labels.contains_key(LABEL)
    {
        return Ok(Some((Some(id), labels)));
    }
    Ok(engine
        .witness_labels(&name(scope))
        .await?
        .filter(|labels| labels.contains_key(LABEL))
        .map(|labels| (None, labels)))
}

/// Who holds the claim on `scope` on `engine`, if anyone.
pub(crate) async fn holder(engine: &Engine, scope: &str) -> Result<Option<Holder>, DockerError> {
    Ok(claim_labels(engine, scope)
        .await?
        .map(|(_, labels)| Holder::from_labels(&labels)))
}

/// The image the claim's marker on `scope` is made from (one the engine
/// has), for another marker beside it.
pub(crate) async fn image(engine: &Engine, scope: &str) -> Result<Option<String>, DockerError> {
    let Some((id, labels)) = claim_labels(engine, scope).await? else {
        return Ok(None);
    };
    match (labels.get(IMAGE), id) {
        (Some(image), _) => Ok(Some(image.clone())),
        // A claim made before the image was labelled.
        (None, Some(id)) => engine.image_of(&id).await,
        (None, None) => Ok(None),
    }
}

/// Take the claim on `scope` on `engine` for `me`, making the marker from
/// `image` (one the engine has: a target's). A claim whose holder is
/// provably dead is taken over, and its holder returned with the proof.
pub(crate) async fn acquire(
    engine: &Engine,
    scope: &str,
    image: &str,
    me: &Holder,
) -> Result<(Claim, Option<(Holder, Gone)>), ClaimError> {
    let docker = |source| ClaimError::Docker {
        scope: scope.to_string(),
        engine: engine.host().to_string(),
        source,
    };
    let marker = name(scope);
    let mine = labels(me, scope, image);
    let mut taken_over = None;
    // A few rounds at most: once, once more after taking over a dead
    // claim, and again when a race with another run was lost.
    for _ in 0..4 {
        // The witness first: whoever creates it first names themselves.
        let witness = engine
            .witness(&marker, mine.clone())
            .await
            .map_err(docker)?;
        if !witness.contains_key(LABEL) {
            // A volume of that name that no claim made (or one the engine
            // made for a marker whose witness had just been removed):
            // unused, it goes; in use, the marker below decides.
            if engine.remove_witness(&marker).await.is_ok() {
                continue;
            }
        } else if !names_run(&witness, &me.run_id) {
            taken_over = Some(take_over(engine, scope, &witness, taken_over.is_some()).await?);
            continue;
        }
        match engine.create_marker(&marker, image, mine.clone()).await {
            Ok(id) => {
                // The witness must still be ours: one removed in between
                // (by a run that judged its holder dead) is another's now.
                let still = engine.witness_labels(&marker).await.map_err(docker)?;
                if still.is_some_and(|l| names_run(&l, &me.run_id)) {
                    let claim = Claim {
                        engine: engine.clone(),
                        scope: scope.to_string(),
                        image: image.to_string(),
                        holder: me.clone(),
                    };
                    return Ok((claim, taken_over));
                }
                engine.remove_container(&id).await.map_err(docker)?;
            }
            Err(DockerError::Conflict(_)) => {
                let Some((_, labels)) = engine.labels_of(&marker).await.map_err(docker)? else {
                    // Removed in between: try again.
                    continue;
                };
                // A marker without our witness: a claim made by an older
                // gameday, or a container someone else named so.
                match take_over(engine, scope, &labels, taken_over.is_some()).await {
                    Ok(holder) => taken_over = Some(holder),
                    Err(e) => {
                        give_back_witness(engine, &marker, &me.run_id).await;
                        return Err(e);
                    }
                }
            }
            Err(e) => {
                give_back_witness(engine, &marker, &me.run_id).await;
                return Err(docker(e));
            }
        }
    }
    give_back_witness(engine, &marker, &me.run_id).await;
    Err(docker(DockerError::Conflict(format!(
        "the claim `{marker}` keeps coming back"
    ))))
}

/// The holder the claim `labels` name, removed when it is provably dead
/// (and nothing was taken over yet); otherwise the claim is held.
async fn take_over(
    engine: &Engine,
    scope: &str,
    labels: &HashMap<String, String>,
    already: bool,
) -> Result<(Holder, Gone), ClaimError> {
    let holder = Holder::from_labels(labels);
    let liveness = holder.liveness();
    let gone = match liveness {
        Liveness::Dead(gone) if labels.contains_key(LABEL) && !already => gone,
        Liveness::Dead(_) | Liveness::Alive | Liveness::Reverting | Liveness::Unknown(_) => {
            return Err(ClaimError::Held {
                scope: scope.to_string(),
                engine: engine.host().to_string(),
                holder,
                liveness,
            });
        }
    };
    remove_claim_of(engine, scope, &holder.run_id)
        .await
        .map_err(|source| ClaimError::Docker {
            scope: scope.to_string(),
            engine: engine.host().to_string(),
            source,
        })?;
    Ok((holder, gone))
}

/// Remove the claim container and witness of `scope` that name `run_id`
/// (the container first: the witness cannot go while it is mounted).
async fn remove_claim_of(engine: &Engine, scope: &str, run_id: &str) -> Result<(), DockerError> {
    let marker = name(scope);
    if let Some((id, labels)) = engine.labels_of(&marker).await?
        && names_run(&labels, run_id)
    {
        engine.remove_container(&id).await?;
    }
    if engine
        .witness_labels(&marker)
        .await?
        .is_some_and(|l| names_run(&l, run_id))
    {
        engine.remove_witness(&marker).await?;
    }
    Ok(())
}

/// Remove our witness after a refusal, unless something mounts it.
async fn give_back_witness(engine: &Engine, marker: &str, run_id: &str) {
    if let Ok(Some(labels)) = engine.witness_labels(marker).await
        && names_run(&labels, run_id)
    {
        let _ = engine.remove_witness(marker).await;
    }
}

impl Claim {
    /// Put the claim container back if it was removed (`docker container
    /// prune`), with its witness: the witness survives a container prune,
    /// and is kept from a volume prune only while a container mounts it.
    /// Returns whether anything was put back.
    pub(crate) async fn keep(&self) -> Result<bool, DockerError> {
        let marker = name(&self.scope);
        if engine_has(&self.engine, &marker).await? {
            return Ok(false);
        }
        let mine = labels(&self.holder, &self.scope, &self.image);
        let witness = self.engine.witness(&marker, mine.clone()).await?;
        if !names_run(&witness, &self.holder.run_id) {
            // Another run holds the scope now: nothing of ours to put back.
            return Ok(false);
        }
        match self.engine.create_marker(&marker, &self.image, mine).await {
            Ok(_) => Ok(true),
            Err(DockerError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Give the claim back (remove the marker and its witness).
    pub(crate) async fn release(self) -> Result<(), DockerError> {
        remove_claim_of(&self.engine, &self.scope, &self.holder.run_id).await
    }
}

/// The run's claims, put back every second while the run lasts (see
/// [`Claim::keep`]); [`Kept::stop`] gives them back to be released.
pub(crate) struct Kept {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<Claim>>,
}

/// Keep `claims` in place until [`Kept::stop`].
pub(crate) fn keep_all(claims: Vec<Claim>) -> Kept {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => break,
            }
            for claim in &claims {
                let _ = claim.keep().await;
            }
        }
        claims
    });
    Kept { stop, task }
}

impl Kept {
    /// Stop keeping them; the claims, to be released.
    pub(crate) async fn stop(self) -> Vec<Claim> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// Is there a container named `name`?
async fn engine_has(engine: &Engine, name: &str) -> Result<bool, DockerError> {
    Ok(engine.labels_of(name).await?.is_some())
}

/// Remove a claim whose holder is provably dead (after `recover` reverted
/// what it left). Returns the holder removed.
pub(crate) async fn release_dead(
    engine: &Engine,
    scope: &str,
) -> Result<Option<Holder>, DockerError> {
    let Some((_, labels)) = claim_labels(engine, scope).await? else {
        return Ok(None);
    };
    let holder = Holder::from_labels(&labels);
    if !holder.liveness().is_dead() {
        return Ok(None);
    }
    remove_claim_of(engine, scope, &holder.run_id).await?;
    Ok(Some(holder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_named_after_its_scope_safely() {
        assert_eq!(name("demo"), "gameday-claim-demo");
        assert_eq!(name("my project/x"), "gameday-claim-my-project-x");
    }

    #[test]
    fn a_held_claim_says_who_holds_it_and_why_it_is_not_taken_over() {
        use super::super::liveness::Unproven;
        let holder = Holder {
            run_id: "3f9c2a".into(),
            user: "dana".into(),
            host: "ci-runner".into(),
            boot_id: "b".into(),
            pid: 4242,
            since: "2026-12-02T10:31:07Z".into(),
            pid_ns: "4:4026531836".into(),
            start: 1,
            machine: String::new(),
        };
        let held = |liveness| {
            ClaimError::Held {
                scope: "shop".into(),
                engine: "unix:///var/run/docker.sock".into(),
                holder: holder.clone(),
                liveness,
            }
            .to_string()
        };
        let text = [
            Liveness::Alive,
            Liveness::Reverting,
            Liveness::Unknown(Unproven::OlderClaim),
            Liveness::Unknown(Unproven::OtherPidNamespace),
            Liveness::Unknown(Unproven::NoMachineIdentity),
            Liveness::Unknown(Unproven::OtherMachine),
            Liveness::Unknown(Unproven::NotAReboot),
        ]
        .into_iter()
        .map(held)
        .collect::<Vec<_>>()
        .join("\n");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn a_claims_labels_name_its_run_and_holder() {
        let me = Holder::me("abc");
        let l = labels(&me, "demo", "img");
        assert!(names_run(&l, "abc") && !names_run(&l, "abd"));
        assert_eq!(Holder::from_labels(&l), me);
        assert_eq!(l.get(SCOPE).map(String::as_str), Some("demo"));
        let mut not_a_claim = l.clone();
        not_a_claim.remove(LABEL);
        assert!(!names_run(&not_a_claim, "abc"));
    }
}
