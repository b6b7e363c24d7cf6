//! CA changes without a restart. Every `reload_interval` the CA folder's files (size and
//! modification time: `ca.yaml`, the policy, the bundles, each generation's certificate and
//! key, `--tls-cert/--tls-key`) and the inventory's revision (it grows with every revocation,
//! from any process or node) are compared with what the state was built from; SIGHUP forces a
//! rebuild. So `pki ca rotate`, `pki ca revoke` (+ `pki ca crl`) and `pki ca bundle` take
//! effect at the next handshake and issuance. A rebuild also comes when the state is due (CRL
//! at half its validity, server certificate at two thirds of its life, an overlap ending).
//! A rebuild that fails keeps the previous state and says why.

use crate::state::{is_due, Sources, State};
use crate::Server;
use pki_core::judge::client_verifier::Sink;
use std::sync::Arc;
use tokio::signal::unix::Signal;
use tokio::sync::watch;

pub async fn watch(
    server: Arc<Server>,
    sink: Sink,
    mut hup: Signal,
    mut stop: watch::Receiver<bool>,
) {
    let every = server.settings.limits.reload_interval;
    loop {
        let forced = tokio::select! {
            _ = tokio::time::sleep(every) => false,
            _ = hup.recv() => true,
            _ = stop.changed() => return,
        };
        let check = server.clone();
        let reason = tokio::task::spawn_blocking(move || why_rebuild(&check, forced)).await;
        let reason = match reason {
            Ok(Ok(Some(reason))) => reason,
            Ok(Ok(None)) => continue,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not check the CA for changes");
                continue;
            }
            Err(_) => continue,
        };
        let builder = server.clone();
        let sink = sink.clone();
        let built = tokio::task::spawn_blocking(move || {
            let previous = builder.state();
            State::build(&builder.ca, &builder.settings, sink, Some(&previous))
        })
        .await;
        match built {
            Ok(Ok(state)) => {
                tracing::info!(
                    reason,
                    issuer = %state.signer.generation,
                    crl_number = state.crl_number,
                    server_certificate = %state.identity.serial,
                    "reloaded the CA"
                );
                server.replace(state);
                server.metrics.reloaded("ok");
            }
            Ok(Err(e)) => {
                server.metrics.reloaded("failed");
                tracing::error!(reason, error = %e, "reloading the CA failed; still serving with what was loaded before");
            }
            Err(_) => server.metrics.reloaded("failed"),
        }
    }
}

/// Why the state must be rebuilt now, if it must.
fn why_rebuild(server: &Server, forced: bool) -> Result<Option<&'static str>, pki_core::Error> {
    if forced {
        return Ok(Some("SIGHUP"));
    }
    let state = server.state();
    if is_due(&state, &server.settings.clock) {
        return Ok(Some("due (CRL, server certificate or overlap)"));
    }
    // ca.yaml may name other generations now: read it again to know which files to watch
    let ca = state.ca.reload()?;
    let now = Sources::read(&ca, &server.settings)?;
    if now.revision != state.sources.revision {
        return Ok(Some("a revocation in the inventory"));
    }
    if now != state.sources {
        return Ok(Some("the CA folder changed"));
    }
    Ok(None)
}
