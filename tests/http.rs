//! `http_fault` through the real binary against a real container (the
//! demo api), measured as its clients see it: requests sent straight to
//! the container's address (so an aborted connection reaches the client as
//! it is, not through Docker's port proxy), counted by status, timed, and
//! reset. Matching is checked both ways (what matches is affected at the
//! asked share, what does not is untouched), and everything is back to
//! normal after the revert, after a runner killed alone (the proxy takes
//! its redirect away itself: fail-open) and after a runner, its watchdog
//! and the proxy all killed, then `recover`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// One HTTP/1.1 request on a new connection: the status and how long the
/// answer took, or the error the client saw.
fn request(
    to: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Duration)> {
    request_within(to, method, path, headers, Duration::from_secs(5))
}

/// [`request`], given up after `within` (to connect, then to read).
fn request_within(
    to: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    within: Duration,
) -> std::io::Result<(u16, Duration)> {
    let start = Instant::now();
    let mut stream = TcpStream::connect_timeout(&to, within.min(Duration::from_secs(2)))?;
    stream.set_read_timeout(Some(within))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: api\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("content-length: 0\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {text:?}")))?;
    Ok((status, start.elapsed()))
}

fn status(to: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    request(to, method, path, headers)
        .map(|(s, _)| s)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// The median time of `n` requests.
fn median_time(to: SocketAddr, path: &str, n: usize) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| request(to, "GET", path, &[]).expect("a request").1)
        .collect();
    times.sort();
    times[n / 2]
}

/// The api's address on its network, and a guard that removes its
/// project.
fn api(project: &Project) -> (Container, SocketAddr) {
    let api = project.service_opts(
        "api",
        &[],
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        None,
    );
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &api.id,
    ]);
    let addr: SocketAddr = format!("{}:8080", ip.trim()).parse().unwrap();
    wait_for("the api to answer", Duration::from_secs(10), || {
        request(addr, "GET", "/", &[]).is_ok_and(|(s, _)| s == 200)
    });
    (api, addr)
}

/// `gameday http-proxy` processes on this host serving container `id`.
fn proxies(id: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let argv: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            argv.get(1) == Some(&&b"http-proxy"[..])
                && argv
                    .windows(2)
                    .any(|w| w[0] == b"--container" && w[1] == id.as_bytes())
        })
        .collect()
}

fn http_gameday(project: &str, fault: &str, duration: &str) -> String {
    http_gameday_with(project, "", fault, duration)
}

fn http_gameday_with(project: &str, docker: &str, fault: &str, duration: &str) -> String {
    one_fault_gameday(
        project,
        docker,
        &format!("http_fault: {{ service: api, port: 8080, {fault} }}"),
        duration,
    )
}

/// 503 for half of the matching requests (method, path and header all
/// named), within binomial bounds; requests that miss one of the three
/// are untouched; the result counts what the proxy saw.
#[test]
fn a_status_answers_the_asked_share_of_matching_requests_only() {
    let project = Project::new("http503");
    let (api, addr) = api(&project);
    let (_g, file) = gameday_file(&http_gameday(
        &project.name,
        r#"match: { method: GET, path: "/*", header: { x-tenant: beta } }, percent: 50%, status: 503, body: "pricing is down""#,
        "30s",
    ));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    let beta = [("x-tenant", "beta")];
    wait_until("the first 503", Duration::from_secs(20), || {
        status(addr, "GET", "/", &beta) == 503
    });

    let n = 300;
    let failed = (0..n)
        .filter(|_| status(addr, "GET", "/", &beta) == 503)
        .count();
    // Binomial(300, 0.5): mean 150, sd 8.7; 4 sd either side.
    assert!(
        (115..=185).contains(&failed),
        "asked 50%, {failed} of {n} matching requests got 503"
    );
    for (method, path, headers) in [
        ("POST", "/", &beta[..]),
        ("GET", "/", &[][..]),
        ("GET", "/", &[("x-tenant", "alpha")][..]),
    ] {
        for _ in 0..20 {
            assert_eq!(
                status(addr, method, path, headers),
                200,
                "{method} {path} {headers:?} does not match and passes"
            );
        }
    }
    assert_eq!(
        nat_redirects(&api.id).len(),
        1,
        "one redirect while it holds"
    );

    let output = finish(child, Duration::from_secs(60));
    assert_exit(&output, 0);
    for _ in 0..20 {
        assert_eq!(status(addr, "GET", "/", &beta), 200, "back to normal");
    }
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
    assert_eq!(proxies(&api.id), Vec::<i32>::new());
    let result = result_json(&run_dir(out.path()));
    let detail = result["scenarios"][0]["faults"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let affected: u64 = detail
        .split("matched, ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counts in {detail}"));
    assert!(
        affected >= failed as u64 && detail.contains("stopped: told to stop"),
        "{detail}"
    );
}

