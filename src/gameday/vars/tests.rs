use super::*;
use crate::gameday::{Gameday, load_with};

const FILE: &str = r#"gameday: One file
environment: ${WHERE}
scope: { compose_project: "${PROJECT}" }
docker: { helper_image: "helper:${TAG}" }
environments:
  staging:
    variables: { PROJECT: shop-staging, API: "https://staging.example:8443", REPLICAS: 3, API_TOKEN: "${STAGING_TOKEN}" }
    docker: { host: "tcp://10.0.0.5:2376", insecure: true }
probes:
  api:
    http: { url: "${API}/health", headers: { Authorization: "Bearer ${API_TOKEN}" } }
scenarios:
  - name: "Kill ${PROJECT}'s db, costs $$5"
    fault: { kill: { service: db } }
    duration: 1s
"#;

fn load(inputs: &Inputs, process: &[(&str, &str)]) -> Result<Gameday, String> {
    let map: Vec<(String, String)> = process
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = move |name: &str| map.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    load_with("x.yaml", FILE.as_bytes(), inputs, &env).map_err(|d| d.render())
}

fn staging() -> Inputs {
    Inputs {
        env: Some("staging".into()),
        vars: vec![("TAG".into(), "7".into())],
        ..Inputs::default()
    }
}

#[test]
fn staging_sets_variables_engine_and_scope_and_names_the_environment() {
    let g = load(&staging(), &[("STAGING_TOKEN", "s3cr3t-token")]).unwrap();
    assert_eq!(g.environment, "staging");
    assert_eq!(g.environments, vec!["staging".to_string()]);
    assert_eq!(g.scope.compose_project, "shop-staging");
    assert_eq!(g.docker.host.as_deref(), Some("tcp://10.0.0.5:2376"));
    assert!(g.docker.insecure);
    // The file's docker keys stay unless the environment overrides them.
    assert_eq!(g.docker.helper_image.as_deref(), Some("helper:7"));
    assert_eq!(g.scenarios[0].name, "Kill shop-staging's db, costs $5");
    let shown: Vec<String> = g
        .variables
        .iter()
        .map(|v| format!("{} = {} ({})", v.name, v.shown(), v.source))
        .collect();
    insta::assert_snapshot!(shown.join("\n"), @r"
    PROJECT = shop-staging (environments.staging.variables)
    TAG = 7 (--var)
    API = https://staging.example:8443 (environments.staging.variables)
    STAGING_TOKEN = <secret> (the process environment)
    API_TOKEN = <secret> (environments.staging.variables)
    ");
}

#[test]
fn local_is_the_files_own_settings_and_sources_come_in_order() {
    let inputs = Inputs {
        vars: vec![
            ("PROJECT".into(), "from-var".into()),
            ("TAG".into(), "1".into()),
        ],
        env_file: Some((
            "dev.env".into(),
            vec![
                ("PROJECT".into(), "from-file".into()),
                ("API".into(), "http://127.0.0.1:8080".into()),
            ],
        )),
        env: None,
    };
    let g = load(
        &inputs,
        &[
            ("API", "http://process"),
            ("API_TOKEN", "t"),
            ("WHERE", "laptop"),
        ],
    )
    .unwrap();
    assert_eq!(g.environment, "laptop");
    assert_eq!(g.scope.compose_project, "from-var");
    assert_eq!(g.docker.host, None);
    let api = g.variables.iter().find(|v| v.name == "API").unwrap();
    assert_eq!(api.value, "http://127.0.0.1:8080");
    assert_eq!(api.source, Source::EnvFile("dev.env".into()));
}

#[test]
fn unset_variables_and_unknown_environments_are_located_errors() {
    let err = load(&staging(), &[]).unwrap_err();
    insta::assert_snapshot!(err);
    let err = load(
        &Inputs {
            env: Some("prod".into()),
            ..Inputs::default()
        },
        &[],
    )
    .unwrap_err();
    insta::assert_snapshot!(err);
}

#[test]
fn a_secret_never_reaches_an_error_message() {
    let text = "gameday: x\nscope: { compose_project: p }\nprobes:\n  a: { http: { url: \"${DB_PASSWORD}\" } }\nscenarios: []\n";
    let env = |n: &str| (n == "DB_PASSWORD").then(|| "hunter2hunter2".to_string());
    let err = load_with("s.yaml", text.as_bytes(), &Inputs::default(), &env)
        .unwrap_err()
        .render();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("<DB_PASSWORD>"), "{err}");
}

