//! Reading the built-in telemetry endpoint over REST (our extension; IoT Hub itself offers
//! an Event Hubs AMQP endpoint here).
//!
//! `GET /ferrohub/telemetry?from=earliest|latest|checkpoint|<RFC 3339>&consumerGroup=G&deviceId=D`
//! answers with a never-ending `application/x-ndjson` stream: one event per line, and an empty
//! line every 15 s of silence so proxies and clients can tell the stream is alive. The stream
//! tails every partition using the log's watch channels, never by polling. With `until=now`
//! it ends instead once it has sent every event the log held when the request arrived (a
//! snapshot: an export, or a check of what was stored, that needs no idle timeout).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use ferrohub_core::clock::format_time;
use ferrohub_log::{DEFAULT_CONSUMER_GROUP, StartPosition, StoredEvent, TelemetryLog};
use ferrohub_store::AccessRights;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::router::ApiState;

/// Events read from one partition per step; bounds the memory of a stream.
const READ_BATCH: usize = 256;
/// An empty line after this much silence keeps the stream observably alive.
const HEARTBEAT: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamQuery {
    from: Option<String>,
    consumer_group: Option<String>,
    device_id: Option<String>,
    /// Also stream IoT Hub's own events (connection state, lifecycle, twin changes); by
    /// default only device telemetry, as on IoT Hub's built-in endpoint without routes.
    events: Option<bool>,
    /// `now`: end the stream at the log's end as of the request.
    until: Option<String>,
}

struct Cursor {
    log: Arc<dyn TelemetryLog>,
    watches: Vec<tokio::sync::watch::Receiver<u64>>,
    next: Vec<u64>,
    device: Option<String>,
    include_events: bool,
    ready: VecDeque<Vec<u8>>,
    /// Per partition, the first sequence number not to send (`until=now`); None tails forever.
    end: Option<Vec<u64>>,
}

pub async fn stream(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Query(q): Query<StreamQuery>,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    let log = state.hub.log_for(&principal.hub)?;
    let group = q
        .consumer_group
        .unwrap_or_else(|| DEFAULT_CONSUMER_GROUP.to_owned());
    if !log.consumer_groups().map_err(internal)?.contains(&group) {
        return Err(ApiError::not_found(
            "ConsumerGroupNotFound",
            format!("The consumer group {group} does not exist"),
        ));
    }
    let mut next = Vec::new();
    for p in 0..log.partition_count() {
        next.push(start_sequence(log.as_ref(), p, q.from.as_deref(), &group)?);
    }
    let end = match q.until.as_deref() {
        None => None,
        Some("now") => Some(
            (0..log.partition_count())
                .map(|p| log.next_sequence_number(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?,
        ),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "until must be now (or absent, to follow the log), not {other:?}"
            )));
        }
    };
    let mut watches = Vec::new();
    for p in 0..log.partition_count() {
        watches.push(log.watch(p).map_err(internal)?);
    }
    let cursor = Cursor {
        log,
        watches,
        next,
        device: q.device_id,
        include_events: q.events.unwrap_or(false),
        ready: VecDeque::new(),
        end,
    };
    let body = Body::from_stream(futures_util::stream::unfold(cursor, |mut c| async move {
        let line = c.next_line().await?;
        Some((Ok::<_, std::io::Error>(line), c))
    }));
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

fn start_sequence(
    log: &dyn TelemetryLog,
    partition: u32,
    from: Option<&str>,
    group: &str,
) -> Result<u64, ApiError> {
    let latest = log.next_sequence_number(partition).map_err(internal)?;
    let position = match from.unwrap_or("latest") {
        "latest" => return Ok(latest),
        "earliest" => StartPosition::Earliest,
        "checkpoint" => match log.checkpoint(group, partition).map_err(internal)? {
            Some(seq) => return Ok(seq),
            None => StartPosition::Earliest,
        },
        other => {
            let t = OffsetDateTime::parse(other, &Rfc3339).map_err(|_| {
                ApiError::bad_request(format!(
                    "from must be earliest, latest, checkpoint or an RFC 3339 time, not {other:?}"
                ))
            })?;
            StartPosition::EnqueuedTime(
                i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
            )
        }
    };
    let first = log.read(partition, position, 1).map_err(internal)?;
    Ok(first.first().map_or(latest, |e| e.sequence_number))
}

