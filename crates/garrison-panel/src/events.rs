//! Events from the node: status transitions are persisted (with their history) before
//! they fan out; console, stats and install events go straight to the hub.

use crate::AppState;
use crate::error::ApiError;
use crate::store::{InstallState, InstallStatus, ServerRecord, StoreError, now_millis};
use crate::templates::ServerSettings;
use garrison_proto::{Event, InstallEvent, InstallPhase, ServerState, StatusEvent};
use tokio::sync::{mpsc, watch};

/// Runs until `node_stopped` flips: that happens only after `Node::shutdown` returned,
/// so the final transitions of a shutdown are persisted too. The node keeps its sender,
/// so the channel is closed here and what is left in it drained.
pub async fn pump(
    state: AppState,
    mut rx: mpsc::Receiver<Event>,
    mut node_stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => handle(&state, ev).await,
                None => return,
            },
            _ = crate::shutting_down(&mut node_stopped) => break,
        }
    }
    rx.close();
    while let Some(ev) = rx.recv().await {
        handle(&state, ev).await;
    }
}

async fn handle(state: &AppState, ev: Event) {
    match &ev {
        Event::Stats(s) => state.history.stats(&s.server, &s.stats),
        Event::Console(c) => crate::players::on_console(state, c).await,
        Event::Status(s) => {
            if matches!(s.state, ServerState::Offline | ServerState::Crashed) {
                state.history.forget(&s.server);
            }
            if let Err(e) = state.store.record_transition(s).await {
                tracing::error!(server = %s.server, error = %e, "could not persist a state change");
            }
            crate::players::on_status(state, s).await;
        }
        Event::Install(i) => {
            if let Err(e) = record_install(state, i).await {
                tracing::error!(server = %i.server, error = %e, "could not persist an install outcome");
            }
        }
        Event::Backup(b) => {
            if let Err(e) = crate::api::backups::record_event(state, b).await {
                tracing::error!(server = %b.server, backup = %b.backup, error = %e, "could not persist a backup outcome");
            }
        }
        _ => {}
    }
    state.hub.publish(&ev);
    hooks(state, &ev).await;
}

/// Alert rules and notification channels react to an event (after it is persisted).
async fn hooks(state: &AppState, ev: &Event) {
    if matches!(
        ev,
        Event::Status(_) | Event::Backup(_) | Event::Install(_) | Event::Schedule(_)
    ) {
        crate::alerts::engine::on_event(state, ev).await;
        crate::notify::on_event(state, ev).await;
    }
}

/// Events the panel raises itself (schedule runs) fan out like the node's, and reach
/// alert rules and channels (in a task: the caller does not wait for them).
pub fn publish(state: &AppState, ev: &Event) {
    state.hub.publish(ev);
    let (state, ev) = (state.clone(), ev.clone());
    tokio::spawn(async move { hooks(&state, &ev).await });
}

/// Start an install on the node with its outcome `running` in the store first, so a
/// client reading the server right after the API answered never takes the previous
/// install's outcome for this one's (the `started` event, persisted a moment later,
/// says the same; the end always comes after it). If the node refuses, the previous
/// outcome goes back.
pub async fn begin_install(state: &AppState, r: &ServerRecord) -> Result<(), ApiError> {
    let status = InstallStatus {
        state: InstallState::Running,
        started_at: now_millis(),
        finished_at: None,
        error: None,
    };
    state.store.set_install_status(&r.id, &status).await?;
    if let Err(e) = state.node.install(&r.id).await {
        state
            .store
            .put_install_status(&r.id, r.install.as_ref())
            .await?;
        return Err(e.into());
    }
    Ok(())
}

/// The install's start and end are kept with the server, so a failed install's error is
/// visible later and one cut short by a Garrison restart is marked failed at the next start.
async fn record_install(state: &AppState, i: &InstallEvent) -> Result<(), StoreError> {
    let now = now_millis();
    let status = match i.phase {
        InstallPhase::Started => InstallStatus {
            state: InstallState::Running,
            started_at: now,
            finished_at: None,
            error: None,
        },
        InstallPhase::Finished | InstallPhase::Failed | InstallPhase::Cancelled => {
            let started_at = state
                .store
                .get_server(&i.server)
                .await?
                .and_then(|r| r.install)
                .map_or(now, |s| s.started_at);
            let (st, error) = match i.phase {
                InstallPhase::Finished => (InstallState::Succeeded, None),
                InstallPhase::Cancelled => (InstallState::Cancelled, i.message.clone()),
                _ => (InstallState::Failed, i.message.clone()),
            };
            InstallStatus {
                state: st,
                started_at,
                finished_at: Some(now),
                error,
            }
        }
        _ => return Ok(()),
    };
    state.store.set_install_status(&i.server, &status).await
}

/// The spec a stored server runs with.
pub fn spec_for(state: &AppState, r: &ServerRecord) -> Result<garrison_proto::RunSpec, ApiError> {
    let t = state.templates.require(&r.template)?;
    t.resolve(&state.config.resolve, &settings(r))
}

/// Hand the node the current spec of every server whose template `changed` says changed
/// (after templates were replaced or synced): they run it from their next start or
/// install. A server that no longer resolves keeps its old spec, with a warning.
pub async fn reregister_servers(state: &AppState, changed: impl Fn(&str) -> bool) {
    let servers = match state.store.list_servers().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot list servers to update their templates");
            return;
        }
    };
    for r in servers.iter().filter(|r| changed(&r.template)) {
        match spec_for(state, r) {
            Ok(spec) => {
                if let Err(e) = state.node.register(spec).await {
                    tracing::warn!(server = %r.id, error = %e, "node refused the updated template");
                }
            }
            Err(e) => {
                tracing::warn!(server = %r.id, error = %e, "server does not resolve with its updated template")
            }
        }
    }
}

/// The parts of a record a template resolution reads.
pub fn settings(r: &ServerRecord) -> ServerSettings<'_> {
    ServerSettings {
        id: &r.id,
        port: r.port,
        variables: &r.variables,
        restart: &r.restart,
        memory_mb: r.limits.memory_mb,
        disk_mb: r.limits.disk_mb,
    }
}

/// At start: register every stored server with the node. A server whose state says a
/// process was active when Garrison last stopped is now offline (nothing survives a
/// restart yet); the transition is recorded so its history stays true.
pub async fn restore_servers(state: &AppState) -> Result<(), StoreError> {
    for r in state.store.list_servers().await? {
        match spec_for(state, &r) {
            Ok(spec) => {
                if let Err(e) = state.node.register(spec).await {
                    tracing::error!(server = %r.id, error = %e, "node refused a stored server");
                }
            }
            Err(e) => {
                tracing::error!(server = %r.id, error = %e, "stored server has no usable template")
            }
        }
        if let Some(install) = &r.install
            && install.state == InstallState::Running
        {
            let failed = InstallStatus {
                state: InstallState::Failed,
                started_at: install.started_at,
                finished_at: Some(now_millis()),
                error: Some("interrupted: Garrison stopped during the install".into()),
            };
            state.store.set_install_status(&r.id, &failed).await?;
        }
        if r.state.is_active() {
            let ev = StatusEvent {
                server: r.id.clone(),
                state: ServerState::Offline,
                previous: r.state,
                at: now_millis(),
                reason: Some("Garrison restarted".into()),
                exit: None,
            };
            state.store.record_transition(&ev).await?;
        }
    }
    Ok(())
}
