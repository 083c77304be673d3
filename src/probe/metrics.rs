//! Probes that ask the monitoring stack: a Prometheus instant query (its
//! value, ok when there is exactly one number and it meets `expect`), and
//! whether a named alert is firing in Alertmanager (value 1 or 0). So a
//! gameday can prove that the dashboards and the alerting see the fault,
//! not only that the service degrades.

use serde_json::Value;

use super::ProbeOutcome;
use crate::gameday::model::{AlertProbe, PrometheusProbe};

pub(super) async fn prometheus_once(
    client: &reqwest::Client,
    spec: &PrometheusProbe,
) -> ProbeOutcome {
    let url = match reqwest::Url::parse_with_params(
        &format!("{}/api/v1/query", spec.url),
        &[("query", spec.query.as_str())],
    ) {
        Ok(u) => u,
        Err(e) => return ProbeOutcome::failed(format!("bad URL: {e}")),
    };
    let body = match get_json(client, url).await {
        Ok(b) => b,
        Err(e) => return ProbeOutcome::failed(e),
    };
    match query_value(&body) {
        Ok(value) => {
            let error = spec
                .expect
                .as_ref()
                .filter(|want| !want.op.holds(&value, &want.value.0))
                .map(|want| format!("value {value}, expected {want}"));
            ProbeOutcome {
                ok: error.is_none(),
                value: Some(value),
                error,
                ..Default::default()
            }
        }
        Err(e) => ProbeOutcome::failed(e),
    }
}

pub(super) async fn alert_once(client: &reqwest::Client, spec: &AlertProbe) -> ProbeOutcome {
    let filter = format!("alertname=\"{}\"", spec.name.replace('"', "\\\""));
    let url = match reqwest::Url::parse_with_params(
        &format!("{}/api/v2/alerts", spec.url),
        &[("active", "true"), ("filter", filter.as_str())],
    ) {
        Ok(u) => u,
        Err(e) => return ProbeOutcome::failed(format!("bad URL: {e}")),
    };
    match get_json(client, url).await {
        Ok(body) => match firing(&body, &spec.name) {
            Ok(firing) => ProbeOutcome {
                ok: true,
                value: Some(if firing { 1.0 } else { 0.0 }),
                output: Some(if firing { "firing" } else { "not firing" }.to_string()),
                ..Default::default()
            },
            Err(e) => ProbeOutcome::failed(e),
        },
        Err(e) => ProbeOutcome::failed(e),
    }
}

async fn get_json(client: &reqwest::Client, url: reqwest::Url) -> Result<Value, String> {
    let response = client.get(url).send().await.map_err(|e| {
        if e.is_connect() {
            "connection refused or unreachable".to_string()
        } else {
            crate::error_chain(&e)
        }
    })?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| format!("reading the answer: {}", crate::error_chain(&e)))?;
    let body: Value = serde_json::from_str(&text).map_err(|_| {
        format!(
            "HTTP {}: not JSON: {}",
            status.as_u16(),
            text.chars().take(120).collect::<String>()
        )
    })?;
    if !status.is_success() {
        let why = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        return Err(format!("HTTP {}: {why}", status.as_u16()));
    }
    Ok(body)
}

/// The one number an instant query returned (`/api/v1/query`): a scalar,
/// or a vector of exactly one series.
fn query_value(body: &Value) -> Result<f64, String> {
    let data = body.get("data").ok_or("the answer has no `data`")?;
    let sample = match data.get("resultType").and_then(Value::as_str) {
        Some("scalar") => data.get("result"),
        Some("vector") => {
            let series = data
                .get("result")
                .and_then(Value::as_array)
                .ok_or("the vector has no `result`")?;
            match series.as_slice() {
                [] => return Err(
                    "no data: the query returned no series (add `or vector(0)` if none means zero)"
                        .into(),
                ),
                [one] => one.get("value"),
                many => {
                    return Err(format!(
                        "the query returned {} series; aggregate it to one number (e.g. `sum(...)`)",
                        many.len()
                    ));
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "the query returned a {other}; use an instant vector or a scalar"
            ));
        }
        None => return Err("the answer has no `resultType`".into()),
    };
    // `[<unix time>, "<value>"]`
    let text = sample
        .and_then(|s| s.get(1))
        .and_then(Value::as_str)
        .ok_or("the sample has no value")?;
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if value.is_nan() {
        return Err("the value is NaN (a division by zero?)".into());
    }
    Ok(value)
}

/// Is an alert with this name active (not silenced or inhibited) in an
/// `/api/v2/alerts` answer?
fn firing(body: &Value, name: &str) -> Result<bool, String> {
    let alerts = body.as_array().ok_or("expected a list of alerts")?;
    Ok(alerts.iter().any(|a| {
        a.pointer("/labels/alertname").and_then(Value::as_str) == Some(name)
            && a.pointer("/status/state").and_then(Value::as_str) == Some("active")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn instant_query_answers_become_one_number_or_a_clear_error() {
        let vector = |result: Value| json!({"status": "success", "data": {"resultType": "vector", "result": result}});
        assert_eq!(
            query_value(&vector(json!([{"metric": {}, "value": [1.7e9, "0.25"]}]))),
            Ok(0.25)
        );
        assert_eq!(
            query_value(&json!({"data": {"resultType": "scalar", "result": [1.7e9, "3"]}})),
            Ok(3.0)
        );
        assert!(
            query_value(&vector(json!([])))
                .unwrap_err()
                .contains("no series")
        );
        let two = json!([{"value": [1, "1"]}, {"value": [1, "2"]}]);
        assert!(query_value(&vector(two)).unwrap_err().contains("2 series"));
        let nan = json!([{"value": [1, "NaN"]}]);
        assert!(query_value(&vector(nan)).unwrap_err().contains("NaN"));
        let matrix = json!({"data": {"resultType": "matrix", "result": []}});
        assert!(query_value(&matrix).unwrap_err().contains("matrix"));
    }

    #[test]
    fn only_an_active_alert_of_that_name_is_firing() {
        let alert = |name: &str, state: &str| json!({"labels": {"alertname": name}, "status": {"state": state}});
        assert_eq!(
            firing(&json!([alert("StoreDown", "active")]), "StoreDown"),
            Ok(true)
        );
        assert_eq!(
            firing(&json!([alert("StoreDown", "suppressed")]), "StoreDown"),
            Ok(false)
        );
        assert_eq!(
            firing(&json!([alert("Other", "active")]), "StoreDown"),
            Ok(false)
        );
        assert_eq!(firing(&json!([]), "StoreDown"), Ok(false));
        assert!(firing(&json!({"oops": 1}), "StoreDown").is_err());
    }
}