#[test]
fn a_lone_reference_takes_the_values_type() {
    assert_eq!(typed("3".into()), Value::Int(3));
    assert_eq!(typed("0.5".into()), Value::Float(0.5));
    assert_eq!(typed("true".into()), Value::Bool(true));
    assert_eq!(typed("3s".into()), Value::Str("3s".into()));
    assert_eq!(typed("007".into()), Value::Str("007".into()));
    assert_eq!(typed("1.10".into()), Value::Str("1.10".into()));
    assert_eq!(typed("+5".into()), Value::Str("+5".into()));
    assert!(whole_reference("${N}"));
    assert!(!whole_reference("${N}s"));
}

#[test]
fn env_files_and_vars_are_read_strictly() {
    let lines = parse_env_file("# dev\nexport A=1\nB=\"two words\"\n\nC='x=y'\n").unwrap();
    assert_eq!(
        lines,
        vec![
            ("A".into(), "1".into()),
            ("B".into(), "two words".into()),
            ("C".into(), "x=y".into())
        ]
    );
    assert_eq!(
        parse_env_file("A=1\nnot a line\n").unwrap_err(),
        (
            2,
            "expected `NAME=VALUE` (the line is not shown: it may hold a secret)".into()
        )
    );
    assert_eq!(parse_var("A=b=c").unwrap(), ("A".into(), "b=c".into()));
    assert!(parse_var("1A=b").is_err());
    assert!(parse_var("A").is_err());
}

#[test]
fn the_scope_and_the_engine_never_come_from_the_shell() {
    let inputs = Inputs {
        vars: vec![("API".into(), "http://127.0.0.1:1".into())],
        ..Inputs::default()
    };
    // PROJECT and TAG left exported in a shell: refused where they would
    // choose the scope or the engine's helper image.
    let err = load(
        &inputs,
        &[
            ("PROJECT", "payments"),
            ("TAG", "x"),
            ("API_TOKEN", "t"),
            ("WHERE", "w"),
        ],
    )
    .unwrap_err();
    insta::assert_snapshot!(err);
}

#[test]
fn no_way_round_the_shell_guard_and_no_chains() {
    let text = r#"gameday: g
scope: { compose_project: "${P}" }
docker: { host: "tcp://file-host:2376", insecure: true }
environments:
  staging:
    variables: { H: "${DOCKER_HOST_X}", P: shop, URL: "http://${P}/h" }
    docker: { host: "${H}" }
probes:
  p: { http: { url: "${URL}" } }
scenarios:
  - { name: s, fault: { kill: { service: db, host: "${WHERE}" } }, duration: 1s }
"#;
    let env = |n: &str| match n {
        "DOCKER_HOST_X" => Some("tcp://prod:2375".to_string()),
        "WHERE" => Some("db".to_string()),
        "P" => Some("laptop".to_string()),
        _ => None,
    };
    let inputs = Inputs {
        env: Some("staging".into()),
        ..Inputs::default()
    };
    let err = load_with("g.yaml", text.as_bytes(), &inputs, &env)
        .unwrap_err()
        .render();
    insta::assert_snapshot!(err);
}

#[test]
fn another_host_does_not_inherit_the_files_way_of_reaching_its_own() {
    let text = "gameday: g\nscope: { compose_project: p }\ndocker: { host: \"tcp://a:2375\", insecure: true, helper_image: h:1 }\nenvironments:\n  staging: { docker: { host: \"tcp://b:2376\" } }\nscenarios: []\n";
    let inputs = Inputs {
        env: Some("staging".into()),
        ..Inputs::default()
    };
    match load_with("g.yaml", text.as_bytes(), &inputs, &|_| None) {
        Ok(g) => {
            assert!(!g.docker.insecure);
            assert_eq!(g.docker.helper_image.as_deref(), Some("h:1"));
        }
        // Without TLS files a tcp:// engine is refused: also fine, but
        // then it must be for want of TLS, never `insecure` inherited.
        Err(d) => assert!(d.render().contains("TLS"), "{}", d.render()),
    }
}