/// A connection made straight to the proxy's own port was never
/// redirected (its original destination is the proxy itself): it is
/// closed unserved, not passed on to the proxy again and again until the
/// proxy runs out of descriptors. The proxy lives on with the handful of
/// descriptors it had, and still answers the redirected requests.
#[test]
fn a_connection_straight_to_the_proxy_is_closed_not_looped() {
    let project = Project::new("httpstray");
    let (api, addr) = api(&project);
    let (_g, file) = gameday_file(&http_gameday(
        &project.name,
        r#"match: { path: /fail }, status: 502"#,
        "20s",
    ));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_until("the first 502", Duration::from_secs(20), || {
        status(addr, "GET", "/fail", &[]) == 502
    });
    let proxy = match proxies(&api.id)[..] {
        [one] => one,
        ref other => panic!("one proxy expected: {other:?}"),
    };
    let descriptors = move || {
        std::fs::read_dir(format!("/proc/{proxy}/fd"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = descriptors();
    let rules = nat_redirects(&api.id);
    let own_port: u16 = rules[0]
        .split("--to-ports ")
        .nth(1)
        .and_then(|p| p.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no proxy port in {rules:?}"));
    let straight = SocketAddr::new(addr.ip(), own_port);
    // The most descriptors the proxy holds while the straight connections
    // are made, sampled every millisecond.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                most = most.max(descriptors());
                std::thread::sleep(Duration::from_millis(1));
            }
            most
        })
    };
    let start = Instant::now();
    for _ in 0..5 {
        let answer = request(straight, "GET", "/", &[]);
        assert!(answer.is_err(), "closed unanswered: {answer:?}");
    }
    let took = start.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let most = sampler.join().unwrap();
    eprintln!(
        "the proxy held {before} descriptors before, at most {most} while 5 straight connections were closed (in {took:?})"
    );
    assert!(
        most <= before + 4,
        "descriptors: {before} before, up to {most} during"
    );
    assert_eq!(proxies(&api.id), vec![proxy], "the proxy lives on");
    assert_eq!(status(addr, "GET", "/fail", &[]), 502, "and still answers");
    assert_eq!(status(addr, "GET", "/", &[]), 200, "and passes the rest");
    assert_exit(&finish(child, Duration::from_secs(60)), 0);
    let result = result_json(&run_dir(out.path()));
    let detail = result["scenarios"][0]["faults"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.contains("5 connections not redirected to it closed"),
        "{detail}"
    );
}

/// A delay adds its time to each matching request (within 10%), leaves the
/// others as fast as they were; an abort is a reset the client sees.
#[test]
fn a_delay_adds_its_time_and_an_abort_resets_the_connection() {
    let project = Project::new("httpdelay");
    let (api, addr) = api(&project);
    let before = median_time(addr, "/", 15);

    let (_g, file) = gameday_file(&http_gameday(
        &project.name,
        r#"match: { path: "/slow*" }, delay: 300ms"#,
        "12s",
    ));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_until("the delay", Duration::from_secs(20), || {
        request(addr, "GET", "/slow", &[]).is_ok_and(|(_, t)| t >= Duration::from_millis(250))
    });
    let slow = median_time(addr, "/slow", 15);
    let added = slow.saturating_sub(before).as_secs_f64() * 1000.0;
    assert!(
        (270.0..=330.0).contains(&added),
        "asked 300ms, the median request took {:.1}ms more ({slow:?} vs {before:?})",
        added
    );
    let fast = median_time(addr, "/", 15);
    assert!(
        fast < before + Duration::from_millis(30),
        "unmatched requests are not slowed: {fast:?} vs {before:?}"
    );
    assert_exit(&finish(child, Duration::from_secs(60)), 0);
    assert!(median_time(addr, "/slow", 5) < Duration::from_millis(100));

    let (_g2, file2) = gameday_file(&http_gameday(&project.name, "abort: reset", "8s"));
    let out2 = tempfile::tempdir().unwrap();
    let child = spawn_run(&file2, out2.path());
    wait_until("the first reset", Duration::from_secs(20), || {
        request(addr, "GET", "/", &[]).is_err()
    });
    let err = request(addr, "GET", "/", &[]).unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::ConnectionReset,
        "the client sees a reset: {err}"
    );
    assert_exit(&finish(child, Duration::from_secs(60)), 0);
    assert_eq!(status(addr, "GET", "/", &[]), 200);
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
}

/// Processes stopped (SIGSTOP) until this is dropped (SIGCONT), whatever
/// the test does meanwhile.
struct Held(Vec<u32>);

