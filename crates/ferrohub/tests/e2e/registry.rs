//! The IoT Hub registry REST API, as the service SDKs call it.

use ferrohub::client::segment;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestServer, device_token, get_json, get_status};

#[tokio::test]
async fn device_create_read_update_delete_follow_iot_hub_status_codes() {
    let s = TestServer::start().await;
    let api = s.api();
    let created = api
        .call(Method::PUT, "/devices/dev1", Some(json!({"deviceId": "dev1", "authentication": {"symmetricKey": {"primaryKey": "", "secondaryKey": ""}}})))
        .await
        .unwrap();
    assert_eq!(
        created.status,
        StatusCode::OK,
        "IoT Hub answers 200 on create"
    );
    let device = created.json().unwrap();
    let etag = device["etag"].as_str().unwrap().to_owned();
    assert!(
        device["authentication"]["symmetricKey"]["primaryKey"]
            .as_str()
            .unwrap()
            .len()
            >= 40,
        "keys are generated"
    );
    assert_eq!(device["status"], "enabled");
    assert_eq!(device["connectionState"], "Disconnected");

    let stale = api
        .call(
            Method::PUT,
            "/devices/dev1?x=1",
            Some(json!({"deviceId": "dev1", "status": "disabled"})),
        )
        .await
        .unwrap();
    assert_eq!(
        stale.status,
        StatusCode::CONFLICT,
        "a PUT without If-Match never overwrites"
    );

    let got = get_json(&api, "/devices/dev1").await;
    assert_eq!(got["etag"], etag.as_str());

    api.call_ok(Method::DELETE, "/devices/dev1", None)
        .await
        .unwrap();
    let gone = api.call(Method::GET, "/devices/dev1", None).await.unwrap();
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(
        gone.json().unwrap()["Message"]
            .as_str()
            .unwrap()
            .starts_with("ErrorCode:DeviceNotFound;")
    );
    s.stop().await;
}

#[tokio::test]
async fn update_with_a_stale_etag_is_412_and_with_the_current_one_succeeds() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    let api = s.api();
    let current = get_json(&api, "/devices/dev1").await;
    let etag = current["etag"].as_str().unwrap();
    // Through the raw API client, which sends no If-Match, a conditional update needs the
    // header: use hyper directly via a small request builder.
    let update = |if_match: String| {
        let client = s.api();
        async move {
            use http_body_util::BodyExt;
            let response = client
                .send_with_headers(
                    Method::PUT,
                    "/devices/dev1",
                    Some(json!({"deviceId": "dev1", "status": "disabled"})),
                    &[("if-match", if_match)],
                )
                .await
                .unwrap();
            let status = response.status();
            let _ = response.into_body().collect().await;
            status
        }
    };
    assert_eq!(
        update("\"AAAAAAAAAAA=\"".into()).await,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(update(format!("\"{etag}\"")).await, StatusCode::OK);
    assert_eq!(update("\"*\"".into()).await, StatusCode::OK);
    let after = get_json(&api, "/devices/dev1").await;
    assert_eq!(after["status"], "disabled");
    assert_ne!(after["etag"], current["etag"]);
    s.stop().await;
}

#[tokio::test]
async fn of_many_concurrent_updates_with_one_etag_exactly_one_wins() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    let etag = get_json(&s.api(), "/devices/dev1").await["etag"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = s.api();
        let etag = etag.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .send_with_headers(
                    Method::PUT,
                    "/devices/dev1",
                    Some(json!({"deviceId": "dev1", "statusReason": format!("writer {i}")})),
                    &[("if-match", format!("\"{etag}\""))],
                )
                .await
                .unwrap();
            r.status()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::PRECONDITION_FAILED => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 1);
    s.stop().await;
}

#[tokio::test]
async fn modules_are_created_listed_and_deleted_under_their_device() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    let api = s.api();
    let missing = api
        .call(Method::PUT, "/devices/nodev/modules/m1", Some(json!({})))
        .await
        .unwrap();
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let created = api
        .call(
            Method::PUT,
            "/devices/dev1/modules/m1",
            Some(json!({"moduleId": "m1"})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json().unwrap()["moduleId"], "m1");
    s.create_module("dev1", "m2").await;
    let list = get_json(&api, "/devices/dev1/modules").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    api.call_ok(Method::DELETE, "/devices/dev1/modules/m1", None)
        .await
        .unwrap();
    assert_eq!(
        get_status(&api, "/devices/dev1/modules/m1").await,
        StatusCode::NOT_FOUND
    );
    api.call_ok(Method::DELETE, "/devices/dev1", None)
        .await
        .unwrap();
    assert_eq!(
        get_status(&api, "/devices/dev1/modules/m2").await,
        StatusCode::NOT_FOUND
    );
    s.stop().await;
}

