//! The per-connection driver: read, decode, feed the session, carry out its requests, write.
//!
//! It holds no IoT Hub rule of its own. Telemetry appends run concurrently (see `appends`),
//! so many messages share one fsync, and their results are fed back in arrival order; the
//! session turns them into PUBACKs. When the connection ends, in-flight appends (and a Will)
//! still complete before the task exits, so nothing acknowledged or promised is dropped.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ferrohub_core::Hub;
use ferrohub_core::device_auth::{
    AuthMethod, AuthenticatedDevice, CertificateCredentials, DeviceAuthError,
};
use ferrohub_core::mailbox::EventReceiver;
use ferrohub_core::presence::ConnectionLease;
use ferrohub_core::telemetry::TelemetrySink;
use ferrohub_core::twins::DeviceTwinError;
use ferrohub_mqtt::{ConnectReturnCode, Limits, decode, encode};
use ferrohub_protocol::session::{
    ConnectRequestView, DeviceSession, HubEvent, HubRequest, SessionConfig, Ticket,
};
use ferrohub_protocol::topic::{RequestId, Subscription};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::appends::{Append, Appends};
use crate::client_cert::ClientCertificate;
pub use crate::read_into::ReadInto;
use crate::shutdown::Shutdown;

/// Per-connection settings, and what connections share.
#[derive(Debug, Clone, Default)]
pub struct DriverConfig {
    pub session: SessionConfig,
    pub limits: Limits,
    /// How long one write to a client may block (its socket buffer full) before the client
    /// is considered gone.
    pub write_timeout: WriteTimeout,
    /// Authentication failures per address (shared by every listener of the server).
    pub throttle: std::sync::Arc<crate::throttle::AuthThrottle>,
    /// The IP filter; a refused address gets CONNACK 5 (as any unauthorised device).
    pub ip_filter: std::sync::Arc<crate::ip_filter::IpFilter>,
}

/// What the transport knows about the client before CONNECT.
#[derive(Debug)]
pub struct Transport {
    pub peer: SocketAddr,
    /// The certificate presented in the TLS handshake, if any (X.509 authentication).
    pub client_cert: Option<ClientCertificate>,
}

/// How long one write to a client may block (its socket buffer full) before the client is
/// considered gone; 30 s unless set. Cloud-to-device messages it had not acknowledged stay
/// queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteTimeout(pub std::time::Duration);

impl Default for WriteTimeout {
    fn default() -> Self {
        WriteTimeout(std::time::Duration::from_secs(30))
    }
}

/// Looked up once: the `counter!` macro searches the registry on every call, and this one
/// counts every message.
static TELEMETRY_RECEIVED: std::sync::LazyLock<metrics::Counter> =
    std::sync::LazyLock::new(|| metrics::counter!("ferrohub_telemetry_received_total"));

/// How often a busy connection refreshes its device's `lastActivityTime`.
const ACTIVITY_NOTE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

struct Connection {
    hub: Hub,
    session: DeviceSession,
    device: Option<AuthenticatedDevice>,
    /// Where this device's telemetry goes, prepared at its first message.
    sink: Option<TelemetrySink>,
    /// When activity was last recorded in presence (at most once a second, not per message).
    activity_noted: Option<Instant>,
    lease: Option<ConnectionLease>,
    events: Option<EventReceiver>,
    appends: Appends,
    peer: SocketAddr,
    throttle: std::sync::Arc<crate::throttle::AuthThrottle>,
    /// The certificate presented in the TLS handshake, if any (X.509 authentication); boxed
    /// and dropped at CONNECT, as nothing needs it afterwards.
    client_cert: Option<Box<ClientCertificate>>,
    ip_filter: std::sync::Arc<crate::ip_filter::IpFilter>,
}

