//! The sans-IO device session: one MQTT connection's IoT Hub rules, with time passed in.
//!
//! Modelled on quinn-proto's `Connection`. Inputs: `handle_packet`, `handle_decode_error`,
//! `handle_auth_result`, `handle_telemetry_result`, `handle_hub_event`, `handle_timeout`,
//! `handle_transport_closed`. Outputs, drained after every input: `poll_transmit` (packets to
//! write), `poll_request` (work for the hub), `poll_timeout` (when to call `handle_timeout`),
//! `poll_close` (the connection must end). The driver writes every transmit before closing.
//!
//! Rules enforced here (and unit-tested with explicit time): CONNECT first and only once;
//! client id and username must name the same identity; only the identity's documented topics;
//! QoS 2 PUBLISH closes; SUBSCRIBE is granted at most QoS 1; RETAIN becomes `x-opt-retain`;
//! keep-alive is capped and enforced at 1.5x; the token's expiry closes the connection; a Will
//! is sent as telemetry when the connection ends without DISCONNECT; PUBACKs go out in the
//! order the PUBLISHes arrived, only after the hub reports each message durable.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrohub_mqtt::{
    ConnAck, Connect, ConnectReturnCode, DecodeError, Packet, Publish, QoS, SubAck, SubAckCode,
    Subscribe, Unsubscribe,
};

use crate::ids::Identity;
use crate::telemetry::{MessageKind, TelemetryMessage};
use crate::topic::{DeviceTopic, RequestId, Subscription, parse_publish};
use crate::username::{Username, UsernameError};

/// Tunables; the defaults are IoT Hub's.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Longest keep-alive honoured; 0 and larger values are clamped to it (IoT Hub: 1767 s).
    pub max_keep_alive: Duration,
    /// How long a connection may take to send CONNECT.
    pub connect_timeout: Duration,
    /// QoS 1 telemetry awaiting durability before the session stops reading (backpressure).
    pub max_inflight_telemetry: usize,
    /// Cloud-to-device messages delivered and not yet acknowledged, per connection.
    pub max_inflight_c2d: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_keep_alive: Duration::from_secs(1767),
            connect_timeout: Duration::from_secs(10),
            max_inflight_telemetry: 256,
            max_inflight_c2d: 16,
        }
    }
}

/// Ties a telemetry request to its later result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// What the CONNECT asked for, handed to the hub to authenticate.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub identity: Identity,
    pub username: Username,
    pub password: Option<Bytes>,
    pub clean_session: bool,
}

/// A successful authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAccepted {
    /// Remaining validity of the SAS token; `None` for certificate authentication.
    pub valid_for: Option<Duration>,
    /// A stored session existed and was resumed (CleanSession=0).
    pub session_present: bool,
    /// Subscriptions restored from that stored session.
    pub subscriptions: Vec<Subscription>,
}

/// Work the session needs from the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubRequest {
    Authenticate(ConnectRequestView),
    Telemetry {
        ticket: Ticket,
        message: TelemetryMessage,
    },
    /// The subscription set is now this (after SUBSCRIBE, UNSUBSCRIBE, or a resumed
    /// session). `persist` is true on CleanSession=0 sessions, whose set must be stored.
    SubscriptionsChanged {
        subscriptions: Vec<Subscription>,
        persist: bool,
    },
    /// CleanSession=1: forget any stored session.
    DropStoredSession,
    TwinGet {
        request_id: RequestId,
    },
    TwinPatchReported {
        request_id: RequestId,
        patch: Bytes,
    },
    MethodResponse {
        request_id: RequestId,
        status: u16,
        payload: Bytes,
    },
    /// Cloud-to-device messages may be waiting and the session has room: fetch them and
    /// hand each to `deliver_c2d`.
    PullCloudToDevice,
    /// The device acknowledged a cloud-to-device message: complete it.
    CloudToDeviceCompleted {
        lock_token: String,
    },
}

/// `ConnectRequest` with equality that ignores the password (it is compared by the hub only).
#[derive(Debug, Clone)]
pub struct ConnectRequestView(pub ConnectRequest);