#[tokio::test]
async fn listing_and_statistics_count_devices() {
    let s = TestServer::start().await;
    for id in ["a", "b", "c"] {
        s.create_device(id).await;
    }
    let api = s.api();
    api.call_ok(
        Method::PUT,
        "/devices/d",
        Some(json!({"status": "disabled"})),
    )
    .await
    .unwrap();
    let all = get_json(&api, "/devices").await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    let top = get_json(&api, "/devices?top=2").await;
    assert_eq!(top.as_array().unwrap().len(), 2);
    let stats = get_json(&api, "/statistics/devices").await;
    assert_eq!(
        stats,
        json!({"totalDeviceCount": 4, "enabledDeviceCount": 3, "disabledDeviceCount": 1})
    );
    let service = get_json(&api, "/statistics/service").await;
    assert_eq!(service, json!({"connectedDeviceCount": 0}));
    s.stop().await;
}

#[tokio::test]
async fn a_read_only_policy_cannot_write_and_a_bad_signature_is_refused() {
    let s = TestServer::start().await;
    let reader = s.api_as(s.policy("registryRead"));
    let refused = reader
        .call(Method::PUT, "/devices/x", Some(json!({})))
        .await
        .unwrap();
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get_status(&reader, "/devices").await, StatusCode::OK);
    let service = s.api_as(s.policy("service"));
    assert_eq!(
        get_status(&service, "/devices").await,
        StatusCode::UNAUTHORIZED
    );
    let mut forged = s.owner.clone();
    forged.key = "Zm9yZ2VkLWtleS1mb3ItdGVzdGluZy0xMjM0NTY3OA==".into();
    let r = s
        .api_as(forged)
        .call(Method::GET, "/devices", None)
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.json().unwrap()["Message"]
            .as_str()
            .unwrap()
            .starts_with("ErrorCode:IotHubUnauthorizedAccess;")
    );
    s.stop().await;
}

/// Hostile H4: a device's own credentials open no service operation, neither its SAS
/// token (`sr` naming the device, no policy) nor a token of the `device` policy
/// (DeviceConnect only).
#[tokio::test]
async fn device_credentials_are_refused_by_the_service_api() {
    let s = TestServer::start().await;
    let key = s.create_device("dev1").await;
    let token = device_token("dev1", &key, 3600);
    let api = s.api();
    let device_policy = s.api_as(s.policy("device"));
    let attempts = [
        (Method::GET, "/devices/dev1", None),
        (Method::PUT, "/devices/dev2", Some(json!({}))),
        (Method::DELETE, "/devices/dev1", None),
        (Method::GET, "/twins/dev1", None),
        (
            Method::PATCH,
            "/twins/dev1",
            Some(json!({"tags": {"a": 1}})),
        ),
        (
            Method::POST,
            "/twins/dev1/methods",
            Some(json!({"methodName": "m", "responseTimeoutInSeconds": 5})),
        ),
        (Method::GET, "/statistics/devices", None),
    ];
    for (method, path, body) in attempts {
        let with_device_token = api
            .send_with_headers(
                method.clone(),
                path,
                body.clone(),
                &[("authorization", token.clone())],
            )
            .await
            .unwrap()
            .status();
        assert_eq!(
            with_device_token,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with the device's token"
        );
        let with_device_policy = device_policy.call(method.clone(), path, body).await;
        assert_eq!(
            with_device_policy.unwrap().status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with the device policy"
        );
    }
    // Nothing changed: the device is still there, dev2 was not created, no tags.
    let twin = api.call_ok(Method::GET, "/twins/dev1", None).await.unwrap();
    assert_eq!(twin.json().unwrap()["tags"], json!({}));
    assert_eq!(
        get_status(&api, "/devices/dev2").await,
        StatusCode::NOT_FOUND
    );
    s.stop().await;
}

