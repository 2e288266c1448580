//! Crash consistency (hostile group F1): QoS 1 publishers record every PUBACK; the server is
//! killed with SIGKILL at an arbitrary moment and restarted on the same data directory;
//! every acknowledged message must be in the log afterwards. Also a full disk (E11): writes
//! that fail get no PUBACK, and the server goes on once there is room.
//!
//! This drives the real `ferrohub` binary, so nothing but the process boundary is shared.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrohub::client::ApiClient;
use ferrohub_mqtt::{Packet, Publish, QoS};
use hyper::Method;
use serde_json::json;

#[path = "binary/device.rs"]
mod device;
#[path = "binary/support.rs"]
mod support;

use device::Device;
use support::{cli, owner, start, start_with_file_size_limit};

const DEVICES: usize = 4;
const WINDOW: usize = 8;
const CYCLES: u64 = 25;

type Acked = Arc<Mutex<BTreeSet<(String, u64)>>>;

async fn api(dir: &Path, port: u16) -> ApiClient {
    let mut client =
        ApiClient::new(owner(dir), format!("127.0.0.1:{port}"), &dir.join("ca.pem")).unwrap();
    client.server_name = "localhost".into();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while client.call(Method::GET, "/health", None).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the REST API did not come up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client
}

/// Publishes numbered messages until the connection dies; records each PUBACKed number.
async fn publish_until_killed(
    ca: PathBuf,
    port: u16,
    device: String,
    key: String,
    first: u64,
    acked: Acked,
) {
    let Some((mut link, ack)) = Device::try_connect(&ca, port, &device, &key, true).await else {
        return;
    };
    assert_eq!(ack.code, ferrohub_mqtt::ConnectReturnCode::Accepted);
    let mut next = first;
    let mut in_flight = HashMap::new();
    loop {
        let mut window = Vec::new();
        while in_flight.len() + window.len() < WINDOW {
            let pid = u16::try_from(next % 60_000 + 1).unwrap();
            window.push(Packet::Publish(Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: format!("devices/{device}/messages/events/seq={next}"),
                packet_id: Some(pid),
                payload: Bytes::from(vec![b'c'; 128]),
            }));
            in_flight.insert(pid, next);
            next += 1;
        }
        if !link.try_send(&window).await {
            return;
        }
        // `None`: the connection ended (the server was killed).
        match link.next(Duration::from_secs(60)).await {
            Some(Packet::PubAck(pid)) => {
                if let Some(seq) = in_flight.remove(&pid) {
                    acked.lock().unwrap().insert((device.clone(), seq));
                }
            }
            Some(_) => {}
            None => return,
        }
    }
}

/// Every `(device, seq)` in the log with how many times it is stored, read through the REST
/// stream up to the log's end as of the request (`until=now`).
async fn stored(client: &ApiClient) -> BTreeMap<(String, u64), usize> {
    let r = client
        .call_ok(
            Method::GET,
            "/ferrohub/telemetry?from=earliest&until=now",
            None,
        )
        .await
        .unwrap();
    let mut counts = BTreeMap::new();
    for line in r
        .body
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
    {
        let e: serde_json::Value = serde_json::from_slice(line).unwrap();
        let device = e["systemProperties"]["iothub-connection-device-id"]
            .as_str()
            .unwrap()
            .to_owned();
        let seq = e["properties"]["seq"].as_str().unwrap().parse().unwrap();
        *counts.entry((device, seq)).or_default() += 1;
    }
    counts
}

/// Asserts that every acknowledged message can be read back from the log, and that no
/// message is stored twice: the publishers never resend, so a second copy could only come
/// from the log itself (a journal replay appending a record the partition already had).
async fn assert_all_stored_once(client: &ApiClient, acked: &Acked, when: &str) {
    let acked_now = acked.lock().unwrap().clone();
    let stored = stored(client).await;
    let lost: Vec<_> = acked_now
        .iter()
        .filter(|m| !stored.contains_key(*m))
        .take(10)
        .collect();
    assert!(
        lost.is_empty(),
        "{when}: acknowledged messages missing: {lost:?}"
    );
    let copies: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(
        copies.is_empty(),
        "{when}: stored more than once: {copies:?}"
    );
}

/// One `publish_until_killed` task per device, numbering from `first`.
fn spawn_publishers(
    dir: &Path,
    port: u16,
    keys: &[(String, String)],
    first: u64,
    acked: &Acked,
) -> Vec<tokio::task::JoinHandle<()>> {
    keys.iter()
        .map(|(id, key)| {
            tokio::spawn(publish_until_killed(
                dir.join("ca.pem"),
                port,
                id.clone(),
                key.clone(),
                first,
                acked.clone(),
            ))
        })
        .collect()
}

