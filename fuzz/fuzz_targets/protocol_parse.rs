//! Fuzzes the text parsers a peer controls before authentication: SAS tokens, CONNECT
//! usernames, property bags and topic names. None may panic; a bag that decodes must
//! survive an encode/decode round trip.
#![no_main]

use ferrohub_protocol::Identity;
use ferrohub_protocol::property_bag::{decode, encode};
use ferrohub_protocol::sas::SasToken;
use ferrohub_protocol::topic::{Subscription, parse_publish};
use ferrohub_protocol::username::Username;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = SasToken::parse(text);
    let _ = Username::parse(text, "dev1");
    if let Ok(identity) = Identity::from_client_id("dev1") {
        let _ = parse_publish(text, &identity);
        let _ = Subscription::parse(text, &identity);
    }
    if let Ok(pairs) = decode(text) {
        let full: Vec<(String, String)> = pairs
            .into_iter()
            .map(|p| (p.key, p.value.unwrap_or_default()))
            .collect();
        let again = encode(full.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let back = decode(&again).expect("an encoded bag decodes");
        assert_eq!(back.len(), full.len());
    }
});