/// Runs one device connection to its end.
///
/// A plain function returning an `async move` block rather than an `async fn`: an async fn
/// keeps a second copy of its arguments in its future (rust-lang/rust#62958), and the
/// stream argument holds the whole TLS session, so every connection would pay for it twice.
#[allow(clippy::manual_async_fn)]
pub fn drive<S>(
    mut stream: S,
    transport: Transport,
    hub: Hub,
    config: DriverConfig,
    mut shutdown: Shutdown,
) -> impl std::future::Future<Output = ()> + Send
where
    S: ReadInto + AsyncWrite + Unpin + Send,
{
    async move {
        // Empty: idle connections are the common case; reads fill it as packets arrive, and it
        // is released again whenever every buffered packet has been decoded.
        let mut input = BytesMut::new();
        let mut output = BytesMut::new();
        let mut conn = Connection {
            session: DeviceSession::new(Instant::now(), config.session.clone()),
            hub,
            device: None,
            sink: None,
            activity_noted: None,
            lease: None,
            events: None,
            appends: Appends::default(),
            peer: transport.peer,
            throttle: config.throttle.clone(),
            client_cert: transport.client_cert.map(Box::new),
            ip_filter: config.ip_filter.clone(),
        };
        metrics::gauge!("ferrohub_mqtt_connections").increment(1.0);
        let timer = tokio::time::sleep(std::time::Duration::from_secs(86_400));
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        // Created once and polled in every round: a fresh one per round would register with and
        // deregister from the signal each time a packet arrives.
        let shutdown_requested = shutdown.requested();
        tokio::pin!(shutdown_requested);
        let reason = loop {
            conn.decode_buffered(&mut input, &config.limits).await;
            if input.is_empty() {
                // Release what the last packets left (idle connections hold no buffer).
                input = BytesMut::new();
            }
            conn.process_requests().await;
            // A client that stops reading would otherwise pin this task in a blocked write
            // forever (hostile cases E5/E6): give up on it after the write timeout.
            let write_timeout = config.write_timeout.0;
            match tokio::time::timeout(write_timeout, conn.flush(&mut stream, &mut output)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(peer = %conn.peer, error = %e, "write failed");
                    conn.session.handle_transport_closed(Instant::now());
                }
                Err(_) => {
                    tracing::info!(peer = %conn.peer, "the client stopped reading; closing");
                    conn.session.handle_transport_closed(Instant::now());
                }
            }
            if let Some(reason) = conn.session.poll_close() {
                break reason;
            }
            // One timer per connection, moved only when the session's deadline comes earlier.
            // The keep-alive deadline moves later with every packet; following it would cost a
            // timer-wheel removal and insert per message, so the timer fires at the old
            // deadline instead, the session finds nothing due, and the timer is re-armed.
            if let Some(d) = conn.session.poll_timeout()
                && armed.is_none_or(|a| d < a)
            {
                timer.as_mut().reset(d.into());
                armed = Some(d);
            }
            let reading = conn.session.accepts_input();
            // Biased: shutdown and hub events (takeover, revocation) win over new input, so a
            // kicked connection never serves another packet; durable results before new reads.
            tokio::select! {
                biased;
                () = &mut shutdown_requested => conn.session.handle_hub_event(Instant::now(), HubEvent::Shutdown),
                event = recv_event(&mut conn.events) => {
                    // A dropped sender means the presence slot was replaced or revoked.
                    conn.session.handle_hub_event(Instant::now(), event.unwrap_or(HubEvent::Revoked));
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    conn.session.handle_timeout(Instant::now());
                }
                Some((ticket, outcome)) = conn.appends.next(), if !conn.appends.is_empty() => {
                    let now = Instant::now();
                    conn.session.handle_telemetry_result(now, ticket, outcome);
                    while let Some((ticket, outcome)) = conn.appends.next_ready() {
                        conn.session.handle_telemetry_result(now, ticket, outcome);
                    }
                }
                read = std::future::poll_fn(|cx| stream.poll_read_into(cx, &mut input)), if reading => match read {
                    Ok(0) | Err(_) => conn.session.handle_transport_closed(Instant::now()),
                    Ok(_) => {}
                },
            }
        };
        // A Will, if the session emitted one, and every append already started still complete.
        conn.process_requests().await;
        while conn.appends.next().await.is_some() {}
        let _ = tokio::time::timeout(config.write_timeout.0, async {
            let _ = conn.flush(&mut stream, &mut output).await;
            let _ = stream.shutdown().await;
        })
        .await;
        if let Some(lease) = &conn.lease {
            conn.hub.disconnect_identity(lease);
        }
        metrics::gauge!("ferrohub_mqtt_connections").decrement(1.0);
        tracing::debug!(peer = %conn.peer, ?reason, "connection closed");
    }
}

