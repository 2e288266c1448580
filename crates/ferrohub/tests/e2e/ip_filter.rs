//! Hostile C13 with a configured IP filter: the server is started with its own rules, so
//! this test runs alone and not in the battery (whose server keeps the default filter).

use ferrohub_mqtt::ConnectReturnCode;
use hyper::Method;

use crate::auth::connack;
use crate::support::{TestServer, device_token};

#[tokio::test]
async fn the_ip_filter_refuses_like_bad_credentials_and_the_first_matching_rule_wins() {
    use ferrohub_gateway::ip_filter::{FilterAction, FilterRule, IpFilter};
    let filter = IpFilter::new(vec![
        FilterRule::new("canary", FilterAction::Accept, "127.0.0.2").unwrap(),
        FilterRule::new("loopback", FilterAction::Reject, "127.0.0.0/8").unwrap(),
    ]);
    let s = TestServer::start_with(tempfile::tempdir().unwrap(), |o| o.ip_filter = filter).await;
    // The registry cannot be reached from 127.0.0.1 either, so create the device directly.
    let (record, _) = s
        .hub()
        .put_identity(
            s.hub().default_hub(),
            &ferrohub_protocol::Identity::from_client_id("dev1").unwrap(),
            ferrohub_core::registry::IdentitySpec::default(),
            None,
        )
        .await
        .unwrap();
    let key = record.authentication.primary_key.unwrap();
    assert_eq!(
        connack(&s, "dev1", Some(device_token("dev1", &key, 60))).await,
        ConnectReturnCode::NotAuthorized
    );
    let r = s.api().call(Method::GET, "/devices", None).await.unwrap();
    assert_eq!(r.status, hyper::StatusCode::UNAUTHORIZED);
    let message = r.json().unwrap()["Message"].as_str().unwrap().to_owned();
    assert!(
        !message.contains("loopback"),
        "the rule is not named: {message}"
    );
    // X-Forwarded-For is not trusted: only the socket's address counts.
    for forwarded in ["127.0.0.2", "10.0.0.1", "::ffff:127.0.0.2"] {
        let r = s
            .api()
            .send_with_headers(
                Method::GET,
                "/devices",
                None,
                &[("x-forwarded-for", forwarded.to_owned())],
            )
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            hyper::StatusCode::UNAUTHORIZED,
            "X-Forwarded-For: {forwarded}"
        );
    }
    // 127.0.0.2 matches the earlier accept rule.
    let mut canary = s.raw_from(Some([127, 0, 0, 2].into())).await;
    canary.connect_as("dev1", &key).await;
    s.stop().await;
}
