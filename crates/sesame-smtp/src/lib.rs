//! The SMTP listeners of `sesame serve`. `[smtp] listen` (STARTTLS) and `tls_listen`
//! (implicit TLS) take mail from the account's applications: AUTH as a sender address with
//! the password of UpdateEmailSmtpPassWord (or a trusted network), then the very submit
//! pipeline of SendEmail. `[inbound] listen` is the MX of the return-path domain: it takes
//! bounces (DSNs) and complaints (ARF) and nothing else.
//!
//! Commands are parsed by `smtp-proto`; this crate owns the connection handling (bounded
//! lines, timeouts, TLS), the session state machine and the replies.

pub mod auth;
pub mod command;
pub mod io;
pub mod reply;
mod session;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use sesame_core::Config;
use sesame_engine::inbound::InboundSettings;
use sesame_engine::submit::SubmitSettings;
use sesame_store::Store;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Which service a listener offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Authenticated submission from the accounts' applications.
    Submission,
    /// Bounces and complaints from the world's mail servers.
    Inbound,
}

/// What every session shares.
pub struct Service {
    pub store: Store,
    pub config: Arc<Config>,
    pub tls: TlsAcceptor,
    pub submit: SubmitSettings,
    pub inbound: InboundSettings,
    pub throttle: sesame_engine::credentials::Throttle,
    /// Rung when a message is queued, so the delivery worker starts at once.
    pub queue_wakeup: Arc<Notify>,
}

impl Service {
    /// The name the listeners greet with: `[delivery] helo_name`.
    pub fn hostname(&self) -> &str {
        &self.config.delivery.helo_name
    }
}

/// Accepts connections until `cancel`, each served by its own task; then waits for the
/// sessions, which close at their next command with `421`.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    role: Role,
    implicit_tls: bool,
    cancel: CancellationToken,
) {
    let sessions = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(service.config.smtp.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "SMTP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let service = service.clone();
        let cancel = cancel.clone();
        sessions.spawn(async move {
            let _open = sesame_core::metrics::SessionGuard::open(match role {
                Role::Submission => "submission",
                Role::Inbound => "inbound",
            });
            session::run(service, role, tcp, peer, implicit_tls, cancel).await;
            drop(permit);
        });
    }
    sessions.close();
    sessions.wait().await;
}

/// The address a listener is bound to, for logs.
pub fn local_addr(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