async fn recv_event(events: &mut Option<EventReceiver>) -> Option<HubEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Connection {
    /// Feeds every complete buffered packet to the session, pausing whenever the session
    /// stops accepting input (while authenticating) so its requests run first.
    async fn decode_buffered(&mut self, input: &mut BytesMut, limits: &Limits) {
        while self.session.accepts_input() {
            if let Some(&first) = input.first() {
                self.session.handle_packet_start(first);
                if !self.session.accepts_input() {
                    input.clear();
                    break;
                }
            }
            match decode(input, limits) {
                Ok(Some(packet)) => {
                    self.session.handle_packet(Instant::now(), packet);
                    self.process_requests().await;
                }
                Ok(None) => break,
                Err(e) => {
                    metrics::counter!("ferrohub_mqtt_protocol_errors_total").increment(1);
                    self.session.handle_decode_error(Instant::now(), &e);
                    input.clear();
                    break;
                }
            }
        }
    }

    async fn flush<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        output: &mut BytesMut,
    ) -> std::io::Result<()> {
        while let Some(packet) = self.session.poll_transmit() {
            if encode(&packet, output).is_err() {
                tracing::warn!(peer = %self.peer, "a packet could not be encoded and was dropped");
            }
        }
        if !output.is_empty() {
            writer.write_all(output).await?;
            writer.flush().await?;
            // Released rather than cleared: most connections are idle between packets.
            *output = BytesMut::new();
        }
        Ok(())
    }

    /// Carries out the session's requests. The hub calls behind them are boxed: their futures
    /// are large and rare, and held inline they would make every idle connection's task as
    /// big as the largest of them.
    async fn process_requests(&mut self) {
        while let Some(request) = self.session.poll_request() {
            match request {
                HubRequest::Authenticate(ConnectRequestView(req)) => {
                    Box::pin(self.authenticate(req)).await;
                }
                HubRequest::Telemetry { ticket, message } => self.start_append(ticket, message),
                HubRequest::SubscriptionsChanged {
                    subscriptions,
                    persist,
                } => Box::pin(self.subscriptions_changed(&subscriptions, persist)).await,
                HubRequest::DropStoredSession => {
                    if let Some(d) = &self.device
                        && let Err(e) = Box::pin(self.hub.drop_session(&d.hub, &d.identity)).await
                    {
                        tracing::warn!(peer = %self.peer, error = %e, "could not drop the stored session");
                    }
                }
                HubRequest::TwinGet { request_id } => Box::pin(self.twin_get(&request_id)).await,
                HubRequest::TwinPatchReported { request_id, patch } => {
                    Box::pin(self.twin_patch(&request_id, &patch)).await;
                }
                HubRequest::PullCloudToDevice => Box::pin(self.pull_c2d()).await,
                HubRequest::CloudToDeviceCompleted { lock_token } => {
                    if let Some(d) = &self.device
                        && let Err(e) = Box::pin(self.hub.complete_c2d(
                            &d.hub,
                            &d.identity.device_id,
                            &lock_token,
                        ))
                        .await
                    {
                        tracing::warn!(peer = %self.peer, error = %e, "could not complete a cloud-to-device message");
                    }
                    Box::pin(self.pull_c2d()).await;
                }
                HubRequest::MethodResponse {
                    request_id,
                    status,
                    payload,
                } => {
                    if let Some(d) = &self.device {
                        self.hub
                            .complete_method(&d.hub, &d.identity, &request_id, status, payload);
                    }
                }
            }
        }
    }

    /// Fills the session's cloud-to-device window from the device's queue.
    async fn pull_c2d(&mut self) {
        let Some(d) = &self.device else { return };
        if d.identity.module_id.is_some() {
            return;
        }
        while self.session.c2d_capacity() > 0 {
            let in_flight = self.session.c2d_in_flight();
            match self
                .hub
                .next_c2d(&d.hub, &d.identity.device_id, &in_flight)
                .await
            {
                Ok(Some(delivery)) => {
                    metrics::counter!("ferrohub_c2d_delivered_total").increment(1);
                    self.session.deliver_c2d(
                        delivery.lock_token,
                        delivery.topic,
                        delivery.body,
                        delivery.redelivery,
                    );
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(peer = %self.peer, error = %e, "could not read the cloud-to-device queue");
                    break;
                }
            }
        }
    }

    async fn twin_get(&mut self, request_id: &RequestId) {
        let Some(d) = &self.device else { return };
        match self.hub.device_twin(&d.hub, &d.identity).await {
            Ok(twin) => {
                let body = Bytes::from(serde_json::to_vec(&twin).unwrap_or_default());
                self.session.send_twin_response(request_id, 200, None, body);
            }
            Err(e) => {
                let (status, body) = twin_error(500, 500_001, &e.to_string());
                self.session
                    .send_twin_response(request_id, status, None, body);
            }
        }
    }

    async fn twin_patch(&mut self, request_id: &RequestId, patch: &[u8]) {
        let Some(d) = &self.device else { return };
        match self.hub.patch_reported(&d.hub, &d.identity, patch).await {
            Ok(version) => {
                self.session
                    .send_twin_response(request_id, 204, Some(version), Bytes::new())
            }
            Err(DeviceTwinError::Invalid(e)) => {
                let (status, body) = twin_error(400, 400_004, &e.to_string());
                self.session
                    .send_twin_response(request_id, status, None, body);
            }
            Err(DeviceTwinError::Hub(e)) => {
                let (status, body) = twin_error(503, 503_000, &e.to_string());
                self.session
                    .send_twin_response(request_id, status, None, body);
            }
        }
    }

    async fn subscriptions_changed(&mut self, subscriptions: &[Subscription], persist: bool) {
        let (Some(d), Some(lease)) = (&self.device, &self.lease) else {
            return;
        };
        self.hub.presence().set_subscriptions(lease, subscriptions);
        if persist
            && let Err(e) = self
                .hub
                .save_session(&d.hub, &d.identity, subscriptions)
                .await
        {
            tracing::warn!(peer = %self.peer, error = %e, "could not persist the session");
        }
    }

    async fn authenticate(&mut self, req: ferrohub_protocol::session::ConnectRequest) {
        let now = Instant::now();
        // No password and a certificate: X.509 authentication; otherwise SAS. An address the
        // IP filter refuses gets the same answer as bad credentials, never the rule.
        // Needed only for this CONNECT (a second CONNECT closes the connection).
        let client_cert = self.client_cert.take();
        let auth = match (&req.password, &client_cert) {
            _ if !self.ip_filter.allows(self.peer.ip()) => Err(DeviceAuthError::AddressNotAllowed),
            (None, Some(cert)) => {
                let credentials = CertificateCredentials {
                    sha1: &cert.sha1,
                    sha256: &cert.sha256,
                    problem: cert.problem.as_deref(),
                    common_name: cert.common_name.as_deref(),
                    is_ca: cert.is_ca,
                    issuing_cas: &cert.issuing_cas,
                };
                self.hub
                    .authenticate_device_certificate(&req.username.host, &req.identity, credentials)
                    .await
            }
            _ => {
                self.hub
                    .authenticate_device(&req.username.host, &req.identity, req.password.as_deref())
                    .await
            }
        };
        let device = match auth {
            Ok(d) => d,
            Err(e) => {
                tracing::info!(peer = %self.peer, client = %req.identity, reason = %e, "CONNECT refused");
                metrics::counter!("ferrohub_auth_failures_total").increment(1);
                self.throttle
                    .record_failure(self.peer.ip(), std::time::Instant::now());
                self.session.handle_auth_result(now, Err(connack_code(&e)));
                return;
            }
        };
        let resumed = self
            .hub
            .resume_session(
                &device.hub,
                &device.identity,
                req.clean_session,
                device.valid_for,
            )
            .await;
        let accepted = match resumed {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(peer = %self.peer, error = %e, "could not load the session");
                self.session
                    .handle_auth_result(now, Err(ConnectReturnCode::ServerUnavailable));
                return;
            }
        };
        // Checked now so a hub without a log refuses the CONNECT; the sink itself is built at
        // the first message (see `start_append`).
        if let Err(e) = self.hub.telemetry_sink(&device) {
            tracing::warn!(peer = %self.peer, error = %e, "the hub's telemetry log is unavailable");
            self.session
                .handle_auth_result(now, Err(ConnectReturnCode::ServerUnavailable));
            return;
        }
        let by_sas = matches!(device.method, AuthMethod::DeviceKey | AuthMethod::Policy);
        let (lease, events) = self
            .hub
            .connect_identity(&device.hub, &device.identity, by_sas);
        self.lease = Some(lease);
        self.events = Some(events);
        self.device = Some(device);
        self.session.handle_auth_result(now, Ok(accepted));
    }

    fn start_append(
        &mut self,
        ticket: Ticket,
        message: ferrohub_protocol::telemetry::TelemetryMessage,
    ) {
        let Some(device) = &self.device else {
            return;
        };
        TELEMETRY_RECEIVED.increment(1);
        let now = Instant::now();
        if self
            .activity_noted
            .is_none_or(|t| now.duration_since(t) >= ACTIVITY_NOTE_INTERVAL)
        {
            self.activity_noted = Some(now);
            self.hub
                .presence()
                .note_activity(&device.hub, &device.identity, self.hub.now());
        }
        if self.sink.is_none() {
            // Built at the first message, not at CONNECT: most devices sit idle, and the
            // identity stamp is several strings per connection.
            self.sink = self
                .hub
                .telemetry_sink(device)
                .inspect_err(
                    |e| tracing::error!(error = %e, "the hub's telemetry log is unavailable"),
                )
                .ok();
        }
        let Some(sink) = &self.sink else {
            self.appends.push(Append::refused(ticket));
            return;
        };
        let append = match sink.ingest(message) {
            Ok(durable) => Append::started(ticket, durable),
            Err(e) => {
                tracing::info!(peer = %self.peer, error = %e, "telemetry refused");
                Append::refused(ticket)
            }
        };
        self.appends.push(append);
    }
}

