//! The OpenAPI document served by a real `garrison serve`: public, OpenAPI 3.x, every
//! route of the panel's route list with its permission, error responses in the one
//! error shape, and documented response shapes that match what the API really sends.

mod common;

use common::*;
use garrison_panel::api::routes::{Needs, ROUTES};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const ERROR_REF: &str = "#/components/schemas/ErrorBody";

/// What `x-permission` must say for a route.
fn label(needs: Needs) -> String {
    match needs {
        Needs::Public => "public".into(),
        Needs::SignedIn => "signed-in".into(),
        Needs::Permission(p) | Needs::Session(p) => p.as_str().into(),
        Needs::PowerAction => "control.<action>".into(),
    }
}

/// The schema at `schema`, following `$ref`s into `components/schemas`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").expect("local ref");
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "dangling $ref {r}");
            resolve(doc, target)
        }
        None => schema,
    }
}

/// Property names of the JSON body `op` documents for `status` (of the array's items
/// when `array`).
fn documented_fields(doc: &Value, op: &Value, status: &str, array: bool) -> BTreeSet<String> {
    let mut schema = resolve(
        doc,
        &op["responses"][status]["content"]["application/json"]["schema"],
    );
    if array {
        assert_eq!(schema["type"], "array", "{status}: not an array: {schema}");
        schema = resolve(doc, &schema["items"]);
    }
    schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no properties in {schema}"))
        .keys()
        .cloned()
        .collect()
}

fn fields(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_spec_documents_every_route_with_its_permission() {
    let g = Garrison::start().await;
    // Public: no credentials.
    let r = g.http.get(g.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = r.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "garrison_session");
    assert_eq!(schemes["api_key"]["type"], "http");
    assert_eq!(schemes["api_key"]["scheme"], "bearer");

    let error = &doc["components"]["schemas"]["ErrorBody"];
    let detail = resolve(&doc, &error["properties"]["error"]);
    let required: BTreeSet<&str> = detail["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, BTreeSet::from(["code", "message"]));
    for f in ["field", "state", "retry_after"] {
        assert!(detail["properties"][f].is_object(), "ErrorDetail.{f}");
    }

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if !method.starts_with("x-") && method != "parameters" {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let declared: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), format!("/api{}", r.path)))
        .collect();
    assert_eq!(documented, declared, "the spec and ROUTES differ");

    let mut error_responses = 0;
    for route in ROUTES {
        let what = format!("{} {}", route.method, route.path);
        let op = &doc["paths"][format!("/api{}", route.path)][route.method.to_lowercase()];
        assert_eq!(op["x-permission"], label(route.needs), "{what}");
        assert_eq!(
            op["x-session-only"] == true,
            matches!(route.needs, Needs::Session(_)),
            "{what}: x-session-only"
        );
        let responses = op["responses"].as_object().unwrap();
        for (status, r) in responses {
            if status.starts_with('4') {
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"], ERROR_REF,
                    "{what}: {status}"
                );
                error_responses += 1;
            }
        }
        assert!(responses.contains_key("429"), "{what}: 429");
        match route.needs {
            Needs::Public => assert_eq!(op["security"], json!([{}]), "{what}"),
            Needs::Session(_) => {
                assert_eq!(op["security"], json!([{"session": []}]), "{what}");
                assert!(responses.contains_key("403"), "{what}: 403");
            }
            Needs::Permission(_) | Needs::PowerAction => {
                assert!(
                    op.get("security").is_none(),
                    "{what}: document-wide security"
                );
                assert!(responses.contains_key("401"), "{what}: 401");
                assert!(responses.contains_key("403"), "{what}: 403");
            }
            Needs::SignedIn => assert!(responses.contains_key("401"), "{what}: 401"),
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "422"] {
                assert!(responses.contains_key(status), "{what}: {status}");
            }
        }
        for name in route
            .path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
        {
            let params = op["parameters"].as_array().unwrap();
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path"),
                "{what}: path parameter {name}"
            );
        }
    }
    assert!(error_responses > ROUTES.len());
    assert_eq!(
        doc["security"],
        json!([{"session": []}, {"api_key": []}]),
        "document-wide security"
    );

    // Request bodies name their schema; unknown fields are refused, so the documented
    // fields are the whole story.
    let power = &doc["paths"]["/api/servers/{id}/power"]["post"];
    let body = resolve(
        &doc,
        &power["requestBody"]["content"]["application/json"]["schema"],
    );
    let action = resolve(&doc, &body["properties"]["action"]);
    assert_eq!(action["enum"], json!(["start", "stop", "restart", "kill"]));

    // The documented shapes are what the API sends.
    let (s, err) = g.call("GET", "/api/servers/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let allowed = fields(&detail["properties"]);
    assert!(fields(&err["error"]).is_subset(&allowed), "{err}");

    let id = g.create_demo("documented", json!({})).await;
    for (path, status, array) in [
        ("/api/health", "200", false),
        ("/api/account", "200", false),
        ("/api/account/api-keys", "200", true),
        ("/api/account/sessions", "200", true),
        ("/api/account/2fa", "200", false),
        ("/api/admin/users", "200", true),
        ("/api/admin/stats", "200", false),
        ("/api/admin/health", "200", false),
        ("/api/admin/audit", "200", false),
        ("/api/templates", "200", true),
        ("/api/servers", "200", true),
        ("/api/servers/{id}", "200", false),
        ("/api/servers/{id}/logs", "200", false),
        ("/api/servers/{id}/stats", "200", false),
        ("/api/servers/{id}/history", "200", true),
        ("/api/servers/{id}/activity", "200", false),
    ] {
        let op = &doc["paths"][path]["get"];
        let want = documented_fields(&doc, op, status, array);
        let (s, v) = g.call("GET", &path.replace("{id}", &id), None).await;
        assert_eq!(s.as_str(), status, "{path}: {v}");
        let sample = if array {
            v.as_array()
                .unwrap()
                .first()
                .unwrap_or_else(|| panic!("{path}: empty"))
                .clone()
        } else {
            v
        };
        let got = fields(&sample);
        // Optional fields may be absent; nothing may be undocumented.
        assert!(
            got.is_subset(&want),
            "{path}: undocumented fields {:?}",
            got.difference(&want).collect::<Vec<_>>()
        );
        let schema = resolve(
            &doc,
            &op["responses"][status]["content"]["application/json"]["schema"],
        );
        let schema = if array {
            resolve(&doc, &schema["items"])
        } else {
            schema
        };
        for req in schema["required"].as_array().into_iter().flatten() {
            assert!(got.contains(req.as_str().unwrap()), "{path}: missing {req}");
        }
    }
}
