//! Direct methods: a service call travels to the device's connection as a `MethodRequest`
//! event and waits for the device's `$iothub/methods/res/{status}` with the same `$rid`.
//!
//! IoT Hub's rules: the device must be connected and subscribed to `$iothub/methods/POST/#`
//! (else 404103 DeviceNotOnline, after waiting up to `connectTimeoutInSeconds`); no answer
//! within `responseTimeoutInSeconds` is 504101 GatewayTimeout; payloads are at most 128 KB.
//! A response is matched by identity and `$rid`, so one device can never answer another's
//! call (hostile case D6).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferrohub_protocol::session::{HubEvent, MethodCall};
use ferrohub_protocol::topic::{RequestId, Subscription};
use ferrohub_protocol::{HubName, Identity};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::error::HubError;
use crate::hub::Hub;

/// IoT Hub's method payload limit (request and response).
pub const MAX_METHOD_PAYLOAD: usize = 128 * 1024;
/// Calls waiting on one identity at once; more are refused with 429 (hostile case E9).
pub const MAX_PENDING_PER_IDENTITY: usize = 32;
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
pub const MIN_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// A call as the service asked for it.
#[derive(Debug, Clone)]
pub struct MethodInvocation {
    pub name: String,
    pub payload: Value,
    pub response_timeout: Duration,
    pub connect_timeout: Duration,
}

/// The device's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodResult {
    pub status: i32,
    pub payload: Value,
}

type CallKey = (HubName, Identity, String);

/// Calls waiting for a device's answer.
#[derive(Debug, Default)]
pub struct PendingCalls {
    waiting: Mutex<HashMap<CallKey, oneshot::Sender<(u16, Bytes)>>>,
    next_id: AtomicU64,
}

/// Removes a call's entry however the call ends (answer, timeout, or the caller going away).
struct Registration<'a> {
    calls: &'a PendingCalls,
    key: CallKey,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut waiting = self.calls.waiting.lock().unwrap_or_else(|p| p.into_inner());
        waiting.remove(&self.key);
    }
}

/// Checks a method name: it becomes a topic level, so no `/`, `+`, `#`, `?` or whitespace.
pub fn validate_method_name(name: &str) -> Result<(), HubError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/+#?".contains(c));
    if ok {
        Ok(())
    } else {
        Err(HubError::InvalidArgument(format!(
            "The method name {name:?} is not valid: 1 to 128 characters without '/', '+', '#', '?' or whitespace"
        )))
    }
}

impl Hub {
    /// Invokes a direct method and waits for the device's answer.
    pub async fn invoke_method(
        &self,
        hub: &HubName,
        identity: &Identity,
        call: MethodInvocation,
    ) -> Result<MethodResult, HubError> {
        validate_method_name(&call.name)?;
        if !(MIN_RESPONSE_TIMEOUT..=MAX_TIMEOUT).contains(&call.response_timeout)
            || call.connect_timeout > MAX_TIMEOUT
        {
            return Err(HubError::InvalidArgument(
                "responseTimeoutInSeconds must be 5 to 300 and connectTimeoutInSeconds 0 to 300"
                    .into(),
            ));
        }
        let payload = Bytes::from(
            serde_json::to_vec(&call.payload)
                .map_err(|e| HubError::InvalidArgument(e.to_string()))?,
        );
        if payload.len() > MAX_METHOD_PAYLOAD {
            return Err(HubError::MessageTooLarge {
                limit: MAX_METHOD_PAYLOAD,
            });
        }
        // 404001/404010 for an unknown identity comes before "not online".
        self.get_identity(hub, identity).await?;
        self.wait_until_subscribed(hub, identity, call.connect_timeout)
            .await?;

        let calls = self.pending_calls();
        let request_id = format!("{}", calls.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let (tx, rx) = oneshot::channel();
        let key = (hub.clone(), identity.clone(), request_id.clone());
        {
            let mut waiting = calls.waiting.lock().unwrap_or_else(|p| p.into_inner());
            let pending = waiting
                .keys()
                .filter(|(h, i, _)| h == hub && i == identity)
                .count();
            if pending >= MAX_PENDING_PER_IDENTITY {
                return Err(HubError::Throttled(format!(
                    "{identity} already has {MAX_PENDING_PER_IDENTITY} direct method calls in flight"
                )));
            }
            waiting.insert(key.clone(), tx);
        }
        let _registration = Registration { calls, key };
        let event = HubEvent::MethodRequest(Box::new(MethodCall {
            request_id: RequestId::new(request_id)
                .ok_or_else(|| HubError::Unavailable("request id".into()))?,
            name: call.name,
            payload,
        }));
        if !self.presence().send(hub, identity, event) {
            return Err(HubError::DeviceNotOnline(identity.to_string()));
        }
        match tokio::time::timeout(call.response_timeout, rx).await {
            Ok(Ok((status, body))) => Ok(MethodResult {
                status: i32::from(status),
                payload: parse_response_payload(&body),
            }),
            // The connection ended before answering.
            Ok(Err(_)) => Err(HubError::DeviceNotOnline(identity.to_string())),
            Err(_) => Err(HubError::GatewayTimeout(format!(
                "{identity} did not answer within {} s",
                call.response_timeout.as_secs()
            ))),
        }
    }

    /// A device's `$iothub/methods/res/{status}/?$rid=`. Unknown or foreign `$rid`s are ignored.
    pub fn complete_method(
        &self,
        hub: &HubName,
        identity: &Identity,
        request_id: &RequestId,
        status: u16,
        payload: Bytes,
    ) {
        let key = (
            hub.clone(),
            identity.clone(),
            request_id.as_str().to_owned(),
        );
        let sender = {
            let mut waiting = self
                .pending_calls()
                .waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            waiting.remove(&key)
        };
        if let Some(sender) = sender {
            let _ = sender.send((status, payload));
        }
    }

    async fn wait_until_subscribed(
        &self,
        hub: &HubName,
        identity: &Identity,
        connect_timeout: Duration,
    ) -> Result<(), HubError> {
        let deadline = tokio::time::Instant::now() + connect_timeout;
        loop {
            let changed = self.presence().changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self
                .presence()
                .is_subscribed(hub, identity, Subscription::MethodRequests)
            {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(HubError::DeviceNotOnline(identity.to_string()));
            }
        }
    }
}

/// The device's answer body as JSON; an empty body is `null`, and text that is not JSON is
/// returned as a string rather than failing the call.
fn parse_response_payload(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}
