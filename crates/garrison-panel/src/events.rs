//! Events from the node: status transitions are persisted (with their history) before
//! they fan out; console, stats and install events go straight to the hub.

use crate::AppState;
use crate::error::ApiError;
use crate::store::{ServerRecord, StoreError, now_millis};
use garrison_proto::{Event, ServerState, StatusEvent};
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
    if let Event::Status(s) = &ev
        && let Err(e) = state.store.record_transition(s).await
    {
        tracing::error!(server = %s.server, error = %e, "could not persist a state change");
    }
    state.hub.publish(&ev);
}

/// The spec a stored server runs with.
pub fn spec_for(state: &AppState, r: &ServerRecord) -> Result<garrison_proto::RunSpec, ApiError> {
    state.templates.resolve(
        &state.config.resolve,
        &r.id,
        &r.template,
        r.port,
        &r.variables,
        &r.restart,
    )
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