impl Held {
    fn stop(pids: &[u32]) -> Held {
        for pid in pids {
            // SAFETY: kill(2) on a process this test's run started.
            unsafe {
                libc::kill(*pid as i32, libc::SIGSTOP);
            }
        }
        Held(pids.to_vec())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        for pid in &self.0 {
            // SAFETY: as above.
            unsafe {
                libc::kill(*pid as i32, libc::SIGCONT);
            }
        }
    }
}

/// A runner killed alone (its watchdog held meanwhile): its proxy's stdin
/// closes, it takes the redirect away itself, and requests are answered
/// normally again within a second (measured). A runner killed with its watchdog and its proxy leaves the
/// redirect to nothing (connections refused: fail-closed until someone
/// acts), and `recover` removes it.
#[test]
fn a_dead_runner_fails_open_and_recover_removes_what_a_dead_proxy_left() {
    let project = Project::new("httpdead");
    let (api, addr) = api(&project);
    let (_g, file) = gameday_file(&http_gameday(&project.name, "status: 500", "60s"));

    let out = tempfile::tempdir().unwrap();
    let mut runner = spawn_run(&file, out.path());
    wait_until("the first 500", Duration::from_secs(20), || {
        status(addr, "GET", "/", &[]) == 500
    });
    let watchdogs = watchdogs_of(runner.id());
    // What is measured is the proxy's own fail-open: the run's watchdog,
    // which reverts the fault too once its runner is gone, is held until
    // it is measured (it then finds the redirect gone).
    let held = Held::stop(&watchdogs);
    runner.kill().unwrap();
    runner.wait().unwrap();
    let seen = std::cell::RefCell::new(Vec::<String>::new());
    let killed = Instant::now();
    let answered = || {
        // A request caught at the moment the runner died may be lost with
        // it; the ones after it are what fail-open promises.
        let answer = request_within(addr, "GET", "/", &[], Duration::from_millis(500));
        let ok = answer.as_ref().is_ok_and(|(s, _)| *s == 200);
        let line = format!("{:?}", answer.map(|(s, _)| s).map_err(|e| e.kind()));
        let mut seen = seen.borrow_mut();
        if seen.last().is_none_or(|l: &String| !l.ends_with(&line)) {
            seen.push(format!("{:?}: {line}", killed.elapsed()));
        }
        ok
    };
    let context = || {
        format!(
            "seen: {:?}; proxies: {:?}; redirects: {:?}",
            seen.borrow(),
            proxies(&api.id),
            nat_redirects(&api.id)
        )
    };
    let open_after = wait_until_or(
        "the api answering again",
        Duration::from_secs(10),
        answered,
        context,
    );
    eprintln!("fail-open: requests answered normally {open_after:?} after the runner died");
    assert!(
        open_after < Duration::from_secs(2),
        "{open_after:?}: {}",
        context()
    );
    drop(held);
    wait_until("the proxy to end", Duration::from_secs(10), || {
        proxies(&api.id).is_empty()
    });
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
    // The first run's watchdog fired when its runner died; a second run
    // on the scope is refused until it has ended (it is reverting).
    let ended = wait_until(
        "the first run's watchdog to end",
        Duration::from_secs(30),
        || {
            watchdogs
                .iter()
                .all(|w| !std::path::Path::new(&format!("/proc/{w}")).exists())
        },
    );
    eprintln!("the first run's watchdog ended {ended:?} after the proxy");

    let out2 = tempfile::tempdir().unwrap();
    kill_runner_once(&file, out2.path(), || {
        let faulted = request(addr, "GET", "/", &[]).is_ok_and(|(s, _)| s == 500);
        if faulted {
            for pid in proxies(&api.id) {
                // SAFETY: kill(2) on a process this test's run started.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        faulted
    });
    wait_until("the proxy to die", Duration::from_secs(5), || {
        proxies(&api.id).is_empty()
    });
    assert_eq!(
        nat_redirects(&api.id).len(),
        1,
        "the redirect is left behind"
    );
    assert!(
        request(addr, "GET", "/", &[]).is_err(),
        "nothing answers behind the left redirect"
    );
    assert_exit(&gameday_recover(out2.path()), 0);
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
    assert_eq!(status(addr, "GET", "/", &[]), 200);
    assert_exit(&gameday_recover(out2.path()), 0);
}

/// Through a helper container (what a remote engine gets; here the local
/// engine told `network_helper: helper`): the same answers, nothing left
/// after the revert, and a runner killed alone closes the helper's stdin,
/// so the proxy there takes its redirect away (fail-open).
#[test]
fn an_http_fault_through_a_helper_container_answers_and_fails_open() {
    ensure_nethelper_image();
    let project = Project::new("httphelper");
    let (api, addr) = api(&project);
    let _guard = HelperGuard(api.id.clone());
    let helper = format!(
        "docker: {{ network_helper: helper, helper_image: \"{}\" }}",
        nethelper_image()
    );
    let (_g, file) = gameday_file(&http_gameday_with(
        &project.name,
        &helper,
        r#"match: { path: /fail }, status: 502"#,
        "8s",
    ));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_until("the first 502", Duration::from_secs(30), || {
        status(addr, "GET", "/fail", &[]) == 502
    });
    assert_eq!(status(addr, "GET", "/", &[]), 200, "other paths pass");
    assert_eq!(
        helpers_sharing(&api.id, "NetworkMode").len(),
        1,
        "one helper holds it"
    );
    assert!(proxies(&api.id).iter().all(|p| {
        std::fs::read(format!("/proc/{p}/cmdline"))
            .is_ok_and(|c| c.windows(8).any(|w| w == b"--placed"))
    }));
    let output = finish(child, Duration::from_secs(60));
    assert_exit(&output, 0);
    assert_eq!(
        status(addr, "GET", "/fail", &[]),
        404,
        "the api's own answer again"
    );
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
    assert_eq!(
        helpers_sharing(&api.id, "NetworkMode"),
        Vec::<String>::new(),
        "no helper left"
    );

    let (_g2, long) = gameday_file(&http_gameday_with(
        &project.name,
        &helper,
        r#"match: { path: /fail }, status: 502"#,
        "60s",
    ));
    let out2 = tempfile::tempdir().unwrap();
    let mut runner = spawn_run(&long, out2.path());
    wait_until("the first 502", Duration::from_secs(30), || {
        status(addr, "GET", "/fail", &[]) == 502
    });
    runner.kill().unwrap();
    runner.wait().unwrap();
    let open_after = wait_until("the api answering again", Duration::from_secs(10), || {
        request(addr, "GET", "/fail", &[]).is_ok_and(|(s, _)| s == 404)
    });
    eprintln!("fail-open through a helper: {open_after:?} after the runner died");
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
}

/// Client side: the requests the api makes to pricing (and only those)
/// are answered by the fault, so the api falls back to its list price for
/// the asked share of quotes; pricing itself, asked directly, is
/// untouched, and the proxy's own connections to pricing are not
/// redirected back to it (they would fail every passed request).
#[test]
fn a_client_side_fault_changes_what_the_container_gets_from_its_peers_only() {
    let project = Project::new("httpclient");
    let pricing = project.service_opts(
        "pricing",
        &[],
        &["pricing", "--listen", "0.0.0.0:9000"],
        None,
    );
    let api = project.service_opts(
        "api",
        &[],
        &[
            "api",
            "--listen",
            "0.0.0.0:8080",
            "--store",
            "store:7000",
            "--pricing",
            "pricing:9000",
        ],
        None,
    );
    let ip = |id: &str| {
        docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            id,
        ])
        .trim()
        .to_string()
    };
    let api_addr: SocketAddr = format!("{}:8080", ip(&api.id)).parse().unwrap();
    let pricing_addr: SocketAddr = format!("{}:9000", ip(&pricing.id)).parse().unwrap();
    let quote = || {
        let mut stream = TcpStream::connect_timeout(&api_addr, Duration::from_secs(2)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
            .write_all(b"GET /quote HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    wait_for("the api to quote", Duration::from_secs(10), || {
        quote().contains("quote: 42.00")
    });
    let (_g, file) = gameday_file(&format!(
        r#"
gameday: HTTP client side
scope: {{ compose_project: {} }}
defaults: {{ baseline: 500ms, cooldown: 500ms }}
scenarios:
  - name: pricing answers the api badly
    fault: {{ http_fault: {{ service: api, port: 9000, side: client, to: [pricing], match: {{ path: /price }}, percent: 50%, status: 503 }} }}
    duration: 30s
"#,
        project.name
    ));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_until("the first fallback", Duration::from_secs(20), || {
        quote().contains("fallback")
    });
    let n = 200;
    let fallbacks = (0..n).filter(|_| quote().contains("fallback")).count();
    // Binomial(200, 0.5): mean 100, sd 7.1; 4 sd either side.
    assert!(
        (72..=128).contains(&fallbacks),
        "asked 50%, {fallbacks} of {n} quotes fell back"
    );
    for _ in 0..20 {
        assert_eq!(
            status(pricing_addr, "GET", "/price", &[]),
            200,
            "pricing asked by others is untouched"
        );
    }
    assert_exit(&finish(child, Duration::from_secs(60)), 0);
    assert!(
        (0..20).all(|_| quote().contains("quote: 42.00")),
        "back to normal"
    );
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
}
