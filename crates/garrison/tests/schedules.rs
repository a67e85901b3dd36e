//! Schedules through the API against a real `garrison serve`: a cron schedule every
//! minute that sends a command and makes a backup (each exactly once, history kept),
//! missed runs across a restart (skip or run once, never twice), a run cut by a crash,
//! task chains with waits and timeouts, admin-wide schedules, DST previews, and every
//! bad input refused with nothing stored.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn create_schedule(g: &Garrison, server: &str, body: Value) -> Value {
    let (s, v) = g
        .call(
            "POST",
            &format!("/api/servers/{server}/schedules"),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

async fn runs(g: &Garrison, base: &str) -> Vec<Value> {
    let (s, v) = g.call("GET", &format!("{base}/runs?limit=100"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["runs"].as_array().unwrap().clone()
}

/// Waits until the schedule at `base` has a finished run matching `pred`.
async fn wait_run(
    g: &Garrison,
    base: &str,
    timeout: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let all = runs(g, base).await;
        if let Some(r) = all.iter().find(|r| r["state"] != "running" && pred(r)) {
            return r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no matching run at {base}; runs: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn schedule_base(server: &str, schedule: &Value) -> String {
    format!(
        "/api/servers/{server}/schedules/{}",
        schedule["id"].as_str().unwrap()
    )
}

#[tokio::test]
async fn a_schedule_every_minute_sends_a_command_and_makes_a_backup_once() {
    let g = Garrison::start().await;
    let id = g.create_demo("cron", json!({})).await;
    g.power(&id, "start").await;
    g.wait_state(&id, "running", Duration::from_secs(30)).await;
    let s = create_schedule(
        &g,
        &id,
        json!({
            "name": "every minute",
            "trigger": {"kind": "cron", "expression": "* * * * *", "timezone": "Europe/Berlin"},
            "tasks": [
                {"action": "command", "command": "say scheduled hello"},
                {"action": "backup", "name": "minutely"},
            ],
        }),
    )
    .await;
    assert_eq!(s["enabled"], true);
    assert_eq!(s["running"], false);
    assert_eq!(s["missed"], "skip");
    assert!(
        s["description"].as_str().unwrap().contains("Europe/Berlin"),
        "{s}"
    );
    let next = s["next_run_at"].as_i64().unwrap();
    assert_eq!(next % 60_000, 0, "a minute boundary");
    let base = schedule_base(&id, &s);

    let run = wait_run(&g, &base, Duration::from_secs(100), |_| true).await;
    assert_eq!(run["state"], "succeeded", "{run:#}");
    assert_eq!(run["cause"], "scheduled");
    assert_eq!(run["due_at"].as_i64(), Some(next));
    let tasks = run["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{run:#}");
    assert_eq!(tasks[0]["action"], "command");
    assert_eq!(tasks[0]["state"], "succeeded");
    assert!(
        tasks[0]["output"]
            .as_str()
            .unwrap_or_default()
            .contains("> say scheduled hello"),
        "the console's answer is the command's output: {run:#}"
    );
    assert_eq!(tasks[1]["action"], "backup");
    assert_eq!(tasks[1]["state"], "succeeded", "{run:#}");
    assert!(tasks[1]["output"].as_str().unwrap().contains("ready"));

    // Stop it before the next minute, then check nothing ran twice.
    let (st, v) = g
        .call("PATCH", &base, Some(json!({"enabled": false})))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["next_run_at"], Value::Null);
    assert_eq!(v["last_outcome"], "succeeded");
    let all = runs(&g, &base).await;
    let ran: Vec<_> = all.iter().filter(|r| r["state"] != "skipped").collect();
    assert_eq!(ran.len(), 1, "exactly one run: {all:#?}");
    let (_, backups) = g
        .call("GET", &format!("/api/servers/{id}/backups"), None)
        .await;
    let backups = backups["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1, "{backups:#?}");
    assert_eq!(backups[0]["name"], "minutely");
    assert_eq!(backups[0]["state"], "ready");
    let said = g
        .logs(&id, 1000)
        .await
        .iter()
        .filter(|l| l.contains("> say scheduled hello"))
        .count();
    assert_eq!(said, 1, "the command was sent once");

    // The actions are in the server's activity log, filed under the schedule's author.
    let (_, activity) = g
        .call("GET", &format!("/api/servers/{id}/activity"), None)
        .await;
    let entries = activity["entries"].as_array().unwrap();
    let cmd = entries
        .iter()
        .find(|e| e["action"] == "server.command")
        .unwrap_or_else(|| panic!("{entries:#?}"));
    assert_eq!(cmd["via"], "schedule");
    assert_eq!(cmd["username"], "admin");
    assert!(entries.iter().any(|e| e["action"] == "schedule.create"));
}

#[tokio::test]
async fn missed_runs_across_a_restart_follow_the_policy_and_never_run_twice() {
    let mut g = Garrison::start_with_env(&[("GARRISON_SCHEDULES_MIN_INTERVAL_SECS", "1")]).await;
    let id = g.create_demo("missed", json!({})).await;
    let tasks = json!([{"action": "delay", "secs": 1}]);
    let once = create_schedule(
        &g,
        &id,
        json!({"name": "catch up", "trigger": {"kind": "interval", "secs": 6},
               "missed": "run_once", "tasks": tasks}),
    )
    .await;
    let skip = create_schedule(
        &g,
        &id,
        json!({"name": "skip", "trigger": {"kind": "interval", "secs": 6},
               "missed": "skip", "tasks": tasks}),
    )
    .await;
    let first_slot = once["next_run_at"].as_i64().unwrap();
    let skip_first = skip["next_run_at"].as_i64().unwrap();
    g.stop();
    // Down across at least two slots of each.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let wait = (skip_first.max(first_slot) + 6_000 + 1_500 - now).max(0) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    g.relaunch();

    let once_base = schedule_base(&id, &once);
    let skip_base = schedule_base(&id, &skip);
    let caught = wait_run(&g, &once_base, Duration::from_secs(20), |r| {
        r["cause"] == "catch_up"
    })
    .await;
    assert_eq!(caught["state"], "succeeded", "{caught:#}");
    assert_eq!(
        caught["due_at"].as_i64(),
        Some(first_slot),
        "the first missed slot"
    );
    let skipped = wait_run(&g, &skip_base, Duration::from_secs(20), |r| {
        r["state"] == "skipped"
    })
    .await;
    assert!(
        skipped["error"].as_str().unwrap().contains("missed"),
        "{skipped:#}"
    );
    // Let both run on their grid for a while.
    tokio::time::sleep(Duration::from_secs(13)).await;
    for (base, policy, anchor) in [
        (&once_base, "run_once", first_slot),
        (&skip_base, "skip", skip_first),
    ] {
        let all = runs(&g, base).await;
        let catch_ups = all.iter().filter(|r| r["cause"] == "catch_up").count();
        assert_eq!(
            catch_ups,
            usize::from(policy == "run_once"),
            "{policy}: {all:#?}"
        );
        let missed_skips = all
            .iter()
            .filter(|r| {
                r["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("missed while Garrison"))
            })
            .count();
        assert_eq!(
            missed_skips,
            usize::from(policy == "skip"),
            "{policy}: {all:#?}"
        );
        let scheduled: Vec<_> = all
            .iter()
            .filter(|r| r["cause"] == "scheduled" && r["state"] != "skipped")
            .collect();
        assert!(
            !scheduled.is_empty(),
            "{policy}: runs on its grid after the start: {all:#?}"
        );
        // Every slot is a multiple of the interval from the first one, and none twice.
        let mut slots: Vec<i64> = all.iter().filter_map(|r| r["due_at"].as_i64()).collect();
        for s in &slots {
            assert_eq!(
                (s - anchor).rem_euclid(6_000),
                0,
                "{policy}: off-grid slot {s}"
            );
        }
        let n = slots.len();
        slots.sort();
        slots.dedup();
        assert_eq!(slots.len(), n, "{policy}: a slot ran twice: {all:#?}");
    }
}

#[tokio::test]
async fn a_run_cut_by_a_crash_is_interrupted_and_not_repeated() {
    let mut g = Garrison::start().await;
    let id = g.create_demo("crash", json!({})).await;
    let s = create_schedule(
        &g,
        &id,
        json!({"name": "long", "trigger": {"kind": "cron", "expression": "@yearly"},
               "missed": "run_once",
               "tasks": [{"action": "delay", "secs": 60}]}),
    )
    .await;
    let base = schedule_base(&id, &s);
    let (st, run) = g.call("POST", &format!("{base}/run"), None).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{run}");
    assert_eq!(run["state"], "running");
    assert_eq!(run["cause"], "manual");
    // A second "run now" while it runs is refused.
    let (st, v) = g.call("POST", &format!("{base}/run"), None).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "schedule_running");
    let (_, now) = g.call("GET", &base, None).await;
    assert_eq!(now["running"], true);

    g.crash_and_restart().await;
    let all = runs(&g, &base).await;
    assert_eq!(all.len(), 1, "nothing re-ran: {all:#?}");
    assert_eq!(all[0]["state"], "interrupted", "{all:#?}");
    assert!(all[0]["finished_at"].is_i64());
    let (_, now) = g.call("GET", &base, None).await;
    assert_eq!(now["running"], false, "{now}");
    assert_eq!(now["last_outcome"], "interrupted");
    // The lease is free again.
    let (st, v) = g.call("POST", &format!("{base}/run"), None).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");

    // A clean stop also ends a run as interrupted, not left running.
    g.restart().await;
    let all = runs(&g, &base).await;
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(all.iter().all(|r| r["state"] == "interrupted"), "{all:#?}");
}

#[tokio::test]
async fn task_chains_wait_time_out_and_continue_on_failure() {
    let g = Garrison::start().await;
    let id = g.create_demo("chain", json!({})).await;
    // Start, wait until running, talk, and wait for the game's answer.
    let s = create_schedule(
        &g,
        &id,
        json!({"name": "boot", "trigger": {"kind": "cron", "expression": "@yearly"},
        "tasks": [
            {"action": "power", "power": "start"},
            {"action": "wait_for", "state": "running", "timeout_secs": 30},
            {"action": "command", "command": "say booted"},
            {"action": "wait_for", "console": "^> say booted$", "timeout_secs": 10},
        ]}),
    )
    .await;
    let base = schedule_base(&id, &s);
    let (st, _) = g.call("POST", &format!("{base}/run"), None).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let run = wait_run(&g, &base, Duration::from_secs(40), |_| true).await;
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let tasks = run["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 4);
    assert!(tasks.iter().all(|t| t["state"] == "succeeded"), "{run:#}");
    assert_eq!(tasks[3]["output"], "> say booted");
    assert_eq!(g.state(&id).await, "running");

    // A wait that never matches times out; a failure with continue_on_failure goes on,
    // one without stops the chain (the rest skipped).
    let s = create_schedule(
        &g,
        &id,
        json!({"name": "fails", "trigger": {"kind": "interval", "secs": 3600},
        "tasks": [
            {"action": "wait_for", "console": "never printed", "timeout_secs": 1,
             "continue_on_failure": true},
            {"action": "power", "power": "start"},
            {"action": "command", "command": "say not reached"},
        ]}),
    )
    .await;
    let base = schedule_base(&id, &s);
    g.call("POST", &format!("{base}/run"), None).await;
    let run = wait_run(&g, &base, Duration::from_secs(20), |_| true).await;
    assert_eq!(run["state"], "failed", "{run:#}");
    let tasks = run["tasks"].as_array().unwrap();
    assert_eq!(tasks[0]["state"], "failed");
    assert!(
        tasks[0]["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 1 s")
    );
    assert_eq!(tasks[1]["state"], "failed", "start while running: {run:#}");
    assert_eq!(tasks[2]["state"], "skipped");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .starts_with("task 1 (wait_for)")
    );
    let lines = g.logs(&id, 1000).await;
    assert!(!lines.iter().any(|l| l.contains("not reached")));

    // Only when online: an offline server's run is skipped, not attempted.
    g.power(&id, "stop").await;
    g.wait_state(&id, "offline", Duration::from_secs(30)).await;
    let s = create_schedule(
        &g,
        &id,
        json!({"name": "online only", "trigger": {"kind": "interval", "secs": 3600},
               "only_when_online": true,
               "tasks": [{"action": "command", "command": "say nobody hears"}]}),
    )
    .await;
    let base = schedule_base(&id, &s);
    g.call("POST", &format!("{base}/run"), None).await;
    let run = wait_run(&g, &base, Duration::from_secs(10), |_| true).await;
    assert_eq!(run["state"], "skipped", "{run:#}");
    assert_eq!(run["tasks"][0]["state"], "skipped");
}

#[tokio::test]
async fn admin_wide_schedules_act_on_each_server_in_turn() {
    let g = Garrison::start().await;
    let a = g.create_demo("wide-a", json!({})).await;
    let b = g.create_demo("wide-b", json!({})).await;
    g.power(&a, "start").await;
    g.wait_state(&a, "running", Duration::from_secs(30)).await;
    let (st, s) = g
        .call(
            "POST",
            "/api/admin/schedules",
            Some(json!({
                "name": "announce",
                "trigger": {"kind": "cron", "expression": "0 4 * * *", "timezone": "Europe/Berlin"},
                "only_when_online": true,
                "targets": {"servers": [a, b]},
                "tasks": [{"action": "command", "command": "say maintenance at 4"}],
            })),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{s}");
    assert_eq!(s["server_id"], Value::Null);
    let sid = s["id"].as_str().unwrap();
    let base = format!("/api/admin/schedules/{sid}");
    let (_, list) = g.call("GET", "/api/admin/schedules", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Not among a server's own schedules.
    let (_, own) = g
        .call("GET", &format!("/api/servers/{a}/schedules"), None)
        .await;
    assert_eq!(own, json!([]));
    let (st, _) = g.call("POST", &format!("{base}/run"), None).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let run = wait_run(&g, &base, Duration::from_secs(20), |_| true).await;
    assert_eq!(run["state"], "succeeded", "{run:#}");
    let tasks = run["tasks"].as_array().unwrap();
    let on = |server: &str| {
        tasks
            .iter()
            .find(|t| t["server"] == server)
            .unwrap_or_else(|| panic!("{run:#}"))
            .clone()
    };
    assert_eq!(on(&a)["state"], "succeeded");
    assert_eq!(on(&b)["state"], "skipped");
    g.wait_log(&a, "> say maintenance at 4", Duration::from_secs(5))
        .await;

    // Targets must exist; a server's schedule routes do not reach admin-wide ones.
    let (st, v) = g
        .call(
            "PATCH",
            &base,
            Some(json!({"targets": {"servers": ["no-such-server"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["field"], "targets.servers[0]");
    let (st, _) = g
        .call("GET", &format!("/api/servers/{a}/schedules/{sid}"), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = g.call("DELETE", &base, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, list) = g.call("GET", "/api/admin/schedules", None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn previews_follow_daylight_saving_time() {
    let g = Garrison::start().await;
    // 2026-03-28T12:00:00Z: Berlin springs forward the next night.
    let from = 1_774_699_200_000_i64;
    let (st, v) = g
        .call(
            "GET",
            &format!(
                "/api/schedules/preview?cron=30%202%20*%20*%20*&timezone=Europe/Berlin&from={from}&count=3"
            ),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let utc: Vec<&str> = v["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["utc"].as_str().unwrap())
        .collect();
    assert_eq!(
        utc,
        [
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z",
            "2026-03-31T00:30:00Z"
        ]
    );
    let (st, v) = g
        .call("GET", "/api/schedules/preview?interval=3600", None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["description"], "Every hour");
    assert_eq!(v["next"].as_array().unwrap().len(), 5);
    for (query, field) in [
        ("cron=61%20*%20*%20*%20*", "cron"),
        ("cron=*%20*%20*%20*%20*&timezone=Mars/Base", "timezone"),
        ("interval=5", "interval"),
        ("interval=x", "interval"),
        ("cron=@daily&count=99", "count"),
        ("", "cron"),
    ] {
        let (st, v) = g
            .call("GET", &format!("/api/schedules/preview?{query}"), None)
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {v}");
        assert_eq!(v["error"]["field"], field, "{query}: {v}");
    }
    let (st, v) = g
        .call("GET", "/api/schedules/preview?cron=@daily&zone=UTC", None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn bad_schedules_are_refused_and_nothing_is_stored() {
    let g = Garrison::start().await;
    let id = g.create_demo("bad", json!({})).await;
    let other = g.create_demo("other", json!({})).await;
    let ok_tasks = json!([{"action": "command", "command": "say hi"}]);
    let cron = |e: &str| json!({"kind": "cron", "expression": e});
    let cases = [
        (
            json!({"trigger": cron("@daily"), "tasks": ok_tasks}),
            "name",
        ),
        (
            json!({"name": "", "trigger": cron("@daily"), "tasks": ok_tasks}),
            "name",
        ),
        (json!({"name": "x", "tasks": ok_tasks}), "trigger"),
        (
            json!({"name": "x", "trigger": cron("* * * *"), "tasks": ok_tasks}),
            "trigger.expression",
        ),
        (
            json!({"name": "x", "trigger": cron("99 * * * *"), "tasks": ok_tasks}),
            "trigger.expression",
        ),
        (
            json!({"name": "x", "trigger": {"kind": "cron", "expression": "@daily", "timezone": "Nowhere/Land"}, "tasks": ok_tasks}),
            "trigger.timezone",
        ),
        (
            json!({"name": "x", "trigger": {"kind": "interval", "secs": 10}, "tasks": ok_tasks}),
            "trigger.secs",
        ),
        (json!({"name": "x", "trigger": cron("@daily")}), "tasks"),
        (
            json!({"name": "x", "trigger": cron("@daily"), "tasks": []}),
            "tasks",
        ),
        (
            json!({"name": "x", "trigger": cron("@daily"), "tasks": vec![json!({"action": "delay", "secs": 1}); 21]}),
            "tasks",
        ),
        (
            json!({"name": "x", "trigger": cron("@daily"), "tasks": [{"action": "power"}]}),
            "tasks[0].power",
        ),
        (
            json!({"name": "x", "trigger": cron("@daily"), "tasks": [{"action": "delay", "secs": 1}, {"action": "command", "command": "a\u{0}b"}]}),
            "tasks[1].command",
        ),
        (
            json!({"name": "x", "trigger": cron("@daily"), "tasks": [{"action": "wait_for", "console": "(unclosed"}]}),
            "tasks[0].console",
        ),
        (
            json!({"name": "x", "trigger": cron("@daily"), "tasks": [{"action": "delay", "secs": 999999}]}),
            "tasks[0].secs",
        ),
        (
            json!({"name": "x", "trigger": cron("@daily"), "tasks": ok_tasks, "targets": {"all": true}}),
            "targets",
        ),
    ];
    for (body, field) in cases {
        let (st, v) = g
            .call(
                "POST",
                &format!("/api/servers/{id}/schedules"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
        assert_eq!(v["error"]["field"], field, "{body}: {v}");
    }
    // Malformed JSON and unknown fields: 400; a value of the wrong kind: 422.
    for (raw, want) in [
        (
            r#"{"name": "x", "trigger": {"kind": "cron", "expression": "@daily"}, "tasks": [], "colour": 1}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"name": "x", "trigger": {"kind": "cron", "expression": "@daily"}, "tasks": [{"action": "delay", "sec": 1}]}"#,
            StatusCode::BAD_REQUEST,
        ),
        (r#"{"name": "x""#, StatusCode::BAD_REQUEST),
        (
            r#"{"name": "x", "trigger": {"kind": "weekly"}, "tasks": []}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            r#"{"name": "x", "trigger": {"kind": "cron", "expression": "@daily"}, "tasks": [{"action": "reboot"}]}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (st, v) = g
            .call_raw("POST", &format!("/api/servers/{id}/schedules"), raw)
            .await;
        assert_eq!(st, want, "{raw}: {v}");
    }
    let (_, list) = g
        .call("GET", &format!("/api/servers/{id}/schedules"), None)
        .await;
    assert_eq!(list, json!([]), "nothing stored");

    // A bad change leaves the schedule as it was.
    let s = create_schedule(
        &g,
        &id,
        json!({"name": "keep", "trigger": cron("0 4 * * *"), "tasks": ok_tasks}),
    )
    .await;
    let base = schedule_base(&id, &s);
    let (st, v) = g
        .call(
            "PATCH",
            &base,
            Some(json!({"name": "changed", "trigger": cron("nope")})),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (_, now) = g.call("GET", &base, None).await;
    assert_eq!(now["name"], "keep");
    assert_eq!(now["next_run_at"], s["next_run_at"]);
    // Renaming keeps the next run; a new trigger moves it.
    let (_, renamed) = g
        .call("PATCH", &base, Some(json!({"name": "renamed"})))
        .await;
    assert_eq!(renamed["next_run_at"], s["next_run_at"]);
    let (_, retimed) = g
        .call("PATCH", &base, Some(json!({"trigger": cron("0 5 * * *")})))
        .await;
    assert_ne!(retimed["next_run_at"], s["next_run_at"]);

    // Another server's path does not reach it; unknown ids are 404.
    for path in [
        format!(
            "/api/servers/{other}/schedules/{}",
            s["id"].as_str().unwrap()
        ),
        format!("/api/servers/{id}/schedules/no-such"),
    ] {
        let (st, _) = g.call("GET", &path, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
        let (st, _) = g.call("POST", &format!("{path}/run"), None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
    }
    let (st, v) = g.call("GET", &format!("{base}/runs?limit=0"), None).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (st, v) = g.call("GET", &format!("{base}/runs?page=2"), None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    // A subuser with schedule.create but without backup.create cannot schedule backups
    // (nor gain control.console through a schedule).
    let (st, v) = g
        .call(
            "POST",
            "/api/admin/users",
            Some(json!({"username": "helper", "password": "a long password"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = g
        .call(
            "POST",
            &format!("/api/servers/{id}/users"),
            Some(json!({"username": "helper", "permissions": ["schedule.create", "schedule.read", "control.console"]})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let cookie = g.login("helper", "a long password").await.unwrap();
    let path = format!("/api/servers/{id}/schedules");
    let a = g
        .json_with_cookie(
            "POST",
            &path,
            Some(&cookie),
            json!({"name": "sneaky", "trigger": cron("@daily"), "tasks": [{"action": "backup"}]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("backup.create")
    );
    let a = g
        .json_with_cookie(
            "POST",
            &path,
            Some(&cookie),
            json!({"name": "fine", "trigger": cron("@daily"), "tasks": ok_tasks}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let (_, list) = g.call("GET", &path, None).await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["renamed", "fine"]);
}
