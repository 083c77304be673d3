//! Whether each engine whose network or stress faults go through helper
//! containers (or whose watchdog must run as one: gameday in a container)
//! has this gameday's helper image: read
//! only. A missing or old one of gameday's is to be installed by the run
//! before anything is applied ([`HelperInstall`], shown by the plan with
//! its size); an image at the tag that is not gameday's, or one that
//! cannot be assembled here, is a warning, which refuses the run.

use std::collections::BTreeMap;

use super::NamespaceRoute;
use crate::docker::Engines;
use crate::gameday::Gameday;
use crate::worker::image::{HelperFiles, HelperState, LABEL, megabytes};

/// A helper image the run installs before anything is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HelperInstall {
    /// The engine's name in the gameday (`default` or one of `hosts:`).
    pub engine: String,
    /// Its address.
    pub host: String,
    pub image: String,
    /// Missing or old.
    pub state: HelperState,
    /// About the image's size, in bytes.
    pub size: u64,
}

impl HelperInstall {
    /// The plan's line.
    pub(crate) fn describe(&self) -> String {
        format!(
            "the helper image `{}` will be installed on engine `{}` ({}) before anything is applied ({}): there it is {}",
            self.image,
            self.engine,
            self.host,
            megabytes(self.size),
            self.state.describe()
        )
    }
}

/// The helper images to install, per engine that needs one; problems go
/// to `warnings`.
pub(crate) async fn helper_needs(
    gameday: &Gameday,
    engines: &Engines,
    route: &NamespaceRoute,
    warnings: &mut Vec<String>,
) -> Vec<HelperInstall> {
    // Faults that enter namespaces or cgroups go through the helpers; a
    // watchdog alone falls back to this host without the image.
    let needs_namespace = gameday
        .scenarios
        .iter()
        .flat_map(|s| &s.faults)
        .any(|f| f.is_network() || f.stress().is_some());
    let mut needed: BTreeMap<String, String> = if needs_namespace {
        route.helpers.clone()
    } else {
        BTreeMap::new()
    };
    if route.runner_outside {
        needed.insert(
            engines.default_engine().name().to_string(),
            gameday.docker.helper_image_or_default(),
        );
    }
    let mut files: Option<Result<HelperFiles, String>> = None;
    let mut installs = Vec::new();
    for (name, image) in needed {
        let engine = engines.named(&name);
        let state = match HelperState::of(engine, &image).await {
            Ok(state) => state,
            Err(e) => {
                warnings.push(format!(
                    "cannot tell whether the helper image `{image}` is on engine `{name}` ({}): {e}",
                    engine.host()
                ));
                continue;
            }
        };
        if let HelperState::Foreign(_) = state {
            warnings.push(format!(
                "`{image}` on engine `{name}` ({}) is not gameday's helper image (it has no `{LABEL}=1` label), and gameday never overwrites it: \
                 remove or retag it there, or set docker.helper_image to another tag (gameday installs its own there)",
                engine.host()
            ));
            continue;
        }
        if !state.needs_install() {
            continue;
        }
        if let Some(refused) = refused_install(engine, &name, &image, &state).await {
            warnings.push(refused);
            continue;
        }
        let gathered =
            files.get_or_insert_with(|| HelperFiles::gather().map_err(|e| e.to_string()));
        match gathered {
            Ok(files) => installs.push(HelperInstall {
                engine: name,
                host: engine.host().to_string(),
                image,
                state,
                size: files.size,
            }),
            Err(e) => warnings.push(format!(
                "the helper image `{image}` on engine `{name}` ({}) is {}, and it cannot be assembled here: {e}",
                engine.host(),
                state.describe()
            )),
        }
    }
    installs
}

/// Why a run must not install `image` by itself: a tag other than
/// gameday's own repository (it could be a name others pull by; install
/// there only by hand), or an old helper another run's containers still
/// use.
async fn refused_install(
    engine: &crate::docker::Engine,
    name: &str,
    image: &str,
    state: &HelperState,
) -> Option<String> {
    let repository = image.rsplit_once(':').map_or(image, |(r, _)| r);
    if repository != DEFAULT_REPOSITORY {
        return Some(format!(
            "the helper image `{image}` on engine `{name}` ({}) is {}, and a run installs one only under `{DEFAULT_REPOSITORY}`: \
             install it there on purpose with `gameday helper install --image {image}`",
            engine.host(),
            state.describe()
        ));
    }
    if let HelperState::Old { facts, .. } = state
        && let Ok(users) = engine.image_users(&facts.id, false).await
        && users > 0
    {
        return Some(format!(
            "the helper image `{image}` on engine `{name}` ({}) is {}, and {users} running container(s) use it (another run's helpers?): \
             it is not replaced under them; wait for that run to end, or set docker.helper_image to another tag",
            engine.host(),
            state.describe()
        ));
    }
    None
}

/// The repository a run installs its helper image under by itself.
const DEFAULT_REPOSITORY: &str = "gameday-nethelper";