/// Hostile H5 on every identity route: an encoded `/`, `+` or `#` in an id is 400, a
/// double-encoded `/` is decoded once only (an id holding `%2F`, not found: 404), and an
/// overlong id is 400.
#[tokio::test]
async fn hostile_ids_in_every_identity_route_are_4xx() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    let api = s.api();
    let long = "x".repeat(200);
    for route in [
        "/devices/{}",
        "/twins/{}",
        "/devices/{}/modules/m1",
        "/devices/dev1/modules/{}",
        "/twins/dev1/modules/{}",
    ] {
        for (id, status) in [
            ("..%2Fetc", StatusCode::BAD_REQUEST),
            ("a%2Bb", StatusCode::BAD_REQUEST),
            ("a%23b", StatusCode::BAD_REQUEST),
            (long.as_str(), StatusCode::BAD_REQUEST),
            ("..%252Fetc", StatusCode::NOT_FOUND),
        ] {
            let path = route.replace("{}", id);
            let r = api.call(Method::GET, &path, None).await.unwrap();
            assert_eq!(r.status, status, "GET {path}");
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn hostile_paths_and_bodies_get_4xx_not_5xx() {
    let s = TestServer::start().await;
    let api = s.api();
    for path in [
        "/devices/..%2Fetc",
        "/devices/a%2Bb",
        "/devices/a%23b",
        &format!("/devices/{}", "x".repeat(200)),
    ] {
        let r = api.call(Method::GET, path, None).await.unwrap();
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
    }
    let special = "a%2Fb$x?y";
    let r = api
        .call(
            Method::PUT,
            &format!("/devices/{}", segment(special)),
            Some(json!({})),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status,
        StatusCode::OK,
        "ids with IoT Hub's special characters are allowed"
    );
    assert_eq!(r.json().unwrap()["deviceId"], special);
    let bad_json = api
        .send_raw(
            Method::PUT,
            "/devices/j",
            bytes::Bytes::from_static(b"{not json"),
        )
        .await
        .unwrap();
    assert_eq!(bad_json, StatusCode::BAD_REQUEST);
    let deep = bytes::Bytes::from(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)));
    assert_eq!(
        api.send_raw(Method::PUT, "/devices/j", deep).await.unwrap(),
        StatusCode::BAD_REQUEST
    );
    let huge = bytes::Bytes::from(vec![b' '; 10 * 1024 * 1024]);
    assert_eq!(
        api.send_raw(Method::PUT, "/devices/j", huge).await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    s.stop().await;
}

#[tokio::test]
async fn health_metrics_and_openapi_are_served() {
    let s = TestServer::start().await;
    let api = s.api();
    assert_eq!(get_status(&api, "/health").await, StatusCode::OK);
    let doc = get_json(&api, "/openapi.json").await;
    assert!(doc["paths"]["/ferrohub/telemetry"]["get"].is_object());
    let metrics = api.call_ok(Method::GET, "/metrics", None).await.unwrap();
    assert!(metrics.status.is_success());
    s.stop().await;
}

/// Hostile H1 on every route that takes a JSON body: bad JSON and 100,000-deep nesting
/// are 400, and a 10 MB body is 413, never a 5xx; the server keeps answering.
#[tokio::test]
async fn every_json_route_answers_bad_deep_and_huge_bodies_with_4xx() {
    let s = TestServer::start().await;
    s.create_device("dev1").await;
    s.create_module("dev1", "m1").await;
    let api = s.api();
    let routes = [
        (Method::PUT, "/devices/j".to_owned()),
        (Method::PUT, "/devices/dev1/modules/mj".to_owned()),
        (Method::PATCH, "/twins/dev1".to_owned()),
        (Method::PUT, "/twins/dev1".to_owned()),
        (Method::PATCH, "/twins/dev1/modules/m1".to_owned()),
        (Method::PUT, "/twins/dev1/modules/m1".to_owned()),
        (Method::POST, "/twins/dev1/methods".to_owned()),
        (Method::POST, "/twins/dev1/modules/m1/methods".to_owned()),
        (
            Method::POST,
            "/ferrohub/devices/dev1/messages/devicebound".to_owned(),
        ),
        (Method::POST, "/devices/query".to_owned()),
        (
            Method::POST,
            "/ferrohub/consumer-groups/$Default/checkpoints".to_owned(),
        ),
        (Method::POST, "/ferrohub/hubs".to_owned()),
        (Method::PATCH, "/ferrohub/hubs/default".to_owned()),
        (Method::PUT, "/ferrohub/certificates/c1".to_owned()),
    ];
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let bodies = [
        (
            "bad JSON",
            bytes::Bytes::from_static(b"{not json"),
            StatusCode::BAD_REQUEST,
        ),
        ("deep", bytes::Bytes::from(deep), StatusCode::BAD_REQUEST),
        (
            "10 MB",
            bytes::Bytes::from(vec![b' '; 10 * 1024 * 1024]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (method, path) in &routes {
        for (what, body, expected) in &bodies {
            let status = api
                .send_raw(method.clone(), path, body.clone())
                .await
                .unwrap();
            assert_eq!(status, *expected, "{what} to {method} {path}");
        }
    }
    assert_eq!(get_status(&api, "/devices/dev1").await, StatusCode::OK);
    s.stop().await;
}