impl PartialEq for ConnectRequestView {
    fn eq(&self, other: &Self) -> bool {
        self.0.identity == other.0.identity && self.0.clean_session == other.0.clean_session
    }
}
impl Eq for ConnectRequestView {}

/// Something the hub tells a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubEvent {
    /// A newer connection authenticated as the same identity (400027).
    TakenOver,
    /// The identity was disabled or deleted, or its keys changed.
    Revoked,
    /// The server is shutting down.
    Shutdown,
    /// A direct method call for the device, delivered on `$iothub/methods/POST/{name}/`.
    /// Boxed, like every large variant: every connection preallocates room for a block of
    /// events, so the enum's size is paid per idle connection.
    MethodRequest(Box<MethodCall>),
    /// A desired-properties patch (`$iothub/twin/PATCH/properties/desired/?$version=N`).
    DesiredPatch(Box<DesiredUpdate>),
    /// New cloud-to-device messages are queued for the device.
    CloudToDeviceAvailable,
}

/// A direct method call on its way to the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodCall {
    pub request_id: RequestId,
    pub name: String,
    /// The payload's JSON text; never empty (`null` for none), as the Node SDK parses it.
    pub payload: Bytes,
}

/// A desired-properties change on its way to the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredUpdate {
    pub version: u64,
    pub body: Bytes,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    ClientDisconnected,
    TransportClosed,
    ProtocolViolation(String),
    ConnectRefused(ConnectReturnCode),
    ConnectTimeout,
    KeepAliveTimeout,
    TokenExpired,
    TakenOver,
    Revoked,
    StorageFailed,
    Shutdown,
}

impl CloseReason {
    /// A Will is sent unless the device said goodbye or never got in.
    fn sends_will(&self) -> bool {
        !matches!(self, Self::ClientDisconnected)
    }
}

/// The result of appending one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelemetryOutcome {
    Stored,
    Failed,
}

#[derive(Debug)]
enum State {
    AwaitingConnect {
        deadline: Instant,
    },
    Authenticating {
        identity: Identity,
        clean_session: bool,
        keep_alive: u16,
        will: Option<Publish>,
    },
    Connected(Connected),
    Closed,
}

#[derive(Debug)]
struct Connected {
    identity: Identity,
    clean_session: bool,
    keep_alive: Duration,
    last_seen: Instant,
    token_deadline: Option<Instant>,
    will: Option<Publish>,
    subscriptions: BTreeSet<Subscription>,
}

#[derive(Debug)]
struct PendingAck {
    ticket: Ticket,
    packet_id: u16,
    stored: bool,
}

/// One device connection's protocol state. See the module docs for the polling order.
#[derive(Debug)]
pub struct DeviceSession {
    config: SessionConfig,
    state: State,
    transmit: VecDeque<Packet>,
    requests: VecDeque<HubRequest>,
    close: Option<CloseReason>,
    close_reported: bool,
    pending_acks: VecDeque<PendingAck>,
    next_ticket: u64,
    /// Cloud-to-device deliveries awaiting the device's PUBACK: packet id -> lock token.
    c2d_in_flight: HashMap<u16, String>,
    next_packet_id: u16,
}

impl DeviceSession {
    pub fn new(now: Instant, config: SessionConfig) -> Self {
        let deadline = now + config.connect_timeout;
        Self {
            config,
            state: State::AwaitingConnect { deadline },
            transmit: VecDeque::new(),
            requests: VecDeque::new(),
            close: None,
            close_reported: false,
            pending_acks: VecDeque::new(),
            next_ticket: 0,
            c2d_in_flight: HashMap::new(),
            next_packet_id: 0,
        }
    }

