//! What exists, asked of the engines (read only): connect to every engine of
//! the gameday, list the containers in and outside scope, work out how
//! network faults will reach a container's namespace (from this host or
//! through a helper container; whether that image is there is
//! `helper_needs`'s), and what
//! the targets of stress and process faults own (their memory limits, PID
//! namespaces and mounts, their hosts' memory and disks: only those
//! containers are inspected). Never prints: problems are errors,
//! [`Inventory::warnings`], or facts that could not be read (which the
//! reach checks refuse).

use std::collections::BTreeMap;

use super::reach::{Disk, HostFacts, ReachFacts, TargetFacts, VolumeFacts};
use super::{EngineInfo, Inventory, NamespaceRoute};
use crate::docker::{ContainerInfo, DockerError, Engine, Engines, MountKind};
use crate::gameday::Gameday;
use crate::gameday::model::{DeployFault, Fault, NetworkHelper, Target};
use crate::gameday::units::ContainerState;

#[derive(Debug, thiserror::Error)]
pub(crate) enum DiscoverError {
    /// The `docker:` engine cannot be reached.
    #[error("{0}")]
    Connect(#[source] DockerError),
    /// An engine of `hosts:` cannot be reached.
    #[error("host `{name}`: {source}")]
    Host {
        name: String,
        #[source]
        source: DockerError,
    },
    #[error("cannot list containers: {0}")]
    List(#[source] DockerError),
}

/// Connect to the gameday's engines and take stock of them.
pub(crate) async fn discover(gameday: &Gameday) -> Result<(Engines, Inventory), DiscoverError> {
    let engine = Engine::connect(&gameday.docker)
        .await
        .map_err(DiscoverError::Connect)?;
    let mut others = Vec::new();
    for (name, spec) in &gameday.hosts {
        let other =
            Engine::connect_named(name, spec)
                .await
                .map_err(|source| DiscoverError::Host {
                    name: name.clone(),
                    source,
                })?;
        others.push(other);
    }
    let engines = Engines::new(engine, others);
    let inventory = take_stock(gameday, &engines)
        .await
        .map_err(DiscoverError::List)?;
    Ok((engines, inventory))
}

async fn take_stock(gameday: &Gameday, engines: &Engines) -> Result<Inventory, DockerError> {
    let engine = engines.default_engine();
    let scope = &gameday.scope.compose_project;
    let mut inventory = Inventory {
        docker_host: engine.host().to_string(),
        docker_version: engine.server_version().await?,
        docker_connection: engine.security().describe().to_string(),
        ..Inventory::default()
    };
    for e in engines.iter() {
        inventory.in_scope.extend(e.list_project(scope).await?);
        inventory.outside_scope.extend(e.list_outside(scope).await?);
        if e.name() != engine.name() {
            inventory.other_engines.push(EngineInfo {
                name: e.name().to_string(),
                host: e.host().to_string(),
                version: e.server_version().await?,
                connection: e.security().describe().to_string(),
            });
        }
    }
    let needs_namespace = gameday
        .scenarios
        .iter()
        .flat_map(|s| &s.faults)
        .any(|f| f.is_network() || f.stress().is_some());
    if needs_namespace {
        inventory.namespace = namespace_route(
            gameday,
            engines,
            &inventory.in_scope,
            &mut inventory.warnings,
        )
        .await;
    }
    helpers_elsewhere(gameday, engines, &mut inventory.namespace);
    let engine = engines.default_engine();
    inventory.namespace.runner_outside =
        engine.is_local() && !engine_is_this_host(engine, &inventory.in_scope).await;
    inventory.helper_installs = super::helper_needs::helper_needs(
        gameday,
        engines,
        &inventory.namespace,
        &mut inventory.warnings,
    )
    .await;
    inventory.missing_images = missing_images(gameday, engines, &inventory.in_scope).await?;
    inventory.reach = reach_facts(gameday, engines, &inventory.in_scope).await;
    Ok(inventory)
}

/// The images `deploy` faults roll out that the engines of their
/// targets do not have (a deploy never pulls).
async fn missing_images(
    gameday: &Gameday,
    engines: &Engines,
    in_scope: &[ContainerInfo],
) -> Result<Vec<(String, String)>, DockerError> {
    let mut missing = Vec::new();
    for fault in gameday.scenarios.iter().flat_map(|s| &s.faults) {
        let Fault::Deploy(DeployFault {
            image: Some(image), ..
        }) = fault
        else {
            continue;
        };
        for e in engines.iter() {
            let targeted = in_scope
                .iter()
                .any(|c| c.engine == e.name() && may_target(fault.target(), c));
            let pair = (e.name().to_string(), image.clone());
            if targeted && !missing.contains(&pair) && e.image_defaults(image).await?.is_none() {
                missing.push(pair);
            }
        }
    }
    Ok(missing)
}

/// Whether a running container in scope may be one of `target`'s.
fn may_target(target: &Target, c: &ContainerInfo) -> bool {
    let on_engine = target.host.as_ref().is_none_or(|h| *h == c.engine);
    on_engine && super::pick::selects(&target.selector, c) && c.state == ContainerState::Running
}

/// What the reach checks need: the containers stress and process faults
/// may target (inspected; their volumes only for the kinds that write),
/// and their engines' hosts (memory; from this host also `MemAvailable`
/// and the disks' figures).
async fn reach_facts(
    gameday: &Gameday,
    engines: &Engines,
    in_scope: &[ContainerInfo],
) -> ReachFacts {
    let mut facts = ReachFacts::default();
    let mut targets: BTreeMap<String, (&ContainerInfo, bool)> = BTreeMap::new();
    for fault in gameday.scenarios.iter().flat_map(|s| &s.faults) {
        if !super::reach::checked(fault) {
            continue;
        }
        let writes = matches!(fault, Fault::IoStress(_) | Fault::DiskFill(_));
        for c in in_scope.iter().filter(|c| may_target(fault.target(), c)) {
            let entry = targets.entry(c.id.clone()).or_insert((c, false));
            entry.1 |= writes;
        }
    }
    let mut this_host: BTreeMap<String, bool> = BTreeMap::new();
    for (c, _) in targets.values() {
        if facts.hosts.contains_key(&c.engine) {
            continue;
        }
        let engine = engines.named(&c.engine);
        let here = engine.is_local() && engine_is_this_host(engine, in_scope).await;
        this_host.insert(c.engine.clone(), here);
        facts
            .hosts
            .insert(c.engine.clone(), host_facts(engine, here).await);
    }
    for (id, (c, writes)) in &targets {
        let engine = engines.named(&c.engine);
        let here = this_host.get(&c.engine).copied().unwrap_or(false);
        facts
            .containers
            .insert(id.clone(), target_facts(engine, c, *writes, here).await);
    }
    facts
}

async fn host_facts(engine: &Engine, this_host: bool) -> Result<HostFacts, String> {
    let host = engine.engine_host().await.map_err(|e| e.to_string())?;
    let mem_available = this_host
        .then(|| std::fs::read_to_string("/proc/meminfo").ok())
        .flatten()
        .and_then(|text| crate::fault::stress::meminfo(&text))
        .map(|m| m.available);
    Ok(HostFacts {
        mem_total: host.mem_total,
        mem_available,
        storage_driver: host.storage_driver,
        root_disk: this_host.then(|| disk(&host.docker_root_dir)).flatten(),
    })
}

async fn target_facts(
    engine: &Engine,
    c: &ContainerInfo,
    writes: bool,
    this_host: bool,
) -> Result<TargetFacts, String> {
    let placement = engine.placement(&c.id).await.map_err(|e| e.to_string())?;
    let mut facts = TargetFacts::default();
    if writes {
        for m in &placement.mounts {
            match &m.kind {
                MountKind::Volume { name, .. } => {
                    let detail = engine.volume(name).await.map_err(|e| e.to_string())?;
                    let users = engine.volume_users(name).await.map_err(|e| e.to_string())?;
                    let disk = this_host.then(|| disk(&detail.mountpoint)).flatten();
                    facts.volumes.insert(
                        name.clone(),
                        VolumeFacts {
                            detail,
                            users: users.into_iter().filter(|u| *u != c.name).collect(),
                            disk,
                        },
                    );
                }
                MountKind::Bind { source } if this_host => {
                    if let Some(d) = disk(source) {
                        facts.disks.insert(source.clone(), d);
                    }
                }
                MountKind::Bind { .. } | MountKind::Tmpfs { .. } | MountKind::Other { .. } => {}
            }
        }
    }
    facts.placement = placement;
    Ok(facts)
}

/// The figures of the filesystem holding `path` on this host.
fn disk(path: &str) -> Option<Disk> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    let frag = s.fragment_size() as u64;
    Some(Disk {
        size: s.blocks() as u64 * frag,
        used: (s.blocks() as u64 - s.blocks_free() as u64) * frag,
        avail: s.blocks_available() as u64 * frag,
    })
}

/// Whether a local socket's engine runs on this host: a running container
/// of the scope has its process here. (A forwarded socket, Docker Desktop's
/// VM: the PIDs it gives are another machine's.) With nothing running to
/// look at, nothing says otherwise.
/// Why this process does not see the engine's containers' processes.
fn outside_here() -> &'static str {
    // Docker makes /.dockerenv in every container, Podman /run/.containerenv.
    if ["/.dockerenv", "/run/.containerenv"]
        .iter()
        .any(|p| std::path::Path::new(p).exists())
    {
        "gameday runs in a container (its targets' processes are not visible in it)"
    } else {
        "the engine behind the socket is not this host's (its containers' processes are not here)"
    }
}