/// A twin error response: the status on the topic and a JSON body with `errorCode`, because
/// the Node SDK ignores the status and fails only on an `errorCode` field.
fn twin_error(status: u16, code: u32, message: &str) -> (u16, Bytes) {
    let body = serde_json::json!({
        "errorCode": code,
        "message": message,
        "trackingId": "",
        "timestampUtc": ferrohub_core::clock::format_time(time::OffsetDateTime::now_utc()),
    });
    (
        status,
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

/// The CONNACK code for each refusal, as the Azure C SDK reads them: 3 is "disabled" (and
/// "try later"), 4 a malformed credential, 5 a credential that is not accepted.
fn connack_code(e: &DeviceAuthError) -> ConnectReturnCode {
    match e {
        DeviceAuthError::Disabled | DeviceAuthError::Unavailable(_) => {
            ConnectReturnCode::ServerUnavailable
        }
        DeviceAuthError::MalformedToken(_) | DeviceAuthError::NoCredentials => {
            ConnectReturnCode::BadUserNameOrPassword
        }
        DeviceAuthError::UnknownHub(_)
        | DeviceAuthError::WrongResource(_)
        | DeviceAuthError::Expired
        | DeviceAuthError::BadSignature
        | DeviceAuthError::UnknownPolicy(_)
        | DeviceAuthError::PolicyLacksDeviceConnect(_)
        | DeviceAuthError::NotRegistered
        | DeviceAuthError::CertificateRejected(_)
        | DeviceAuthError::DeviceSasDisabled
        | DeviceAuthError::ModuleSasDisabled
        | DeviceAuthError::AddressNotAllowed => ConnectReturnCode::NotAuthorized,
    }
}
