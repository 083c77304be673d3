//! `gameday helper status|install`: the helper image on one engine, shown
//! and installed explicitly (a run installs it by itself when its plan
//! needs it: see `plan::discover`). The image is assembled by this binary
//! from this machine's tools (`worker::image`) and loaded through the API.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{CliError, CliResult};
use crate::docker::Engine;
use crate::exit;
use crate::gameday::model::{DEFAULT_HELPER_IMAGE, EngineSpec, TlsFiles};
use crate::worker::image::{self, HelperFiles, HelperState, megabytes};
use crate::worker::protocol;

/// What `gameday helper` does.
#[derive(Debug, clap::Subcommand)]
pub enum HelperAction {
    /// Say whether the engine has this gameday's helper image.
    ///
    /// Prints present or missing, the image's version label against this gameday's, its size,
    /// and what to do. Exit 0 when the image is current, 1 when it is missing, old or not
    /// gameday's, 2 when the engine cannot be reached. Changes nothing.
    #[command(
        after_long_help = "Examples:\n  gameday helper status\n  gameday helper status --engine tcp://staging:2376 --tls-dir ~/.docker/staging"
    )]
    Status {
        #[command(flatten)]
        target: HelperTarget,
    },
    /// Install (or replace) this gameday's helper image on the engine.
    ///
    /// The image is assembled here: this gameday binary at /gameday, this machine's tc, ip and
    /// xtables-nft-multi (iptables) with their modules and every library they load, in a
    /// FROM scratch image loaded through the engine's API (nothing is pulled). An old helper
    /// image of gameday's at the tag is replaced, and removed when nothing uses it; an image
    /// at the tag that is not gameday's (no `gameday.nethelper=1` label) is never
    /// overwritten. Exit 0 when it is installed (or already was), 2 when it cannot be.
    #[command(
        after_long_help = "Examples:\n  gameday helper install\n  gameday helper install --engine tcp://staging:2376 --tls-dir ~/.docker/staging\n  gameday helper install --engine ssh://deploy@staging --dry-run"
    )]
    Install {
        #[command(flatten)]
        target: HelperTarget,
        /// Say what would be installed, and its size, without touching the engine's images.
        #[arg(long)]
        dry_run: bool,
        /// An extra label KEY=VALUE on the image (repeatable; the build script's source hash).
        #[arg(long, value_name = "KEY=VALUE", hide = true)]
        label: Vec<String>,
        /// Write the image's root filesystem as a tar to FILE instead, touching no engine
        /// (scripts/build-image puts it in gameday's own image).
        #[arg(long, value_name = "FILE", hide = true, conflicts_with = "dry_run")]
        write_rootfs: Option<PathBuf>,
    },
}

/// Which engine, and which image on it.
#[derive(Debug, clap::Args)]
pub struct HelperTarget {
    /// The engine: unix://PATH, tcp://HOST:PORT or ssh://USER@HOST (default: DOCKER_HOST, then
    /// the local socket).
    #[arg(long, value_name = "URL")]
    engine: Option<String>,
    /// For a tcp:// engine: the directory of ca.pem, cert.pem and key.pem (as the docker
    /// CLI's DOCKER_CERT_PATH) for mutual TLS.
    #[arg(long, value_name = "DIR")]
    tls_dir: Option<PathBuf>,
    /// Reach a tcp:// engine without TLS (a private path only), as `insecure: true` in a
    /// gameday file.
    #[arg(long, conflicts_with = "tls_dir")]
    insecure: bool,
    /// The helper image's tag (a gameday file's `docker.helper_image`).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_HELPER_IMAGE)]
    image: String,
}

impl HelperTarget {
    async fn connect(&self) -> Result<Engine, CliError> {
        let file = |name: &str| {
            self.tls_dir
                .as_ref()
                .map(|d| d.join(name).display().to_string())
        };
        let spec = EngineSpec {
            host: self.engine.clone(),
            tls: self.tls_dir.as_ref().map(|_| TlsFiles {
                ca: file("ca.pem").unwrap_or_default(),
                cert: file("cert.pem").unwrap_or_default(),
                key: file("key.pem").unwrap_or_default(),
            }),
            insecure: self.insecure,
            ..EngineSpec::default()
        };
        Engine::connect_spec(&spec)
            .await
            .map_err(|e| CliError::invalid(e.to_string()).hint("nothing was changed"))
    }

    /// The `gameday helper install ...` that installs it, for hints.
    fn install_command(&self) -> String {
        let mut command = "gameday helper install".to_string();
        if let Some(engine) = &self.engine {
            command.push_str(&format!(" --engine {engine}"));
        }
        if let Some(dir) = &self.tls_dir {
            command.push_str(&format!(" --tls-dir {}", dir.display()));
        }
        if self.insecure {
            command.push_str(" --insecure");
        }
        if self.image != DEFAULT_HELPER_IMAGE {
            command.push_str(&format!(" --image {}", self.image));
        }
        command
    }
}