async fn engine_is_this_host(engine: &crate::docker::Engine, in_scope: &[ContainerInfo]) -> bool {
    let Some(running) = in_scope.iter().find(|c| {
        c.engine == engine.name() && c.state == crate::gameday::units::ContainerState::Running
    }) else {
        return true;
    };
    match engine.pid(&running.id).await {
        Ok(pid) if pid > 0 => crate::fault::netns::pid_is_container(pid, &running.id),
        _ => true,
    }
}

/// How network faults reach namespaces and stress workers reach cgroups
/// on the default engine and the others on this host's socket (from this
/// host, or through helper containers), and whether the helper image they
/// may need is on every engine that needs it.
async fn namespace_route(
    gameday: &Gameday,
    engines: &Engines,
    in_scope: &[ContainerInfo],
    warnings: &mut Vec<String>,
) -> NamespaceRoute {
    let engine = engines.default_engine();
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let (via_helper, reason) = match gameday.docker.network_helper {
        NetworkHelper::Host => (false, "network_helper: host"),
        NetworkHelper::Helper => (true, "network_helper: helper"),
        NetworkHelper::Auto if !engine.is_local() => (true, "the engine is not this host's socket"),
        NetworkHelper::Auto if !root => (true, "gameday does not run as root here"),
        NetworkHelper::Auto if !engine_is_this_host(engine, in_scope).await => {
            (true, outside_here())
        }
        NetworkHelper::Auto => (false, "local engine, running as root"),
    };
    if gameday.docker.network_helper == NetworkHelper::Host
        && !engine_is_this_host(engine, in_scope).await
    {
        warnings.push(format!(
            "network_helper: host, but the engine at {} is not this host's (its containers' processes are not here): namespaces cannot be entered from here; use `network_helper: helper`",
            engine.host()
        ));
    }
    let image = gameday.docker.helper_image_or_default();
    let mut route = NamespaceRoute {
        netem_available: false,
        helpers: BTreeMap::new(),
        reason: reason.to_string(),
        runner_outside: false,
    };
    if via_helper {
        // The engines on this host's socket go the same way.
        for e in engines.iter().filter(|e| e.is_local()) {
            route.helpers.insert(e.name().to_string(), image.clone());
        }
        route
            .helpers
            .insert(engine.name().to_string(), image.clone());
    } else {
        route.netem_available = crate::fault::netns::kernel_has_netem();
    }
    route
}

/// Every engine not on this host's socket is reached through helpers
/// (its namespaces cannot be entered from here), whether or not a fault
/// needs a namespace (a script's processes are reached so too); but the
/// default engine keeps the route decided for it above, if one was
/// (`network_helper: host` is the file's, said with a warning).
fn helpers_elsewhere(gameday: &Gameday, engines: &Engines, route: &mut NamespaceRoute) {
    let default = engines.default_engine().name().to_string();
    let decided = !route.reason.is_empty();
    for e in engines.iter().filter(|e| !e.is_local()) {
        if decided && e.name() == default {
            continue;
        }
        route
            .helpers
            .entry(e.name().to_string())
            .or_insert_with(|| gameday.docker.helper_image_or_default());
    }
}
