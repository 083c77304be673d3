//! The lines a worker and its launcher exchange, the version they must
//! share, and what goes wrong starting a worker ([`WorkerError`]).

use std::time::Duration;

use super::WorkerKind;

/// The worker protocol's number: raise it with any change to a work type
/// or to the lines, so a helper image built before is refused.
pub(crate) const PROTOCOL: u32 = 2;

/// The command that installs the helper image, named by refusals.
pub(crate) const BUILD_HELPER_IMAGE: &str = "gameday helper install";

/// This build's worker version: the crate's version and the protocol's.
pub(crate) fn version() -> String {
    format!("{}+worker.{PROTOCOL}", env!("CARGO_PKG_VERSION"))
}

/// The version a worker of `kind` announces: [`version`], except that a
/// debug build answers [`STALE_VERSION`] for the kind named by
/// `GAMEDAY_TEST_STALE_WORKER` (the tests' stale worker; a release build,
/// the helper image's, never reads it).
pub(crate) fn announced_version(kind: WorkerKind) -> String {
    if cfg!(debug_assertions)
        && std::env::var("GAMEDAY_TEST_STALE_WORKER").is_ok_and(|k| k == kind.key())
    {
        return STALE_VERSION.to_string();
    }
    version()
}

/// What the tests' stale worker announces.
const STALE_VERSION: &str = "0.0.0+worker.0";

/// The worker's first line.
pub(crate) fn ready_line(version: &str) -> String {
    format!("ready {version}")
}

/// The version a first line announces, if it is a `ready` line.
pub(crate) fn parse_ready(line: &str) -> Option<&str> {
    line.strip_prefix("ready ").map(str::trim)
}

/// What a worker says once its job is in place (after `ready`).
pub(crate) const IN_PLACE: &str = "in place: ";
/// What a worker's last line starts with.
pub(crate) const STOPPED: &str = "stopped: ";

/// Where a worker was to run, for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Where {
    ThisHost,
    Image(String),
}

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Where::ThisHost => f.write_str("gameday on this host"),
            Where::Image(image) => write!(f, "the helper image `{image}`"),
        }
    }
}

/// Why a worker could not be started or given its work.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkerError {
    #[error("cannot start {kind} on this host: {source}")]
    Start {
        kind: WorkerKind,
        #[source]
        source: std::io::Error,
    },
    /// The engine cannot place it as asked (its words).
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "cannot start a helper container from `{image}`: {source} \
         (install it with `{BUILD_HELPER_IMAGE}`, or set docker.helper_image)"
    )]
    Helper {
        image: String,
        #[source]
        source: crate::docker::DockerError,
    },
    #[error(
        "{at} answers worker version {theirs}, this gameday is {ours}: nothing was applied; \
         {}",
        rebuild(at)
    )]
    Stale {
        at: Where,
        ours: String,
        theirs: String,
    },
    #[error(
        "{at} does not speak the worker protocol (it said `{said}`), this gameday is {ours}: \
         nothing was applied; {}",
        rebuild(at)
    )]
    NotAWorker {
        at: Where,
        ours: String,
        said: String,
    },
    #[error("{kind} was not ready after {}s", within.as_secs())]
    Silent { kind: WorkerKind, within: Duration },
    #[error("cannot give {kind} its work: {why}")]
    Work { kind: WorkerKind, why: String },
}

/// How to get a worker of this build's version there.
fn rebuild(at: &Where) -> String {
    match at {
        Where::ThisHost => {
            "the gameday binary changed under the run: start the run again".to_string()
        }
        Where::Image(image) => {
            format!(
                "replace it with `{BUILD_HELPER_IMAGE} --image {image}` on that engine (or set docker.helper_image)"
            )
        }
    }
}

impl WorkerError {
    /// A helper container that could not start.
    pub(crate) fn helper(image: &str, e: crate::docker::DockerError) -> WorkerError {
        match e {
            crate::docker::DockerError::Unsupported(why) => WorkerError::Unsupported(why),
            source => WorkerError::Helper {
                image: image.to_string(),
                source,
            },
        }
    }
}

/// Judge a worker's first line (or what it said before it ended, when
/// `line` is None): Ok when it is this build's version.
pub(crate) fn check_ready(at: &Where, line: Option<&str>, stderr: &str) -> Result<(), WorkerError> {
    let ours = version();
    match line.and_then(parse_ready) {
        Some(theirs) if theirs == ours => Ok(()),
        Some(theirs) => Err(WorkerError::Stale {
            at: at.clone(),
            ours,
            theirs: theirs.to_string(),
        }),
        None => Err(WorkerError::NotAWorker {
            at: at.clone(),
            ours,
            said: line
                .map(str::to_string)
                .unwrap_or_else(|| first_words(stderr)),
        }),
    }
}

/// The first line of what a worker printed on stderr, bounded.
fn first_words(stderr: &str) -> String {
    let line = stderr.trim().lines().next().unwrap_or("");
    let short: String = line.chars().take(200).collect();
    if short.is_empty() {
        "nothing".to_string()
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_of_this_version_is_taken() {
        let ready = ready_line(&version());
        assert!(check_ready(&Where::ThisHost, Some(&ready), "").is_ok());
        assert!(version().starts_with(env!("CARGO_PKG_VERSION")));
    }

    /// The refusal names both versions and the command that rebuilds the
    /// image.
    #[test]
    fn a_stale_helper_image_is_refused_in_words() {
        let at = Where::Image("gameday-nethelper:latest".into());
        let e = check_ready(&at, Some("ready 0.0.9+worker.0"), "").unwrap_err();
        assert!(matches!(e, WorkerError::Stale { .. }));
        let text = e.to_string().replace(&version(), "VERSION");
        insta::assert_snapshot!(text, @"the helper image `gameday-nethelper:latest` answers worker version 0.0.9+worker.0, this gameday is VERSION: nothing was applied; replace it with `gameday helper install --image gameday-nethelper:latest` on that engine (or set docker.helper_image)");
        // An image from before the protocol fails on its command line.
        let e = check_ready(
            &at,
            None,
            "error: the following required arguments were not provided:\n  --pid <PID>",
        )
        .unwrap_err();
        let text = e.to_string().replace(&version(), "VERSION");
        insta::assert_snapshot!(text, @"the helper image `gameday-nethelper:latest` does not speak the worker protocol (it said `error: the following required arguments were not provided:`), this gameday is VERSION: nothing was applied; replace it with `gameday helper install --image gameday-nethelper:latest` on that engine (or set docker.helper_image)");
        let here = check_ready(&Where::ThisHost, Some("ready 9"), "").unwrap_err();
        assert!(here.to_string().contains("start the run again"), "{here}");
    }

    #[test]
    fn ready_lines_carry_the_version() {
        assert_eq!(
            parse_ready(&ready_line("1.2.3+worker.4")),
            Some("1.2.3+worker.4")
        );
        assert_eq!(parse_ready("stopped: told to stop"), None);
    }
}