impl Cursor {
    /// The next NDJSON line: an event, or an empty heartbeat line after a quiet period;
    /// None once a bounded stream (`until=now`) has sent everything up to its end.
    async fn next_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Some(line);
            }
            if self.reached_end() {
                return None;
            }
            // Mark the current tails seen before reading, so an append that lands after the
            // read still wakes the wait below.
            for w in &mut self.watches {
                w.borrow_and_update();
            }
            if self.fill() {
                continue;
            }
            if self.watches.is_empty() {
                tokio::time::sleep(HEARTBEAT).await;
                return Some(b"\n".to_vec());
            }
            let changed = futures_util::future::select_all(
                self.watches.iter_mut().map(|w| Box::pin(w.changed())),
            );
            let closed = match tokio::time::timeout(HEARTBEAT, changed).await {
                Err(_) => return Some(b"\n".to_vec()),
                Ok((result, _, _)) => result.is_err(),
            };
            if closed {
                // The log is closing (server shutdown): stop waking on it.
                self.watches.clear();
                return Some(b"\n".to_vec());
            }
        }
    }

    /// True when a bounded stream has read every partition up to its end.
    fn reached_end(&self) -> bool {
        self.end
            .as_ref()
            .is_some_and(|end| self.next.iter().zip(end).all(|(next, end)| next >= end))
    }

    /// Reads what is new in every partition; true when anything was read.
    fn fill(&mut self) -> bool {
        let mut any = false;
        for p in 0..self.log.partition_count() {
            let idx = p as usize;
            let Ok(events) =
                self.log
                    .read(p, StartPosition::SequenceNumber(self.next[idx]), READ_BATCH)
            else {
                continue;
            };
            let end = self.end.as_ref().map_or(u64::MAX, |end| end[idx]);
            for e in events.into_iter().take_while(|e| e.sequence_number < end) {
                any = true;
                self.next[idx] = e.sequence_number + 1;
                let wanted = self
                    .device
                    .as_deref()
                    .is_none_or(|d| device_of(&e) == Some(d))
                    && (self.include_events || is_telemetry(&e));
                if wanted {
                    let mut line = serde_json::to_vec(&event_json(&e)).unwrap_or_default();
                    line.push(b'\n');
                    self.ready.push_back(line);
                }
            }
        }
        any
    }
}

fn is_telemetry(e: &StoredEvent) -> bool {
    e.data
        .system_properties
        .iter()
        .any(|(k, v)| k == "iothub-message-source" && v == "Telemetry")
}

fn device_of(e: &StoredEvent) -> Option<&str> {
    e.data
        .system_properties
        .iter()
        .find(|(k, _)| k == "iothub-connection-device-id")
        .map(|(_, v)| v.as_str())
}

/// One event as JSON. The body is text when it is UTF-8, else base64 under `bodyBase64`.
pub fn event_json(e: &StoredEvent) -> Value {
    let enqueued =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.enqueued_time_ms) * 1_000_000)
            .map(format_time)
            .unwrap_or_default();
    let properties: Map<String, Value> = e
        .data
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut system: Map<String, Value> = e
        .data
        .system_properties
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    system.insert(
        "iothub-enqueuedtime".into(),
        Value::String(enqueued.clone()),
    );
    let mut out = json!({
        "partition": e.partition,
        "sequenceNumber": e.sequence_number,
        "offset": e.offset.to_string(),
        "enqueuedTime": enqueued,
        "properties": properties,
        "systemProperties": system,
    });
    match std::str::from_utf8(&e.data.body) {
        Ok(text) => out["body"] = Value::String(text.to_owned()),
        Err(_) => {
            out["bodyBase64"] =
                Value::String(base64::engine::general_purpose::STANDARD.encode(&e.data.body))
        }
    }
    out
}

fn internal(e: ferrohub_log::LogError) -> ApiError {
    ApiError::from(ferrohub_core::HubError::from(e))
}

pub async fn list_groups(
    State(state): State<ApiState>,
    Principal(principal): Principal,
) -> Result<Response, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    let log = state.hub.log_for(&principal.hub)?;
    Ok(Json(json!(log.consumer_groups().map_err(internal)?)).into_response())
}

pub async fn create_group(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    let log = state.hub.log_for(&principal.hub)?;
    match log.create_consumer_group(&name) {
        Ok(()) => Ok(StatusCode::CREATED),
        Err(ferrohub_log::LogError::ConsumerGroupExists(_)) => Ok(StatusCode::OK),
        Err(ferrohub_log::LogError::InvalidConsumerGroupName(n)) => Err(ApiError::bad_request(
            format!("The consumer group name {n:?} is not valid"),
        )),
        Err(e) => Err(internal(e)),
    }
}

pub async fn delete_group(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    let log = state.hub.log_for(&principal.hub)?;
    match log.delete_consumer_group(&name) {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(ferrohub_log::LogError::UnknownConsumerGroup(_)) => Err(ApiError::not_found(
            "ConsumerGroupNotFound",
            format!("The consumer group {name} does not exist"),
        )),
        Err(
            ferrohub_log::LogError::InvalidConsumerGroupName(_)
            | ferrohub_log::LogError::ConsumerGroupProtected(_),
        ) => Err(ApiError::bad_request(format!(
            "The consumer group {name} cannot be deleted"
        ))),
        Err(e) => Err(internal(e)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointBody {
    partition: u32,
    next_sequence_number: u64,
}

/// Commits checkpoints; answered after they are durable.
pub async fn commit_checkpoints(
    State(state): State<ApiState>,
    Principal(principal): Principal,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    principal.require(AccessRights::ServiceConnect)?;
    let log = state.hub.log_for(&principal.hub)?;
    let checkpoints: Vec<CheckpointBody> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("The body must be a JSON array of checkpoints: {e}"))
    })?;
    for c in checkpoints {
        log.commit_checkpoint(&name, c.partition, c.next_sequence_number)
            .map_err(|e| match e {
                ferrohub_log::LogError::UnknownConsumerGroup(_) => ApiError::not_found(
                    "ConsumerGroupNotFound",
                    format!("The consumer group {name} does not exist"),
                ),
                ferrohub_log::LogError::UnknownPartition(p) => {
                    ApiError::bad_request(format!("There is no partition {p}"))
                }
                other => internal(other),
            })?;
    }
    Ok(StatusCode::NO_CONTENT)
}
