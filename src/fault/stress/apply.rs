//! The stress family as the run makes it: its recipe (the tag of its
//! workers, the files they will write, the OOM scores a `memory_stress`
//! raises), its apply (a worker started, held by the [`AppliedFault`]
//! until the revert stops it), and its revert ([`RevertRecipe::Stress`]),
//! from this host or through a helper.

use chrono::{DateTime, Utc};

use super::{OomScore, Work, work_of};
use crate::docker::{ContainerInfo, DockerError, Engine};
use crate::fault::recipe::OnContainer;
use crate::fault::{
    AppliedFault, ApplyContext, Applying, FaultError, RevertRecipe, Running, Via, local_pid, netns,
};
use crate::gameday::model::StressFault;
use crate::gameday::units::ContainerState;

/// Its revert recipe: its workers' tag, the files they will write, and
/// for `memory_stress` the OOM scores of the container's processes before
/// they are raised (read only; when they cannot be read, the apply says
/// why).
pub(crate) async fn recipe(
    engine: &Engine,
    fault: StressFault<'_>,
    container: &ContainerInfo,
    context: &ApplyContext,
) -> RevertRecipe {
    let oom_scores = match fault {
        StressFault::Memory(_) => oom_scores_now(engine, container, context).await,
        StressFault::Cpu(_) | StressFault::Io(_) | StressFault::DiskFill(_) => Vec::new(),
    };
    RevertRecipe::Stress {
        container_id: container.id.clone(),
        container_name: container.name.clone(),
        tag: context.tag.clone(),
        files: work_of(fault).files(&context.tag),
        oom_scores,
        helper_image: context.helper_image.clone(),
    }
}

/// The OOM scores of the container's processes now.
async fn oom_scores_now(
    engine: &Engine,
    container: &ContainerInfo,
    context: &ApplyContext,
) -> Vec<OomScore> {
    match context.helper_image.as_deref() {
        Some(image) => super::oom_scores_via_helper(engine, image, &container.id, &context.tag)
            .await
            .unwrap_or_default(),
        None => match local_pid(engine, container).await {
            Ok(pid) => super::oom_scores(&container.id, pid),
            Err(_) => Vec::new(),
        },
    }
}

/// Start its worker, on this host or in a helper container, and wait
/// until its work is in place.
pub(crate) async fn apply(
    fault: StressFault<'_>,
    applying: Applying<'_>,
) -> Result<AppliedFault, FaultError> {
    let error = |message: String| FaultError::Stress {
        container: applying.container.name.clone(),
        message,
    };
    let via = applying.via(error).await?;
    let mut work = work_of(fault);
    if let (Work::Memory { raise, .. }, RevertRecipe::Stress { oom_scores, .. }) =
        (&mut work, &applying.recipe)
    {
        raise.clone_from(oom_scores);
    }
    let context = applying.context;
    work.set_room(context.filesystem.clone());
    let (worker, detail) = super::start(
        via,
        &applying.container.id,
        &context.tag,
        &work,
        context.max_lifetime,
    )
    .await
    .map_err(error)?;
    let mut applied = applying.in_place(
        match via {
            Via::ThisHost { .. } => "a gameday worker in the container's cgroups",
            Via::Helper { .. } => {
                "a gameday worker in a helper container inside the container's cgroup"
            }
        },
        Some(detail),
    );
    applied.running = Some(Running::Stress(worker));
    Ok(applied)
}

/// [`RevertRecipe::Stress`]: kill its workers (or remove their helpers),
/// remove the files they wrote and put the OOM scores back.
pub(crate) async fn revert(
    engine: &Engine,
    on: OnContainer<'_>,
    tag: &str,
    files: &[String],
    oom_scores: &[OomScore],
    helper_image: Option<&str>,
) -> Result<Option<DateTime<Utc>>, FaultError> {
    match helper_image {
        Some(image) => revert_via_helper(engine, on, image, tag, files, oom_scores).await,
        None => revert_here(engine, on, tag, files, oom_scores).await,
    }
}

async fn revert_via_helper(
    engine: &Engine,
    on: OnContainer<'_>,
    image: &str,
    tag: &str,
    files: &[String],
    oom_scores: &[OomScore],
) -> Result<Option<DateTime<Utc>>, FaultError> {
    // Stopping a helper ends its worker without its clean-up: the files
    // and scores are put right next, from inside.
    let killed = crate::worker::leftovers::remove_helpers(engine, tag).await;
    let (mut removed, mut restored) = (0, 0);
    if (!files.is_empty() || !oom_scores.is_empty())
        && engine.state(on.id).await.map_err(on.docker("inspect"))? == ContainerState::Running
    {
        (removed, restored) =
            super::clean_up_via_helper(engine, image, on.id, tag, files, oom_scores)
                .await
                .map_err(|message| FaultError::Stress {
                    container: on.name.to_string(),
                    message: format!("cannot clean up: {message}"),
                })?;
    }
    Ok((killed + removed + restored > 0).then(Utc::now))
}

async fn revert_here(
    engine: &Engine,
    on: OnContainer<'_>,
    tag: &str,
    files: &[String],
    oom_scores: &[OomScore],
) -> Result<Option<DateTime<Utc>>, FaultError> {
    let killed = crate::worker::leftovers::kill_tagged(tag).await;
    let restored = super::set_oom_scores(oom_scores, None);
    let mut removed = 0;
    if !files.is_empty() {
        let main_pid = match engine.pid(on.id).await {
            Ok(pid) => pid,
            Err(DockerError::NotFound(_)) => 0,
            Err(e) => return Err(on.docker("inspect")(e)),
        };
        // A container that does not run has no worker left either; its
        // files are said in `recover`'s settling.
        if main_pid > 0 && netns::pid_is_container(main_pid, on.id) {
            removed = super::remove(main_pid, on.id, tag, files)
                .await
                .map_err(|message| FaultError::Stress {
                    container: on.name.to_string(),
                    message: format!("cannot remove {}: {message}", files.join(", ")),
                })?;
        }
    }
    Ok((killed + removed + restored > 0).then(Utc::now))
}
