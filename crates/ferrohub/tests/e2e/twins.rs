//! Device twins end to end: MQTT GET and reported PATCH, REST reads and writes, desired
//! notifications to a connected device.

use bytes::Bytes;
use ferrohub_mqtt::{Packet, Publish, QoS, Subscribe};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Next, RawClient, TestServer, get_json};

async fn subscribe(raw: &mut RawClient, filters: &[&str]) {
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: filters
            .iter()
            .map(|f| ((*f).to_owned(), QoS::AtLeastOnce))
            .collect(),
    }))
    .await;
    assert!(matches!(raw.next().await, Next::Packet(Packet::SubAck(_))));
}

async fn publish(raw: &mut RawClient, topic: &str, body: &[u8]) {
    raw.publish(
        topic,
        QoS::AtLeastOnce,
        Some(5),
        Bytes::copy_from_slice(body),
    )
    .await;
}

/// A new device `id`, connected and subscribed to its twin responses.
async fn twin_client(s: &TestServer, id: &str) -> RawClient {
    let key = s.create_device(id).await;
    let mut raw = s.raw().await;
    raw.connect_as(id, &key).await;
    subscribe(&mut raw, &["$iothub/twin/res/#"]).await;
    raw
}

/// The next PUBLISH from the server, skipping the PUBACK of our own request.
async fn next_publish(raw: &mut RawClient) -> Publish {
    loop {
        match raw.next().await {
            Next::Packet(Packet::Publish(p)) => return p,
            Next::Packet(Packet::PubAck(_)) => continue,
            other => panic!("expected a PUBLISH, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_device_reads_its_twin_and_patches_reported_properties() {
    let s = TestServer::start().await;
    let mut raw = twin_client(&s, "dev1").await;

    publish(&mut raw, "$iothub/twin/GET/?$rid=r1", b" ").await;
    let res = next_publish(&mut raw).await;
    assert_eq!(res.topic, "$iothub/twin/res/200/?$rid=r1");
    let twin: Value = serde_json::from_slice(&res.payload).unwrap();
    assert!(
        twin["desired"]["$version"].is_u64(),
        "desired.$version is always present: {twin}"
    );
    assert!(twin["reported"]["$version"].is_u64());

    publish(
        &mut raw,
        "$iothub/twin/PATCH/properties/reported/?$rid=r2",
        br#"{"fw":"1.2","battery":{"level":80}}"#,
    )
    .await;
    let res = next_publish(&mut raw).await;
    let expected_version = twin["reported"]["$version"].as_u64().unwrap() + 1;
    assert_eq!(
        res.topic,
        format!("$iothub/twin/res/204/?$rid=r2&$version={expected_version}")
    );
    assert!(res.payload.is_empty());

    publish(
        &mut raw,
        "$iothub/twin/PATCH/properties/reported/?$rid=r3",
        br#"{"battery":null}"#,
    )
    .await;
    assert!(
        next_publish(&mut raw)
            .await
            .topic
            .starts_with("$iothub/twin/res/204/?$rid=r3")
    );

    let rest = get_json(&s.api(), "/twins/dev1").await;
    assert_eq!(rest["deviceId"], "dev1");
    assert_eq!(rest["properties"]["reported"]["fw"], "1.2");
    assert!(
        rest["properties"]["reported"].get("battery").is_none(),
        "null deletes"
    );
    assert!(rest["properties"]["reported"]["$metadata"]["fw"]["$lastUpdated"].is_string());
    s.stop().await;
}

#[tokio::test]
async fn invalid_reported_patches_get_a_400_with_a_json_error_code() {
    let s = TestServer::start().await;
    let mut raw = twin_client(&s, "dev1").await;
    for (rid, body) in [
        ("a", &b"not json"[..]),
        ("b", br#"{"a.b":1}"#),
        ("c", br#"{"$bad":1}"#),
        ("d", br#"{"l1":{"l2":{"l3":{"l4":{"l5":{"l6":{"l7":{"l8":{"l9":{"l10":{"l11":{"l12":{"l13":1}}}}}}}}}}}}}"#),
    ] {
        publish(&mut raw, &format!("$iothub/twin/PATCH/properties/reported/?$rid={rid}"), body).await;
        let res = next_publish(&mut raw).await;
        assert_eq!(res.topic, format!("$iothub/twin/res/400/?$rid={rid}"));
        let err: Value = serde_json::from_slice(&res.payload).unwrap();
        assert_eq!(err["errorCode"], 400004, "{err}");
        assert!(err["message"].as_str().unwrap().len() > 5);
    }
    let big = format!(r#"{{"s":"{}"}}"#, "x".repeat(5000));
    publish(
        &mut raw,
        "$iothub/twin/PATCH/properties/reported/?$rid=e",
        big.as_bytes(),
    )
    .await;
    assert_eq!(
        next_publish(&mut raw).await.topic,
        "$iothub/twin/res/400/?$rid=e"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_desired_change_reaches_the_connected_device_with_its_version() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let mut raw = s.raw().await;
    raw.connect_as("dev1", &key).await;
    subscribe(
        &mut raw,
        &[
            "$iothub/twin/res/#",
            "$iothub/twin/PATCH/properties/desired/#",
        ],
    )
    .await;
    let twin = s
        .api()
        .call_ok(
            Method::PATCH,
            "/twins/dev1",
            Some(json!({"tags": {"site": "a"}, "properties": {"desired": {"interval": 5}}})),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let version = twin["properties"]["desired"]["$version"].as_u64().unwrap();
    let note = next_publish(&mut raw).await;
    assert_eq!(
        note.topic,
        format!("$iothub/twin/PATCH/properties/desired/?$version={version}")
    );
    let body: Value = serde_json::from_slice(&note.payload).unwrap();
    assert_eq!(body["interval"], 5);
    assert_eq!(body["$version"], version);
    assert_eq!(twin["tags"]["site"], "a");
    s.stop().await;
}

#[tokio::test]
async fn twin_writes_honour_if_match_and_put_replaces() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    let api = s.api();
    let first = api
        .call_ok(
            Method::PATCH,
            "/twins/dev1",
            Some(json!({"tags": {"a": 1, "b": 2}})),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let etag = first["etag"].as_str().unwrap().to_owned();
    let stale = api
        .send_with_headers(
            Method::PATCH,
            "/twins/dev1",
            Some(json!({"tags": {"c": 3}})),
            &[("if-match", "\"AAAA\"".into())],
        )
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let replaced = api
        .send_with_headers(
            Method::PUT,
            "/twins/dev1",
            Some(json!({"tags": {"z": 9}})),
            &[("if-match", format!("\"{etag}\""))],
        )
        .await
        .unwrap();
    assert_eq!(replaced.status(), StatusCode::OK);
    let twin = get_json(&api, "/twins/dev1").await;
    assert_eq!(twin["tags"], json!({"z": 9}));
    assert!(twin["version"].as_u64().unwrap() > first["version"].as_u64().unwrap());
    let reported = api
        .call(
            Method::PATCH,
            "/twins/dev1",
            Some(json!({"properties": {"reported": {"x": 1}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        reported.status,
        StatusCode::BAD_REQUEST,
        "a back end cannot write reported properties"
    );
    let missing = api.call(Method::GET, "/twins/nobody", None).await.unwrap();
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn module_twins_are_separate_from_the_device_twin() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    s.create_module("dev1", "m1").await;
    let api = s.api();
    api.call_ok(
        Method::PATCH,
        "/twins/dev1/modules/m1",
        Some(json!({"properties": {"desired": {"mode": "fast"}}})),
    )
    .await
    .unwrap();
    let module = get_json(&api, "/twins/dev1/modules/m1").await;
    assert_eq!(module["moduleId"], "m1");
    assert_eq!(module["properties"]["desired"]["mode"], "fast");
    let device = get_json(&api, "/twins/dev1").await;
    assert!(device["properties"]["desired"].get("mode").is_none());
    s.stop().await;
}

#[tokio::test]
async fn twin_versions_survive_a_restart_and_keep_increasing() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    let before = s
        .api()
        .call_ok(
            Method::PATCH,
            "/twins/dev1",
            Some(json!({"properties": {"desired": {"v": 1}}})),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    let after = s
        .api()
        .call_ok(
            Method::PATCH,
            "/twins/dev1",
            Some(json!({"properties": {"desired": {"v": 2}}})),
        )
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        after["properties"]["desired"]["$version"].as_u64().unwrap(),
        before["properties"]["desired"]["$version"]
            .as_u64()
            .unwrap()
            + 1
    );
    s.stop().await;
}

#[tokio::test]
async fn a_new_twins_etag_is_stable_so_read_then_conditional_update_works() {
    let s = TestServer::start().await;
    s.create_device("fresh").await;
    let api = s.api();
    let first = get_json(&api, "/twins/fresh").await;
    let second = get_json(&api, "/twins/fresh").await;
    assert_eq!(first["etag"], second["etag"]);
    let etag = first["etag"].as_str().unwrap();
    let updated = api
        .send_with_headers(
            Method::PATCH,
            "/twins/fresh",
            Some(json!({"tags": {"a": 1}})),
            &[("if-match", format!("\"{etag}\""))],
        )
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn ten_thousand_pipelined_twin_gets_are_all_answered_without_harm() {
    let s = TestServer::start().await;
    let mut raw = twin_client(&s, "dev1").await;
    let mut batch = bytes::BytesMut::new();
    for i in 0..10_000 {
        ferrohub_mqtt::encode(
            &Packet::Publish(Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain: false,
                topic: format!("$iothub/twin/GET/?$rid={i}"),
                packet_id: None,
                payload: Bytes::from_static(b" "),
            }),
            &mut batch,
        )
        .unwrap();
    }
    // Sent without reading: TCP flow control is the backpressure; nothing is dropped.
    raw.send_bytes(&batch).await;
    for i in 0..10_000 {
        let res = next_publish(&mut raw).await;
        assert_eq!(
            res.topic,
            format!("$iothub/twin/res/200/?$rid={i}"),
            "answers in request order"
        );
    }
    // Another device is served normally meanwhile.
    let other = s.create_device("dev2").await;
    s.raw().await.connect_as("dev2", &other).await;
    s.stop().await;
}

/// Hostile E4 at scale: a patch that is nothing but `[` is refused with 400 and no stack
/// overflow, over MQTT (200 KB, under the 256 KB packet limit) and over REST (1 MB); the
/// twin is unchanged and the device's connection goes on.
#[tokio::test]
async fn a_patch_of_nothing_but_brackets_is_refused_without_harm() {
    let s = TestServer::start().await;
    let mut raw = twin_client(&s, "dev1").await;
    let brackets = vec![b'['; 200 * 1024];
    publish(
        &mut raw,
        "$iothub/twin/PATCH/properties/reported/?$rid=deep",
        &brackets,
    )
    .await;
    assert_eq!(
        next_publish(&mut raw).await.topic,
        "$iothub/twin/res/400/?$rid=deep"
    );
    let api = s.api();
    let status = api
        .send_raw(
            Method::PATCH,
            "/twins/dev1",
            Bytes::from(vec![b'['; 1024 * 1024]),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let twin = get_json(&api, "/twins/dev1").await;
    assert_eq!(twin["tags"], json!({}));
    assert_eq!(twin["properties"]["reported"]["$version"], 1);
    publish(
        &mut raw,
        "$iothub/twin/PATCH/properties/reported/?$rid=ok",
        br#"{"fine":true}"#,
    )
    .await;
    assert_eq!(
        next_publish(&mut raw).await.topic.split("/?").next(),
        Some("$iothub/twin/res/204")
    );
    s.stop().await;
}

/// Hostile H2 for twins: 50 concurrent PATCHes carrying the same ETag, each writing its own
/// tag: exactly one is 200, the rest 412, and the twin holds the winner's tag alone.
#[tokio::test]
async fn of_fifty_concurrent_twin_patches_with_one_etag_exactly_one_wins() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    let twin = get_json(&s.api(), "/twins/dev1").await;
    let etag = twin["etag"].as_str().unwrap().to_owned();
    let writers: Vec<_> = (0..50)
        .map(|i| {
            let client = s.api();
            let etag = etag.clone();
            tokio::spawn(async move {
                let status = client
                    .send_with_headers(
                        Method::PATCH,
                        "/twins/dev1",
                        Some(json!({"tags": {format!("writer{i}"): i}})),
                        &[("if-match", format!("\"{etag}\""))],
                    )
                    .await
                    .unwrap()
                    .status();
                (i, status)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for writer in writers {
        match writer.await.unwrap() {
            (i, StatusCode::OK) => winners.push(i),
            (_, StatusCode::PRECONDITION_FAILED) => {}
            (i, other) => panic!("writer {i}: unexpected status {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let twin = get_json(&s.api(), "/twins/dev1").await;
    assert_eq!(
        twin["tags"],
        json!({format!("writer{}", winners[0]): winners[0]})
    );
    s.stop().await;
}
