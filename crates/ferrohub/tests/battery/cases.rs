//! The cases the battery runs, in order, each with the battery ids it exercises.
//!
//! Every `pub async fn(&TestServer)` case of the hostile e2e modules is here except the two
//! that create a second hub (`x509_ca::a_ca_verified_in_one_hub_does_not_vouch_for_another_hubs_devices`,
//! `x509_ca::a_chain_through_cas_verified_in_two_hubs_serves_each_hubs_devices`): hubs
//! cannot be deleted, so they would change the server every later case runs against.

use std::future::Future;
use std::pin::Pin;

use crate::support::TestServer;
use crate::{auth, connect_rules, framing, websocket, x509, x509_ca};

pub type CaseFn = for<'a> fn(&'a TestServer) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

pub struct Case {
    /// The battery ids (`spec/hostile-battery.md` section 2) the case exercises.
    pub ids: &'static str,
    pub name: &'static str,
    pub run: CaseFn,
}

macro_rules! cases {
    ($($ids:literal => $module:ident::$case:ident,)+) => {
        vec![$({
            fn run(s: &TestServer) -> Pin<Box<dyn Future<Output = ()> + '_>> {
                Box::pin($module::$case(s))
            }
            Case {
                ids: $ids,
                name: concat!(stringify!($module), "::", stringify!($case)),
                run,
            }
        }),+]
    };
}

pub fn all() -> Vec<Case> {
    cases! {
        "A1,A7-A14" => framing::malformed_frames_after_connect_close_the_connection,
        "A1,A7-A14" => framing::malformed_frames_before_connect_close_without_connack,
        "A5" => framing::a_connect_split_at_every_byte_is_processed,
        "A6" => framing::packets_sent_right_behind_connect_are_processed_in_order,
        "A4" => framing::a_truncated_frame_then_silence_is_closed_at_the_connect_deadline,
        "A16" => framing::plaintext_on_the_tls_port_fails_the_handshake_cleanly,
        "A11" => framing::invalid_strings_in_connect_close_without_connack,
        "A2" => framing::a_non_minimal_remaining_length_is_accepted_without_desync,
        "A4" => framing::a_truncated_frame_after_connect_then_silence_is_closed_at_the_keep_alive_deadline,
        "A5" => framing::a_publish_sent_one_byte_every_100_ms_is_processed,
        "A2" => framing::a_connect_with_a_non_minimal_remaining_length_is_answered,
        "A14" => framing::a_64_kb_topic_closes_the_connection,
        "A3" => framing::fifty_oversized_packets_streaming_their_bodies_add_little_memory,
        "B1" => connect_rules::protocol_level_5_gets_connack_1_then_close,
        "B2" => connect_rules::a_protocol_name_other_than_mqtt_closes_without_connack,
        "B3" => connect_rules::a_reserved_connect_flag_closes,
        "B4" => connect_rules::empty_client_id_gets_connack_2,
        "B5" => connect_rules::a_username_naming_another_device_or_hub_is_refused,
        "B6" => connect_rules::a_second_connect_closes_the_connection_and_leaves_the_session_untouched,
        "B7" => connect_rules::any_packet_before_connect_closes,
        "B7" => connect_rules::a_large_publish_before_connect_closes_from_its_header,
        "B9" => connect_rules::qos2_publish_closes_and_stores_nothing,
        "B10" => connect_rules::a_will_for_another_device_or_an_iothub_topic_gets_connack_5,
        "D1,D3" => connect_rules::publishing_as_another_device_closes_and_stores_nothing,
        "D2" => connect_rules::subscribing_outside_the_documented_filters_closes,
        "F3" => connect_rules::documented_subscriptions_are_granted_at_most_qos1_and_kept_across_reconnects,
        "B8" => connect_rules::keep_alive_silence_closes_after_one_and_a_half_intervals,
        "D7" => connect_rules::a_module_cannot_publish_into_another_modules_topics,
        "E10" => connect_rules::connect_subscribe_unsubscribe_disconnect_cycles_leave_no_descriptors_behind,
        "C1-C3" => auth::tokens_that_are_expired_forged_or_for_someone_else_are_refused,
        "C1,C5" => auth::malformed_or_missing_passwords_are_refused_without_a_crash,
        "C4" => auth::policy_tokens_need_the_device_connect_right,
        "C2,C4,C12" => auth::valid_tokens_of_other_identities_and_device_keys_with_skn_are_refused,
        "C3" => auth::raw_resource_tokens_are_verified_as_sent_and_refused_for_other_resources,
        "C7" => auth::the_secondary_key_is_accepted,
        "C6,C10" => auth::disabled_devices_get_connack_3_and_disabling_drops_a_live_connection,
        "C10" => auth::deleted_devices_are_dropped_and_then_refused,
        "C6,C7" => auth::regenerating_keys_closes_sessions_and_refuses_the_old_key,
        "C8" => auth::the_connection_closes_when_its_token_expires,
        "C6" => auth::a_newer_connection_takes_over_the_identity,
        "C6" => auth::racing_connects_for_one_identity_leave_exactly_one_connected,
        "C14" => auth::a_flood_of_bad_connects_from_one_address_is_throttled_and_others_still_connect,
        "A6" => websocket::a_device_connects_and_publishes_over_websockets,
        "A15" => websocket::an_upgrade_without_the_mqtt_subprotocol_is_refused,
        "A15" => websocket::text_frames_close_the_connection,
        "C11" => websocket::an_x509_device_authenticates_with_its_certificate_over_websockets,
        "A15" => websocket::unmasked_and_gigabyte_frames_close_the_connection,
        "C11" => x509::a_self_signed_device_connects_with_the_registered_thumbprint,
        "C11" => x509::wrong_or_expired_certificates_are_refused_with_connack_5,
        "C11" => x509::sas_and_certificate_credentials_cannot_stand_in_for_each_other,
        "C11" => x509::a_self_signed_certificate_marked_ca_is_accepted_by_thumbprint_as_iot_hub_does,
        "C11" => x509::the_secondary_thumbprint_connects_and_a_certificate_matching_neither_is_closed,
        "C11" => x509_ca::an_untrusted_chain_fails_the_tls_handshake,
        "C11" => x509_ca::a_missing_intermediate_fails_the_tls_handshake_and_the_full_chain_connects,
        "C11" => x509_ca::a_ca_without_completed_proof_of_possession_is_not_trusted,
        "C11" => x509_ca::after_proof_of_possession_a_ca_signed_device_connects_and_its_telemetry_says_x509,
        "C11" => x509_ca::a_wrong_verification_certificate_is_400_and_the_ca_stays_unverified,
        "C11" => x509_ca::expired_and_not_yet_valid_leaves_under_a_verified_ca_get_connack_5,
        "C11" => x509_ca::a_leaf_marked_ca_under_a_verified_ca_gets_connack_5,
        "C11,C12" => x509_ca::a_common_name_other_than_the_identity_gets_connack_5,
        "C11" => x509_ca::deleting_the_ca_makes_new_connections_fail,
        "C11" => x509_ca::certificate_operations_answer_404_412_409_400_and_401_with_iot_hub_error_bodies,
    }
}
