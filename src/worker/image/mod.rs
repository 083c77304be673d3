//! The helper image (`gameday-nethelper:latest` unless told otherwise):
//! what workers on a remote engine run from. This binary assembles it
//! itself from what this machine has ([`rootfs`], [`elf`]) and loads it
//! through the engine's API; nothing is pulled and no script is needed.
//!
//! An image at the tag is *ours* when it carries [`LABEL`]: then its
//! [`VERSION_LABEL`] says whether it is current ([`protocol::version`]),
//! and an old one is replaced (the old image removed when nothing uses
//! it). An image without the label is someone else's: never overwritten.
//!
//! - `elf`: what a program needs to be loaded, read from its ELF headers;
//! - `rootfs`: the files, the rootfs tar and the image archive.

pub(crate) mod elf;
pub(crate) mod rootfs;

use std::collections::BTreeMap;

use super::protocol;
use crate::docker::{DockerError, Engine, ImageFacts};
pub(crate) use rootfs::{AssembleError, HelperFiles};

/// The label every helper image gameday made carries.
pub(crate) const LABEL: &str = "gameday.nethelper";
/// The worker version of the gameday that made it.
pub(crate) const VERSION_LABEL: &str = "gameday.nethelper.version";

/// What an engine holds at the helper image's tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HelperState {
    /// Ours, of this gameday's version.
    Current(ImageFacts),
    /// Ours, of another version (`None`: made before versions were labelled).
    Old {
        version: Option<String>,
        facts: ImageFacts,
    },
    Missing,
    /// An image that is not ours: never replaced.
    Foreign(ImageFacts),
}

impl HelperState {
    /// What the engine holds at `image`.
    pub(crate) async fn of(engine: &Engine, image: &str) -> Result<HelperState, DockerError> {
        let Some(facts) = engine.image_facts(image).await? else {
            return Ok(HelperState::Missing);
        };
        if facts.labels.get(LABEL).map(String::as_str) != Some("1") {
            return Ok(HelperState::Foreign(facts));
        }
        match facts.labels.get(VERSION_LABEL) {
            Some(v) if *v == protocol::version() => Ok(HelperState::Current(facts)),
            version => Ok(HelperState::Old {
                version: version.cloned(),
                facts,
            }),
        }
    }

    /// Whether gameday installs the image there (missing or old).
    pub(crate) fn needs_install(&self) -> bool {
        matches!(self, HelperState::Missing | HelperState::Old { .. })
    }

    /// In words, for `helper status`, plans and errors.
    pub(crate) fn describe(&self) -> String {
        match self {
            HelperState::Current(_) => format!("current (gameday {})", protocol::version()),
            HelperState::Old { version, .. } => format!(
                "old: made by gameday {}, this is gameday {}",
                version
                    .as_deref()
                    .unwrap_or("of unknown version (no version label)"),
                protocol::version()
            ),
            HelperState::Missing => "missing".to_string(),
            HelperState::Foreign(_) => {
                format!("not gameday's: the image at that tag has no `{LABEL}=1` label")
            }
        }
    }
}

/// `31.2 MB`
pub(crate) fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// Why the helper image could not be installed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InstallError {
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(
        "`{image}` on the engine at {host} is not gameday's helper image (no `{LABEL}=1` label): it is left alone"
    )]
    Foreign { image: String, host: String },
    #[error(
        "`{image}` on the engine at {host} is another gameday's helper image, in use by {users} running container(s) (another run's helpers?): it is not replaced under them; wait for that run to end, or set docker.helper_image to another tag"
    )]
    InUse {
        image: String,
        host: String,
        users: usize,
    },
    #[error("the engine at {host} did not tag `{image}` after loading it")]
    NotLoaded { image: String, host: String },
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Installed {
    /// The image's size on the engine, in bytes.
    pub size: u64,
    /// What was at the tag before.
    pub before: HelperState,
    /// The exact same image was already there: nothing was loaded.
    pub unchanged: bool,
    /// The image it replaced was removed (nothing used it).
    pub removed_old: bool,
}

/// The labels of the helper image this gameday makes, with `extra`.
pub(crate) fn labels(extra: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels = extra.clone();
    labels.insert(LABEL.to_string(), "1".to_string());
    labels.insert(VERSION_LABEL.to_string(), protocol::version());
    labels
}

/// Install the helper image at `image` on `engine`: assembled here,
/// loaded through the API; an old one of ours is replaced (and removed
/// when nothing uses it), someone else's is refused.
pub(crate) async fn install(
    engine: &Engine,
    image: &str,
    extra_labels: &BTreeMap<String, String>,
) -> Result<Installed, InstallError> {
    let before = HelperState::of(engine, image).await?;
    if let HelperState::Foreign(_) = before {
        return Err(InstallError::Foreign {
            image: image.to_string(),
            host: engine.host().to_string(),
        });
    }
    let files = HelperFiles::gather()?;
    let archive = rootfs::image_archive(&files.layer()?, image, &labels(extra_labels));
    let old_id = match &before {
        HelperState::Current(f) | HelperState::Old { facts: f, .. } => Some(f.id.clone()),
        HelperState::Missing | HelperState::Foreign(_) => None,
    };
    // Another version's helpers still running (someone else's run on this
    // engine) would start their next workers from the new image: refused.
    if let HelperState::Old { facts, .. } = &before {
        let users = engine.image_users(&facts.id, false).await?;
        if users > 0 {
            return Err(InstallError::InUse {
                image: image.to_string(),
                host: engine.host().to_string(),
                users,
            });
        }
    }
    let unchanged = old_id.as_deref() == Some(archive.id.as_str());
    if !unchanged {
        engine.load_image(archive.bytes).await?;
    }
    let Some(now) = engine.image_facts(image).await? else {
        return Err(InstallError::NotLoaded {
            image: image.to_string(),
            host: engine.host().to_string(),
        });
    };
    let removed_old = match old_id {
        Some(old) if old != now.id => engine.remove_unused_image(&old).await?,
        _ => false,
    };
    Ok(Installed {
        size: now.size,
        before,
        unchanged,
        removed_old,
    })
}