    /// The authenticated identity, once connected.
    pub fn identity(&self) -> Option<&Identity> {
        match &self.state {
            State::Connected(c) => Some(&c.identity),
            State::Authenticating { identity, .. } => Some(identity),
            _ => None,
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected(_))
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// False while the driver should stop reading: during authentication, when too much
    /// telemetry awaits durability, or after close.
    pub fn accepts_input(&self) -> bool {
        match self.state {
            State::AwaitingConnect { .. } => true,
            State::Connected(_) => self.pending_acks.len() < self.config.max_inflight_telemetry,
            State::Authenticating { .. } | State::Closed => false,
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Packet> {
        let next = self.transmit.pop_front();
        release_if_empty(&mut self.transmit);
        next
    }

    pub fn poll_request(&mut self) -> Option<HubRequest> {
        let next = self.requests.pop_front();
        release_if_empty(&mut self.requests);
        next
    }

    /// Returns the close reason once, after which the driver ends the connection.
    pub fn poll_close(&mut self) -> Option<CloseReason> {
        if self.close_reported {
            return None;
        }
        let reason = self.close.clone()?;
        self.close_reported = true;
        Some(reason)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::AwaitingConnect { deadline } => Some(*deadline),
            State::Connected(c) => {
                let keep_alive = c.last_seen + c.keep_alive.mul_f32(1.5);
                Some(c.token_deadline.map_or(keep_alive, |t| t.min(keep_alive)))
            }
            State::Authenticating { .. } | State::Closed => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.state {
            State::AwaitingConnect { deadline } if now >= *deadline => {
                self.close(CloseReason::ConnectTimeout)
            }
            State::Connected(c) => {
                if c.token_deadline.is_some_and(|t| now >= t) {
                    self.close(CloseReason::TokenExpired);
                } else if now >= c.last_seen + c.keep_alive.mul_f32(1.5) {
                    self.close(CloseReason::KeepAliveTimeout);
                }
            }
            _ => {}
        }
    }

    pub fn handle_transport_closed(&mut self, _now: Instant) {
        self.close(CloseReason::TransportClosed);
    }

    /// The first byte of the next buffered packet, seen before its body has arrived. Until
    /// CONNECT, anything but a CONNECT header closes at once, so a client cannot make the
    /// server buffer a large body it will refuse anyway (hostile B7). Called per packet, so it
    /// takes no clock reading.
    pub fn handle_packet_start(&mut self, first_byte: u8) {
        const CONNECT_TYPE: u8 = 1;
        if matches!(self.state, State::AwaitingConnect { .. }) && first_byte >> 4 != CONNECT_TYPE {
            self.close(CloseReason::ProtocolViolation(
                "the first packet must be CONNECT".into(),
            ));
        }
    }

    /// A frame could not be decoded. Only an MQTT CONNECT of another protocol level gets an
    /// answer (CONNACK 1, as 3.1.1 requires); everything else closes silently.
    pub fn handle_decode_error(&mut self, _now: Instant, error: &DecodeError) {
        if let (State::AwaitingConnect { .. }, DecodeError::UnsupportedProtocolLevel(_)) =
            (&self.state, error)
        {
            self.refuse(ConnectReturnCode::UnacceptableProtocolVersion);
            return;
        }
        self.close(CloseReason::ProtocolViolation(error.to_string()));
    }

    pub fn handle_hub_event(&mut self, _now: Instant, event: HubEvent) {
        let reason = match event {
            HubEvent::TakenOver => CloseReason::TakenOver,
            HubEvent::Revoked => CloseReason::Revoked,
            HubEvent::Shutdown => CloseReason::Shutdown,
            HubEvent::MethodRequest(call) => {
                let MethodCall {
                    request_id,
                    name,
                    payload,
                } = *call;
                let topic = format!(
                    "$iothub/methods/POST/{name}/?$rid={}",
                    crate::sas::encode_component(request_id.as_str())
                );
                // IoT Hub sends method requests at QoS 0, only to subscribed devices.
                self.publish_if_subscribed(Subscription::MethodRequests, topic, payload);
                return;
            }
            HubEvent::CloudToDeviceAvailable => {
                if self.c2d_capacity() > 0 {
                    self.requests.push_back(HubRequest::PullCloudToDevice);
                }
                return;
            }
            HubEvent::DesiredPatch(update) => {
                let DesiredUpdate { version, body } = *update;
                let topic = format!("$iothub/twin/PATCH/properties/desired/?$version={version}");
                self.publish_if_subscribed(Subscription::DesiredPatches, topic, body);
                return;
            }
        };
        self.close(reason);
    }

    pub fn handle_packet(&mut self, now: Instant, packet: Packet) {
        match &mut self.state {
            State::Closed => {}
            State::AwaitingConnect { .. } => match packet {
                Packet::Connect(connect) => self.handle_connect(connect),
                other => self.violation(format!("{} before CONNECT", packet_name(&other))),
            },
            State::Authenticating { .. } => {
                self.violation("a packet arrived before CONNACK".into())
            }
            State::Connected(c) => {
                c.last_seen = now;
                match packet {
                    Packet::Publish(p) => self.handle_publish(p),
                    Packet::Subscribe(s) => self.handle_subscribe(s),
                    Packet::Unsubscribe(u) => self.handle_unsubscribe(u),
                    Packet::PingReq => self.transmit.push_back(Packet::PingResp),
                    Packet::Disconnect => self.close(CloseReason::ClientDisconnected),
                    Packet::PubAck(pid) => self.handle_puback(pid),
                    other => self.violation(format!(
                        "{} is not allowed from a device",
                        packet_name(&other)
                    )),
                }
            }
        }
    }

    pub fn handle_auth_result(
        &mut self,
        now: Instant,
        result: Result<AuthAccepted, ConnectReturnCode>,
    ) {
        let State::Authenticating { .. } = self.state else {
            return;
        };
        let State::Authenticating {
            identity,
            clean_session,
            keep_alive,
            will,
        } = std::mem::replace(&mut self.state, State::Closed)
        else {
            return;
        };
        let accepted = match result {
            Ok(a) => a,
            Err(code) => {
                self.state = State::AwaitingConnect { deadline: now };
                self.refuse(code);
                return;
            }
        };
        let keep_alive = match Duration::from_secs(u64::from(keep_alive)) {
            d if d.is_zero() || d > self.config.max_keep_alive => self.config.max_keep_alive,
            d => d,
        };
        let session_present = accepted.session_present && !clean_session;
        let subscriptions: BTreeSet<Subscription> = if clean_session {
            self.requests.push_back(HubRequest::DropStoredSession);
            BTreeSet::new()
        } else {
            accepted.subscriptions.into_iter().collect()
        };
        if !subscriptions.is_empty() {
            self.requests.push_back(HubRequest::SubscriptionsChanged {
                subscriptions: subscriptions.iter().copied().collect(),
                persist: false,
            });
        }
        // A resumed session that holds the C2D subscription gets what was queued meanwhile,
        // without re-subscribing (the SDKs never do after a token renewal).
        let pull = subscriptions.contains(&Subscription::CloudToDevice);
        self.transmit.push_back(Packet::ConnAck(ConnAck {
            session_present,
            code: ConnectReturnCode::Accepted,
        }));
        self.state = State::Connected(Connected {
            identity,
            clean_session,
            keep_alive,
            last_seen: now,
            token_deadline: accepted.valid_for.map(|d| now + d),
            will,
            subscriptions,
        });
        if pull {
            self.requests.push_back(HubRequest::PullCloudToDevice);
        }
    }

    /// Reports whether the message behind `ticket` became durable. PUBACKs are released in
    /// arrival order; a failure closes the connection without acknowledging (nothing is
    /// acknowledged that is not stored).
    pub fn handle_telemetry_result(
        &mut self,
        _now: Instant,
        ticket: Ticket,
        outcome: TelemetryOutcome,
    ) {
        if outcome == TelemetryOutcome::Failed {
            self.close(CloseReason::StorageFailed);
            return;
        }
        if let Some(p) = self.pending_acks.iter_mut().find(|p| p.ticket == ticket) {
            p.stored = true;
        }
        while self.pending_acks.front().is_some_and(|p| p.stored) {
            if let Some(p) = self.pending_acks.pop_front() {
                self.transmit.push_back(Packet::PubAck(p.packet_id));
            }
        }
        release_if_empty(&mut self.pending_acks);
    }

    /// The subscriptions currently held (for delivering hub-to-device traffic).
    pub fn subscriptions(&self) -> Vec<Subscription> {
        match &self.state {
            State::Connected(c) => c.subscriptions.iter().copied().collect(),
            _ => Vec::new(),
        }
    }

    fn handle_connect(&mut self, connect: Connect) {
        let Ok(identity) = Identity::from_client_id(&connect.client_id) else {
            self.refuse(ConnectReturnCode::IdentifierRejected);
            return;
        };
        let Some(username_text) = connect.username.as_deref() else {
            self.refuse(ConnectReturnCode::NotAuthorized);
            return;
        };
        let username = match Username::parse(username_text, &connect.client_id) {
            Ok(u) => u,
            Err(UsernameError::ClientIdMismatch | UsernameError::Shape) => {
                self.refuse(ConnectReturnCode::IdentifierRejected);
                return;
            }
            Err(UsernameError::BadEncoding) => {
                self.refuse(ConnectReturnCode::BadUserNameOrPassword);
                return;
            }
        };
        let will = match connect.will {
            None => None,
            Some(w) => {
                // A Will may only be the identity's own telemetry (hostile case B10).
                let own = matches!(
                    parse_publish(&w.topic, &identity),
                    Ok(DeviceTopic::Telemetry { .. })
                );
                if !own {
                    self.refuse(ConnectReturnCode::NotAuthorized);
                    return;
                }
                Some(Publish {
                    dup: false,
                    qos: QoS::AtLeastOnce,
                    retain: w.retain,
                    topic: w.topic,
                    packet_id: None,
                    payload: w.payload,
                })
            }
        };
        self.requests
            .push_back(HubRequest::Authenticate(ConnectRequestView(
                ConnectRequest {
                    identity: identity.clone(),
                    username,
                    password: connect.password,
                    clean_session: connect.clean_session,
                },
            )));
        self.state = State::Authenticating {
            identity,
            clean_session: connect.clean_session,
            keep_alive: connect.keep_alive,
            will,
        };
    }

    fn handle_publish(&mut self, publish: Publish) {
        let State::Connected(c) = &self.state else {
            return;
        };
        if publish.qos == QoS::ExactlyOnce {
            // IoT Hub closes the connection on QoS 2.
            self.violation("QoS 2 PUBLISH is not supported".into());
            return;
        }
        let topic = match parse_publish(&publish.topic, &c.identity) {
            Ok(t) => t,
            Err(e) => {
                self.violation(e.to_string());
                return;
            }
        };
        let is_telemetry = matches!(topic, DeviceTopic::Telemetry { .. });
        match topic {
            DeviceTopic::Telemetry { bag } => {
                match TelemetryMessage::from_bag(
                    bag,
                    publish.payload.clone(),
                    publish.retain,
                    MessageKind::Telemetry,
                ) {
                    Ok(message) => self.submit_telemetry(message, publish.packet_id),
                    Err(e) => self.violation(e.to_string()),
                }
            }
            DeviceTopic::TwinGet { request_id } => {
                self.requests.push_back(HubRequest::TwinGet { request_id })
            }
            DeviceTopic::TwinPatchReported { request_id } => {
                self.requests.push_back(HubRequest::TwinPatchReported {
                    request_id,
                    patch: publish.payload.clone(),
                })
            }
            DeviceTopic::MethodResponse { status, request_id } => {
                self.requests.push_back(HubRequest::MethodResponse {
                    request_id,
                    status,
                    payload: publish.payload.clone(),
                })
            }
        }
        // Twin and method requests are answered on their own topics; the PUBACK only says the
        // hub received the request.
        if !is_telemetry
            && !self.is_closed()
            && let Some(pid) = publish.packet_id
        {
            self.transmit.push_back(Packet::PubAck(pid));
        }
    }

    fn submit_telemetry(&mut self, message: TelemetryMessage, packet_id: Option<u16>) {
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        if let Some(packet_id) = packet_id {
            self.pending_acks.push_back(PendingAck {
                ticket,
                packet_id,
                stored: false,
            });
        }
        self.requests
            .push_back(HubRequest::Telemetry { ticket, message });
    }

    fn handle_subscribe(&mut self, subscribe: Subscribe) {
        let State::Connected(c) = &mut self.state else {
            return;
        };
        let mut codes = Vec::with_capacity(subscribe.filters.len());
        let mut added = Vec::new();
        for (filter, qos) in &subscribe.filters {
            match Subscription::parse(filter, &c.identity) {
                Some(s) => {
                    added.push(s);
                    // IoT Hub grants at most QoS 1.
                    codes.push(SubAckCode::Granted(if *qos == QoS::AtMostOnce {
                        QoS::AtMostOnce
                    } else {
                        QoS::AtLeastOnce
                    }));
                }
                None => {
                    // IoT Hub closes the connection on an undocumented filter.
                    let msg = format!("subscription to {filter:?} is not allowed");
                    self.violation(msg);
                    return;
                }
            }
        }
        let changed = added
            .into_iter()
            .fold(false, |acc, s| c.subscriptions.insert(s) | acc);
        if changed {
            self.requests.push_back(HubRequest::SubscriptionsChanged {
                subscriptions: c.subscriptions.iter().copied().collect(),
                persist: !c.clean_session,
            });
        }
        let pull = c.subscriptions.contains(&Subscription::CloudToDevice);
        self.transmit.push_back(Packet::SubAck(SubAck {
            packet_id: subscribe.packet_id,
            codes,
        }));
        // Messages queued while the device was away are delivered once it subscribes.
        if pull {
            self.requests.push_back(HubRequest::PullCloudToDevice);
        }
    }

    fn handle_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        let State::Connected(c) = &mut self.state else {
            return;
        };
        let mut changed = false;
        for filter in &unsubscribe.filters {
            if let Some(s) = Subscription::parse(filter, &c.identity) {
                changed |= c.subscriptions.remove(&s);
            }
        }
        if changed {
            self.requests.push_back(HubRequest::SubscriptionsChanged {
                subscriptions: c.subscriptions.iter().copied().collect(),
                persist: !c.clean_session,
            });
        }
        self.transmit
            .push_back(Packet::UnsubAck(unsubscribe.packet_id));
    }

    fn refuse(&mut self, code: ConnectReturnCode) {
        self.transmit.push_back(Packet::ConnAck(ConnAck {
            session_present: false,
            code,
        }));
        self.close(CloseReason::ConnectRefused(code));
    }

    fn violation(&mut self, message: String) {
        self.close(CloseReason::ProtocolViolation(message));
    }

    fn close(&mut self, reason: CloseReason) {
        if self.close.is_some() {
            return;
        }
        if let State::Connected(c) = std::mem::replace(&mut self.state, State::Closed)
            && reason.sends_will()
            && let Some(will) = c.will
        {
            self.emit_will(&c.identity, will);
        }
        self.state = State::Closed;
        self.close = Some(reason);
    }

    fn emit_will(&mut self, identity: &Identity, will: Publish) {
        let Ok(DeviceTopic::Telemetry { bag }) = parse_publish(&will.topic, identity) else {
            return;
        };
        if let Ok(mut message) =
            TelemetryMessage::from_bag(bag, will.payload.clone(), will.retain, MessageKind::Will)
        {
            message.kind = MessageKind::Will;
            let ticket = Ticket(self.next_ticket);
            self.next_ticket += 1;
            self.requests
                .push_back(HubRequest::Telemetry { ticket, message });
        }
    }
}

fn packet_name(packet: &Packet) -> &'static str {
    match packet {
        Packet::Connect(_) => "CONNECT",
        Packet::ConnAck(_) => "CONNACK",
        Packet::Publish(_) => "PUBLISH",
        Packet::PubAck(_) => "PUBACK",
        Packet::PubRec(_) => "PUBREC",
        Packet::PubRel(_) => "PUBREL",
        Packet::PubComp(_) => "PUBCOMP",
        Packet::Subscribe(_) => "SUBSCRIBE",
        Packet::SubAck(_) => "SUBACK",
        Packet::Unsubscribe(_) => "UNSUBSCRIBE",
        Packet::UnsubAck(_) => "UNSUBACK",
        Packet::PingReq => "PINGREQ",
        Packet::PingResp => "PINGRESP",
        Packet::Disconnect => "DISCONNECT",
    }
}

mod outbound;

/// Drained queues give their buffer back: most sessions are idle between packets, and a
/// queue keeps its largest size otherwise.
fn release_if_empty<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
}

#[cfg(test)]
mod tests;