/// `DEVICES` SAS devices named `{prefix}-{i}`, with their primary keys.
async fn create_devices(client: &ApiClient, prefix: &str) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    for i in 0..DEVICES {
        let id = format!("{prefix}-{i}");
        let key = create_device(client, &id).await;
        keys.push((id, key));
    }
    keys
}

/// Creates SAS device `id` and returns its primary key.
async fn create_device(client: &ApiClient, id: &str) -> String {
    let d = client
        .call_ok(Method::PUT, &format!("/devices/{id}"), Some(json!({})))
        .await
        .unwrap()
        .json()
        .unwrap();
    d["authentication"]["symmetricKey"]["primaryKey"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let acked: Acked = Arc::default();
    let mut server = start(dir.path());
    let client = api(dir.path(), server.https_port).await;
    let keys = create_devices(&client, "crash").await;
    for cycle in 0..CYCLES {
        let publishers = spawn_publishers(
            dir.path(),
            server.mqtt_port,
            &keys,
            cycle * 1_000_000,
            &acked,
        );
        // Kill at a moment that differs per run and per cycle, once traffic is flowing.
        let jitter = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            % 400;
        let target = acked.lock().unwrap().len() + 200 + jitter as usize;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while acked.lock().unwrap().len() < target {
            assert!(
                tokio::time::Instant::now() < deadline,
                "publishers made no progress"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        for p in publishers {
            p.await.unwrap();
        }
        // F4: what the kill left is sound (a torn tail at most) before anything repairs it.
        let check = cli(dir.path(), &["check"]);
        assert!(
            check.status.success(),
            "cycle {cycle}: `ferrohub check` after kill -9: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        server = start(dir.path());
        let client = api(dir.path(), server.https_port).await;
        assert_all_stored_once(&client, &acked, &format!("after kill -9 in cycle {cycle}")).await;
        assert!(
            acked.lock().unwrap().len() >= (cycle as usize + 1) * 200,
            "each cycle acknowledged traffic"
        );
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

/// Connects as `device` with a clean session, subscribes to C2D and collects message ids
/// (acknowledging each) until every id in `expected` arrived or 10 s passed.
async fn receive_c2d(
    ca: &Path,
    port: u16,
    device: &str,
    key: &str,
    expected: &BTreeSet<String>,
) -> BTreeSet<String> {
    let (mut link, _) = Device::connect(ca, port, device, key, true).await;
    link.send(&Packet::Subscribe(ferrohub_mqtt::Subscribe {
        packet_id: 1,
        filters: vec![(
            format!("devices/{device}/messages/devicebound/#"),
            QoS::AtLeastOnce,
        )],
    }))
    .await;
    let mut seen = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !expected.is_subset(&seen) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(packet) = link.next(left).await else {
            break;
        };
        if let Packet::Publish(p) = packet {
            if let Some(mid) = message_id(&p) {
                seen.insert(mid);
            }
            link.send(&Packet::PubAck(p.packet_id.unwrap())).await;
        }
    }
    seen
}

/// The `$.mid` of a C2D delivery, from its topic's property bag.
fn message_id(p: &Publish) -> Option<String> {
    let bag = p
        .topic
        .rsplit_once("devicebound/")
        .map(|(_, b)| b)
        .unwrap_or_default();
    ferrohub_protocol::property_bag::decode(bag)
        .ok()?
        .into_iter()
        .find(|p| p.key == "$.mid")
        .and_then(|p| p.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_c2d_messages_and_twin_versions_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let client = Arc::new(api(dir.path(), server.https_port).await);
    let key = create_device(&client, "durable").await;

    let accepted: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let versions: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sender = {
        let (client, accepted) = (client.clone(), accepted.clone());
        tokio::spawn(async move {
            for i in 0..50 {
                let id = format!("c2d-{i}");
                let Ok(r) = client
                    .call(
                        Method::POST,
                        "/ferrohub/devices/durable/messages/devicebound",
                        Some(json!({"body": "x", "messageId": id})),
                    )
                    .await
                else {
                    return;
                };
                if r.status == hyper::StatusCode::CREATED {
                    accepted.lock().unwrap().insert(id);
                }
            }
        })
    };
    let writer = {
        let (client, versions) = (client.clone(), versions.clone());
        tokio::spawn(async move {
            for i in 0..10_000u32 {
                let Ok(r) = client
                    .call(
                        Method::PATCH,
                        "/twins/durable",
                        Some(json!({"properties": {"desired": {"n": i}}})),
                    )
                    .await
                else {
                    return;
                };
                if let Ok(v) = r.json()
                    && let Some(version) = v["properties"]["desired"]["$version"].as_u64()
                {
                    versions.lock().unwrap().push(version);
                }
            }
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while accepted.lock().unwrap().len() < 20 || versions.lock().unwrap().len() < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress before the kill"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    sender.await.unwrap();
    writer.await.unwrap();

    let server = start(dir.path());
    let client = api(dir.path(), server.https_port).await;
    let accepted = accepted.lock().unwrap().clone();
    let received = receive_c2d(
        &dir.path().join("ca.pem"),
        server.mqtt_port,
        "durable",
        &key,
        &accepted,
    )
    .await;
    let lost: Vec<_> = accepted.difference(&received).collect();
    assert!(
        lost.is_empty(),
        "accepted cloud-to-device messages lost after kill -9: {lost:?}"
    );

    let acknowledged_max = versions.lock().unwrap().iter().copied().max().unwrap();
    let twin = client
        .call_ok(Method::GET, "/twins/durable", None)
        .await
        .unwrap()
        .json()
        .unwrap();
    let stored = twin["properties"]["desired"]["$version"].as_u64().unwrap();
    assert!(
        stored >= acknowledged_max,
        "the desired $version went backwards: {stored} < {acknowledged_max}"
    );
    let next = client
        .call_ok(
            Method::PATCH,
            "/twins/durable",
            Some(json!({"properties": {"desired": {"after": true}}})),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        next["properties"]["desired"]["$version"].as_u64().unwrap(),
        stored + 1,
        "versions are never reused"
    );
}

/// Hostile E11, disk full: the server runs with a file-size limit, so the telemetry log's
/// writes start failing (EFBIG, the same path as ENOSPC: a partition file cannot grow). The batches that fail get no PUBACK (the server closes those
/// connections), the server stays up, takes traffic again once the limit is raised, and
/// every acknowledged message is in the log, also after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gets_no_puback_and_the_server_goes_on_when_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    // Room for the database and a 1 MiB journal (the smallest), not for partition files past
    // 1.5 MiB.
    let mut server =
        start_with_file_size_limit(dir.path(), 1536 * 1024, "telemetry_journal_mib = 1\n");
    let client = api(dir.path(), server.https_port).await;
    let keys = create_devices(&client, "full").await;
    let acked: Acked = Arc::default();
    let publish_all = |base: u64, acked: &Acked| {
        spawn_publishers(dir.path(), server.mqtt_port, &keys, base, acked)
    };
    // Each publisher runs until the server closes its connection: a write failed.
    let failing = tokio::time::timeout(Duration::from_secs(120), async {
        for publisher in publish_all(0, &acked) {
            publisher.await.unwrap();
        }
    });
    failing
        .await
        .expect("no write failed within 120 s: the file-size limit did not bite");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server survived the failed writes"
    );
    let before_room = acked.lock().unwrap().len();
    assert!(
        before_room > 0,
        "messages were acknowledged before the disk filled"
    );

    // Room again: new connections are acknowledged.
    let status = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &server.child.id().to_string(),
            "--fsize=unlimited:unlimited",
        ])
        .status()
        .unwrap();
    assert!(status.success(), "prlimit raised the limit");
    let publishers = publish_all(1_000_000, &acked);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < before_room + 500 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no acknowledgements after the disk had room again"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_all_stored_once(&client, &acked, "with room again").await;

    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for p in publishers {
        p.await.unwrap();
    }
    let server = start(dir.path());
    let client = api(dir.path(), server.https_port).await;
    assert_all_stored_once(&client, &acked, "after the restart").await;
}

/// SIGTERM while devices publish: the server stops accepting, finishes the appends in
/// flight, closes the connections and exits 0; every acknowledged message is in the log
/// after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_devices_publish_exits_0_and_keeps_every_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let client = api(dir.path(), server.https_port).await;
    let keys = create_devices(&client, "term").await;
    let acked: Acked = Arc::default();
    let publishers = spawn_publishers(dir.path(), server.mqtt_port, &keys, 0, &acked);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 300 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "publishers made no progress"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || {
        let status = server.child.wait().unwrap();
        (server, status)
    });
    let (server, status) = tokio::time::timeout(Duration::from_secs(30), exit)
        .await
        .expect("the server exits within 30 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    drop(server);
    for p in publishers {
        p.await.unwrap();
    }
    let server = start(dir.path());
    let client = api(dir.path(), server.https_port).await;
    assert_all_stored_once(&client, &acked, "after SIGTERM and a restart").await;
}

/// Hostile F3 beyond versions: a CleanSession=0 session and the twin's ETag survive kill -9.
/// The device reconnects to session-present 1 and, without subscribing again, gets a C2D
/// message and a desired-property notification. The ETag read before the kill still guards
/// writes: a write with it succeeds, and a second write with it is then 412.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_session_and_the_twin_etag_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut server = start(dir.path());
    let client = api(dir.path(), server.https_port).await;
    let key = create_device(&client, "kept").await;
    let (mut link, ack) = Device::connect(&ca, server.mqtt_port, "kept", &key, false).await;
    assert!(!ack.session_present);
    link.send(&Packet::Subscribe(ferrohub_mqtt::Subscribe {
        packet_id: 1,
        filters: vec![
            (
                "devices/kept/messages/devicebound/#".into(),
                QoS::AtLeastOnce,
            ),
            (
                "$iothub/twin/PATCH/properties/desired/#".into(),
                QoS::AtLeastOnce,
            ),
        ],
    }))
    .await;
    assert!(matches!(
        link.next(Duration::from_secs(5)).await,
        Some(Packet::SubAck(_))
    ));
    let twin = client
        .call_ok(
            Method::PATCH,
            "/twins/kept",
            Some(json!({"properties": {"desired": {"n": 1}}})),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let etag = twin["etag"].as_str().unwrap().to_owned();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(link);

    let mut server = start(dir.path());
    let client = api(dir.path(), server.https_port).await;
    let (mut link, ack) = Device::connect(&ca, server.mqtt_port, "kept", &key, false).await;
    assert!(ack.session_present, "the session survived the kill");
    let sent = client
        .call(
            Method::POST,
            "/ferrohub/devices/kept/messages/devicebound",
            Some(json!({"body": "x", "messageId": "after-kill"})),
        )
        .await
        .unwrap();
    assert_eq!(sent.status, hyper::StatusCode::CREATED);
    // Desired `n` written with the ETag read before the kill.
    let write_with_old_etag = async |n: u32| {
        client
            .send_with_headers(
                Method::PATCH,
                "/twins/kept",
                Some(json!({"properties": {"desired": {"n": n}}})),
                &[("if-match", format!("\"{etag}\""))],
            )
            .await
            .unwrap()
            .status()
    };
    assert_eq!(
        write_with_old_etag(2).await,
        hyper::StatusCode::OK,
        "the ETag from before the kill"
    );
    assert_eq!(
        write_with_old_etag(3).await,
        hyper::StatusCode::PRECONDITION_FAILED
    );

    let (mut c2d, mut desired) = (false, false);
    while !(c2d && desired) {
        match link.next(Duration::from_secs(10)).await {
            Some(Packet::Publish(p))
                if p.topic.starts_with("devices/kept/messages/devicebound/") =>
            {
                assert_eq!(message_id(&p).as_deref(), Some("after-kill"));
                link.send(&Packet::PubAck(p.packet_id.unwrap())).await;
                c2d = true;
            }
            Some(Packet::Publish(p))
                if p.topic
                    .starts_with("$iothub/twin/PATCH/properties/desired/") =>
            {
                let patch: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
                assert_eq!(patch["n"], 2, "{patch}");
                desired = true;
            }
            Some(_) => {}
            None => panic!("c2d delivered: {c2d}, desired notification: {desired}"),
        }
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

/// Hostile F2, the other half: a C2D message the device completed (PUBACK) before kill -9,
/// once the completion is committed (the device's `cloudToDeviceMessageCount` is 0), is
/// never delivered again; one still pending across the kill is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_c2d_message_is_not_delivered_again_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut server = start(dir.path());
    let client = api(dir.path(), server.https_port).await;
    let key = create_device(&client, "done").await;
    let send = async |client: &ApiClient, id: &str| {
        let sent = client
            .call(
                Method::POST,
                "/ferrohub/devices/done/messages/devicebound",
                Some(json!({"body": "x", "messageId": id})),
            )
            .await
            .unwrap();
        assert_eq!(sent.status, hyper::StatusCode::CREATED);
    };
    send(&client, "completed").await;
    let received = receive_c2d(
        &ca,
        server.mqtt_port,
        "done",
        &key,
        &BTreeSet::from(["completed".to_owned()]),
    )
    .await;
    assert!(received.contains("completed"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let device = client
            .call_ok(Method::GET, "/devices/done", None)
            .await
            .unwrap()
            .json()
            .unwrap();
        if device["cloudToDeviceMessageCount"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the completion was never committed"
        );
    }
    send(&client, "pending").await;
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let server = start(dir.path());
    let expected = BTreeSet::from(["pending".to_owned()]);
    let received = receive_c2d(&ca, server.mqtt_port, "done", &key, &expected).await;
    assert_eq!(received, expected, "only the message still pending");
}