pub(super) async fn helper(action: HelperAction) -> CliResult {
    match action {
        HelperAction::Status { target } => status(&target).await,
        HelperAction::Install {
            write_rootfs: Some(file),
            ..
        } => write_rootfs(&file),
        HelperAction::Install {
            target,
            dry_run,
            label,
            write_rootfs: None,
        } => install(&target, dry_run, &label).await,
    }
}

/// The helper's root filesystem, as a tar in `file`.
fn write_rootfs(file: &std::path::Path) -> CliResult {
    let layer = HelperFiles::gather()
        .and_then(|files| files.layer())
        .map_err(|e| CliError::invalid(e.to_string()))?;
    std::fs::write(file, &layer)
        .map_err(|e| CliError::invalid(format!("cannot write `{}`: {e}", file.display())))?;
    println!(
        "wrote the helper's root filesystem to {} ({})",
        file.display(),
        megabytes(layer.len() as u64)
    );
    Ok(exit::OK)
}

async fn status(target: &HelperTarget) -> CliResult {
    let engine = target.connect().await?;
    let state = HelperState::of(&engine, &target.image)
        .await
        .map_err(|e| CliError::invalid(e.to_string()))?;
    println!(
        "helper image `{}` on the engine at {} ({}): {}",
        target.image,
        engine.host(),
        engine.security().describe(),
        state.describe()
    );
    println!("  this gameday: {}", protocol::version());
    match &state {
        HelperState::Current(facts) => {
            println!("  size: {}", megabytes(facts.size));
            println!("  nothing to do: network faults there can go through it");
            Ok(exit::OK)
        }
        HelperState::Old { facts, .. } => {
            println!("  size: {}", megabytes(facts.size));
            println!(
                "  to do: `{}` replaces it (a run there would replace it by itself)",
                target.install_command()
            );
            Ok(exit::NOT_MET)
        }
        HelperState::Missing => {
            println!(
                "  to do: `{}` installs it (a run there would install it by itself)",
                target.install_command()
            );
            Ok(exit::NOT_MET)
        }
        HelperState::Foreign(facts) => {
            println!("  size: {}", megabytes(facts.size));
            println!(
                "  to do: remove or retag that image on the engine, or give gameday another tag (`--image`, a gameday file's `docker.helper_image`); gameday never overwrites it"
            );
            Ok(exit::NOT_MET)
        }
    }
}

async fn install(target: &HelperTarget, dry_run: bool, extra: &[String]) -> CliResult {
    let mut labels = BTreeMap::new();
    for pair in extra {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(CliError::invalid(format!(
                "`--label {pair}` is not KEY=VALUE"
            )));
        };
        labels.insert(key.to_string(), value.to_string());
    }
    let engine = target.connect().await?;
    let where_ = format!("the engine at {}", engine.host());
    if dry_run {
        let state = HelperState::of(&engine, &target.image)
            .await
            .map_err(|e| CliError::invalid(e.to_string()))?;
        let files = HelperFiles::gather().map_err(|e| CliError::invalid(e.to_string()))?;
        println!(
            "would install the helper image `{}` (about {}) on {where_}; there now: {}",
            target.image,
            megabytes(files.size),
            state.describe()
        );
        return Ok(exit::OK);
    }
    let installed = image::install(&engine, &target.image, &labels)
        .await
        .map_err(|e| match e {
            e @ image::InstallError::Foreign { .. } => CliError::invalid(e.to_string()).hint(
                "remove or retag that image, or install gameday's under another tag with `--image` (and name it in the gameday file's `docker.helper_image`); nothing was changed",
            ),
            e => CliError::invalid(e.to_string()),
        })?;
    let size = megabytes(installed.size);
    let image = &target.image;
    if installed.unchanged {
        println!(
            "the helper image `{image}` ({size}) on {where_} is already this one: nothing to do"
        );
        return Ok(exit::OK);
    }
    match &installed.before {
        HelperState::Missing => {
            println!("installed the helper image `{image}` ({size}) on {where_}")
        }
        HelperState::Current(_) => println!(
            "replaced the helper image `{image}` on {where_} ({size}): it was another build of this version"
        ),
        before => println!(
            "replaced the helper image `{image}` on {where_} ({size}); it was {}",
            before.describe()
        ),
    }
    if installed.removed_old {
        println!("removed the image it replaced (nothing used it)");
    }
    Ok(exit::OK)
}
